package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
)

// Each executor spools into a directory of its own under --spool-dir (the
// system's temporary directory by default), removed when it stops. One
// that is killed or crashes cannot remove it: a SIGKILLed executor's
// spool files stayed for good, through every later executor on the same
// --spool-dir (found by a fault test, 2026-12-04). So each directory has
// a lock file beside it, held (flock) for the life of its process, and an
// executor starting removes the directories whose lock nobody holds: its
// process has ended. Several executors may share --spool-dir.

const (
	spoolPrefix = "skein-spool-"
	newPrefix   = "skein-new-" // a lock file not yet locked: no sweep looks at it
	lockSuffix  = ".lock"
)

// ownSpoolDir is an executor's spool directory under base, locked, and
// the function that removes it. It first removes what ended executors
// left under base.
func ownSpoolDir(base string, log zerolog.Logger) (dir string, remove func(), err error) {
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", nil, err
	}
	// The lock file is locked under a name no sweep looks at, then given
	// its own: a sweep never finds it unlocked.
	lock, err := os.CreateTemp(base, newPrefix+"*"+lockSuffix)
	if err != nil {
		return "", nil, err
	}
	tryLock(lock)
	unique := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(lock.Name()), newPrefix), lockSuffix)
	name := filepath.Join(base, spoolPrefix+unique)
	if err := os.Rename(lock.Name(), name+lockSuffix); err != nil {
		_ = lock.Close()
		_ = os.Remove(lock.Name())
		return "", nil, err
	}
	if err := os.Mkdir(name, 0o700); err != nil {
		_ = os.Remove(name + lockSuffix)
		_ = lock.Close()
		return "", nil, err
	}
	sweepSpoolDirs(base, name, log)
	return name, func() {
		_ = os.RemoveAll(name)
		_ = os.Remove(name + lockSuffix)
		_ = lock.Close()
	}, nil
}

// sweepSpoolDirs removes the spool directories under base, but own, whose
// lock file nobody holds.
func sweepSpoolDirs(base, own string, log zerolog.Logger) {
	locks, _ := filepath.Glob(filepath.Join(base, spoolPrefix+"*"+lockSuffix))
	for _, l := range locks {
		dir := strings.TrimSuffix(l, lockSuffix)
		if dir == own {
			continue
		}
		f, err := os.OpenFile(l, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if tryLock(f) {
			err := os.RemoveAll(dir)
			if err == nil {
				err = os.Remove(l)
			}
			if err != nil {
				log.Warn().Err(fmt.Errorf("removing an ended executor's spool directory: %w", err)).Str("dir", dir).Send()
			} else {
				log.Info().Str("dir", dir).Msg("removed the spool directory of an executor that ended without removing it")
			}
		}
		_ = f.Close()
	}
}
