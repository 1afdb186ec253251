package flightsql_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The parameter rows a client binds are held in memory until the
// statement runs: their size is bounded (--max-message-mb), else one
// client streaming batches, each within the message limit, grows the
// server without end (20 million BIGINTs: 1.8 GB).
func TestBoundParametersAreBounded(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 })
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE p (a BIGINT)"); err != nil {
		t.Fatal(err)
	}
	// 100 batches of 100,000 rows, each 800 KB on the wire: under the
	// message limit one by one, 10 million rows in all.
	for _, sql := range []string{"SELECT CAST(? AS BIGINT) + 1", "INSERT INTO p VALUES (?)"} {
		prep, err := c.Prepare(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		prep.SetRecordReader(repeated(t, 100_000))
		if sql[0] == 'S' {
			_, err = prep.Execute(ctx)
		} else {
			_, err = prep.ExecuteUpdate(ctx)
		}
		wantCode(t, err, codes.ResourceExhausted)
		_ = prep.Close(ctx)
	}
	// A binding within the bound runs.
	prep, err := c.Prepare(ctx, "INSERT INTO p VALUES (?)")
	if err != nil {
		t.Fatal(err)
	}
	defer prep.Close(ctx)
	rdr := repeated(t, 1000)
	rdr.Next()
	prep.SetParameters(rdr.RecordBatch())
	if n, err := prep.ExecuteUpdate(ctx); err != nil || n != 1000 {
		t.Fatalf("a binding of 1,000 rows: %d, %v", n, err)
	}
}

// The parameter rows bound to every prepared statement of the server are
// bounded together too (8 times --max-message-mb): 40 statements each
// bound to 60 MiB took a server to 2.57 GB. A closed statement gives its
// rows' memory back.
func TestBoundParametersAreBoundedTogether(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 })
	ctx := context.Background()
	c := ts.client(t)
	var preps []*flightsql.PreparedStatement
	bind := func() error {
		prep, err := c.Prepare(ctx, "SELECT CAST(? AS BIGINT) + 1")
		if err != nil {
			t.Fatal(err)
		}
		preps = append(preps, prep)
		prep.SetRecordReader(repeated(t, 150)) // 15,000 rows, about 840 KB held
		_, err = prep.Execute(ctx)
		return err
	}
	for i := range 9 {
		if err := bind(); err != nil {
			t.Fatalf("binding %d: %v", i+1, err)
		}
	}
	wantCode(t, bind(), codes.ResourceExhausted)
	for _, p := range preps[:2] {
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := bind(); err != nil {
		t.Fatalf("after two statements closed: %v", err)
	}
}

// Queries planned and not yet read count against the server's budget of
// prepared statements, across sessions: each session holds a bounded
// number, but one client's sessions held 180,000, 3 GB, until their
// tickets expired (a tester's). Reading one gives its room back.
func TestUnreadQueriesAreBoundedAcrossSessions(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 }) // 16 MiB of statements
	ctx := context.Background()
	// About 220 KB of statement each (statementCost): some 75 fit.
	sql := "SELECT 1 AS one /*" + strings.Repeat(" padding", 12_000) + " */"
	type planned struct {
		c    *flightsql.Client
		info *flight.FlightInfo
	}
	var held []planned
	var err error
	for err == nil {
		if len(held) > 200 {
			t.Fatal("200 queries planned and unread, a session each, were all taken")
		}
		c := ts.client(t) // a session each
		var info *flight.FlightInfo
		if info, err = c.Execute(ctx, sql); err == nil {
			held = append(held, planned{c, info})
		}
	}
	wantCode(t, err, codes.ResourceExhausted)
	if !strings.Contains(err.Error(), "planned and not yet read") {
		t.Fatalf("the refusal does not say what holds the room: %v", err)
	}
	if len(held) < 50 {
		t.Fatalf("refused after %d queries", len(held))
	}
	// One read gives its room back.
	fetch(t, ctx, held[0].c, held[0].info)
	if _, err := held[0].c.Execute(ctx, sql); err != nil {
		t.Fatalf("after one was read: %v", err)
	}
}

