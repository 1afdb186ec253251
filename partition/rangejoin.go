package partition

import (
	"fmt"
	"strings"
)

// keyed is a split scan cut into slices by ranges of one of its integer
// columns (ranges.go), and the join inputs each task reads in its slice's
// range.
type keyed struct {
	column string // the split scan's key column
	slices []Slice
	// same are the columns equal to the key in every output row: the
	// split scan's (leaf -1 outside a join), and those of inputs that
	// never supply NULLs and are read in range by an equality with it.
	same []keyCol
	// alias names the split scan outside a join; res finds a join's.
	alias  string
	res    resolver
	ranged []rangedInput
}

type keyCol struct {
	leaf   int
	column string
}

// rangedInput is a join input read by each join task with the filter
// column BETWEEN the slice's bounds.
type rangedInput struct {
	leaf        int
	column, typ string
}

func (k *keyed) reads(i int) bool {
	if k == nil {
		return false
	}
	for _, in := range k.ranged {
		if in.leaf == i {
			return true
		}
	}
	return false
}

// rangeJoin plans the join inputs read by each task of the split scan S
// in its slice's key range, instead of broadcast or co-partitioned with S:
// those joined to S by an equality of integer columns (of the WHERE or of
// an ON: a row of such an input joins only rows of S with its key), that
// are Parquet scans whose row groups are clustered by their column, when
// S's files are clustered by its column too, so that S's slices have
// ranges that hardly overlap (keyRanges). An input under a FULL join, or
// one computed once for several readers, is not; nor one whose files hold
// more rows than S's: S was then chosen for the few rows the filters on
// that input leave (largestInput), which are better broadcast: read in
// range, DuckDB built each task's hash table on the input's range and
// TPC-H Q12 took twice as long (0.49 -> 1.04 s at SF1 on 2 executors). Each such input then
// holds, in a task, a superset of the rows that join the slice's: exact
// for inner joins and where it is the null-supplying side of an outer
// join (S never is: it is splittable). Nil keeps today's plan: no such
// input, statistics missing or the ranges overlapping, or S co-partitioned
// with an input this does not read (y).
func (a *Analysis) rangeJoin(leaves []leaf, s, y int, res resolver, equalities []any) *keyed {
	if a.full || a.env.KeyStats == nil || !plainTo(leaves[s].node) {
		return nil
	}
	type cand struct {
		j      int
		sc, jc Column
	}
	var cands []cand
	for j, l := range leaves {
		if j == s || l.underFull || !l.split || a.env.withs.has(l.node) || l.rows > leaves[s].rows {
			continue
		}
		for _, pair := range res.equiKeys(equalities, s, j) {
			sc, okS := leaves[s].column(pair[0].Column)
			jc, okJ := l.column(pair[1].Column)
			if okS && okJ && integerType(sc.Type) && integerType(jc.Type) {
				cands = append(cands, cand{j, sc, jc})
			}
		}
	}
	tried := map[string]bool{}
	for _, c := range cands {
		if tried[strings.ToLower(c.sc.Name)] {
			continue
		}
		tried[strings.ToLower(c.sc.Name)] = true
		sl, err := a.keyRanges(c.sc.Name)
		if err != nil {
			continue
		}
		k := &keyed{column: c.sc.Name, slices: sl, same: []keyCol{{s, c.sc.Name}}, res: res}
		for _, d := range cands {
			if !strings.EqualFold(d.sc.Name, c.sc.Name) || k.reads(d.j) || !a.inputClustered(leaves[d.j], d.jc.Name) {
				continue
			}
			k.ranged = append(k.ranged, rangedInput{leaf: d.j, column: d.jc.Name, typ: d.jc.Type})
			if leaves[d.j].splittable {
				k.same = append(k.same, keyCol{d.j, d.jc.Name})
			}
		}
		if len(k.ranged) == 0 {
			continue
		}
		if y >= 0 && !k.reads(y) {
			return nil
		}
		return k
	}
	return nil
}

// inputs are the FROM items (by path, as Analysis.subst) a join task of
// slice sl reads its ranged inputs as: each filtered to the slice's range.
func (k *keyed) inputs(sl Slice, leaves []leaf) map[string]Node {
	if sl.Keys == nil {
		return nil
	}
	out := map[string]Node{}
	for _, in := range k.ranged {
		l := leaves[in.leaf]
		q := selectNode([]any{star()}, clone(l.node))
		q["where_clause"] = inRange(in.column, in.typ, *sl.Keys)
		out[strings.Join(l.path, "/")] = subquery(q, l.alias)
	}
	return out
}

// what says, for --explain, how the join stage's slices are cut and
// which inputs it reads in range.
func (k *keyed) what(leaves []leaf) string {
	var read []string
	for _, in := range k.ranged {
		read = append(read, leaves[in.leaf].alias+" by "+in.column)
	}
	return fmt.Sprintf("join over slices of %s by ranges of %s (%s), %s read in each slice's range",
		leaves[k.same[0].leaf].alias, k.column, k.rangeList(), strings.Join(read, ", "))
}

// rangeList is the slices' key ranges, the first few.
func (k *keyed) rangeList() string {
	var rs []string
	for i, s := range k.slices {
		if i == 4 {
			rs = append(rs, fmt.Sprintf("... %d in all", len(k.slices)))
			break
		}
		rs = append(rs, s.Keys.String())
	}
	return strings.Join(rs, ", ")
}
