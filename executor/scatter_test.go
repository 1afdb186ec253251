package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/joined"
)

// A scatter sends each row of a batch of chunks to its partition with its
// values and NULLs, of every width (one of 3 bytes copied byte by byte)
// and of strings and binaries (empty ones too), in the order the rows came, and keeps a partition's rows from batch to
// batch until it is taken.
func TestScatterRoutesEachRowWithItsNulls(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fields := []arrow.Field{{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "d128", Type: &arrow.Decimal128Type{Precision: 38, Scale: 2}, Nullable: true},
		{Name: "fsb3", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "lb", Type: arrow.BinaryTypes.LargeBinary, Nullable: true}}
	out := arrow.NewSchema(fields, nil)
	in := arrow.NewSchema(append(slices.Clone(fields), arrow.Field{Name: cluster.PartitionColumn, Type: arrow.PrimitiveTypes.Int32}), nil)
	const parts = 3
	// chunk makes rows [from, to): row i in partition i*i%3, NULL in
	// column c where (i+c)%5 == 0.
	chunk := func(from, to int) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, in)
		defer b.Release()
		for i := from; i < to; i++ {
			for c := range fields {
				if (i+c)%5 == 0 {
					b.Field(c).AppendNull()
				}
			}
			app := func(c int, f func()) {
				if (i+c)%5 != 0 {
					f()
				}
			}
			app(0, func() { b.Field(0).(*array.Int8Builder).Append(int8(i)) })
			app(1, func() { b.Field(1).(*array.Int16Builder).Append(int16(-i)) })
			app(2, func() { b.Field(2).(*array.Float32Builder).Append(float32(i) / 4) })
			app(3, func() { b.Field(3).(*array.Int64Builder).Append(int64(i) << 40) })
			app(4, func() { b.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i)*123456789 - 1000)) })
			app(5, func() { b.Field(5).(*array.FixedSizeBinaryBuilder).Append([]byte{byte(i), byte(i >> 8), 7}) })
			app(6, func() { b.Field(6).(*array.StringBuilder).Append(strings.Repeat(fmt.Sprint(i), i%4)) })
			app(7, func() { b.Field(7).(*array.BinaryBuilder).Append([]byte(strings.Repeat("x", i%9))) })
			b.Field(8).(*array.Int32Builder).Append(int32(i * i % parts))
		}
		return b.NewRecordBatch()
	}
	want := make([][]string, parts)
	rowsOf := func(rec arrow.RecordBatch, part func(i int) int, into [][]string) [][]string {
		for i := range int(rec.NumRows()) {
			var cols []string
			for c := range fields {
				cols = append(cols, rec.Column(c).ValueStr(i))
			}
			p := part(i)
			into[p] = append(into[p], strings.Join(cols, "|"))
		}
		return into
	}
	s := newScatter(out, parts, newSpoolStore(t.TempDir(), 1<<30, 1<<30))
	if s == nil {
		t.Fatal("no scatter for fixed-width and string columns")
	}
	got := make([][]string, parts)
	counts := make([]int, parts)
	// Two batches, the first of two chunks (the second sliced, as
	// DuckDB's may be), then every partition taken.
	c1, c2, c3 := chunk(0, 700), chunk(700, 2000), chunk(2000, 2600)
	c2s := c2.NewSlice(300, 1300)
	c2.Release()
	for _, c := range []arrow.RecordBatch{c1, c2s, c3} {
		col := c.Column(len(fields)).(*array.Int32)
		want = rowsOf(c, func(i int) int { return int(col.Value(i)) }, want)
	}
	batch := joined.New(mem, in, []arrow.RecordBatch{c1, c2s})
	defer batch.Release()
	for _, rec := range []arrow.RecordBatch{batch, c3} {
		if err := s.add(rec, counts, false); err != nil {
			t.Fatal(err)
		}
	}
	if sum := counts[0] + counts[1] + counts[2]; sum != 600 {
		t.Fatalf("the last batch's counts %v add up to %d rows, not 600", counts, sum)
	}
	for p := range parts {
		rec := s.take(p, out)
		got = rowsOf(rec, func(int) int { return p }, got)
		rec.Release()
		if !slices.Equal(got[p], want[p]) {
			t.Fatalf("partition %d: %d rows, want %d; first %q, want %q", p, len(got[p]), len(want[p]), got[p][:min(3, len(got[p]))], want[p][:min(3, len(want[p]))])
		}
	}
	c3.Release()
	// Taken, a partition starts again empty.
	if rec := s.take(0, out); rec.NumRows() != 0 {
		t.Fatalf("partition 0 taken twice: %d rows the second time", rec.NumRows())
	} else {
		rec.Release()
	}
	if newScatter(arrow.NewSchema([]arrow.Field{{Name: "b", Type: arrow.FixedWidthTypes.Boolean}}, nil), 2, nil) != nil {
		t.Fatal("a scatter for a boolean column")
	}
}

