package executor

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/partition"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// member is one executor of a test cluster and a client of it.
type member struct {
	e  *Executor
	cl flight.Client
}

func startCluster(t *testing.T, n int, spoolMemory int64) []member {
	t.Helper()
	secret := cluster.NewSecret()
	ms := make([]member, n)
	for i := range ms {
		ms[i].e, ms[i].cl, _ = startMember(t, secret, spoolMemory)
	}
	return ms
}

func sign(t *testing.T, e *Executor, task cluster.Task) string {
	t.Helper()
	if task.Query == "" {
		task.Query = "q"
	}
	task.User = "u"
	h, err := e.cfg.Secret.SignTask(task)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// readAll reads a ticket's stream: its schema and rows as strings.
func readAll(ctx context.Context, cl flight.Client, ticket []byte) (*arrow.Schema, [][]string, error) {
	stream, err := cl.DoGet(ctx, &flight.Ticket{Ticket: ticket})
	if err != nil {
		return nil, nil, err
	}
	r, err := flight.NewRecordReader(stream)
	if err != nil {
		return nil, nil, err
	}
	defer r.Release()
	var out [][]string
	for r.Next() {
		rec := r.RecordBatch()
		for i := range int(rec.NumRows()) {
			row := make([]string, rec.NumCols())
			for j, c := range rec.Columns() {
				row[j] = c.ValueStr(i)
			}
			out = append(out, row)
		}
	}
	return r.Schema(), out, r.Err()
}

// run redeems a plain task's ticket at m.
func runTask(t *testing.T, m member, handle string) [][]string {
	t.Helper()
	tk, err := cluster.TaskTicket(handle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, rows, err := readAll(ctx, m.cl, tk)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// runAll redeems tasks at once, task i at ms[i%len(ms)].
func runAll(t *testing.T, ms []member, handles []string) [][][]string {
	t.Helper()
	out := make([][][]string, len(handles))
	errs := make([]error, len(handles))
	var wg sync.WaitGroup
	for i, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk, err := cluster.TaskTicket(h)
			if err != nil {
				errs[i] = err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, out[i], errs[i] = readAll(ctx, ms[i%len(ms)].cl, tk)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	return out
}

// drained waits until no executor holds spooled bytes or spool files.
func drained(t *testing.T, ms []member) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		held := ""
		for i, m := range ms {
			// Idle partition buffers stay, within a quarter of the budget.
			s := m.e.spools
			s.mu.Lock()
			mem, shuffle, disk, idle := s.mem-s.pooled, s.shuffle, s.disk, s.pooled
			s.mu.Unlock()
			files, _ := os.ReadDir(s.dir)
			if mem != 0 || shuffle != 0 || disk != 0 || len(files) != 0 || idle > s.memBudget/4 {
				held += fmt.Sprintf(" executor %d: %d bytes in memory (%d of partitions), %d on disk, %d files, %d idle;",
					i, mem, shuffle, disk, len(files), idle)
			}
		}
		if held == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("spools still hold data after every partition was read:" + held)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const shuffleRows = 300_000

// producers are two tasks over halves of range(shuffleRows), at ms[0] and
// ms[1], partitioned by k into parts.
func producers(t *testing.T, ms []member, parts int) []cluster.Source {
	return codedProducers(t, ms, parts, "", 100)
}

// codedProducers are producers numbered from first whose partitions are
// compressed with codec.
func codedProducers(t *testing.T, ms []member, parts int, codec string, first int) []cluster.Source {
	t.Helper()
	var srcs []cluster.Source
	for i := range 2 {
		m := ms[i%len(ms)]
		h := sign(t, m.e, cluster.Task{Task: first + i, Executor: m.e.ID(), Partitions: parts, Codec: codec,
			SQL: fmt.Sprintf(`SELECT range %% 1000 AS k, range AS v, hash(range %% 1000) %% %d AS skein_part
FROM range($2, $3) WHERE $1::VARCHAR = 'x'`, parts),
			Slice: partition.Slice{File: "x", First: int64(i) * shuffleRows / 2, Last: int64(i+1) * shuffleRows / 2}})
		srcs = append(srcs, cluster.Source{Handle: h, Locations: []string{m.e.URI()}})
	}
	return srcs
}

// Two producers hash-partition their rows three ways; three consumers each
// read their partition from both and aggregate it: together they give
// DuckDB's single-node answer, each group from one consumer only, and the
// spools are empty once every partition is read. The consumers load their
// input into a table, or scan it (Input.Stream) from memory, or, beyond
// what they hold, load it with the rows held first.
func TestShuffle(t *testing.T) {
	for _, c := range []struct {
		name   string
		memory int64
		stream bool
		held   int64
	}{{"in memory", 64 << 20, false, 0}, {"spilled", 1, false, 0}, {"streamed", 64 << 20, true, streamHeld},
		{"streamed beyond what is held", 1, true, 1}} {
		t.Run(c.name, func(t *testing.T) {
			ms := startCluster(t, 2, c.memory)
			for _, m := range ms {
				m.e.holdMax = c.held
			}
			srcs := producers(t, ms, 3)
			start(t, ms[0].cl, srcs[0].Handle)
			start(t, ms[1].cl, srcs[1].Handle)
			consumeShuffle(t, ms, srcs, c.stream)
			for i, m := range ms {
				for _, r := range finished(t, m.e, 2) {
					if r.Task >= 100 && (r.Error != "" || r.Rows != shuffleRows/2) {
						t.Fatalf("executor %d: producer report %+v", i, r)
					}
				}
			}
			drained(t, ms)
		})
	}
}

// consumeShuffle runs three consumers of the producers' partitions, each
// aggregating its own, and checks that together they give DuckDB's
// single-node answer, each group from one consumer only.
func consumeShuffle(t *testing.T, ms []member, srcs []cluster.Source, stream bool) {
	t.Helper()
	var consumers []string
	for r := range 3 {
		m := ms[r%2]
		consumers = append(consumers, sign(t, m.e, cluster.Task{Task: r, Executor: m.e.ID(),
			SQL:    "SELECT k, count(*) AS n, sum(v) AS s FROM x GROUP BY k",
			Inputs: []cluster.Input{{Table: "x", Part: r, Sources: srcs, Stream: stream}}}))
	}
	got := map[string]string{}
	for r, rows := range runAll(t, ms, consumers) {
		if len(rows) == 0 {
			t.Fatalf("consumer %d got no groups", r)
		}
		for _, row := range rows {
			if _, dup := got[row[0]]; dup {
				t.Fatalf("group %s in two partitions", row[0])
			}
			got[row[0]] = row[1] + " " + row[2]
		}
	}
	single := runTask(t, ms[0], sign(t, ms[0].e, cluster.Task{Task: 9, Executor: ms[0].e.ID(),
		SQL: fmt.Sprintf("SELECT range %% 1000 AS k, count(*), sum(range) FROM range(%d) GROUP BY k", shuffleRows)}))
	if len(single) != len(got) {
		t.Fatalf("%d groups, DuckDB says %d", len(got), len(single))
	}
	for _, row := range single {
		if want := row[1] + " " + row[2]; got[row[0]] != want {
			t.Fatalf("group %s: %q, DuckDB says %q", row[0], got[row[0]], want)
		}
	}
}

// bothSpools runs f on a cluster of two executors whose spools hold
// results in memory, and on one whose spools spill them all to disk.
func bothSpools(t *testing.T, f func(t *testing.T, ms []member)) {
	for _, c := range []struct {
		name   string
		memory int64
	}{{"in memory", 64 << 20}, {"spilled", 1}} {
		t.Run(c.name, func(t *testing.T) { f(t, startCluster(t, 2, c.memory)) })
	}
}

// A producer given a codec spools its partitions compressed (in memory and
// spilled alike): the same rows in fewer bytes, which its consumers read
// back exactly.
func TestShuffleCompressed(t *testing.T) {
	bothSpools(t, func(t *testing.T, ms []member) {
		sizes := map[string]int64{}
		for i, codec := range []string{"", skeinsql.CodecZstd, skeinsql.CodecLZ4} {
			srcs := codedProducers(t, ms, 3, codec, 100+10*i)
			start(t, ms[0].cl, srcs[0].Handle)
			start(t, ms[1].cl, srcs[1].Handle)
			finished(t, ms[0].e, i+1)
			finished(t, ms[1].e, i+1)
			for _, m := range ms {
				u := m.e.Spooled()
				sizes[codec] += u.Memory + u.Disk
			}
			consumeShuffle(t, ms, srcs, false)
			drained(t, ms)
			for _, m := range ms { // the consumers' reports
				m.e.mu.Lock()
				m.e.done = slices.DeleteFunc(m.e.done, func(r cluster.TaskReport) bool { return r.Task < 100 })
				m.e.mu.Unlock()
			}
		}
		for _, codec := range []string{skeinsql.CodecZstd, skeinsql.CodecLZ4} {
			t.Logf("%s: %d bytes spooled, %d plain", codec, sizes[codec], sizes[""])
			if sizes[codec] <= 0 || sizes[codec]*10 > sizes[""]*7 {
				t.Fatalf("%s: the partitions took %d bytes, %d plain: want under 70%%", codec, sizes[codec], sizes[""])
			}
		}
	})
}

// A broadcast is one partition read whole by every consumer; its frames
// stay until the last has read them.
func TestBroadcast(t *testing.T) {
	bothSpools(t, func(t *testing.T, ms []member) {
		p := ms[0]
		h := sign(t, p.e, cluster.Task{Task: 100, Executor: p.e.ID(), Partitions: 1, Readers: 3,
			SQL: "SELECT range AS d, range * 10 AS w, 0 AS skein_part FROM range(200000)"})
		start(t, p.cl, h)
		src := []cluster.Source{{Handle: h, Locations: []string{p.e.URI()}}}
		var consumers []string
		for r := range 3 {
			m := ms[(r+1)%2]
			consumers = append(consumers, sign(t, m.e, cluster.Task{Task: r, Executor: m.e.ID(),
				SQL:    fmt.Sprintf("SELECT count(*), sum(w) FROM b WHERE d %% 3 = %d OR true", r),
				Inputs: []cluster.Input{{Table: "b", Sources: src}}}))
		}
		for r, rows := range runAll(t, ms, consumers) {
			if len(rows) != 1 || rows[0][0] != "200000" || rows[0][1] != "199999000000" {
				t.Fatalf("consumer %d: %v", r, rows)
			}
		}
		// The producer's run is recorded as it returns, which may be
		// after its consumers have read it.
		runs := 0
		for deadline := time.Now().Add(10 * time.Second); runs == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			p.e.mu.Lock()
			runs = 0
			for _, r := range p.e.done {
				if r.Task == 100 {
					runs++
				}
			}
			p.e.mu.Unlock()
		}
		if runs != 1 {
			t.Fatalf("the broadcast ran %d times", runs)
		}
		drained(t, ms)
	})
}

// A broadcast input the consumer's SQL reads once reaches DuckDB's planner
// with its row count, scanned from memory or, beyond what the consumer
// holds, loaded into a table: streamed without it, DuckDB guessed one row
// and joined TPC-H Q9's 800,000 rows of partsupp on the wrong side (its
// join task's CPU 384 -> 690 ms on one thread).
func TestStreamedInputIsPlannedWithItsRows(t *testing.T) {
	for _, c := range []struct {
		name string
		held int64
	}{{"held", streamHeld}, {"loaded beyond what is held", 1}} {
		t.Run(c.name, func(t *testing.T) {
			ms := startCluster(t, 1, 64<<20)
			m := ms[0]
			m.e.holdMax = c.held
			h := sign(t, m.e, cluster.Task{Task: 100, Executor: m.e.ID(), Partitions: 1,
				SQL: "SELECT range AS d, 0 AS skein_part FROM range(200000)"})
			start(t, m.cl, h)
			rows := runTask(t, m, sign(t, m.e, cluster.Task{Task: 0, Executor: m.e.ID(),
				SQL:    "EXPLAIN (FORMAT json) SELECT d FROM b",
				Inputs: []cluster.Input{{Table: "b", Stream: true, Sources: []cluster.Source{{Handle: h, Locations: []string{m.e.URI()}}}}}}))
			if len(rows) != 1 || !strings.Contains(rows[0][1], `"Estimated Cardinality": "200000"`) {
				t.Fatalf("the input's plan has not its 200,000 rows: %v", rows)
			}
			drained(t, ms)
		})
	}
}

// A partition no row goes to still has its schema: its consumer gets an
// empty table of the right columns. Its ticket read once more runs the
// producer again for that reader; a producer read whole, or a partition
// out of range, is refused.
func TestEmptyPartitionAndRefusedReads(t *testing.T) {
	ms := startCluster(t, 1, 64<<20)
	m := ms[0]
	h := sign(t, m.e, cluster.Task{Task: 100, Executor: m.e.ID(), Partitions: 3,
		SQL: "SELECT range AS v, 'a' || range AS s, 0::TINYINT AS skein_part FROM range(1000)"})
	ctx := context.Background()
	for part, want := range []int{1000, 0, 0} {
		tk, err := cluster.PartitionTicket(h, part)
		if err != nil {
			t.Fatal(err)
		}
		schema, rows, err := readAll(ctx, m.cl, tk)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != want || schema.NumFields() != 2 || schema.Field(0).Name != "v" || schema.Field(1).Name != "s" {
			t.Fatalf("partition %d: %d rows, schema %s", part, len(rows), schema)
		}
	}
	consumer := sign(t, m.e, cluster.Task{Task: 1, Executor: m.e.ID(),
		SQL: "SELECT count(*), typeof(any_value(v)), typeof(any_value(s)) FROM x",
		Inputs: []cluster.Input{{Table: "x", Part: 2, Sources: []cluster.Source{{Handle: h,
			Locations: []string{m.e.URI()}}}}}})
	// Partition 2 was read by its one reader: this read runs the producer
	// again.
	if rows := runTask(t, m, consumer); len(rows) != 1 || rows[0][0] != "0" || rows[0][1] != "BIGINT" || rows[0][2] != "VARCHAR" {
		t.Fatalf("consumer of an empty partition: %v", rows)
	}
	for _, c := range []struct {
		name   string
		ticket func() ([]byte, error)
	}{
		{"whole", func() ([]byte, error) { return cluster.TaskTicket(h) }},
		{"out of range", func() ([]byte, error) { return cluster.PartitionTicket(h, 3) }},
		{"not a producer", func() ([]byte, error) { return cluster.PartitionTicket(consumer, 0) }},
	} {
		tk, err := c.ticket()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := readAll(ctx, m.cl, tk); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	drained(t, ms)
}

// A producer whose executor is gone is run by the next location, which was
// never told to start it; one whose every location is gone (its executor
// and its alternate both died) by the consumer's own executor. The
// consumer's answer is the same.
func TestConsumerFetchesFromTheAlternate(t *testing.T) {
	deadURI := func() string {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer lis.Close()
		return "grpc://" + lis.Addr().String()
	}
	for _, c := range []struct {
		name  string
		alive bool // the second location is ms[1], else gone too
		ranAt int  // where the producers run
		// told: the first location is a host that accepts connections
		// and answers nothing (one stopped, or partitioned away), which
		// the coordinator's heartbeat answer counted dead: it must not
		// be tried while another location is left.
		told bool
	}{{"alternate", true, 1, false}, {"every location gone", false, 0, false}, {"home counted dead", true, 1, true}} {
		t.Run(c.name, func(t *testing.T) {
			ms := startCluster(t, 2, 64<<20)
			second := deadURI()
			if c.alive {
				second = ms[1].e.URI()
			}
			first := deadURI
			var accepted atomic.Int64
			if c.told {
				silent, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer silent.Close()
				go func() {
					var held []net.Conn // open, unanswered
					defer func() {
						for _, c := range held {
							_ = c.Close()
						}
					}()
					for {
						conn, err := silent.Accept()
						if err != nil {
							return
						}
						accepted.Add(1)
						held = append(held, conn)
					}
				}()
				uri := "grpc://" + silent.Addr().String()
				ms[0].e.peers.gone([]string{uri})
				first = func() string { return uri }
			}
			srcs := producers(t, ms, 2)
			for i := range srcs {
				srcs[i].Locations = []string{first(), second}
			}
			var consumers []string
			for r := range 2 {
				consumers = append(consumers, sign(t, ms[0].e, cluster.Task{Task: r, Executor: ms[0].e.ID(),
					SQL:    "SELECT count(*), sum(v) FROM x",
					Inputs: []cluster.Input{{Table: "x", Part: r, Sources: srcs}}}))
			}
			var n, sum int64
			for _, rows := range runAll(t, ms[:1], consumers) {
				var a, b int64
				if _, err := fmt.Sscan(rows[0][0], &a); err != nil {
					t.Fatal(err)
				}
				if _, err := fmt.Sscan(rows[0][1], &b); err != nil {
					t.Fatal(err)
				}
				n, sum = n+a, sum+b
			}
			if n != shuffleRows || sum != shuffleRows*(shuffleRows-1)/2 {
				t.Fatalf("%d rows, sum %d", n, sum)
			}
			// Both producers ran once, where expected (the consumers'
			// reports may come first).
			for n := 2; ; n++ {
				runs := 0
				for _, r := range finished(t, ms[c.ranAt].e, n) {
					if r.Task >= 100 {
						runs++
					}
				}
				if runs == 2 {
					break
				}
				if runs > 2 || n == 4 {
					t.Fatalf("%d producer runs at executor %d, want 2", runs, c.ranAt)
				}
			}
			if n := accepted.Load(); n > 0 {
				t.Fatalf("the location counted dead was tried first (%d connections)", n)
			}
			drained(t, ms)
		})
	}
}

// A consumer can be a producer in turn: a two-stage shuffle.
func TestConsumerProducer(t *testing.T) {
	ms := startCluster(t, 2, 64<<20)
	srcs := producers(t, ms, 2)
	var mid []cluster.Source
	for r := range 2 {
		m := ms[r]
		// Per-group counts, partitioned again by count into one partition.
		h := sign(t, m.e, cluster.Task{Task: 200 + r, Executor: m.e.ID(), Partitions: 1, Readers: 1,
			SQL:    "SELECT k, count(*) AS n, 0 AS skein_part FROM x GROUP BY k",
			Inputs: []cluster.Input{{Table: "x", Part: r, Sources: srcs}}})
		mid = append(mid, cluster.Source{Handle: h, Locations: []string{m.e.URI()}})
	}
	final := sign(t, ms[0].e, cluster.Task{Task: 1, Executor: ms[0].e.ID(),
		SQL:    "SELECT count(*), sum(n), count(DISTINCT k) FROM y",
		Inputs: []cluster.Input{{Table: "y", Sources: mid}}})
	if rows := runTask(t, ms[0], final); len(rows) != 1 || rows[0][0] != "1000" || rows[0][1] != "300000" || rows[0][2] != "1000" {
		t.Fatalf("%v", rows)
	}
	drained(t, ms)
}

// A producer's partitions go on the wire in batches of the executor's
// size, not as one small piece of every batch of its result.
func TestPartitionsAreCoalesced(t *testing.T) {
	ms := startCluster(t, 1, 64<<20)
	m := ms[0]
	const parts = 8
	h := sign(t, m.e, cluster.Task{Task: 100, Executor: m.e.ID(), Partitions: parts,
		SQL: fmt.Sprintf("SELECT range AS k, range AS v, range %% %d AS skein_part FROM range(%d)", parts, shuffleRows)})
	for part := range parts {
		tk, err := cluster.PartitionTicket(h, part)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := m.cl.DoGet(context.Background(), &flight.Ticket{Ticket: tk})
		if err != nil {
			t.Fatal(err)
		}
		r, err := flight.NewRecordReader(stream)
		if err != nil {
			t.Fatal(err)
		}
		var batches, rows int64
		for r.Next() {
			batches++
			rows += r.RecordBatch().NumRows()
		}
		r.Release()
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		// 37,500 rows of 16 bytes: one batch of the default size.
		if rows != shuffleRows/parts || batches != 1 {
			t.Fatalf("partition %d: %d rows in %d batches", part, rows, batches)
		}
	}
	drained(t, ms)
}

// A consumer of an input of many sources streams sourcesAtOnce of them at
// once (each open stream holds gRPC's window outside any budget), the
// others as those end, and still gets every row: loaded into a table, or
// scanned from memory.
func TestInputSourcesAreReadAFewAtATime(t *testing.T) {
	ms := startCluster(t, 2, 64<<20)
	const n = sourcesAtOnce + sourcesAtOnce/2
	for c, stream := range []bool{false, true} {
		var srcs []cluster.Source
		for i := range n {
			m := ms[i%2]
			h := sign(t, m.e, cluster.Task{Task: 100*(c+1) + i, Executor: m.e.ID(), Partitions: 2,
				SQL:   `SELECT range AS v, range % 2 AS skein_part FROM range($2, $3) WHERE $1::VARCHAR = 'x'`,
				Slice: partition.Slice{File: "x", First: int64(i) * shuffleRows / n, Last: int64(i+1) * shuffleRows / n}})
			start(t, m.cl, h)
			srcs = append(srcs, cluster.Source{Handle: h, Locations: []string{m.e.URI()}})
		}
		consumer := sign(t, ms[0].e, cluster.Task{Task: c, Executor: ms[0].e.ID(),
			SQL:    "SELECT count(*), sum(v) FROM x",
			Inputs: []cluster.Input{{Table: "x", Part: 1, Sources: srcs, Stream: stream}}})
		rows := runTask(t, ms[0], consumer)
		// The odd numbers below shuffleRows.
		want := []string{fmt.Sprint(shuffleRows / 2), fmt.Sprint(shuffleRows / 2 * shuffleRows / 2)}
		if len(rows) != 1 || rows[0][0] != want[0] || rows[0][1] != want[1] {
			t.Fatalf("stream %v: %v, want %v", stream, rows, want)
		}
	}
	if peak := ms[0].e.peakFetching.Load(); peak > sourcesAtOnce || peak == 0 {
		t.Fatalf("%d of an input's %d sources streamed at once, want at most %d", peak, n, sourcesAtOnce)
	}
	if open := ms[0].e.fetching.Load(); open != 0 {
		t.Fatalf("%d exchange streams open after the consumers", open)
	}
}

// A producer's partitions not yet written count against the spools'
// memory budget while it runs, whether its columns are all of a fixed
// width (scattered into partition buffers) or not (slices of its batches):
// with a budget much smaller than its output, the budget holds, the
// partitions spill to disk, each holds DuckDB's rows, and nothing is left
// counted once they are read.
func TestShuffleWithinTheSpoolBudget(t *testing.T) {
	const budget, parts = 1 << 20, 8
	for i, c := range []struct{ name, cols string }{
		{"fixed width", "range AS a, range * 7 AS b, (range % 1000)::DOUBLE AS c, range::HUGEINT AS d"},
		{"with strings", "range AS a, 'value-' || range AS s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ms := startCluster(t, 1, budget)
			m := ms[0]
			rows := fmt.Sprintf("SELECT %s, hash(range) %% %d AS skein_part FROM range(200000)", c.cols, parts)
			h := sign(t, m.e, cluster.Task{Task: 100 + i, Executor: m.e.ID(), Partitions: parts, SQL: rows})
			start(t, m.cl, h)
			finished(t, m.e, 1)
			s := m.e.spools
			s.mu.Lock()
			peak, peakShuffle, shuffle, disk := s.peakMem, s.peakShuffle, s.shuffle, s.disk
			s.mu.Unlock()
			if peakShuffle == 0 || peak > budget || shuffle != 0 || disk < 2*budget {
				t.Fatalf("the producer's partitions held at most %d bytes of the budget (want some) and %d after it; the spools at most %d of %d; %d on disk (want most of the output)",
					peakShuffle, shuffle, peak, budget, disk)
			}
			partitionsAreDuckDBs(t, m, h, rows, parts)
			drained(t, ms)
		})
	}
}

// Spellings of one consumer's ticket (its bundle of sources repeated, or
// anything after it: the bundle is not signed) start one run: a run for
// each had been held for its reader, 543 MB of spool a call.
func TestSpellingsOfATicketAreOneRun(t *testing.T) {
	ms := startCluster(t, 1, 64<<20)
	srcs := producers(t, ms, 1)
	h := sign(t, ms[0].e, cluster.Task{Task: 7, Executor: ms[0].e.ID(), SQL: "SELECT count(*) FROM x",
		Inputs: []cluster.Input{{Table: "x", Sources: srcs}}})
	start(t, ms[0].cl, h, h+cluster.BundleSep+srcs[0].Handle, h+cluster.BundleSep+"again")
	ms[0].e.mu.Lock()
	var runs []string
	for k, s := range ms[0].e.started {
		if s.query == "q" && !strings.HasPrefix(k, "q/1") { // not a producer's (100, 101, ...)
			runs = append(runs, k)
		}
	}
	ms[0].e.mu.Unlock()
	if len(runs) != 1 {
		t.Fatalf("runs of one task: %q", runs)
	}
}

// A started task's result is kept for its readers until its query's
// --query-timeout ends (and a second), not for Config.KeepFor: a timed-out
// query's results had held the spools ten minutes, and queries after it
// failed for want of room.
func TestResultsGoAtTheQuerysDeadline(t *testing.T) {
	m := startCluster(t, 1, 64<<20)[0]
	h := sign(t, m.e, cluster.Task{Query: "timed", Task: 1, Executor: m.e.ID(),
		SQL: "SELECT range AS v FROM range(100000)", Deadline: time.Now().Add(time.Second)})
	start(t, m.cl, h)
	if m.e.Spooled() == (SpoolUsage{}) {
		t.Fatal("nothing spooled")
	}
	for end := time.Now().Add(10 * time.Second); m.e.Spooled() != (SpoolUsage{}); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("still spooled 8 s after the deadline: %+v", m.e.Spooled())
		}
	}
}

// A reader that stops reading a task's result does not keep it spooled
// past its query's deadline: the spool goes, and the read, taken up
// again, ends DeadlineExceeded. Such a reader held 879 MB of spool four
// minutes past a 30 s --query-timeout.
func TestTakenResultsGoAtTheQuerysDeadline(t *testing.T) {
	m := startCluster(t, 1, 64<<20)[0]
	h := sign(t, m.e, cluster.Task{Query: "timed", Task: 1, Executor: m.e.ID(),
		SQL: "SELECT range AS v, repeat('x', 100) AS pad FROM range(2000000)", Deadline: time.Now().Add(2 * time.Second)})
	start(t, m.cl, h)
	tk, err := cluster.TaskTicket(h)
	if err != nil {
		t.Fatal(err)
	}
	r := openTicket(t, m.cl, tk)
	defer r.Release()
	if !r.Next() {
		t.Fatalf("no first batch: %v", r.Err())
	}
	// What is left is what gRPC holds to send (a flow-control window).
	kept := func(u SpoolUsage) bool { return u.Disk > 0 || u.Files > 0 || u.Memory > u.Sending }
	if u := m.e.Spooled(); !kept(u) {
		t.Fatalf("the result is not spooled beyond what gRPC sends: %+v", u)
	}
	for end := time.Now().Add(10 * time.Second); kept(m.e.Spooled()); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("a stalled reader's result still spooled 8 s after the deadline: %+v", m.e.Spooled())
		}
	}
	for r.Next() {
	}
	if status.Code(r.Err()) != codes.DeadlineExceeded || !strings.Contains(r.Err().Error(), "--query-timeout") {
		t.Fatalf("the read taken up again: %v, want DeadlineExceeded naming --query-timeout", r.Err())
	}
}

