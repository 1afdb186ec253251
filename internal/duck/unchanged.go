package duck

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// FileUnchanged says whether the file at path is still the one a plan
// listed, of size bytes modified at modified: a plan's row ranges of a
// file are those of the file it listed, and read from another (one
// renamed over it while the query ran: the common way to replace a
// Parquet file whole) they gave an answer of neither. A local file is
// stated (modified in Unix ns); an object in object storage is asked for
// its size and Last-Modified (Unix µs, as the plan listed it) through the
// connection, whose settings reach the store. A file that cannot be
// stated passes: DuckDB says what is wrong with it. The error is a
// conflict (Aborted): running the query again reads the new file whole.
func (c *Conn) FileUnchanged(ctx context.Context, path string, size, modified int64) error {
	if size == 0 {
		return nil
	}
	if Remote(path) {
		var nowSize, nowModified int64
		// A HEAD of the object (read_blob reads no content it is not
		// asked for).
		err := c.sc.QueryRowContext(ctx, `SELECT size, epoch_us(last_modified) FROM read_blob($1::VARCHAR)`, path).Scan(&nowSize, &nowModified)
		if err != nil {
			return nil
		}
		if nowSize == size && nowModified == modified {
			return nil
		}
		return changed(path, size, time.UnixMicro(modified), nowSize, time.UnixMicro(nowModified))
	}
	fi, err := os.Stat(path)
	if err != nil || (fi.Size() == size && fi.ModTime().UnixNano() == modified) {
		return nil
	}
	return changed(path, size, time.Unix(0, modified), fi.Size(), fi.ModTime())
}

func changed(path string, size int64, modified time.Time, nowSize int64, nowModified time.Time) error {
	return &Error{Kind: KindConflict, Msg: fmt.Sprintf("IO Error: %s changed while the query read it "+
		"(%d bytes, modified %s, when the query was planned; now %d bytes, modified %s): run the query again",
		path, size, modified.UTC().Format(time.RFC3339Nano), nowSize, nowModified.UTC().Format(time.RFC3339Nano))}
}

// Remote reports whether a path names object storage rather than a file.
func Remote(path string) bool {
	scheme, _, ok := strings.Cut(path, "://")
	return ok && scheme != "file" && !strings.ContainsAny(scheme, "/\\")
}