// A prepared query's statement is counted once, by its Prepare: its
// unread query holds only its text. Counted again as it ran, a prepared
// IN list of over half the user's share was refused "would pass ...
// close prepared statements", though the client held nothing else (a
// tester's, through ADBC's DB-API, which prepares every query).
func TestPreparedQueryIsCountedOnce(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 }) // 16 MiB of statements
	ctx := context.Background()
	c := ts.client(t)
	keys := make([]string, 20_000) // about 13 MB of statement (statementCost)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	sql := "SELECT count(*) AS n FROM range(10) t(x) WHERE x IN (" + strings.Join(keys, ",") + ")"
	prep, err := c.Prepare(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	defer prep.Close(ctx)
	for range 2 {
		info, err := prep.Execute(ctx)
		if err != nil {
			t.Fatalf("executing the prepared statement: %v", err)
		}
		_, recs := fetch(t, ctx, c, info)
		if rowCount(recs) != 1 || recs[0].Column(0).(*array.Int64).Value(0) != 10 {
			t.Fatalf("answered %v, want 10", recs)
		}
	}
	// A second statement of the text does not fit beside the first.
	if _, err := c.Prepare(ctx, sql); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second prepared statement of 13 MB in 16 MiB: %v, want refused", err)
	}
}

// The statements of sessions whose clients are gone are closed to make
// room for their user's next: two clients that prepared an IN list and
// died without closing it left the budget taken until
// --session-idle-timeout, and the user was told to close statements it
// could no longer reach (a tester's).
func TestStatementsOfGoneClientsMakeRoom(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 }) // 16 MiB of statements
	ctx := context.Background()
	keys := make([]string, 10_000) // about 6.6 MB of statement (statementCost)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	sql := "SELECT count(*) AS n FROM range(10) t(x) WHERE x IN (" + strings.Join(keys, ",") + ")"
	for range 2 {
		c := ts.client(t)
		if _, err := c.Prepare(ctx, sql); err != nil {
			t.Fatal(err)
		}
		_ = c.Close() // gone, its statement not closed
	}
	c := ts.client(t)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var prep *flightsql.PreparedStatement
		if prep, err = c.Prepare(ctx, sql); err == nil {
			_ = prep.Close(ctx)
			return
		}
		wantCode(t, err, codes.ResourceExhausted)
	}
	t.Fatalf("a third statement beside two of gone clients: %v", err)
}

// A query planned from a prepared statement is answered after the
// statement was closed, its text prepared again with its parameters: its
// DoGet failed with the driver's "misuse of duckdb driver: NumInput after
// Close" (a tester's).
func TestTicketOfAClosedStatementIsAnswered(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	prep, err := c.Prepare(ctx, "SELECT $1::BIGINT + 1 AS v")
	if err != nil {
		t.Fatal(err)
	}
	prep.SetParameters(int64Param(t, "a", 41))
	info, err := prep.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := prep.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, recs := fetch(t, ctx, c, info)
	if rowCount(recs) != 1 || recs[0].Column(0).(*array.Int64).Value(0) != 42 {
		t.Fatalf("the ticket answered %v", recs)
	}
}

// A query cancelled before it is read gives back its statement and its
// session's room at once: it held them until its ticket expired, and a
// thousand cancels (a shell's Ctrl-C) left a session unable to plan
// another query (a tester's).
func TestCancelledQueriesGiveTheirRoomBack(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxStatementsPerSession = 2 })
	ctx := context.Background()
	c := ts.client(t)
	for round := range 3 {
		for range 2 {
			info, err := c.Execute(ctx, "SELECT 1")
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if r, err := c.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info}); err != nil || r.Status != flight.CancelStatusCancelled {
				t.Fatalf("cancel: %v %v", r.Status, err)
			}
		}
	}
}

