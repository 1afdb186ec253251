package coordinator

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// When splitting cannot pay, a query the planner would split runs whole as
// one task on one executor: no exchanges, its files read whole, its one
// endpoint the answer, computed by the executor's DuckDB with all its
// threads (a task gets the executor's whole DuckDB, as any task does).
// Two cases (--split-min-rows; 0 turns both off):
//   - one executor thread in the cluster, or one executor: every exchange
//     would move rows between tasks that take turns on the same threads;
//   - small inputs: the files the query reads hold fewer rows than
//     --split-min-rows (each scan counted, a file read twice counted
//     twice), from their Parquet footers, which the planner reads anyway.
//     A query reading CSV or JSON files, whose rows the footers do not
//     give, is never small; nor is one whose plan in stages costs about
//     the CPU of the query run whole (partition.Plan.AnyRows: aggregates
//     below an outer join, TPC-H Q13), which is split where more than one
//     executor thread takes tasks; nor one whose plan is one stage of
//     tasks gathered (splitGathers), split there too;
//   - any n rows of a scan (partition.Analysis.FirstRows: SELECT ... FROM
//     t LIMIT n, a table's preview): one task reads the first rows until
//     it has n, fewer than the split's tasks would read together.
//
// Only a query the planner proved safe to split (Analyze) is considered:
// what runs on the coordinator today (a volatile function, a managed
// table) still does.

// planWhole is the one-task plan of the query when the rule applies (nil
// when it does not). marked is the query's serialized AST with its
// marked constants (partition.MarkLiterals), lits their texts; key its
// plan cache key, shapeKey the same with those constants counted by type
// only. The task's SQL takes them as parameters where it prepares so,
// one plan for every value of them; else they are the plan's. staged is
// the query's plan in stages (nil: none), asked for only when its inputs
// are small and its shape was not asked about before at these rows.
func (d *dist) planWhole(ctx context.Context, conn *duck.Conn, seen listings, a *partition.Analysis, marked []byte, lits []string, views func(catalog, schema, name string) (partition.View, bool), key, shapeKey func() string, schema *arrow.Schema, staged func() *planned) (*planned, error) {
	if d.splitMinRows <= 0 {
		return nil, nil
	}
	w, err := partition.WholeQuery(marked, views)
	if err != nil {
		return nil, nil // it reads more than files: split as before
	}
	why := "LIMIT without ORDER BY or WHERE: the first rows read are the answer"
	var firstRows int64 // the rows the one task reads at most (here.go)
	if a.FirstRows() {
		if _, want, ok := a.AnyRowsLimit(); ok {
			firstRows = want
		}
	} else {
		gathers := func(rows int64) bool {
			k := fmt.Sprintf("%s\x00gathers %d %d", shapeKey(), rows, d.slots())
			g, ok := d.gathers.get(k)
			if !ok {
				g = splitGathers(staged())
				d.gathers.put(k, g)
			}
			return g
		}
		why = d.wholeReason(ctx, conn, seen, w, gathers)
	}
	if why == "" {
		return nil, nil
	}
	// Not listed (its error is met as it runs): keyed by names alone.
	stamps, _ := d.wholeStamps(ctx, conn, seen, w)
	if lits != nil {
		// Parameterized only when no query of its shape has been: the
		// shape's plan is of the same AST, other values aside, and a
		// lookup is a new text of a known shape each time.
		params := func() ([]byte, error) {
			params, ok, err := partition.Parameterize(w.AST, 0, len(lits))
			if !ok {
				return nil, err
			}
			return params, nil
		}
		if p, err := d.wholePlan(ctx, conn, shapeKey()+"\x00whole literals"+stamps, params, schema, why); p != nil || err != nil {
			if p != nil {
				p.tasks[0].literals = lits
				p.firstRows = firstRows
				p.filteredRows = d.filteredRows(ctx, conn, seen, a, w)
			}
			return p, err
		}
	}
	p, err := d.wholePlan(ctx, conn, key()+"\x00whole"+stamps, func() ([]byte, error) { return w.AST, nil }, schema, why)
	if p != nil {
		p.firstRows = firstRows
		p.filteredRows = d.filteredRows(ctx, conn, seen, a, w)
	}
	return p, err
}

// filteredRows are the rows of the row groups of the query's one scan
// that its filter's Parquet statistics do not refute (partition's Prune,
// as a split scan's slices are pruned): those its one task reads, DuckDB
// skipping the others by the same statistics (here.go reads it). 0 when
// not known, or not asked (--local-max-rows 0): a query reading more than
// one scan, or a filter the statistics refute nothing of.
func (d *dist) filteredRows(ctx context.Context, conn *duck.Conn, seen listings, a *partition.Analysis, w *partition.Whole) int64 {
	if d.localMaxRows <= 0 || len(w.Scans) != 1 || a.Branches != nil || a.Format != partition.Parquet {
		return 0
	}
	all, files, _, err := d.slices(ctx, conn, seen, a)
	if err != nil {
		return 0
	}
	kept, pruned := a.Prune(all)
	if pruned.Empty == 0 {
		return 0
	}
	rows := map[string]int64{}
	for _, f := range files {
		rows[f.Path] = f.Rows()
	}
	var n int64
	for _, s := range kept {
		if s.File == "" || len(s.Files) > 0 {
			return 0 // not a file's rows: Prune keeps such slices as they are
		}
		if s.Whole() {
			n += rows[s.File]
		} else {
			n += sliceRows(s)
		}
	}
	return max(n, 1)
}

