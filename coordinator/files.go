package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// The files a split scan reads: what its patterns match, locally or in
// object storage, and the row groups of the Parquet ones, from their
// footers (cached).

// files lists the Parquet files the patterns match, in the order
// read_parquet reads them, and their row groups. A pattern matching no
// file is an error (DuckDB's, when the query then runs local). Row groups
// are read from each file's footer once and cached by path, size and
// modification time (least recently used footers go first); an object in
// object storage is listed with its size and Last-Modified, and its footer
// read from there.
func (d *dist) files(ctx context.Context, conn *duck.Conn, seen listings, patterns []string) ([]partition.File, error) {
	stats, err := seen.stat(ctx, conn, patterns)
	if err != nil {
		return nil, err
	}
	files := make([]partition.File, 0, len(stats))
	var missing []string
	keys := map[string]string{}
	for _, f := range stats {
		key := f.identity()
		keys[f.path] = key
		ft, ok := d.footers.get(key)
		if !ok {
			missing = append(missing, f.path)
		}
		files = append(files, partition.File{Path: f.path, RowGroups: ft.groups, Columns: ft.columns, Size: f.size, Modified: f.modified, Tail: ft.tail})
	}
	read := map[string]footer{}
	for len(missing) > 0 {
		// In batches, each kept as it is read: a planning that ran out
		// of time (--query-timeout) reading thousands of objects'
		// footers leaves those it read to the next, which got no
		// further otherwise.
		batch := missing[:min(len(missing), footerBatch)]
		missing = missing[len(batch):]
		var got map[string]footer
		err := conn.OutsideTxn(ctx, func(c *duck.Conn) (err error) {
			got, err = readFooters(ctx, c, batch)
			return err
		})
		if err != nil {
			return nil, err
		}
		for p, ft := range got {
			d.footers.put(keys[p], ft)
			read[p] = ft
		}
	}
	for i := range files {
		if ft, ok := read[files[i].Path]; ok {
			files[i].RowGroups, files[i].Columns, files[i].Tail = ft.groups, ft.columns, ft.tail
		}
	}
	return files, nil
}

// footerBatch is how many files' footers one query reads.
const footerBatch = 200

// listings are what one planning has listed: the planner asks about an
// input's files more than once (its row count while analysing, the
// statistics of a column, what it remembers of the input, its slices
// after), and each listing globs and stats every pattern, in object
// storage over the network. One planning's, so that files changed since
// are seen the next. The zero value remembers nothing.
type listings struct {
	files map[string][]partition.File // by patterns (columnStats: and column)
	stats map[string][]fileStat       // by pattern
	// globs, when set, are the names patterns of one directory matched
	// at other plannings (dirGlob).
	globs *lru[string, dirGlob]
}

func newListings() listings {
	return listings{files: map[string][]partition.File{}, stats: map[string][]fileStat{}}
}

// newListings is a planning's listings, with the globs of d's plannings.
func (d *dist) newListings() listings {
	l := newListings()
	l.globs = d.globs
	return l
}

// stat is statAll, each pattern listed once a planning.
func (l listings) stat(ctx context.Context, conn *duck.Conn, patterns []string) ([]fileStat, error) {
	var out []fileStat
	for _, p := range patterns {
		s, ok := l.stats[p]
		if !ok {
			var err error
			if s, err = statAll(ctx, conn, l.globs, []string{p}); err != nil {
				return nil, err
			}
			if l.stats != nil {
				l.stats[p] = s
			}
		}
		out = append(out, s...)
	}
	return out, nil
}

// filesOnce is d.files, from the planning's listings when it has them.
func (d *dist) filesOnce(ctx context.Context, conn *duck.Conn, seen listings, patterns []string) ([]partition.File, error) {
	k := strings.Join(patterns, "\x00")
	if f, ok := seen.files[k]; ok {
		return f, nil
	}
	f, err := d.files(ctx, conn, seen, patterns)
	if err == nil && seen.files != nil {
		seen.files[k] = f
	}
	return f, err
}

