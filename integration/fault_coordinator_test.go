package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Each statement of the coordinator kill test writes stmtRows rows tagged
// with its id; a bulk ingest sends them as ingestBatches batches, so that a
// kill can land between two of them.
const (
	stmtRows      = 2000
	ingestBatches = 4
)

// TestCoordinatorKill runs one client's statements back to back (a bulk
// ingest by DoPut, INSERT ... SELECT or CREATE TABLE AS), kills the
// coordinator with SIGKILL at a random moment, starts it again on the same
// data directory and checks: the database opens, every acknowledged
// statement's rows are all there, and the statement that was running when
// the coordinator died left all its rows or none (it may have committed
// before its answer was lost). Every view left in the database must still
// be readable, and no Arrow scan view of an ingest survives.
func TestCoordinatorKill(t *testing.T) {
	t.Parallel() // the process tests run two at a time after the others (make test's time)
	trials := soakCount(t, "TRIALS", 2, 50)
	for _, kind := range []string{"ingest", "insert", "ctas"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			pc := newProcCluster(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			coord := pc.coordinator(dataDir)
			if kind == "insert" {
				mustUpdate(t, ctx, dial(t, coord.uri), "CREATE TABLE ins (stmt BIGINT, i BIGINT)")
			}
			var next int64
			acked := map[int64]bool{}
			var lost, committedUnacked, killedWhileRunning int
			for trial := range trials {
				cl := dial(t, coord.uri)
				stop := make(chan struct{})
				done := make(chan []int64, 1) // the ids sent, the last possibly unacknowledged
				go func() {
					var sent []int64
					defer func() { done <- sent }()
					for {
						select {
						case <-stop:
							return
						default:
						}
						id := next
						next++
						sent = append(sent, id)
						sctx, cancel := context.WithTimeout(ctx, time.Minute)
						err := runStatement(sctx, cl, kind, id)
						cancel()
						if err != nil {
							return
						}
						acked[id] = true
					}
				}()
				time.Sleep(20*time.Millisecond + time.Duration(rand.Int64N(int64(500*time.Millisecond))))
				coord.kill()
				close(stop)
				sent := <-done
				last := sent[len(sent)-1]
				if !acked[last] {
					killedWhileRunning++
				}
				coord = pc.coordinator(dataDir) // fails the test if the database does not open
				cl = dial(t, coord.uri)
				counts := statementRows(t, ctx, cl, kind, sent)
				for _, id := range sent {
					n := counts[id]
					switch {
					case acked[id] && n != stmtRows:
						lost++
						t.Errorf("trial %d: acknowledged %s statement %d has %d rows after the restart, want %d", trial, kind, id, n, stmtRows)
					case !acked[id] && n == stmtRows:
						committedUnacked++
					case !acked[id] && n != 0:
						lost++
						t.Errorf("trial %d: unacknowledged %s statement %d left %d of its %d rows", trial, kind, id, n, stmtRows)
					}
				}
				checkViews(t, ctx, cl)
				if coord.exited() {
					t.Fatalf("trial %d: the restarted coordinator exited: %v", trial, coord.err)
				}
			}
			figures(t, "%d trials, %d statements acknowledged (%d killed while running), %d with rows lost or partly kept, %d committed without an acknowledgement",
				trials, len(acked), killedWhileRunning, lost, committedUnacked)
		})
	}
}

// runStatement writes statement id's rows.
func runStatement(ctx context.Context, cl *flightsql.Client, kind string, id int64) error {
	var err error
	switch kind {
	case "insert":
		_, err = cl.ExecuteUpdate(ctx, fmt.Sprintf("INSERT INTO ins SELECT %d, range FROM range(%d)", id, stmtRows))
	case "ctas":
		_, err = cl.ExecuteUpdate(ctx, fmt.Sprintf("CREATE TABLE ctas_%d AS SELECT %d AS stmt, range AS i FROM range(%d)", id, id, stmtRows))
	case "ingest":
		rdr := ingestRows(id)
		defer rdr.Release()
		_, err = cl.ExecuteIngest(ctx, rdr, &flightsql.ExecuteIngestOpts{Table: "ing",
			TableDefinitionOptions: &flightsql.TableDefinitionOptions{
				IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate,
				IfExists:   flightsql.TableDefinitionOptionsTableExistsOptionAppend}})
	}
	return err
}

