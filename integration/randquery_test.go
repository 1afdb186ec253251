package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// A seeded generator of SELECTs over the invariance corpus's views
// (corpusData), for TestRandomQueriesMatchDuckDB: joins on key columns,
// filters, subqueries, aggregates, windows, CTEs and set operations,
// combined at random. Queries are built as typed pieces (sqlQuery,
// sqlExpr) and rendered once. Each is meant to have one answer in DuckDB
// itself: ORDER BY sorts by every output column, row_number, lag and
// string_agg order by unique keys or by their own value, and the only
// floating-point sums are of v.x (quarters: exact in any order) or of
// values compared after rounding.

type kind int

const (
	kInt kind = iota
	kNum
	kStr
	kBool
	kDate
)

// column is a column of a table or of a derived table's output.
type column struct {
	name string
	kind kind
	fam  string   // join key family: columns of one family join by equality ("num": of three types, DECIMAL, INTEGER and DOUBLE)
	grp  bool     // few distinct values: a group or partition key
	lits []string // literals it is compared with
	rank bool     // a rank (or row number) a query outside keeps the first few of
}

type table struct {
	name   string
	cols   []column
	unique []string // columns that identify a row
	repeat bool     // may be joined to itself (its join keys repeat little)
}

var randTables = []table{
	{name: "orders", repeat: true, unique: []string{"o_orderkey"}, cols: []column{
		{name: "o_orderkey", kind: kInt, fam: "orderkey", lits: []string{"100", "1500", "2900"}},
		{name: "o_custkey", kind: kInt, fam: "custkey", lits: []string{"10", "150", "290"}},
		{name: "o_orderstatus", kind: kStr, grp: true, lits: []string{"'F'", "'O'", "'P'"}},
		{name: "o_totalprice", kind: kNum, lits: []string{"50000", "150000", "280000"}},
		{name: "o_orderdate", kind: kDate, lits: []string{"DATE '1993-06-01'", "DATE '1995-01-01'", "DATE '1997-03-15'"}},
		{name: "o_orderpriority", kind: kStr, grp: true, lits: []string{"'1-URGENT'", "'3-MEDIUM'", "'5-LOW'"}},
	}},
	{name: "lineitem", unique: []string{"l_orderkey", "l_linenumber"}, cols: []column{
		{name: "l_orderkey", kind: kInt, fam: "orderkey", lits: []string{"100", "1500", "2900"}},
		{name: "l_partkey", kind: kInt, fam: "partkey", lits: []string{"50", "300", "550"}},
		{name: "l_linenumber", kind: kInt, grp: true, lits: []string{"1", "3", "6"}},
		{name: "l_quantity", kind: kNum, fam: "num", grp: true, lits: []string{"5", "25", "45"}},
		{name: "l_extendedprice", kind: kNum, lits: []string{"10000", "50000", "90000"}},
		{name: "l_discount", kind: kNum, grp: true, lits: []string{"0.02", "0.05", "0.08"}},
		{name: "l_returnflag", kind: kStr, grp: true, lits: []string{"'A'", "'N'", "'R'"}},
		{name: "l_shipmode", kind: kStr, grp: true, lits: []string{"'AIR'", "'RAIL'", "'TRUCK'"}},
	}},
	{name: "customer", repeat: true, unique: []string{"c_custkey"}, cols: []column{
		{name: "c_custkey", kind: kInt, fam: "custkey", lits: []string{"10", "150", "290"}},
		{name: "c_nationkey", kind: kInt, fam: "nationkey", grp: true, lits: []string{"3", "12", "20"}},
		{name: "c_acctbal", kind: kNum, lits: []string{"0", "3000", "8000"}},
		{name: "c_mktsegment", kind: kStr, grp: true, lits: []string{"'BUILDING'", "'MACHINERY'", "'HOUSEHOLD'"}},
		{name: "c_name", kind: kStr, lits: []string{"'Customer#000000042'", "'Customer#000000150'", "'Customer#000000299'"}},
	}},
	{name: "nation", repeat: true, unique: []string{"n_nationkey"}, cols: []column{
		{name: "n_nationkey", kind: kInt, fam: "nationkey", lits: []string{"3", "12", "20"}},
		{name: "n_name", kind: kStr, grp: true, lits: []string{"'BRAZIL'", "'FRANCE'", "'JAPAN'"}},
		{name: "n_regionkey", kind: kInt, grp: true, lits: []string{"0", "2", "4"}},
	}},
	{name: "part", repeat: true, unique: []string{"p_partkey"}, cols: []column{
		{name: "p_partkey", kind: kInt, fam: "partkey", lits: []string{"50", "300", "550"}},
		{name: "p_brand", kind: kStr, grp: true, lits: []string{"'Brand#11'", "'Brand#33'", "'Brand#55'"}},
		{name: "p_size", kind: kInt, fam: "num", grp: true, lits: []string{"5", "25", "45"}},
		{name: "p_retailprice", kind: kNum, lits: []string{"950", "1000", "1080"}},
	}},
	// sk: each key twice, some NULL; so: keys once but 100 twice; nk: 300
	// keys many times each and NULLs.
	{name: "sk", repeat: true, cols: []column{
		{name: "k", kind: kInt, fam: "k", lits: []string{"500", "3000", "8000"}},
		{name: "x", kind: kInt, grp: true, lits: []string{"2", "5", "8"}},
		{name: "s", kind: kStr, grp: true, lits: []string{"'s0'", "'s1'", "'s3'"}},
	}},
	{name: "so", repeat: true, cols: []column{
		{name: "k", kind: kInt, fam: "k", lits: []string{"200", "4550", "8000"}},
		{name: "y", kind: kInt, grp: true, lits: []string{"3", "6", "11"}},
		{name: "urgent", kind: kBool, grp: true},
	}},
	{name: "nk", cols: []column{
		{name: "k", kind: kInt, fam: "k", lits: []string{"20", "150", "280"}},
		{name: "x", kind: kInt, grp: true, lits: []string{"5", "25", "45"}},
		{name: "s", kind: kStr, grp: true, lits: []string{"'s0'", "'s2'", "'s5'"}},
	}},
	// mild: two files whose key ranges overlap by a sixth; ov: three
	// files each spanning every key.
	{name: "mild", repeat: true, cols: []column{
		{name: "k", kind: kInt, fam: "k", lits: []string{"1000", "3800", "8000"}},
		{name: "x", kind: kInt, grp: true, lits: []string{"0", "1", "2"}},
	}},
	{name: "ov", repeat: true, unique: []string{"k"}, cols: []column{
		{name: "k", kind: kInt, fam: "k", lits: []string{"300", "4500", "8900"}},
		{name: "x", kind: kInt, grp: true, lits: []string{"1", "3", "6"}},
	}},
	{name: "v", repeat: true, unique: []string{"id"}, cols: []column{
		{name: "id", kind: kInt, fam: "k", lits: []string{"1000", "12000", "31000"}},
		{name: "g", kind: kInt, grp: true, lits: []string{"1", "3", "5"}},
		{name: "s", kind: kStr, grp: true, lits: []string{"'k0'", "'k2'", "'k4'"}},
		{name: "x", kind: kNum, fam: "num", lits: []string{"10", "100", "200"}},
		{name: "amount", kind: kNum, lits: []string{"10", "50", "90"}},
		{name: "flag", kind: kBool, grp: true},
		{name: "day", kind: kDate, lits: []string{"DATE '2024-02-01'", "DATE '2024-06-30'", "DATE '2024-12-01'"}},
	}},
	// A view over v.
	{name: "vv", repeat: true, unique: []string{"id"}, cols: []column{
		{name: "id", kind: kInt, fam: "k", lits: []string{"1000", "12000", "31000"}},
		{name: "g", kind: kInt, grp: true, lits: []string{"1", "3", "5"}},
		{name: "s", kind: kStr, grp: true, lits: []string{"'k0'", "'k2'", "'k4'"}},
		{name: "x", kind: kNum, fam: "num", lits: []string{"10", "100", "200"}},
		{name: "amount", kind: kNum, lits: []string{"10", "50", "90"}},
		{name: "flag", kind: kBool, grp: true},
		{name: "day", kind: kDate, lits: []string{"DATE '2024-02-01'", "DATE '2024-06-30'", "DATE '2024-12-01'"}},
	}},
	// Views: renamed's columns are v's g and x, by_g aggregates v.
	{name: "renamed", cols: []column{
		{name: "a", kind: kInt, grp: true, lits: []string{"1", "3", "5"}},
		{name: "b", kind: kNum, fam: "num", lits: []string{"10", "100", "200"}},
	}},
	{name: "by_g", repeat: true, unique: []string{"grp"}, cols: []column{
		{name: "grp", kind: kInt, grp: true, lits: []string{"1", "3", "5"}},
		{name: "n", kind: kInt, lits: []string{"2000", "2600", "3000"}},
		{name: "t", kind: kNum, lits: []string{"100000", "300000", "400000"}},
	}},
}

