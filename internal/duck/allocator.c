// DuckDB's allocator, jemalloc, keeps the address space of the memory it
// frees to reuse it (its option retain, on by default on Linux), and
// RLIMIT_DATA (--process-memory-limit) counts that address space: a query
// that failed Out of Memory left the coordinator mapping 4.8 GB of its 6 GB
// for 77 MB resident, and the next threads the Go runtime or DuckDB started
// could not map their stacks, ending the process (a tester's). jemalloc
// reads this string after DuckDB's own settings; the symbol is weak in
// DuckDB's library, so this definition is the one linked.
const char *duckdb_je_malloc_conf_2_conf_harder = "retain:false";
