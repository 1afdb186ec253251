package duck

import "testing"

func TestParseCreateAs(t *testing.T) {
	for _, tc := range []struct {
		sql   string
		want  *CreateAs
		empty string // Empty("Q")
	}{
		{`CREATE TABLE t AS SELECT 'as' AS x /* as */`, &CreateAs{Table: "t", Name: "t", Query: `SELECT 'as' AS x`},
			"CREATE TABLE t AS Q WITH NO DATA"},
		{`create or replace table main."My T" as (select 1);`, &CreateAs{Table: `main."My T"`, Name: "My T", Query: "(select 1)", Replace: true},
			`create or replace table main."My T" as Q WITH NO DATA`},
		{"CREATE TABLE IF NOT EXISTS db.s.t (a, b) AS FROM x WITH NO DATA",
			&CreateAs{Table: "db.s.t", Name: "t", Query: "FROM x", IfNotExists: true, NoData: true},
			"CREATE TABLE  db.s.t (a, b) AS Q WITH NO DATA"},
		{"CREATE TEMP TABLE t AS SELECT 1 WITH DATA", &CreateAs{Table: "t", Name: "t", Query: "SELECT 1", Temporary: true},
			"CREATE TEMP TABLE t AS Q WITH NO DATA"},
		{"CREATE TABLE t (a INTEGER)", nil, ""},
		{"CREATE TABLE t AS", nil, ""},
		{"CREATE VIEW v AS SELECT 1", nil, ""},
		{"CREATE TABLE t AS SELECT 1; SELECT 2", nil, ""},
		{"CREATE TABLE IF EXISTS t AS SELECT 1", nil, ""},
		{"CREATE TABLE t.  AS SELECT 1", nil, ""},
		{"INSERT INTO t SELECT 1", nil, ""},
	} {
		got, ok := ParseCreateAs(tc.sql)
		if ok != (tc.want != nil) {
			t.Errorf("ParseCreateAs(%q): ok %v", tc.sql, ok)
			continue
		}
		if !ok {
			continue
		}
		if e := got.Empty("Q"); e != tc.empty {
			t.Errorf("ParseCreateAs(%q).Empty = %q, want %q", tc.sql, e, tc.empty)
		}
		got.head = ""
		if got != *tc.want {
			t.Errorf("ParseCreateAs(%q) = %+v, want %+v", tc.sql, got, *tc.want)
		}
	}
}
