package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
)

// A task's failure while a file it reads changed since it was planned is
// that change (Aborted: run the query again), not what DuckDB made of
// the file's old footer and new bytes as it read ("statistics in your
// data source are corrupt": InvalidArgument; a prefetch outside the file:
// Internal; a tester's, a file renamed over during a query). A failure
// over unchanged files is its own.
func TestFailureOverAChangedFileIsTheChange(t *testing.T) {
	dir := t.TempDir()
	conn := ducktest.Open(t, dir)
	path := filepath.Join(dir, "f.parquet")
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range AS k FROM range(1000)) TO '%s' (FORMAT parquet)`, path))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var task cluster.Task
	task.File, task.Size, task.Modified = path, fi.Size(), fi.ModTime().UnixNano()
	ctx := context.Background()
	read := errors.New("Invalid Input Error: Perfect hash aggregate: aggregate group 256 exceeded total groups 4")
	if got := changedOr(ctx, conn, task, read); got != read {
		t.Fatalf("over an unchanged file: %v", got)
	}
	tmp := filepath.Join(dir, "f.tmp")
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range + 256 AS k FROM range(10)) TO '%s' (FORMAT parquet)`, tmp))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	got := changedOr(ctx, conn, task, read)
	var de *duck.Error
	if !errors.As(got, &de) || de.Kind != duck.KindConflict || !strings.Contains(got.Error(), "changed while the query read it") {
		t.Fatalf("over a file renamed over: %v, want the change (a conflict)", got)
	}
}
