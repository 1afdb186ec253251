package sqltext

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A ';' ends a statement only outside strings, quoted identifiers and
// comments; what is still open waits for the next line.
func TestSplit(t *testing.T) {
	for _, c := range []struct {
		in    string
		stmts []string
		rest  string
	}{
		{"SELECT 1;", []string{"SELECT 1"}, ""},
		{"SELECT 1", nil, "SELECT 1"},
		{"SELECT 1;\n", []string{"SELECT 1"}, ""},
		{"SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}, ""},
		{"SELECT 1; SELECT\n", []string{"SELECT 1"}, "SELECT\n"},
		{"SELECT\n  40 + 2\n;\n", []string{"SELECT\n  40 + 2"}, ""},
		{";;\n;", nil, ""},
		{"", nil, ""},
		{"  \n", nil, ""},
		{"-- only a comment\n", nil, ""},
		{"SELECT 1; -- done\n", []string{"SELECT 1"}, ""},
		{"SELECT 1; /* done */", []string{"SELECT 1"}, ""},
		// ';' inside what is not SQL
		{"SELECT 'a;b';", []string{"SELECT 'a;b'"}, ""},
		{"SELECT 'it''s;';", []string{"SELECT 'it''s;'"}, ""},
		{"SELECT E'\\';';", []string{"SELECT E'\\';'"}, ""},
		{`SELECT 1 AS "a;b";`, []string{`SELECT 1 AS "a;b"`}, ""},
		{`SELECT 1 AS "a"";b";`, []string{`SELECT 1 AS "a"";b"`}, ""},
		{"SELECT $$a;b$$;", []string{"SELECT $$a;b$$"}, ""},
		{"SELECT $x$a;$$;b$x$;", []string{"SELECT $x$a;$$;b$x$"}, ""},
		{"SELECT $1;", []string{"SELECT $1"}, ""},
		{"SELECT 1 -- not the end;\n", nil, "SELECT 1 -- not the end;\n"},
		{"SELECT 1 /* not; /* nested; */ the end; */;", []string{"SELECT 1 /* not; /* nested; */ the end; */"}, ""},
		// still open
		{"SELECT 'a;\n", nil, "SELECT 'a;\n"},
		{"SELECT 1; SELECT 'a;\n", []string{"SELECT 1"}, "SELECT 'a;\n"},
		{"SELECT E'\\';\n", nil, "SELECT E'\\';\n"},
		{"SELECT \"a;\n", nil, "SELECT \"a;\n"},
		{"SELECT $t$a;\n", nil, "SELECT $t$a;\n"},
		{"SELECT 1 /* a; /* b; */ c;\n", nil, "SELECT 1 /* a; /* b; */ c;\n"},
		{"SELECT 1; /* open\n", []string{"SELECT 1"}, "/* open\n"},
		{"SELECT 'a\nb';", []string{"SELECT 'a\nb'"}, ""},
	} {
		stmts, rest := Split(c.in)
		if !reflect.DeepEqual(stmts, c.stmts) || rest != c.rest {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", c.in, stmts, rest, c.stmts, c.rest)
		}
	}
}

func TestScan(t *testing.T) {
	s := `COPY (SELECT 'a;b', "Q""x") TO E'p\'' ;`
	toks, err := Scan(s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, string(tk.Kind)+":"+tk.Text)
		if s[tk.At:tk.End] == "" {
			t.Errorf("token %q has no text span", tk.Text)
		}
	}
	want := []string{"w:copy", "(:(", "w:select", "s:a;b", ",:,", `q:Q"x`, "):)", "w:to", `x:E'p\''`, ";:;"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Scan = %q, want %q", got, want)
	}
	for _, open := range []string{"'a", "E'a\\'", `"a`, "$t$a", "/* a", "/* /* */"} {
		toks, err := Scan("SELECT 1, " + open)
		if !errors.Is(err, ErrUnterminated) || len(toks) != 3 {
			t.Errorf("Scan(%q): %v, %d tokens before it", open, err, len(toks))
		}
	}
	// '$' goes on a name, as DuckDB reads it (x$t$ opens no dollar quote).
	if toks, err := Scan("SELECT 1 AS x$t$, $q$a$q$, y$"); err != nil || len(toks) != 8 || toks[3].Text != "x$t$" || toks[5].Kind != 'x' || toks[7].Text != "y$" {
		t.Errorf("names with '$': %v %v", toks, err)
	}
	if n, b := Size("SELECT  'ab' -- c\n, x /* y */"); n != 4 || b != len("SELECT'ab',x") {
		t.Errorf("Size = %d tokens, %d bytes", n, b)
	}
	stmts, err := Statements(" ; SELECT 1 ; ; COPY t TO 'x'")
	if err != nil || len(stmts) != 2 || stmts[0][0].Text != "select" || stmts[1][0].Text != "copy" {
		t.Errorf("Statements: %v %v", stmts, err)
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT a,\n  b -- the second\nFROM t\n":       "SELECT a, b FROM t",
		"SELECT  count(*)\tFROM /* c */ t;":            "SELECT  count(*)\tFROM t;",
		"SELECT 'x -- y',\n\"a\n\" FROM t":             "SELECT 'x -- y', \"a\n\" FROM t",
		"SELECT 1;\nSELECT 2;":                         "SELECT 1; SELECT 2;",
		"SELECT 'open":                                 "SELECT 'open",
		"SELECT $$a\n--b$$ -- gone\n, 2":               "SELECT $$a\n--b$$ , 2",
		"  SELECT 1  ":                                 "SELECT 1",
		"SELECT\r\n1":                                  "SELECT 1",
		"/* all comment */":                            "",
		"SELECT E'a\\'\nb'":                            "SELECT E'a\\'\nb'",
		"SELECT x -- a comment hides the rest; y\n, z": "SELECT x , z",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSplit: any text splits without a panic into statements taken from
// it, and text that ends with a statement leaves nothing waiting.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"SELECT 1;", "SELECT 'a;b'; SELECT \"c", "$t$;$t$;", "/* /* */ ; */;", "E'\\';'", "--;\n;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		stmts, rest := Split(s)
		for _, st := range stmts {
			if !strings.Contains(s, st) || st == "" {
				t.Fatalf("statement %q not in %q", st, s)
			}
		}
		if !strings.HasSuffix(s, rest) {
			t.Fatalf("rest %q does not end %q", rest, s)
		}
		if _, err := Scan(s); err == nil {
			if _, rest := Split(s + "\n;"); rest != "" {
				t.Fatalf("%q;: %q still waits", s, rest)
			}
		}
		_ = OneLine(s)
	})
}

// DuckDB reads some Unicode spaces as blanks: so does Scan, where they
// would otherwise end nothing (a byte of 0x80 and more is a word's).
func TestScanUnicodeSpaces(t *testing.T) {
	toks, err := Scan("SELECT\u00a0json_structure\u3000(x)\ufeff::\u2003variant")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, tk.Text)
	}
	if want := []string{"select", "json_structure", "(", "x", ")", ":", ":", "variant"}; !slices.Equal(got, want) {
		t.Fatalf("tokens %q, want %q", got, want)
	}
	if toks, _ := Scan("café\u00e9"); len(toks) != 1 {
		t.Fatalf("a word of other Unicode letters split in %d", len(toks))
	}
}
