package duck

/*
#include <stdlib.h>

void skein_stream_bind(void *);
void skein_stream_init(void *);
void skein_stream_scan(void *, void *);
void skein_stream_delete(void *);
typedef void (*skein_stream_bind_t)(void *);
typedef void (*skein_stream_init_t)(void *);
typedef void (*skein_stream_scan_t)(void *, void *);
*/
import "C"

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2/arrowmapping"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// The table function skein_stream('id') scans an Arrow stream registered
// with RegisterStream, converting its batches to DuckDB vectors as the
// query pulls them (the conversion DuckDB's Arrow scan and Ingest use).
// Unlike DuckDB's C API Arrow scan (duckdb-go's RegisterView), it honours the
// columns DuckDB asks for (projection pushdown) and takes no filters, so
// a query may read any columns of it in any order; and it scans its
// stream once: a second scan fails, it never reads an empty stream.
const streamFunction = "skein_stream"

// streams are the registered streams, by id.
var streams sync.Map

type stream struct {
	rdr     array.RecordReader
	rows    int64 // its rows, when known (else -1): the planner's estimate
	in      *arrowInput
	conn    mapping.Connection // converts batches (its client's Arrow settings)
	claimed atomic.Bool        // a scan has begun
}

// scanState is one scan's place in its stream.
type scanState struct {
	cols []int // the stream's column of each output column
	rec  arrow.RecordBatch
	off  int64
}

