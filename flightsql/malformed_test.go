package flightsql_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/internal/flighttest"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func int32Buffer(vs ...int32) *memory.Buffer {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[i*4:], uint32(v))
	}
	return memory.NewBufferBytes(b)
}

// A record batch whose indices or offsets point outside its buffers is
// refused with InvalidArgument before DuckDB reads it: DuckDB trusts
// them, and read past its buffers (a dictionary index of 1e9) the whole
// coordinator died of SIGSEGV in duckdb_append_data_chunk.
func TestMalformedIngestIsRefused(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	dict := array.NewData(arrow.BinaryTypes.String, 1, []*memory.Buffer{nil, int32Buffer(0, 1), memory.NewBufferBytes([]byte("a"))}, nil, 0, 0)
	defer dict.Release()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	indices := array.NewData(dt, 3, []*memory.Buffer{nil, int32Buffer(0, 1_000_000_000, -5)}, nil, 0, 0)
	defer indices.Release()
	indices.SetDictionary(dict)
	// Offsets that go backwards, within the values buffer.
	backwards := array.NewData(arrow.BinaryTypes.String, 3, []*memory.Buffer{nil, int32Buffer(0, 6, 2, 8), memory.NewBufferBytes([]byte("abcdefgh"))}, nil, 0, 0)
	defer backwards.Release()
	for name, data := range map[string]arrow.ArrayData{"dictionary": indices, "offsets": backwards} {
		arr := array.MakeFromData(data)
		sc := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arr.DataType(), Nullable: true}}, nil)
		rec := array.NewRecordBatch(sc, []arrow.Array{arr}, int64(arr.Len()))
		rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ExecuteIngest(ctx, rdr, &flightsql.ExecuteIngestOpts{Table: "t_" + name,
			TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate}})
		rdr.Release()
		rec.Release()
		arr.Release()
		t.Run(name, func(t *testing.T) { wantCode(t, err, codes.InvalidArgument) })
	}
	if _, recs := query(t, ctx, c, "SELECT 42::BIGINT"); int64At(t, recs) != 42 {
		t.Fatal("the server does not answer after the malformed ingests")
	}
}

// A schema nested past what a result may hold, sent as the parameters of
// a prepared statement or as rows to ingest, is refused before arrow-go
// or DuckDB reads it: 2,000,000 levels overflowed the Go stack (a fatal
// error: the server was gone), 10,000 crashed DuckDB converting it, and
// 2^50 fields in a few hundred bytes (one child named twice a level)
// would take more than memory. The server answers on.
func TestDeepSchemasAreRefusedUnread(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	prep, err := c.Prepare(ctx, "SELECT ?")
	if err != nil {
		t.Fatal(err)
	}
	defer prep.Close(ctx)
	params := &pb.CommandPreparedStatementQuery{PreparedStatementHandle: prep.Handle()}
	ingest := &pb.CommandStatementIngest{Table: "deep", TableDefinitionOptions: &pb.CommandStatementIngest_TableDefinitionOptions{
		IfNotExist: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_NOT_EXIST_OPTION_CREATE}}
	for _, c2 := range []struct {
		name         string
		cmd          proto.Message
		depth, width int
	}{
		{"parameters, 2,000,000 levels", params, 2_000_000, 1},
		{"parameters, 2^50 fields", params, 50, 2},
		{"ingest, 10,000 levels", ingest, 10_000, 1},
		{"ingest, 64 levels", ingest, 64, 1},
		{"ingest, 2^50 fields", ingest, 50, 2},
	} {
		t.Run(c2.name, func(t *testing.T) {
			err := doPutStatus(ctx, c, c2.cmd, flighttest.NestedSchemaHeader(c2.depth, c2.width))
			wantMessage(t, err, codes.InvalidArgument, "schema")
		})
	}
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'deep'"); int64At(t, recs) != 0 {
		t.Fatal("a refused ingest created its table")
	}
}

