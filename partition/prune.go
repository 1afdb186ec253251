package partition

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Pruning: a split scan whose filter bounds an integer, DATE or TIMESTAMP
// column by constants (=, <, <=, >, >=, BETWEEN, IN, IS NULL, ANDed with
// anything) needs no task for the row groups whose Parquet statistics
// prove that no row passes it: a point lookup in files sorted by its key
// reads one slice, not one per file, and a date range in files written by
// date only the row groups of its dates. Only what the statistics prove is
// dropped: the column must be one the scan gives unchanged (plainTo), the
// constants of its own type (integers for a signed integer; DATE 'x' or
// CAST('x' AS DATE) for a DATE, TIMESTAMP 'x' for a TIMESTAMP: a constant
// DuckDB would compare after casting the column, or one of another type,
// is none), and every row group of its files must have bounds
// (Env.PruneStats); anything else keeps every slice. A comparison is
// never true of NULL, so a row group's NULLs never keep it for one, and a
// row group of only NULLs is dropped by any; IS NULL keeps the row groups
// that hold a NULL.

// bound is one conjunct of the filter that statistics can refute: the
// column it tests and whether rows within some bounds may pass it.
type bound struct {
	column string
	typ    string // the column's type; "" for an integer
	text   string // for --explain
	may    func(Bounds) bool
}

// prunable are the types whose Parquet statistics order their values as
// DuckDB compares them: the signed integers, DATE (as days since
// 1970-01-01) and TIMESTAMP (µs since 1970-01-01 00:00:00, without a time
// zone; not TIMESTAMP WITH TIME ZONE, whose text depends on a setting).
var prunable = map[string]bool{"TINYINT": true, "SMALLINT": true, "INTEGER": true, "BIGINT": true,
	"DATE": true, "TIMESTAMP": true}

// Pruned says what Prune dropped and why, for --explain; empty when it
// dropped nothing.
type Pruned struct {
	Filter        string // the conjuncts that refuted row groups
	Slices, Kept  int    // slices before, and after
	Groups, Empty int    // row groups in the slices, and those refuted
}

func (p Pruned) String() string {
	if p.Slices == p.Kept && p.Empty == 0 {
		return ""
	}
	s := fmt.Sprintf("%d of %d slices (%d of %d row groups) dropped: Parquet statistics prove no row passes %s",
		p.Slices-p.Kept, p.Slices, p.Empty, p.Groups, p.Filter)
	if p.Kept == 1 && p.Empty == p.Groups {
		s += "; one slice kept for the empty answer"
	}
	return s
}

// Prune drops from the split scan's slices (row ranges of files, Split;
// not whole files, nor those cut by key ranges) the row groups whose
// statistics prove that no row passes the query's filter, and narrows a
// row range to the row groups left in it. At least one slice is left, so
// that an answer with no rows still has a task and an endpoint (and an
// aggregate its one partial).
func (a *Analysis) Prune(sl []Slice) ([]Slice, Pruned) {
	none := Pruned{Slices: len(sl), Kept: len(sl)}
	bs := a.bounds()
	if len(bs) == 0 || len(sl) == 0 {
		return sl, none
	}
	// The row groups of every file: which may hold a passing row.
	live := map[string]*groups{}
	var used []string
	for _, b := range bs {
		var files []File
		var err error
		switch {
		case a.env.PruneStats != nil:
			files, err = a.env.PruneStats(a.Paths, b.column, b.typ)
		case b.typ == "":
			files, err = a.env.KeyStats(a.Paths, b.column)
		default:
			continue
		}
		if err != nil {
			continue
		}
		refuted := false
		for _, f := range files {
			g := live[f.Path]
			if g == nil {
				g = &groups{rows: f.RowGroups, live: make([]bool, len(f.RowGroups))}
				for i := range g.live {
					g.live[i] = true
				}
				live[f.Path] = g
			}
			for i, k := range f.Keys {
				if g.live[i] && !b.may(k) {
					g.live[i], refuted = false, true
				}
			}
		}
		if refuted {
			used = append(used, b.text)
		}
	}
	if len(used) == 0 {
		return sl, none
	}
	p := Pruned{Filter: strings.Join(used, " AND "), Slices: len(sl)}
	var out []Slice
	for _, s := range sl {
		if s.Keys != nil || len(s.Files) > 0 {
			// Cut by a key's ranges, or whole files for a join: left as
			// they are.
			return sl, none
		}
		n, empty, kept, ok := pruneSlice(s, live)
		if !ok {
			return sl, none
		}
		p.Groups += n
		p.Empty += empty
		if kept != nil {
			out = append(out, *kept)
		}
	}
	if len(out) == 0 {
		out = append(out, first(sl[0], live))
	}
	p.Kept = len(out)
	return out, p
}

