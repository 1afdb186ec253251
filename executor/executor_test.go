package executor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/users"
	"github.com/skeindb/skein/partition"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const rows = 300_000 // three batches and more

func startExecutor(t *testing.T, spoolMemory int64) (*Executor, flight.Client, *memory.CheckedAllocator) {
	t.Helper()
	return startMember(t, cluster.NewSecret(), spoolMemory)
}

// startMember starts an executor of the cluster of secret. No coordinator
// answers: heartbeats fail quietly, tasks still run.
func startMember(t *testing.T, secret cluster.Secret, spoolMemory int64) (*Executor, flight.Client, *memory.CheckedAllocator) {
	t.Helper()
	return startMemberOf(t, "grpc://127.0.0.1:1", secret, spoolMemory)
}

// startMemberOf is startMember with the coordinator at uri.
func startMemberOf(t *testing.T, coordinator string, secret cluster.Secret, spoolMemory int64) (*Executor, flight.Client, *memory.CheckedAllocator) {
	t.Helper()
	return startMemberConfig(t, Config{Addr: "127.0.0.1:0", Coordinator: coordinator,
		Secret: secret, Threads: 1, SpoolMemory: spoolMemory, SpoolDir: t.TempDir(), Heartbeat: time.Hour})
}

// startMemberConfig is startMember of the executor cfg configures.
func startMemberConfig(t *testing.T, cfg Config) (*Executor, flight.Client, *memory.CheckedAllocator) {
	t.Helper()
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	cfg.Alloc = alloc
	secret := cfg.Secret
	e, err := Start(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	// The client is the coordinator's: its calls carry its header.
	cl, err := flight.NewClientWithMiddleware(strings.TrimPrefix(e.URI(), "grpc://"), nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			ctx, err := secret.WithCall(ctx)
			if err != nil {
				return nil, err
			}
			return streamer(ctx, desc, cc, method, opts...)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cl.Close()
		e.Shutdown()
		alloc.AssertSize(t, 0)
	})
	return e, cl, alloc
}

func task(t *testing.T, e *Executor, id int) (handle string, ticket []byte) {
	return taskOf(t, e, id, rows)
}

// taskOf is a task of n rows assigned to e.
func taskOf(t *testing.T, e *Executor, id int, n int64) (handle string, ticket []byte) {
	t.Helper()
	h, err := e.cfg.Secret.SignTask(cluster.Task{Query: "q", Task: id, User: "u", Executor: e.ID(),
		SQL: "SELECT $1::VARCHAR AS f, range AS i FROM range($2, $3)", Slice: partition.Slice{File: "x", First: 0, Last: n}})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := cluster.TaskTicket(h)
	if err != nil {
		t.Fatal(err)
	}
	return h, tk
}