// RegisterStream makes rdr the view name (TEMP, of this connection),
// pulled as a query scans it, once; release drops the view and the
// registration (after the query has ended). The stream's own name,
// skein_stream('id'), is random and lives only until release. rows, when
// not negative, is how many rows rdr holds: DuckDB plans joins by the
// sizes of their inputs, and without it guesses.
func (c *Conn) RegisterStream(rdr array.RecordReader, name string, rows int64) (release func(), err error) {
	if err := c.db.registerStreamFunction(c); err != nil {
		return nil, err
	}
	in, err := c.newArrowInput(rdr.Schema())
	if err != nil {
		return nil, fmt.Errorf("duck: stream %s: %w", name, err)
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	streams.Store(id, &stream{rdr: rdr, rows: rows, in: in, conn: c.handle})
	drop := func() {
		streams.Delete(id)
		in.close()
	}
	defer c.changed()
	if _, err := c.sc.ExecContext(context.Background(), "CREATE OR REPLACE TEMP VIEW "+QuoteIdent(name)+
		" AS SELECT * FROM "+streamFunction+"('"+id+"')"); err != nil {
		drop()
		return nil, wrap(fmt.Errorf("duck: stream %s: %w", name, err))
	}
	return func() {
		_, _ = c.sc.ExecContext(context.Background(), "DROP VIEW IF EXISTS temp.main."+QuoteIdent(name))
		c.changed()
		drop()
	}, nil
}

// registerStreamFunction registers skein_stream in db's catalog, once.
func (db *DB) registerStreamFunction(c *Conn) error {
	db.streamOnce.Do(func() {
		f := mapping.CreateTableFunction()
		defer mapping.DestroyTableFunction(&f)
		mapping.TableFunctionSetName(f, streamFunction)
		varchar := mapping.CreateLogicalType(mapping.TypeVarchar)
		mapping.TableFunctionAddParameter(f, varchar)
		mapping.DestroyLogicalType(&varchar)
		mapping.TableFunctionSetBind(f, unsafe.Pointer(C.skein_stream_bind_t(C.skein_stream_bind)))
		mapping.TableFunctionSetInit(f, unsafe.Pointer(C.skein_stream_init_t(C.skein_stream_init)))
		mapping.TableFunctionSetFunction(f, unsafe.Pointer(C.skein_stream_scan_t(C.skein_stream_scan)))
		mapping.TableFunctionSupportsProjectionPushdown(f, true)
		if mapping.RegisterTableFunction(c.handle, f) == mapping.StateError {
			db.streamErr = errors.New("duck: registering " + streamFunction + " failed")
		}
	})
	return db.streamErr
}

// newHandle keeps a Go value for DuckDB, freed by skein_stream_delete.
func newHandle(v any) unsafe.Pointer {
	p := C.malloc(C.size_t(unsafe.Sizeof(cgo.Handle(0))))
	*(*cgo.Handle)(p) = cgo.NewHandle(v)
	return p
}

func handleValue[T any](p unsafe.Pointer) T { return (*(*cgo.Handle)(p)).Value().(T) }

//export skein_stream_delete
func skein_stream_delete(p unsafe.Pointer) {
	(*(*cgo.Handle)(p)).Delete()
	C.free(p)
}

//export skein_stream_bind
func skein_stream_bind(p unsafe.Pointer) {
	info := mapping.BindInfo{Ptr: p}
	v := mapping.BindGetParameter(info, 0)
	id := mapping.GetVarchar(v)
	mapping.DestroyValue(&v)
	x, ok := streams.Load(id)
	if !ok {
		mapping.BindSetError(info, "skein_stream: no such stream")
		return
	}
	s := x.(*stream)
	for i, name := range s.in.names {
		mapping.BindAddResultColumn(info, name, s.in.types[i])
	}
	if s.rows >= 0 {
		mapping.BindSetCardinality(info, mapping.IdxT(s.rows), true)
	}
	mapping.BindSetBindData(info, newHandle(s), unsafe.Pointer(C.skein_stream_bind_t(C.skein_stream_delete)))
}

//export skein_stream_init
func skein_stream_init(p unsafe.Pointer) {
	info := mapping.InitInfo{Ptr: p}
	s := handleValue[*stream](mapping.InitGetBindData(info))
	if s.claimed.Swap(true) {
		mapping.InitSetError(info, "skein_stream: a stream is scanned once; this query scans it again")
		return
	}
	st := &scanState{}
	for i := range mapping.InitGetColumnCount(info) {
		st.cols = append(st.cols, int(mapping.InitGetColumnIndex(info, i)))
	}
	mapping.InitSetMaxThreads(info, 1)
	mapping.InitSetInitData(info, newHandle(st), unsafe.Pointer(C.skein_stream_bind_t(C.skein_stream_delete)))
}

//export skein_stream_scan
func skein_stream_scan(p, out unsafe.Pointer) {
	info := mapping.FunctionInfo{Ptr: p}
	output := mapping.DataChunk{Ptr: out}
	s := handleValue[*stream](mapping.FunctionGetBindData(info))
	st := handleValue[*scanState](mapping.FunctionGetInitData(info))
	for st.rec == nil || st.off >= st.rec.NumRows() {
		st.rec, st.off = nil, 0
		if !s.rdr.Next() {
			if err := s.rdr.Err(); err != nil {
				mapping.FunctionSetError(info, err.Error())
			}
			mapping.DataChunkSetSize(output, 0)
			return
		}
		st.rec = s.rdr.RecordBatch()
	}
	n := min(st.rec.NumRows()-st.off, vectorRows)
	part := st.rec.NewSlice(st.off, st.off+n)
	st.off += n
	chunk, ed := arrowmapping.DataChunkFromArrow(s.conn, part, s.in.conv)
	part.Release()
	if err := errorData(ed); err != nil {
		mapping.DestroyDataChunk(&chunk)
		mapping.FunctionSetError(info, err.Error())
		return
	}
	for i, col := range st.cols {
		if col >= len(s.in.names) {
			continue // a virtual column (row id): none is read
		}
		mapping.VectorReferenceVector(mapping.DataChunkGetVector(output, mapping.IdxT(i)),
			mapping.DataChunkGetVector(chunk, mapping.IdxT(col)))
	}
	mapping.DataChunkSetSize(output, mapping.IdxT(n))
	mapping.DestroyDataChunk(&chunk)
}