// groups are a file's row groups: their rows, and whether each may hold
// a row that passes the filter.
type groups struct {
	rows []int64
	live []bool
}

// pruneSlice is s without its refuted row groups (nil: none left), and
// how many row groups it had and were refuted. False when its file has
// no row groups listed.
func pruneSlice(s Slice, live map[string]*groups) (n, empty int, kept *Slice, ok bool) {
	g, ok := live[s.File]
	if !ok {
		return 0, 0, nil, false
	}
	k := s
	lo, hi := int64(-1), int64(-1)
	var pos int64
	for i, rows := range g.rows {
		start, end := pos, pos+rows-1
		pos += rows
		if rows == 0 || (!s.Whole() && (end < s.First || start > s.Last)) {
			continue
		}
		n++
		if !g.live[i] {
			empty++
			continue
		}
		if lo < 0 {
			lo = start
		}
		hi = end
	}
	if lo < 0 {
		return n, empty, nil, true
	}
	if s.Whole() {
		if empty > 0 {
			k.First, k.Last = lo, hi
		}
	} else {
		k.First, k.Last = max(k.First, lo), min(k.Last, hi)
	}
	return n, empty, &k, true
}

// first is the slice kept when every row group is refuted: s narrowed to
// its first row group, whose task gives no row.
func first(s Slice, live map[string]*groups) Slice {
	if g := live[s.File]; g != nil && !s.Whole() {
		var pos int64
		for _, n := range g.rows {
			if pos+n-1 >= s.First && n > 0 {
				s.Last = min(s.Last, pos+n-1)
				s.First = max(s.First, pos)
				break
			}
			pos += n
		}
	}
	return s
}

// bounds are the conjuncts of the query's filter (its WHERE and those of
// the SELECT * subqueries between it and the scan) that statistics can
// refute: comparisons of a signed integer column of the scan with integer
// constants. A column DuckDB takes from a hive partition of the files'
// paths has no statistics in them: Env.KeyStats refuses it.
func (a *Analysis) bounds() []bound {
	if a.root == nil || a.env.KeyStats == nil || a.env.Columns == nil || a.Format != Parquet || a.Joined ||
		a.inner != nil || a.over || len(a.subst) > 0 {
		return nil
	}
	from := child(a.root, "from_table")
	if !plainTo(from) {
		return nil
	}
	// The column types, asked for once a conjunct compares a column
	// with constants.
	var types map[string]string
	typeOf := func(name string) string {
		if types == nil {
			types = map[string]string{}
			cols, err := a.env.Columns(from)
			if err != nil {
				return ""
			}
			for _, c := range cols {
				types[strings.ToLower(c.Name)] = strings.ToUpper(c.Type)
			}
			// A select-list alias named like a column: leave the filter
			// alone rather than decide which one it names.
			for _, e := range list(a.root, "select_list") {
				if en, _ := e.(map[string]any); str(en, "alias") != "" {
					delete(types, strings.ToLower(str(en, "alias")))
				}
			}
		}
		return types[strings.ToLower(name)]
	}
	alias := strings.ToLower(str(from, "alias"))
	column := func(v any) (string, bool) {
		n, _ := v.(map[string]any)
		if str(n, "class") != "COLUMN_REF" {
			return "", false
		}
		names := list(n, "column_names")
		var name string
		switch len(names) {
		case 1:
			name, _ = names[0].(string)
		case 2:
			q, _ := names[0].(string)
			if alias == "" || strings.ToLower(q) != alias {
				return "", false
			}
			name, _ = names[1].(string)
		default:
			return "", false
		}
		return strings.ToLower(name), true
	}
	typed := func(v any) (string, bool) {
		name, ok := column(v)
		return name, ok && prunable[typeOf(name)]
	}
	// The constant as the column's statistics are read: of the column's
	// type, and only that.
	typedLiteral := func(col string, v any) (int64, string, bool) {
		t := typeOf(col)
		if integerType(t) {
			t = ""
		}
		i, text, typ, ok := literal(v)
		return i, text, ok && typ == t
	}
	anyLiteral := func(_ string, v any) (int64, string, bool) {
		i, text, _, ok := literal(v)
		return i, text, ok
	}
	var conds []any
	conds = append(conds, conjuncts(a.root["where_clause"])...)
	for n := from; str(n, "type") == "SUBQUERY"; {
		inner := child(child(n, "subquery"), "node")
		conds = append(conds, conjuncts(inner["where_clause"])...)
		n = child(inner, "from_table")
	}
	var out []bound
	for _, c := range conds {
		// Types only for a conjunct that would bound a column.
		n, _ := c.(map[string]any)
		if _, ok := refutable(n, column, anyLiteral); !ok {
			continue
		}
		if b, ok := refutable(n, typed, typedLiteral); ok {
			if t := typeOf(b.column); !integerType(t) {
				b.typ = t
			}
			out = append(out, b)
		}
	}
	return out
}

