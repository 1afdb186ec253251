package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
)

// The data dir holds what the server must keep to itself: the managed
// database and its WAL, DuckDB's spill files, the system catalog. SQL
// reaches files only under allowed directories, so none of those may lie
// inside the data dir or contain it: COPY ... TO '<data-dir>/data.duckdb'
// would otherwise overwrite every managed table. The one directory of the
// data dir that SQL may use is files/, for a user's own exports and
// imports when no --allow-dir is given.

const filesDir = "files"

// dirs returns the absolute data dir, created private to the server's
// user, and the directories SQL may use: <data-dir>/files and every
// --allow-dir, none overlapping the rest of the data dir.
func (c *Config) dirs() (dataDir string, allowed []string, err error) {
	if dataDir, err = filepath.Abs(c.DataDir); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("data dir: %w", err)
	}
	// The database and its WAL are created with the process's umask;
	// the directory keeps other users out whatever that is.
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("data dir: %w", err)
	}
	if dataDir, err = filepath.EvalSymlinks(dataDir); err != nil {
		return "", nil, fmt.Errorf("data dir: %w", err)
	}
	files := filepath.Join(dataDir, filesDir)
	if err := os.MkdirAll(files, 0o700); err != nil {
		return "", nil, fmt.Errorf("data dir: %w", err)
	}
	allowed = []string{files}
	for _, d := range c.AllowDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", nil, err
		}
		// A directory that does not exist yet cannot hide a link.
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("--allow-dir %s: %w", d, err)
		}
		if within(abs, files) {
			allowed = append(allowed, abs)
			continue
		}
		if within(abs, dataDir) || within(dataDir, abs) {
			return "", nil, fmt.Errorf("--allow-dir %s overlaps --data-dir %s: SQL must not reach the server's own files (use %s, or a directory outside the data dir)", d, dataDir, files)
		}
		allowed = append(allowed, abs)
	}
	return dataDir, allowed, nil
}

// executorNeeds are the directories (each in its cluster.Forms) and the
// prefixes every executor must reach (registry.needs): the --allow-dirs
// but those under <data-dir>/files, which executors of other machines do
// not see (a query of its files fails there; the README says so).
func executorNeeds(dirs []string, dataDir string, prefixes []string) [][]string {
	files := filepath.Join(dataDir, filesDir)
	var needs [][]string
	for _, d := range dirs {
		forms := cluster.Forms(d)
		if !within(forms[len(forms)-1], files) {
			needs = append(needs, forms)
		}
	}
	for _, p := range prefixes {
		needs = append(needs, []string{p})
	}
	return needs
}

// within reports whether path is dir or lies under it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// afterOpen makes the opened database file private and removes what a
// crash of an earlier version could leave in it.
func afterOpen(ctx context.Context, db *duck.DB, dataDir string, log zerolog.Logger) error {
	for _, f := range []string{"data.duckdb", "data.duckdb.wal"} {
		if err := os.Chmod(filepath.Join(dataDir, f), 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	n, err := db.DropArrowLeftovers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Warn().Int("views", n).Msg("removed Arrow scan views left in the database by a crash")
	}
	return nil
}
