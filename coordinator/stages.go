package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// A query planned in stages (partition.Plan): every stage's tasks, in the
// order they are signed (a consumer's ticket holds its producers').
type plannedStage struct {
	stage *partition.Stage // its shape (partition.Stage.Shape)
	tasks []plannedTask
	// stream[i] says the stage's SQL reads input i once, so its tasks
	// stream it into the SQL rather than load it into a table first.
	stream []bool
}

// planStages plans a query with exchanges between executors, if that adds
// anything to the plain split (nil otherwise). key identifies the query's
// AST, the views read so far and its schema for the plan cache: it is
// taken once the stages are planned, which may read views of their own (a
// view in a WITH computed once), so that such a view redefined is
// planned again.
func (d *dist) planStages(ctx context.Context, conn *duck.Conn, seen listings, a *partition.Analysis, key func() string, schema *arrow.Schema) (*planned, error) {
	names := fieldNames(schema)
	sp, err := a.Stages(names)
	if err != nil || sp == nil {
		return nil, err
	}
	p, err := d.planStaged(ctx, conn, seen, sp, key(), schema, names)
	if err != nil && sp.Fallback != nil && errors.Is(err, partition.ErrLocal) {
		// The rewrite does not prepare to the query's schema: the plan
		// it replaced.
		return d.planStaged(ctx, conn, seen, sp.Fallback, key()+"\x00fallback", schema, names)
	}
	return p, err
}