// A producer's partitions of fixed-width columns of every DuckDB type that
// has them, NULLs included, hold exactly the rows DuckDB gives for each
// partition.
func TestShuffleOfFixedWidthColumns(t *testing.T) {
	ms := startCluster(t, 1, 64<<20)
	m := ms[0]
	const parts = 3
	rows := `SELECT CASE WHEN range % 7 = 0 THEN NULL ELSE (range % 100)::TINYINT END AS a, (range % 30000)::SMALLINT AS b,
  CASE WHEN range % 11 = 0 THEN NULL ELSE range::INTEGER END AS c, range * 1000000007 AS d, range::HUGEINT * 1000000000000 AS e,
  (range / 8)::DECIMAL(18,3) AS f, CASE WHEN range % 3 = 0 THEN NULL ELSE (range / 3)::DECIMAL(38,2) END AS g, range / 7 AS h,
  DATE '2020-01-01' + (range % 1000)::INTEGER AS i, TIMESTAMP '2020-01-01' + to_seconds(range) AS j,
  (hash(range) % 3)::INTEGER AS skein_part FROM range(50000)`
	h := sign(t, m.e, cluster.Task{Task: 100, Executor: m.e.ID(), Partitions: parts, SQL: rows})
	partitionsAreDuckDBs(t, m, h, rows, parts)
	drained(t, ms)
}

// The same of strings and blobs: empty, NULL, long (past a batch's
// bytes in a few rows) and short, beside fixed-width columns.
func TestShuffleOfStringColumns(t *testing.T) {
	ms := startCluster(t, 1, 64<<20)
	m := ms[0]
	const parts = 3
	rows := `SELECT CASE WHEN range % 7 = 0 THEN NULL WHEN range % 7 = 1 THEN '' ELSE 'v' || range END AS a, range AS b,
  CASE WHEN range % 1000 = 3 THEN repeat('long', 200000 + range) ELSE repeat('é', (range % 13)::INTEGER) END AS c,
  CASE WHEN range % 5 = 0 THEN NULL ELSE encode('b' || range) END AS d,
  (hash(range) % 3)::INTEGER AS skein_part FROM range(50000)`
	h := sign(t, m.e, cluster.Task{Task: 100, Executor: m.e.ID(), Partitions: parts, SQL: rows})
	partitionsAreDuckDBs(t, m, h, rows, parts)
	drained(t, ms)
}

// partitionsAreDuckDBs checks that each partition of the producer h (of
// SQL rows, its last column skein_part) holds the rows DuckDB gives for
// it, 10,000 or more.
func partitionsAreDuckDBs(t *testing.T, m member, h, rows string, parts int) {
	t.Helper()
	for part := range parts {
		tk, err := cluster.PartitionTicket(h, part)
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := readAll(context.Background(), m.cl, tk)
		if err != nil {
			t.Fatal(err)
		}
		want := runTask(t, m, sign(t, m.e, cluster.Task{Task: 200 + part, Executor: m.e.ID(),
			SQL: fmt.Sprintf("SELECT * EXCLUDE (skein_part) FROM (%s) WHERE skein_part = %d", rows, part)}))
		if len(got) < 10000 || !slices.Equal(joinRows(got), joinRows(want)) {
			t.Fatalf("partition %d: %d rows, DuckDB says %d", part, len(got), len(want))
		}
	}
}

