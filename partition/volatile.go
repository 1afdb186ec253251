package partition

import "strings"

// What a task cannot evaluate for the query. A task of a split plan is a
// query of its own on its executor, so a function that DuckDB evaluates
// once per query, or once per row but differently in each query, gives
// each task its own value: SELECT count(DISTINCT current_query_id())
// would count the tasks. The instant (now(), current_date, ...) is taken
// once by the coordinator and bound into every task (now.go); any other
// such function, and any sample of rows (SAMPLE 10 ROWS in each task
// gives 10 rows per task), keeps the query on one node.

// volatile are DuckDB's functions, by lower-case name, that a task does
// not evaluate as the query would: those duckdb_functions() lists as
// VOLATILE or CONSISTENT_WITHIN_QUERY but the instant's (nowTypes, bound
// once), and the macros that call them (ago: current_timestamp; the
// error() aside, see evaluatedAlike). TestVolatileCoversDuckDB checks the
// list against DuckDB's own.
// getvariable and current_setting read the session, which on an executor
// is not the client's.
var volatile = map[string]bool{
	// VOLATILE.
	"current_connection_id": true, "current_query": true, "current_query_id": true,
	"current_transaction_id": true, "currval": true, "gen_random_uuid": true,
	"nextval": true, "random": true, "setseed": true, "sleep_ms": true, "stats": true,
	"uuid": true, "uuidv4": true, "uuidv7": true, "write_log": true,
	// CONSISTENT_WITHIN_QUERY, of the executor's query and catalog.
	"current_database": true, "current_schema": true, "current_schemas": true,
	"in_search_path": true, "txid_current": true,
	// Macros calling those.
	"ago": true, "current_catalog": true, "pg_conf_load_time": true, "pg_postmaster_start_time": true,
	"pg_sleep": true,
	// The session's.
	"getvariable": true, "current_setting": true,
}

// evaluatedAlike are the functions DuckDB lists VOLATILE that a task
// evaluates as the query does: error() raises the same error for the
// same row wherever it runs (DuckDB lists it so that its optimizer
// neither folds nor moves it). So the macros that validate their
// arguments with it (histogram, json_group_object) still split.
var evaluatedAlike = map[string]bool{"error": true}

// tableFunctionsAlike are the table functions every executor's DuckDB
// evaluates as the client's session would: their rows follow from their
// arguments and the files they read. Any other table function reads the
// session or its database (duckdb_variables(), duckdb_views(),
// duckdb_settings(), pragma_table_info(), summary(), which_secret(), ...),
// which on an executor is another: a join with duckdb_variables() after
// SET VARIABLE found no rows (found 2026-12-06). A table function not
// listed keeps its query on one node.
var tableFunctionsAlike = map[string]bool{
	"read_parquet": true, "parquet_scan": true, "read_csv": true, "read_csv_auto": true,
	"read_json": true, "read_json_auto": true, "read_ndjson": true, "read_ndjson_auto": true,
	"read_json_objects": true, "read_json_objects_auto": true, "read_ndjson_objects": true,
	"read_text": true, "read_blob": true, "glob": true, "sniff_csv": true,
	"parquet_metadata": true, "parquet_schema": true, "parquet_file_metadata": true,
	"parquet_kv_metadata": true, "parquet_full_metadata": true, "parquet_bloom_probe": true,
	"range": true, "generate_series": true, "unnest": true, "repeat": true, "repeat_row": true,
	"json_each": true, "json_tree": true,
}

// sessionTableFunction is the name of the table function n calls if it
// is not one of tableFunctionsAlike, else "".
func sessionTableFunction(n Node) string {
	if str(n, "type") != "TABLE_FUNCTION" {
		return ""
	}
	fn := child(n, "function")
	if name := str(fn, "function_name"); !tableFunctionsAlike[strings.ToLower(name)] || str(fn, "schema") != "" {
		return name
	}
	for _, c := range list(fn, "children") {
		if arg, _ := c.(map[string]any); str(arg, "type") == "COMPARE_EQUAL" && sessionOptions[strings.ToLower(columnName(child(arg, "left")))] {
			return str(fn, "function_name") + " with " + columnName(child(arg, "left"))
		}
	}
	return ""
}

// sessionOptions are the named parameters of the CSV reader that write
// into the session: the rows it rejects, kept in temporary tables
// (reject_errors, reject_scans) that a task's would keep on its executor,
// where the client's next query does not find them (a tester's).
var sessionOptions = map[string]bool{"store_rejects": true, "rejects_table": true, "rejects_scan": true}

// columnName is the one name of a column reference, else "".
func columnName(n Node) string {
	if str(n, "class") != "COLUMN_REF" {
		return ""
	}
	if cs := list(n, "column_names"); len(cs) == 1 {
		name, _ := cs[0].(string)
		return name
	}
	return ""
}