// fileStat is what says a file is the one whose footer is cached.
type fileStat struct {
	path     string
	size     int64
	modified int64 // Unix time, ns locally, µs in object storage
	// changed is a local file's status change time (changedAt), in
	// the keys of what is remembered of it: its modification time can be
	// set back. Tasks check the modification time, which a copy of the
	// file on another node's mount keeps.
	changed int64
	// fresh, for an object written within freshFor of its listing, is a
	// number no other listing gives: nothing is remembered of it across
	// queries (its identity, and the listing a kept plan compares, differ
	// each time). Object storage's Last-Modified is to the second, and an
	// object written again within that second with the same size kept
	// the first one's footer: every later query read 4 of the new one's
	// 12 row groups, without an error (a tester's).
	fresh uint64
}

// freshFor is how long after its Last-Modified an object is fresh: its
// second, and room for the store's clock to run behind this one's.
const freshFor = 5 * time.Second

// freshListings numbers the fresh objects' listings.
var freshListings atomic.Uint64

// freshness is fileStat.fresh of an object last modified at modified (µs)
// and listed at now.
func freshness(modified int64, now time.Time) uint64 {
	if now.Sub(time.UnixMicro(modified)) < freshFor {
		return freshListings.Add(1)
	}
	return 0
}

// identity keys what is remembered of the file (its footer, its column
// statistics, plans over it): another content is another key.
func (f fileStat) identity() string {
	return fmt.Sprintf("%s\x00%d\x00%d\x00%d\x00%d", f.path, f.size, f.modified, f.changed, f.fresh)
}

// statAll lists the files the patterns match, in order, with their size
// and modification time: local files from the file system, objects from
// object storage's listing (or HEAD), through DuckDB, a pattern of one
// directory from globs when it has not changed (dirGlob). A pattern that
// matches nothing is an error.
func statAll(ctx context.Context, conn *duck.Conn, globs *lru[string, dirGlob], patterns []string) ([]fileStat, error) {
	var stats []fileStat
	for _, pattern := range patterns {
		n := len(stats)
		if duck.Remote(pattern) {
			err := conn.OutsideTxn(ctx, func(c *duck.Conn) error {
				rows, err := c.QueryRows(ctx, `SELECT filename, size, epoch_us(last_modified) FROM read_blob($1::VARCHAR) ORDER BY filename`, pattern)
				if err != nil {
					return err
				}
				for rows.Next() {
					var f fileStat
					if err := rows.Scan(&f.path, &f.size, &f.modified); err != nil {
						rows.Close()
						return err
					}
					f.fresh = freshness(f.modified, time.Now())
					stats = append(stats, f)
				}
				return errors.Join(rows.Err(), rows.Close())
			})
			if err != nil {
				return nil, duck.Unquoted(err)
			}
		} else if fi, ok := plainFile(pattern); ok {
			// One file, stated once (glob would state it too).
			stats = append(stats, fileStat{path: pattern, size: fi.Size(), modified: fi.ModTime().UnixNano(), changed: changedAt(fi)})
		} else {
			matched, err := globDir(ctx, conn, globs, pattern)
			if err != nil {
				return nil, err
			}
			for _, p := range matched {
				fi, err := os.Stat(p)
				if errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("%w: %w", flightsql.ErrNotFound, err) // gone since the glob
				}
				if err != nil {
					return nil, err
				}
				stats = append(stats, fileStat{path: p, size: fi.Size(), modified: fi.ModTime().UnixNano(), changed: changedAt(fi)})
			}
		}
		if len(stats) == n {
			return nil, fmt.Errorf("%w: no file matches %q", flightsql.ErrNotFound, pattern)
		}
		for _, f := range stats[n:] {
			if err := literalName(f.path); err != nil {
				return nil, err
			}
		}
	}
	return stats, nil
}

// literalName refuses to split a read of a file whose name DuckDB would
// take for a pattern: a task or a metadata query names each file the
// patterns listed, and DuckDB matches a name with *, ? or [ again (q?.parquet
// read qa.parquet too, x[1].parquet read x1.parquet: answers three times
// too large, found 2026-12-04). The query runs on the coordinator, where
// DuckDB lists the client's patterns once.
func literalName(path string) error {
	if strings.ContainsAny(path, "*?[") {
		return fmt.Errorf("%w: the file %q has *, ? or [ in its name, which DuckDB would match as a pattern again", partition.ErrLocal, path)
	}
	return nil
}

