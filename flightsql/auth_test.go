package flightsql_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/coordinator"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// usersFile writes a users file of name -> "role:password" (bcrypt at its
// lowest cost, to keep logins fast) and returns its path.
func usersFile(t *testing.T, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test users\n")
	for name, rp := range users {
		role, pw, _ := strings.Cut(rp, ":")
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s:%s\n", name, role, h)
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// bareClient connects without a cookie jar: the bearer token is all the
// client has. from, if set, is the local address it dials from.
func (ts *testServer) bareClient(t testing.TB, from string) *flightsql.Client {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32))}
	if from != "" {
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			return d.DialContext(ctx, "tcp", addr)
		}))
	}
	c, err := flightsql.NewClient(ts.addr, nil, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func login(t *testing.T, c *flightsql.Client, user, password string) context.Context {
	t.Helper()
	ctx, err := c.Client.AuthenticateBasicToken(context.Background(), user, password)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return ctx
}

func wantMessage(t *testing.T, err error, code codes.Code, part string) {
	t.Helper()
	wantCode(t, err, code)
	if !strings.Contains(status.Convert(err).Message(), part) {
		t.Fatalf("message %q does not say %q", status.Convert(err).Message(), part)
	}
}

func scalarInt(t *testing.T, ctx context.Context, c *flightsql.Client, sql string) int64 {
	t.Helper()
	_, recs := query(t, ctx, c, sql)
	if rowCount(recs) != 1 {
		t.Fatalf("%s: %d rows", sql, rowCount(recs))
	}
	return recs[0].Column(0).(*array.Int64).Value(0)
}

// Handshakes of one user cannot push out another user's session, nor can
// they fill the server: each user has a bound of its own, and a full
// server refuses new sessions instead of closing recent ones.
func TestHandshakeFloodKeepsOtherSessions(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "writer:a", "bob": "writer:b", "cy": "reader:c"})
	ts := startServer(t, func(c *coordinator.Config) {
		c.UsersFile, c.MaxSessions, c.MaxSessionsPerUser = path, 9, 4
	})
	c := ts.bareClient(t, "")
	bob := login(t, c, "bob", "b")
	if _, err := c.ExecuteUpdate(bob, "CREATE TEMP TABLE mine AS SELECT 7::BIGINT AS v"); err != nil {
		t.Fatal(err)
	}
	var refused int
	for range 100 {
		_, err := c.Client.AuthenticateBasicToken(context.Background(), "ann", "a")
		if err != nil {
			wantMessage(t, err, codes.ResourceExhausted, "--max-sessions-per-user")
			refused++
		}
	}
	if refused != 96 {
		t.Fatalf("%d of 100 handshakes refused, want 96", refused)
	}
	// Bob's session, with its temporary table, is still his.
	if v := scalarInt(t, bob, c, "SELECT v FROM mine"); v != 7 {
		t.Fatalf("v = %d", v)
	}
	// Another user still gets in, until the server is full: then the new
	// session is refused, and no open one is closed for it.
	for range 4 {
		login(t, c, "cy", "c")
	}
	_, err := c.Client.AuthenticateBasicToken(context.Background(), "bob", "b")
	wantMessage(t, err, codes.ResourceExhausted, "server's limit")
	if v := scalarInt(t, bob, c, "SELECT v FROM mine"); v != 7 {
		t.Fatalf("v = %d", v)
	}
}

// Without auth every client is the same user: the server's bound still
// refuses the new session rather than closing a recently used one. A
// client that keeps neither token nor cookie opens a session per call:
// those, never named again, make room.
func TestFullServerRefusesNewSessions(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxSessions = 5 })
	ctx := context.Background()
	victim := ts.client(t)
	cookieSession(t, ctx, victim)
	flood := ts.bareClient(t, "")
	for i := range 50 {
		if v := scalarInt(t, ctx, flood, fmt.Sprintf("SELECT %d::BIGINT", i)); v != int64(i) {
			t.Fatal(v)
		}
	}
	var refused int
	for range 600 {
		if hs, err := flood.Client.Handshake(ctx); err == nil {
			if _, err = hs.Recv(); err != nil {
				wantMessage(t, err, codes.ResourceExhausted, "server's limit")
				refused++
			}
		}
	}
	if refused != 596 {
		t.Fatalf("%d of 600 handshakes refused, want 596", refused)
	}
	if v := scalarInt(t, ctx, victim, "SELECT v FROM mine"); v != 7 {
		t.Fatalf("v = %d", v)
	}
}