// flipped is the comparison with its sides swapped: 7 > k is k < 7.
var flipped = map[string]string{"COMPARE_EQUAL": "COMPARE_EQUAL", "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN",
	"COMPARE_GREATERTHAN": "COMPARE_LESSTHAN", "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
	"COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO"}

var operators = map[string]string{"COMPARE_EQUAL": "=", "COMPARE_LESSTHAN": "<", "COMPARE_GREATERTHAN": ">",
	"COMPARE_LESSTHANOREQUALTO": "<=", "COMPARE_GREATERTHANOREQUALTO": ">="}

// refutable is the bound a conjunct sets on a column, if statistics can
// refute it: literal is a constant compared with a column, as an integer
// ordered like the column's statistics, and its text.
func refutable(n Node, column func(any) (string, bool), literal func(col string, v any) (int64, string, bool)) (bound, bool) {
	switch str(n, "class") {
	case "COMPARISON":
		op := str(n, "type")
		col, ok := column(n["left"])
		other := n["right"]
		if !ok {
			if col, ok = column(n["right"]); !ok {
				return bound{}, false
			}
			other = n["left"]
			op = flipped[op]
		}
		v, vt, isConst := literal(col, other)
		if !isConst || operators[op] == "" {
			return bound{}, false
		}
		text := fmt.Sprintf("%s %s %s", col, operators[op], vt)
		var may func(Bounds) bool
		switch op {
		case "COMPARE_EQUAL":
			may = func(b Bounds) bool { return b.Lo <= v && v <= b.Hi }
		case "COMPARE_LESSTHAN":
			may = func(b Bounds) bool { return b.Lo < v }
		case "COMPARE_LESSTHANOREQUALTO":
			may = func(b Bounds) bool { return b.Lo <= v }
		case "COMPARE_GREATERTHAN":
			may = func(b Bounds) bool { return b.Hi > v }
		case "COMPARE_GREATERTHANOREQUALTO":
			may = func(b Bounds) bool { return b.Hi >= v }
		}
		return bound{column: col, text: text, may: notOnlyNulls(may)}, true
	case "BETWEEN":
		if str(n, "type") != "COMPARE_BETWEEN" {
			return bound{}, false
		}
		col, ok := column(n["input"])
		if !ok {
			return bound{}, false
		}
		lo, lt, lok := literal(col, n["lower"])
		hi, ht, hok := literal(col, n["upper"])
		if !lok || !hok {
			return bound{}, false
		}
		return bound{column: col, text: fmt.Sprintf("%s BETWEEN %s AND %s", col, lt, ht),
			may: notOnlyNulls(func(b Bounds) bool { return b.Lo <= hi && lo <= b.Hi && lo <= hi })}, true
	case "OPERATOR":
		cs := list(n, "children")
		if len(cs) == 0 {
			return bound{}, false
		}
		col, ok := column(cs[0])
		if !ok {
			return bound{}, false
		}
		switch str(n, "type") {
		case "OPERATOR_IS_NULL":
			if len(cs) != 1 {
				return bound{}, false
			}
			return bound{column: col, text: col + " IS NULL", may: func(b Bounds) bool { return b.Nulls }}, true
		case "COMPARE_IN":
			var vs []int64
			var texts []string
			for _, c := range cs[1:] {
				v, text, ok := literal(col, c)
				if !ok {
					return bound{}, false
				}
				vs = append(vs, v)
				texts = append(texts, text)
			}
			return bound{column: col, text: fmt.Sprintf("%s IN (%s)", col, strings.Join(texts, ", ")),
				may: notOnlyNulls(func(b Bounds) bool {
					for _, v := range vs {
						if b.Lo <= v && v <= b.Hi {
							return true
						}
					}
					return false
				})}, true
		}
	}
	return bound{}, false
}