// globAll lists the files the patterns match, in order; a pattern that
// matches nothing is an error.
func globAll(ctx context.Context, conn *duck.Conn, patterns []string) ([]string, error) {
	var paths []string
	for _, pattern := range patterns {
		matched, err := glob(ctx, conn, pattern)
		if err != nil {
			return nil, err
		}
		if len(matched) == 0 {
			return nil, fmt.Errorf("%w: no file matches %q", flightsql.ErrNotFound, pattern)
		}
		for _, p := range matched {
			if err := literalName(p); err != nil {
				return nil, err
			}
		}
		paths = append(paths, matched...)
	}
	return paths, nil
}

func glob(ctx context.Context, conn *duck.Conn, pattern string) ([]string, error) {
	// A local path without wildcards names one file: stat it rather than
	// ask DuckDB (a query per pattern, and a view lists its files one by
	// one). Anything else, a directory included, is DuckDB's to match.
	// The query naming it was bound by DuckDB before it is planned, so
	// the path is one its sandbox allows.
	if _, ok := plainFile(pattern); ok {
		return []string{pattern}, nil
	}
	var files []string
	err := conn.OutsideTxn(ctx, func(c *duck.Conn) (err error) {
		files, err = queryStrings(ctx, c, `SELECT file FROM glob($1::VARCHAR) ORDER BY file`, pattern)
		return err
	})
	return files, err
}

// dirGlob is what a local pattern with wildcards in its last element
// alone (dir/*.parquet) matched, and its directory's modification time
// then. Every query of a kept plan lists its patterns again (textplan.go),
// and DuckDB's glob of 12,000 files took 160 ms (as much CPU as the
// coordinator's planning of the query besides); the names a directory
// holds change only with its modification time, which a stat tells. The
// files' own size and time are still stated each time (statAll): a file
// rewritten in place leaves its directory's time as it was.
type dirGlob struct {
	// The directory's modification and status change times, ns: a name
	// added with the directory's time set back after (tar -x, touch -r,
	// cp -a) moves the second alone, and a listing kept by the first
	// alone missed the file in every later query (a tester's).
	modified, changed int64
	matched           []string
}

func dirGlobCost(k string, g dirGlob) int64 {
	n := int64(len(k)) + 32
	for _, m := range g.matched {
		n += int64(len(m)) + 16
	}
	return n
}

// racyListing: a directory changed less than this before it was listed is
// listed again by the next query. A file system keeps times in ticks of
// its clock (a few ms in Linux), so an entry added just after the listing
// may leave the directory's time as the listing saw it; later than this,
// it moves the time on.
const racyListing = 2 * time.Second

// globDir is glob, from globs while the pattern's directory keeps the
// modification time it had when it was listed (dirGlob).
func globDir(ctx context.Context, conn *duck.Conn, globs *lru[string, dirGlob], pattern string) ([]string, error) {
	dir, ok := oneDir(pattern)
	if !ok || globs == nil {
		return glob(ctx, conn, pattern)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return glob(ctx, conn, pattern)
	}
	modified, changed := fi.ModTime().UnixNano(), changedAt(fi)
	if g, ok := globs.get(pattern); ok && g.modified == modified && g.changed == changed {
		return g.matched, nil
	}
	matched, err := glob(ctx, conn, pattern)
	if err == nil && time.Since(fi.ModTime()) > racyListing {
		globs.put(pattern, dirGlob{modified: modified, changed: changed, matched: matched})
	}
	return matched, err
}

// oneDir is the directory of a local pattern whose wildcards are all in
// its last element, and not a recursive **: the names it matches are in
// that directory alone.
func oneDir(pattern string) (string, bool) {
	if duck.Remote(pattern) || strings.HasPrefix(pattern, "file:") {
		return "", false
	}
	dir, base := filepath.Split(pattern)
	if dir == "" || strings.ContainsAny(dir, "*?[]{}~") || !strings.ContainsAny(base, "*?[") || strings.Contains(base, "**") {
		return "", false
	}
	return filepath.Clean(dir), true
}