// A token naming a session that has ended is refused with a clear error,
// never answered from a fresh session; a new Handshake opens a new one.
// Without auth too, a token that names no session of this server (one
// issued before it restarted, by another server, or expired) is refused:
// a new session in its place lost the client's transaction without a
// word, and the rest of its writes committed one by one (a tester's).
// A client that sends no token gets a session, as ever.
func TestStaleTokenRefusedWithoutAuth(t *testing.T) {
	before, now := startServer(t), startServer(t)
	old := login(t, before.bareClient(t, ""), "any", "thing")
	if v := scalarInt(t, old, before.bareClient(t, ""), "SELECT 1::BIGINT"); v != 1 {
		t.Fatal(v)
	}
	c := now.bareClient(t, "")
	_, err := c.Execute(old, "SELECT 1")
	wantMessage(t, err, codes.Unauthenticated, "issued before it restarted): connect again")
	// As the session cookie (the JDBC driver's): the same.
	md, _ := metadata.FromOutgoingContext(old)
	cookie := "arrow_flight_session_id=" + strings.TrimPrefix(md.Get("authorization")[0], "Bearer ")
	err = doPutUpdateStatus(metadata.AppendToOutgoingContext(context.Background(), "cookie", cookie), c, "CREATE TABLE t (a INT)")
	wantMessage(t, err, codes.Unauthenticated, "session cookie")
	err = doPutUpdateStatus(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer garbage"), c, "CREATE TABLE t (a INT)")
	wantCode(t, err, codes.Unauthenticated)
	if v := scalarInt(t, context.Background(), c, "SELECT count(*) FROM duckdb_tables()"); v != 0 {
		t.Fatalf("%d tables", v)
	}
}

func TestEndedSessionTokenRefused(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "writer:a"})
	ts := startServer(t, func(c *coordinator.Config) {
		c.UsersFile, c.SessionIdle = path, time.Second
	})
	c := ts.bareClient(t, "")
	ann := login(t, c, "ann", "a")
	if _, err := c.ExecuteUpdate(ann, "CREATE TEMP TABLE mine AS SELECT 7::BIGINT AS v"); err != nil {
		t.Fatal(err)
	}
	res, err := c.CloseSession(ann, &flight.CloseSessionRequest{})
	if err != nil || res.Status != flight.CloseSessionResultClosed {
		t.Fatalf("close: %v %v", res, err)
	}
	_, err = c.Execute(ann, "SELECT 1")
	wantMessage(t, err, codes.Unauthenticated, "session ended")
	err = doPutUpdateStatus(ann, c, "CREATE TEMP TABLE mine AS SELECT 8 AS v")
	wantMessage(t, err, codes.Unauthenticated, "session ended")

	// The same token on Handshake (the JDBC driver's token=) opens a new
	// session.
	md, _ := metadata.FromOutgoingContext(ann)
	time.Sleep(1100 * time.Millisecond) // a token's expiry is in whole seconds: one later would show
	hs, err := c.Client.Handshake(metadata.AppendToOutgoingContext(context.Background(), "authorization", md.Get("authorization")[0]))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	again := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+string(resp.Payload))
	if v := scalarInt(t, again, c, "SELECT 5::BIGINT"); v != 5 {
		t.Fatal(v)
	}
	// It expires with the token it was given for: each such Handshake gave
	// 12 hours more, so a token that leaked, its session closed, was good
	// for ever (a tester's).
	old := strings.TrimPrefix(md.Get("authorization")[0], "Bearer ")
	if got, was := tokenExpiry(t, string(resp.Payload)), tokenExpiry(t, old); got > was {
		t.Errorf("a token given for a token expires at %d, after the token it was given for (%d)", got, was)
	}
	// An idle session is reaped; its token is refused the same way.
	time.Sleep(2500 * time.Millisecond)
	_, err = c.Execute(again, "SELECT 1")
	wantMessage(t, err, codes.Unauthenticated, "session ended")
}

