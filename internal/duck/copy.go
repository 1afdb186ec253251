package duck

import "strings"

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
