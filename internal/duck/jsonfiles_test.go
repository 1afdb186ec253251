package duck

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DuckDB converts a JSON file's values by recursion over their nesting: a
// value 10,000 deep ended the process reading it, whether it detected the
// types or was given them. A client statement reading, through any of
// its ways in, a local file nested past MaxJSONFileDepth is refused (here
// 2,000 deep, which DuckDB still reads, so that a miss fails the test
// rather than ending it), and one naming a reader's files by anything
// but literals; read_json_objects and read_text read the file, and an
// instance allowing recursive JSON reads it whole.
func TestDeepJSONFilesAreRefused(t *testing.T) {
	_, c, dir := openTest(t)
	t.Setenv("HOME", dir)
	ctx := context.Background()
	deep := `{"a": ` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "}\n"
	shallow := `{"a": [[1], {"b": "[[[[[[[[\"}"}]}` + "\n"
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(deep))
	_ = zw.Close()
	d, s := write("deep.json", deep), write("shallow.json", shallow)
	write("deep.txt", deep)
	write("packed.json.gz", gz.String())
	write("nested/x/y/inner.ndjson", deep)
	later := write("later.json", shallow)
	if _, err := c.Exec(ctx, "CREATE VIEW v AS SELECT * FROM read_json('"+later+"'); CREATE MACRO m() AS TABLE SELECT * FROM read_json_auto('"+later+"')"); err != nil {
		t.Fatal(err)
	}
	// DuckDB keeps this view's FROM 'f.json' as FROM "f.json".
	if _, err := c.Exec(ctx, "CREATE VIEW vf AS SELECT * FROM '"+later+"'"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, c, "SELECT count(*) FROM v, m()"); n != 1 {
		t.Fatalf("the shallow file: %d rows, want 1", n)
	}
	write("later.json", deep) // the view's file, rewritten since
	if _, err := c.Exec(ctx, "CREATE TABLE t (a JSON)"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT * FROM read_json('" + d + "')",
		"SELECT * FROM read_json('file://" + d + "')", // DuckDB reads file:// and ~ as local paths
		"SELECT * FROM read_json('~/deep.json')",
		"SELECT * FROM read_json(['" + s + "', '" + d + "'], columns = {a: 'VARCHAR'})",
		"SELECT * FROM read_ndjson_auto('" + dir + "/*.json')",
		"SELECT * FROM read_json('" + dir + "/**/*.ndjson')",
		"SELECT * FROM read_json('" + dir + "/packed.json.gz')",
		"SELECT * FROM '" + d + "'",
		"SELECT * FROM read_json('" + s + "') AS x, '" + d + "' AS y",
		"COPY t FROM '" + d + "'",
		"COPY t FROM '" + dir + "/deep.txt' (FORMAT json)",
		"SELECT * FROM v",
		"SELECT * FROM m()",
		"WITH w AS (SELECT * FROM v) SELECT count(*) FROM w",
		"PIVOT v ON a USING count(*)",
		// The view named by a string: DuckDB binds it (a tester's).
		"PRAGMA table_info('v')",
		"SELECT name, type FROM pragma_table_info('main.v')",
		`SELECT * FROM PRAGMA_TABLE_INFO('"v"')`,
		`SELECT * FROM pragma_table_info('"main"."V"')`,
		// A file named as a quoted identifier, as DuckDB keeps a view's
		// FROM 'f.json' (a tester's: the view ended the server), or in
		// parts its replacement scan joins, or after the statements that
		// take a table.
		`SELECT * FROM "` + d + `"`,
		"SELECT * FROM vf",
		`SELECT * FROM "` + strings.TrimSuffix(d, ".json") + `"."json"`,
		`TABLE "` + d + `"`,
		"DESCRIBE '" + d + "'",
		`SUMMARIZE "` + d + `"`,
	} {
		err := c.CheckQuery(ctx, q, Bounds{})
		wantKind(t, q, err, KindInvalid)
		if err != nil && !strings.Contains(err.Error(), "nested more than 1000 deep") {
			t.Errorf("%s: %v, want the depth named", q, err)
		}
	}
	for _, q := range []string{
		"SELECT * FROM read_json('" + dir + "/' || 'deep.json')",
		"SELECT * FROM read_json(?)",
		"SELECT * FROM read_json(getvariable('f'))",
		// A table named by anything but a literal: the check cannot
		// see which view DuckDB binds (a tester's).
		"SELECT count(*) FROM pragma_table_info(('v'))",
		"SELECT count(*) FROM pragma_table_info('' || 'v')",
		"SELECT count(*) FROM pragma_table_info(?)",
		"PRAGMA table_info(('v'))",
		"PRAGMA table_info(v)",
		`SELECT count(*) FROM pragma_table_info("main.v")`,
		"SELECT count(*) FROM pragma_table_info(current_schema)",
		"SELECT count(*) FROM (SELECT 1) t, pragma_table_info(lower('V')) AS z",
		"SELECT count(*) FROM LATERAL pragma_table_info(lower('V'))",
	} {
		wantKind(t, q, c.CheckQuery(ctx, q, Bounds{}), KindPermission)
	}
	for _, q := range []string{
		"SELECT count(*) FROM read_json('" + s + "')",
		"SELECT count(*) FROM read_json_objects('" + d + "')",
		"SELECT count(*) FROM read_text('" + d + "') WHERE content::JSON IS NOT NULL",
		"SELECT count(*) FROM read_csv('" + dir + "/deep.txt', header = false, sep = '|', quote = '')",
		// A string naming the view elsewhere is no mention of it.
		"SELECT count(*) FROM read_json('" + s + "') WHERE 'v' <> 'w'",
		// A table named by a literal.
		"SELECT count(*) FROM pragma_table_info('main.t')",
	} {
		if err := c.CheckQuery(ctx, q, Bounds{}); err != nil {
			t.Errorf("%s: %v", q, err)
		}
		if n := count(t, c, q); n != 1 {
			t.Errorf("%s: %d, want 1", q, n)
		}
	}
	_, free := openWith(t, Config{AllowedDirs: []string{dir}, RecursiveJSON: true})
	q := "SELECT count(*) FROM read_json('" + d + "')"
	if err := free.CheckQuery(ctx, q, Bounds{}); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	if n := count(t, free, q); n != 1 {
		t.Errorf("allowed: %d, want 1", n)
	}
}

