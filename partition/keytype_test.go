package partition_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/ducktest"
	"github.com/skeindb/skein/partition"
)

// TestJoinKeysHashAlike checks, in DuckDB, that two join keys of other
// types which DuckDB's join finds equal hash alike as the type the plan
// co-partitions them by (KeyType): else the rows meet in no partition
// and the join loses them. Hashed as DOUBLEs, a BIGINT and a
// DECIMAL(38,0) past 2^53 rounded apart, and so did 0.1 as a FLOAT and as
// a DECIMAL (the differential tester's P1, P2).
func TestJoinKeysHashAlike(t *testing.T) {
	conn := ducktest.Open(t)
	types := []string{"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "UINTEGER", "UBIGINT",
		"UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL(4,1)", "DECIMAL(9,2)", "DECIMAL(18,0)", "DECIMAL(18,3)",
		"DECIMAL(20,0)", "DECIMAL(30,10)", "DECIMAL(38,0)", "DECIMAL(38,10)"}
	values := []string{"0", "-0.0", "1", "-1", "0.1", "0.5", "1.5", "-2.5", "0.04", "100", "127", "-128", "255",
		"16777216", "16777217", "-16777217", "2147483647", "4294967295", "9007199254740993", "-9007199254799998",
		"-9007199254740993", "9223372036854775807", "-9223372036854775808", "18446744073709551615",
		"123456789012345678901234567"}
	// Each pair is checked with the values both types hold: DuckDB's own
	// comparison fails on others (a UHUGEINT past 32767 against a
	// TINYINT, which it compares as SMALLINTs).
	var vals []string
	for _, v := range values {
		vals = append(vals, "('"+v+"')")
	}
	list := strings.Join(vals, ", ")
	for i, a := range types {
		for _, b := range types[i+1:] {
			typ, ok := partition.KeyType(a, b)
			if !ok {
				t.Errorf("%s and %s: not co-partitioned", a, b)
				continue
			}
			q := fmt.Sprintf(`WITH v(s) AS (VALUES %[1]s),
  w AS (SELECT s FROM v WHERE TRY_CAST(s AS %[2]s) IS NOT NULL AND TRY_CAST(s AS %[3]s) IS NOT NULL),
  l AS (SELECT CAST(s AS %[2]s) AS x FROM w), r AS (SELECT CAST(s AS %[3]s) AS y FROM w)
SELECT count(*), count(*) FILTER (WHERE hash(TRY_CAST(x AS %[4]s)) IS DISTINCT FROM hash(TRY_CAST(y AS %[4]s))),
  coalesce(string_agg(DISTINCT x::VARCHAR || ' = ' || y::VARCHAR, '; ') FILTER (
    WHERE hash(TRY_CAST(x AS %[4]s)) IS DISTINCT FROM hash(TRY_CAST(y AS %[4]s))), '')
FROM l JOIN r ON x = y`, list, a, b, typ)
			got := ducktest.Strings(t, conn, q)
			if got[0][0] == "0" {
				t.Errorf("%s and %s: no keys equal, nothing checked", a, b)
			}
			if got[0][1] != "0" {
				t.Errorf("%s and %s hashed as %s: %s of %s equal keys apart: %s", a, b, typ, got[0][1], got[0][0], got[0][2])
			}
		}
	}
}
