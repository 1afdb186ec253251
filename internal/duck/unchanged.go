package duck

import (
	"fmt"
	"os"
	"time"
)

// FileUnchanged says whether the local file at path is still the one a
// plan listed, of size bytes modified at modified (Unix ns): a plan's row
// ranges of a file are those of the file it listed, and read from another
// (one renamed over it while the query ran: the common way to replace a
// Parquet file whole) they gave an answer of neither. A file that cannot
// be stated, or a remote one, passes: DuckDB says what is wrong with it.
// The error is a conflict (Aborted): running the query again reads the
// new file whole.
func FileUnchanged(path string, size, modified int64) error {
	if size == 0 {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil || (fi.Size() == size && fi.ModTime().UnixNano() == modified) {
		return nil
	}
	return &Error{Kind: KindConflict, Msg: fmt.Sprintf("IO Error: %s changed while the query read it "+
		"(%d bytes, modified %s, when the query was planned; now %d bytes, modified %s): run the query again",
		path, size, time.Unix(0, modified).UTC().Format(time.RFC3339Nano), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano))}
}