// A task started here is served here, without asking the coordinator
// where it runs: that question is for a ticket this executor does not
// hold (a stolen task's). Keyed by handle while runs were keyed by query
// and task, every read of a task held here asked the coordinator first.
func TestHeldTaskIsServedWithoutAsking(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // a coordinator that never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	e, cl, _ := startMemberOf(t, "grpc://"+silent.Addr().String(), cluster.NewSecret(), 64<<20)
	h, ticket := task(t, e, 1)
	start(t, cl, h)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := readAll(ctx, cl, ticket); err != nil {
		t.Fatalf("reading a task started here: %v", err)
	}
}

// A consumer failing over to an executor where a producer of its query
// already gave up for want of spool room (errSpoolFull) gets its partition
// run for it alone: a run of every partition there would give up at once,
// and the consumer, with no other location, failed "the spools are full".
func TestPartitionRunAloneWhereTheQueryOverflowed(t *testing.T) {
	ms := startCluster(t, 2, 1)
	full := ms[1].e
	full.cfg.SpoolStall = 50 * time.Millisecond
	full.spools.mu.Lock()
	full.spools.fileBudget = 1
	full.spools.full["q"] = time.Now() // another producer of q gave up here
	full.spools.mu.Unlock()
	srcs := producers(t, ms, 3)
	for i := range srcs {
		srcs[i].Locations = []string{full.URI()}
	}
	consumer := sign(t, ms[0].e, cluster.Task{Task: 0, Executor: ms[0].e.ID(),
		SQL:    "SELECT count(*) FROM x",
		Inputs: []cluster.Input{{Table: "x", Part: 0, Sources: srcs}}})
	rows := runTask(t, ms[0], consumer)
	if len(rows) != 1 || rows[0][0] == "0" {
		t.Fatalf("consumer read %v", rows)
	}
}