// The check reads no file outside the allowed directories, even through a
// link in one: its answer ("nested more than 1000 deep", where DuckDB
// refuses the path) told a reader whether a file outside existed and held
// deep JSON. A link to a file inside is checked as the file.
func TestJSONCheckReadsNothingOutside(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	outside := t.TempDir()
	deep := `{"a": ` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "}\n"
	for _, f := range []string{filepath.Join(outside, "deep.json"), filepath.Join(dir, "deep.json")} {
		if err := os.WriteFile(f, []byte(deep), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{"out": outside, "link.json": filepath.Join(outside, "deep.json"), "in.json": filepath.Join(dir, "deep.json")} {
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"SELECT * FROM read_json('" + dir + "/out/deep.json')",
		"SELECT * FROM read_json('" + dir + "/link.json')",
		"SELECT * FROM read_json('" + dir + "/o*/deep.json')",
		"SELECT * FROM read_json(['" + dir + "/link.json'])",
	} {
		if err := c.CheckQuery(ctx, q, Bounds{}); err != nil {
			t.Errorf("%s: %v, want nothing read outside (DuckDB refuses it)", q, err)
		}
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindPermission)
	}
	q := "SELECT * FROM read_json('" + dir + "/in.json')"
	wantKind(t, q, c.CheckQuery(ctx, q, Bounds{}), KindInvalid)
}

// jsonDepth reads nesting outside strings, escapes included, and stops
// once past its limit.
func TestJSONDepth(t *testing.T) {
	for _, c := range []struct {
		text string
		want int
	}{
		{`{"a": [1, {"b": []}]}`, 4},
		{`"[[[[" ["\"[[[", "\\"] {}`, 1},
		{`[[[[[[[[[[`, 4}, // past the limit of 3
		{``, 0},
	} {
		if got, err := jsonDepth(strings.NewReader(c.text), 3); err != nil || got != c.want {
			t.Errorf("jsonDepth(%q) = %d, %v, want %d", c.text, got, err, c.want)
		}
	}
}

// BenchmarkJSONDepth reads 64 MB of NDJSON records (strings, lists,
// objects) the way checkJSONFile does, for the README's figure.
func BenchmarkJSONDepth(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; buf.Len() < 64<<20; i++ {
		fmt.Fprintf(&buf, `{"i": %d, "s": "name %d \"q\"", "l": [%d, %d], "st": {"a": %d, "b": "x"}}`+"\n", i, i, i, i+1, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if d, err := jsonDepth(bytes.NewReader(data), MaxJSONFileDepth); err != nil || d != 2 {
			b.Fatalf("depth %d, %v", d, err)
		}
	}
}