// sqlExpr is an expression of a generated query.
type sqlExpr interface{ write(b *strings.Builder) }

type colRef struct{ qual, name string }

type lit string

type binary struct {
	op   string
	l, r sqlExpr
}

// postfix is "x IS NULL" and the like; prefix "NOT x".
type postfix struct {
	x  sqlExpr
	op string
}

type prefix struct {
	op string
	x  sqlExpr
}

type orderItem struct {
	e          sqlExpr
	desc       bool
	nullsFirst bool
}

type call struct {
	name     string
	args     []sqlExpr
	star     bool // count(*)
	distinct bool
	order    []orderItem
	filter   sqlExpr
}

type window struct {
	fn        call
	partition []sqlExpr
	order     []orderItem
	frame     string // ROWS ...; empty: the default
}

type between struct{ x, lo, hi sqlExpr }

type caseWhen struct{ when, then, els sqlExpr }

type inList struct {
	x    sqlExpr
	not  bool
	vals []sqlExpr
}

type exists struct {
	not bool
	q   *selectQuery
}

type inQuery struct {
	x   sqlExpr
	not bool
	q   *selectQuery
}

type scalarQuery struct{ q *selectQuery }

// ordinal is a GROUP BY's or ORDER BY's output column number.
type ordinal int

func (c colRef) write(b *strings.Builder) {
	if c.qual != "" {
		b.WriteString(c.qual + ".")
	}
	b.WriteString(c.name)
}

func (l lit) write(b *strings.Builder) { b.WriteString(string(l)) }

func (e binary) write(b *strings.Builder) {
	writeParts(b, "(", e.l, " "+e.op+" ", e.r, ")")
}

func (e postfix) write(b *strings.Builder) {
	writeParts(b, "(", e.x, " "+e.op+")")
}

func (e prefix) write(b *strings.Builder) {
	writeParts(b, "("+e.op+" ", e.x, ")")
}

func (o ordinal) write(b *strings.Builder) { fmt.Fprint(b, int(o)) }

// writeParts writes each part: a string as it is, a piece of SQL as it
// renders.
func writeParts(b *strings.Builder, parts ...any) {
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			b.WriteString(p)
		case interface{ write(*strings.Builder) }:
			p.write(b)
		}
	}
}

func writeList[T interface{ write(*strings.Builder) }](b *strings.Builder, xs []T, sep string) {
	for i, x := range xs {
		if i > 0 {
			b.WriteString(sep)
		}
		x.write(b)
	}
}

func (o orderItem) write(b *strings.Builder) {
	o.e.write(b)
	if o.desc {
		b.WriteString(" DESC")
	}
	if o.nullsFirst {
		b.WriteString(" NULLS FIRST")
	} else {
		b.WriteString(" NULLS LAST")
	}
}

func (c call) write(b *strings.Builder) {
	b.WriteString(c.name + "(")
	if c.distinct {
		b.WriteString("DISTINCT ")
	}
	if c.star {
		b.WriteString("*")
	}
	writeList(b, c.args, ", ")
	if len(c.order) > 0 {
		b.WriteString(" ORDER BY ")
		writeList(b, c.order, ", ")
	}
	b.WriteString(")")
	if c.filter != nil {
		b.WriteString(" FILTER (WHERE ")
		c.filter.write(b)
		b.WriteString(")")
	}
}

func (w window) write(b *strings.Builder) {
	w.fn.write(b)
	b.WriteString(" OVER (")
	if len(w.partition) > 0 {
		b.WriteString("PARTITION BY ")
		writeList(b, w.partition, ", ")
	}
	if len(w.order) > 0 {
		if len(w.partition) > 0 {
			b.WriteString(" ")
		}
		b.WriteString("ORDER BY ")
		writeList(b, w.order, ", ")
	}
	if w.frame != "" {
		b.WriteString(" " + w.frame)
	}
	b.WriteString(")")
}

func (e between) write(b *strings.Builder) {
	writeParts(b, "(", e.x, " BETWEEN ", e.lo, " AND ", e.hi, ")")
}

func (e caseWhen) write(b *strings.Builder) {
	writeParts(b, "CASE WHEN ", e.when, " THEN ", e.then, " ELSE ", e.els, " END")
}

func (e inList) write(b *strings.Builder) {
	b.WriteString("(")
	e.x.write(b)
	if e.not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	writeList(b, e.vals, ", ")
	b.WriteString("))")
}

func (e exists) write(b *strings.Builder) {
	writeParts(b, map[bool]string{true: "NOT "}[e.not]+"EXISTS (", e.q, ")")
}

func (e inQuery) write(b *strings.Builder) {
	writeParts(b, "(", e.x, map[bool]string{true: " NOT"}[e.not]+" IN (", e.q, "))")
}

func (e scalarQuery) write(b *strings.Builder) {
	writeParts(b, "(", e.q, ")")
}

// sqlQuery is a SELECT or a set operation of two.
type sqlQuery interface{ write(b *strings.Builder) }

type selectItem struct {
	e  sqlExpr
	as string
}

// fromItem is a table, a WITH's name or a subquery, joined to the items
// before it (but the first) by join ON on.
type fromItem struct {
	table string
	sub   sqlQuery
	alias string
	join  string // INNER, LEFT, RIGHT, FULL; CROSS (without ON)
	on    []sqlExpr
}

type groupForm int

const (
	groupNone groupForm = iota
	groupExprs
	groupAll
	groupOrdinals
	groupRollup
	groupCube
	groupSets // GROUPING SETS ((keys), (first key), ())
)

type cte struct {
	name string
	q    sqlQuery
}

type selectQuery struct {
	with       []cte
	distinct   bool
	distinctOn []sqlExpr
	items      []selectItem
	from       []fromItem
	where      []sqlExpr
	group      groupForm
	keys       []sqlExpr // the GROUP BY's expressions (groupExprs, groupRollup)
	nkeys      int       // the leading items that are the keys (groupOrdinals)
	having     []sqlExpr
	qualify    []sqlExpr
	orderAll   bool
	order      []orderItem
	limit      int
	offset     int
}

