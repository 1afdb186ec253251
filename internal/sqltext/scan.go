package sqltext

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnterminated is a string, quoted identifier or comment that the text
// opens and does not close.
var ErrUnterminated = errors.New("unterminated")

// Token is one lexical unit of SQL.
type Token struct {
	// Kind is 'w' for a word (a keyword, a name or a number), 's' for a
	// plain string literal, 'x' for any other string (E'...' with
	// backslash escapes, $tag$...$tag$), 'q' for a quoted identifier, and
	// otherwise the punctuation byte itself (';' ends a statement).
	Kind byte
	// Text is a word in lower case, the content of a plain string or a
	// quoted identifier (quotes removed, doubled quotes undone), or the
	// token's bytes as written.
	Text string
	// At and End delimit the token in the SQL text.
	At, End int
}

// Scan returns the tokens of s, blanks and comments dropped. It follows
// DuckDB's rules for everything that can hide a ';' or a quote: '...' with
// a doubled quote inside, E'...' with backslash escapes, "..." with a
// doubled quote, $tag$...$tag$, -- and nested /* */ comments. Where s opens
// one of them and does not close it, Scan returns the tokens before it and
// an error wrapping ErrUnterminated.
//
// The tokens are counted first and the slice made to size: grown by
// appending, a statement of 4 MiB of commas (a token a byte) cost 985 MB
// of allocations, each larger slice a copy of the last.
func Scan(s string) ([]Token, error) {
	n := 0
	_ = scan(s, false, func(Token) { n++ }) // the same error as below
	toks := make([]Token, 0, n)
	err := scan(s, true, func(t Token) { toks = append(toks, t) })
	return toks, err
}

// Size counts the tokens of s and their bytes (blanks and comments left
// out), up to where s opens a string or comment it does not close,
// storing none of them.
func Size(s string) (tokens, bytes int) {
	_ = scan(s, false, func(t Token) { tokens, bytes = tokens+1, bytes+t.End-t.At })
	return tokens, bytes
}

// scan calls emit with each token of s in turn (see Scan), and returns
// the error that stopped it, if any. Unless text, the tokens' Text is left
// empty, and nothing is lower-cased or unquoted: counting them allocates
// nothing.
func scan(s string, text bool, emit func(Token)) error {
	for i := 0; i < len(s); {
		c, at := s[i], i
		var t Token
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c >= 0x80 && UnicodeSpace(s[i:]) > 0:
			i += UnicodeSpace(s[i:]) // 2 or 3 bytes
			continue
		case strings.HasPrefix(s[i:], "--"):
			if end := strings.IndexByte(s[i:], '\n'); end < 0 {
				i = len(s)
			} else {
				i += end
			}
			continue
		case strings.HasPrefix(s[i:], "/*"):
			n, err := blockComment(s[i:])
			if err != nil {
				return err
			}
			i += n
			continue
		case c == '\'':
			unquoted, n, err := quoted(s[i:], '\'', false, text)
			if err != nil {
				return err
			}
			t, i = Token{Kind: 's', Text: unquoted}, i+n
		case (c == 'e' || c == 'E') && i+1 < len(s) && s[i+1] == '\'':
			_, n, err := quoted(s[i+1:], '\'', true, false)
			if err != nil {
				return err
			}
			t, i = Token{Kind: 'x', Text: s[i : i+1+n]}, i+1+n
		case c == '"':
			unquoted, n, err := quoted(s[i:], '"', false, text)
			if err != nil {
				return err
			}
			t, i = Token{Kind: 'q', Text: unquoted}, i+n
		case c == '$' && i+1 < len(s) && !isDigit(s[i+1]):
			tagEnd := strings.IndexByte(s[i+1:], '$')
			if tagEnd < 0 || !isTag(s[i+1:i+1+tagEnd]) {
				t, i = Token{Kind: '$', Text: "$"}, i+1
				break
			}
			tag := s[i : i+2+tagEnd]
			end := strings.Index(s[i+len(tag):], tag)
			if end < 0 {
				return fmt.Errorf("%w dollar-quoted string", ErrUnterminated)
			}
			t, i = Token{Kind: 'x', Text: s[i : i+2*len(tag)+end]}, i+2*len(tag)+end
		case isWordByte(c):
			j := i
			// '$' goes on a word, as in DuckDB's names (x$t$ is one):
			// taken for a dollar quote, it hid the rest of the text from
			// the guard.
			for j < len(s) && (isWordByte(s[j]) || s[j] == '$') && (s[j] < 0x80 || UnicodeSpace(s[j:]) == 0) {
				j++
			}
			t, i = Token{Kind: 'w'}, j
			if text {
				t.Text = strings.ToLower(s[at:j])
			}
		default:
			t, i = Token{Kind: c, Text: s[i : i+1]}, i+1
		}
		t.At, t.End = at, i
		emit(t)
	}
	return nil
}

// Statements splits s into its statements' tokens, without the ';'
// between them and without empty statements.
func Statements(s string) ([][]Token, error) {
	toks, err := Scan(s)
	if err != nil {
		return nil, err
	}
	var stmts [][]Token
	start := 0
	for i, t := range toks {
		if t.Kind == ';' {
			if i > start {
				stmts = append(stmts, toks[start:i])
			}
			start = i + 1
		}
	}
	if start < len(toks) {
		stmts = append(stmts, toks[start:])
	}
	return stmts, nil
}

// blockComment returns the length of the (nested) comment s starts with.
func blockComment(s string) (int, error) {
	depth, j := 0, 0
	for j < len(s) {
		switch {
		case strings.HasPrefix(s[j:], "/*"):
			depth, j = depth+1, j+2
		case strings.HasPrefix(s[j:], "*/"):
			depth, j = depth-1, j+2
			if depth == 0 {
				return j, nil
			}
		default:
			j++
		}
	}
	return 0, fmt.Errorf("%w comment", ErrUnterminated)
}

// quoted reads a string opened by q at s[0] and returns its content and
// length; a doubled q is one q, and with backslash a backslash escapes
// the next byte.
func quoted(s string, q byte, backslash, keep bool) (string, int, error) {
	var b strings.Builder
	write := func(c byte) {
		if keep {
			b.WriteByte(c)
		}
	}
	for i := 1; i < len(s); i++ {
		switch {
		case backslash && s[i] == '\\' && i+1 < len(s):
			write(s[i+1])
			i++
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			write(q)
			i++
		case s[i] == q:
			return b.String(), i + 1, nil
		default:
			write(s[i])
		}
	}
	return "", 0, fmt.Errorf("%w quoted text", ErrUnterminated)
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isWordByte(b byte) bool {
	return b == '_' || isDigit(b) || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
}

func isTag(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

// UnicodeSpace is the length of the Unicode space s starts with, 0 if none:
// the ones DuckDB 1.5.5's parser reads as a blank between tokens (found by
// trying every White_Space character between SELECT and a call): U+00A0,
// U+2000 to U+200B, U+202F, U+205F, U+2060, U+3000 and U+FEFF. A check
// reading them as part of a word saw "json_structure\u00a0(" as one
// unknown word, where DuckDB called json_structure.
func UnicodeSpace(s string) int {
	switch {
	case len(s) >= 2 && s[0] == 0xC2 && s[1] == 0xA0:
		return 2
	case len(s) < 3:
		return 0
	case s[0] == 0xE2 && s[1] == 0x80 && (s[2] >= 0x80 && s[2] <= 0x8B || s[2] == 0xAF),
		s[0] == 0xE2 && s[1] == 0x81 && (s[2] == 0x9F || s[2] == 0xA0),
		s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80,
		s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF:
		return 3
	}
	return 0
}