// What a session holds in DuckDB for later (prepared statements, queries
// planned and not read) is bounded: a client that never closes or reads
// them is refused more, not let grow the server (20,000 of either held
// 300 MB until the session's idle timeout or the tickets' expiry).
func TestSessionStatementsAreBounded(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxStatementsPerSession = 10 })
	ctx := context.Background()
	c := ts.client(t)
	var preps []*flightsql.PreparedStatement
	for range 6 {
		p, err := c.Prepare(ctx, "SELECT 1")
		if err != nil {
			t.Fatal(err)
		}
		preps = append(preps, p)
	}
	var infos []*flight.FlightInfo
	for range 4 {
		info, err := c.Execute(ctx, "SELECT 2")
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, info)
	}
	_, err := c.Prepare(ctx, "SELECT 3")
	wantCode(t, err, codes.ResourceExhausted)
	_, err = c.Execute(ctx, "SELECT 3")
	wantCode(t, err, codes.ResourceExhausted)
	_, err = preps[0].Execute(ctx)
	wantCode(t, err, codes.ResourceExhausted)
	// Another session has its own room.
	if _, err := ts.client(t).Prepare(ctx, "SELECT 4"); err != nil {
		t.Fatal(err)
	}
	// Closing a statement or reading a query makes room.
	if err := preps[0].Close(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := c.Prepare(ctx, "SELECT 5")
	if err != nil {
		t.Fatal(err)
	}
	preps[0] = p
	fetch(t, ctx, c, infos[0])
	info, err := c.Execute(ctx, "SELECT 6")
	if err != nil {
		t.Fatal(err)
	}
	fetch(t, ctx, c, info)
	for _, p := range preps {
		_ = p.Close(ctx)
	}
}

// With users, one user's bound rows take at most a quarter of the
// server's budget: a reader that bound 9 x 55 MB and stayed had every
// other user's executemany refused until its session ended.
func TestOneUsersParametersLeaveRoomForOthers(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "reader:a", "bob": "writer:b"})
	ts := startServer(t, func(c *coordinator.Config) { c.UsersFile, c.MaxMessageMB = path, 1 })
	bind := func(c *flightsql.Client, ctx context.Context) error {
		prep, err := c.Prepare(ctx, "SELECT CAST(? AS BIGINT) + 1")
		if err != nil {
			t.Fatal(err)
		}
		prep.SetRecordReader(repeated(t, 150)) // about 840 KB held
		_, err = prep.Execute(ctx)
		return err
	}
	ann := ts.bareClient(t, "")
	actx := login(t, ann, "ann", "a")
	for i := range 2 { // a quarter of 8 MiB
		if err := bind(ann, actx); err != nil {
			t.Fatalf("ann's binding %d: %v", i+1, err)
		}
	}
	wantMessage(t, bind(ann, actx), codes.ResourceExhausted, "of user ann")
	bob := ts.bareClient(t, "")
	bctx := login(t, bob, "bob", "b")
	for i := range 2 {
		if err := bind(bob, bctx); err != nil {
			t.Fatalf("bob's binding %d beside ann's: %v", i+1, err)
		}
	}
}

