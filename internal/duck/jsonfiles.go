package duck

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/skeindb/skein/internal/sqltext"
)

// jsonReaders are DuckDB's table functions that convert a JSON file's
// values into columns. DuckDB 1.5.5 converts a value by recursion over its
// nesting, a native stack frame a level: a file holding one value nested
// 10,000 deep (20 KB) ended the process that bound or read it (SIGSEGV),
// whether DuckDB detected the columns' types or was given them, even as
// VARCHAR; 3,000 deep was read. read_json_objects and read_text read such
// a file, and ::JSON, json_extract and ->> take its values. So a client
// statement that reads JSON files this way has the local ones it names
// checked first (checkNamed), unless the instance allows recursive
// JSON (Config.RecursiveJSON, --unsafe-json-functions).
var jsonReaders = map[string]bool{"read_json": true, "read_json_auto": true, "read_ndjson": true, "read_ndjson_auto": true}

// MaxJSONFileDepth is how deeply a JSON file's values may nest for a
// client statement to read it with jsonReaders: a tenth of the depth that
// ended DuckDB, far past what data nests.
const MaxJSONFileDepth = 1000

// jsonExtensions are the file names DuckDB reads as JSON when a file is
// named as a table (FROM 'f.json', its replacement scan) or copied from
// (COPY t FROM 'f.json'), with or without a compression's suffix.
var jsonExtensions = []string{".json", ".jsonl", ".ndjson"}

