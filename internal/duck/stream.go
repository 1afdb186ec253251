package duck

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/arrowmapping"
	"github.com/duckdb/duckdb-go/v2/mapping"
	"github.com/skeindb/skein/internal/joined"
)

// BatchSize bounds the record batches a result stream yields. DuckDB
// produces 2048-row chunks; the stream joins consecutive chunks until either
// bound is reached, so each wire message carries enough rows to amortise its
// overhead while staying under gRPC's default 4 MiB message limit.
//
// First, when set, starts the stream small: the first batch stops at First
// rows and each later one at twice its predecessor's bound, until Rows. A
// result of a few thousand rows then leaves as soon as DuckDB has its first
// chunk, and is converted, sent and decoded by the client in overlapping
// pieces instead of one after the other; a long stream reaches full batches
// after a few of them and keeps their throughput.
type BatchSize struct {
	Rows  int64
	Bytes int64
	First int64
}

// DefaultBatchSize was chosen by BenchmarkFetch (see the README); its first
// batch is one DuckDB chunk (see the README's serving section).
var DefaultBatchSize = BatchSize{Rows: 128 * 1024, Bytes: 2 << 20, First: vectorRows}

// Batches is DefaultBatchSize with at most rows rows a batch.
func Batches(rows int64) BatchSize {
	b := DefaultBatchSize
	b.Rows = rows
	return b
}

// rowsOf is the most rows of a stream's batch n (from 0).
func (b BatchSize) rowsOf(n int) int64 {
	if b.First <= 0 || n >= 32 {
		return b.Rows
	}
	return min(b.Rows, b.First<<n)
}

// stream executes a bound prepared statement as a streaming result.
// schema, when not nil, is the result's Arrow schema, known beforehand.
// With cols (a statement's columns, see sameColumns), a result of the
// same columns gets schema without converting its types.
func (c *Conn) stream(ctx context.Context, ps mapping.PreparedStatement, mem memory.Allocator, batch BatchSize, schema *arrow.Schema, cols []column) (array.RecordReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stop := c.interruptOnCancel(ctx)
	var pending mapping.PendingResult
	if bindings.PendingPreparedStreaming(ps, &pending) == mapping.StateError {
		msg := mapping.PendingError(pending)
		mapping.DestroyPending(&pending)
		stop()
		return nil, errors.Join(ctx.Err(), wrap(&duckdb.Error{Type: errorTypeOf(msg), Msg: msg}))
	}
	var res mapping.Result
	state, err := executePending(pending, &res)
	mapping.DestroyPending(&pending)
	if state == mapping.StateError {
		if err == nil {
			err = resultError(&res)
		}
		mapping.DestroyResult(&res)
		stop()
		return nil, errors.Join(ctx.Err(), err)
	}
	if cols != nil && !sameColumns(&res, cols) {
		schema = nil
	}
	if schema == nil {
		var err error
		if schema, err = c.resultSchema(&res); err != nil {
			mapping.DestroyResult(&res)
			stop()
			return nil, err
		}
	}
	r := &resultReader{
		ctx:      ctx,
		res:      res,
		schema:   schema,
		mem:      mem,
		batch:    batch,
		stop:     stop,
		flat:     joined.Flat(schema),
		joinable: joined.Joinable(schema),
	}
	arrowmapping.ConnectionGetArrowOptions(c.handle, &r.opts)
	r.refs.Store(1)
	return r, nil
}

// flatTypes are the DuckDB types whose Arrow form, with the connection's
// Arrow options (which cannot change: lock_configuration), follows from
// the type id and, for VARCHAR and BLOB, the alias: no width, scale,
// children or values of their own.
var flatTypes = map[mapping.Type]bool{
	mapping.TypeBoolean: true, mapping.TypeTinyInt: true, mapping.TypeSmallInt: true, mapping.TypeInteger: true,
	mapping.TypeBigInt: true, mapping.TypeUTinyInt: true, mapping.TypeUSmallInt: true, mapping.TypeUInteger: true,
	mapping.TypeUBigInt: true, mapping.TypeFloat: true, mapping.TypeDouble: true, mapping.TypeDate: true,
	mapping.TypeTime: true, mapping.TypeTimestamp: true, mapping.TypeTimestampS: true, mapping.TypeTimestampMS: true,
	mapping.TypeTimestampNS: true, mapping.TypeTimestampTZ: true, mapping.TypeInterval: true,
	mapping.TypeVarchar: true, mapping.TypeBlob: true,
}

// aliasOf is lt's alias for the types an alias changes the Arrow form
// of (VARCHAR's JSON), "" for the others.
func aliasOf(typ mapping.Type, lt mapping.LogicalType) string {
	if typ != mapping.TypeVarchar && typ != mapping.TypeBlob {
		return ""
	}
	return mapping.LogicalTypeGetAlias(lt)
}