type setQuery struct {
	op          string
	left, right sqlQuery
	orderAll    bool
	limit       int
}

func writeAnd(b *strings.Builder, word string, xs []sqlExpr) {
	if len(xs) == 0 {
		return
	}
	b.WriteString(" " + word + " ")
	writeList(b, xs, " AND ")
}

func (q *selectQuery) write(b *strings.Builder) {
	if len(q.with) > 0 {
		b.WriteString("WITH ")
		for i, c := range q.with {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c.name + " AS (")
			c.q.write(b)
			b.WriteString(")")
		}
		b.WriteString(" ")
	}
	b.WriteString("SELECT ")
	if q.distinct {
		b.WriteString("DISTINCT ")
	}
	if len(q.distinctOn) > 0 {
		b.WriteString("DISTINCT ON (")
		writeList(b, q.distinctOn, ", ")
		b.WriteString(") ")
	}
	for i, it := range q.items {
		if i > 0 {
			b.WriteString(", ")
		}
		it.e.write(b)
		if it.as != "" {
			b.WriteString(" AS " + it.as)
		}
	}
	for i, f := range q.from {
		switch {
		case i == 0:
			b.WriteString(" FROM ")
		default:
			b.WriteString(" " + f.join + " JOIN ")
		}
		if f.sub != nil {
			b.WriteString("(")
			f.sub.write(b)
			b.WriteString(")")
		} else {
			b.WriteString(f.table)
		}
		b.WriteString(" AS " + f.alias)
		if i > 0 && len(f.on) > 0 {
			b.WriteString(" ON ")
			writeList(b, f.on, " AND ")
		}
	}
	writeAnd(b, "WHERE", q.where)
	switch q.group {
	case groupExprs:
		b.WriteString(" GROUP BY ")
		writeList(b, q.keys, ", ")
	case groupAll:
		b.WriteString(" GROUP BY ALL")
	case groupOrdinals:
		b.WriteString(" GROUP BY ")
		for i := range q.nkeys {
			if i > 0 {
				b.WriteString(", ")
			}
			ordinal(i + 1).write(b)
		}
	case groupRollup, groupCube:
		b.WriteString(map[groupForm]string{groupRollup: " GROUP BY ROLLUP (", groupCube: " GROUP BY CUBE ("}[q.group])
		writeList(b, q.keys, ", ")
		b.WriteString(")")
	case groupSets:
		b.WriteString(" GROUP BY GROUPING SETS ((")
		writeList(b, q.keys, ", ")
		b.WriteString("), (")
		q.keys[0].write(b)
		b.WriteString("), ())")
	}
	writeAnd(b, "HAVING", q.having)
	writeAnd(b, "QUALIFY", q.qualify)
	writeOrder(b, q.orderAll, q.order, q.limit)
	if q.offset > 0 {
		fmt.Fprintf(b, " OFFSET %d", q.offset)
	}
}

func writeOrder(b *strings.Builder, all bool, order []orderItem, limit int) {
	switch {
	case all:
		b.WriteString(" ORDER BY ALL")
	case len(order) > 0:
		b.WriteString(" ORDER BY ")
		writeList(b, order, ", ")
	}
	if limit > 0 {
		fmt.Fprintf(b, " LIMIT %d", limit)
	}
}

func (q *setQuery) write(b *strings.Builder) {
	b.WriteString("(")
	q.left.write(b)
	b.WriteString(") " + q.op + " (")
	q.right.write(b)
	b.WriteString(")")
	writeOrder(b, q.orderAll, nil, q.limit)
}

// pivotQuery is a table PIVOTed (an aggregate for each of two values of
// a column, named p0 and p1, by a key) or, with cols, UNPIVOTed (two
// columns of one kind as rows of their name and value).
type pivotQuery struct {
	table string
	agg   call
	on    string
	vals  []string
	group string
	cols  []string
	nulls bool // INCLUDE NULLS
}

func (q *pivotQuery) write(b *strings.Builder) {
	b.WriteString("SELECT * FROM " + q.table)
	if len(q.cols) > 0 {
		b.WriteString(" UNPIVOT ")
		if q.nulls {
			b.WriteString("INCLUDE NULLS ")
		}
		fmt.Fprintf(b, "(val FOR name IN (%s))", strings.Join(q.cols, ", "))
		return
	}
	b.WriteString(" PIVOT (")
	q.agg.write(b)
	b.WriteString(" FOR " + q.on + " IN (")
	for i, v := range q.vals {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%s AS p%d", v, i)
	}
	b.WriteString(") GROUP BY " + q.group + ")")
}

func render(q sqlQuery) string {
	var b strings.Builder
	q.write(&b)
	return b.String()
}

// source is a FROM item as the generator sees it: its alias and columns.
type source struct {
	item   fromItem
	cols   []column
	unique []string
	repeat bool
	base   string // the table's name, for not joining one table too often
}

func (s source) ref(c column) colRef { return colRef{qual: s.item.alias, name: c.name} }

// queryGen generates queries from one seed.
type queryGen struct {
	r       *rand.Rand
	aliases int
}