// tokenExpiry is the Unix second a bearer token expires at, from its
// signed payload.
func tokenExpiry(t *testing.T, tok string) int64 {
	t.Helper()
	payload, _, _ := strings.Cut(tok, ".")
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Exp int64 `json:"e"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Exp == 0 {
		t.Fatalf("token payload %s: %v", body, err)
	}
	return env.Exp
}

// cookieSession gives a cookie client a session holding a temporary table
// mine. The first call is unary: arrow-go's cookie middleware takes the
// cookie of a DoPut (ExecuteUpdate) only if the client reads it to the end.
func cookieSession(t *testing.T, ctx context.Context, c *flightsql.Client) {
	t.Helper()
	if v := scalarInt(t, ctx, c, "SELECT 1::BIGINT"); v != 1 {
		t.Fatal(v)
	}
	if _, err := c.ExecuteUpdate(ctx, "CREATE TEMP TABLE mine AS SELECT 7::BIGINT AS v"); err != nil {
		t.Fatal(err)
	}
	if v := scalarInt(t, ctx, c, "SELECT v FROM mine"); v != 7 {
		t.Fatalf("v = %d", v)
	}
}

// A cookie client without auth that closes its session starts a new one on
// its next call: CloseSession's response expires the cookie. arrow-go's
// cookie middleware may miss that header (its watcher of the stream's
// context races the end of the stream, which cancels that context, and
// the loser's headers are dropped): the client then sends the closed
// session's cookie once more, is told the session ended, and that answer
// expires the cookie again, on a unary call, whose headers it does not miss.
func TestCookieSessionClose(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	cookieSession(t, ctx, c)
	var md metadata.MD
	if res, err := c.CloseSession(ctx, &flight.CloseSessionRequest{}, grpc.Header(&md)); err != nil || res.Status != flight.CloseSessionResultClosed {
		t.Fatalf("close: %v %v", res, err)
	}
	if got := md.Get("set-cookie"); len(got) != 1 || !strings.Contains(got[0], "Max-Age=0") {
		t.Fatalf("CloseSession's set-cookie headers %q: want the session cookie expired", got)
	}
	_, err := c.Execute(ctx, "SELECT v FROM mine")
	if status.Code(err) == codes.Unauthenticated {
		wantMessage(t, err, codes.Unauthenticated, "session ended")
		_, err = c.Execute(ctx, "SELECT v FROM mine")
	}
	wantCode(t, err, codes.NotFound) // a new session: no table mine
	if v := scalarInt(t, ctx, c, "SELECT 3::BIGINT"); v != 3 {
		t.Fatal(v)
	}
}

// The executors' membership header logs nobody in: it is good for the
// cluster actions only.
func TestMemberHeaderRunsNoSQL(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, auth := range []bool{true, false} {
		t.Run(fmt.Sprint("auth=", auth), func(t *testing.T) {
			ts := startServer(t, func(c *coordinator.Config) {
				c.ClusterSecretFile = secretFile
				if auth {
					c.User, c.Password = "ann", "a"
				}
			})
			secret, err := cluster.ReadSecret(secretFile)
			if err != nil {
				t.Fatal(err)
			}
			m, err := secret.SignMember(cluster.Member{ID: "x", Location: "grpc://127.0.0.1:1", Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			ctx := metadata.AppendToOutgoingContext(context.Background(), cluster.MemberHeader, string(m))
			c := ts.bareClient(t, "")
			_, err = c.Execute(ctx, "SELECT 1")
			wantMessage(t, err, codes.Unauthenticated, "cluster actions only")
			err = doPutUpdateStatus(ctx, c, "CREATE TABLE t (a INT)")
			wantMessage(t, err, codes.Unauthenticated, "cluster actions only")
			_, err = c.Prepare(ctx, "SELECT 1")
			wantMessage(t, err, codes.PermissionDenied, "cluster actions only")
			_, err = c.BeginTransaction(ctx)
			wantMessage(t, err, codes.PermissionDenied, "cluster actions only")
		})
	}
}

// doPutUpdateStatus sends an update as ExecuteUpdate does (DoPut of a
// CommandStatementUpdate) and returns the call's status. arrow-go's
// ExecuteUpdate returns the io.EOF of its Send when the server refused the
// stream before reading it (as the auth tap does), not the status the
// server sent; the status comes with Recv.
func doPutUpdateStatus(ctx context.Context, c *flightsql.Client, sql string) error {
	return doPutStatus(ctx, c, &pb.CommandStatementUpdate{Query: sql}, nil)
}

// doPutStatus sends a DoPut of command msg whose one message has the data
// header header, and returns the call's status.
func doPutStatus(ctx context.Context, c *flightsql.Client, msg proto.Message, header []byte) error {
	return doPutMessages(ctx, c, msg, []*flight.FlightData{{DataHeader: header}})
}

// countingProxy forwards TCP to addr and counts the bytes sent to it.
func countingProxy(t *testing.T, addr string) (string, *atomic.Int64) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	var n atomic.Int64
	go func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				_ = in.Close()
				return
			}
			go func() {
				buf := make([]byte, 64<<10)
				for {
					k, err := in.Read(buf)
					n.Add(int64(k))
					if k > 0 {
						if _, werr := out.Write(buf[:k]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_ = out.Close()
			}()
			go func() {
				_, _ = io.Copy(in, out)
				_ = in.Close()
			}()
		}
	}()
	return lis.Addr().String(), &n
}

// A call without valid credentials is refused before its message is read:
// a 50 MB command from nobody costs the server a fraction of that.
func TestUnauthenticatedCommandRefusedUnread(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.User, c.Password = "ann", "a" })
	proxy, sent := countingProxy(t, ts.addr)
	direct := *ts
	direct.addr = proxy
	c := direct.bareClient(t, "")
	big := "SELECT '" + strings.Repeat("x", 50<<20) + "'"
	for _, ctx := range []context.Context{
		context.Background(),
		metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer forged.token"),
	} {
		sent.Store(0)
		start := time.Now()
		_, err := c.Execute(ctx, big)
		wantCode(t, err, codes.Unauthenticated)
		// The server's flow-control windows (8 MiB a stream, 16 a
		// connection) are what a client can push unasked.
		if n := sent.Load(); n > 20<<20 {
			t.Fatalf("the server took %d MiB of an unauthenticated 50 MiB command", n>>20)
		}
		t.Logf("refused after %d KiB sent, in %v", sent.Load()>>10, time.Since(start))
	}
}

// Messages are bounded (--max-message-mb); a larger ingest batch gets an
// error that says so.
func TestMessageSizeBound(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 })
	ctx := context.Background()
	c := ts.client(t)
	_, err := c.Execute(ctx, "SELECT '"+strings.Repeat("x", 2<<20)+"'")
	wantMessage(t, err, codes.ResourceExhausted, "larger than max")

	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for range 4 {
		b.Field(0).(*array.StringBuilder).Append(strings.Repeat("y", 1<<20))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	wantMessage(t, ingestRecord(t, ctx, c, rec, "big"), codes.ResourceExhausted, "larger than max")
	// Small batches still go in.
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE ok AS SELECT 1 AS a"); err != nil {
		t.Fatal(err)
	}
}

// An ingest's column names, at every depth, are bounded as SQL text is
// (--max-sql-bytes): they become its table's CREATE, and one 40 MB name
// took a coordinator from 418 to 1,682 MB (a tester's).
func TestIngestColumnNamesAreBounded(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxSQLBytes = 4096 })
	ctx := context.Background()
	c := ts.client(t)
	ingest := func(schema *arrow.Schema) error {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		for _, f := range b.Fields() {
			f.AppendNull()
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		return ingestRecord(t, ctx, c, rec, "named")
	}
	long := strings.Repeat("n", 5000)
	for _, schema := range []*arrow.Schema{
		arrow.NewSchema([]arrow.Field{{Name: long, Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil),
		arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.ListOf(arrow.StructOf(
			arrow.Field{Name: long, Type: arrow.PrimitiveTypes.Int64, Nullable: true})), Nullable: true}}, nil),
	} {
		wantMessage(t, ingest(schema), codes.InvalidArgument, "--max-sql-bytes")
	}
	if err := ingest(arrow.NewSchema([]arrow.Field{{Name: strings.Repeat("n", 1000), Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)); err != nil {
		t.Fatalf("a name within the bound: %v", err)
	}
}

// A call's headers are bounded (MaxHeaderBytes, grpc-go's default being
// 16 MiB): they are read before any credential is checked, and
// unfinished header blocks of 10 MB held some 40 MB a connection from a
// client without credentials (a tester's). Ordinary headers pass.
func TestHeadersAreBounded(t *testing.T) {
	ts := startServer(t)
	c := ts.client(t)
	big := metadata.AppendToOutgoingContext(context.Background(), "x-big", strings.Repeat("h", 2*skeinsql.MaxHeaderBytes))
	if _, err := c.Execute(big, "SELECT 1"); err == nil {
		t.Fatal("a call with headers past the bound was taken")
	}
	ok := metadata.AppendToOutgoingContext(context.Background(), "x-small", strings.Repeat("h", 4<<10))
	if _, err := c.Execute(ok, "SELECT 1"); err != nil {
		t.Fatalf("a call with 4 KiB of headers: %v", err)
	}
}

// ingestRecord loads rec into table (made if missing) through c.
func ingestRecord(t *testing.T, ctx context.Context, c *flightsql.Client, rec arrow.RecordBatch, table string) error {
	t.Helper()
	rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	_, err = c.ExecuteIngest(ctx, rdr, ingestOpts(table))
	return err
}

func ingestOpts(table string) *flightsql.ExecuteIngestOpts {
	return &flightsql.ExecuteIngestOpts{Table: table, TableDefinitionOptions: &flightsql.TableDefinitionOptions{
		IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate,
		IfExists:   flightsql.TableDefinitionOptionsTableExistsOptionAppend}}
}

// Readers query; they cannot change data by any route. Writers can.
func TestRoles(t *testing.T) {
	path := usersFile(t, map[string]string{"adm": "admin:1", "wri": "writer:2", "rea": "reader:3"})
	ts := startServer(t, func(c *coordinator.Config) { c.UsersFile = path })
	c := ts.bareClient(t, "")
	wri, rea, adm := login(t, c, "wri", "2"), login(t, c, "rea", "3"), login(t, c, "adm", "1")
	for _, ctx := range []context.Context{wri, adm} {
		if _, err := c.ExecuteUpdate(ctx, "CREATE OR REPLACE TABLE t AS SELECT 1::BIGINT AS a"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecuteUpdate(ctx, "INSERT INTO t VALUES (2)"); err != nil {
			t.Fatal(err)
		}
	}
	if n := scalarInt(t, rea, c, "SELECT count(*) FROM t"); n != 2 {
		t.Fatalf("reader sees %d rows", n)
	}
	for _, sql := range []string{"INSERT INTO t VALUES (3)", "DELETE FROM t", "CREATE TABLE x (a INT)", "DROP TABLE t",
		"COPY t TO '" + ts.dataDir + "/files/t.csv'"} {
		_, err := c.ExecuteUpdate(rea, sql)
		wantCode(t, err, codes.PermissionDenied)
		_, err = c.Execute(rea, sql)
		wantCode(t, err, codes.PermissionDenied)
		_, err = c.Prepare(rea, sql)
		wantCode(t, err, codes.PermissionDenied)
	}
	// What a reader may run (transactions, USE, SET VARIABLE) it may run
	// as an update too, as ADBC's cursor.execute sends any statement
	// without a result: refused as updates ("may not run updates"), they
	// were not (a tester's).
	allowed := []string{"SET VARIABLE v = 1", "USE data.main", "BEGIN TRANSACTION", "ROLLBACK", "RESET VARIABLE v"}
	for _, sql := range allowed {
		if _, err := c.ExecuteUpdate(rea, sql); err != nil {
			t.Errorf("a reader's %s as an update: %v", sql, err)
		}
	}
	for _, sql := range allowed {
		st, err := c.Prepare(rea, sql)
		if err != nil {
			t.Fatalf("a reader's prepared %s: %v", sql, err)
		}
		if _, err := st.ExecuteUpdate(rea); err != nil {
			t.Errorf("a reader's prepared %s as an update: %v", sql, err)
		}
		_ = st.Close(rea)
	}
	params := int64Param(t, "a", 1)
	rdr, err := array.NewRecordReader(params.Schema(), []arrow.RecordBatch{params})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	_, err = c.ExecuteIngest(rea, rdr, ingestOpts("t"))
	wantMessage(t, err, codes.PermissionDenied, "role reader")
	if n := scalarInt(t, wri, c, "SELECT count(*) FROM t"); n != 2 {
		t.Fatalf("t has %d rows after the reader's attempts", n)
	}
	// A writer's macros and views that write, called by a reader: they
	// advanced the writer's sequence and checkpointed the database (a
	// tester's). A reader's call of one that does not is answered.
	for _, sql := range []string{"CREATE SEQUENCE s", "CREATE MACRO nx() AS nextval('s')", "CREATE VIEW vnx AS SELECT nextval('s') AS n",
		"CREATE MACRO cp() AS TABLE SELECT * FROM checkpoint()", "CREATE MACRO twice() AS nx() + nx()", "CREATE VIEW over AS SELECT * FROM vnx",
		"CREATE MACRO one() AS 1"} {
		if _, err := c.ExecuteUpdate(wri, sql); err != nil {
			t.Fatal(err)
		}
	}
	for _, sql := range []string{"SELECT nx()", "SELECT * FROM vnx", "SELECT * FROM cp()", "SELECT twice()", "SELECT n FROM over", "SELECT nx() FROM range(1000)"} {
		_, err := c.Execute(rea, sql)
		wantCode(t, err, codes.PermissionDenied)
		_, err = c.Prepare(rea, sql)
		wantCode(t, err, codes.PermissionDenied)
	}
	if n := scalarInt(t, rea, c, "SELECT one()::BIGINT"); n != 1 {
		t.Fatalf("a reader's call of a macro that writes nothing: %d", n)
	}
	// Views of one name in several schemas: the check read the one listed
	// last for all (a tester's: main.v's stood for z.v's).
	for _, sql := range []string{"CREATE SCHEMA a", "CREATE SCHEMA zz", "CREATE VIEW a.vsame AS SELECT nextval('s') AS n",
		"CREATE VIEW main.vsame AS SELECT 1 AS n", "CREATE VIEW zz.vsame AS SELECT nextval('s') AS n",
		"CREATE VIEW a.vother AS SELECT nextval('s') AS n", "CREATE VIEW main.vother AS SELECT 1 AS n"} {
		if _, err := c.ExecuteUpdate(wri, sql); err != nil {
			t.Fatal(err)
		}
	}
	for _, sql := range []string{"SELECT n FROM a.vsame", "SELECT n FROM zz.vsame", "SELECT n FROM a.vother"} {
		_, err := c.Execute(rea, sql)
		wantCode(t, err, codes.PermissionDenied)
	}
	// The reader's statements prepared while one() wrote nothing, run after
	// the writer made it call nextval: DuckDB binds them again, and they
	// advanced the sequence (a tester's).
	st, err := c.Prepare(rea, "SELECT one()::BIGINT")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(rea)
	info, err := c.Execute(rea, "SELECT one()::BIGINT + 0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteUpdate(wri, "CREATE OR REPLACE MACRO one() AS nextval('s')"); err != nil {
		t.Fatal(err)
	}
	if err := readToEnd(rea, c, info); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a reader's query of one(), run after one() came to call nextval: %v", err)
	}
	if info, err := st.Execute(rea); err == nil {
		err = readToEnd(rea, c, info)
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("a reader's prepared statement of one(), run after one() came to call nextval: %v", err)
		}
	} else {
		wantCode(t, err, codes.PermissionDenied)
	}
	_, err = st.ExecuteUpdate(rea)
	wantCode(t, err, codes.PermissionDenied)
	if n := scalarInt(t, wri, c, "SELECT nextval('s')"); n != 1 {
		t.Fatalf("the writer's sequence gave %d first: a reader advanced it", n)
	}
}

// Failed logins slow down the address (and the user name) they come from;
// a correct login from elsewhere is not slowed.
func TestLoginThrottle(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *coordinator.Config) { c.User, c.PasswordFile = "ann", pwFile })
	guesser := ts.bareClient(t, "127.0.0.1")
	var checked, refused int
	start := time.Now()
	for i := range 50 {
		_, err := guesser.Client.AuthenticateBasicToken(context.Background(), "ann", fmt.Sprint("guess", i))
		switch status.Code(err) {
		case codes.Unauthenticated:
			checked++
		case codes.ResourceExhausted:
			wantMessage(t, err, codes.ResourceExhausted, "too many failed logins")
			refused++
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	t.Logf("50 wrong passwords in %v: %d checked, %d refused unchecked", time.Since(start), checked, refused)
	// Five are free, then one a second at most, doubling.
	if elapsed := time.Since(start); checked > 5+int(elapsed/time.Second)+1 {
		t.Fatalf("%d of 50 guesses checked in %v", checked, elapsed)
	}
	// The right password from another address gets in at once.
	other := ts.bareClient(t, "127.0.0.2")
	start = time.Now()
	ctx := login(t, other, "ann", "s3cret")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("login from another address took %v", d)
	}
	if n := scalarInt(t, ctx, other, "SELECT 1::BIGINT"); n != 1 {
		t.Fatal(n)
	}
	// The guessing address waits, even with the right password.
	_, err := guesser.Client.AuthenticateBasicToken(context.Background(), "ann", "s3cret")
	wantCode(t, err, codes.ResourceExhausted)
}

// One user's running queries are bounded; another user is not held up.
func TestMaxQueriesPerUser(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "writer:a", "bob": "writer:b"})
	ts := startServer(t, func(c *coordinator.Config) { c.UsersFile, c.MaxQueriesPerUser = path, 1 })
	c := ts.bareClient(t, "")
	ann, bob := login(t, c, "ann", "a"), login(t, c, "bob", "b")
	info, err := c.Execute(ann, "SELECT * FROM range(5000000)")
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := c.DoGet(ann, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if !rdr.Next() {
		t.Fatal(rdr.Err())
	}
	_, err = c.Execute(ann, "SELECT 1")
	wantMessage(t, err, codes.ResourceExhausted, "--max-queries-per-user")
	// A prepare runs SQL too (DuckDB binds and plans it).
	_, err = c.Prepare(ann, "SELECT 1")
	wantMessage(t, err, codes.ResourceExhausted, "--max-queries-per-user")
	if n := scalarInt(t, bob, c, "SELECT 1::BIGINT"); n != 1 {
		t.Fatal(n)
	}
	for rdr.Next() {
	}
	rdr.Release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = c.Execute(ann, "SELECT 1")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ann's query slot was not given back: %v", err)
	}
}

// Every recorded query names the user who ran it. A user reads its own
// queries in skein.queries and skein.tasks, an admin every user's:
// another user's SQL text and errors may hold what it would not show
// (a literal, a path).
func TestHistoryRecordsUser(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "writer:a", "bob": "reader:b", "root": "admin:r"})
	ts := startServer(t, func(c *coordinator.Config) { c.UsersFile, c.Executors = path, 1 })
	c := ts.bareClient(t, "")
	ann, bob, root := login(t, c, "ann", "a"), login(t, c, "bob", "b"), login(t, c, "root", "r")
	if _, err := c.Execute(ann, "CREATE TABLE h AS SELECT range AS a FROM range(10)"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteUpdate(ann, "INSERT INTO h VALUES (10)"); err != nil {
		t.Fatal(err)
	}
	scalarInt(t, ann, c, "SELECT count(*) FROM h")
	scalarInt(t, bob, c, "SELECT sum(a)::BIGINT FROM h")
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := scalarInt(t, root, c, `SELECT count(*) FROM skein.queries WHERE sql NOT LIKE '%skein.queries%'`)
		if n >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// users is who ran the queries ctx reads in skein.queries, by the
	// first word of their SQL, its own reads of the table left out.
	users := func(ctx context.Context) map[string]string {
		_, recs := query(t, ctx, c, `SELECT "user", sql FROM skein.queries WHERE sql NOT LIKE '%skein.%' ORDER BY sql`)
		seen := map[string]string{}
		for _, r := range recs {
			for i := range int(r.NumRows()) {
				user, sql := r.Column(0).(*array.String).Value(i), r.Column(1).(*array.String).Value(i)
				t.Logf("%s: %s", user, sql)
				if want := map[bool]string{true: "bob", false: "ann"}[strings.Contains(sql, "sum(a)")]; user != want {
					t.Errorf("%q recorded for user %q, want %q", sql, user, want)
				}
				seen[strings.Fields(sql)[0]+map[bool]string{true: " sum"}[strings.Contains(sql, "sum(a)")]] = user
			}
		}
		return seen
	}
	if got, want := users(root), map[string]string{"CREATE": "ann", "INSERT": "ann", "SELECT": "ann", "SELECT sum": "bob"}; !maps.Equal(got, want) {
		t.Errorf("the admin reads %v, want %v", got, want)
	}
	if got, want := users(ann), map[string]string{"CREATE": "ann", "INSERT": "ann", "SELECT": "ann"}; !maps.Equal(got, want) {
		t.Errorf("ann reads %v, want %v", got, want)
	}
	if got, want := users(bob), map[string]string{"SELECT sum": "bob"}; !maps.Equal(got, want) {
		t.Errorf("bob reads %v, want %v", got, want)
	}
	// The views name DuckDB's own function for the connection's id: a
	// macro of its name, TEMP and naming another connection or persistent
	// and of another type, changes nothing.
	if _, err := c.Execute(ann, "CREATE MACRO current_connection_id() AS 1"); err != nil {
		t.Fatal(err)
	}
	for id := range 24 {
		if _, err := c.Execute(ann, fmt.Sprintf("CREATE OR REPLACE TEMP MACRO current_connection_id() AS %d::UBIGINT", id)); err != nil {
			t.Fatal(err)
		}
		if got := users(ann); len(got) != 3 || got["SELECT sum"] != "" {
			t.Fatalf("ann's macro naming connection %d: ann reads %v", id, got)
		}
	}
	if got := users(bob); len(got) != 1 {
		t.Errorf("after ann's macros bob reads %v", got)
	}
	// The table's function takes a connection's id: no client names it,
	// however spelled, nor can a view or macro of its making.
	for _, q := range []string{
		"SELECT count(*) FROM system.main.skein_system_skein_queries(0)",
		`SELECT count(*) FROM "SKEIN_SYSTEM_skein_tasks" (1)`,
		"SELECT count(*) FROM skein_system_skein_queries(current_connection_id() - 1)",
		"CREATE TEMP MACRO m(i) AS TABLE SELECT * FROM skein_system_skein_queries(i)",
	} {
		_, err := c.Execute(ann, q)
		wantMessage(t, err, codes.PermissionDenied, "system tables' functions")
	}
}