func start(t *testing.T, cl flight.Client, handles ...string) {
	t.Helper()
	stream, err := cl.DoAction(context.Background(), &flight.Action{Type: cluster.ActionStart,
		Body: []byte(strings.Join(handles, "\n"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
}

// openTicket opens the stream of a task's ticket; the caller releases
// the reader.
func openTicket(t *testing.T, cl flight.Client, ticket []byte) *flight.Reader {
	t.Helper()
	stream, err := cl.DoGet(context.Background(), &flight.Ticket{Ticket: ticket})
	if err != nil {
		t.Fatal(err)
	}
	r, err := flight.NewRecordReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fetch(t *testing.T, cl flight.Client, ticket []byte) (n, sum int64) {
	t.Helper()
	r := openTicket(t, cl, ticket)
	defer r.Release()
	for r.Next() {
		col := r.RecordBatch().Column(1).(*array.Int64)
		for i := range col.Len() {
			sum += col.Value(i)
		}
		n += int64(col.Len())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return n, sum
}

// finished waits until the executor reports n finished tasks.
func finished(t *testing.T, e *Executor, n int) []cluster.TaskReport {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e.mu.Lock()
		done := append([]cluster.TaskReport(nil), e.done...)
		e.mu.Unlock()
		if len(done) >= n {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks finished, want %d", len(done), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A started task runs before its ticket is redeemed; its result waits in
// memory, or on disk beyond the memory budget, and is read once.
func TestStartedTasksRunBeforeTheyAreFetched(t *testing.T) {
	for _, c := range []struct {
		name    string
		memory  int64
		spilled bool
	}{{"in memory", 64 << 20, false}, {"spilled", 1, true}} {
		t.Run(c.name, func(t *testing.T) {
			e, cl, _ := startExecutor(t, c.memory)
			h1, t1 := task(t, e, 1)
			h2, t2 := task(t, e, 2)
			start(t, cl, h1, h2)
			start(t, cl, h1) // a second start is ignored
			for _, r := range finished(t, e, 2) {
				if r.Error != "" || r.Rows != rows {
					t.Fatalf("task report %+v", r)
				}
			}
			files, _ := os.ReadDir(e.spools.dir)
			if (len(files) > 0) != c.spilled {
				t.Fatalf("%d spool files, spilled=%v", len(files), c.spilled)
			}
			for _, tk := range [][]byte{t2, t1} {
				if n, sum := fetch(t, cl, tk); n != rows || sum != rows*(rows-1)/2 {
					t.Fatalf("rows %d sum %d", n, sum)
				}
			}
			if files, _ := os.ReadDir(e.spools.dir); len(files) != 0 {
				t.Fatalf("%d spool files left after the results were read", len(files))
			}
			// Read once: a ticket redeemed again runs its task again.
			if n, _ := fetch(t, cl, t1); n != rows {
				t.Fatalf("second read: %d rows", n)
			}
			if got := len(finished(t, e, 3)); got != 3 {
				t.Fatalf("%d task runs, want 3", got)
			}
		})
	}
}

// A ticket redeemed before its start arrives runs for its reader; the late
// start does not run it again.
func TestLateStartIsIgnored(t *testing.T) {
	e, cl, _ := startExecutor(t, 64<<20)
	h, tk := task(t, e, 1)
	if n, _ := fetch(t, cl, tk); n != rows {
		t.Fatalf("%d rows", n)
	}
	start(t, cl, h)
	time.Sleep(200 * time.Millisecond)
	e.mu.Lock()
	runs := len(e.done)
	e.mu.Unlock()
	if runs != 1 {
		t.Fatalf("%d runs, want 1", runs)
	}
}

// The calls only the coordinator makes are refused without its header,
// whatever tickets they carry: a client holding its query's tickets
// (direct mode) started their tasks again, each run's result held ten
// minutes. Spellings of one ticket are one run: the bundle of a
// consumer's sources repeated had started a run for each.
func TestCoordinatorCallsNeedItsHeader(t *testing.T) {
	e, _, _ := startExecutor(t, 64<<20)
	plain, err := flight.NewClientWithMiddleware(strings.TrimPrefix(e.URI(), "grpc://"), nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	h, _ := task(t, e, 1)
	for _, a := range []string{cluster.ActionStart, cluster.ActionDrop, cluster.ActionCancel} {
		for _, ctx := range []context.Context{context.Background(),
			metadata.AppendToOutgoingContext(context.Background(), cluster.CallHeader, h)} {
			err := cluster.Do(ctx, plain, &flight.Action{Type: a, Body: []byte(h)})
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("%s without the coordinator's header: %v, want PermissionDenied", a, err)
			}
		}
	}
	e.mu.Lock()
	n := len(e.started)
	e.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d tasks started", n)
	}
}

// Forged tickets are not started. A task assigned to another executor
// runs here when the scheduler gives it here (this executor stole it):
// the start call answers as it ends, and its result is read here.
func TestStartChecksTickets(t *testing.T) {
	e, cl, _ := startExecutor(t, 64<<20)
	stream, err := cl.DoAction(context.Background(), &flight.Action{Type: cluster.ActionStart, Body: []byte("forged")})
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil {
		t.Fatal("a forged ticket was accepted")
	}
	e.mu.Lock()
	n := len(e.started)
	e.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d tasks started", n)
	}
	h, err := e.cfg.Secret.SignTask(cluster.Task{Query: "q", Executor: "someone-else", User: "u",
		SQL: "SELECT $1::VARCHAR AS f, range AS i FROM range($2, $3)", Slice: partition.Slice{File: "x", First: 0, Last: rows}})
	if err != nil {
		t.Fatal(err)
	}
	stream, err = cl.DoAction(context.Background(), &flight.Action{Type: cluster.ActionStart, Body: []byte(h)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var st cluster.Started
	if err := json.Unmarshal(res.GetBody(), &st); err != nil || st.I != 0 || st.Error != "" {
		t.Fatalf("start answered %s (%v)", res.GetBody(), err)
	}
	tk, err := cluster.TaskTicket(h)
	if err != nil {
		t.Fatal(err)
	}
	if n, sum := fetch(t, cl, tk); n != rows || sum != rows*(rows-1)/2 {
		t.Fatalf("rows %d sum %d", n, sum)
	}
	if got := len(finished(t, e, 1)); got != 1 {
		t.Fatalf("%d task runs, want 1", got)
	}
	// The ticket with anything after it, for a task that reads no other,
	// is refused, not taken for a new run.
	for _, a := range []string{cluster.ActionStart, "read", "read a partition"} {
		forged := h + cluster.BundleSep + "x0"
		var err error
		switch a {
		case cluster.ActionStart:
			var stream flight.FlightService_DoActionClient
			if stream, err = cl.DoAction(context.Background(), &flight.Action{Type: a, Body: []byte(forged)}); err == nil {
				_, err = stream.Recv()
			}
		default:
			if a != "read" {
				forged += "#0"
			}
			var tk []byte
			if tk, err = cluster.TaskTicket(forged); err != nil {
				t.Fatal(err)
			}
			var stream flight.FlightService_DoGetClient
			if stream, err = cl.DoGet(context.Background(), &flight.Ticket{Ticket: tk}); err == nil {
				_, err = stream.Recv()
			}
		}
		if status.Code(err) != codes.Unauthenticated && status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s with a suffixed ticket: %v, want it refused", a, err)
		}
	}
	e.mu.Lock()
	n = len(e.started)
	e.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d runs held, want the one read", n)
	}
}

// A reader that holds a stream unread does not hold a thread slot: with one
// slot, another task still runs and is read (clients such as ADBC read
// endpoints in order while later streams wait, full).
func TestSlowReaderDoesNotHoldTheSlot(t *testing.T) {
	e, cl, _ := startExecutor(t, 64<<20)
	big := func(id int) []byte {
		_, tk := taskOf(t, e, id, 4_000_000)
		return tk
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	held, err := cl.DoGet(ctx, &flight.Ticket{Ticket: big(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Recv(); err != nil { // the task is running
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	stream, err := cl.DoGet(ctx, &flight.Ticket{Ticket: big(2)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := flight.NewRecordReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for r.Next() {
		n += r.RecordBatch().NumRows()
	}
	r.Release()
	if err := r.Err(); err != nil || n != 4_000_000 {
		t.Fatalf("second task: %d rows, %v", n, err)
	}
	for {
		if _, err := held.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
}

// A reader's task runs read-only here too: a ticket is the coordinator's
// word, and the executor still holds a reader to SELECT.
func TestReaderTaskIsReadOnly(t *testing.T) {
	e, cl, _ := startExecutor(t, 1<<20)
	for _, role := range []users.Role{users.Reader, users.Writer} {
		h, err := e.cfg.Secret.SignTask(cluster.Task{Query: "q", User: "u", Role: role, Executor: e.ID(),
			SQL: "CREATE TABLE t AS SELECT 1 AS a"})
		if err != nil {
			t.Fatal(err)
		}
		tk, err := cluster.TaskTicket(h)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := cl.DoGet(context.Background(), &flight.Ticket{Ticket: tk})
		if err == nil {
			_, err = stream.Recv()
		}
		if denied := status.Code(err) == codes.PermissionDenied; denied != (role == users.Reader) {
			t.Fatalf("role %s: %v", role, err)
		}
	}
}

// A start that reaches the executor after its query was cancelled (the
// scheduler sent it just before the cancel) does not run, so nothing is
// left held for a query nobody reads; its ticket still runs the task for
// a reader that redeems it.
func TestStartAfterCancelDoesNotRun(t *testing.T) {
	m := startCluster(t, 1, 64<<20)[0]
	h := sign(t, m.e, cluster.Task{Query: "gone", Task: 1, Executor: m.e.ID(), SQL: "SELECT range AS v FROM range(1000)"})
	ctx := context.Background()
	for _, a := range []string{cluster.ActionCancel, cluster.ActionStart} {
		stream, err := m.cl.DoAction(ctx, &flight.Action{Type: a, Body: []byte(h)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if a == cluster.ActionStart {
			var st cluster.Started
			if err := json.Unmarshal(res.GetBody(), &st); err != nil || !strings.Contains(st.Error, "cancelled") {
				t.Fatalf("start after the cancel answered %s (%v), want the query cancelled", res.GetBody(), err)
			}
		}
	}
	m.e.mu.Lock()
	ran := len(m.e.done)
	m.e.mu.Unlock()
	if u := m.e.Spooled(); ran != 0 || u != (SpoolUsage{}) {
		t.Fatalf("the task ran %d times and the spools hold %+v, want neither", ran, u)
	}
	if rows := runTask(t, m, h); len(rows) != 1000 {
		t.Fatalf("redeemed after the cancel: %d rows, want 1000", len(rows))
	}
}

// A ticket over gRPC's default 4 MiB message is read (cluster.MaxMessage):
// the coordinator signs task tickets up to 8 MiB, a consumer's holding
// its producers', and an executor refused the first over 4 MiB with
// ResourceExhausted before it was raised.
func TestLargeTicketIsRead(t *testing.T) {
	e, cl, _ := startExecutor(t, 0)
	pad := "/* " + strings.Repeat("x", 6<<20) + " */"
	h, err := e.cfg.Secret.SignTask(cluster.Task{Query: "q", Task: 0, User: "u", Executor: e.ID(),
		SQL: "SELECT $1::VARCHAR AS f, range AS i FROM range($2, $3) " + pad, Slice: partition.Slice{File: "x", First: 0, Last: 10}})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := cluster.TaskTicket(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(tk) <= 6<<20 {
		t.Fatalf("the ticket is %d bytes, want over 6 MiB", len(tk))
	}
	if n, sum := fetch(t, cl, tk); n != 10 || sum != 45 {
		t.Fatalf("%d rows summing to %d, want 10 and 45", n, sum)
	}
}

// A ticket read again runs its task again, a few runs at a time: one
// redeemed 40 times at once ran 40 times. Each read beyond maxRereads at
// once is ResourceExhausted; once the reads end, the ticket reads again.
func TestRereadsOfATicketAreBounded(t *testing.T) {
	e, cl, _ := startMember(t, cluster.NewSecret(), 64<<20)
	_, ticket := taskOf(t, e, 1, 3_000_000) // 24 MB: more than a stream's windows hold
	rereadsBounded(t, e, cl, ticket)
}

// So are a producer's partition's, which every consumer's ticket holds:
// 600 reads at once of one ran 600 runs of the producer (a tester's).
func TestRereadsOfAPartitionAreBounded(t *testing.T) {
	e, cl, _ := startMember(t, cluster.NewSecret(), 64<<20)
	h, err := e.cfg.Secret.SignTask(cluster.Task{Query: "q", Task: 1, User: "u", Executor: e.ID(), Partitions: 2,
		SQL:   "SELECT $1::VARCHAR AS f, range AS i, range % 2 AS skein_part FROM range($2, $3)",
		Slice: partition.Slice{File: "x", First: 0, Last: 6_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := cluster.PartitionTicket(h, 0)
	if err != nil {
		t.Fatal(err)
	}
	rereadsBounded(t, e, cl, ticket)
}

// rereadsBounded reads ticket, then again maxRereads times at once, the
// next read at once refused, and again once those ended.
func rereadsBounded(t *testing.T, e *Executor, cl flight.Client, ticket []byte) {
	t.Helper()
	if _, _, err := readAll(context.Background(), cl, ticket); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() error {
		s, err := cl.DoGet(ctx, &flight.Ticket{Ticket: ticket})
		if err == nil {
			_, err = s.Recv()
		}
		return err
	}
	for i := range maxRereads {
		if err := open(); err != nil {
			t.Fatalf("read again %d: %v", i+1, err)
		}
	}
	if err := open(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("read again %d times at once: %v, want ResourceExhausted", maxRereads+1, err)
	}
	cancel()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.mu.Lock()
		n := len(e.rereads)
		e.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks still counted as read again after their reads ended", n)
		}
	}
	if _, _, err := readAll(context.Background(), cl, ticket); err != nil {
		t.Fatalf("read again after the others ended: %v", err)
	}
}

// An --advertise that is not a URI to dial is refused at start: the
// coordinator refused every registration of it, saying it "cannot reach"
// the executor, once a second for ever (a tester's).
func TestAdvertiseMustBeAURI(t *testing.T) {
	for _, adv := range []string{"127.0.0.1:7001", "grpc://", "http://127.0.0.1:7001"} {
		_, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Advertise: adv, Coordinator: "grpc://127.0.0.1:1",
			Secret: cluster.NewSecret(), Threads: 1, SpoolDir: t.TempDir()}, zerolog.Nop())
		if err == nil || !strings.Contains(err.Error(), "--advertise") {
			t.Errorf("--advertise %q: %v, want an error naming the flag", adv, err)
		}
	}
}

// An executor without a certificate, of a coordinator that serves TLS, is
// refused at start: the coordinator refuses it (its clients would read
// its results in the clear), which it was told once a second for ever.
// TLS flags that do not go together are refused too.
func TestPlaintextExecutorOfATLSCoordinator(t *testing.T) {
	for _, c := range []struct {
		coord string
		tls   cluster.TLS
		want  string
	}{
		{"grpc+tls://127.0.0.1:1", cluster.TLS{}, "the coordinator serves TLS"},
		{"grpc://127.0.0.1:1", cluster.TLS{ClientCA: "ca.pem"}, "--tls-client-ca needs --tls-cert"},
	} {
		_, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Coordinator: c.coord, TLS: c.tls,
			Secret: cluster.NewSecret(), Threads: 1, SpoolDir: t.TempDir()}, zerolog.Nop())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: %v, want %q", c.coord, c.tls, err, c.want)
		}
	}
}