// plainFile is the file a local path without wildcards names, if it is a
// regular file.
func plainFile(pattern string) (os.FileInfo, bool) {
	if duck.Remote(pattern) || strings.ContainsAny(pattern, "*?[~") {
		return nil, false
	}
	fi, err := os.Stat(pattern)
	return fi, err == nil && fi.Mode().IsRegular()
}

// footer is what the planner keeps of a Parquet file's footer: its row
// groups' rows and its schema (partition.File).
type footer struct {
	groups  []int64
	columns []string
	tail    uint64 // a local file's duck.Tail, for its tasks to check
}

func (f footer) cost(key string) int64 {
	n := int64(len(key) + 8*len(f.groups))
	for _, c := range f.columns {
		n += int64(len(c)) + 16
	}
	return n
}

func readFooters(ctx context.Context, conn *duck.Conn, paths []string) (map[string]footer, error) {
	rows, err := conn.QueryRows(ctx, `SELECT file_name, row_group_id, any_value(row_group_num_rows)
FROM parquet_metadata($1::VARCHAR[]) GROUP BY ALL ORDER BY file_name, row_group_id`, paths)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]footer{}
	for rows.Next() {
		var name string
		var id, n int64
		if err := rows.Scan(&name, &id, &n); err != nil {
			return nil, err
		}
		f := out[name]
		f.groups = append(f.groups, n)
		out[name] = f
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for p, f := range out {
		if !duck.Remote(p) {
			f.tail, _ = duck.Tail(p) // 0, not checked, when it cannot be read
			out[p] = f
		}
	}
	return out, readSchemas(ctx, conn, paths, out)
}

// readSchemas adds each file's schema to its footer: an entry per element
// below the root, in the footer's order, of what makes DuckDB read it as
// one type or another (a repeated element is a list; required or optional
// is the same type).
func readSchemas(ctx context.Context, conn *duck.Conn, paths []string, out map[string]footer) error {
	rows, err := conn.QueryRows(ctx, `SELECT file_name, name, concat_ws(' ', type, converted_type, scale, precision,
  type_length, logical_type, num_children, CASE WHEN repetition_type = 'REPEATED' THEN 'REPEATED' END)
FROM parquet_schema($1::VARCHAR[])`, paths)
	if err != nil {
		return err
	}
	defer rows.Close()
	root := map[string]bool{} // the file's first element, its root, was seen
	for rows.Next() {
		var name, col, typ string
		if err := rows.Scan(&name, &col, &typ); err != nil {
			return err
		}
		if !root[name] {
			root[name] = true // named by the writer: no part of the columns
			continue
		}
		f := out[name]
		f.columns = append(f.columns, col+"\x00"+typ)
		out[name] = f
	}
	return rows.Err()
}

// keyStats lists the files the patterns match, as files does, each row
// group with the bounds of an integer column from the file's statistics
// (partition.Env.KeyStats), cached like footers (by path, size,
// modification time and column) and, within a planning, in seen. A row
// group without statistics of the column (or of its NULLs), or whose
// bounds are not integers, is an error: the planner then cuts no slices
// by it.
func (d *dist) keyStats(ctx context.Context, conn *duck.Conn, seen listings, patterns []string, column string) ([]partition.File, error) {
	return d.columnStats(ctx, conn, seen, patterns, column, "", false)
}