// sameColumns says whether res has the columns cols recorded: then its
// Arrow schema is the one they were converted to, and need not be
// converted again (a conversion goes through C and back, 3% of the
// server's CPU for SELECT 1 on a statement a client runs again).
func sameColumns(res *mapping.Result, cols []column) bool {
	if cols == nil || int(mapping.ColumnCount(res)) != len(cols) {
		return false
	}
	for i, c := range cols {
		typ := mapping.ColumnType(res, mapping.IdxT(i))
		if typ != c.typ || mapping.ColumnName(res, mapping.IdxT(i)) != c.name {
			return false
		}
		if typ == mapping.TypeVarchar || typ == mapping.TypeBlob {
			lt := mapping.ColumnLogicalType(res, mapping.IdxT(i))
			alias := mapping.LogicalTypeGetAlias(lt)
			mapping.DestroyLogicalType(&lt)
			if alias != c.alias {
				return false
			}
		}
	}
	return true
}

// resultSchema converts a result's column types as DuckDB's Arrow export
// does.
func (c *Conn) resultSchema(res *mapping.Result) (*arrow.Schema, error) {
	n := int(mapping.ColumnCount(res))
	types := make([]mapping.LogicalType, n)
	names := make([]string, n)
	for i := range n {
		types[i] = mapping.ColumnLogicalType(res, mapping.IdxT(i))
		names[i] = mapping.ColumnName(res, mapping.IdxT(i))
	}
	defer func() {
		for i := range types {
			mapping.DestroyLogicalType(&types[i])
		}
	}()
	return c.arrowSchema(types, names)
}

// interruptOnCancel interrupts the connection when ctx ends before the
// returned stop is called. The caller must stop it before the connection
// runs anything else.
func (c *Conn) interruptOnCancel(ctx context.Context) (stop func()) {
	// context.AfterFunc starts no goroutine until ctx ends: a goroutine
	// started and woken per query (as this was) showed in SELECT 1's
	// profile as scheduler wake-ups.
	done, finished := make(chan struct{}), make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		defer close(finished)
		defer c.db.watch(ctx, "interrupted")()
		// DuckDB forgets an interrupt that lands before execution starts,
		// so keep interrupting until the call returns.
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			c.Interrupt()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			if stopAfter() {
				return // ctx did not end: nothing was interrupted
			}
			close(done)
			<-finished
		})
	}
}

func resultError(res *mapping.Result) error {
	msg := mapping.ResultError(res)
	return wrap(&duckdb.Error{Type: duckdb.ErrorType(mapping.ResultErrorType(res)), Msg: msg})
}

// errorTypeOf recovers the error type from a message's "<Type> Error:"
// prefix, for C API calls that return only a message.
func errorTypeOf(msg string) duckdb.ErrorType {
	prefix, _, _ := strings.Cut(msg, " Error: ")
	if t, ok := errorPrefixes[prefix]; ok {
		return t
	}
	return duckdb.ErrorTypeInvalid
}

// errorPrefixes are DuckDB's names of its error types, as its messages
// start (a query's execution errors come as a message only too, see
// executePending).
var errorPrefixes = map[string]duckdb.ErrorType{
	"Parser": duckdb.ErrorTypeParser, "Binder": duckdb.ErrorTypeBinder,
	"Catalog": duckdb.ErrorTypeCatalog, "Permission": duckdb.ErrorTypePermission,
	"Constraint": duckdb.ErrorTypeConstraint, "Conversion": duckdb.ErrorTypeConversion,
	"Invalid Input": duckdb.ErrorTypeInvalidInput, "Out of Memory": duckdb.ErrorTypeOutOfMemory,
	"INTERRUPT": duckdb.ErrorTypeInterrupt, "IO": duckdb.ErrorTypeIO,
	"TransactionContext": duckdb.ErrorTypeTransaction, "Not implemented": duckdb.ErrorTypeNotImplemented,
	"HTTP":         duckdb.ErrorTypeHTTP,
	"Out of Range": duckdb.ErrorTypeOutOfRange, "Unknown Type": duckdb.ErrorTypeUnknownType,
	"Decimal": duckdb.ErrorTypeDecimal, "Mismatch Type": duckdb.ErrorTypeMismatchType,
	"Divide by Zero": duckdb.ErrorTypeDivideByZero, "Object Size": duckdb.ErrorTypeObjectSize,
	"Invalid type": duckdb.ErrorTypeInvalidType, "Serialization": duckdb.ErrorTypeSerialization,
	"Expression": duckdb.ErrorTypeExpression, "Planner": duckdb.ErrorTypePlanner,
	"Scheduler": duckdb.ErrorTypeScheduler, "Executor": duckdb.ErrorTypeExecutor,
	"Index": duckdb.ErrorTypeIndex, "Stat": duckdb.ErrorTypeStat, "Connection": duckdb.ErrorTypeConnection,
	"Syntax": duckdb.ErrorTypeSyntax, "Settings": duckdb.ErrorTypeSettings,
	"Optimizer": duckdb.ErrorTypeOptimizer, "NullPointer": duckdb.ErrorTypeNullPointer,
	"FATAL": duckdb.ErrorTypeFatal, "INTERNAL": duckdb.ErrorTypeInternal,
	"Parameter Not Resolved": duckdb.ErrorTypeParameterNotResolved,
	"Parameter Not Allowed":  duckdb.ErrorTypeParameterNotAllowed,
	"Dependency":             duckdb.ErrorTypeDependency, "Missing Extension": duckdb.ErrorTypeMissingExtension,
	"Extension Autoloading": duckdb.ErrorTypeAutoLoad, "Sequence": duckdb.ErrorTypeSequence,
	"Invalid Configuration": duckdb.ErrorTypeInvalidConfiguration,
}