// planStaged slices, checks and writes the tasks of the staged plan sp.
func (d *dist) planStaged(ctx context.Context, conn *duck.Conn, seen listings, sp *partition.Plan, key string, schema *arrow.Schema, names []string) (*planned, error) {
	var err error
	sliced := make([][]partition.Slice, len(sp.Stages))
	var k strings.Builder
	k.WriteString(key)
	fmt.Fprintf(&k, "\x00stages %d", d.slots())
	var pruned []string
	for i, s := range sp.Stages {
		if s.Slices != nil {
			sliced[i] = s.Slices // cut by key ranges at planning
		} else if s.Scan == nil {
			sliced[i] = make([]partition.Slice, s.Tasks)
			continue
		} else if sliced[i], _, err = d.scanSlices(ctx, conn, seen, s.Scan, &pruned); err != nil {
			return nil, fmt.Errorf("%w: %v", partition.ErrLocal, err)
		}
		if len(sliced[i]) == 0 {
			return nil, fmt.Errorf("%w: no rows to split in %s", partition.ErrLocal, s.What)
		}
		for _, sl := range sliced[i] {
			// Its file as listed, too: a file rewritten with other
			// columns is planned and checked again (sliceStamps).
			fmt.Fprintf(&k, "\x00%d %s %d %d %d", i, sl, sl.Size, sl.Modified, sl.Tail)
		}
		if s.Scan != nil {
			k.WriteString("\x00" + s.Scan.ReadsAs()) // the first file, when the files' schemas differ
		}
	}
	// A sort range-partitioned from one task has one partition: splitting
	// one task's rows to sort them in parallel costs a stage, its tasks
	// and a hop for each, which a sort of the few rows one task gives
	// (TPC-H Q15's join of supplier) does not repay. With one partition
	// the producer sorts them itself (fused just below). Not when a UNION
	// ALL's other branches, range-partitioned into the same sort, give
	// more tasks.
	many := map[int]bool{}
	for i, s := range sp.Stages {
		if s.Output == partition.Range && len(sliced[i]) > 1 {
			many[s.Consumer] = true
		}
	}
	for _, s := range sp.Stages {
		if s.Output == partition.Range && s.Consumer >= 0 && !many[s.Consumer] {
			sliced[s.Consumer] = sliced[s.Consumer][:1]
		}
	}
	// A broadcast of files that an earlier stage computes alike is read
	// from that one (partition/dedupe.go), a subquery over WITH results
	// its reader holds is evaluated there (partition/subhere.go), and an
	// exchange from one task to one task moves rows for nothing: such
	// stages run as one (partition/fuse.go).
	for _, merge := range []func(tasks func(k int) int) []int{sp.Dedupe, sp.SubqueriesHere, sp.Fuse} {
		from := merge(func(k int) int { return len(sliced[k]) })
		kept := make([][]partition.Slice, len(from))
		for j, k := range from {
			kept[j] = sliced[k]
		}
		sliced = kept
	}
	consumers := func(s *partition.Stage) int {
		if s.Consumer < 0 {
			return 0
		}
		return len(sliced[s.Consumer])
	}
	// A producer's SQL hashes its rows into its consumers' tasks, which
	// follow the slots the analysis saw, not d.slots() above: an executor
	// lost between the two (test_executor_killed under CI's load) cached
	// SQL hashing into 4 partitions under the key of 2 slots, and the
	// next query's 2 consumers got rows of partition 2 ("partition 2 of
	// row 2 is not in [0, 2)"). The counts are in the key.
	for _, s := range sp.Stages {
		fmt.Fprintf(&k, "\x00consumers %d", consumers(s))
	}
	c, ok := d.cachedPlan(k.String())
	if !ok {
		c.tasks, c.stream, c.now = map[taskShape]string{}, make([][]bool, len(sp.Stages)), map[taskShape]bool{}
		check, err := sp.CheckAST(func(s *partition.Stage) partition.Slice { return sliced[s.ID][0] }, names)
		if err != nil {
			return nil, err
		}
		checkSQL, err := deserialize(ctx, conn, check)
		if err != nil {
			return nil, err
		}
		got, err := d.rewriteSchema(ctx, conn, checkSQL)
		if err != nil {
			return nil, fmt.Errorf("%w: the staged rewrite does not prepare: %v", partition.ErrLocal, err)
		}
		if !got.Equal(schema) {
			return nil, fmt.Errorf("%w: the staged rewrite changes the result schema", partition.ErrLocal)
		}
		sampled := map[int]bool{} // consumers whose bounds are known
		for _, s := range sp.Stages {
			if s.Output == partition.Range && !sampled[s.Consumer] {
				sampled[s.Consumer] = true
				if err = d.rangeBounds(ctx, conn, sp, s.Consumer, sliced); err != nil {
					return nil, err
				}
			}
		}
		for i, s := range sp.Stages {
			for _, sl := range sliced[i] {
				shape := shapeOf(i, sl)
				if _, ok := c.tasks[shape]; ok {
					continue
				}
				ast, once, err := s.AST(sl, consumers(s))
				c.stream[i] = once // the same for every slice
				if err == nil {
					c.tasks[shape], c.now[shape], err = shipped(ctx, conn, ast)
				}
				if err != nil {
					return nil, err
				}
			}
		}
		if sp.Merge != nil {
			ast, err := sp.MergeAST(partialsView, names)
			var now bool
			if err == nil {
				c.merge, now, err = shipped(ctx, conn, ast)
				c.mergeNow = c.mergeNow || now
			}
			if err != nil {
				return nil, err
			}
			ast, from, ok, err := sp.FinalHere(partialsView, names)
			if err == nil && ok {
				c.finalHere, c.finalFrom = "", from
				c.finalHere, now, err = shipped(ctx, conn, ast)
				c.mergeNow = c.mergeNow || now
			}
			if err != nil {
				return nil, err
			}
		}
		d.plans.put(k.String(), c)
	}
	p := &planned{mode: partition.Scatter, merge: c.merge, ordered: sp.Sorted, anyRows: sp.AnyRows, pruned: pruned,
		finalHere: c.finalHere, finalFrom: c.finalFrom, now: c.mergeNow}
	if sp.Merge != nil {
		p.mode = partition.ScatterMerge
	}
	for i, s := range sp.Stages {
		ps := plannedStage{stage: s.Shape(), stream: c.stream[i]}
		for _, sl := range sliced[i] {
			if s.Scan != nil {
				sl.Pinned = s.Scan.Pinned
			}
			now := c.now[shapeOf(i, sl)]
			ps.tasks = append(ps.tasks, plannedTask{sql: c.tasks[shapeOf(i, sl)], slice: sl, ordered: sp.Ordered && s.Consumer < 0, now: now})
			p.now = p.now || now
		}
		p.stages = append(p.stages, ps)
	}
	p.tasks = p.stages[len(p.stages)-1].tasks
	return p, nil
}

