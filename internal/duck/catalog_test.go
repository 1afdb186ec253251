package duck

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestCatalogVersion: SELECTs leave every connection's catalog version
// where it was; DDL, SET and a transaction's statements on one connection
// move every connection's on and give that one a version of its own.
func TestCatalogVersion(t *testing.T) {
	db, a, _ := openTest(t)
	ctx := context.Background()
	b, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	query := func(c *Conn, q string) {
		t.Helper()
		st, err := c.Prepare(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		r, err := st.Query(ctx, memory.DefaultAllocator, nil, BatchSize{})
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
		}
		r.Release()
	}
	exec := func(c *Conn, q string) {
		t.Helper()
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	va, vb := a.CatalogVersion(), b.CatalogVersion()
	if va != vb {
		t.Fatalf("two connections that ran nothing: versions %v and %v, want one", va, vb)
	}
	query(a, "SELECT 42")
	if v := a.CatalogVersion(); v != va {
		t.Fatalf("a SELECT moved the version from %v to %v", va, v)
	}
	for _, q := range []string{"CREATE VIEW v AS SELECT 1 AS x", "CREATE OR REPLACE VIEW v AS SELECT 2 AS x",
		"SET search_path = 'main'", "BEGIN TRANSACTION", "DROP VIEW v", "ROLLBACK"} {
		before := b.CatalogVersion()
		exec(a, q)
		if v := b.CatalogVersion(); v == before {
			t.Errorf("%s on another connection left the version at %v", q, v)
		}
		if a.CatalogVersion() == b.CatalogVersion() {
			t.Errorf("after %s the connection that ran it shares its version with one that did not", q)
		}
	}
	vb = b.CatalogVersion()
	query(b, "SELECT * FROM v")
	if v := b.CatalogVersion(); v != vb {
		t.Fatalf("a SELECT of a view moved the version from %v to %v", vb, v)
	}
}