func jsonName(name string) bool {
	name = strings.ToLower(name)
	for _, c := range []string{".gz", ".gzip", ".zst"} {
		name = strings.TrimSuffix(name, c)
	}
	for _, e := range jsonExtensions {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// jsonChecked remembers the files found shallow enough, by absolute
// path, with the size and modification time they had: a file is read
// again only when it changed.
type jsonChecked struct {
	mu    sync.Mutex
	files map[string]fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// maxJSONChecked bounds how many files jsonChecked remembers; past it,
// it forgets them all.
const maxJSONChecked = 100_000

// checkNamed reads a client statement with the views and macros it
// names, transitively: for a ReadOnly connection it refuses the calls
// that write (writingCalls) made in them, which checkText cannot see in
// the statement's text (a reader advanced a writer's sequence through a
// macro calling nextval, and checkpointed the database through a table
// macro calling checkpoint()); on a DuckDB of one thread it refuses an
// ASOF RIGHT or FULL join in them, which DuckDB 1.5.5 then may never end
// (an empty left input); where jsonFiles, it checks the JSON files they
// read, as follows.
//
// It refuses a client statement that would read a local JSON
// file holding a value nested deeper than MaxJSONFileDepth, or that names
// the files of a JSON reader by anything but string literals (a parameter
// or an expression could name any file once it is computed). It reads
// the statement's tokens and those of the views and macros it names,
// transitively (the nester's views, and its macros, listed when the
// statement calls a function DuckDB does not have built in). The files are those a
// JSON reader's first argument names (a string or a list of them, each a
// path or a pattern), those named like JSON files where a table goes
// (FROM 'f.json', JOIN, a FROM list, COPY t FROM 'f.json'), and, in a
// COPY naming the JSON format, the file it copies from; each is read once while it does not change. Object
// storage URLs are not read.
func (c *Conn) checkNamed(toks []sqltext.Token, n *nester, jsonFiles bool) ([]string, error) {
	var paths []string
	seen := map[string]bool{}
	queue := [][]sqltext.Token{toks}
	names := []string{""} // the view or macro each of queue defines
	for len(queue) > 0 {
		ts, named := queue[0], names[0]
		queue, names = queue[1:], names[1:]
		copyJSON := len(ts) > 0 && ts[0].Kind == 'w' && ts[0].Text == "copy" && mentionsJSON(ts)
		for i, t := range ts {
			switch t.Kind {
			case 's':
				from := i > 0 && ts[i-1].Kind == 'w' && ts[i-1].Text == "from"
				if jsonFiles && (tablePosition(ts, i) && jsonName(t.Text) || copyJSON && from) {
					paths = append(paths, t.Text)
				}
				// PRAGMA table_info('v') binds the view it names.
				for _, v := range stringViews(ts, i, n.views) {
					if seen[v] {
						continue
					}
					seen[v] = true
					if dt, err := sqltext.Scan(n.views[v]); err == nil {
						queue, names = append(queue, dt), append(names, v)
					}
				}
				continue
			case 'q', 'w':
				// A file named as a table by a name: FROM "f.json", as
				// DuckDB stores a view's FROM 'f.json', or
				// FROM "dir/f"."json", whose parts DuckDB's replacement
				// scan joins with '.'. Unchecked, a view over a file
				// rewritten deep ended the server at each run, after
				// each restart (a tester's).
				if f := dottedName(ts, i); jsonFiles && tablePosition(ts, i) && jsonName(f) {
					paths = append(paths, f)
				}
			default:
				continue
			}
			name := strings.ToLower(t.Text)
			call := i+1 < len(ts) && ts[i+1].Kind == '('
			if c.db.oneThread && t.Kind == 'w' && name == "asof" && i+1 < len(ts) && ts[i+1].Kind == 'w' &&
				(ts[i+1].Text == "right" || ts[i+1].Text == "full") {
				return nil, &Error{Kind: KindUnsupported, Msg: fmt.Sprintf("Not implemented Error: %san ASOF %s JOIN on a DuckDB of one thread: "+
					"DuckDB 1.5.5 never ends one whose left input is empty or shares no key with the right, and cannot cancel it; "+
					"run the server with --threads 2 or more", within(named), strings.ToUpper(ts[i+1].Text))}
			}
			if why, ok := writingCalls[name]; ok && call && named != "" && c.policy.ReadOnly {
				return nil, &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: read-only access: %s calls %s(), which is not allowed: %s", named, name, why)}
			}
			if call && tableNamers[name] && !(i+3 < len(ts) && ts[i+2].Kind == 's' && (ts[i+3].Kind == ')' || ts[i+3].Kind == ',')) {
				return nil, &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s%s()'s table must be named by a string literal: "+
					"the server checks the view it names before DuckDB binds it (a view over a JSON file nested too deep ends the server)", within(named), name)}
			}
			if call && jsonReaders[name] && jsonFiles {
				files, ok := literalFiles(ts[i+2:])
				if !ok {
					return nil, &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s()'s files must be named by a string literal or a list of them: "+
						"the server reads a JSON file before DuckDB does, since DuckDB reads a value by recursion, without a limit, and a deeply nested one ends the server "+
						"(the operator allows any with --unsafe-json-functions)", name)}
				}
				paths = append(paths, files...)
			}
			def, ok := n.views[name]
			// A call a macro could answer, as nester.frame reads it.
			if !ok && call && !n.builtin[name] && !(t.Kind == 'w' && n.syntax[name]) && !(i > 0 && afterNoCall(ts[i-1])) {
				if n.list != nil {
					n.views, n.macros = n.list()
					n.list = nil
				}
				def, ok = n.macros[name]
			}
			if !ok || seen[name] {
				continue
			}
			seen[name] = true
			if dt, err := sqltext.Scan(def); err == nil {
				queue, names = append(queue, dt), append(names, name)
			}
		}
	}
	if err := c.recheckJSON(paths); err != nil {
		return nil, err
	}
	return paths, nil
}

// tableNamers are DuckDB's functions that take a table or view by its
// name as a string and bind it: PRAGMA table_info('v') read the view's
// JSON file, past the check that refuses SELECT * FROM v, and a file
// nesting too deep ended the process (a tester's).
var tableNamers = map[string]bool{
	"table_info": true, "pragma_table_info": true, "storage_info": true, "pragma_storage_info": true,
	"show": true, "pragma_show": true, "query_table": true,
}

// tableWords are the words after which a string or a name is read as a
// table, and so a file DuckDB scans in place of one: FROM, JOIN, and the
// statements that take a table (TABLE, DESCRIBE, SHOW, SUMMARIZE, PIVOT,
// UNPIVOT, COPY t TO).
var tableWords = map[string]bool{"from": true, "join": true, "table": true, "describe": true, "show": true,
	"summarize": true, "pivot": true, "unpivot": true, "copy": true}

// tablePosition says whether ts[i] stands where a table is named: after
// one of tableWords or a FROM list's ','.
func tablePosition(ts []sqltext.Token, i int) bool {
	return i > 0 && (ts[i-1].Kind == ',' || ts[i-1].Kind == 'w' && tableWords[ts[i-1].Text])
}

