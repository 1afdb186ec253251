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
	"errors"
	"fmt"
	"runtime/cgo"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// The table function skein_stream('name') scans the Arrow stream
// registered under name on the calling connection (RegisterStream),
// converting its batches to DuckDB vectors as the query pulls them (the
// conversion DuckDB's Arrow scan and Ingest use). Unlike DuckDB's C API
// Arrow scan (duckdb-go's RegisterView), it honours the columns DuckDB asks
// for (projection pushdown) and takes no filters, so a query may read any
// columns of it in any order; and it scans its stream once: a second scan
// fails, it never reads an empty stream.
//
// A query names the stream as a table: DuckDB, finding no such table in
// its catalog, asks the instance's replacement scan (replaceStream), which
// turns a registered name into skein_stream('name'). No view is created or
// dropped per stream: a TEMP view over the stream (CREATE and DROP, each
// a catalog transaction) cost about 1.2 ms of CPU per coordinator merge and
// per streamed exchange input (BenchmarkStream). The stream is found by the
// DuckDB connection binding the query, so a name registered on one
// connection never reads on another, and one released is not found.
const streamFunction = "skein_stream"

type stream struct {
	rdr     array.RecordReader
	rows    int64 // its rows, when known (else -1): the planner's estimate
	in      *arrowInput
	conn    mapping.Connection // converts batches (its client's Arrow settings)
	claimed atomic.Bool        // a scan has begun
}

// streamKey is a registered stream's name (lower case: DuckDB's names are
// not case sensitive) and the id DuckDB gives its connection, unique in
// the instance.
type streamKey struct {
	name string
	conn uint64
}

// scanState is one scan's place in its stream.
type scanState struct {
	cols []int // the stream's column of each output column
	rec  arrow.RecordBatch
	off  int64
}

// RegisterStream makes rdr the table name of this connection, pulled as a
// query scans it, once; release ends the registration (after the query
// has ended). A table or view of the catalog by that name would hide it:
// the names are Skein's own (skein_*), in its in-memory instances. rows,
// when not negative, is how many rows rdr holds: DuckDB plans joins by the
// sizes of their inputs, and without it guesses.
func (c *Conn) RegisterStream(rdr array.RecordReader, name string, rows int64) (release func(), err error) {
	if err := c.db.registerStreamFunction(c); err != nil {
		return nil, err
	}
	in, err := c.newArrowInput(rdr.Schema())
	if err != nil {
		return nil, fmt.Errorf("duck: stream %s: %w", name, err)
	}
	key := streamKey{name: strings.ToLower(name), conn: c.duckConnID()}
	db := c.db
	db.streamMu.Lock()
	if _, ok := db.streams[key]; ok {
		db.streamMu.Unlock()
		in.close()
		return nil, fmt.Errorf("duck: stream %s is registered on this connection already", name)
	}
	s := &stream{rdr: rdr, rows: rows, in: in, conn: c.handle}
	db.streams[key] = s
	db.streamNames[key.name]++
	db.streamMu.Unlock()
	// What the name binds to on this connection changed (a statement kept
	// with the stream bound in it must be prepared again).
	c.changed()
	return func() {
		db.streamMu.Lock()
		delete(db.streams, key)
		if db.streamNames[key.name]--; db.streamNames[key.name] == 0 {
			delete(db.streamNames, key.name)
		}
		db.streamMu.Unlock()
		c.changed()
		// A statement still holding it (bound before) cannot scan it: its
		// reader and conversion are the caller's to free.
		s.claimed.Store(true)
		in.close()
	}, nil
}

// replaceStream is the instance's replacement scan: a table name that is
// no table of the catalog, registered as a stream on some connection,
// becomes skein_stream('name'), which finds the stream of the connection
// binding the query (or fails).
func (db *DB) replaceStream(table string) (string, []any, error) {
	name := strings.ToLower(table)
	db.streamMu.Lock()
	n := db.streamNames[name]
	db.streamMu.Unlock()
	if n == 0 {
		return "", nil, nil // not ours: DuckDB goes on to its own error
	}
	return streamFunction, []any{name}, nil
}

// lookupStream is the stream name registered on DuckDB connection conn.
func (db *DB) lookupStream(name string, conn uint64) (*stream, bool) {
	db.streamMu.Lock()
	defer db.streamMu.Unlock()
	s, ok := db.streams[streamKey{name: strings.ToLower(name), conn: conn}]
	return s, ok
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
		mapping.TableFunctionSetExtraInfo(f, newHandle(db), unsafe.Pointer(C.skein_stream_bind_t(C.skein_stream_delete)))
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
	table := mapping.GetVarchar(v)
	mapping.DestroyValue(&v)
	db := handleValue[*DB](mapping.BindGetExtraInfo(info))
	var cc mapping.ClientContext
	mapping.TableFunctionGetClientContext(info, &cc)
	conn := uint64(mapping.ClientContextGetConnectionId(cc))
	mapping.DestroyClientContext(&cc)
	s, ok := db.lookupStream(table, conn)
	if !ok {
		mapping.BindSetError(info, "skein_stream: no stream "+table+" on this connection")
		return
	}
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
	chunk, err := s.in.chunkOf(s.conn, part)
	part.Release()
	if err != nil {
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
