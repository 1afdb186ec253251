package executor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
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