// dottedName is the name starting at ts[i] with the parts that follow it
// after '.', joined by '.' as DuckDB's replacement scan joins them
// ("dir/f"."json" is dir/f.json).
func dottedName(ts []sqltext.Token, i int) string {
	parts := []string{ts[i].Text}
	for k := i; k+2 < len(ts) && ts[k+1].Kind == '.' && (ts[k+2].Kind == 'q' || ts[k+2].Kind == 'w'); k += 2 {
		parts = append(parts, ts[k+2].Text)
	}
	return strings.Join(parts, ".")
}

// stringViews are the listed views the string literal ts[i] may name,
// lower case, when it is the first argument of one of tableNamers: the
// whole text and each of its dotted parts, unquoted ('main.v', '"my.v"'),
// every one that names a view (a view counted that the string does not
// name costs a check, one missed a crash).
func stringViews(ts []sqltext.Token, i int, views map[string]string) []string {
	if i < 2 || ts[i-1].Kind != '(' || ts[i-2].Kind != 'w' && ts[i-2].Kind != 'q' || !tableNamers[strings.ToLower(ts[i-2].Text)] {
		return nil
	}
	var out []string
	for _, part := range append([]string{ts[i].Text}, strings.Split(ts[i].Text, ".")...) {
		name := strings.ToLower(strings.TrimSpace(strings.ReplaceAll(strings.Trim(strings.TrimSpace(part), `"`), `""`, `"`)))
		if _, ok := views[name]; ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// within says where a statement's token is: in the view or macro named,
// or in the statement ("").
func within(named string) string {
	if named == "" {
		return ""
	}
	return named + " holds "
}

// mentionsJSON says whether a COPY statement names the JSON format (FORMAT
// json, FORMAT 'json', (json)).
func mentionsJSON(ts []sqltext.Token) bool {
	for _, t := range ts {
		if (t.Kind == 'w' || t.Kind == 's' || t.Kind == 'q') && strings.EqualFold(t.Text, "json") {
			return true
		}
	}
	return false
}

// literalFiles is a call's first argument, given the tokens after its
// '(', when it is a string or a list of strings.
func literalFiles(ts []sqltext.Token) ([]string, bool) {
	end := func(k int) bool { return k < len(ts) && (ts[k].Kind == ',' || ts[k].Kind == ')') }
	if len(ts) > 0 && ts[0].Kind == 's' && end(1) {
		return []string{ts[0].Text}, true
	}
	if len(ts) == 0 || ts[0].Kind != '[' {
		return nil, false
	}
	var files []string
	for k := 1; k+1 < len(ts); k += 2 {
		if ts[k].Kind != 's' {
			return nil, false
		}
		files = append(files, ts[k].Text)
		if ts[k+1].Kind == ']' {
			return files, end(k + 2)
		}
		if ts[k+1].Kind != ',' {
			return nil, false
		}
	}
	return nil, false
}

// recheckJSON checks the JSON files a statement reads (CheckQueryFiles)
// again as it is about to run: a file rewritten since its check (a
// prepared statement run later, a query's DoGet) is read again, and
// refuses the statement if a value now nests too deep.
func (c *Conn) recheckJSON(paths []string) error {
	for _, p := range paths {
		if err := c.db.checkJSONPath(p, c.allowed); err != nil {
			return err
		}
	}
	return nil
}

// checkJSONPath checks the local files a path or pattern names within
// the allowed directories (DuckDB reads no other), named as DuckDB reads
// them (localPath: file:// and ~ too).
func (db *DB) checkJSONPath(p string, allowed []string) error {
	abs, local, err := localPath(p)
	if !local || err != nil || !under(abs, allowed) {
		return nil // object storage is not read here; DuckDB refuses the others
	}
	if !strings.ContainsAny(p, "*?[") {
		return db.checkJSONFile(abs)
	}
	return walkPattern(abs, func(file string) error { return db.checkJSONFile(file) })
}

// walkPattern calls fn with each regular file a DuckDB glob matches: *, ?
// and [...] within a path element, ** across any number of them.
func walkPattern(pattern string, fn func(string) error) error {
	elems := strings.Split(pattern, "/")
	root := "/"
	k := 1
	for ; k < len(elems) && !strings.ContainsAny(elems[k], "*?["); k++ {
		root = filepath.Join(root, elems[k])
	}
	rest := elems[k:]
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: DuckDB reads nothing there either
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		parts := strings.Split(rel, "/")
		if d.IsDir() {
			if !prefixMatches(rest, parts) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && matches(rest, parts) {
			return fn(path)
		}
		return nil
	})
}

// matches says whether path elements match pattern elements (** any
// number of them).
func matches(pat, parts []string) bool {
	if len(pat) == 0 {
		return len(parts) == 0
	}
	if pat[0] == "**" {
		for k := 0; k <= len(parts); k++ {
			if matches(pat[1:], parts[k:]) {
				return true
			}
		}
		return false
	}
	if len(parts) == 0 {
		return false
	}
	ok, err := filepath.Match(pat[0], parts[0])
	return err == nil && ok && matches(pat[1:], parts[1:])
}

// prefixMatches says whether a directory's elements could lead to a
// match.
func prefixMatches(pat, dirs []string) bool {
	for k, d := range dirs {
		if k >= len(pat) {
			return false
		}
		if pat[k] == "**" {
			return true
		}
		if ok, err := filepath.Match(pat[k], d); err != nil || !ok {
			return false
		}
	}
	return true
}

// checkJSONFile refuses a regular file whose JSON nests deeper than
// MaxJSONFileDepth, reading it (gzip or zstd compressed, as its first
// bytes say) unless it was found shallow as it is.
func (db *DB) checkJSONFile(path string) error {
	// A link in an allowed directory may lead out of them all, where
	// DuckDB reads nothing: the server reads nothing there either (its
	// answer told a reader whether a file outside held deep JSON).
	path, err := filepath.EvalSymlinks(path)
	if err != nil || !under(path, db.realAllowed) {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil // DuckDB says what is wrong, or reads nothing
	}
	stamp := fileStamp{st.Size(), st.ModTime()}
	db.json.mu.Lock()
	known, ok := db.json.files[path]
	db.json.mu.Unlock()
	if ok && known == stamp {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	depth, err := jsonDepth(f, MaxJSONFileDepth)
	if err != nil {
		return nil // not readable as the server reads it: DuckDB's reader says what is wrong
	}
	if depth > MaxJSONFileDepth {
		return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: %s holds a JSON value nested more than %d deep: "+
			"DuckDB reads JSON values by recursion, without a limit, and a deeply nested one ends the server; "+
			"read_json_objects and read_text read it (the operator allows any with --unsafe-json-functions)", path, MaxJSONFileDepth)}
	}
	db.json.mu.Lock()
	if db.json.files == nil || len(db.json.files) >= maxJSONChecked {
		db.json.files = map[string]fileStamp{}
	}
	db.json.files[path] = stamp
	db.json.mu.Unlock()
	return nil
}

