package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/rs/zerolog"
)

// A process's memory is more than DuckDB's --memory-limit: that limit
// bounds DuckDB's buffer pool, while a value DuckDB builds in one call
// (a constant folded while a statement is prepared, like
// list_resize([1], 300000000) or repeat('x', 3e9)) is allocated beside
// it, uncounted and out of an interrupt's reach. One client's query then
// took a coordinator of --memory-limit 1GB to 16.8 GB, and a larger one
// would have it killed by the kernel, every other client's queries with
// it. --process-memory-limit bounds the memory the process maps for data
// (RLIMIT_DATA): an allocation past it fails, DuckDB reports that as the
// query's out-of-memory error (or, for a constant it was folding, leaves
// the expression to be computed as the query runs, in its buffer pool),
// and the process serves on.

// minProcessMemory is the least limit accepted: what a process maps
// before it serves (the Go runtime, DuckDB's allocator, thread stacks)
// is about half a gigabyte.
const minProcessMemory = 1 << 30

// processMemoryUsage is --process-memory-limit's help.
const processMemoryUsage = "the most memory this process may map for its data (RLIMIT_DATA), e.g. 8GB: past it an allocation DuckDB makes fails and the query making it ends with an out-of-memory error, where the process would otherwise grow until the kernel kills it (what DuckDB builds outside --memory-limit, like a huge constant); an allocation of the Go runtime past it ends the process, so leave room above DuckDB's --memory-limit (mapped memory runs ahead of resident); auto: the machine's memory; 0: no limit"

// processMemoryFlag registers --process-memory-limit on fs.
func processMemoryFlag(fs *flag.FlagSet) *string {
	return fs.String("process-memory-limit", "auto", processMemoryUsage)
}

// processMemoryLimit resolves the flag's value to bytes (0: none);
// machine is the machine's memory, 0 if unknown. The automatic limit is
// the machine's memory: what mapped memory past it asks for, the kernel
// would end the process (or another) for, and under it the limit refuses
// nothing. A limit nearer what a process should use is the operator's to
// set: mapped memory stays above resident once an allocator has had a
// peak (Go's heap and DuckDB's allocator keep their mappings), 3.07 GB
// mapped for 2 GB resident in an idle executor after wide rows.
// auto says the value was the automatic one.
func processMemoryLimit(value string, machine int64) (n int64, auto bool, err error) {
	switch v := strings.TrimSpace(strings.ToLower(value)); v {
	case "0", "off", "none":
		return 0, false, nil
	case "", "auto":
		return machine, true, nil
	}
	if n, err = parseMemory(value); err != nil {
		return 0, false, fmt.Errorf("--process-memory-limit %q: %w", value, err)
	}
	if n < minProcessMemory {
		return 0, false, fmt.Errorf("--process-memory-limit %q: under the 1 GiB a process needs to serve (0 sets no limit)", value)
	}
	return n, false, nil
}

// applyProcessMemory resolves and sets the process's limit, and logs it;
// threads are the DuckDB threads the process will start (--threads, for
// each DuckDB it runs, 0 as one per core).
func applyProcessMemory(value string, threads int, log zerolog.Logger) error {
	machine := machineMemory()
	l, auto, err := processMemoryLimit(value, machine)
	if err != nil || l == 0 {
		return err
	}
	if err := threadsFit(threads, threadStack(), l); err != nil {
		return err
	}
	set, err := setDataLimit(l)
	if err != nil {
		if auto {
			log.Warn().Err(err).Msg("no process memory limit set")
			return nil
		}
		return fmt.Errorf("--process-memory-limit: %w", err)
	}
	reserved := reserveGoHeap(min(goReserve, set/4), set)
	log.Info().Int64("process_memory_limit", set).Int64("machine_memory", machine).Int64("go_heap_reserved", reserved).
		Msg("process memory limit set (RLIMIT_DATA)")
	return nil
}

// threadsFit refuses more DuckDB threads than the process memory limit
// holds the stacks of (each stack bytes: glibc maps a thread's stack at
// the stack limit, RLIMIT_STACK, 8 MiB here), with room for the rest: a
// thread DuckDB could not start, its stack refused by the limit, ended
// the process with SIGSEGV (--threads 2000 under the automatic limit of
// 24 GiB; a tester's).
func threadsFit(threads int, stack, limit int64) error {
	if stacks := int64(threads) * stack; threads > 0 && stack > 0 && stacks > limit/2 {
		return fmt.Errorf("--threads: %d DuckDB threads map %d MiB of stacks (%d MiB each, the stack limit), more than half of the process memory limit of %d MiB: "+
			"give fewer threads, or a higher --process-memory-limit", threads, stacks>>20, stack>>20, limit>>20)
	}
	return nil
}

// goReserve is the most Go heap mapped in advance under a process memory
// limit (reserveGoHeap), at most a quarter of the limit: about what an
// executor's Go heap holds with its default spool budget (256 MiB) and
// the frames and batches in flight beside it.
const goReserve = 512 << 20

// parseMemory reads a size as DuckDB's memory_limit does: a number and a
// unit, KB, MB, GB, TB in powers of 1000 and KiB, MiB, GiB, TiB in powers
// of 1024 (B, K, M, G, T, and the words kilobyte ... terabyte too).
func parseMemory(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	if i == 0 || s == "" {
		return 0, fmt.Errorf("%q is not a size like 8GB or 512MiB", s)
	}
	if i < 0 {
		return 0, fmt.Errorf("%q has no unit: say KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB", s)
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size like 8GB or 512MiB", s)
	}
	unit := strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := memoryUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024)", s, s[i:])
	}
	b := n * mult
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(b), nil
}

var memoryUnits = func() map[string]float64 {
	m := map[string]float64{"b": 1, "byte": 1, "bytes": 1}
	for i, names := range [][]string{{"k", "kb", "kilobyte"}, {"m", "mb", "megabyte"}, {"g", "gb", "gigabyte"}, {"t", "tb", "terabyte"}} {
		dec, bin := math.Pow(1000, float64(i+1)), math.Pow(1024, float64(i+1))
		for _, n := range names {
			m[n] = dec
		}
		m[names[1]+"s"] = dec
		m[names[2]+"s"] = dec
		m[names[0]+"ib"] = bin
	}
	return m
}()