// signStages signs every task of a staged plan, producers first: each
// consumer's ticket names its producers' tickets and where they run. It
// returns every handle and its executors, the gather stage's last.
func (d *dist) signStages(p *planned, proto cluster.Task, z codecs) (handles []string, execs [][2]string, err error) {
	total := 0
	for _, ps := range p.stages {
		total += len(ps.tasks)
	}
	execs = d.reg.assign(total)
	if execs == nil {
		return nil, nil, nil
	}
	locations := func(ex [2]string) []string {
		var out []string
		for _, id := range ex {
			if loc, ok := d.reg.location(id); ok && !containsString(out, loc) {
				out = append(out, loc)
			}
		}
		return out
	}
	first := make([]int, len(p.stages)) // index of each stage's first task
	set := cluster.NewHandles()
	for si, ps := range p.stages {
		s := ps.stage
		first[si] = len(handles)
		n := 0 // the tasks reading each partition's spool: a broadcast's may be of several stages
		for _, c := range s.Readers() {
			n += len(p.stages[c].tasks)
		}
		for ti, pt := range ps.tasks {
			idx := len(handles)
			t := proto
			t.Task, t.SQL, t.Slice, t.Literals, t.Ordered, t.Write = idx, pt.sql, pt.slice, pt.literals, pt.ordered, pt.write
			t.Executor, t.Alt = execs[idx][0], execs[idx][1]
			t.Codec = z.gather
			t.Merged = s.Output == partition.Gather && (proto.Merged || p.merge != "")
			switch s.Output {
			case partition.Shuffle, partition.Range:
				t.Partitions, t.Readers, t.Codec = max(n, 1), 1, z.exchange
			case partition.Broadcast:
				t.Partitions, t.Readers, t.Codec = 1, n, z.exchange
			}
			var reads []int
			for ii, in := range s.Inputs {
				prod := p.stages[in.Stage]
				part := ti
				if prod.stage.Output == partition.Broadcast {
					part = 0
				}
				ci := cluster.Input{Table: in.Table, Part: part, Stream: ps.stream[ii]}
				for k := range prod.tasks {
					pi := first[in.Stage] + k
					ci.Sources = append(ci.Sources, cluster.Source{Task: pi, Locations: locations(execs[pi])})
					reads = append(reads, pi)
				}
				t.Inputs = append(t.Inputs, ci)
			}
			tk, err := d.secret.SignTask(t)
			if err != nil {
				return nil, nil, err
			}
			set.Add(idx, tk, reads)
			handles = append(handles, "")
		}
	}
	// Each handle carries the tickets of the tasks it reads, transitively
	// (cluster.Handles).
	for i := range handles {
		if handles[i], err = set.Handle(i); err != nil {
			return nil, nil, err
		}
	}
	return handles, execs, nil
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// stageInfo describes a stage in a query's explanation.
type stageInfo struct {
	Stage    int    `json:"stage"`
	What     string `json:"what"`
	Tasks    int    `json:"tasks"`
	Output   string `json:"output"`
	Keys     string `json:"keys,omitempty"`
	Consumer int    `json:"to_stage,omitempty"`
	// Also are more stages reading a broadcast (a WITH computed once).
	Also   []int `json:"also_to,omitempty"`
	Inputs []int `json:"reads,omitempty"`
	// Loads are the inputs its SQL reads more than once: loaded into a
	// table before the SQL runs, where the others stream into it.
	Loads []string `json:"loads,omitempty"`
	SQL   string   `json:"sql"`
}

func (p *planned) stageInfos() []stageInfo {
	var out []stageInfo
	for _, ps := range p.stages {
		s := ps.stage
		si := stageInfo{Stage: s.ID, What: s.What, Tasks: len(ps.tasks), Output: s.Output.String(), SQL: ps.tasks[0].sql}
		if s.Consumer >= 0 {
			si.Consumer, si.Also = s.Consumer, s.Also
		}
		var keys []string
		for _, k := range s.Keys {
			keys = append(keys, k.Column)
		}
		if s.Range != nil {
			keys = append(keys, s.Range.String())
		}
		si.Keys = strings.Join(keys, ", ")
		for i, in := range s.Inputs {
			si.Inputs = append(si.Inputs, in.Stage)
			if !ps.stream[i] {
				si.Loads = append(si.Loads, in.Table)
			}
		}
		out = append(out, si)
	}
	return out
}

// Range boundaries are sampled from this many slices of each scan, spread
// over its files, at most sampleRows rows of each.
const (
	samplePicks = 3
	sampleRows  = 10_000
)

// rangeBounds samples the range key of the stages range-partitioned into
// stage consumer (one, or a UNION ALL's branches) at plan time: their rows
// computed on the coordinator over a few slices of each scan (the first,
// middle and last, so that files sorted by the key still spread), and the
// key's quantiles at 1/R, 2/R, ... of all of them, the bounds of every
// such stage. A sample that fails keeps the query local (where its error,
// if it has one, is DuckDB's).
func (d *dist) rangeBounds(ctx context.Context, conn *duck.Conn, sp *partition.Plan, consumer int, sliced [][]partition.Slice) error {
	parts := len(sliced[consumer])
	if parts <= 1 {
		return nil
	}
	picks := 1
	for i, st := range sp.Stages {
		if st.Scan != nil {
			picks = max(picks, min(samplePicks, len(sliced[i])))
		}
	}
	var branches []string
	var producers []*partition.Stage
	for _, s := range sp.Stages {
		if s.Output != partition.Range || s.Consumer != consumer {
			continue
		}
		producers = append(producers, s)
		for j := range picks {
			ast, err := sp.SampleAST(s, func(st *partition.Stage) partition.Slice {
				if st.Output == partition.Broadcast && st.Scan != nil && st.Scan.Format == partition.Parquet {
					return wholeFiles(sliced[st.ID]) // joined whole, as on every task
				}
				return sliced[st.ID][j*len(sliced[st.ID])/picks]
			}, sampleRows)
			if err != nil {
				return err
			}
			q, err := deserialize(ctx, conn, ast)
			if err != nil {
				return err
			}
			branches = append(branches, "("+q+")")
		}
	}
	probs := make([]string, parts-1)
	for i := range probs {
		probs[i] = strconv.FormatFloat(float64(i+1)/float64(parts), 'g', -1, 64)
	}
	bounds, err := queryStrings(ctx, conn, "SELECT CAST(unnest(quantile_disc(skein_k, ["+strings.Join(probs, ", ")+
		"])) AS VARCHAR) FROM ("+strings.Join(branches, " UNION ALL ")+")")
	if err != nil {
		return fmt.Errorf("%w: sampling the sort key: %v", partition.ErrLocal, err)
	}
	for _, s := range producers {
		s.Range.Bounds = bounds
	}
	return nil
}

// wholeFiles is one slice reading the Parquet files of slices whole.
func wholeFiles(slices []partition.Slice) partition.Slice {
	all := partition.Slice{Last: -1}
	for _, sl := range slices {
		for _, f := range append([]string{sl.File}, sl.Files...) {
			if f != "" && !containsString(all.Files, f) {
				all.Files = append(all.Files, f)
			}
		}
	}
	return all
}

// fieldNames are the names of schema's columns, in order.
func fieldNames(schema *arrow.Schema) []string {
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	return names
}
