package duck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
// comments. It follows DuckDB's lexical rules for everything that can hide
// a ';' or a quote: '...' with ”, E'...' with backslash escapes, "..."
// with "", $tag$...$tag$, -- and nested /* */ comments.
func lexSQL(s string) ([][]token, error) {
	var stmts [][]token
	var cur []token
	for i := 0; i < len(s); {
		c, at, n := s[i], i, len(cur)
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(s[i:], "--"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				i = len(s)
			} else {
				i += end
			}
		case strings.HasPrefix(s[i:], "/*"):
			depth, j := 0, i
			for j < len(s) {
				if strings.HasPrefix(s[j:], "/*") {
					depth, j = depth+1, j+2
				} else if strings.HasPrefix(s[j:], "*/") {
					depth, j = depth-1, j+2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("%w: unterminated comment", errTarget)
			}
			i = j
		case c == '\'':
			text, n, err := quoted(s[i:], '\'', false)
			if err != nil {
				return nil, err
			}
			cur, i = append(cur, token{kind: 's', text: text}), i+n
		case (c == 'e' || c == 'E') && i+1 < len(s) && s[i+1] == '\'':
			_, n, err := quoted(s[i+1:], '\'', true)
			if err != nil {
				return nil, err
			}
			cur, i = append(cur, token{kind: 'x', text: s[i : i+1+n]}), i+1+n
		case c == '"':
			text, n, err := quoted(s[i:], '"', false)
			if err != nil {
				return nil, err
			}
			cur, i = append(cur, token{kind: 'q', text: text}), i+n
		case c == '$' && i+1 < len(s) && !isDigit(s[i+1]):
			tagEnd := strings.IndexByte(s[i+1:], '$')
			if tagEnd < 0 || !isTag(s[i+1:i+1+tagEnd]) {
				cur, i = append(cur, token{kind: '$', text: "$"}), i+1
				break
			}
			tag := s[i : i+2+tagEnd]
			end := strings.Index(s[i+len(tag):], tag)
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated dollar-quoted string", errTarget)
			}
			cur, i = append(cur, token{kind: 'x', text: s[i : i+2*len(tag)+end]}), i+2*len(tag)+end
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			cur, i = append(cur, token{kind: 'w', text: strings.ToLower(s[i:j])}), j
		case c == ';':
			if len(cur) > 0 {
				stmts, cur = append(stmts, cur), nil
			}
			i++
		default:
			cur, i = append(cur, token{kind: c, text: s[i : i+1]}), i+1
		}
		if len(cur) > n {
			cur[n].at, cur[n].end = at, i
		}
	}
	if len(cur) > 0 {
		stmts = append(stmts, cur)
	}
	return stmts, nil
}

// quoted reads a string opened by q at s[0] and returns its content and
// length; a doubled q is one q, and with backslash a backslash escapes
// the next byte.
func quoted(s string, q byte, backslash bool) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case backslash && s[i] == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i++
		case s[i] == q:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated quoted text", errTarget)
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isTag(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
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
				return targetLiteral(stmt, i+1)
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

// checkTarget refuses a target outside the allowed directories. Remote
// URLs are left to DuckDB, which reaches none without an extension.
func checkTarget(target string, allowed []string) error {
	path := target
	if rest, ok := strings.CutPrefix(path, "file://"); ok {
		path = rest
	} else if strings.Contains(path, "://") {
		return nil
	}
	if rest, ok := strings.CutPrefix(path, "~"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("%w: %s: %w", errTarget, target, err)
		}
		path = home + rest
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errTarget, target, err)
	}
	for _, d := range allowed {
		if dir := filepath.Clean(d); abs != dir && strings.HasPrefix(abs, dir+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not under an allowed directory", errTarget, target)
}
