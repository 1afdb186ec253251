package duck

import "testing"

// FuzzFileTarget: any text lexes and yields a target or an error, never a
// panic.
func FuzzFileTarget(f *testing.F) {
	for _, s := range []string{
		"COPY t TO '/x/y.csv' (FORMAT csv)", "COPY (SELECT ';') TO 'a'", "EXPORT DATABASE 'd'",
		"COPY t TO E'a\\'b'", "COPY t TO $$x$$", "/* /* */ */ COPY t TO 'z'", "COPY t FROM 'f'",
		"SELECT $1, $tag$ ; $tag$; COPY t TO 'q'", "COPY t TO ('a' || 'b')", "\"a\"\"b\"; 'c''d'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
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
