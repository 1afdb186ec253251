// Package partition decides how a query runs across executors, in pure Go
// on DuckDB's JSON AST (json_serialize_sql). It proves a query safe to
// split or leaves it local, and writes the per-task and merge queries as
// ASTs (for json_deserialize_sql): a scan's read_parquet becomes a slice of
// one file's row groups or of several whole files read together (Coalesce:
// a task's fixed cost paid once for them; a CSV or JSON scan that fixes its
// format, one file), read as the whole scan's first file when the files differ in
// schema (readas.go); an aggregate becomes partial aggregates per slice and a final
// aggregate over them (AVG as SUM over COUNT); views and CTEs are inlined
// first, from their definitions, so a view over files splits like the
// files. It never searches or splices SQL text: a view's CREATE statement
// is read by a lexer of its header tokens, and its query parsed by DuckDB.
//
// With exchanges between executors (Env.Exchanges), a query becomes a Plan:
// typed Stages connected by shuffle, broadcast and gather exchanges, one
// rule a file: stage.go (the plan, aggregates finished after a shuffle by
// group key, rows shuffled for aggregates that do not decompose and for
// windows, uncorrelated subqueries computed once and broadcast), join.go
// (join inputs co-partitioned or broadcast), inplace.go (small Parquet
// join inputs read by every join task itself, as the query names them,
// rather than broadcast), ownrows.go (a HAVING
// subquery over the query's own rows answered from its partial
// aggregates), keyset.go (a split scan joined to a broadcast input by the
// key its correlated subquery over the same files correlates on, TPC-H
// Q17: the files' rows with a key in the input computed once, in slices,
// and both read from them by one task), decorrelate.go (a correlated
// scalar SUM, MIN or MAX by equalities with the query's columns, TPC-H
// Q20, rewritten as DuckDB decorrelates it: the aggregate grouped by the
// correlated columns joined to the query's rows), aggleaf.go (a join
// input that is an aggregating FROM subquery planned as partial and
// final aggregates on the executors, the final step in the join when
// DuckDB expects few groups), setop.go (set operations),
// cte.go (WITH seen through; one read more than once computed once and
// broadcast to its readers), fuse.go (two stages of one task each joined
// by a shuffle or a range partitioning run as one), subhere.go (a
// subquery over WITH results its reader holds whole evaluated by the
// reader, not by a stage of its own), finalhere.go (the
// coordinator's merge with the last stage's query in it, which the
// coordinator runs over the producers' partitions instead of that stage
// when they gave few rows), ranges.go,
// rangejoin.go and rangeagg.go (files sorted by a key: a split scan cut
// by ranges of it from Parquet statistics, inputs equal to it read in
// each slice's range, GROUP BY of it finished in each slice; rangeagg.go
// also finishes a GROUP BY of a co-partitioned join's key in each
// partition; and a GROUP BY of a column the split scan of a join is
// clustered by, in each of its key ranges), eager.go (an aggregate over
// a join computed below the join, by the one column that joins the
// split scan's side to large broadcast inputs, which are then split
// themselves), eagerleft.go (the same below an outer join: COUNT, SUM,
// MIN, MAX of the null-supplying side's columns by its one join column,
// TPC-H Q13's count of orders, a plan that pays however few rows the
// query reads), prune.go (the slices whose Parquet statistics prove the
// filter rejects every row dropped: a point lookup reads one row group,
// a date range in files written by date the row groups of its dates),
// distincton.go (SELECT DISTINCT ON as a top-1 per group: each slice's,
// then the same over them), distinctgroups.go (SELECT DISTINCT read as a
// GROUP BY: a DISTINCT FROM subquery, and DISTINCT over a GROUP BY as a
// GROUP BY of its output), aggfilter.go (an aggregate's FILTER kept on
// its partials), argmax.go (arg_max and its kin: each slice's, with the
// value it was found at),
// whole.go (the query as written, views inlined, for one task to run
// whole where splitting cannot pay), literals.go (the constants of a
// WHERE's comparisons marked, so that a plan's cache key counts them by
// type and its task SQL takes them as parameters: a lookup with a new key
// reuses its plan), now.go (now(), current_date and their kin, the
// query's instant, made a marker at analysis and a parameter of the SQL
// the coordinator ships, bound to the instant it takes once per run),
// unnamed.go (a FROM subquery without an alias given the name DuckDB
// gives it, unnamed_subquery, unnamed_subquery2, ..., so that it plans
// as a named one does).
// Each stage's query is an AST over its slice and the TEMP tables its
// inputs are loaded into; the executors run it.
package partition
