package coordinator

import (
	"context"
	"path/filepath"
	"testing"

	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A pattern that matches no file when a plan lists it (a write moved the
// files aside after DuckDB bound the query) is NotFound, as DuckDB says
// of one at its bind: it was Internal (a tester's).
func TestNoFileMatchingIsNotFound(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := duck.Open(ctx, duck.Config{AllowedDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pattern := filepath.Join(dir, "gone", "*.parquet")
	_, err = statAll(ctx, conn, newLRU(8, 1<<20, dirGlobCost), []string{pattern})
	if code := status.Code(skeinsql.ToStatus(err)); code != codes.NotFound {
		t.Errorf("listing: %v (%s), want NotFound", err, code)
	}
	_, err = globAll(ctx, conn, []string{pattern})
	if code := status.Code(skeinsql.ToStatus(err)); code != codes.NotFound {
		t.Errorf("globbing: %v (%s), want NotFound", err, code)
	}
}
