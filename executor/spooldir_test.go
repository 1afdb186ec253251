package executor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
)

// The spool directory of an executor that ended without removing it
// (killed: its lock file is held by nobody) is removed by the next
// executor to start under the same --spool-dir; that of a running
// executor (its lock held) stays, and so does a directory without a lock
// file. An executor's own goes when it stops.
func TestEndedExecutorsSpoolIsRemoved(t *testing.T) {
	base := t.TempDir()
	left := func(name string, lock bool) string {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "task-1.spool"), []byte("rows"), 0o600); err != nil {
			t.Fatal(err)
		}
		if lock {
			if err := os.WriteFile(dir+lockSuffix, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	killed := left(spoolPrefix+"killed", true)
	running := left(spoolPrefix+"running", true)
	unknown := left(spoolPrefix+"unknown", false)
	held, err := os.OpenFile(running+lockSuffix, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if !tryLock(held) {
		t.Fatal("cannot lock the running executor's lock file")
	}
	own, remove, err := ownSpoolDir(base, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if exists(killed) || exists(killed+lockSuffix) {
		t.Error("the killed executor's spool directory is still there")
	}
	if !exists(filepath.Join(running, "task-1.spool")) || !exists(filepath.Join(unknown, "task-1.spool")) {
		t.Error("a spool directory that may be in use was removed")
	}
	if !exists(own) {
		t.Fatal("no spool directory of its own")
	}
	// A second executor starting beside it leaves it alone.
	other, removeOther, err := ownSpoolDir(base, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if !exists(own) || other == own {
		t.Fatal("a second executor took or removed the first's directory")
	}
	removeOther()
	remove()
	if exists(own) || exists(own+lockSuffix) || exists(other) {
		t.Error("an executor's spool directory is left after it stopped")
	}
}

// DuckDB spills under the executor's own spool directory, which goes
// with it (and, killed, with the next executor's start): it spilled into
// .tmp in the working directory, which the shipped manifest mounts
// read-only, and a killed executor's spill files stayed there (found
// 2026-12-06).
func TestDuckDBSpillsUnderTheSpoolDir(t *testing.T) {
	base := t.TempDir()
	e, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Coordinator: "grpc://127.0.0.1:1",
		Secret: cluster.NewSecret(), Threads: 1, SpoolDir: base, Heartbeat: time.Hour}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := e.db.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	rows, err := conn.QueryRows(context.Background(), "SELECT current_setting('temp_directory')")
	if err == nil && rows.Next() {
		err = rows.Scan(&dir)
	}
	if rows != nil {
		_ = rows.Close()
	}
	_ = conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if own := e.spools.dir; !strings.HasPrefix(dir, own+string(filepath.Separator)) {
		t.Fatalf("DuckDB spills to %q, not under the executor's spool directory %q", dir, own)
	}
	e.Shutdown()
	if left, _ := filepath.Glob(filepath.Join(base, "*")); len(left) > 0 {
		t.Fatalf("left after shutdown: %q", left)
	}
}
