package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
)

// skein sql draws a progress bar while a distributed query runs when its
// output is a terminal, and none when it is piped; the answer is the same.
func TestSQLProgressBar(t *testing.T) {
	dir := t.TempDir()
	c, err := coordinator.Start(context.Background(), coordinator.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AllowDirs: []string{dir}, Executors: 2, Threads: 1, TaskRows: 2048,
		User: shellUser, Password: shellPassword, ShutdownGrace: 10 * time.Second,
	}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	uri := c.URI()
	for f := range 2 {
		serverSQL(t, uri, fmt.Sprintf(`COPY (SELECT (range + %d)::BIGINT AS id FROM range(10000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, f*10000, filepath.Join(dir, fmt.Sprintf("f%d.parquet", f))))
	}
	// Tens of microseconds a row: the query runs for a few polls.
	query := fmt.Sprintf(`SELECT count(*) AS n, max(levenshtein(repeat('a', 200 + id %% 2), repeat('b', 200))) AS d
FROM read_parquet('%s')`, filepath.Join(dir, "*.parquet"))
	args := []string{"sql", "--uri", uri, "-u", shellUser, "-p", shellPassword, "--format", "csv", query}

	tm := startTerminal(t, args...)
	tm.expect(" tasks ") // the bar: "[###   ]  40%  4/10 tasks  0 rows"
	tm.expect("n,d\n20000,201\n")
	if code := tm.exit(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{execMainEnv + "=1", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if stdout.String() != "n,d\n20000,201\n" || stderr.Len() > 0 || strings.Contains(stdout.String(), "\r") {
		t.Fatalf("piped: stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}
