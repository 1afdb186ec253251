package duck

import (
	"context"
	"strings"
	"testing"
)

// TestQueryText runs one query text over and over with other arguments,
// on one prepared statement, and refuses a value that is not a VARCHAR.
func TestQueryText(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	const q = "SELECT json_serialize_sql($1::VARCHAR)::VARCHAR"
	for _, sql := range []string{"SELECT 1", "SELECT 2 AS two", "SELECT 1"} {
		got, err := c.QueryText(ctx, q, sql)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.QueryText(ctx, "SELECT json_deserialize_sql($1::JSON)", got)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(back, sql) {
			t.Errorf("%s: serialized and back gives %q", sql, back)
		}
	}
	if len(c.kept) != 2 {
		t.Errorf("%d statements kept for 2 query texts", len(c.kept))
	}
	if _, err := c.QueryText(ctx, "SELECT 42"); err == nil {
		t.Error("an INTEGER was read as a VARCHAR")
	}
	if _, err := c.QueryText(ctx, "SELECT NULL::VARCHAR"); err == nil {
		t.Error("NULL was read as a VARCHAR")
	}
}
