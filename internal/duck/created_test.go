package duck

import "testing"

// The names CREATE statements create, as the guard records them for the
// planner (NoteUserFunctions, NoteUserTypes): the name, not a word after
// it ("CREATE TYPE wide AS BIGINT" once recorded bigint as a type).
func TestCreatedNames(t *testing.T) {
	for _, c := range []struct{ sql, kind, want string }{
		{"CREATE TYPE wide AS BIGINT", "type", "wide"},
		{"CREATE TYPE mood AS ENUM ('a', 'b')", "type", "mood"},
		{"CREATE OR REPLACE TEMP MACRO main.abs(x) AS x", "macro", "abs"},
		{"create temporary function IF NOT EXISTS \"Dbl\"(x) AS x * 2", "function", "dbl"},
		{`CREATE SCHEMA "cat"."Sch"`, "schema", "sch"},
		{"CREATE TABLE t AS SELECT 1", "type", ""},
	} {
		stmts, err := lexSQL(c.sql)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := created(stmts[0], c.kind); got != c.want {
			t.Errorf("%s: %q, want %q", c.sql, got, c.want)
		}
	}
}
