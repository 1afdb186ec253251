package coordinator

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// hiveOf is how a scan of the patterns reads its files' key=value
// directories as a whole (partition.Env.Hive), for its slices to read them
// the same way: DuckDB partitions by them only when every listed file's
// directories name the same keys, and infers each key's type from all the
// listed values, so a slice reading fewer files could decide otherwise.
// DuckDB decides it here too, from the paths alone: read_blob partitions
// as every multi-file reader does, and binding it reads no file. Files
// with no such directory cost nothing more than their listing (the
// planning's, shared).
func hiveOf(ctx context.Context, conn *duck.Conn, seen listings, patterns []string) (partition.Hive, error) {
	stats, err := seen.stat(ctx, conn, patterns)
	if err != nil {
		return partition.Hive{}, err
	}
	paths := make([]string, len(stats))
	any := false
	for i, f := range stats {
		paths[i] = f.path
		any = any || underHive(f.path)
	}
	if !any {
		return partition.Hive{}, nil
	}
	var h partition.Hive
	err = conn.OutsideTxn(ctx, func(c *duck.Conn) error {
		rows, err := c.QueryRows(ctx, `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_blob($1::VARCHAR[]))`, paths)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var col partition.HiveColumn
			if err := rows.Scan(&col.Name, &col.Type); err != nil {
				return err
			}
			if !blobColumns[col.Name] {
				h.Columns = append(h.Columns, col)
			}
		}
		return rows.Err()
	})
	if err != nil {
		// DuckDB reads the scan whole, as it decides.
		return partition.Hive{}, fmt.Errorf("%w: the hive partitioning of %s is not known: %v", partition.ErrLocal, patterns[0], err)
	}
	h.Off = len(h.Columns) == 0
	return h, nil
}

// blobColumns are read_blob's own columns; any other it gives is a hive
// partition's.
var blobColumns = map[string]bool{"filename": true, "content": true, "size": true, "last_modified": true}

// underHive says a directory of path is named key=value.
func underHive(p string) bool {
	for seg := range strings.SplitSeq(path.Dir(p), "/") {
		if k, _, ok := strings.Cut(seg, "="); ok && k != "" {
			return true
		}
	}
	return false
}