// volatileCall says n calls a function of volatile, under any schema
// (a function of that name elsewhere is taken to be as volatile). The
// instant's marker is not one: every task binds it to one value.
func volatileCall(n Node) bool {
	return str(n, "class") == "FUNCTION" && volatile[strings.ToLower(str(n, "function_name"))] && !isNowMarker(n)
}

// statisticsCall says n calls bitstring_agg with its column alone: DuckDB
// then takes the bitstring's range from the column's statistics, which
// the input of a plan's later step (an exchange's rows) does not have:
// its tasks failed "Could not retrieve required statistics" (a
// tester's). A task's own range would be another bitstring.
func statisticsCall(n Node) bool {
	return str(n, "class") == "FUNCTION" && strings.EqualFold(str(n, "function_name"), "bitstring_agg") && len(list(n, "children")) < 3
}

// unboundNow says n calls a function named as the instant's that bindNow
// left (nowCall: another schema's, or with arguments), which each task
// would evaluate.
func unboundNow(n Node) bool {
	_, ok := nowTypes[strings.ToLower(str(n, "function_name"))]
	return ok && str(n, "class") == "FUNCTION" && !isNowMarker(n)
}

// ownName is the alias or column n names if it is spelled as the columns
// a plan adds (skein_*, such as the sort keys of a top-N's partial
// results): "" if not. An alias skein_o0 met the sort key of that name in
// a merge ("duplicate column name").
func ownName(n Node) string {
	own := func(name string) bool { return len(name) >= 6 && strings.EqualFold(name[:6], "skein_") }
	if a := str(n, "alias"); own(a) {
		return a
	}
	if str(n, "class") == "COLUMN_REF" {
		if cs, ok := n["column_names"].([]any); ok && len(cs) > 0 {
			if c, _ := cs[len(cs)-1].(string); own(c) {
				return c
			}
		}
	}
	return ""
}

// checkDeterministic keeps local a query that anywhere (in a subquery, a
// join's input read by every task, a view inlined) calls a volatile
// function or a function of the instant not bound once, or samples rows:
// the parts of the plan that check their own expressions each see only
// theirs. So does a COLLATE: a step's output is Arrow, whose strings carry
// no collation, and the next step (a final aggregate, a merge's sort)
// compared them byte by byte (GROUP BY s COLLATE NOCASE gave 8 groups of
// 5, and a sort by it another order; found 2026-12-04). So does a name
// spelled as the plan's own columns (ownName). So does a table function
// of the session's (sessionTableFunction).
func checkDeterministic(root Node) error {
	var err error
	anyNode(root, func(n Node) bool {
		switch name := ownName(n); {
		case volatileCall(n):
			err = local("volatile function %s", str(n, "function_name"))
		case sessionTableFunction(n) != "":
			err = local("%s() reads the session or its database, which the executors do not share", sessionTableFunction(n))
		case unboundNow(n):
			err = local("%s, not bound once", str(n, "function_name"))
		case n["sample"] != nil:
			err = local("SAMPLE")
		case statisticsCall(n):
			err = local("%s without its minimum and maximum reads its column's statistics, which a step's input has not", str(n, "function_name"))
		case str(n, "class") == "COLLATE":
			err = local("COLLATE %s: a step's output carries no collation to the next", str(n, "collation"))
		case name != "":
			err = local("the name %s: the plan's own columns are named skein_*", name)
		}
		return err != nil
	})
	return err
}

// checkSessionFunctions keeps local a query that calls a function only
// the session has (sessionFunction says which: a TEMP macro), which the
// executors' DuckDBs do not: its tasks failed "Scalar Function with name
// dbl does not exist!" (found 2026-12-05).
func checkSessionFunctions(root Node, sessionFunction func(name string) bool) error {
	return checkNames(root, sessionFunction, func(n Node) string {
		if str(n, "class") == "FUNCTION" {
			return str(n, "function_name")
		}
		return ""
	}, "%s is the session's own function (a macro): the executors do not have it")
}

// checkSessionTypes keeps local a query that names a type the database
// created (sessionType says which: CREATE TYPE), which the executors'
// DuckDBs do not have: its tasks failed "Type with name hg_int does not
// exist" (found 2026-12-05).
func checkSessionTypes(root Node, sessionType func(name string) bool) error {
	return checkNames(root, sessionType, func(n Node) string {
		if str(n, "type") == "UNBOUND_TYPE_INFO" {
			return str(n, "name")
		}
		return ""
	}, "the type %s is the database's own (CREATE TYPE): the executors do not have it")
}

