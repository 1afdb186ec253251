package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
)

// The shell is tested as a person uses it: the skein command (this test
// binary, run again as main) on a pseudo-terminal, typing keys, against a
// real server.

// execMainEnv makes the test binary run main's run instead of the tests.
const execMainEnv = "SKEIN_TEST_EXEC_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(execMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const (
	shellUser     = "ann"
	shellPassword = "quack-quack-7"
	// ~10^12 rows through a cross join: runs for hours unless cancelled.
	longQuery = "SELECT sum(a.range * b.range) AS s FROM range(1000000) a CROSS JOIN range(1000000) b"
)

// startShellServer starts a coordinator with one executor (the query
// history, skein.queries, is the cluster's) and a login.
func startShellServer(t *testing.T) string {
	t.Helper()
	c, err := coordinator.Start(context.Background(), coordinator.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Executors: 1, Threads: 1,
		User: shellUser, Password: shellPassword, ShutdownGrace: 10 * time.Second,
	}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return c.URI()
}

// terminal is a skein process on a pseudo-terminal and what it has shown.
type terminal struct {
	t      *testing.T
	cmd    *exec.Cmd
	pty    *os.File
	waited chan struct{} // the process ended
	mu     sync.Mutex
	out    bytes.Buffer  // everything the process wrote
	more   chan struct{} // a read added to out
	seen   int           // how far expect has read (in the cleaned text)
}

func startTerminal(t *testing.T, args ...string) *terminal {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{execMainEnv + "=1", "TERM=xterm", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	tm := &terminal{t: t, cmd: cmd, pty: f, waited: make(chan struct{}), more: make(chan struct{}, 1)}
	go func() {
		_ = cmd.Wait()
		close(tm.waited)
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			select {
			case tm.more <- struct{}{}:
			default:
			}
			if err != nil {
				return // the process closed the terminal
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-tm.waited:
		default:
			_ = cmd.Process.Kill()
			<-tm.waited
		}
		_ = f.Close()
	})
	return tm
}

func (tm *terminal) send(keys string) {
	tm.t.Helper()
	if _, err := tm.pty.Write([]byte(keys)); err != nil {
		tm.t.Fatal(err)
	}
}

