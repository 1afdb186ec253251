package duck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skeindb/skein/internal/sqltext"
)

// DuckDB's sandbox has exceptions of its own: when external access is
// turned off it keeps access to every attached database file, its WAL
// files and the temp directory, for SQL as much as for itself, and the
// list cannot be narrowed afterwards. So COPY ... TO '<data.duckdb>'
// (USE_TMP_FILE false), or to the WAL while none exists, would overwrite
// the managed database. The statements that write files (COPY TO and
// EXPORT DATABASE) therefore write only where Skein itself allows: their
// target must be a plain string literal naming a path under an allowed
// directory. A target DuckDB would compute (an expression, a parameter,
// an escaped string) is refused, since no check could see what it names.

var errTarget = errors.New("target")

// token is one lexical unit of SQL, as far as finding statement
// boundaries and string literals needs.
type token struct {
	kind byte // 'w' word, 's' plain string, 'x' other string, 'q' quoted identifier, else the punctuation byte
	text string
	// at and end delimit the token in the SQL text.
	at, end int
}

// lexSQL splits SQL into statements of tokens, dropping blanks and
// comments, by DuckDB's lexical rules (internal/sqltext).
func lexSQL(s string) ([][]token, error) {
	stmts, err := sqltext.Statements(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTarget, err)
	}
	out := make([][]token, len(stmts))
	for i, st := range stmts {
		out[i] = make([]token, len(st))
		for j, t := range st {
			out[i][j] = token{kind: t.Kind, text: t.Text, at: t.At, end: t.End}
		}
	}
	return out, nil
}

// fileTarget returns the file or directory a COPY or EXPORT statement
// writes, or "" for one that writes none (COPY ... FROM, COPY FROM
// DATABASE). It refuses what it cannot read with certainty.
func fileTarget(stmt []token) (string, error) {
	if len(stmt) == 0 || stmt[0].kind != 'w' {
		return "", fmt.Errorf("%w: not a COPY or EXPORT statement", errTarget)
	}
	switch stmt[0].text {
	case "copy":
		if len(stmt) > 2 && stmt[1].text == "from" && stmt[2].text == "database" {
			return "", nil // between attached catalogs, no file
		}
		depth := 0
		for i := 1; i < len(stmt); i++ {
			switch t := stmt[i]; {
			case t.kind == '(':
				depth++
			case t.kind == ')':
				depth--
			case depth == 0 && t.kind == 'w' && t.text == "from":
				return "", nil // reads a file into a table
			case depth == 0 && t.kind == 'w' && t.text == "to":
				target, err := targetLiteral(stmt, i+1)
				if err != nil {
					return "", err
				}
				return target, checkNameOptions(stmt[i+2:])
			}
		}
	case "export":
		// EXPORT DATABASE ['dir' | catalog TO 'dir']: the first string
		// outside parentheses.
		for i := 1; i < len(stmt) && stmt[i].kind != '('; i++ {
			if stmt[i].kind == 's' || stmt[i].kind == 'x' {
				return targetLiteral(stmt, i)
			}
		}
	}
	return "", fmt.Errorf("%w: cannot find where the statement writes", errTarget)
}

func targetLiteral(stmt []token, i int) (string, error) {
	if i >= len(stmt) || stmt[i].kind != 's' || stmt[i].text == "" {
		return "", fmt.Errorf("%w: the target must be a plain string literal", errTarget)
	}
	if i+1 < len(stmt) && stmt[i+1].kind != '(' && stmt[i+1].kind != 'w' {
		return "", fmt.Errorf("%w: the target must be a plain string literal", errTarget)
	}
	return stmt[i].text, nil
}

// nameOptions are the COPY options that make the names of the files a
// COPY writes in its target directory (PER_THREAD_OUTPUT, PARTITION_BY):
// DuckDB joins them to the target as they are, and a '/../' in one named
// a file anywhere its sandbox lets it write, the managed database and its
// WAL included (found by a hostile client, 2026-12-04: FILE_EXTENSION
// '/../../data/data.duckdb' overwrote the database).
var nameOptions = map[string]bool{"filename_pattern": true, "file_extension": true}