// A producer of a query released here (its readers done, or abandoned),
// claimed again (an endpoint read past its expiry, a ticket redeemed
// again), runs for that reader's partition alone: a run of every
// partition kept the others, unread, in the spools for its ten minutes
// (20 MB an executor for a shuffle of lineitem; a tester's).
func TestPartitionOfAReleasedQueryRunsAlone(t *testing.T) {
	e, cl, _ := startMember(t, cluster.NewSecret(), 64<<20)
	h, err := e.cfg.Secret.SignTask(cluster.Task{Query: "q", Task: 1, User: "u", Executor: e.ID(), Partitions: 3,
		SQL:   "SELECT $1::VARCHAR AS f, range AS i, range % 3 AS skein_part FROM range($2, $3)",
		Slice: partition.Slice{File: "x", First: 0, Last: 30_000}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stream, err := cl.DoAction(ctx, &flight.Action{Type: cluster.ActionCancel, Body: []byte(h)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	ticket, err := cluster.PartitionTicket(h, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, rows, err := readAll(ctx, cl, ticket)
	if err != nil || len(rows) != 10_000 {
		t.Fatalf("partition 0 of the released query: %d rows, %v; want 10000", len(rows), err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.mu.Lock()
		runs := len(e.started)
		e.mu.Unlock()
		u := e.Spooled()
		if runs == 0 && u.Shuffle == 0 && u.Memory == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the read: %d runs kept, spools %+v; want none", runs, u)
		}
	}
}
