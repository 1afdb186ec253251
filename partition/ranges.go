package partition

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Key ranges: files sorted or clustered by a key (fact tables by time or
// id, TPC-H's lineitem and orders by order key) have row groups whose
// statistics bound that key tightly. A split scan cut along them gives
// slices whose key ranges are disjoint, or nearly: a join input equal on
// that key is then read by each task in its slice's range only
// (rangejoin.go), and a GROUP BY that holds the key is finished in each
// slice (rangeagg.go), so neither moves data between executors.

// Bounds are the least and greatest values of an integer key in some rows
// (a row group, a slice), NULLs aside; Nulls says some of those rows hold
// NULL in it, or that this is not known.
type Bounds struct {
	Lo, Hi int64
	Nulls  bool
}

func (b Bounds) String() string {
	s := fmt.Sprintf("%d..%d", b.Lo, b.Hi)
	if b.Nulls {
		s += " and NULL"
	}
	return s
}

func (b Bounds) union(o Bounds) Bounds {
	return Bounds{Lo: min(b.Lo, o.Lo), Hi: max(b.Hi, o.Hi), Nulls: b.Nulls || o.Nulls}
}

// width is how many key values the bounds hold (as a float: a range of
// int64 may hold more than int64 counts).
func (b Bounds) width() float64 { return float64(b.Hi) - float64(b.Lo) + 1 }

// clusterSlack is how much the key ranges of slices (or row groups) may
// add up to over the whole range for them to count as clustered: sorted
// files' row groups share at most a key value at their edges, files in
// no order by the key have each row group span nearly all of it.
const clusterSlack = 1.5

// clustered says the bounds, added up, are not much wider than all of
// them together (clusterSlack).
func clustered(bs []Bounds) bool {
	if len(bs) == 0 {
		return false
	}
	all, sum := bs[0], 0.0
	for _, b := range bs {
		all = all.union(b)
		sum += b.width()
	}
	return sum <= clusterSlack*all.width()
}

// disjoint says no key value, NULL included, is in two of the slices.
func disjoint(sl []Slice) bool {
	bs := make([]Bounds, 0, len(sl))
	for _, s := range sl {
		if s.Keys == nil || s.Keys.Nulls {
			return false
		}
		bs = append(bs, *s.Keys)
	}
	slices.SortFunc(bs, func(a, b Bounds) int { return cmp.Compare(a.Lo, b.Lo) })
	for i := 1; i < len(bs); i++ {
		if bs[i].Lo <= bs[i-1].Hi {
			return false
		}
	}
	return true
}

// keySlices cuts files (with Keys, Env.KeyStats) into about n slices of
// contiguous key ranges: the files in order of their least key, whole
// files grouped in that order when there are at least n, else each file
// cut along row groups into pieces of about equal rows. Each slice has
// its Keys. False when a row group has no bounds.
func keySlices(files []File, n int) ([]Slice, bool) {
	n = max(n, 1)
	type fileKeys struct {
		f    File
		b    Bounds
		rows int64
	}
	var fs []fileKeys
	var total int64
	for _, f := range files {
		if len(f.Keys) != len(f.RowGroups) {
			return nil, false
		}
		if len(f.RowGroups) == 0 {
			continue
		}
		fk := fileKeys{f: f, b: f.Keys[0]}
		for i, g := range f.RowGroups {
			fk.b = fk.b.union(f.Keys[i])
			fk.rows += g
		}
		total += fk.rows
		fs = append(fs, fk)
	}
	if len(fs) == 0 {
		return nil, false
	}
	slices.SortStableFunc(fs, func(a, b fileKeys) int { return cmp.Compare(a.b.Lo, b.b.Lo) })
	var out []Slice
	if len(fs) >= n {
		var seen int64
		cur := Slice{Last: -1}
		for i, f := range fs {
			cur.Files = append(cur.Files, f.f.Path)
			if cur.Keys == nil {
				b := f.b
				cur.Keys = &b
			} else {
				*cur.Keys = cur.Keys.union(f.b)
			}
			seen += f.rows
			// Cut where the slices so far come closest to their share of
			// the rows, leaving a file for every slice still to come.
			left := n - len(out) - 1
			target := total * int64(len(out)+1) / int64(n)
			last := i == len(fs)-1
			if last || (left > 0 && (seen >= target || len(fs)-i-1 == left || seen+fs[i+1].rows-target > target-seen)) {
				out = append(out, cur)
				cur = Slice{Last: -1}
			}
		}
		return out, true
	}
	per := (n + len(fs) - 1) / len(fs)
	for _, f := range fs {
		var start, pos int64
		var b *Bounds
		cut := 1 // the slice of the file being filled
		groups := f.f.RowGroups
		for i, g := range groups {
			if b == nil {
				k := f.f.Keys[i]
				b = &k
			} else {
				*b = b.union(f.f.Keys[i])
			}
			pos += g
			// Cut where the slices so far come closest to their share of
			// the file's rows: cutting at the first row group past it made
			// TPC-H Q2's two slices of partsupp's 7 row groups 4 and 3
			// (0.61 of the rows in one task), not 3 and 4 (0.54).
			target := f.rows * int64(cut) / int64(per)
			last := i == len(groups)-1
			if last || (cut < per && (pos >= target || pos+groups[i+1]-target > target-pos)) {
				out = append(out, Slice{File: f.f.Path, First: start, Last: pos - 1, Keys: b, Size: f.f.Size, Modified: f.f.Modified, Tail: f.f.Tail})
				start, b = pos, nil
				cut++
			}
		}
	}
	return out, true
}

// keyRanges are the split scan's slices cut by ranges of column (keySlices,
// one per shuffle partition), if its files' statistics bound the column
// and the slices are clustered by it; else why not.
func (a *Analysis) keyRanges(column string) ([]Slice, error) {
	if a.env.KeyStats == nil || a.Format != Parquet {
		return nil, fmt.Errorf("no statistics")
	}
	files, err := a.env.KeyStats(a.Paths, column)
	if err != nil {
		return nil, err
	}
	sl, ok := keySlices(files, a.env.Partitions)
	if !ok {
		return nil, fmt.Errorf("a row group without bounds of %s", column)
	}
	bs := make([]Bounds, len(sl))
	for i, s := range sl {
		bs[i] = *s.Keys
	}
	if !clustered(bs) {
		return nil, fmt.Errorf("slices' ranges of %s overlap", column)
	}
	return sl, nil
}

// inputClustered says the Parquet files of join input l hold column in
// row groups clustered by it, so that a range of it prunes most of them.
func (a *Analysis) inputClustered(l leaf, column string) bool {
	at, ok := a.scanUnder(l.node, nil)
	if !ok || a.env.KeyStats == nil || !plainTo(l.node) {
		return false
	}
	paths, err := scanPaths(nodeAt(l.node, at), false)
	if err != nil {
		return false
	}
	files, err := a.env.KeyStats(paths, column)
	if err != nil {
		return false
	}
	var bs []Bounds
	for _, f := range files {
		if len(f.Keys) != len(f.RowGroups) {
			return false
		}
		bs = append(bs, f.Keys...)
	}
	return clustered(bs)
}

// plainTo says the FROM item n gives the columns of the Parquet scan
// under it unchanged, row by row: every subquery on the way selects *
// alone (filters allowed; no grouping, sort, limit or sample), and the
// scan renames none.
func plainTo(n Node) bool {
	for str(n, "type") == "SUBQUERY" {
		inner := child(child(n, "subquery"), "node")
		sl := list(inner, "select_list")
		if len(sl) != 1 || str(inner, "type") != "SELECT_NODE" {
			return false
		}
		st, _ := sl[0].(map[string]any)
		if str(st, "class") != "STAR" || st["expr"] != nil || st["columns"] == true ||
			len(list(st, "exclude_list")) > 0 || len(list(st, "replace_list")) > 0 ||
			len(list(st, "rename_list")) > 0 || len(list(st, "qualified_exclude_list")) > 0 ||
			len(list(inner, "group_expressions")) > 0 || len(list(n, "column_name_alias")) > 0 ||
			len(list(inner, "modifiers")) > 0 || inner["having"] != nil || inner["qualify"] != nil ||
			inner["sample"] != nil || n["sample"] != nil {
			return false
		}
		n = child(inner, "from_table")
	}
	return str(n, "type") == "TABLE_FUNCTION" && isParquetScan(n) && len(list(n, "column_name_alias")) == 0 &&
		n["sample"] == nil
}

// intRanges are the values of the integer types a key may have.
var intRanges = map[string][2]int64{
	"TINYINT": {-1 << 7, 1<<7 - 1}, "SMALLINT": {-1 << 15, 1<<15 - 1}, "INTEGER": {-1 << 31, 1<<31 - 1},
	"BIGINT": {-1 << 63, 1<<63 - 1}, "UTINYINT": {0, 1<<8 - 1}, "USMALLINT": {0, 1<<16 - 1}, "UINTEGER": {0, 1<<32 - 1},
}

// integerType says a DuckDB type is an integer whose values an int64
// holds (HUGEINT and UBIGINT are not).
func integerType(t string) bool {
	_, ok := intRanges[strings.ToUpper(t)]
	return ok
}

// inRange is the filter col BETWEEN lo AND hi of a slice's keys, for a
// column of integer type typ: the bounds as constants of its type, within
// its values (every value of it between the bounds is still kept).
func inRange(col, typ string, b Bounds) Node {
	r := intRanges[strings.ToUpper(typ)]
	lo, hi := min(max(b.Lo, r[0]), r[1]), min(max(b.Hi, r[0]), r[1])
	return Node{"class": "BETWEEN", "type": "COMPARE_BETWEEN", "alias": "", "query_location": json.Number(noLocation),
		"input": columnRef(col), "lower": cast(strings.ToUpper(typ), constant("BIGINT", lo)),
		"upper": cast(strings.ToUpper(typ), constant("BIGINT", hi))}
}