// checkNameOptions refuses, among a COPY's options (the tokens after its
// target), a name option whose value is not a plain string or word free
// of path separators and "..".
func checkNameOptions(opts []token) error {
	for j, t := range opts {
		if (t.kind != 'w' && t.kind != 'q') || !nameOptions[strings.ToLower(t.text)] {
			continue
		}
		if j+1 >= len(opts) {
			return fmt.Errorf("%w: %s without a value", errTarget, strings.ToUpper(t.text))
		}
		v := opts[j+1]
		if (v.kind != 's' && v.kind != 'w') || strings.ContainsAny(v.text, `/\`) || strings.Contains(v.text, "..") {
			return fmt.Errorf("%w: %s must be a plain string naming no directory (no '/', '\\' or '..')", errTarget, strings.ToUpper(t.text))
		}
	}
	return nil
}

// maxCheckedEntries bounds the entries of a directory a COPY or EXPORT
// writes into whose links are checked (checkLinksWithin).
const maxCheckedEntries = 1_000_000

// checkLinksWithin refuses a target directory (real: its path, resolved)
// holding a link that leads out of the allowed directories, or nowhere:
// DuckDB writes files of its own naming into it (data_0.csv of
// PER_THREAD_OUTPUT, a=1/ of PARTITION_BY, EXPORT's schema.sql), through
// any link of that name, and a link to a file outside that did not exist
// yet had the file created there (a tester's). A target that is not a
// directory holds nothing.
func checkLinksWithin(target, real string, realAllowed []string) error {
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return nil
	}
	seen := 0
	walked := map[string]bool{}
	var walk func(dir string) error
	walk = func(dir string) error {
		if walked[dir] {
			return nil
		}
		walked[dir] = true
		return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable: DuckDB cannot write there either
			}
			if seen++; seen > maxCheckedEntries {
				return fmt.Errorf("%w: %s holds more than %d entries, whose links the server cannot check: write into a new directory", errTarget, target, maxCheckedEntries)
			}
			if d.Type()&os.ModeSymlink == 0 {
				return nil
			}
			to, err := filepath.EvalSymlinks(p)
			if err != nil || !underOrAt(to, realAllowed) {
				return fmt.Errorf("%w: %s holds %s, a link that leads out of the allowed directories or nowhere, which DuckDB would write through", errTarget, target, p)
			}
			// A link to a directory inside: DuckDB writes through it
			// too, and the walk does not follow it (a tester's: a
			// partition's directory linked to another holding a link
			// out). Not one to the target or a directory holding it,
			// walked already or holding more than the target.
			if st, err := os.Stat(to); err == nil && st.IsDir() && !underOrAt(real, []string{to}) {
				return walk(to)
			}
			return nil
		})
	}
	return walk(real)
}

// checkTmpSibling refuses a file target whose sibling of DuckDB's
// temporary name (tmp_<name>, which a COPY to a file writes first and
// then moves into place) is a link out of the allowed directories or to
// nothing: DuckDB wrote through it, creating the file outside, before it
// failed to move it (a tester's).
func checkTmpSibling(target, path string, realAllowed []string) error {
	tmp := filepath.Join(filepath.Dir(path), "tmp_"+filepath.Base(path))
	if st, err := os.Lstat(tmp); err != nil || st.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	if to, err := filepath.EvalSymlinks(tmp); err != nil || !under(to, realAllowed) {
		return fmt.Errorf("%w: %s has beside it %s, a link that leads out of the allowed directories or nowhere, which DuckDB would write through first", errTarget, target, tmp)
	}
	return nil
}

// underOrAt says whether an absolute path is one of dirs or lies inside
// one.
func underOrAt(abs string, dirs []string) bool {
	for _, d := range dirs {
		if abs == filepath.Clean(d) {
			return true
		}
	}
	return under(abs, dirs)
}

// checkTarget refuses a target outside the allowed directories. Object
// storage (s3://, and any other URL) is read-only to SQL: a distributed
// COPY moves its parts into place, which object storage cannot do, and
// the --allow-prefix locations are the operator's data.
func checkTarget(target string, allowed, realAllowed []string) error {
	abs, local, err := localPath(target)
	switch {
	case !local:
		return fmt.Errorf("%w: %s: object storage is read-only", errTarget, target)
	case err != nil:
		return fmt.Errorf("%w: %s: %w", errTarget, target, err)
	}
	real, exists, ok := resolvedPath(abs)
	switch {
	case !under(abs, allowed) && !(ok && under(real, realAllowed)):
		// Its text names no allowed directory, nor do its links lead
		// into one (an --allow-dir given as a link is resolved at start,
		// and a COPY to the name the operator gave was refused, a
		// tester's).
		return fmt.Errorf("%w: %s is not under an allowed directory", errTarget, target)
	case !ok:
		// It exists, and yet cannot be resolved: a link leading nowhere
		// (or out of reach), nothing telling where DuckDB would create
		// what it names.
		return fmt.Errorf("%w: %s leads through a link to a path that does not exist", errTarget, target)
	case !under(real, realAllowed):
		return fmt.Errorf("%w: %s leads through a link out of the allowed directories", errTarget, target)
	}
	// Beside the name given and beside the file it leads to: DuckDB
	// writes its temporary file beside the name it was given (a tester's:
	// l.csv a link to a file inside, tmp_l.csv a link out).
	for _, p := range []string{abs, real} {
		if err := checkTmpSibling(target, p, realAllowed); err != nil {
			return err
		}
	}
	if exists {
		return checkLinksWithin(target, real, realAllowed)
	}
	return nil
}

// resolvedPath is abs with the links of the part of it that exists
// resolved, what does not exist yet joined to it (created where its
// existing parent is); exists says abs itself exists, ok is false when a
// link on it leads nowhere. DuckDB's sandbox checks a target's text and
// then writes through any link it names: COPY ... TO 'files/l.csv', l.csv
// a link to a file outside that did not exist yet, created that file (a
// tester's, 2026-12-07), so a target is checked where it really is
// (realAllowed: the allowed directories, their own links resolved).
func resolvedPath(abs string) (real string, exists, ok bool) {
	rest := ""
	for p := abs; ; {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(real, rest), rest == "", true
		}
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", false, false
		}
		parent := filepath.Dir(p)
		if parent == p {
			return abs, false, true
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// localPath is the absolute path of the local file DuckDB reads or
// writes for a name, as DuckDB reads the name: file:// dropped, a leading
// ~ the home directory. local is false for any other URL (object
// storage).
func localPath(name string) (abs string, local bool, err error) {
	path := name
	if rest, ok := strings.CutPrefix(path, "file://"); ok {
		path = rest
	} else if strings.Contains(path, "://") {
		return "", false, nil
	}
	if rest, ok := strings.CutPrefix(path, "~"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", true, err
		}
		path = home + rest
	}
	abs, err = filepath.Abs(path)
	return abs, true, err
}

// under says whether an absolute path lies inside one of dirs.
func under(abs string, dirs []string) bool {
	for _, d := range dirs {
		if dir := filepath.Clean(d); abs != dir && strings.HasPrefix(abs, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