// Well-formed columns of the types Arrow builds without buffers (NULL,
// run-end encoded) and dictionaries still load: the check refuses only
// what is malformed.
func TestOddButValidIngestLoads(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: arrow.Null, Nullable: true},
		{Name: "r", Type: arrow.RunEndEncodedOf(arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "d", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "z", Type: arrow.Null, Nullable: true}, arrow.Field{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for range 3 {
		b.Field(0).AppendNull()
	}
	ree := b.Field(1).(*array.RunEndEncodedBuilder)
	ree.Append(2)
	ree.ValueBuilder().(*array.Int64Builder).Append(7)
	ree.AppendNull()
	dict := b.Field(2).(*array.BinaryDictionaryBuilder)
	for _, v := range []string{"x", "y", "x"} {
		if err := dict.AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	st := b.Field(3).(*array.StructBuilder)
	for i := range 3 {
		st.Append(true)
		st.FieldBuilder(0).AppendNull()
		st.FieldBuilder(1).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	n, err := c.ExecuteIngest(ctx, rdr, &flightsql.ExecuteIngestOpts{Table: "odd",
		TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate}})
	if err != nil || n != 3 {
		t.Fatalf("ingest: %d, %v", n, err)
	}
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM odd WHERE r = 7 AND s.i < 3"); int64At(t, recs) != 2 {
		t.Fatal("the rows loaded are not the rows sent")
	}
}

// Bulk loads of schemas DuckDB's Arrow conversion or arrow-go cannot take
// are refused with InvalidArgument, and the session stays as it was:
// run-end encoded values under a list ended the process (SIGSEGV in
// duckdb_data_chunk_from_arrow, on the probe row of NULLs, whatever the
// data); an extension type over a storage type arrow-go refuses (a nil
// schema) and a dictionary of lists panicked inside the load's
// transaction, which then stayed open: the session's later writes were
// acknowledged and never committed.
func TestIngestOfUnconvertibleSchemasIsRefused(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	mem := memory.DefaultAllocator
	ree := func() arrow.Array {
		b := array.NewRunEndEncodedBuilder(mem, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64)
		defer b.Release()
		b.Append(2)
		b.ValueBuilder().(*array.Int64Builder).Append(7)
		return b.NewArray()
	}()
	defer ree.Release()
	listOfREE := array.NewListData(array.NewData(arrow.ListOf(ree.DataType()), 1,
		[]*memory.Buffer{nil, int32Buffer(0, 2)}, []arrow.ArrayData{ree.Data()}, 0, 0))
	defer listOfREE.Release()
	dictValues, _, err := array.FromJSON(mem, arrow.ListOf(arrow.PrimitiveTypes.Int64), strings.NewReader(`[[1], [2, 3]]`))
	if err != nil {
		t.Fatal(err)
	}
	defer dictValues.Release()
	dictIndices, _, err := array.FromJSON(mem, arrow.PrimitiveTypes.Int8, strings.NewReader(`[0, 1, 0]`))
	if err != nil {
		t.Fatal(err)
	}
	defer dictIndices.Release()
	dictOfLists := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: dictValues.DataType()}, dictIndices, dictValues)
	defer dictOfLists.Release()
	int8s, _, err := array.FromJSON(mem, arrow.PrimitiveTypes.Int8, strings.NewReader(`[1, 2]`))
	if err != nil {
		t.Fatal(err)
	}
	defer int8s.Release()
	for _, tc := range []struct {
		name string
		col  arrow.Array
		meta arrow.Metadata
	}{
		{"list of run-end encoded", listOfREE, arrow.Metadata{}},
		{"dictionary of lists", dictOfLists, arrow.Metadata{}},
		{"uuid over int8", int8s, arrow.NewMetadata([]string{"ARROW:extension:name", "ARROW:extension:metadata"}, []string{"arrow.uuid", ""})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := arrow.NewSchema([]arrow.Field{{Name: "c", Type: tc.col.DataType(), Nullable: true, Metadata: tc.meta}}, nil)
			rec := array.NewRecordBatch(sc, []arrow.Array{tc.col}, int64(tc.col.Len()))
			defer rec.Release()
			rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
			if err != nil {
				t.Fatal(err)
			}
			defer rdr.Release()
			_, err = c.ExecuteIngest(ctx, rdr, &flightsql.ExecuteIngestOpts{Table: "odd",
				TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate}})
			// The server refuses the schema once it has read it: a client
			// still writing a dictionary then meets its own write's end
			// (arrow-go's ExecuteIngest said "failure writing dictionary
			// batches: EOF" instead of the status, once, under load). No
			// table may come of it either way (below).
			if !(err != nil && strings.Contains(err.Error(), "failure writing dictionary batches: EOF")) {
				wantCode(t, err, codes.InvalidArgument)
			}
		})
	}
	if _, recs := query(t, ctx, ts.client(t), "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'odd'"); int64At(t, recs) != 0 {
		t.Fatal("a refused load created its table")
	}
	// The session's next write commits: another session sees it.
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE kept AS SELECT 42::BIGINT AS x"); err != nil {
		t.Fatal(err)
	}
	if _, recs := query(t, ctx, ts.client(t), "SELECT x FROM kept"); int64At(t, recs) != 42 {
		t.Fatal("another session does not see the write")
	}
}

