package coordinator

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// A client process that stops (SIGSTOP, a frozen host: its kernel still
// holds the connection open) in the middle of a bulk ingest is pinged,
// its connection closed when the ping goes unanswered, and its ingest
// rolled back: its uncommitted CREATE of the table no longer blocks
// another session's. Without the ping it held the table for as long as it
// stayed stopped (found 2026-12-06).
func TestStoppedClientsIngestEnds(t *testing.T) {
	c, cl, _ := startCluster(t, 1, "", func(cfg *Config) { cfg.ClientPing = time.Second })
	p := newFreezer(t, strings.TrimPrefix(c.URI(), "grpc://"))
	stopped, err := flightsql.NewClient(p.addr(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer stopped.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdr := newStallingReader(ctx)
	failed := make(chan error, 1)
	go func() {
		_, err := stopped.ExecuteIngest(ctx, rdr, &flightsql.ExecuteIngestOpts{Table: "t",
			TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate,
				IfExists: flightsql.TableDefinitionOptionsTableExistsOptionFail}})
		failed <- err
	}()
	select {
	case <-rdr.sent:
	case err := <-failed:
		t.Fatalf("the ingest ended before its first batch was sent: %v", err)
	}
	// The first batch reached the server: the table is created in the
	// ingest's transaction, which another session's CREATE conflicts with.
	eventually(t, 10*time.Second, func() (bool, string) {
		_, err := cl.ExecuteUpdate(context.Background(), "CREATE TABLE t (a BIGINT)")
		return err != nil && strings.Contains(err.Error(), "conflict"), "the ingest's table is not yet created"
	})
	p.freeze()
	eventually(t, 20*time.Second, func() (bool, string) {
		_, err := cl.ExecuteUpdate(context.Background(), "CREATE TABLE t (a BIGINT)")
		return err == nil, "the stopped client's ingest still holds the table"
	})
}

// stallingReader gives one batch, says so on sent, then waits for its
// context: a client that stops with its ingest open.
type stallingReader struct {
	ctx  context.Context
	rec  arrow.RecordBatch
	n    int
	sent chan struct{}
}

func newStallingReader(ctx context.Context) *stallingReader {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues([]int64{1, 2, 3}, nil)
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return &stallingReader{ctx: ctx, rec: array.NewRecordBatch(schema, []arrow.Array{col}, 3), sent: make(chan struct{})}
}

func (r *stallingReader) Retain()                        {}
func (r *stallingReader) Release()                       {}
func (r *stallingReader) Schema() *arrow.Schema          { return r.rec.Schema() }
func (r *stallingReader) RecordBatch() arrow.RecordBatch { return r.rec }
func (r *stallingReader) Record() arrow.RecordBatch      { return r.rec }
func (r *stallingReader) Err() error                     { return r.ctx.Err() }
func (r *stallingReader) Next() bool {
	if r.n++; r.n == 1 {
		return true
	}
	if r.n == 2 {
		close(r.sent)
	}
	<-r.ctx.Done()
	return false
}

// freezer relays TCP connections to a server until frozen; then it holds
// them open and passes nothing either way, as a stopped process's kernel
// does.
type freezer struct {
	lis    net.Listener
	mu     sync.Mutex
	frozen chan struct{}
	once   sync.Once
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{lis: lis, frozen: make(chan struct{})}
	var conns []net.Conn
	t.Cleanup(func() {
		_ = lis.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			f.mu.Lock()
			conns = append(conns, in, out)
			f.mu.Unlock()
			go f.relay(in, out)
			go f.relay(out, in)
		}
	}()
	return f
}

func (f *freezer) addr() string { return f.lis.Addr().String() }

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

// relay copies from src to dst until frozen, then reads nothing more.
func (f *freezer) relay(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			return // the connection stays open, silent
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				_ = dst.Close()
			}
			return
		}
	}
}