// The prepared statements the sessions hold are bounded by the memory
// DuckDB holds for them (16 times --max-message-mb, a quarter of it a
// user's), estimated from their tokens: an IN list holds some 45 times its
// text, and bounded by bytes of text, 169 statements of 100,000 keys took a
// server to 2.8 GB. Here a statement of 10 KB (2,500 keys, about 1.7 MB
// estimated, 0.8 MB measured) counts as much as it holds. Closing one gives
// its room back.
func TestPreparedStatementsAreBounded(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "reader:a", "bob": "reader:b"})
	ts := startServer(t, func(c *coordinator.Config) { c.UsersFile, c.MaxMessageMB = path, 1 })
	text := "SELECT 1 AS a WHERE 1 IN (1" + strings.Repeat(",0", 2500) + ")"
	ann := ts.bareClient(t, "")
	actx := login(t, ann, "ann", "a")
	// At most 2 fit in a 4 MiB share (3.4 MB estimated; what the process
	// grew by as DuckDB prepared one, when more, counts instead).
	var preps []*flightsql.PreparedStatement
	var err error
	for err == nil && len(preps) <= 2 {
		var p *flightsql.PreparedStatement
		if p, err = ann.Prepare(actx, text); err == nil {
			preps = append(preps, p)
		}
	}
	if len(preps) == 0 || len(preps) > 2 {
		t.Fatalf("%d of ann's statements held, want 1 or 2 in her 4 MiB", len(preps))
	}
	wantMessage(t, err, codes.ResourceExhausted, "memory of the prepared statements held (estimated from their texts, or what the process grew by as DuckDB prepared them) of user ann")
	bob := ts.bareClient(t, "")
	if _, err := bob.Prepare(login(t, bob, "bob", "b"), text); err != nil {
		t.Fatalf("bob's statement beside ann's: %v", err)
	}
	for _, p := range preps {
		if err := p.Close(actx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ann.Prepare(actx, text); err != nil {
		t.Fatalf("ann's statement after hers closed: %v", err)
	}
}

// The rows of writes returning rows, run when planned and held until read,
// are bounded together (16 x --max-message-mb, a quarter a user's): 8
// unread INSERT ... RETURNING of lineitem's size took a server from 85 to
// 1,616 MB until their tickets expired. One past the bound is refused and
// undone; once one is read, the next is taken.
func TestUnreadReturnedRowsAreBounded(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "writer:a"})
	ts := startServer(t, func(c *coordinator.Config) { c.UsersFile, c.MaxMessageMB = path, 1 })
	ann := ts.bareClient(t, "")
	ctx := login(t, ann, "ann", "a")
	if _, err := ann.ExecuteUpdate(ctx, "CREATE TABLE w (i BIGINT, s VARCHAR)"); err != nil {
		t.Fatal(err)
	}
	const insert = "INSERT INTO w SELECT range, repeat('x', 100) FROM range(15000) RETURNING *" // about 1.8 MB
	var infos []*flight.FlightInfo
	for i := range 2 { // 3.6 MB of a 4 MiB share
		info, err := ann.Execute(ctx, insert)
		if err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
		infos = append(infos, info)
	}
	_, err := ann.Execute(ctx, insert)
	wantMessage(t, err, codes.ResourceExhausted, "RETURNING) held unread of user ann")
	if n := scalarInt(t, ctx, ann, "SELECT count(*) FROM w"); n != 30000 {
		t.Fatalf("%d rows in w after the refused write, want 30000: it was not undone", n)
	}
	r, err := ann.DoGet(ctx, infos[0].Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
	}
	r.Release()
	if _, err := ann.Execute(ctx, insert); err != nil {
		t.Fatalf("a write after one was read: %v", err)
	}
}

// A prepared statement executed without a row of its parameters bound is
// the client's error (InvalidArgument), naming what is missing: a query's
// was Internal at its DoGet, duckdb-go's "incorrect argument count for
// command".
func TestUnboundParametersAreTheClientsError(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE u (a INT, b INT)"); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{"SELECT ?::INT + ?::INT", "INSERT INTO u VALUES (?, ?)"} {
		prep, err := c.Prepare(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		if sql[0] == 'S' {
			_, err = prep.Execute(ctx)
		} else {
			_, err = prep.ExecuteUpdate(ctx)
		}
		wantMessage(t, err, codes.InvalidArgument, "the statement takes 2")
		_ = prep.Close(ctx)
	}
	if n := scalarInt(t, ctx, c, "SELECT count(*) FROM u"); n != 0 {
		t.Fatalf("u has %d rows", n)
	}
}

// A string parameter that is not UTF-8 (Arrow does not check) is the
// client's error, InvalidArgument, as a value or inside a list: DuckDB's
// binding failed Internal "could not bind parameter", and a query split
// across executors answered as if it matched nothing (a tester's).
func TestStringParameterNotUTF8IsRefused(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}, {Name: "l", Type: arrow.ListOf(arrow.BinaryTypes.String)}}, nil)
	for col := range 2 {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		s, l := "k1", []string{"a"}
		if col == 0 {
			s = "k\xff1"
		} else {
			l = append(l, "k\xff1")
		}
		b.Field(0).(*array.StringBuilder).Append(s)
		lb := b.Field(1).(*array.ListBuilder)
		lb.Append(true)
		for _, v := range l {
			lb.ValueBuilder().(*array.StringBuilder).Append(v)
		}
		rec := b.NewRecordBatch()
		b.Release()
		prep, err := c.Prepare(ctx, "SELECT ?::VARCHAR = 'k1', len(?::VARCHAR[])")
		if err != nil {
			t.Fatal(err)
		}
		prep.SetParameters(rec)
		rec.Release()
		_, err = prep.Execute(ctx)
		wantMessage(t, err, codes.InvalidArgument, "not valid utf8")
		_ = prep.Close(ctx)
	}
}