// An ingest stream that does not decode as Arrow IPC (a schema again
// midway, a batch whose body is shorter than its header says) is the
// client's error, InvalidArgument, and loads nothing: it was Internal (a
// tester's).
func TestUndecodableIngestStreamIsInvalid(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues([]int64{1, 2, 3}, nil)
	col := b.NewArray()
	b.Release()
	defer col.Release()
	rec := array.NewRecordBatch(sc, []arrow.Array{col}, 3)
	defer rec.Release()
	msgs := ipcMessages(t, sc, nil, rec) // the schema, then the batch
	short := proto.Clone(msgs[1]).(*pb.FlightData)
	short.DataBody = short.DataBody[:len(short.DataBody)/3]
	for name, stream := range map[string][]*pb.FlightData{
		"a schema midway":   {msgs[0], msgs[0]},
		"a body cut short":  {msgs[0], short},
		"an empty message":  {msgs[0], {}, msgs[1]},
		"the batch, intact": {msgs[0], msgs[1]},
	} {
		t.Run(name, func(t *testing.T) {
			table := "t" + strings.ReplaceAll(name, " ", "_")
			err := doPutMessages(ctx, c, &pb.CommandStatementIngest{Table: table, TableDefinitionOptions: &pb.CommandStatementIngest_TableDefinitionOptions{
				IfNotExist: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_NOT_EXIST_OPTION_CREATE}}, stream)
			if name == "the batch, intact" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, codes.InvalidArgument)
			if _, recs := query(t, ctx, c, "SELECT count(*) FROM duckdb_tables() WHERE table_name = '"+table+"'"); int64At(t, recs) != 0 {
				t.Fatal("the refused ingest created its table")
			}
		})
	}
}

// A stream of dictionary deltas, each message small, is bounded by what
// one message may hold (--max-message-mb): it grew the dictionary
// without bound, each batch converted with all of it (200 MB over 100
// deltas took a server to 1.2 GB, a tester's). Within it, it loads.
func TestIngestDictionaryDeltasAreBounded(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 })
	ctx := context.Background()
	c := ts.client(t)
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	sc := arrow.NewSchema([]arrow.Field{{Name: "d", Type: dt, Nullable: true}}, nil)
	const perDelta = 256 // values of 1 KiB
	vb := array.NewStringBuilder(memory.DefaultAllocator)
	for i := range 8 * perDelta {
		vb.Append(fmt.Sprintf("%04d%s", i, strings.Repeat("v", 1020)))
	}
	values := vb.NewArray()
	vb.Release()
	defer values.Release()
	batches := func(n int) []arrow.RecordBatch {
		var recs []arrow.RecordBatch
		for k := range n {
			dict := array.NewSlice(values, 0, int64((k+1)*perDelta))
			ib := array.NewInt32Builder(memory.DefaultAllocator)
			ib.AppendValues([]int32{int32(k * perDelta), int32((k+1)*perDelta - 1)}, nil)
			idx := ib.NewArray()
			ib.Release()
			col := array.NewDictionaryArray(dt, idx, dict)
			idx.Release()
			dict.Release()
			recs = append(recs, array.NewRecordBatch(sc, []arrow.Array{col}, 2))
			col.Release()
		}
		t.Cleanup(func() {
			for _, r := range recs {
				r.Release()
			}
		})
		return recs
	}
	ingest := func(table string, n int) error {
		return doPutMessages(ctx, c, &pb.CommandStatementIngest{Table: table, TableDefinitionOptions: &pb.CommandStatementIngest_TableDefinitionOptions{
			IfNotExist: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_NOT_EXIST_OPTION_CREATE}},
			ipcMessages(t, sc, []ipc.Option{ipc.WithDictionaryDeltas(true)}, batches(n)...))
	}
	wantMessage(t, ingest("grown", 8), codes.ResourceExhausted, "dictionaries")
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'grown'"); int64At(t, recs) != 0 {
		t.Fatal("the refused ingest created its table")
	}
	if err := ingest("kept", 3); err != nil {
		t.Fatalf("three deltas within the bound: %v", err)
	}
	if _, recs := query(t, ctx, c, "SELECT count(DISTINCT d) FROM kept"); int64At(t, recs) != 6 {
		t.Fatalf("%d distinct values loaded, want 6", int64At(t, recs))
	}
}

// ipcMessages are the FlightData messages of an IPC stream of recs.
func ipcMessages(t *testing.T, sc *arrow.Schema, opts []ipc.Option, recs ...arrow.RecordBatch) []*pb.FlightData {
	t.Helper()
	var c capturedData
	w := flight.NewRecordWriter(&c, append([]ipc.Option{ipc.WithSchema(sc)}, opts...)...)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

type capturedData []*pb.FlightData

func (c *capturedData) Send(d *pb.FlightData) error {
	*c = append(*c, proto.Clone(d).(*pb.FlightData))
	return nil
}

// doPutMessages sends a DoPut of command msg made of msgs (the first
// carries the command's descriptor), and returns the call's status.
func doPutMessages(ctx context.Context, c *flightsql.Client, msg proto.Message, msgs []*pb.FlightData) error {
	var cmd anypb.Any
	if err := cmd.MarshalFrom(msg); err != nil {
		return err
	}
	b, err := proto.Marshal(&cmd)
	if err != nil {
		return err
	}
	stream, err := c.Client.DoPut(ctx)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		m = proto.Clone(m).(*pb.FlightData)
		if i == 0 {
			m.FlightDescriptor = &pb.FlightDescriptor{Type: pb.FlightDescriptor_CMD, Cmd: b}
		}
		if err := stream.Send(m); err != nil {
			break // the server ended the call: its status comes with Recv
		}
	}
	_ = stream.CloseSend()
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