// resultReader streams a DuckDB result as Arrow record batches of about
// BatchSize each.
type resultReader struct {
	refs   atomic.Int64
	ctx    context.Context
	res    mapping.Result
	opts   arrowmapping.ArrowOptions
	schema *arrow.Schema
	mem    memory.Allocator
	batch  BatchSize
	stop   func()

	flat bool // joined.Flat(schema)
	// joinable: DuckDB's chunks can be joined into batches (joined.Joinable);
	// else each goes as it comes.
	joinable bool
	cur      arrow.RecordBatch
	// rest is what is left of a chunk cut to fit a batch (see Next), of
	// about restSize bytes (RecordSize counts a slice's whole buffers).
	rest     arrow.RecordBatch
	restSize int64
	err      error
	done     bool
	n        int // batches yielded
}

func (r *resultReader) Retain() { r.refs.Add(1) }

func (r *resultReader) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.rest != nil {
		r.rest.Release()
		r.rest = nil
	}
	r.stop()
	mapping.DestroyResult(&r.res)
	arrowmapping.DestroyArrowOptions(&r.opts)
}

func (r *resultReader) Schema() *arrow.Schema          { return r.schema }
func (r *resultReader) Err() error                     { return r.err }
func (r *resultReader) Record() arrow.RecordBatch      { return r.cur }
func (r *resultReader) RecordBatch() arrow.RecordBatch { return r.cur }

func (r *resultReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.done || r.err != nil {
		return false
	}
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	var rows, size int64
	most := r.batch.rowsOf(r.n)
	r.n++
	for rows < most && size < r.batch.Bytes && (r.joinable || len(parts) == 0) {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			return false
		}
		rec, recSize, ok := r.rest, r.restSize, r.rest != nil
		if ok {
			r.rest = nil
		} else if rec, ok = r.fetch(); r.err != nil {
			return false
		} else if ok {
			recSize = RecordSize(rec)
		}
		if !ok {
			r.done = true
			break
		}
		if n := rec.NumRows(); recSize > r.batch.Bytes && n > 1 {
			// A chunk over the bound (rows of megabytes: lists, long
			// strings) is cut: a chunk of 5 rows of 5 MB went as one
			// message of 24 MB, over a client's 16 MiB limit.
			if len(parts) > 0 {
				r.rest, r.restSize = rec, recSize // the next batch starts with it
				break
			}
			k := max(1, n*r.batch.Bytes/recSize)
			r.rest, r.restSize = rec.NewSlice(k, n), recSize*(n-k)/n
			head := rec.NewSlice(0, k)
			rec.Release()
			parts = append(parts, head) // the batch, whole
			break
		}
		parts = append(parts, rec)
		rows += rec.NumRows()
		size += recSize
	}
	switch len(parts) {
	case 0:
		return false
	case 1:
		r.cur, parts = parts[0], nil
		return true
	}
	if r.flat && size < joinedBytes {
		// Joined only if a reader asks for its columns: flightwire
		// sends the chunks' buffers as they are.
		r.cur, parts = joined.New(r.mem, r.schema, parts), nil
		return true
	}
	r.cur, r.err = joined.Join(r.mem, r.schema, parts)
	return r.err == nil
}

// joinedBytes bounds a batch left in chunks (joined.Record), far under
// what int32 string offsets reach: joining it later cannot fail.
const joinedBytes = 1 << 30

func (r *resultReader) fetch() (arrow.RecordBatch, bool) {
	chunk := mapping.FetchChunk(r.res)
	if chunk.Ptr == nil {
		if msg := mapping.ResultError(&r.res); msg != "" {
			r.err = errors.Join(r.ctx.Err(), resultError(&r.res))
		}
		return nil, false
	}
	defer mapping.DestroyDataChunk(&chunk)
	rec, ed := arrowmapping.DataChunkToArrowArray(r.opts, r.schema, chunk)
	defer mapping.DestroyErrorData(&ed)
	if mapping.ErrorDataHasError(ed) {
		r.err = newError(duckdb.ErrorType(mapping.ErrorDataErrorType(ed)), mapping.ErrorDataMessage(ed))
		return nil, false
	}
	return rec, true
}

// RecordSize is the bytes held by rec's buffers (a joined.Record's
// parts', without joining them).
func RecordSize(rec arrow.RecordBatch) int64 {
	var n int64
	if parts := joined.Parts(rec); parts != nil {
		for _, p := range parts {
			n += RecordSize(p)
		}
		return n
	}
	for _, c := range rec.Columns() {
		n += dataSize(c.Data())
	}
	return n
}

func dataSize(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataSize(c)
	}
	if dict, ok := d.Dictionary().(*array.Data); ok && dict != nil {
		n += dataSize(dict)
	}
	return n
}
