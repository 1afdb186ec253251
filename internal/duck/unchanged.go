package duck

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
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
// stated passes: DuckDB says what is wrong with it. A local file's tail,
// when the plan took it (not 0), is compared too: a file renamed over
// one of its size with the old modification time restored (cp -p,
// rsync -a) has the old size and time. The error is a conflict
// (Aborted): running the query again reads the new file whole.
func (c *Conn) FileUnchanged(ctx context.Context, path string, size, modified int64, tail uint64) error {
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
	if err != nil {
		return nil
	}
	if fi.Size() != size || fi.ModTime().UnixNano() != modified {
		return changed(path, size, time.Unix(0, modified), fi.Size(), fi.ModTime())
	}
	if now, err := Tail(path); tail != 0 && err == nil && now != tail {
		return &Error{Kind: KindConflict, Msg: fmt.Sprintf("IO Error: %s changed while the query read it "+
			"(its size and modification time are the same, its content is not): run the query again", path)}
	}
	return nil
}

// TailBytes is how much of a file's end Tail reads: a Parquet file's
// footer ends it, and the last row groups' statistics, sizes and
// offsets in it differ between two files of one size.
const TailBytes = 64 << 10

// Tail is a checksum of the local file's last TailBytes (CRC-32C, never
// 0): what tells two versions of a file apart when their size and
// modification time are the same. A file of TPC-H's, its footer in the
// page cache, takes a few microseconds.
func Tail(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	n := min(fi.Size(), TailBytes)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, fi.Size()-n); err != nil && err != io.EOF {
		return 0, err
	}
	return uint64(crc32.Checksum(buf, castagnoli)) + 1, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
