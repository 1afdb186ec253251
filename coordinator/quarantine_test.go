package coordinator

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// A text whose task ended executors is refused for quarantineFor, and
// only that text.
func TestQuarantineRefusesTheTextForAWhile(t *testing.T) {
	now := time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)
	q := newQuarantine()
	q.now = func() time.Time { return now }
	const sql = "SELECT json_structure(j) FROM read_parquet('deep.parquet')"
	if err := q.check(sql); err != nil {
		t.Fatal(err)
	}
	q.add(sha256.Sum256([]byte(sql)), "q1", []string{"e1", "e2"})
	err := q.check(sql)
	if err == nil || !strings.Contains(err.Error(), "e1, e2") || !strings.Contains(err.Error(), "q1") {
		t.Fatalf("refused text: %v", err)
	}
	if err := q.check(sql + " "); err != nil {
		t.Fatalf("another text: %v", err)
	}
	now = now.Add(quarantineFor + time.Second)
	if err := q.check(sql); err != nil {
		t.Fatalf("after %s: %v", quarantineFor, err)
	}
}
