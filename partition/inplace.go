package partition

import (
	"slices"
	"strings"
)

// inPlaceShare is how many times fewer rows than one join task's share
// of the split scan an input's files must hold for every join task to
// read it itself, as the query names it, rather than have it computed
// once by a stage of its own and broadcast.
//
// Every executor reads the same files, so a small input costs a task
// little to read (TPC-H SF1's customer, 150,000 rows of the two columns
// Q5 names, against 3,000,000 lineitem rows a task at 2 tasks), and
// read as Parquet it gives DuckDB what a broadcast input, scanned from
// Arrow, does not: its statistics and the filters DuckDB pushes into a
// scan. Broadcast, Q5's customer, supplier, nation and region came to
// each join task as Arrow streams with only their row counts: DuckDB
// joined orders to all of customer before nation and region had cut it
// to a fifth (it had no min/max of c_nationkey to push the nations
// into), so a task probed lineitem with 114,000 orders instead of
// 23,000 and took 260 ms of CPU where the same SQL over the Parquet
// files took 165 ms, two thirds of the whole query's 390 ms (one thread,
// SF1, half of lineitem), and the four broadcast stages held the join
// stage back until they ended: 2 executors ran Q5 no faster than 1.
// The share keeps what every task reads again under an eighth of its
// slice: against SF1's 6,000,000 lineitem rows, customer (150,000) is
// read in place up to 5 tasks, part (200,000) up to 3, and partsupp
// (800,000) is always broadcast.
const inPlaceShare = 8

// inPlaceFiltered is the most rows the files of an input with filters of
// its own may hold for join tasks to read it themselves. Broadcast, it
// comes to them filtered with its exact row count; read as Parquet,
// DuckDB estimates what its filters leave, and cannot from Parquet's
// statistics for a LIKE: with TPC-H Q9's part (p_name LIKE '%green%',
// 10,664 of 200,000 rows) read in place, DuckDB joined lineitem to orders
// before part and a join task took 0.7 s of CPU against 0.4 s.
const inPlaceFiltered = 2048

// inPlace says which inputs of the join every join task reads itself:
// Parquet scans (or subqueries that filter and project one, without
// subqueries of their own) whose files hold at most 1/inPlaceShare of a
// task's share of the split scan's rows. An input the join stage reads
// as written changes nothing of what a task computes, whatever the join
// kind: the task is the query over its slice of S, as before exchanges.
// Not the split scan, the input co-partitioned with it, those read in
// its key ranges, nor a WITH result computed once.
func (j *joinShape) inPlace(partitions int) []bool {
	out := make([]bool, len(j.leaves))
	s := j.leaves[j.s]
	if s.rows <= 0 {
		return out
	}
	tasks := int64(max(partitions, 1))
	if j.rj != nil {
		tasks = int64(max(len(j.rj.slices), 1))
	}
	for i, l := range j.leaves {
		if i == j.s || i == j.y || j.rj.reads(i) || l.withs || l.underFull || !l.split || l.rows < 0 ||
			hasSubquery(l.node) {
			continue
		}
		if len(l.pushed) > 0 && l.rows > inPlaceFiltered {
			continue
		}
		out[i] = l.rows*tasks*inPlaceShare <= s.rows
	}
	return out
}

// inPlaceWhat names, for --explain, the inputs every join task reads
// itself.
func (j *joinShape) inPlaceWhat() string {
	var names []string
	for i, in := range j.local {
		if in {
			names = append(names, j.leaves[i].alias)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ", " + strings.Join(names, ", ") + " read whole by each task"
}

// pinFiles makes the Parquet scans of the join inputs each join task
// reads itself (in place, in its key range; not the split scan, nor what
// stages compute) name the files the planner listed, where they were
// written as patterns. Each task listed a pattern again as it ran, and a
// task run again later too: two files copied into an input's directory
// while a client read a query's endpoints one at a time gave 6,751,941
// rows, neither DuckDB's 6,001,215 before nor its 7,502,549 after, and an
// executor whose mount showed 6 of the 8 files answered with an eighth
// of the rows missing (2,385,269 of 2,726,751), without an error (a
// tester's). Named, a file gone is an error, and a file added is the next
// planning's. Not when a listed name holds *, ? or [ (DuckDB would match
// it again). It gives the files it named, as listed, for the tasks to
// check (Slice.Pinned).
func (j *joinShape) pinFiles(files func([]string) ([]File, error)) []Stamp {
	if files == nil {
		return nil
	}
	var pinned []Stamp
	for i, l := range j.leaves {
		if i == j.s || j.shipped(i) || l.withs {
			continue
		}
		visit(l.node, func(n Node) bool {
			if str(n, "type") != "TABLE_FUNCTION" || !isParquetScan(n) {
				return true
			}
			pinned = append(pinned, pinScan(n, files)...)
			return false
		})
	}
	return pinned
}

// pinScan has the Parquet scan n name the files its patterns match, and
// gives the files it reads (named so, or so written).
func pinScan(n Node, files func([]string) ([]File, error)) []Stamp {
	pattern := func(p string) bool { return strings.ContainsAny(p, "*?[") }
	paths, err := scanPaths(n, true)
	if err != nil {
		return nil
	}
	listed, err := files(paths)
	if err != nil || len(listed) == 0 || slices.ContainsFunc(listed, func(f File) bool { return pattern(f.Path) }) {
		return nil
	}
	names := make([]Node, len(listed))
	stamps := make([]Stamp, len(listed))
	for k, f := range listed {
		names[k] = constant("VARCHAR", f.Path)
		stamps[k] = Stamp{Path: f.Path, Size: f.Size, Modified: f.Modified, Tail: f.Tail}
	}
	if slices.ContainsFunc(paths, pattern) {
		list(child(n, "function"), "children")[0] = function("list_value", names...)
	}
	return stamps
}