// columnStats is keyStats, of a column of type typ ("" for an integer,
// DATE or TIMESTAMP: see readKeyBounds); with onlyNulls, a row group whose
// every row is NULL in the column (and so has no bounds) has the empty
// bounds 1..0 with Nulls (partition.Env.PruneStats) rather than being an
// error.
func (d *dist) columnStats(ctx context.Context, conn *duck.Conn, seen listings, patterns []string, column, typ string, onlyNulls bool) ([]partition.File, error) {
	kind := "\x01keys\x00"
	if onlyNulls {
		kind = "\x01prune\x00"
	}
	memo := kind + typ + "\x00" + strings.ToLower(column) + "\x00" + strings.Join(patterns, "\x00")
	if f, ok := seen.files[memo]; ok {
		return f, nil
	}
	files, err := d.filesOnce(ctx, conn, seen, patterns)
	if err != nil {
		return nil, err
	}
	if !onlyNulls && mixed(files) {
		return nil, errMixedFiles
	}
	for _, f := range files {
		if fromPath(f.Path, column) {
			return nil, fmt.Errorf("%s: %s is a hive partition of the path, its values not the file's statistics", f.Path, column)
		}
	}
	stats, err := seen.stat(ctx, conn, patterns)
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for _, f := range stats {
		keys[f.path] = fmt.Sprintf("%s\x00%s\x00%s\x00%v", f.identity(), strings.ToLower(column), typ, onlyNulls)
	}
	out := make([]partition.File, len(files))
	var missing []string
	for i, f := range files {
		out[i] = partition.File{Path: f.Path, RowGroups: f.RowGroups, Size: f.Size, Modified: f.Modified, Tail: f.Tail}
		if b, ok := d.keyBounds.get(keys[f.Path]); ok && keys[f.Path] != "" {
			out[i].Keys = b
		} else {
			missing = append(missing, f.Path)
		}
	}
	if len(missing) > 0 {
		var read map[string][]partition.Bounds
		err := conn.OutsideTxn(ctx, func(c *duck.Conn) (err error) {
			read, err = readKeyBounds(ctx, c, missing, column, typ, onlyNulls)
			return err
		})
		if err != nil {
			return nil, err
		}
		for i := range out {
			if b, ok := read[out[i].Path]; ok {
				out[i].Keys = b
				d.keyBounds.put(keys[out[i].Path], b)
			}
		}
	}
	for _, f := range out {
		if len(f.Keys) != len(f.RowGroups) {
			return nil, fmt.Errorf("%s: no statistics of %s in every row group", f.Path, column)
		}
	}
	if seen.files != nil {
		seen.files[memo] = out
	}
	return out, nil
}

// fromPath says a directory or file name of path is column=value: DuckDB
// detects hive partitioning in any listed path (whatever its pattern) and
// gives the column the path's value, over one the file holds, so the
// file's statistics of it say nothing of the rows.
func fromPath(path, column string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if k, _, ok := strings.Cut(seg, "="); ok && strings.EqualFold(k, column) {
			return true
		}
	}
	return false
}

