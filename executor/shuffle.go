package executor

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/joined"
)

// splitter is a producer's recordWriter: it routes each row to the spool
// of the partition its last column (cluster.PartitionColumn) names, without
// that column. Rows are gathered per partition until they make a batch of
// the executor's size, so that a batch split R ways does not go on the wire
// as R small messages.
type splitter struct {
	ctx    context.Context // carries the allocator and a one-goroutine compute
	alloc  memory.Allocator
	store  *spoolStore   // counts the rows held here against the spools' memory budget
	schema *arrow.Schema // the output's: without the partition column
	batch  duck.BatchSize
	w      []*ipc.Writer // nil for a partition nobody reads

	pending [][]arrow.RecordBatch // per partition: slices not yet written
	rows    []int64
	bytes   []int64 // of pending, held of the store's budget
	held    int64   // rows pending over all partitions
	part    []int32

	sc     *scatter // nil when a column is not fixed-width (rows go through compute.Take)
	counts []int
	// takeAs: the schema the rows are taken in when arrow-go's take has no
	// kernel for a column's type (take.go); nil: the schema's own.
	takeAs *arrow.Schema
	// joinable: a partition's slices can be joined into one batch
	// (joined.Joinable); else each is written as it is.
	joinable bool
}

var errPartitionColumn = fmt.Errorf("%w: a producer task's last column must be %s, an integer partition number",
	skeinsql.ErrInvalid, cluster.PartitionColumn)

func (e *Executor) newSplitter(ctx context.Context, schema *arrow.Schema, parts []*spool, t cluster.Task) (*splitter, error) {
	n := schema.NumFields() - 1
	if n < 1 || schema.Field(n).Name != cluster.PartitionColumn || !arrow.IsInteger(schema.Field(n).Type.ID()) {
		return nil, fmt.Errorf("%w (the result is %s)", errPartitionColumn, schema)
	}
	md := schema.Metadata()
	out := arrow.NewSchema(schema.Fields()[:n], &md)
	ectx := compute.DefaultExecCtx()
	// The task holds one thread slot; its columns are taken on its goroutine.
	ectx.NumParallel = 1
	s := &splitter{ctx: compute.WithAllocator(compute.SetExecCtx(ctx, ectx), e.cfg.Alloc), alloc: e.cfg.Alloc, store: e.spools,
		schema: out, batch: e.cfg.Batch, w: make([]*ipc.Writer, len(parts)),
		pending: make([][]arrow.RecordBatch, len(parts)), rows: make([]int64, len(parts)), bytes: make([]int64, len(parts)), joinable: joined.Joinable(out)}
	if s.sc = newScatter(out, len(parts), e.spools); s.sc != nil {
		s.counts = make([]int, len(parts))
	} else {
		s.takeAs = takeableSchema(out)
	}
	for i, sp := range parts {
		if sp != nil {
			s.w[i] = ipc.NewWriterWithPayloadWriter(payloads{ctx: ctx, sp: sp, partial: true}, e.ipcOptions(t, out)...)
		}
	}
	return s, nil
}

func (s *splitter) Write(rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	if s.sc != nil {
		return s.scatter(rec)
	}
	last := int(rec.NumCols()) - 1
	if cap(s.part) < n {
		s.part = make([]int32, n)
	}
	part := s.part[:n]
	if err := partitionsOf(rec.Column(last), len(s.w), part); err != nil {
		return err
	}
	// Rows in partition order (a counting sort), then one take and a slice
	// per partition.
	start := make([]int, len(s.w)+1)
	for _, p := range part {
		start[p+1]++
	}
	for p := range s.w {
		start[p+1] += start[p]
	}
	body := array.NewRecordBatch(s.schema, rec.Columns()[:last], int64(n))
	defer body.Release()
	if p := part[0]; start[p] == 0 && start[p+1] == n { // all rows in one partition
		if s.w[p] != nil {
			body.Retain()
			return s.add(int(p), body, duck.RecordSize(body))
		}
		return nil
	}
	idx := make([]int32, n)
	next := append([]int(nil), start[:len(s.w)]...)
	for i, p := range part {
		idx[next[p]] = int32(i)
		next[p]++
	}
	indices := array.NewInt32Data(array.NewData(arrow.PrimitiveTypes.Int32, n,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(idx))}, nil, 0, 0))
	defer indices.Release()
	taken := body
	if s.takeAs != nil {
		taken = retyped(body, s.takeAs) // take.go
		defer taken.Release()
	}
	// Datums hold references of their own.
	values, positions := compute.NewDatum(taken), compute.NewDatum(indices)
	defer values.Release()
	defer positions.Release()
	out, err := compute.Take(s.ctx, *compute.DefaultTakeOptions(), values, positions)
	if err != nil {
		return fmt.Errorf("partitioning a result: %w", err)
	}
	sorted := out.(*compute.RecordDatum).Value
	defer sorted.Release()
	if s.takeAs != nil {
		sorted = retyped(sorted, s.schema)
		defer sorted.Release()
	}
	// A slice's buffers are its whole batch's: its size is its share.
	size := duck.RecordSize(sorted)
	for p, w := range s.w {
		if w == nil || start[p] == start[p+1] {
			continue
		}
		rows := start[p+1] - start[p]
		if err := s.add(p, sorted.NewSlice(int64(start[p]), int64(start[p+1])), size*int64(rows)/int64(n)); err != nil {
			return err
		}
	}
	// Slices hold their whole batch: past a few batches' worth of rows
	// held, every partition is written, small or not.
	if s.held > 4*s.batch.Rows {
		return s.flushAll()
	}
	return nil
}