// jsonByte classes the bytes jsonDepth looks at outside strings: a
// quote, an opening bracket or brace ('['), a closing one (']').
var jsonByte = func() (c [256]byte) {
	c['"'], c['['], c['{'], c[']'], c['}'] = '"', '[', '[', ']', ']'
	return c
}()

// jsonDepth is how deeply brackets and braces nest in JSON text outside
// its strings, read until it passes limit or ends. Gzip and zstd streams
// are decompressed.
func jsonDepth(r io.Reader, limit int) (int, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, _ := br.Peek(4)
	var src io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		src = zr
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		src = zr
	}
	buf := make([]byte, 1<<20)
	depth, most := 0, 0
	inString, escaped := false, false
	for {
		n, err := src.Read(buf)
		for i := 0; i < n; i++ {
			b := buf[i]
			if inString {
				switch {
				case escaped:
					escaped = false
				case b == '\\':
					escaped = true
				case b == '"':
					inString = false
				}
				continue
			}
			switch jsonByte[b] {
			case 0:
			case '"':
				inString = true
			case '[':
				if depth++; depth > most {
					if most = depth; most > limit {
						return most, nil
					}
				}
			case ']':
				depth = max(depth-1, 0)
			}
		}
		if errors.Is(err, io.EOF) {
			return most, nil
		}
		if err != nil {
			return most, err
		}
	}
}