func newQueryGen(seed uint64) *queryGen {
	return &queryGen{r: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// randQuery is a generated query and how its answer is compared.
type randQuery struct {
	sql     string
	ordered bool // the ORDER BY fixes the rows' order
}

func (g *queryGen) alias(prefix string) string {
	g.aliases++
	return fmt.Sprintf("%s%d", prefix, g.aliases)
}

func (g *queryGen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *queryGen, xs []T) T { return xs[g.r.IntN(len(xs))] }

func (g *queryGen) tableSource(t table) source {
	return source{item: fromItem{table: t.name, alias: g.alias("t")}, cols: t.cols, unique: t.unique, repeat: t.repeat, base: t.name}
}

func colsWhere(cols []column, ok func(column) bool) []column {
	var out []column
	for _, c := range cols {
		if ok(c) {
			out = append(out, c)
		}
	}
	return out
}

// filter is a predicate on c of source s.
func (g *queryGen) filter(s source, c column) sqlExpr {
	ref := s.ref(c)
	if g.chance(0.08) {
		return postfix{x: ref, op: pick(g, []string{"IS NULL", "IS NOT NULL"})}
	}
	switch c.kind {
	case kBool:
		if g.chance(0.5) {
			return ref
		}
		return prefix{op: "NOT", x: ref}
	case kStr:
		switch g.r.IntN(3) {
		case 0:
			return binary{op: pick(g, []string{"=", "<>", "<", ">="}), l: ref, r: lit(pick(g, c.lits))}
		case 1:
			return inList{x: ref, not: g.chance(0.3), vals: []sqlExpr{lit(c.lits[0]), lit(c.lits[2])}}
		default:
			return binary{op: "LIKE", l: ref, r: lit("'%" + strings.Trim(pick(g, c.lits), "'")[1:] + "%'")}
		}
	case kInt:
		switch {
		case g.chance(0.25):
			return binary{op: "=", l: binary{op: "%", l: ref, r: lit(fmt.Sprint(g.r.IntN(3) + 2))}, r: lit("1")}
		case g.chance(0.1):
			return inList{x: ref, not: g.chance(0.3), vals: []sqlExpr{lit(c.lits[0]), lit("NULL"), lit(c.lits[1])}}
		}
	}
	var x sqlExpr = ref
	if c.kind != kDate && g.chance(0.1) {
		x = binary{op: pick(g, []string{"+", "-", "*"}), l: ref, r: lit("2")}
	}
	return binary{op: pick(g, []string{"<", ">", "<=", ">=", "<>", "="}), l: x, r: g.literal(c)}
}

// literal is one of c's literals, at times of another type DuckDB casts
// (a DECIMAL or a string for an integer, a string or a TIMESTAMP for a
// date): the planner's pruning and pushdown must cast as DuckDB does.
func (g *queryGen) literal(c column) sqlExpr {
	l := pick(g, c.lits)
	if !g.chance(0.25) {
		return lit(l)
	}
	switch c.kind {
	case kInt:
		return lit(pick(g, []string{l + ".5", "'" + l + "'", "-" + l, l + ".0"}))
	case kNum:
		return lit(pick(g, []string{l + " + 0.25", "'" + l + "'", l + "::DOUBLE"}))
	case kDate:
		day := strings.TrimPrefix(l, "DATE ")
		return lit(pick(g, []string{day, "TIMESTAMP " + day, l + " + INTERVAL 12 HOUR"}))
	}
	return lit(l)
}

// filterOn picks a column of one of srcs to filter on, or two (OR), or
// a range (BETWEEN).
func (g *queryGen) filterOn(srcs []source) sqlExpr {
	s := pick(g, srcs)
	c := pick(g, s.cols)
	switch {
	case g.chance(0.1):
		return binary{op: "OR", l: g.filter(s, c), r: g.filterOn(srcs)}
	case g.chance(0.07) && len(c.lits) >= 2 && c.kind != kStr:
		return between{x: s.ref(c), lo: lit(c.lits[0]), hi: lit(c.lits[1])}
	case g.chance(0.05):
		return prefix{op: "NOT", x: g.filter(s, c)}
	}
	return g.filter(s, c)
}

// fromClause picks a first source and joins up to two more to it on key
// columns.
func (g *queryGen) fromClause(depth int) []source {
	var srcs []source
	if depth < 2 && g.chance([]float64{0.3, 0.1}[depth]) {
		srcs = append(srcs, g.derived(depth))
	} else {
		srcs = append(srcs, g.tableSource(pick(g, randTables)))
	}
	joins := []int{0, 0, 1, 1, 1, 2}[g.r.IntN(6)]
	if depth > 0 {
		joins = min(joins, 1)
	}
	for range joins {
		type cand struct {
			left source
			lc   column
			t    table
			rc   column
		}
		var cands []cand
		for _, l := range srcs {
			for _, lc := range l.cols {
				if lc.fam == "" {
					continue
				}
				for _, t := range randTables {
					if slices.ContainsFunc(srcs, func(s source) bool { return s.base == t.name && !t.repeat }) {
						continue
					}
					// Values of "num" repeat (v.x's 18 times, l_quantity's 240):
					// joined once, with part (12 each) on one side.
					if lc.fam == "num" && (len(srcs) > 1 || t.name == l.base || l.base != "part" && t.name != "part") {
						continue
					}
					for _, rc := range t.cols {
						if rc.fam == lc.fam {
							cands = append(cands, cand{l, lc, t, rc})
						}
					}
				}
			}
		}
		if len(cands) == 0 {
			break
		}
		c := pick(g, cands)
		r := g.tableSource(c.t)
		if depth == 0 && g.chance(0.15) {
			// The table's rows grouped by the joined key: aggregates
			// joined to aggregates, or to scans.
			r = g.groupedBy(c.t, c.rc)
		}
		r.item.join = pick(g, []string{"INNER", "INNER", "INNER", "LEFT", "LEFT", "RIGHT", "FULL"})
		r.item.on = []sqlExpr{binary{op: "=", l: c.left.ref(c.lc), r: r.ref(c.rc)}}
		switch {
		case g.chance(0.25):
			r.item.on = append(r.item.on, g.filterOn([]source{r}))
		case g.chance(0.1):
			r.item.on = append(r.item.on, g.filterOn([]source{c.left}))
		case g.chance(0.1):
			// A condition on both sides beside the key's.
			ln := colsWhere(c.left.cols, func(c column) bool { return c.kind == kInt })
			rn := colsWhere(r.cols, func(c column) bool { return c.kind == kInt })
			if len(ln) > 0 && len(rn) > 0 {
				r.item.on = append(r.item.on, binary{op: pick(g, []string{"<", ">=", "<>"}), l: c.left.ref(pick(g, ln)), r: r.ref(pick(g, rn))})
			}
		}
		srcs = append(srcs, r)
	}
	if depth == 0 && g.chance(0.08) {
		srcs = append(srcs, g.oneRow())
	}
	return srcs
}

// groupedBy is a FROM subquery grouping table t (perhaps filtered) by
// column key: the key, a count and perhaps a sum, min or max, one row a
// key.
func (g *queryGen) groupedBy(t table, key column) source {
	in := g.tableSource(t)
	q := &selectQuery{from: []fromItem{in.item}, items: []selectItem{{e: in.ref(key), as: key.name}},
		keys: []sqlExpr{in.ref(key)}, group: groupExprs}
	if g.chance(0.5) {
		q.where = []sqlExpr{g.filterOn([]source{in})}
	}
	cols := []column{key, {name: "n", kind: kInt, lits: []string{"1", "2", "5"}}}
	q.items = append(q.items, selectItem{e: call{name: "count", star: true}, as: "n"})
	if nums := colsWhere(in.cols, func(c column) bool { return (c.kind == kNum || c.kind == kInt) && c.name != key.name }); len(nums) > 0 {
		c := pick(g, nums)
		q.items = append(q.items, selectItem{e: call{name: pick(g, []string{"sum", "min", "max"}), args: []sqlExpr{in.ref(c)}}, as: "m"})
		cols = append(cols, column{name: "m", kind: c.kind, lits: c.lits})
	}
	return source{item: fromItem{sub: q, alias: g.alias("a")}, cols: cols, unique: []string{key.name}}
}

// oneRow is a CROSS JOINed FROM subquery of one row: a count and perhaps
// a sum, min or max of a table, perhaps filtered.
func (g *queryGen) oneRow() source {
	in := g.tableSource(pick(g, randTables))
	alias := g.alias("o")
	q := &selectQuery{from: []fromItem{in.item}, items: []selectItem{{e: call{name: "count", star: true}, as: alias + "n"}}}
	if g.chance(0.5) {
		q.where = []sqlExpr{g.filterOn([]source{in})}
	}
	cols := []column{{name: alias + "n", kind: kInt, lits: []string{"1", "100", "1000"}}}
	if nums := colsWhere(in.cols, func(c column) bool { return c.kind == kNum || c.kind == kInt }); len(nums) > 0 {
		c := pick(g, nums)
		q.items = append(q.items, selectItem{e: call{name: pick(g, []string{"sum", "min", "max"}), args: []sqlExpr{in.ref(c)}}, as: alias + "m"})
		cols = append(cols, column{name: alias + "m", kind: c.kind, lits: c.lits})
	}
	return source{item: fromItem{sub: q, alias: alias, join: "CROSS"}, cols: cols, base: alias}
}

// derived is a FROM subquery: a window over a table filtered by its rank
// outside, an aggregate by a key, a set operation, or any query of the
// generator's (nested one level deeper).
func (g *queryGen) derived(depth int) source {
	alias := g.alias("d")
	switch g.r.IntN(4) {
	case 0:
		q, cols, _ := g.selectQuery(depth + 1)
		return source{item: fromItem{sub: q, alias: alias}, cols: cols}
	case 1:
		q, cols, _ := g.setOp()
		return source{item: fromItem{sub: q, alias: alias}, cols: cols}
	}
	if g.chance(0.35) {
		return g.pivoted(alias)
	}
	t := pick(g, randTables)
	in := g.tableSource(t)
	q := &selectQuery{from: []fromItem{in.item}}
	if g.chance(0.5) {
		q.where = []sqlExpr{g.filterOn([]source{in})}
	}
	var cols []column
	if g.chance(0.5) {
		// A window: its rank (or running sum) computed over every row of
		// its partition, whatever the slice.
		for _, c := range g.someCols(in.cols, 1+g.r.IntN(3)) {
			q.items = append(q.items, selectItem{e: in.ref(c)})
			cols = append(cols, c)
		}
		// One or two windows, of one or two partitionings.
		for i := range 1 + g.r.IntN(2) {
			fn, c := g.windowFn(in, []source{in})
			c.name = fmt.Sprintf("w%d", i)
			q.items = append(q.items, selectItem{e: fn, as: c.name})
			cols = append(cols, c)
		}
		return source{item: fromItem{sub: q, alias: alias}, cols: cols}
	}
	keys := colsWhere(in.cols, func(c column) bool { return c.fam != "" || c.grp })
	key := pick(g, keys)
	q.items = []selectItem{{e: in.ref(key), as: key.name}}
	q.keys = []sqlExpr{in.ref(key)}
	q.group = groupExprs
	cols = append(cols, key)
	q.items = append(q.items, selectItem{e: call{name: "count", star: true}, as: "n"})
	cols = append(cols, column{name: "n", kind: kInt, lits: []string{"1", "2", "5"}})
	if nums := colsWhere(in.cols, func(c column) bool { return c.kind == kNum || c.kind == kInt }); len(nums) > 0 {
		c := pick(g, nums)
		q.items = append(q.items, selectItem{e: call{name: pick(g, []string{"sum", "min", "max"}), args: []sqlExpr{in.ref(c)}}, as: "m"})
		cols = append(cols, column{name: "m", kind: c.kind, lits: c.lits})
	}
	if g.chance(0.3) {
		q.having = []sqlExpr{binary{op: ">", l: call{name: "count", star: true}, r: lit("1")}}
	}
	return source{item: fromItem{sub: q, alias: alias}, cols: cols}
}

// pivoted is a FROM subquery that PIVOTs or UNPIVOTs a table
// (pivotQuery), and its columns.
func (g *queryGen) pivoted(alias string) source {
	t := pick(g, randTables)
	if g.chance(0.5) {
		// Two columns of a kind the table has two of, in its order; not
		// numbers, which may unpivot as DOUBLE (whose sums differ in
		// their last bits by the rows' order).
		var kinds []kind
		count := map[kind]int{}
		for _, c := range t.cols {
			if count[c.kind]++; count[c.kind] == 2 && c.kind != kNum {
				kinds = append(kinds, c.kind)
			}
		}
		if len(kinds) > 0 {
			k := pick(g, kinds)
			of := colsWhere(t.cols, func(c column) bool { return c.kind == k })
			two := g.someCols(of, 2)
			q := &pivotQuery{table: t.name, cols: []string{two[0].name, two[1].name}, nulls: g.chance(0.3)}
			var cols []column
			for _, c := range t.cols {
				if c.name != two[0].name && c.name != two[1].name {
					cols = append(cols, c)
				}
			}
			cols = append(cols, column{name: "name", kind: kStr, grp: true, lits: []string{"'" + two[0].name + "'", "'" + two[1].name + "'", "'x'"}},
				column{name: "val", kind: k, grp: two[0].grp && two[1].grp, lits: two[0].lits})
			return source{item: fromItem{sub: q, alias: alias}, cols: cols}
		}
	}
	// PIVOT: two values of a column with literals, grouped by a key.
	ons := colsWhere(t.cols, func(c column) bool { return len(c.lits) >= 2 })
	on := pick(g, ons)
	keys := colsWhere(t.cols, func(c column) bool { return c.name != on.name && (c.grp || c.fam != "") })
	if len(keys) == 0 {
		return g.tableSource(t)
	}
	key := pick(g, keys)
	vals := g.someCols([]column{{name: on.lits[0]}, {name: on.lits[1]}, {name: on.lits[len(on.lits)-1]}}, 2)
	q := &pivotQuery{table: t.name, on: on.name, vals: []string{vals[0].name, vals[1].name}, group: key.name}
	val := column{kind: kInt, lits: []string{"0", "1", "5"}}
	nums := colsWhere(t.cols, func(c column) bool { return c.kind == kNum || c.kind == kInt })
	switch {
	case len(nums) > 0 && g.chance(0.5):
		c := pick(g, nums)
		q.agg = call{name: pick(g, []string{"min", "max"}), args: []sqlExpr{colRef{name: c.name}}}
		val = column{kind: c.kind, lits: c.lits}
	case g.chance(0.5):
		q.agg = call{name: "count", args: []sqlExpr{colRef{name: pick(g, t.cols).name}}}
	default:
		q.agg = call{name: "count", star: true}
	}
	p0, p1 := val, val
	p0.name, p1.name = "p0", "p1"
	return source{item: fromItem{sub: q, alias: alias}, cols: []column{key, p0, p1}}
}

func (g *queryGen) someCols(cols []column, n int) []column {
	idx := g.r.Perm(len(cols))
	var out []column
	for _, i := range idx[:min(n, len(cols))] {
		out = append(out, cols[i])
	}
	return out
}

// windowFn is a window function over srcs and its output column (named
// later); s, if it is the only source, may order by its unique columns.
// Functions that see one row before another (row_number, lag, ntile,
// first_value, a ROWS frame) order by unique columns only; the others
// give peers one value.
func (g *queryGen) windowFn(s source, srcs []source) (window, column) {
	var part, ord, nums []colRef
	for _, src := range srcs {
		for _, c := range src.cols {
			if c.grp || c.fam != "" && g.chance(0.3) {
				part = append(part, src.ref(c))
			}
			if c.kind != kBool {
				ord = append(ord, src.ref(c))
			}
			if c.kind == kNum || c.kind == kInt {
				nums = append(nums, src.ref(c))
			}
		}
	}
	w := window{}
	if len(part) > 0 && g.chance(0.8) {
		w.partition = []sqlExpr{pick(g, part)}
		if p := pick(g, part); g.chance(0.2) && p != w.partition[0] {
			w.partition = append(w.partition, p)
		}
	}
	order := func() []orderItem {
		if len(ord) == 0 {
			return nil
		}
		return []orderItem{{e: pick(g, ord), desc: g.chance(0.5), nullsFirst: g.chance(0.5)}}
	}
	rank := column{kind: kInt, grp: true, rank: true, lits: []string{"1", "2", "3"}}
	num := column{kind: kNum, lits: []string{"0", "10", "1000"}}
	if len(srcs) == 1 && len(s.unique) > 0 && len(nums) > 0 && g.chance(0.35) {
		for _, u := range s.unique {
			w.order = append(w.order, orderItem{e: colRef{qual: s.item.alias, name: u}, desc: g.chance(0.5)})
		}
		switch g.r.IntN(6) {
		case 0, 1:
			w.fn = call{name: "row_number"}
			return w, rank
		case 2:
			w.fn = call{name: pick(g, []string{"lag", "lead", "first_value"}), args: []sqlExpr{pick(g, nums)}}
		case 3:
			w.fn = call{name: "ntile", args: []sqlExpr{lit("3")}}
			return w, rank
		default:
			w.fn = call{name: pick(g, []string{"sum", "max", "count"}), args: []sqlExpr{pick(g, nums)}}
			w.frame = pick(g, []string{"ROWS BETWEEN 1 PRECEDING AND CURRENT ROW", "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 FOLLOWING"})
		}
		return w, num
	}
	switch n := g.r.IntN(6); {
	case n <= 2 || len(nums) == 0:
		w.fn = call{name: pick(g, []string{"rank", "dense_rank", "rank"})}
		w.order = order()
		return w, rank
	case n == 3:
		w.fn = call{name: pick(g, []string{"count", "percent_rank", "cume_dist"}), star: true}
		if w.fn.name != "count" {
			w.fn.star = false
			w.order = order()
		} else if g.chance(0.5) {
			w.order = order()
		}
		return w, num
	default:
		// A sum over ties ordered by peers: the RANGE frame takes them all.
		w.fn = call{name: pick(g, []string{"sum", "min", "max"}), args: []sqlExpr{pick(g, nums)}}
		if g.chance(0.5) {
			w.order = order()
		}
		return w, num
	}
}

// predicate is a WHERE conjunct: a filter, or at depth 0 a subquery.
func (g *queryGen) predicate(srcs []source, depth int) sqlExpr {
	switch {
	case depth > 1 || g.chance([]float64{0.6, 0.85}[depth]):
		return g.filterOn(srcs)
	case depth == 0 && g.chance(0.15):
		// A subquery under OR: not a semi or anti join.
		return binary{op: "OR", l: g.subqueryPredicate(srcs), r: g.filterOn(srcs)}
	}
	return g.subqueryPredicate(srcs)
}

// subqueryPredicate is an EXISTS, IN or scalar subquery over a table of
// the family of one of srcs' keys, correlated or not.
func (g *queryGen) subqueryPredicate(srcs []source) sqlExpr {
	// A key column of the outer query and a table of its family.
	type cand struct {
		s source
		c column
		t table
		k column
	}
	var cands []cand
	for _, s := range srcs {
		for _, c := range s.cols {
			if c.fam == "" {
				continue
			}
			for _, t := range randTables {
				for _, k := range t.cols {
					if k.fam == c.fam {
						cands = append(cands, cand{s, c, t, k})
					}
				}
			}
		}
	}
	if len(cands) == 0 {
		return g.filterOn(srcs)
	}
	c := pick(g, cands)
	in := g.tableSource(c.t)
	outer := c.s.ref(c.c)
	inner := in.ref(c.k)
	correlate := binary{op: "=", l: inner, r: outer}
	q := &selectQuery{from: []fromItem{in.item}}
	if g.chance(0.6) {
		q.where = append(q.where, g.filterOn([]source{in}))
	}
	switch g.r.IntN(5) {
	case 0: // [NOT] EXISTS, correlated
		q.items = []selectItem{{e: lit("1")}}
		q.where = append([]sqlExpr{correlate}, q.where...)
		return exists{not: g.chance(0.4), q: q}
	case 1: // [NOT] IN, not correlated
		q.items = []selectItem{{e: inner}}
		return inQuery{x: outer, not: g.chance(0.4), q: q}
	case 2: // IN, correlated by another column
		q.items = []selectItem{{e: inner}}
		q.where = append(q.where, correlate)
		return inQuery{x: outer, not: g.chance(0.3), q: q}
	default: // a scalar aggregate, correlated or not, compared with a column
		nums := colsWhere(in.cols, func(c column) bool { return c.kind == kNum || c.kind == kInt })
		if len(nums) == 0 {
			q.items = []selectItem{{e: call{name: "count", star: true}}}
		} else {
			q.items = []selectItem{{e: call{name: pick(g, []string{"sum", "min", "max", "avg", "count"}), args: []sqlExpr{in.ref(pick(g, nums))}}}}
		}
		if g.chance(0.6) {
			q.where = append(q.where, correlate)
		}
		var onums []colRef
		for _, s := range srcs {
			for _, oc := range s.cols {
				if oc.kind == kNum || oc.kind == kInt {
					onums = append(onums, s.ref(oc))
				}
			}
		}
		if len(onums) == 0 {
			return g.filterOn(srcs)
		}
		return binary{op: pick(g, []string{"<", ">=", ">"}), l: pick(g, onums), r: scalarQuery{q}}
	}
}

// aggregate is an aggregate over srcs' columns, and the kind of its
// value.
func (g *queryGen) aggregate(srcs []source, exact bool) (sqlExpr, kind) {
	s := pick(g, srcs)
	c := pick(g, s.cols)
	ref := s.ref(c)
	var a call
	switch c.kind {
	case kInt, kNum:
		a = call{name: pick(g, []string{"sum", "min", "max", "avg", "count", "median", "stddev_samp", "sum", "count"}), args: []sqlExpr{ref}}
		if exact && a.name == "stddev_samp" {
			// Its last bits depend on the rows' order: a query that
			// groups, counts distinct or compares its values would not
			// have one answer.
			a.args = []sqlExpr{binary{op: ">", l: ref, r: lit(pick(g, c.lits))}}
			a.name = "bool_or"
		}
		switch {
		case g.chance(0.15):
			a = call{name: pick(g, []string{"count", "count", "sum"}), distinct: true, args: []sqlExpr{ref}}
		case g.chance(0.08):
			a = call{name: pick(g, []string{"quantile_cont", "quantile_disc"}), args: []sqlExpr{ref, lit("0.25")}}
		case g.chance(0.05):
			// Ordered by its own value: one answer whatever the ties.
			a = call{name: "list", args: []sqlExpr{ref}, order: []orderItem{{e: ref, desc: g.chance(0.5)}}}
		case g.chance(0.08) && len(srcs) == 1 && len(s.unique) == 1:
			// The value at the row of the greatest unique key.
			a = call{name: pick(g, []string{"arg_max", "arg_min"}), args: []sqlExpr{ref, colRef{qual: s.item.alias, name: s.unique[0]}}}
		}
		if g.chance(0.08) {
			a = call{name: "bool_and", args: []sqlExpr{binary{op: ">", l: ref, r: lit(pick(g, c.lits))}}}
		}
	case kStr:
		a = call{name: pick(g, []string{"min", "max", "count"}), args: []sqlExpr{ref}}
		switch g.r.IntN(4) {
		case 0:
			a = call{name: "count", distinct: true, args: []sqlExpr{ref}}
		case 1:
			// Ordered by its own value: one answer whatever the ties.
			a = call{name: "string_agg", distinct: g.chance(0.7), args: []sqlExpr{ref, lit("','")}, order: []orderItem{{e: ref}}}
		}
	case kBool:
		a = call{name: pick(g, []string{"bool_and", "bool_or", "count"}), args: []sqlExpr{ref}}
	case kDate:
		a = call{name: pick(g, []string{"min", "max", "count"}), args: []sqlExpr{ref}}
	}
	if g.chance(0.1) {
		a = call{name: "count", star: true}
	}
	if g.chance(0.1) {
		a.filter = g.filterOn(srcs)
	}
	switch a.name {
	case "count":
		return a, kInt
	case "min", "max":
		return a, c.kind
	case "string_agg", "list":
		return a, kStr
	case "bool_and", "bool_or":
		return a, kBool
	}
	return a, kNum
}

// selectQuery generates a SELECT and says whether its ORDER BY fixes the
// order of its rows.
func (g *queryGen) selectQuery(depth int) (*selectQuery, []column, bool) {
	// Sorted by every column (and cut), its aggregates must be exact: two
	// groups' equal values may differ in their last bits in another run.
	sorted := depth == 0 && g.chance(0.4)
	srcs := g.fromClause(depth)
	q := &selectQuery{}
	for _, s := range srcs {
		q.from = append(q.from, s.item)
	}
	for range g.r.IntN(3) {
		q.where = append(q.where, g.predicate(srcs, depth))
	}
	for _, s := range srcs {
		// The first ranks kept of a window subquery.
		for _, c := range s.cols {
			if c.rank && g.chance(0.7) {
				q.where = append(q.where, binary{op: "<=", l: s.ref(c), r: lit(fmt.Sprint(1 + g.r.IntN(3)))})
				break
			}
		}
	}
	var out []column
	name := func(i int) string { return fmt.Sprintf("c%d", i) }
	plain := false // no aggregate: the ORDER BY may name what it does not select
	switch n := g.r.IntN(10); {
	case n < 5: // aggregate
		var keys []sqlExpr
		for _, s := range srcs {
			for _, c := range s.cols {
				if (c.grp || c.fam != "" && g.chance(0.2)) && g.chance(0.35) && len(keys) < 3 {
					var e sqlExpr = s.ref(c)
					switch {
					case c.kind == kInt && g.chance(0.15):
						e = binary{op: "%", l: e, r: lit("3")}
						c = column{kind: kInt, grp: true, lits: []string{"0", "1", "2"}}
					case len(c.lits) > 0 && c.kind != kBool && g.chance(0.1):
						e = caseWhen{when: binary{op: "<", l: e, r: lit(c.lits[1])}, then: lit("'lo'"), els: lit("'hi'")}
						c = column{kind: kStr, grp: true, lits: []string{"'lo'", "'hi'", "'lo'"}}
					}
					keys = append(keys, e)
					c.name = name(len(q.items))
					q.items = append(q.items, selectItem{e: e, as: c.name})
					out = append(out, c)
				}
			}
		}
		q.keys = keys
		if len(keys) > 0 {
			q.group = pick(g, []groupForm{groupExprs, groupExprs, groupExprs, groupAll, groupOrdinals, groupRollup, groupCube, groupSets})
			q.nkeys = len(keys)
		}
		for range 1 + g.r.IntN(3) {
			a, kd := g.aggregate(srcs, depth > 0 || sorted)
			c := column{name: name(len(q.items)), kind: kd, lits: []string{"0", "10", "1000"}}
			switch kd {
			case kStr:
				c.lits = []string{"'s1'", "'k2'", "'F'"}
			case kDate:
				c.lits = []string{"DATE '1995-01-01'", "DATE '2024-06-30'"}
			}
			q.items = append(q.items, selectItem{e: a, as: c.name})
			out = append(out, c)
		}
		switch {
		case g.chance(0.25):
			q.having = []sqlExpr{binary{op: ">", l: call{name: "count", star: true}, r: lit(pick(g, []string{"1", "3", "20"}))}}
		case depth == 0 && g.chance(0.1):
			// An aggregate compared with a scalar subquery's.
			nums := colsWhere(srcs[0].cols, func(c column) bool { return c.kind == kNum || c.kind == kInt })
			if len(nums) > 0 {
				c := pick(g, nums)
				in := g.tableSource(pick(g, randTables))
				inNums := colsWhere(in.cols, func(c column) bool { return c.kind == kNum || c.kind == kInt })
				sub := &selectQuery{items: []selectItem{{e: call{name: "avg", args: []sqlExpr{in.ref(pick(g, inNums))}}}}, from: []fromItem{in.item}}
				q.having = []sqlExpr{binary{op: ">", l: call{name: "max", args: []sqlExpr{srcs[0].ref(c)}}, r: scalarQuery{sub}}}
			}
		}
		if len(keys) > 0 && (q.group == groupExprs || q.group == groupOrdinals) && g.chance(0.25) {
			// A window over the groups: ranked by their count, or a sum
			// of their sums by the first key.
			count := call{name: "count", star: true}
			w := window{fn: call{name: "rank"}, order: []orderItem{{e: count, desc: true}}}
			c := column{name: name(len(q.items)), kind: kInt, rank: true, lits: []string{"1", "2"}}
			if g.chance(0.5) {
				w = window{fn: call{name: "sum", args: []sqlExpr{count}}, partition: keys[:1]}
				c = column{name: c.name, kind: kNum, lits: []string{"10", "1000"}}
				if len(keys) > 1 && g.chance(0.5) {
					w.order = []orderItem{{e: keys[1], desc: g.chance(0.5)}}
				}
			}
			q.items = append(q.items, selectItem{e: w, as: c.name})
			out = append(out, c)
		}
	default: // plain, with windows
		plain = true
		for _, s := range srcs {
			for _, c := range g.someCols(s.cols, 1+g.r.IntN(2)) {
				var e sqlExpr = s.ref(c)
				if c.kind == kInt && g.chance(0.15) {
					e = binary{op: "+", l: e, r: lit("1")}
					c.fam = ""
				}
				c.name = name(len(q.items))
				q.items = append(q.items, selectItem{e: e, as: c.name})
				out = append(out, c)
			}
		}
		for range min(max(n-6, 0), 2) { // none to two windows
			w, c := g.windowFn(srcs[0], srcs)
			c.name = name(len(q.items))
			if g.chance(0.4) && c.rank {
				q.qualify = []sqlExpr{binary{op: "<=", l: w, r: lit(fmt.Sprint(1 + g.r.IntN(3)))}}
			} else {
				q.items = append(q.items, selectItem{e: w, as: c.name})
				out = append(out, c)
			}
		}
		switch {
		case depth == 0 && g.chance(0.08):
			// A subquery's truth as a column.
			cn := column{name: name(len(q.items)), kind: kBool, grp: true}
			q.items = append(q.items, selectItem{e: g.subqueryPredicate(srcs), as: cn.name})
			out = append(out, cn)
		case depth == 0 && g.chance(0.06):
			// A column less an uncorrelated scalar subquery's value.
			s := pick(g, srcs)
			if nums := colsWhere(s.cols, func(c column) bool { return c.kind == kInt }); len(nums) > 0 {
				in := g.tableSource(pick(g, randTables))
				inNums := colsWhere(in.cols, func(c column) bool { return c.kind == kInt })
				sq := &selectQuery{items: []selectItem{{e: call{name: "max", args: []sqlExpr{in.ref(pick(g, inNums))}}}}, from: []fromItem{in.item}}
				cn := column{name: name(len(q.items)), kind: kInt, lits: []string{"0", "100"}}
				q.items = append(q.items, selectItem{e: binary{op: "-", l: scalarQuery{sq}, r: s.ref(pick(g, nums))}, as: cn.name})
				out = append(out, cn)
			}
		}
		if depth == 0 && g.chance(0.1) {
			// A correlated scalar subquery in the select list.
			for _, s := range srcs {
				for _, c := range s.cols {
					if c.fam != "k" {
						continue
					}
					in := g.tableSource(pick(g, []table{randTables[5], randTables[6]}))
					sq := &selectQuery{items: []selectItem{{e: call{name: "count", star: true}}}, from: []fromItem{in.item},
						where: []sqlExpr{binary{op: "=", l: colRef{qual: in.item.alias, name: "k"}, r: s.ref(c)}}}
					cn := column{name: name(len(q.items)), kind: kInt, lits: []string{"1", "2"}}
					q.items = append(q.items, selectItem{e: scalarQuery{sq}, as: cn.name})
					out = append(out, cn)
					break
				}
			}
		}
		q.distinct = g.chance(0.2)
		if depth == 0 && !q.distinct && g.chance(0.08) {
			// The first row of each value of the first column, in the
			// order of them all.
			q.distinctOn = []sqlExpr{q.items[0].e}
			q.orderAll = true
			return q, out, true
		}
	}
	ordered := false
	if depth > 0 && g.chance(0.1) {
		// Cut in a subquery: ties are whole rows, one answer.
		q.orderAll, q.limit = true, pick(g, []int{1, 5, 30})
	}
	if sorted {
		ordered = true
		if plain && !q.distinct && g.chance(0.3) {
			// First by a source's column it may not select (each task
			// adds it, partition/hidden.go), then every output column.
			s := srcs[g.r.IntN(len(srcs))]
			q.order = append(q.order, orderItem{e: s.ref(s.cols[g.r.IntN(len(s.cols))]), desc: g.chance(0.5), nullsFirst: g.chance(0.4)})
			for _, i := range g.r.Perm(len(q.items)) {
				q.order = append(q.order, orderItem{e: ordinal(i + 1), desc: g.chance(0.4), nullsFirst: g.chance(0.4)})
			}
		} else if g.chance(0.5) {
			q.orderAll = true
		} else {
			// Every output column, in some order and direction.
			for _, i := range g.r.Perm(len(q.items)) {
				q.order = append(q.order, orderItem{e: ordinal(i + 1), desc: g.chance(0.4), nullsFirst: g.chance(0.4)})
			}
		}
		if g.chance(0.6) {
			q.limit = pick(g, []int{1, 3, 10, 50})
			if g.chance(0.2) {
				q.offset = pick(g, []int{1, 5})
			}
		}
	}
	return q, out, ordered
}

// next generates a query: a SELECT, a set operation or a WITH.
func (g *queryGen) next() randQuery {
	g.aliases = 0
	switch n := g.r.IntN(10); {
	case n < 6:
		q, _, ordered := g.selectQuery(0)
		return randQuery{sql: render(q), ordered: ordered}
	case n < 8:
		q, _, ordered := g.setOp()
		return randQuery{sql: render(q), ordered: ordered}
	default:
		return g.with()
	}
}

// setOp is two SELECTs of the same column kinds under a set operation;
// its columns are named c0, c1, ... as the left side's.
func (g *queryGen) setOp() (*setQuery, []column, bool) {
	side := func(want []column) (*selectQuery, []column) {
		for {
			t := pick(g, randTables)
			s := g.tableSource(t)
			q := &selectQuery{from: []fromItem{s.item}}
			var cols []column
			if want == nil {
				cols = g.someCols(t.cols, 1+g.r.IntN(2))
			} else {
				for _, w := range want {
					cs := colsWhere(t.cols, func(c column) bool { return c.kind == w.kind })
					if len(cs) == 0 {
						break
					}
					cols = append(cols, pick(g, cs))
				}
				if len(cols) < len(want) {
					continue
				}
			}
			for i, c := range cols {
				q.items = append(q.items, selectItem{e: s.ref(c), as: fmt.Sprintf("c%d", i)})
				cols[i].name = fmt.Sprintf("c%d", i)
			}
			for range g.r.IntN(3) {
				q.where = append(q.where, g.filterOn([]source{s}))
			}
			return q, cols
		}
	}
	l, cols := side(nil)
	r, rcols := side(cols)
	op := pick(g, []string{"UNION", "UNION ALL", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"})
	q := &setQuery{op: op, left: l, right: r}
	for i := range cols {
		// A key of both sides' families joins as either.
		if cols[i].fam != rcols[i].fam {
			cols[i].fam = ""
		}
	}
	ordered := false
	if g.chance(0.3) {
		ordered, q.orderAll = true, true
		if g.chance(0.5) {
			q.limit = pick(g, []int{1, 5, 20})
		}
	}
	return q, cols, ordered
}

// with is a query over a WITH read once, or twice (joined to itself, or
// in FROM and in a scalar subquery).
func (g *queryGen) with() randQuery {
	inner, cols, _ := g.selectQuery(1)
	name := g.alias("w")
	a := source{item: fromItem{table: name, alias: g.alias("r")}, cols: cols}
	q := &selectQuery{with: []cte{{name: name, q: inner}}, from: []fromItem{a.item}}
	srcs := []source{a}
	// Joined by a key whose values repeat little ("num"'s, joined to
	// itself, gave seed 63 a WITH of millions of rows).
	keys := colsWhere(cols, func(c column) bool { return c.fam != "" && c.fam != "num" })
	nums := colsWhere(cols, func(c column) bool { return c.kind == kNum || c.kind == kInt })
	switch n := g.r.IntN(4); {
	case n == 0 && len(keys) > 0:
		b := source{item: fromItem{table: name, alias: g.alias("r"), join: pick(g, []string{"INNER", "LEFT"})}, cols: cols}
		k := pick(g, keys)
		b.item.on = []sqlExpr{binary{op: "=", l: a.ref(k), r: b.ref(k)}}
		q.from = append(q.from, b.item)
		srcs = append(srcs, b)
	case n == 1 && len(nums) > 0:
		c := pick(g, nums)
		sub := &selectQuery{items: []selectItem{{e: call{name: pick(g, []string{"avg", "min", "max"}), args: []sqlExpr{colRef{name: c.name}}}}},
			from: []fromItem{{table: name, alias: g.alias("r")}}}
		q.where = []sqlExpr{binary{op: ">=", l: a.ref(c), r: scalarQuery{sub}}}
	case n >= 2 && len(keys) > 0:
		// Read once, by a table joined to it or filtered by its keys.
		k := pick(g, keys)
		var ts []table
		for _, t := range randTables {
			if slices.ContainsFunc(t.cols, func(c column) bool { return c.fam == k.fam }) {
				ts = append(ts, t)
			}
		}
		t := g.tableSource(pick(g, ts))
		tk := colsWhere(t.cols, func(c column) bool { return c.fam == k.fam })[0]
		if n == 2 {
			a.item.join = pick(g, []string{"INNER", "LEFT", "RIGHT"})
			a.item.on = []sqlExpr{binary{op: "=", l: t.ref(tk), r: a.ref(k)}}
			q.from = []fromItem{t.item, a.item}
			srcs = []source{t, a}
			break
		}
		sub := &selectQuery{items: []selectItem{{e: a.ref(k)}}, from: []fromItem{a.item}}
		q.from = []fromItem{t.item}
		q.where = []sqlExpr{inQuery{x: t.ref(tk), not: g.chance(0.3), q: sub}}
		srcs = []source{t}
	}
	if g.chance(0.5) {
		q.items = []selectItem{{e: call{name: "count", star: true}}}
		for range 1 + g.r.IntN(2) {
			a, _ := g.aggregate(srcs, false)
			q.items = append(q.items, selectItem{e: a})
		}
		return randQuery{sql: render(q)}
	}
	for _, s := range srcs {
		for _, c := range g.someCols(s.cols, 2) {
			q.items = append(q.items, selectItem{e: s.ref(c)})
		}
	}
	if g.chance(0.3) {
		q.orderAll, q.limit = true, 10
		return randQuery{sql: render(q), ordered: true}
	}
	return randQuery{sql: render(q)}
}