// Rows bound to one statement each give a result of their own; rows whose
// results have other columns (read_parquet(?) of two files) cannot share
// one stream: InvalidArgument, and the session goes on. The stream
// panicked, left the session's connection interrupted every 20 ms (each
// later query "Interrupted!"), and the session's end then crashed the
// server, interrupting a connection closed (a tester's).
func TestParameterRowsGivingOtherColumnsAreRefused(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	a, b := filepath.Join(ts.dataDir, "files", "a.parquet"), filepath.Join(ts.dataDir, "files", "b.parquet")
	for _, q := range []string{
		"COPY (SELECT 1::BIGINT AS a) TO '" + a + "'",
		"COPY (SELECT 'x' AS b, 2.5 AS c) TO '" + b + "'",
	} {
		if _, err := c.ExecuteUpdate(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	sb.AppendValues([]string{a, b}, nil)
	col := sb.NewArray()
	sb.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "p", Type: arrow.BinaryTypes.String}}, nil), []arrow.Array{col}, 2)
	col.Release()
	defer rec.Release()
	prep, err := c.Prepare(ctx, "SELECT * FROM read_parquet(?)")
	if err != nil {
		t.Fatal(err)
	}
	prep.SetParameters(rec)
	info, err := prep.Execute(ctx)
	if err == nil {
		var r *flight.Reader
		if r, err = c.DoGet(ctx, info.Endpoint[0].Ticket); err == nil {
			for r.Next() {
			}
			err = r.Err()
			r.Release()
		}
	}
	wantMessage(t, err, codes.InvalidArgument, "parameter row 2 gives a result of other columns")
	if err := prep.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if n := scalarInt(t, ctx, c, "SELECT count(*) FROM range(2000000) t(i) WHERE i % 3 = 0"); n != 666667 {
			t.Fatalf("the session after: %d", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.CloseSession(ctx, &flight.CloseSessionRequest{}); err != nil {
		t.Fatal(err)
	}
}

// A malformed parameter batch (a dictionary index past its dictionary) is
// InvalidArgument, and the rows bound before it in the same call give
// their room back: it panicked reading the batch (Internal), and the
// budget a valid batch before it had taken stayed taken, until each of
// the user's binds was refused in every session (a tester's).
func TestMalformedParametersAreRefused(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 })
	ctx := context.Background()
	c := ts.client(t)
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	sc := arrow.NewSchema([]arrow.Field{{Name: "p", Type: typ}}, nil)
	// rows rows, each the dictionary's entry index: one string of 90 KB.
	batch := func(rows int, index int32) arrow.RecordBatch {
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		sb.Append(strings.Repeat("x", 90_000))
		dict := sb.NewArray()
		sb.Release()
		defer dict.Release()
		ib := array.NewInt32Builder(memory.DefaultAllocator)
		for range rows {
			ib.Append(index)
		}
		idx := ib.NewArray()
		ib.Release()
		defer idx.Release()
		data := array.NewData(typ, rows, idx.Data().Buffers(), nil, 0, 0)
		data.SetDictionary(dict.Data())
		defer data.Release()
		col := array.MakeFromData(data)
		defer col.Release()
		return array.NewRecordBatch(sc, []arrow.Array{col}, int64(rows))
	}
	good, bad := batch(10, 0), batch(1, 100)
	defer good.Release()
	defer bad.Release()
	for round := range 5 {
		prep, err := c.Prepare(ctx, "SELECT length(?::VARCHAR)")
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{good, bad})
		if err != nil {
			t.Fatal(err)
		}
		prep.SetRecordReader(rdr)
		_, err = prep.Execute(ctx)
		rdr.Release()
		if round == 0 {
			wantMessage(t, err, codes.InvalidArgument, "malformed parameter batch")
		} else if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("round %d: %v", round+1, err)
		}
		_ = prep.Close(ctx)
	}
	// The rounds gave back what they took: a valid binding still fits.
	prep, err := c.Prepare(ctx, "SELECT length(?::VARCHAR)")
	if err != nil {
		t.Fatal(err)
	}
	defer prep.Close(ctx)
	prep.SetParameters(good)
	if _, err := prep.Execute(ctx); err != nil {
		t.Fatalf("a valid binding after the malformed ones: %v", err)
	}
}

