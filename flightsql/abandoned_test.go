package flightsql_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc/codes"
)

// annServer is a server of one writer, ann (password a), whose abandoned
// transactions end after grace.
func annServer(t *testing.T, grace time.Duration) *testServer {
	path := usersFile(t, map[string]string{"ann": "writer:a"})
	return startServer(t, func(c *coordinator.Config) { c.UsersFile, c.AbandonedTxn = path, grace })
}

// A client killed with a transaction open leaves its row locks behind:
// every other writer of those rows fails "Conflict on update!" until the
// session ends. Once every connection the session was used on has closed
// for --abandoned-txn-timeout, the session is closed and its transaction
// rolled back: one begun through Flight SQL, and one begun in SQL.
func TestAbandonedTransactionRollsBack(t *testing.T) {
	ts := annServer(t, 300*time.Millisecond)
	writer := ts.bareClient(t, "")
	wctx := login(t, writer, "ann", "a")
	for _, sql := range []string{
		"CREATE TABLE viaflight AS SELECT 1 AS k, 0 AS v",
		"CREATE TABLE viasql AS SELECT 1 AS k, 0 AS v",
	} {
		if _, err := writer.ExecuteUpdate(wctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	killed := ts.bareClient(t, "")
	kctx := login(t, killed, "ann", "a")
	tx, err := killed.BeginTransaction(kctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(kctx, "UPDATE viaflight SET v = 1 WHERE k = 1"); err != nil {
		t.Fatal(err)
	}
	killedSQL := ts.bareClient(t, "")
	sctx := login(t, killedSQL, "ann", "a")
	for _, sql := range []string{"BEGIN", "UPDATE viasql SET v = 1 WHERE k = 1"} {
		if _, err := killedSQL.ExecuteUpdate(sctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// The locks are real while the clients live: the writer conflicts.
	for _, table := range []string{"viaflight", "viasql"} {
		_, err := writer.ExecuteUpdate(wctx, "UPDATE "+table+" SET v = 5 WHERE k = 1")
		if err == nil || !strings.Contains(err.Error(), "onflict") {
			t.Fatalf("%s: an update of a row another transaction holds: %v, want a conflict", table, err)
		}
	}
	time.Sleep(time.Second) // longer than the timeout: a live client keeps its transaction
	if _, err := killedSQL.ExecuteUpdate(sctx, "UPDATE viasql SET v = 2 WHERE k = 1"); err != nil {
		t.Fatalf("a live client's transaction: %v", err)
	}

	_ = killed.Close()
	_ = killedSQL.Close()
	for _, table := range []string{"viaflight", "viasql"} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := writer.ExecuteUpdate(wctx, "UPDATE "+table+" SET v = 5 WHERE k = 1")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: 15 s after its client closed, the abandoned transaction still holds the row: %v", table, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := scalarInt(t, wctx, writer, "SELECT sum(v)::BIGINT FROM "+table); got != 5 {
			t.Fatalf("%s: v = %d, want the writer's 5", table, got)
		}
	}
	// The killed client's session is gone: its token is refused, never
	// given a fresh session without its transaction.
	again := ts.bareClient(t, "")
	err = doPutUpdateStatus(sctx, again, "COMMIT")
	wantMessage(t, err, codes.Unauthenticated, "abandoned-txn-timeout")
}

// A client whose connection drops and that comes back on a new one
// within --abandoned-txn-timeout keeps its session and transaction.
func TestReconnectedClientKeepsItsTransaction(t *testing.T) {
	ts := annServer(t, 3*time.Second)
	first := ts.bareClient(t, "")
	ctx := login(t, first, "ann", "a")
	for _, sql := range []string{"CREATE TABLE kept (a INTEGER)", "BEGIN", "INSERT INTO kept VALUES (1)"} {
		if _, err := first.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	_ = first.Close()
	second := ts.bareClient(t, "") // the same token, a new connection
	if _, err := second.ExecuteUpdate(ctx, "INSERT INTO kept VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // past the timeout since the first closed
	if _, err := second.ExecuteUpdate(ctx, "COMMIT"); err != nil {
		t.Fatalf("COMMIT on the new connection: %v", err)
	}
	if got := scalarInt(t, login(t, ts.bareClient(t, ""), "ann", "a"), ts.bareClient(t, ""), "SELECT count(*) FROM kept"); got != 2 {
		t.Fatalf("%d rows committed, want 2", got)
	}
}

// A token of a server restarted since (its key was that run's) is told to
// log in again, not only "bad signature".
func TestTokenOfAnEarlierRunSaysLogIn(t *testing.T) {
	before, after := annServer(t, 0), annServer(t, 0)
	ctx := login(t, before.bareClient(t, ""), "ann", "a")
	_, err := after.bareClient(t, "").Execute(ctx, "SELECT 1")
	wantMessage(t, err, codes.Unauthenticated, "before it restarted): log in again")
}

// The JDBC driver closes a connection without CloseSession: a pool or a
// BI tool that opens and closes connections had its user refused at
// --max-sessions-per-user, every new connection, until the idle timeout
// (after 63 connections at the default 64). A session whose client
// connections have all closed and that holds nothing makes room; one
// holding a temporary table, or still connected, does not, and a client
// coming back with the token of one closed so is told it ended.
func TestClosedConnectionsSessionsMakeRoom(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "writer:a"})
	ts := startServer(t, func(c *coordinator.Config) {
		c.UsersFile, c.MaxSessionsPerUser = path, 3
		c.Executors, c.SplitMinRows, c.LocalMaxRows, c.TaskRows = 2, 0, 0, 1000
	})
	var first context.Context
	for i := range 12 {
		c := ts.bareClient(t, "")
		ctx := login(t, c, "ann", "a")
		if i == 0 {
			first = ctx
		}
		if v := scalarInt(t, ctx, c, fmt.Sprintf("SELECT %d::BIGINT", i)); v != int64(i) {
			t.Fatalf("v = %d", v)
		}
		_ = c.Close()
	}
	// A handshake alone, its connection closed, makes room too.
	for range 4 {
		c := ts.bareClient(t, "")
		login(t, c, "ann", "a")
		_ = c.Close()
	}
	err := doPutUpdateStatus(first, ts.bareClient(t, ""), "SELECT 1")
	wantMessage(t, err, codes.Unauthenticated, "session ended")

	// Sessions holding a temporary table, a distributed query not yet
	// read, or a connection, stay.
	var kept []context.Context
	for i := range 2 {
		c := ts.bareClient(t, "")
		ctx := login(t, c, "ann", "a")
		if _, err := c.ExecuteUpdate(ctx, fmt.Sprintf("CREATE TEMP TABLE mine AS SELECT %d::BIGINT AS v", i)); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			file := filepath.Join(ts.dataDir, "files", "r.parquet")
			if _, err := c.ExecuteUpdate(ctx, "COPY (SELECT range AS v FROM range(5000)) TO '"+file+"' (ROW_GROUP_SIZE 1000)"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ExecuteUpdate(ctx, "DROP TABLE mine"); err != nil {
				t.Fatal(err)
			}
			info, err := c.Execute(ctx, "SELECT v FROM read_parquet('"+file+"')")
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Endpoint) < 2 {
				t.Fatalf("%d endpoints, want a distributed query", len(info.Endpoint))
			}
		}
		_ = c.Close()
		kept = append(kept, ctx)
	}
	live := ts.bareClient(t, "")
	lctx := login(t, live, "ann", "a")
	scalarInt(t, lctx, live, "SELECT 1::BIGINT")
	time.Sleep(100 * time.Millisecond) // the server sees the connections close
	_, err = ts.bareClient(t, "").Client.AuthenticateBasicToken(context.Background(), "ann", "a")
	wantMessage(t, err, codes.ResourceExhausted, "--max-sessions-per-user")
	if v := scalarInt(t, kept[0], ts.bareClient(t, ""), "SELECT v FROM mine"); v != 0 {
		t.Fatalf("temporary table: v = %d", v)
	}
	scalarInt(t, kept[1], ts.bareClient(t, ""), "SELECT 1::BIGINT") // the session is there
	scalarInt(t, lctx, live, "SELECT 1::BIGINT")
}

// Sessions whose connections all closed holding prepared statements make
// room when none holding nothing is left: a client that prepared a
// statement and dropped its connection, over and over, filled the server
// and every other client was refused until the idle timeout (a tester's).
func TestClosedConnectionsHoldingStatementsMakeRoom(t *testing.T) {
	path := usersFile(t, map[string]string{"ann": "writer:a"})
	ts := startServer(t, func(c *coordinator.Config) { c.UsersFile, c.MaxSessionsPerUser = path, 2 })
	var left []context.Context
	for range 2 {
		c := ts.bareClient(t, "")
		ctx := login(t, c, "ann", "a")
		if _, err := c.Prepare(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Execute(ctx, "SELECT 2"); err != nil { // planned, not read
			t.Fatal(err)
		}
		_ = c.Close()
		left = append(left, ctx)
	}
	time.Sleep(100 * time.Millisecond) // the server sees the connections close
	c := ts.bareClient(t, "")
	ctx := login(t, c, "ann", "a")
	if v := scalarInt(t, ctx, c, "SELECT 3::BIGINT"); v != 3 {
		t.Fatalf("v = %d", v)
	}
	err := doPutUpdateStatus(left[0], ts.bareClient(t, ""), "SELECT 1")
	wantMessage(t, err, codes.Unauthenticated, "session ended")
}
