package duck

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// CopyTo is a statement COPY (query) TO 'target' [WITH] [(options)], as
// the lexer reads it: the coordinator runs such a statement's query
// across executors, each writing its own file.
type CopyTo struct {
	// Query is the SQL text between the parentheses, exactly as given.
	Query string
	// Target is the string literal after TO.
	Target string
	// Options in the order given.
	Options []CopyOption
}

// CopyOption is one option of a COPY: a name and at most one value, a
// word (or number) or a string.
type CopyOption struct {
	Name  string // lower case
	Value string // as given; lower case for a word
	// Kind is 'w' for a word or a number, 's' for a plain string, 0 for
	// no value, '?' for a value of any other form (a list, an
	// expression), which the caller cannot pass on.
	Kind byte
}

// ParseCopy reads sql as one COPY (query) TO statement, or returns false
// for any other statement (COPY of a table, COPY FROM, a target that is
// not a plain string, several statements). It follows the lexer the guard
// checks targets with, which splits statements exactly as DuckDB does; the
// caller still prepares the statement and its query with DuckDB.
func ParseCopy(sql string) (CopyTo, bool) {
	stmts, err := lexSQL(sql)
	if err != nil || len(stmts) != 1 {
		return CopyTo{}, false
	}
	st := stmts[0]
	word := func(i int, w string) bool { return i < len(st) && st[i].kind == 'w' && st[i].text == w }
	if !word(0, "copy") || len(st) < 2 || st[1].kind != '(' {
		return CopyTo{}, false
	}
	closing, depth := -1, 0
	for i := 1; i < len(st) && closing < 0; i++ {
		switch st[i].kind {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				closing = i
			}
		}
	}
	if closing < 3 || !word(closing+1, "to") || closing+2 >= len(st) || st[closing+2].kind != 's' || st[closing+2].text == "" {
		return CopyTo{}, false
	}
	c := CopyTo{Query: strings.TrimSpace(sql[st[1].end:st[closing].at]), Target: st[closing+2].text}
	rest := st[closing+3:]
	if len(rest) > 0 && rest[0].kind == 'w' && rest[0].text == "with" {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return c, true
	}
	if rest[0].kind != '(' || rest[len(rest)-1].kind != ')' {
		return CopyTo{}, false
	}
	opts, ok := copyOptions(rest[1 : len(rest)-1])
	if !ok {
		return CopyTo{}, false
	}
	c.Options = opts
	return c, true
}

// copyOptions reads a comma-separated list of options: a name, then
// nothing, a word or number, a string, or anything else (kind '?').
func copyOptions(toks []token) ([]CopyOption, bool) {
	var out []CopyOption
	for len(toks) > 0 {
		end, depth := 0, 0
		for ; end < len(toks) && (depth > 0 || toks[end].kind != ','); end++ {
			switch toks[end].kind {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		opt := toks[:end]
		if len(opt) == 0 || opt[0].kind != 'w' {
			return nil, false
		}
		o := CopyOption{Name: opt[0].text}
		switch {
		case len(opt) == 1:
		case len(opt) == 2 && (opt[1].kind == 'w' || opt[1].kind == 's'):
			o.Value, o.Kind = opt[1].text, opt[1].kind
		default:
			o.Kind = '?'
		}
		out = append(out, o)
		if end == len(toks) {
			break
		}
		toks = toks[end+1:]
		if len(toks) == 0 {
			return nil, false // a trailing comma
		}
	}
	return out, true
}

// FileRun is one run's write of a query's rows to a file: to a file of the
// run's own beside Path (Temp, hidden), moved to Path once whole. Two runs
// of one write (a task run again elsewhere while its first run's executor
// was stopped) never touch each other's file: the first, interrupted when
// its executor resumed, had DuckDB remove Path, the second's whole file
// (a tester's). The last run to finish replaces Path with the same rows.
type FileRun struct{ Path, Temp string }

// StartFileRun gives the COPY (CopySQL) that writes query's rows for a run
// of the write of path, and the run.
func StartFileRun(query, path string, options []string) (string, *FileRun) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	r := &FileRun{Path: path, Temp: filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+hex.EncodeToString(b[:])+".tmp")}
	return CopySQL(query, r.Temp, options), r
}

// Commit moves the run's file to Path.
func (r FileRun) Commit() error {
	if err := os.Rename(r.Temp, r.Path); err != nil {
		return fmt.Errorf("duck: moving the written file into place: %w", err)
	}
	return nil
}

// Abandon removes the run's file, if it was not moved.
func (r FileRun) Abandon() { _ = os.Remove(r.Temp) }

// Committing is rdr, the result of the run's COPY (its count, given once
// the file is written whole), whose first batch, or its end, moves the
// file into place first: whoever reads the count finds the file at Path.
func (r FileRun) Committing(rdr array.RecordReader) array.RecordReader {
	return &committing{RecordReader: rdr, run: r}
}

type committing struct {
	array.RecordReader
	run  FileRun
	done bool
	err  error
}

func (c *committing) Next() bool {
	if c.err != nil {
		return false
	}
	more := c.RecordReader.Next()
	if !c.done && (more || c.RecordReader.Err() == nil) {
		c.done = true
		if c.err = c.run.Commit(); c.err != nil {
			return false
		}
	}
	return more
}

func (c *committing) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.RecordReader.Err()
}

// CopySQL is the COPY of query's rows to the file path with options (each
// NAME value, as a COPY lists them).
func CopySQL(query, path string, options []string) string {
	return "COPY (" + query + ") TO " + QuoteString(path) + " (" + strings.Join(options, ", ") + ")"
}