func joinRows(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r, "|")
	}
	slices.Sort(out)
	return out
}

// The bytes of a scatter's buffers are counted against the spools' memory
// budget before they are allocated: its rows never hold more of it than
// the budget, a chunk that does not fit adds no row, and released buffers
// stay idle within a quarter of the budget, given up for a spool's frames.
func TestScatterCountsItsBuffers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const budget, parts, chunkRows = 256 << 10, 4, 2048
	store := newSpoolStore(t.TempDir(), budget, 1<<30)
	fields := []arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}, {Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "c", Type: arrow.PrimitiveTypes.Float64}, {Name: "d", Type: arrow.PrimitiveTypes.Int32}}
	out := arrow.NewSchema(fields, nil)
	in := arrow.NewSchema(append(slices.Clone(fields), arrow.Field{Name: cluster.PartitionColumn, Type: arrow.PrimitiveTypes.Int32}), nil)
	s := newScatter(out, parts, store)
	// capacity is what the scatter's buffers really hold.
	capacity := func() (n int64) {
		for _, sp := range s.parts {
			for _, sc := range sp.cols {
				n += int64(cap(sc.values) + cap(sc.valid))
			}
		}
		return n
	}
	counted := func() (mem, shuffle int64) {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.mem, store.shuffle
	}
	counts := make([]int, parts)
	var added, taken, full, forced int
	takeAll := func() {
		for p := range parts {
			rec := s.take(p, out)
			taken += int(rec.NumRows())
			rec.Release()
		}
	}
	for i := range 40 {
		b := array.NewRecordBuilder(mem, in)
		for r := range chunkRows {
			v := i*chunkRows + r
			b.Field(0).(*array.Int64Builder).Append(int64(v))
			if v%9 == 0 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.Int64Builder).Append(int64(-v))
			}
			b.Field(2).(*array.Float64Builder).Append(float64(v) / 3)
			b.Field(3).(*array.Int32Builder).Append(int32(v))
			b.Field(4).(*array.Int32Builder).Append(int32(v % parts))
		}
		rec := b.NewRecordBatch()
		b.Release()
		err := s.add(rec, counts, false)
		if errors.Is(err, errNoRoom) {
			full++
			if sum := counts[0] + counts[1] + counts[2] + counts[3]; sum != 0 {
				t.Fatalf("a chunk without room added %d rows", sum)
			}
			// What a splitter does: every partition written (which
			// empties the buffers), then the chunk again, over the
			// budget if it must.
			takeAll()
			if err = s.add(rec, counts, false); errors.Is(err, errNoRoom) {
				forced++
				err = s.add(rec, counts, true)
			}
		}
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		added += chunkRows
		m, sh := counted()
		if c := capacity(); c != sh || m > budget {
			t.Fatalf("chunk %d: the buffers hold %d bytes, %d counted; %d of the budget of %d in use", i, c, sh, m, budget)
		}
	}
	takeAll()
	if full == 0 || forced != 0 || taken != added {
		t.Fatalf("%d chunks found the budget full (want some), %d were forced over it (want none); %d rows taken of %d",
			full, forced, taken, added)
	}
	s.release()
	m, sh := counted()
	if sh != 0 || m != store.pooled || m == 0 || m > budget/4 {
		t.Fatalf("released: %d bytes of partitions still counted, %d idle (want some, at most %d), %d in all", sh, store.pooled, budget/4, m)
	}
	// A spool's frame takes the idle buffers' room.
	if inMemory, _, err := store.reserve(context.Background(), budget, true, func() bool { return false }, 0, "", nil); err != nil || !inMemory {
		t.Fatalf("a frame of the whole budget went to memory %v (%v), want it there with the idle buffers let go", inMemory, err)
	}
	if store.pooled != 0 || store.mem != budget {
		t.Fatalf("%d bytes still idle, %d in memory", store.pooled, store.mem)
	}
}