// escapes are the terminal control sequences line editing writes.
var escapes = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\r`)

// expect waits until the screen shows want after what was expected last.
func (tm *terminal) expect(want string) {
	tm.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		tm.mu.Lock()
		text := escapes.ReplaceAllString(tm.out.String(), "")
		tm.mu.Unlock()
		if i := strings.Index(text[tm.seen:], want); i >= 0 {
			tm.seen += i + len(want)
			return
		}
		select {
		case <-tm.more:
		case <-deadline:
			tm.t.Fatalf("the terminal never showed %q; after the last match it shows:\n%s", want, text[tm.seen:])
		}
	}
}

// exit waits for the process to end and returns its status.
func (tm *terminal) exit() int {
	tm.t.Helper()
	select {
	case <-tm.waited:
		return tm.cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		tm.t.Fatal("the shell did not exit")
		return -1
	}
}

// serverSQL runs SQL on its own connection and returns its CSV.
func serverSQL(t *testing.T, uri, sql string) string {
	t.Helper()
	var out bytes.Buffer
	if err := runSQL(context.Background(), connOptions{uri: uri, user: shellUser, password: shellPassword}, sql, "csv", false, &out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out.String()
}

// longQueryStatus is the long query's status in the server's history
// (the text is split so that the query asking does not match itself).
func longQueryStatus(t *testing.T, uri string) string {
	return strings.TrimSpace(strings.TrimPrefix(serverSQL(t, uri,
		"SELECT string_agg(status, ',') AS st FROM skein.queries WHERE sql LIKE '%CROSS'||' JOIN range%'"), "st\n"))
}

func TestShell(t *testing.T) {
	uri := startShellServer(t)
	hist := filepath.Join(t.TempDir(), "history")
	tm := startTerminal(t, "sql", "--uri", uri, "-u", shellUser, "--history", hist)

	// The password is asked for, not echoed, and the shell connects.
	tm.expect("Password: ")
	tm.send(shellPassword + "\r")
	tm.expect("Connected to " + uri)
	tm.expect(prompt)

	// A statement over two lines, ';' in a string and in a comment.
	tm.send("SELECT 40 + 2 AS answer, 'a;b' AS s -- not the end;\r")
	tm.expect(continuePrompt)
	tm.send(";\r")
	tm.expect("answer  s\n------  ---\n42      a;b\n(1 rows)\n" + prompt)

	// Output modes.
	tm.send(".mode csv\r")
	tm.send("SELECT 1 AS a, 'x' AS b; SELECT 2 AS c;\r")
	tm.expect("a,b\n1,x\nc\n2\n" + prompt)
	tm.send(".mode line\r")
	tm.send("SELECT 1 AS a, CAST(NULL AS VARCHAR) AS long_name;\r")
	tm.expect("        a = 1\nlong_name = NULL\n" + prompt)
	tm.send(".mode\r")
	tm.expect("line\n")
	tm.send(".mode xml\r")
	tm.expect("Error: .mode takes one of table, csv, json, line")
	tm.send(".mode csv\r")

	// A statement that names a secret runs, and is not remembered.
	tm.send("SELECT 'x' AS secret_thing;\r")
	tm.expect("secret_thing\nx\n")

	// Ctrl-C drops what is typed, also a statement begun on lines before.
	tm.send("SELECT 'abandoned',\r")
	tm.expect(continuePrompt)
	tm.lineEditing()
	tm.send("1 +\x03")
	tm.expect("^C\n" + prompt)
	tm.send("SELECT 8 AS eight;\r")
	tm.expect("eight\n8\n" + prompt)

	// .explain prints the plan instead of the rows; .timer the time.
	tm.send(".explain on\r")
	tm.send("SELECT 9 AS nine;\r")
	tm.expect("mode: local (runs whole on the coordinator)\n")
	tm.send(".explain off\r")
	tm.send(".timer on\r")
	tm.send("SELECT 10 AS ten;\r")
	tm.expect("ten\n10\nRun Time (s): real ")
	tm.send(".timer off\r")
	tm.send(".frobnicate\r")
	tm.expect("Error: unknown command .frobnicate")
	tm.send("SELECT * FROM no_such_table;\r")
	tm.expect("Error: ")
	tm.expect("no_such_table")

	// Ctrl-C cancels a running query on the server, and the shell goes on.
	tm.send(longQuery + ";\r")
	waitFor(t, func() bool { return longQueryStatus(t, uri) == "running" }, "the long query to run")
	tm.send("\x03")
	tm.expect("Error: cancelled\n" + prompt)
	waitFor(t, func() bool { return longQueryStatus(t, uri) != "running" }, "the long query to stop on the server")
	if st := longQueryStatus(t, uri); st != "cancelled" {
		t.Errorf("the long query ended %q, want cancelled", st)
	}
	tm.send("SELECT 7 AS after;\r")
	tm.expect("after\n7\n" + prompt)

	// Ctrl-D leaves with status 0.
	tm.send("\x04")
	if code := tm.exit(); code != 0 {
		t.Fatalf("Ctrl-D: exit status %d", code)
	}

	b, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"SELECT 40 + 2 AS answer, 'a;b' AS s ;\n", // the comment dropped: one line
		".mode csv\n", "SELECT 1 AS a, 'x' AS b; SELECT 2 AS c;\n", longQuery + ";\n", "SELECT 7 AS after;\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("history lacks %q:\n%s", want, got)
		}
	}
	for _, never := range []string{shellPassword, "secret_thing", "abandoned"} {
		if strings.Contains(got, never) {
			t.Errorf("history holds %q:\n%s", never, got)
		}
	}
	if fi, err := os.Stat(hist); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode: %v %v", fi.Mode(), err)
	}

	// The next shell finds the last statement with the up arrow.
	tm = startTerminal(t, "sql", "--uri", uri, "-u", shellUser, "-p", shellPassword, "--history", hist, "--format", "csv")
	tm.expect(prompt)
	tm.send("\x1b[A\r")
	tm.expect("after\n7\n" + prompt)
	tm.send(".quit\r")
	if code := tm.exit(); code != 0 {
		t.Fatalf(".quit: exit status %d", code)
	}
}

// Without a terminal, SQL comes from stdin as before.
func TestSQLFromStdin(t *testing.T) {
	uri := startShellServer(t)
	var out, errOut bytes.Buffer
	args := []string{"sql", "--uri", uri, "-u", shellUser, "-p", shellPassword, "--format", "csv"}
	if code := run(args, strings.NewReader("SELECT 42 AS x;\n"), &out, &errOut); code != 0 || out.String() != "x\n42\n" {
		t.Fatalf("%d %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run(append(args, "--format", "line"), strings.NewReader("SELECT 1 AS a, 'b' AS bb"), &out, &errOut); code != 0 || out.String() != " a = 1\nbb = b\n" {
		t.Fatalf("%d %q %q", code, out.String(), errOut.String())
	}
	// An extension type without a text form of its own (DuckDB's VARINT
	// is arrow.opaque) shows its storage: arrow-go's ValueStr panicked,
	// and skein sql ended (a tester's). UUIDs keep theirs.
	out.Reset()
	q := "SELECT 1::VARINT AS v, '00000000-0000-0000-0000-000000000001'::UUID AS u"
	if code := run(args, strings.NewReader(q), &out, &errOut); code != 0 || out.String() != "v,u\ngAABAQ==,00000000-0000-0000-0000-000000000001\n" {
		t.Fatalf("%d %q %q", code, out.String(), errOut.String())
	}
	// Values arrow-go writes otherwise than DuckDB: a HUGEINT of 39
	// digits, infinities, 24:00:00, decimals exactly (and -0.0 as -0).
	out.Reset()
	q = "SELECT TIME '24:00:00' t, 'infinity'::TIMESTAMP i, '-infinity'::DATE di, " +
		"(-170141183460469231731687303715884105728)::HUGEINT h, '-0.0'::DOUBLE z, 12.50::DECIMAL(5,2) d, (-0.05)::DECIMAL(4,2) nd"
	want := "t,i,di,h,z,d,nd\n24:00:00,infinity,-infinity,-170141183460469231731687303715884105728,-0,12.50,-0.05\n"
	if code := run(args, strings.NewReader(q), &out, &errOut); code != 0 || out.String() != want {
		t.Fatalf("%d %q %q, want %q", code, out.String(), errOut.String(), want)
	}
}

// waitFor polls the server until cond holds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