// ingestRows is statement id's rows as a stream of batches.
func ingestRows(id int64) array.RecordReader {
	schema := arrow.NewSchema([]arrow.Field{{Name: "stmt", Type: arrow.PrimitiveTypes.Int64},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	per := stmtRows / ingestBatches
	for k := range ingestBatches {
		for i := range per {
			b.Field(0).(*array.Int64Builder).Append(id)
			b.Field(1).(*array.Int64Builder).Append(int64(k*per + i))
		}
		recs = append(recs, b.NewRecordBatch())
	}
	rdr, _ := array.NewRecordReader(schema, recs)
	for _, r := range recs {
		r.Release()
	}
	return rdr
}

// statementRows counts the rows each of the statements ids left.
func statementRows(t *testing.T, ctx context.Context, cl *flightsql.Client, kind string, ids []int64) map[int64]int64 {
	t.Helper()
	var q string
	switch kind {
	case "insert", "ingest":
		table := map[string]string{"insert": "ins", "ingest": "ing"}[kind]
		if kind == "ingest" && !tableExists(t, ctx, cl, "ing") {
			return map[int64]int64{} // the first ingest never committed
		}
		q = fmt.Sprintf("SELECT stmt, count(*) FROM %s GROUP BY stmt", table)
	case "ctas":
		res := runFlight(ctx, cl, "SELECT table_name FROM duckdb_tables() WHERE database_name = 'data' AND table_name LIKE 'ctas_%'")
		if res.err != nil {
			t.Fatal(res.err)
		}
		exists := map[string]bool{}
		for _, name := range res.rows {
			exists[name] = true
		}
		var parts []string
		for _, id := range ids {
			if exists[fmt.Sprintf("ctas_%d", id)] {
				parts = append(parts, fmt.Sprintf("SELECT %d, count(*) FROM ctas_%d WHERE stmt = %d", id, id, id))
			}
		}
		if len(parts) == 0 {
			return map[int64]int64{}
		}
		q = strings.Join(parts, " UNION ALL ")
	}
	counts := map[int64]int64{}
	res := runFlight(ctx, cl, q)
	if res.err != nil {
		t.Fatalf("%s: %v", q, res.err)
	}
	for _, row := range res.rows {
		var id, n int64
		if _, err := fmt.Sscanf(row, "%d|%d", &id, &n); err != nil {
			t.Fatalf("%s: row %q: %v", q, row, err)
		}
		counts[id] = n
	}
	return counts
}

func tableExists(t *testing.T, ctx context.Context, cl *flightsql.Client, name string) bool {
	t.Helper()
	res := runFlight(ctx, cl, fmt.Sprintf("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'data' AND table_name = '%s'", name))
	if res.err != nil {
		t.Fatal(res.err)
	}
	return slices.Equal(res.rows, []string{"1"})
}

// checkViews reads every view of the managed database: none may take the
// coordinator down, and none may be an ingest's Arrow scan (a crash must
// not leave them behind).
func checkViews(t *testing.T, ctx context.Context, cl *flightsql.Client) {
	t.Helper()
	res := runFlight(ctx, cl, "SELECT view_name FROM duckdb_views() WHERE database_name = 'data' AND NOT internal")
	if res.err != nil {
		t.Fatal(res.err)
	}
	for _, v := range res.rows {
		if strings.HasPrefix(v, "skein_arrow_") {
			t.Errorf("an ingest's Arrow scan view %s survived the crash", v)
		}
		_ = runFlight(ctx, cl, fmt.Sprintf(`SELECT count(*) FROM "%s"`, v)) // an error is fine; a crash is not
		if r := runFlight(ctx, cl, "SELECT 1"); r.err != nil {
			t.Fatalf("reading view %s took the coordinator down: %v", v, r.err)
		}
	}
}

func mustUpdate(t *testing.T, ctx context.Context, cl *flightsql.Client, sql string) {
	t.Helper()
	if _, err := cl.ExecuteUpdate(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