// wholePlan is the one-task plan of the query as ast gives it (nil: it
// has no such plan), cached under k; nil if it does not prepare to the
// query's schema. ast is called on a cache miss only; a query without
// that plan counts no lookup, as one that never asked.
func (d *dist) wholePlan(ctx context.Context, conn *duck.Conn, k string, ast func() ([]byte, error), schema *arrow.Schema, why string) (*planned, error) {
	c, ok := d.plans.get(k)
	if ok {
		d.planLookups.WithLabelValues("hit").Inc()
	} else {
		a, err := ast()
		if a == nil || err != nil {
			return nil, err
		}
		d.planLookups.WithLabelValues("miss").Inc()
		sql, err := deserialize(ctx, conn, a)
		if err != nil {
			return nil, err
		}
		st, err := conn.Prepare(ctx, sql)
		if err != nil {
			return nil, nil // not as written: planned as before
		}
		same := st.Schema.Equal(schema)
		_ = st.Close()
		if !same {
			return nil, nil
		}
		c = cachedPlan{tasks: map[taskShape]string{{}: sql}}
		d.plans.put(k, c)
	}
	// One stage of one task, gathered: the plan's explanation says why.
	s := &partition.Stage{Tasks: 1, Output: partition.Gather, Consumer: -1, What: "whole query in one task: " + why}
	task := []plannedTask{{sql: c.tasks[taskShape{}]}}
	return &planned{mode: partition.Scatter, tasks: task, stages: []plannedStage{{stage: s, tasks: task}}}, nil
}

// wholeReason says why the query runs as one task, or "" if it is split.
// wholeStamps are the files w reads as listed (path, size, modification
// time, tail), for its plan's keys: a file rewritten with other columns
// is checked again (see sliceStamps).
func (d *dist) wholeStamps(ctx context.Context, conn *duck.Conn, seen listings, w *partition.Whole) (string, error) {
	var b strings.Builder
	for _, paths := range w.Scans {
		files, err := d.filesOnce(ctx, conn, seen, paths)
		if err != nil {
			return "", err
		}
		for _, f := range files {
			fmt.Fprintf(&b, "\x00%s %d %d %d", f.Path, f.Size, f.Modified, f.Tail)
		}
	}
	return b.String(), nil
}

// gathers says whether a query reading rows rows has a plan of one stage
// gathered (splitGathers), asked only of one under --split-min-rows.
func (d *dist) wholeReason(ctx context.Context, conn *duck.Conn, seen listings, w *partition.Whole, gathers func(rows int64) bool) string {
	if why := d.oneSlotReason(); why != "" {
		return why
	}
	if w.Text {
		return ""
	}
	var rows int64
	for _, paths := range w.Scans {
		files, err := d.filesOnce(ctx, conn, seen, paths)
		if err != nil {
			return "" // split as before, which meets the error too
		}
		if rows += totalRows(files); rows >= d.splitMinRows {
			return ""
		}
	}
	if gathers(rows) {
		return ""
	}
	return fmt.Sprintf("inputs %s rows under --split-min-rows %s", groupDigits(rows), groupDigits(d.splitMinRows))
}

// oneSlotReason says why every query runs whole, or "" if more than one
// executor thread takes tasks.
func (d *dist) oneSlotReason() string {
	if d.slots() == 1 {
		return "one executor thread in the cluster"
	}
	if d.planSlots == 0 && len(d.reg.ready()) == 1 {
		return "one executor, whose DuckDB runs a task with all its threads"
	}
	return ""
}

// anyRowsFirst says the query's plan in stages is made before the one-task
// plan is considered: it may pay however few rows the query reads
// (partition.Plan.AnyRows: TPC-H Q13's count of orders computed below its
// outer join to customer, partition/eagerleft.go), where more than one
// executor thread takes tasks.
func (d *dist) anyRowsFirst(a *partition.Analysis) bool {
	return d.splitMinRows > 0 && d.exchanges && a.MaySplitSmall() && d.oneSlotReason() == ""
}

// splitGathers says a plan in stages is one stage of several tasks, each
// reading its slice and the other inputs whole, whose results are the
// answer or merged by the coordinator: no exchange between executors.
// Such a plan pays however few rows the query reads, where more than one
// executor thread takes tasks. What it adds to the query run whole is
// what each task reads again (TPC-H Q2's supplier, nation, region and
// its subquery's partsupp: the two tasks cost 1.27x the whole query's
// CPU in DuckDB on one thread, the longer 0.67x of it) and the merge, a
// few ms. An exchange adds a stage's dispatch, its consumers' fetch and
// the rows it carries aggregated again (Q16's stages cost 1.8x the whole
// query's CPU; Q22's run one task after another), which a small query
// does not repay.
func splitGathers(p *planned) bool {
	return p != nil && len(p.stages) == 1 && len(p.stages[0].tasks) > 1 &&
		p.stages[0].stage.Output == partition.Gather && p.finalHere == ""
}

// groupDigits writes n (not negative) with its thousands separated by
// commas.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
