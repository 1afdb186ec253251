package duck

import (
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
)

// A failure to create the S3 secret says why, never with the credentials
// DuckDB's message may quote.
func TestRedactErr(t *testing.T) {
	err := &duckdb.Error{Type: duckdb.ErrorTypeInvalidInput, Msg: "Invalid Input Error: bad KEY_ID 'AKIAEXAMPLE' for SECRET 'sekrit'\n\nLINE 1: CREATE SECRET skein_s3 (TYPE s3, KEY_ID 'AKIAEXAMPLE', SECRET 'sekrit', SESSION_TOKEN 'tok')"}
	got := redactErr(err, "AKIAEXAMPLE", "sekrit", "tok", "").Error()
	for _, v := range []string{"AKIAEXAMPLE", "sekrit", "tok", "LINE 1"} {
		if strings.Contains(got, v) {
			t.Errorf("%q shows %q", got, v)
		}
	}
	if !strings.HasPrefix(got, "Invalid Input Error: bad KEY_ID '[redacted]'") {
		t.Errorf("%q lost DuckDB's reason", got)
	}
}
