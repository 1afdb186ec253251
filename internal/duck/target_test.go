package duck

import (
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/sqltext"
)

// FuzzFileTarget: any text lexes and yields a target or an error, and is
// measured by the client SQL check, never a panic.
func FuzzFileTarget(f *testing.F) {
	for _, s := range []string{
		"COPY t TO '/x/y.csv' (FORMAT csv)", "COPY (SELECT ';') TO 'a'", "EXPORT DATABASE 'd'",
		"SELECT count(*) FROM (SELECT sum(x) FROM a) WHERE y IN (SELECT count(*) FROM c, b)", "WITH a(x) AS (SELECT count(*) FROM a) SELECT * FROM a",
		"SELECT count(*) FROM (SELECT sum(x) FROM a) WHERE y IN (SELECT count(*) FROM c, b)", "WITH a(x) AS (SELECT count(*) FROM a) SELECT * FROM a",
		"COPY t TO E'a\\'b'", "COPY t TO $$x$$", "/* /* */ */ COPY t TO 'z'", "COPY t FROM 'f'",
		"SELECT $1, $tag$ ; $tag$; COPY t TO 'q'", "COPY t TO ('a' || 'b')", "COPY (SELECT 1) TO 'd/' (FORMAT parquet, OVERWRITE)", "\"a\"\"b\"; 'c''d'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, ok := ParseCopy(s); ok && !strings.Contains(s, c.Query) {
			t.Fatalf("the query %q is not in %q", c.Query, s)
		}
		// The client SQL check (nesting.go) measures any text, views that
		// name each other and one that names itself included, and ends.
		if toks, err := sqltext.Scan(s); err == nil {
			n := &nester{aggs: map[string]bool{"count": true, "sum": true}, builtin: map[string]bool{"count": true, "sum": true},
				views: map[string]string{"a": "CREATE VIEW a AS SELECT count(*) FROM b", "b": "CREATE VIEW b AS SELECT sum(x) FROM a, read_parquet('f')",
					"c": "SELECT (SELECT count(*) FROM c)"},
				ctes: map[string]measure{}, memo: map[string]measure{}}
			if m := n.measure(toks); m.depth < 0 || m.scans < 0 {
				t.Fatalf("%q measured %+v", s, m)
			}
		}
		stmts, err := lexSQL(s)
		if err != nil {
			return
		}
		for _, st := range stmts {
			if target, err := fileTarget(st); err == nil && target != "" {
				_ = checkTarget(target, []string{"/allowed"}, []string{"/allowed"})
			}
		}
	})
}