// scatter routes rec's rows to their partitions' buffers (s.sc), writing
// each partition that makes a batch.
func (s *splitter) scatter(rec arrow.RecordBatch) error {
	// Chunk by chunk, so that a partition's buffers hold at most a batch
	// and a chunk.
	for _, c := range chunks(rec) {
		forced, err := s.scatterChunk(c)
		if err != nil {
			return err
		}
		for p, n := range s.counts {
			if n == 0 {
				continue
			}
			if s.w[p] == nil {
				s.sc.take(p, s.schema).Release()
				continue
			}
			s.rows[p] += int64(n)
			s.bytes[p] += s.sc.bytes[p]
			s.held += int64(n)
			if s.rows[p] >= s.batch.Rows || s.bytes[p] >= s.batch.Bytes {
				if err := s.flush(p); err != nil {
					return err
				}
			}
		}
		if forced {
			// Over the budget: written (to disk) and given back at once.
			if err := s.flushAll(); err != nil {
				return err
			}
			s.sc.release()
		}
	}
	// Partitions' buffers grow to a batch each: past a few batches'
	// worth of rows held, every partition is written, small or not.
	if s.held > 4*s.batch.Rows {
		return s.flushAll()
	}
	return nil
}

// scatterChunk adds a chunk's rows to the scatter. When the spools' memory
// budget is full, the partitions are written first (their spools spill
// to disk), which empties their buffers; if the chunk's rows do not fit
// even then, they are taken over the budget (forced), to be written at
// once.
func (s *splitter) scatterChunk(c arrow.RecordBatch) (forced bool, err error) {
	if err = s.sc.add(c, s.counts, false); !errors.Is(err, errNoRoom) {
		return false, err
	}
	if err := s.flushAll(); err != nil {
		return false, err
	}
	if err = s.sc.add(c, s.counts, false); !errors.Is(err, errNoRoom) {
		return false, err
	}
	return true, s.sc.add(c, s.counts, true)
}

// add queues rec (consumed) of about size bytes for partition p, writing
// the partition once it makes a batch.
func (s *splitter) add(p int, rec arrow.RecordBatch, size int64) error {
	// The rows are in memory already: over a full budget, they and every
	// partition's are written at once (their spools spill).
	fits := s.store.holdShuffle(size, true)
	s.pending[p] = append(s.pending[p], rec)
	s.rows[p] += rec.NumRows()
	s.bytes[p] += size
	s.held += rec.NumRows()
	if !fits {
		return s.flushAll()
	}
	if s.rows[p] >= s.batch.Rows || s.bytes[p] >= s.batch.Bytes {
		return s.flush(p)
	}
	return nil
}

func (s *splitter) flush(p int) error {
	if s.sc != nil {
		if s.rows[p] == 0 {
			return nil
		}
		s.held, s.rows[p], s.bytes[p] = s.held-s.rows[p], 0, 0
		rec := s.sc.take(p, s.schema)
		defer rec.Release()
		return s.w[p].Write(rec)
	}
	recs, held := s.pending[p], s.bytes[p]
	if len(recs) == 0 {
		return nil
	}
	s.pending[p], s.held, s.rows[p], s.bytes[p] = nil, s.held-s.rows[p], 0, 0
	defer func() {
		for _, r := range recs {
			r.Release()
		}
		s.store.freeShuffle(held)
	}()
	if len(recs) == 1 || !s.joinable {
		for _, r := range recs {
			if err := s.w[p].Write(r); err != nil {
				return err
			}
		}
		return nil
	}
	rec, err := joined.Join(s.alloc, s.schema, recs)
	if err != nil {
		return fmt.Errorf("joining a partition's rows: %w", err)
	}
	defer rec.Release()
	return s.w[p].Write(rec)
}

func (s *splitter) flushAll() error {
	for p := range s.w {
		if err := s.flush(p); err != nil {
			return err
		}
	}
	return nil
}

// Close writes what is pending and ends every partition's stream; each
// carries the schema, rows or not (its consumers create their table from
// it).
func (s *splitter) Close() error {
	err := s.flushAll()
	if s.sc != nil {
		s.sc.release()
	}
	for p, w := range s.w {
		for _, r := range s.pending[p] {
			r.Release()
		}
		if len(s.pending[p]) > 0 {
			s.store.freeShuffle(s.bytes[p])
		}
		s.pending[p] = nil
		if w != nil {
			err = errors.Join(err, w.Close())
		}
	}
	return err
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// partitionsOf reads a partition column into part, checking each is in
// [0, n).
func partitionsOf(col arrow.Array, n int, part []int32) error {
	switch c := col.(type) {
	case *array.Int8:
		return checkParts(c.Int8Values(), col, n, part)
	case *array.Int16:
		return checkParts(c.Int16Values(), col, n, part)
	case *array.Int32:
		return checkParts(c.Int32Values(), col, n, part)
	case *array.Int64:
		return checkParts(c.Int64Values(), col, n, part)
	case *array.Uint8:
		return checkParts(c.Uint8Values(), col, n, part)
	case *array.Uint16:
		return checkParts(c.Uint16Values(), col, n, part)
	case *array.Uint32:
		return checkParts(c.Uint32Values(), col, n, part)
	case *array.Uint64:
		return checkParts(c.Uint64Values(), col, n, part)
	}
	return fmt.Errorf("%w (it is %s)", errPartitionColumn, col.DataType())
}

func checkParts[T integer](vals []T, col arrow.Array, n int, part []int32) error {
	for i, v := range vals {
		// A negative value converts to a huge one.
		if uint64(v) >= uint64(n) || col.IsNull(i) {
			return fmt.Errorf("%w: partition %v of row %d is not in [0, %d)", skeinsql.ErrInvalid, col.ValueStr(i), i, n)
		}
		part[i] = int32(v)
	}
	return nil
}
