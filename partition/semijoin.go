package partition

import (
	"fmt"
	"strings"
)

// Semi-join reduction. A join input X computed by a stage of its own
// (broadcast to every join task, or shuffled) ships every row that passes
// the filters on it alone, though the join keeps only those that meet the
// other inputs. When the query's WHERE (or an inner join's ON, innerOn)
// equates a column of X with one of a small Parquet input D that has
// filters of its own (a date dimension cut to a quarter, TPC-DS Q17's
// d3), X's stage keeps only the rows whose column is among D's filtered
// values:
//
//	SELECT cols FROM X WHERE filters(X) AND X.c IN (SELECT D.c FROM D WHERE filters(D))
//
// exact, since a WHERE conjunct X.c = D.c holds for every output row and
// D's filters hold for every row of D that meets one (they are those
// pushFilters applies before the join; a NULL-extended D row equates
// nothing): a row of X that fails the IN meets no output row. Each of X's
// tasks reads D's files itself, filtered, and DuckDB applies the IN as a
// semi join, pushing its keys' range into X's Parquet scan. TPC-DS Q17,
// Q25 and Q29 broadcast all of catalog_sales (1.44M rows) to each task of
// the store_sales join, of which a sixth meets d3's dates.

// innerOn are the conjuncts of the ON conditions of the inner joins under
// a FROM: between two inputs that supply no NULLs (splittable), an ON
// equality holds for every output row as a WHERE one does (TPC-DS Q72's
// JOIN date_dim d1 ON (cs_sold_date_sk = d1.d_date_sk)).
func innerOn(n Node) []any {
	if str(n, "type") != "JOIN" {
		return nil
	}
	out := append(innerOn(child(n, "left")), innerOn(child(n, "right"))...)
	if str(n, "join_type") == "INNER" && str(n, "ref_type") == "REGULAR" {
		out = append(out, conjuncts(n["condition"])...)
	}
	return out
}

// reduceMaxRows is the most rows D's files may hold: every task of X's
// stage reads them.
const reduceMaxRows = 1_000_000

// reduceShare is how many times more rows X's files must hold than D's
// for a reduction to repay D's reading in every task of X's stage.
const reduceShare = 2

// reducers are the IN conjuncts (above) that input i's stage applies,
// with the names of the inputs they read, for --explain.
func (j *joinShape) reducers(i int) (out []any, names []string) {
	x := j.leaves[i]
	if !x.split || x.rows < 0 || j.gathered {
		return nil, nil
	}
	seen := map[string]bool{}
	where := conjuncts(j.owner["where_clause"])
	for k, c := range append(where, innerOn(child(j.owner, "from_table"))...) {
		l, r, ok := columnEquality(c)
		if !ok {
			continue
		}
		li, lc, okL := j.res.column(l)
		ri, rc, okR := j.res.column(r)
		if !okL || !okR || li == ri || (li != i && ri != i) ||
			k >= len(where) && (!j.leaves[li].splittable || !j.leaves[ri].splittable) {
			continue
		}
		xcol, dcol, d := l, rc, ri
		if ri == i {
			xcol, dcol, d = r, lc, li
		}
		dl := j.leaves[d]
		if !dl.split || dl.rows < 0 || dl.rows > reduceMaxRows || reduceShare*dl.rows > x.rows || len(dl.pushed) == 0 || 2*dl.size > dl.rows ||
			anyNode(dl.pushed, volatileCall) {
			continue
		}
		key := strings.ToLower(fmt.Sprint(dl.alias, ".", dcol.Name, "=", list(xcol, "column_names")))
		if seen[key] {
			continue
		}
		seen[key] = true
		keys := leafQuery(&j.leaves[d], map[string]bool{strings.ToLower(dcol.Name): true})
		out = append(out, inKeys(xcol, keys))
		names = append(names, dl.alias)
	}
	return out, names
}