// boundsQuery reads a column's statistics in each row group, by the
// column's type (columnStats): their text (parquet_metadata's
// stats_min_value, as DuckDB prints the value) as an integer, NULL when
// the file's column is not stored as one of that type. An integer is an
// INT32 or INT64, signed (its text cast to BIGINT is the value; a string's
// bounds are the least and greatest text, '0' and '999' for 0..2047, and
// a DECIMAL's, an unsigned integer's or a float's are not the values a
// scan reading the column as the first file's BIGINT compares: they keep
// every slice). A DATE is an INT32
// annotated DATE, in days from 1970-01-01 (earlier dates negative); a
// TIMESTAMP is an INT64 of µs or ms not adjusted to UTC (what DuckDB reads
// as TIMESTAMP; one adjusted is a TIMESTAMP WITH TIME ZONE, which a scan
// of several files would cast by the time zone setting, and ns is a
// TIMESTAMP_NS), in µs from 1970-01-01 00:00:00. An infinite date or
// timestamp has none.
var boundsQuery = map[string]string{
	"": `SELECT m.file_name, m.row_group_id, CASE WHEN is_int THEN TRY_CAST(stats_min_value AS BIGINT) END,
  CASE WHEN is_int THEN TRY_CAST(stats_max_value AS BIGINT) END, stats_null_count, row_group_num_rows
FROM parquet_metadata($1::VARCHAR[]) m
JOIN (SELECT file_name, name, type IN ('INT32', 'INT64') AND coalesce(converted_type IN ('INT_8', 'INT_16', 'INT_32', 'INT_64'), true)
    AND coalesce(starts_with(logical_type, 'IntType(') AND ends_with(logical_type, 'isSigned=1)'), true) AS is_int
  FROM parquet_schema($1::VARCHAR[])) s ON s.file_name = m.file_name AND lower(s.name) = lower(m.path_in_schema)
WHERE lower(path_in_schema) = lower($2::VARCHAR) ORDER BY m.file_name, m.row_group_id`,
	"DATE": `SELECT m.file_name, m.row_group_id, CASE WHEN is_date THEN TRY_CAST(lo AS DATE) - DATE '1970-01-01' END,
  CASE WHEN is_date THEN TRY_CAST(hi AS DATE) - DATE '1970-01-01' END, stats_null_count, row_group_num_rows
FROM (SELECT *, stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata($1::VARCHAR[])) m
JOIN (SELECT file_name, name, type = 'INT32' AND (converted_type = 'DATE' OR starts_with(logical_type, 'DateType')) AS is_date
  FROM parquet_schema($1::VARCHAR[])) s ON s.file_name = m.file_name AND lower(s.name) = lower(m.path_in_schema)
WHERE lower(path_in_schema) = lower($2::VARCHAR) AND coalesce(isfinite(TRY_CAST(lo AS DATE)) AND isfinite(TRY_CAST(hi AS DATE)), true)
ORDER BY m.file_name, m.row_group_id`,
	"TIMESTAMP": `SELECT m.file_name, m.row_group_id, CASE WHEN ts THEN epoch_us(TRY_CAST(lo AS TIMESTAMP)) END,
  CASE WHEN ts THEN epoch_us(TRY_CAST(hi AS TIMESTAMP)) END, stats_null_count, row_group_num_rows
FROM (SELECT *, stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata($1::VARCHAR[])) m
JOIN (SELECT file_name, name, type = 'INT64' AND starts_with(logical_type, 'TimestampType(isAdjustedToUTC=0, ')
    AND (contains(logical_type, 'MICROS=MicroSeconds()') OR contains(logical_type, 'MILLIS=MilliSeconds()')) AS ts
  FROM parquet_schema($1::VARCHAR[])) s ON s.file_name = m.file_name AND lower(s.name) = lower(m.path_in_schema)
WHERE lower(path_in_schema) = lower($2::VARCHAR) AND coalesce(isfinite(TRY_CAST(lo AS TIMESTAMP)) AND isfinite(TRY_CAST(hi AS TIMESTAMP)), true)
ORDER BY m.file_name, m.row_group_id`,
}

// readKeyBounds reads the bounds of a column of type typ (boundsQuery) in
// each row group of the Parquet files from their footers; with onlyNulls,
// a row group of only NULLs has the empty bounds 1..0 with Nulls.
func readKeyBounds(ctx context.Context, conn *duck.Conn, paths []string, column, typ string, onlyNulls bool) (map[string][]partition.Bounds, error) {
	q, ok := boundsQuery[typ]
	if !ok {
		return nil, fmt.Errorf("no statistics read of a %s column", typ)
	}
	rows, err := conn.QueryRows(ctx, q, paths, column)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	bounds := map[string][]partition.Bounds{}
	for rows.Next() {
		var name string
		var id int64
		var lo, hi, nulls, n *int64
		if err := rows.Scan(&name, &id, &lo, &hi, &nulls, &n); err != nil {
			return nil, err
		}
		if onlyNulls && lo == nil && hi == nil && nulls != nil && n != nil && *n > 0 && *nulls == *n {
			one, none := int64(1), int64(0)
			lo, hi = &one, &none
		}
		if lo == nil || hi == nil || nulls == nil {
			return nil, fmt.Errorf("%s: row group %d has no statistics of %s", name, id, column)
		}
		if int64(len(bounds[name])) != id {
			return nil, fmt.Errorf("%s: %s is in row group %d more than once", name, column, id)
		}
		bounds[name] = append(bounds[name], partition.Bounds{Lo: *lo, Hi: *hi, Nulls: *nulls > 0})
	}
	return bounds, rows.Err()
}
