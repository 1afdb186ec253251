package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/peterh/liner"
	"github.com/skeindb/skein/internal/sqltext"
)

// The interactive shell: `skein sql` with no SQL, on a terminal. It reads
// statements line by line until a ';' outside strings and comments ends
// one (internal/sqltext reads them as DuckDB does), runs each on one
// connection, and takes dot commands between statements, as duckdb and
// psql users expect.
//
// Line editing is github.com/peterh/liner: pure Go, maintained, and it
// leaves the two things a SQL shell must decide to its caller: the
// history (entries we choose, a file we write) and Ctrl-C, which it
// returns at the prompt and leaves to the terminal as SIGINT while a
// statement runs, with its reader stopped, so that the signal cancels the
// query and typed-ahead lines wait for the next prompt.

const (
	prompt         = "skein> "
	continuePrompt = "  ...> "
)

const dotHelp = `.explain on|off   print how each query is split instead of running it
.help             show this text
.mode MODE        output format: table, csv, json or line
.quit, .exit      leave the shell (Ctrl-D too)
.timer on|off     print each statement's run time
Statements end with ';' and may span lines. Ctrl-C cancels the running
statement, or clears what is typed.
`

// interactive reports whether the shell runs: stdin and stdout are this
// process's own and both are terminals.
func interactive(stdin io.Reader, stdout io.Writer) bool {
	return stdin == io.Reader(os.Stdin) && stdout == io.Writer(os.Stdout) &&
		isatty.IsTerminal(os.Stdin.Fd()) && isatty.IsTerminal(os.Stdout.Fd())
}

type shell struct {
	cn          *conn
	out, errOut io.Writer
	hist        *history
	format      string
	explain     bool
	timer       bool

	mu   sync.Mutex
	stop context.CancelFunc // the running statement's; nil between statements
}

func shellCmd(o connOptions, format string, explain bool, historyPath string, stdout, stderr io.Writer) int {
	if !validFormat(format) {
		fmt.Fprintf(stderr, "skein sql: --format %q: want %s\n", format, strings.Join(formats, ", "))
		return 2
	}
	ln := liner.NewLiner()
	defer ln.Close()
	ln.SetCtrlCAborts(true)
	ln.SetMultiLineMode(true)
	if o.user != "" && o.password == "" {
		pw, err := ln.PasswordPrompt("Password: ")
		if err != nil {
			fmt.Fprintln(stderr, "skein sql:", err)
			return 1
		}
		o.password = pw
	}
	cn, err := connect(context.Background(), o)
	if err != nil {
		fmt.Fprintln(stderr, "skein sql:", errText(err))
		return 1
	}
	defer cn.close()
	s := &shell{cn: cn, out: stdout, errOut: stderr, format: format, explain: explain,
		hist: openHistory(ln, historyPath, stderr)}
	defer s.hist.close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go s.interrupts(ctx)
	fmt.Fprintf(stdout, "Connected to %s. Statements end with ';'; .help lists the commands.\n", o.uri)
	return s.loop(ln)
}

// loop reads until Ctrl-D or .quit.
func (s *shell) loop(ln *liner.State) int {
	pending := "" // an unfinished statement
	for {
		p := prompt
		if pending != "" {
			p = continuePrompt
		}
		line, err := ln.Prompt(p)
		switch {
		case errors.Is(err, liner.ErrPromptAborted): // Ctrl-C: drop what is typed
			pending = ""
			continue
		case errors.Is(err, io.EOF):
			fmt.Fprintln(s.out)
			return 0
		case err != nil:
			fmt.Fprintln(s.errOut, "skein sql:", err)
			return 1
		}
		if pending == "" && strings.HasPrefix(strings.TrimSpace(line), ".") {
			s.hist.add(strings.TrimSpace(line))
			if quit := s.dot(strings.Fields(line)); quit {
				return 0
			}
			continue
		}
		text := pending + line + "\n"
		stmts, rest := sqltext.Split(text)
		pending = rest
		if len(stmts) == 0 {
			continue
		}
		s.hist.add(sqltext.OneLine(text[:len(text)-len(rest)]))
		for _, st := range stmts {
			s.run(st)
		}
	}
}

// run runs one statement, until it ends or Ctrl-C cancels it.
func (s *shell) run(stmt string) {
	ctx, cancel := context.WithCancel(s.cn.auth)
	defer cancel()
	s.mu.Lock()
	s.stop = cancel
	s.mu.Unlock()
	start := time.Now()
	err := s.cn.run(ctx, stmt, s.format, s.explain, s.out)
	s.mu.Lock()
	s.stop = nil
	s.mu.Unlock()
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(s.errOut, "Error: cancelled")
	case err != nil:
		fmt.Fprintln(s.errOut, "Error:", errText(err))
	}
	if s.timer {
		fmt.Fprintf(s.out, "Run Time (s): real %.3f\n", time.Since(start).Seconds())
	}
}

// interrupts turns SIGINT into cancelling the running statement. At the
// prompt the terminal sends none: liner reads Ctrl-C as a key there.
func (s *shell) interrupts(ctx context.Context) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			s.mu.Lock()
			if s.stop != nil {
				s.stop()
			}
			s.mu.Unlock()
		}
	}
}

// dot runs a dot command; it returns true to leave the shell.
func (s *shell) dot(f []string) (quit bool) {
	cmd, args := f[0], f[1:]
	switch {
	case cmd == ".quit" || cmd == ".exit":
		return true
	case cmd == ".help":
		fmt.Fprint(s.out, dotHelp)
	case cmd == ".explain":
		s.toggle(&s.explain, cmd, args)
	case cmd == ".timer":
		s.toggle(&s.timer, cmd, args)
	case cmd == ".mode" && len(args) == 0:
		fmt.Fprintln(s.out, s.format)
	case cmd == ".mode" && len(args) == 1 && validFormat(args[0]):
		s.format = args[0]
	case cmd == ".mode":
		fmt.Fprintf(s.errOut, "Error: .mode takes one of %s\n", strings.Join(formats, ", "))
	default:
		fmt.Fprintf(s.errOut, "Error: unknown command %s: .help lists the commands\n", cmd)
	}
	return false
}

// toggle sets an on|off setting, or shows it.
func (s *shell) toggle(v *bool, cmd string, args []string) {
	switch {
	case len(args) == 0 && *v:
		fmt.Fprintln(s.out, "on")
	case len(args) == 0:
		fmt.Fprintln(s.out, "off")
	case len(args) == 1 && (args[0] == "on" || args[0] == "off"):
		*v = args[0] == "on"
	default:
		fmt.Fprintf(s.errOut, "Error: %s takes on or off\n", cmd)
	}
}

func validFormat(f string) bool { return slices.Contains(formats, f) }