// An Arrow UUID (the arrow.uuid extension, which pyarrow makes of
// Python's uuid.UUID) binds as a DuckDB UUID, as DuckDB's own Arrow
// clients bind it: as its storage, a BLOB, SELECT ? gave 16 bytes and a
// comparison of a UUID's text matched nothing (a tester's).
func TestUUIDParameterBindsAsUUID(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	const id = "12345678-1234-5678-1234-567812345678"
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE tu AS SELECT '"+id+"'::UUID AS id"); err != nil {
		t.Fatal(err)
	}
	b := extensions.NewUUIDBuilder(memory.DefaultAllocator)
	if err := b.AppendValueFromString(id); err != nil {
		t.Fatal(err)
	}
	col := b.NewArray()
	b.Release()
	defer col.Release()
	for sql, want := range map[string]string{
		"SELECT typeof(?) = 'UUID' AND ?::VARCHAR = '" + id + "'":                    "true",
		"SELECT count(*)::VARCHAR FROM tu WHERE id::VARCHAR = ?::VARCHAR AND id = ?": "1",
		"SELECT ([?, ?])[1]::VARCHAR":                                                id,
	} {
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "a", Type: col.DataType()}, {Name: "b", Type: col.DataType()}}, nil), []arrow.Array{col, col}, 1)
		prep, err := c.Prepare(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		prep.SetParameters(rec)
		rec.Release()
		info, err := prep.Execute(ctx)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var got string
		_, recs := fetch(t, ctx, c, info)
		for _, rec := range recs {
			got = rec.Column(0).ValueStr(0)
		}
		if got != want {
			t.Errorf("%s: %q, want %q", sql, got, want)
		}
		_ = prep.Close(ctx)
	}
}