// notOnlyNulls is a comparison's test of bounds, false of the empty
// bounds of a row group of only NULLs (Env.PruneStats): no comparison is
// true of NULL.
func notOnlyNulls(may func(Bounds) bool) func(Bounds) bool {
	return func(b Bounds) bool { return b.Lo <= b.Hi && may(b) }
}

// integerLiteral is the value of an integer constant (not NULL) that
// int64 holds; a cast, a decimal, a string or a larger integer is none.
func integerLiteral(v any) (int64, bool) {
	n, _ := v.(map[string]any)
	if str(n, "class") != "CONSTANT" {
		return 0, false
	}
	val := child(n, "value")
	num, ok := val["value"].(json.Number)
	if !ok || val["is_null"] != false || !integerType(str(child(val, "type"), "id")) {
		return 0, false
	}
	i, err := strconv.ParseInt(string(num), 10, 64)
	return i, err == nil
}

// literal is a constant compared with a column: an integer (type ""), a
// string cast to an integer type (a bound parameter, as PlanBound writes
// it: CAST('5' AS BIGINT); such a query read every file, 2026-12-05), or
// DATE 'x' or TIMESTAMP 'x' (a cast of a string, as DuckDB parses both),
// as an integer ordered like the statistics of a column of its type
// (days, or µs, since 1970-01-01), and its text for --explain.
func literal(v any) (i int64, text, typ string, ok bool) {
	if i, ok := integerLiteral(v); ok {
		return i, strconv.FormatInt(i, 10), "", true
	}
	n, _ := v.(map[string]any)
	if str(n, "class") != "CAST" || n["try_cast"] != false {
		return 0, "", "", false
	}
	c := child(n, "child")
	val := child(c, "value")
	s, isStr := val["value"].(string)
	if str(c, "class") != "CONSTANT" || val["is_null"] != false || str(child(val, "type"), "id") != "VARCHAR" || !isStr {
		return 0, "", "", false
	}
	typ = str(child(n, "cast_type"), "id")
	if integerType(typ) {
		// Only the plain form of an integer's text, which the cast gives
		// as the same value ("5", "-12"), in int64's range.
		if !integerText.MatchString(s) {
			return 0, "", "", false
		}
		i, err := strconv.ParseInt(s, 10, 64)
		return i, s, "", err == nil
	}
	switch typ {
	case "DATE":
		i, ok = dateDays(s)
	case "TIMESTAMP":
		i, ok = timestampMicros(s)
	}
	return i, typ + " '" + s + "'", typ, ok
}

// integerText is the one form of an integer's text taken: digits, and a
// minus sign.
var integerText = regexp.MustCompile(`^-?[0-9]{1,19}$`)

// dateText is the one form of a date's text taken: YYYY-MM-DD, years 1
// to 9999 (DuckDB reads more forms, BC dates and infinity, left alone).
var dateText = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// timestampText is a timestamp's: a date, and a time with seconds and at
// most six digits of their fraction.
var timestampText = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2})(?: ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?)?$`)

// dateDays is the day of a date's text, counted from 1970-01-01 (the
// proleptic Gregorian calendar, as DuckDB's), if it is in the form taken
// and a real date.
func dateDays(s string) (int64, bool) {
	if !dateText.MatchString(s) {
		return 0, false
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Year() < 1 {
		return 0, false
	}
	return d.Unix() / 86400, true
}

// timestampMicros is a timestamp's text in µs from 1970-01-01 00:00:00,
// if it is in the form taken and a real time.
func timestampMicros(s string) (int64, bool) {
	m := timestampText.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	days, ok := dateDays(m[1])
	if !ok {
		return 0, false
	}
	var h, mi, sec, frac int
	if m[2] != "" {
		h, _ = strconv.Atoi(m[2])
		mi, _ = strconv.Atoi(m[3])
		sec, _ = strconv.Atoi(m[4])
	}
	if h > 23 || mi > 59 || sec > 59 {
		return 0, false
	}
	if m[5] != "" {
		frac, _ = strconv.Atoi((m[5] + "00000")[:6])
	}
	return (days*86400+int64(h*3600+mi*60+sec))*1_000_000 + int64(frac), true
}
