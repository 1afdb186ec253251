package duck

import (
	"strings"
	"testing"
)

// FuzzFileTarget: any text lexes and yields a target or an error, never a
// panic.
func FuzzFileTarget(f *testing.F) {
	for _, s := range []string{
		"COPY t TO '/x/y.csv' (FORMAT csv)", "COPY (SELECT ';') TO 'a'", "EXPORT DATABASE 'd'",
		"COPY t TO E'a\\'b'", "COPY t TO $$x$$", "/* /* */ */ COPY t TO 'z'", "COPY t FROM 'f'",
		"SELECT $1, $tag$ ; $tag$; COPY t TO 'q'", "COPY t TO ('a' || 'b')", "COPY (SELECT 1) TO 'd/' (FORMAT parquet, OVERWRITE)", "\"a\"\"b\"; 'c''d'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, ok := ParseCopy(s); ok && !strings.Contains(s, c.Query) {
			t.Fatalf("the query %q is not in %q", c.Query, s)
		}
		stmts, err := lexSQL(s)
		if err != nil {
			return
		}
		for _, st := range stmts {
			if target, err := fileTarget(st); err == nil && target != "" {
				_ = checkTarget(target, []string{"/allowed"})
			}
		}
	})
}
