package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/skeindb/skein/partition"
)

// readAsFirst makes a split Parquet scan whose files do not agree on their
// schema read each slice as DuckDB reads it in the whole scan: as the
// first file's columns (partition.Analysis.ReadAs). Files that agree
// (their footers' schemas, cached with their row groups) cost nothing
// more. The reader keeps the slice's rows by DuckDB's file_index: a file
// with a column of that name keeps the query local.
func readAsFirst(a *partition.Analysis, files []partition.File) error {
	a.ReadAs("")
	if !mixed(files) {
		return nil
	}
	for _, f := range files {
		for _, c := range f.Columns {
			if name, _, _ := strings.Cut(c, "\x00"); strings.EqualFold(name, "file_index") {
				return fmt.Errorf("%w: %s has a column file_index, and the scan's files differ in their schemas", partition.ErrLocal, f.Path)
			}
		}
	}
	a.ReadAs(files[0].Path)
	return nil
}

// errMixedFiles: the files of a scan differ in their schemas, so slices
// are not cut by key ranges from their statistics (ranges.go), which
// would read each slice alone.
var errMixedFiles = errors.New("coordinator: the scan's files differ in their schemas")

// mixed says the files do not all have the first one's schema.
func mixed(files []partition.File) bool {
	if len(files) < 2 {
		return false
	}
	for _, f := range files[1:] {
		if !slices.Equal(f.Columns, files[0].Columns) {
			return true
		}
	}
	return false
}
