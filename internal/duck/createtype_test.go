package duck

import (
	"context"
	"testing"
)

// A type created by SQL may not name another composite type created by
// SQL (a chain of them nested 20,000 deep ended the server, one doubling
// at each step took gigabytes): written in full it may, and it may name an
// ENUM created by SQL, or have a field named like a type.
func TestCreatedTypesNameNoCompositeType(t *testing.T) {
	_, c := openWith(t, Config{})
	ctx := context.Background()
	for _, q := range []string{
		"CREATE TYPE mood AS ENUM ('sad', 'ok')",
		"CREATE TYPE addr AS STRUCT(street VARCHAR, city VARCHAR)",
		"CREATE TYPE person AS STRUCT(name VARCHAR, m mood, tags VARCHAR[], home STRUCT(street VARCHAR, city VARCHAR))",
		"CREATE TYPE shelf AS STRUCT(addr VARCHAR, \"person\" INTEGER)", // fields named like a type
		"CREATE TYPE moods AS mood[]",
		"CREATE TYPE kinds AS ENUM ()",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	wantRefused(t, c, KindInvalid, "composite type created by SQL",
		"CREATE TYPE p2 AS STRUCT(name VARCHAR, home addr)",
		"CREATE TYPE p2 AS addr[]",
		"CREATE OR REPLACE TEMP TYPE p2 AS MAP(VARCHAR, \"addr\")",
		"CREATE TYPE p2 AS UNION(a INTEGER, b person)",
		"CREATE TYPE p2 AS STRUCT(x STRUCT(y main.addr))")
	if _, err := c.Exec(ctx, "SELECT NULL::p2"); err == nil {
		t.Error("a refused type was created")
	}
	// An ENUM of a query's rows: DuckDB builds it in one call no timeout
	// stops (twenty million rows held a core for over a minute).
	wantRefused(t, c, KindInvalid, "members from a query are refused",
		"CREATE TYPE kinds AS ENUM (SELECT 'x')",
		"CREATE OR REPLACE TYPE kinds AS ENUM ((SELECT 'v' || range FROM range(20000000)))",
		"create temp type kinds as enum (from range(3) select range::varchar)")
}