// checkNames keeps local a query with a node whose name (as nameOf reads
// it, "" for none) own says is not the executors', saying why.
func checkNames(root Node, own func(name string) bool, nameOf func(Node) string, why string) error {
	if own == nil {
		return nil
	}
	var err error
	anyNode(root, func(n Node) bool {
		if name := nameOf(n); name != "" && own(name) {
			err = local(why, name)
		}
		return err != nil
	})
	return err
}

// checkExchangeTypes keeps local a query that makes a value no exchange
// passes exactly, even where the answer holds none (count(DISTINCT v)):
//   - a VARIANT (a cast to a type holding one): DuckDB 1.5.5 exports none
//     to Arrow ("Unsupported Arrow type VARIANT");
//   - a UNION (union_value, a cast to a type holding one): Arrow's union
//     has no validity of its own, so a member that is NULL came back a
//     NULL union (GROUP BY u gave two groups of one), and its text, which
//     carries the other lossy types, cast back to its VARCHAR member or
//     failed (the reads tester's R2 and R4, 2026-12-05).
//
// A value of a column read from a file is neither (Parquet keeps a UNION
// as a STRUCT), but for the functions that take their result's types as
// text (typedByText: read_json's columns, from_json's structure), which
// keep the query local when a string they are given names a UNION. A
// type text the planner cannot see (built by an expression) makes the
// step that would pass the union fail instead (duck.ExchangeQuery).
func checkExchangeTypes(root Node) error {
	var err error
	anyNode(root, func(n Node) bool {
		switch {
		case castHolds(n, "VARIANT"):
			err = local("a VARIANT value, which DuckDB does not export to Arrow, cannot pass between nodes")
		case castHolds(n, "UNION"), str(n, "class") == "FUNCTION" && strings.EqualFold(str(n, "function_name"), "union_value"):
			err = local("a UNION value does not pass between nodes exactly (Arrow's union has no NULL of its own)")
		case str(n, "class") == "FUNCTION" && typedByText[strings.ToLower(str(n, "function_name"))] && typeArgs(n, unionText):
			err = local("a UNION value (typed by %s's text) does not pass between nodes exactly (Arrow's union has no NULL of its own)",
				str(n, "function_name"))
		}
		return err != nil
	})
	return err
}

// castHolds says n casts to a type of id id, or to one holding it.
func castHolds(n Node, id string) bool {
	return str(n, "class") == "CAST" && anyNode(child(n, "cast_type"), func(t Node) bool { return str(t, "id") == id })
}

// checkEmptyGroupings keeps local a query with a SELECT grouped by ()
// (GROUP BY (), GROUPING SETS (())) and no aggregate: one row whatever its
// input, which the planner, seeing no group and no aggregate, took for a
// projection (each task answered its own row, or its slice's rows were
// counted).
func checkEmptyGroupings(root Node, aggs Aggregates) error {
	if anyNode(root, func(n Node) bool {
		return str(n, "type") == "SELECT_NODE" && len(list(n, "group_expressions")) == 0 && len(list(n, "group_sets")) > 0 &&
			!containsAggregate([]any{n["select_list"], n["having"], n["modifiers"]}, aggs)
	}) {
		return local("GROUP BY () without aggregates: one row, whatever the input")
	}
	return nil
}

// checkRows keeps local a query that makes a row value ((a, b), row(a,
// b)): an unnamed struct, which an exchange that loads its input as a
// table cannot take ("A table cannot be created from an unnamed
// struct"), nor a merge cast back from text (its fields have no names to
// write); found by the differential test, 2026-12-05.
func checkRows(root Node) error {
	var err error
	anyNode(root, func(n Node) bool {
		if str(n, "class") == "FUNCTION" && strings.EqualFold(str(n, "function_name"), "row") {
			err = local("a row value (a, b) is an unnamed struct, which an exchange cannot load as a table")
		}
		return err != nil
	})
	return err
}

// typedByText are the functions, by lower-case name, whose result's
// types a string argument gives: the JSON readers' columns and
// structures, the CSV reader's column types.
var typedByText = map[string]bool{
	"from_json": true, "from_json_strict": true, "json_transform": true, "json_transform_strict": true,
	"read_json": true, "read_json_auto": true, "read_ndjson": true, "read_ndjson_auto": true,
	"read_csv": true, "read_csv_auto": true,
}

// typeArgs says pred holds of a node of n's arguments past its first:
// the first is the value or the files read (a path naming a union is no
// type: a file under .../european_union/ still splits).
func typeArgs(n Node, pred func(Node) bool) bool {
	args := list(n, "children")
	return len(args) > 1 && anyNode(args[1:], pred)
}

// unionText says n is a string constant that names a UNION type (or says
// "union" anywhere: the query then only runs local).
func unionText(n Node) bool {
	if str(n, "class") != "CONSTANT" {
		return false
	}
	v, _ := n["value"].(map[string]any)
	text, _ := v["value"].(string)
	return strings.Contains(strings.ToLower(text), "union")
}
