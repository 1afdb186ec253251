package duck

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
)

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

// The names SQL created are remembered in constant space each: a client
// that created and dropped macros of distinct megabyte names grew the
// coordinator by 1.3 MB a statement, never given back (a tester's).
func TestCreatedNamesTakeLittleMemory(t *testing.T) {
	var set nameSet
	set.add("Abs")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 64 {
		set.add(strings.Repeat(string(rune('a'+i%26)), 1<<20) + strconv.Itoa(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Fatalf("64 names of a megabyte each kept %d MB", grew>>20)
	}
	if !set.has("ABS") || !set.has(strings.Repeat("c", 1<<20)+"2") || set.has("abs2") {
		t.Fatal("the set does not answer for the names it holds")
	}
}
