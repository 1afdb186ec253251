package sqltext

import (
	"strings"
	"unicode"
)

// Split cuts SQL typed so far into the statements a ';' ends (each
// without its ';' and trimmed; empty ones left out) and the rest, which
// waits for more lines: an unfinished statement, or a string, quoted
// identifier or comment still open. rest is "" when nothing but blanks and
// comments follows the last ';'.
func Split(s string) (stmts []string, rest string) {
	toks, err := Scan(s)
	start, words := 0, false
	for _, t := range toks {
		if t.Kind != ';' {
			words = true
			continue
		}
		if words {
			stmts = append(stmts, strings.TrimSpace(s[start:t.At]))
		}
		start, words = t.End, false
	}
	if words || err != nil {
		rest = strings.TrimLeftFunc(s[start:], unicode.IsSpace)
	}
	return stmts, rest
}

// OneLine writes s on one line: comments dropped and every break between
// tokens a single space, tokens as written. A string literal that spans
// lines keeps its line breaks. Text that does not scan is returned as is.
func OneLine(s string) string {
	toks, err := Scan(s)
	if err != nil {
		return s
	}
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			gap := s[toks[i-1].End:t.At]
			if strings.Trim(gap, " \t") != "" {
				gap = " " // a line break or a comment
			}
			b.WriteString(gap)
		}
		b.WriteString(s[t.At:t.End])
	}
	return b.String()
}
