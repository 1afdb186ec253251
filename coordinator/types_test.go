package coordinator

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Values of types DuckDB's Arrow export does not give back (a TIME WITH
// TIME ZONE loses its offset, a BIT becomes a BLOB, a UUID and a JSON
// text, an ENUM text sorted as such, a UHUGEINT in a struct a decimal
// that 2^127 overflows) cross exchanges and merges as themselves: the
// answers, and the types the later steps see, are DuckDB's. Found by a
// differential test of every type through each exchange: DISTINCT
// TIMETZ values of other offsets met (21 for 63), a join on BIT values
// found none.
func TestExchangesKeepTypes(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	_, cl, ref := stagedCluster(t, "proxy")
	const timetz = "('0' || (k % 7)::VARCHAR || ':00:00+0' || (k % 3)::VARCHAR)::TIMETZ"
	for _, q := range []string{
		"SELECT typeof(t) AS ty, t::VARCHAR AS s FROM (SELECT DISTINCT " + timetz + " AS t FROM fact)",
		"SELECT typeof(b) AS ty, b::VARCHAR AS s, count(*) AS n FROM (SELECT DISTINCT (k % 4)::BIT AS b FROM fact) GROUP BY ALL",
		"SELECT a.b::VARCHAR AS s, count(*) AS n FROM (SELECT (k % 4)::INTEGER::BIT AS b FROM fact) a " +
			"JOIN (SELECT DISTINCT (o % 4)::INTEGER::BIT AS b FROM ord) b ON a.b = b.b GROUP BY ALL",
		"SELECT typeof(u) AS ty, count(*) AS n FROM (SELECT DISTINCT md5((k % 9)::VARCHAR)::UUID AS u FROM fact) GROUP BY ALL",
		"SELECT typeof(j) AS ty, j::VARCHAR AS s FROM (SELECT DISTINCT json_object('k', k % 5) AS j FROM fact)",
		"SELECT typeof(n) AS ty, n.u::VARCHAR AS s FROM (SELECT DISTINCT {'u': (k % 3)::UHUGEINT + 170141183460469231731687303715884105727::UHUGEINT} AS n FROM fact)",
		"SELECT e::VARCHAR AS s, k FROM (SELECT CAST(['z', 'a', 'm'][1 + k % 3] AS ENUM('z', 'a', 'm')) AS e, k FROM fact) ORDER BY e, k LIMIT 5",
		// An INTERVAL of more than 2^63 ns (292 years) wrapped through
		// Arrow's month_day_nano; and a merge's maximum of such.
		"SELECT epoch(iv) AS e, count(*) AS n FROM (SELECT DISTINCT to_hours(10000000 + k % 3) AS iv FROM fact) GROUP BY e",
		"SELECT epoch(max(to_hours(10000000 + k % 3))) AS e, epoch(min([to_hours(-10000000 - k)][1])) AS m FROM fact",
		// A join's task reads a stream input and shuffles an ENUM on: its
		// types are its prepared statement's (a stream is read once).
		"SELECT a.e::VARCHAR AS s, count(*) AS n FROM (SELECT o, CAST(['z', 'a', 'm'][1 + k % 3] AS ENUM('z', 'a', 'm')) AS e FROM fact) a " +
			"JOIN ord ON a.o = ord.o GROUP BY a.e",
	} {
		want := duckInOrder(t, ref, q)
		info, err := cl.Execute(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if p := planOf(t, info); p.Mode == "local" {
			t.Fatalf("%s: planned local (%s)", q, p.Reason)
		}
		got := endpointRows(t, cl, info.Endpoint)
		if !planOf(t, info).Ordered {
			slices.Sort(got)
			slices.Sort(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", q, got, want)
		}
	}
}

// A UNION value does not cross an exchange exactly: Arrow's union has no
// NULL of its own, so a member that is NULL came back a NULL union (GROUP
// BY u gave a NULL group), and a union beside a type sent as its text
// came back its VARCHAR member, or failed to cast back (the reads
// tester's R2 and R4). A query making one runs on one node, with
// DuckDB's answer.
func TestUnionValuesStayOnOneNode(t *testing.T) {
	t.Parallel()
	_, cl, ref := stagedCluster(t, "proxy")
	const member = "union_value(s := CASE WHEN k % 2 = 0 THEN NULL ELSE 'x' END)::UNION(i INT, s VARCHAR)"
	for _, q := range []string{
		"SELECT union_tag(u) AS tag, u IS NULL AS n, count(*) AS c FROM (SELECT " + member + " AS u FROM fact) GROUP BY u",
		"SELECT union_tag(st.un) AS tag, count(*) AS c FROM (SELECT DISTINCT {'u': md5((k % 9)::VARCHAR)::UUID, " +
			"'un': union_value(i := 5)::UNION(i INT, s VARCHAR)} AS st FROM fact) GROUP BY ALL",
		"SELECT union_tag(x) AS tag, count(*) AS c FROM (SELECT DISTINCT CAST(md5((k % 9)::VARCHAR)::UUID AS UNION(u UUID, i INT)) AS x FROM fact) GROUP BY ALL",
		// Typed by a JSON function's text (a hostile tester's: a member
		// NULL came back a NULL union through a join's shuffle).
		"SELECT union_tag(u) AS tag, u IS NULL AS n, count(*) AS c FROM (SELECT " + fromJSON("'{\"u\":\"UNION(i INT, s VARCHAR)\"}'") + " AS u FROM fact) GROUP BY u",
	} {
		want := duckInOrder(t, ref, q)
		info, err := cl.Execute(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if p := planOf(t, info); p.Mode != "local" {
			t.Errorf("%s: planned %s, want local", q, p.Mode)
		}
		got := endpointRows(t, cl, info.Endpoint)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", q, got, want)
		}
	}
}

// VARIANT does not export to Arrow: a query making VARIANT values runs on
// one node, with DuckDB's answer, not an error. VARIANT as a type is
// refused unless --unsafe-json-functions (duck's guard): this cluster
// allows it. (It was a query of the partition-invariance corpus, whose
// clusters keep the default.)
func TestVariantValuesStayOnOneNode(t *testing.T) {
	t.Parallel()
	_, cl, ref := stagedCluster(t, "proxy", func(c *Config) { c.UnsafeJSONFunctions = true })
	q := "SELECT count(DISTINCT w) AS n FROM (SELECT (k % 7)::VARIANT AS w FROM fact)"
	want := duckInOrder(t, ref, "SELECT count(DISTINCT k % 7) AS n FROM fact") // the reference refuses VARIANT
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if p := planOf(t, info); p.Mode != "local" {
		t.Errorf("planned %s, want local", p.Mode)
	}
	if got := endpointRows(t, cl, info.Endpoint); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// fromJSON is a union typed by structure (a string expression), whose
// member i is NULL in a third of fact's rows.
func fromJSON(structure string) string {
	return "from_json(json_object('u', CASE WHEN k % 3 = 0 THEN '{\"i\": null}'::JSON ELSE json_object('i', k) END), " + structure + ").u"
}

// A union typed by a text the planner cannot read (built by an
// expression) fails the step that would pass it between nodes, with
// InvalidArgument: never an answer other than DuckDB's. (By default the
// coordinator refuses a structure that is not one literal before it
// plans: --unsafe-json-functions lets this one through to the step.)
func TestUnionTypedOutOfSightFails(t *testing.T) {
	t.Parallel()
	_, cl, _ := stagedCluster(t, "proxy", func(c *Config) { c.UnsafeJSONFunctions = true })
	q := "SELECT union_tag(u) AS tag, u IS NULL AS n, count(*) AS c FROM (SELECT " +
		fromJSON("'{\"u\":\"UNI' || 'ON(i INT, s VARCHAR)\"}'") + " AS u FROM fact) GROUP BY u"
	info, err := cl.Execute(context.Background(), q)
	if err == nil {
		if p := planOf(t, info); p.Mode == "local" {
			t.Fatalf("planned local: the test no longer reaches the exchange")
		}
		for _, ep := range info.Endpoint {
			if err = readToEnd(context.Background(), cl, ep.Ticket); err != nil {
				break
			}
		}
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "UNION value") {
		t.Fatalf("%s: %v, want InvalidArgument naming the UNION", q, err)
	}
}