// A NULL bound where the SQL leaves the parameter's type open is DuckDB's
// NULL, an INTEGER: among rows of BIGINTs its run's column is cast to the
// statement's type, as no value changes (it was refused, "other columns",
// and panicked the stream before; a tester's).
func TestNullParameterRowsTakeTheStatementsTypes(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues([]int64{1, 0, 3}, []bool{true, false, true})
	col := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "p", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil), []arrow.Array{col}, 3)
	col.Release()
	defer rec.Release()
	prep, err := c.Prepare(ctx, "SELECT ? AS y, coalesce(?, 0) + 1 AS z")
	if err != nil {
		t.Fatal(err)
	}
	defer prep.Close(ctx)
	two := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil), []arrow.Array{rec.Column(0), rec.Column(0)}, 3)
	defer two.Release()
	prep.SetParameters(two)
	info, err := prep.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	_, recs := fetch(t, ctx, c, info)
	for _, rb := range recs {
		for i := range int(rb.NumRows()) {
			got = append(got, rb.Column(0).ValueStr(i)+"/"+rb.Column(1).ValueStr(i)+"/"+rb.Column(0).DataType().String())
		}
	}
	if want := []string{"1/2/int64", "(null)/1/int64", "3/4/int64"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%q, want %q", got, want)
	}
	batch := func(sql string, col arrow.Array) (string, error) {
		t.Helper()
		defer col.Release()
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "p", Type: col.DataType(), Nullable: true}}, nil), []arrow.Array{col}, int64(col.Len()))
		defer rec.Release()
		prep, err := c.Prepare(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		defer prep.Close(ctx)
		prep.SetParameters(rec)
		info, err := prep.Execute(ctx)
		if err != nil {
			return "", err
		}
		rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			return "", err
		}
		defer rdr.Release()
		var vals []string
		for rdr.Next() {
			rb := rdr.RecordBatch()
			for i := range int(rb.NumRows()) {
				vals = append(vals, rb.Column(0).ValueStr(i)+"/"+rb.Column(0).DataType().String())
			}
		}
		return strings.Join(vals, " "), rdr.Err()
	}
	// A NULL row of a type Arrow casts no INTEGER to is a NULL of it.
	tb := array.NewTimestampBuilder(memory.DefaultAllocator, &arrow.TimestampType{Unit: arrow.Microsecond})
	tb.Append(86_400_000_000)
	tb.AppendNull()
	got2, err := batch("SELECT ? AS v", tb.NewArray())
	tb.Release()
	if want := "1970-01-02T00:00:00/timestamp[us] (null)/timestamp[us]"; err != nil || got2 != want {
		t.Fatalf("%q %v, want %q", got2, err, want)
	}
	// So is a NULL in a list or a struct, whose element or field DuckDB
	// types INTEGER.
	for sql, want := range map[string]string{
		"SELECT [?, 1] AS v": "[1,1]/list<l: int64, nullable> [null,1]/list<l: int64, nullable> [2,1]/list<l: int64, nullable>",
		"SELECT {'a': coalesce(?, 1), 'b': 'x'} AS v": `{"a":1,"b":"x"}/struct<a: int64 nullable, b: utf8 nullable> ` +
			`{"a":1,"b":"x"}/struct<a: int64 nullable, b: utf8 nullable> {"a":2,"b":"x"}/struct<a: int64 nullable, b: utf8 nullable>`,
		// Maps and arrays too (refused "other columns", a tester's).
		"SELECT MAP {'k': ?} AS v": `[{"key":"k","value":1}]/map<utf8, int64, items_nullable> [{"key":"k","value":null}]/map<utf8, int64, items_nullable> ` +
			`[{"key":"k","value":2}]/map<utf8, int64, items_nullable>`,
		"SELECT array_value(?, 1) AS v": "[1,1]/fixed_size_list<: int64, nullable>[2] [null,1]/fixed_size_list<: int64, nullable>[2] " +
			"[2,1]/fixed_size_list<: int64, nullable>[2]",
	} {
		ib := array.NewInt64Builder(memory.DefaultAllocator)
		ib.AppendValues([]int64{1, 0, 2}, []bool{true, false, true})
		got3, err := batch(sql, ib.NewArray())
		ib.Release()
		if err != nil || got3 != want {
			t.Fatalf("%s: %q %v, want %q", sql, got3, err, want)
		}
	}
	// A NULL first row does not decide the batch's types: the first value
	// bound to the parameter does (2^40 was refused, no INTEGER holds it).
	for sql, want := range map[string]string{
		"SELECT ? AS v":              "(null)/int64 1099511627776/int64 (null)/int64",
		"SELECT coalesce(?, 0) AS v": "0/int64 1099511627776/int64 0/int64",
	} {
		ib := array.NewInt64Builder(memory.DefaultAllocator)
		ib.AppendValues([]int64{0, 1 << 40, 0}, []bool{false, true, false})
		got4, err := batch(sql, ib.NewArray())
		ib.Release()
		if err != nil || got4 != want {
			t.Fatalf("%s: %q %v, want %q", sql, got4, err, want)
		}
	}
	// A NULL row's INTEGER into the DECIMAL of the batch's rows.
	db := array.NewDecimal128Builder(memory.DefaultAllocator, &arrow.Decimal128Type{Precision: 4, Scale: 2})
	db.Append(decimal128.FromI64(150))
	db.AppendNull()
	got5, err := batch("SELECT coalesce(?, 0) AS v", db.NewArray())
	db.Release()
	if want := "1.5/decimal(12, 2) 0/decimal(12, 2)"; err != nil || got5 != want {
		t.Fatalf("%q %v, want %q", got5, err, want)
	}
	// A float is not cast to an integer: Arrow's check takes -0.0 for 0
	// (a union parameter's rows of 1 then -0.0 gave 0, a tester's).
	ints, floats := array.NewInt64Builder(memory.DefaultAllocator), array.NewFloat64Builder(memory.DefaultAllocator)
	ints.Append(1)
	floats.Append(math.Copysign(0, -1))
	kids := []arrow.Array{ints.NewArray(), floats.NewArray()}
	ints.Release()
	floats.Release()
	tb8, ob := array.NewInt8Builder(memory.DefaultAllocator), array.NewInt32Builder(memory.DefaultAllocator)
	tb8.AppendValues([]int8{0, 1}, nil)
	ob.AppendValues([]int32{0, 0}, nil)
	types, offsets := tb8.NewArray(), ob.NewArray()
	tb8.Release()
	ob.Release()
	union, err := array.NewDenseUnionFromArrays(types, offsets, kids)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append(kids, types, offsets) {
		a.Release()
	}
	got6, err := batch("SELECT coalesce(?, 1) AS v", union)
	if err == nil {
		t.Fatalf("a DOUBLE -0.0 run in a batch of BIGINTs: %q", got6)
	}
	wantMessage(t, err, codes.InvalidArgument, "parameter row 2 gives a result of other columns")
	// A run whose DECIMAL the batch's DOUBLE would round is refused, not
	// rounded (1.23456789012345678 was sent as 1.234567890123457).
	fb := array.NewFloat64Builder(memory.DefaultAllocator)
	fb.Append(1.5)
	fb.AppendNull()
	_, err = batch("SELECT coalesce(?, 1.23456789012345678) AS v", fb.NewArray())
	fb.Release()
	wantMessage(t, err, codes.InvalidArgument, "parameter row 2 gives a result of other columns")
}

// A statement counts what DuckDB holds once it has prepared it, not only
// what its text suggests: a constant it folded into its plan holds its
// whole value. A reader's 30 statements of 40 bytes each,
// SELECT repeat('x', 50000000 + i), held 1.4 GB, past the server's
// bound and its own share, until other users' queries ran out of memory
// (a tester's). Queries planned and not read count so too.
func TestFoldedConstantsCountAsTheStatementsMemory(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 }) // 16 MiB of statements
	ctx := context.Background()
	c := ts.client(t)
	// Each statement held keeps its 4 MB: the process grows by as much,
	// but for the memory it had already, let go by earlier work and
	// reused, which counts for nothing (so the count of statements it
	// takes is not known: at most what the process had, and 16 MiB).
	var held []*flightsql.PreparedStatement
	defer func() {
		for _, st := range held {
			_ = st.Close(ctx)
		}
	}()
	var err error
	for i := 0; err == nil; i++ {
		if i == 100 {
			t.Fatal("100 statements of 4 MB each held, past the 16 MiB of statements")
		}
		var st *flightsql.PreparedStatement
		if st, err = c.Prepare(ctx, fmt.Sprintf("SELECT repeat('x', %d) AS s", 4000000+i)); err == nil {
			held = append(held, st)
		}
	}
	wantMessage(t, err, codes.ResourceExhausted, "MB as DuckDB prepared it")
	for _, st := range held {
		if err := st.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	held = nil
	// Queries planned and not read, alike, until cancelled.
	var unread []*flight.FlightInfo
	err = nil
	for i := 0; err == nil; i++ {
		if i == 100 {
			t.Fatal("100 queries of 4 MB each planned and not read, past the 16 MiB of statements")
		}
		var info *flight.FlightInfo
		if info, err = c.Execute(ctx, fmt.Sprintf("SELECT repeat('y', %d) AS s", 4000000+i)); err == nil {
			unread = append(unread, info)
		}
	}
	wantMessage(t, err, codes.ResourceExhausted, "planned and not yet read")
	for _, info := range unread {
		if _, err := c.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info}); err != nil {
			t.Fatal(err)
		}
	}
	// What fits is taken, and given back.
	for range 3 {
		st, err := c.Prepare(ctx, "SELECT repeat('z', 2000000) AS s")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v := scalarInt(t, ctx, c, "SELECT strlen(repeat('w', 1000))::BIGINT"); v != 1000 {
		t.Fatal(v)
	}
}
