package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/flightwire"
	"github.com/skeindb/skein/internal/health"
	"github.com/skeindb/skein/internal/metrics"
	"github.com/skeindb/skein/internal/objstore"
	"github.com/skeindb/skein/internal/web"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// DefaultSpoolMemory is an executor's spools' memory when its Config does
// not say (--spool-memory-mb's default).
const DefaultSpoolMemory = 256 << 20

// Config configures an executor.
type Config struct {
	// Addr is where to listen; Advertise the URI handed to clients (the
	// listening address when empty).
	Addr, Advertise string
	// Coordinator is the coordinator's URI (grpc://host:port).
	Coordinator string
	Secret      cluster.Secret
	AllowDirs   []string
	Threads     int
	MemoryLimit string
	// TimeZone is the zone DuckDB computes TIMESTAMPTZ values in (empty:
	// the machine's). It must be the coordinator's, which refuses an
	// executor of another zone.
	TimeZone string
	Batch    duck.BatchSize
	// TLS serves grpc+tls (advertised so) and dials a grpc+tls coordinator.
	TLS cluster.TLS
	// Heartbeat is how often the executor reports to the coordinator.
	Heartbeat time.Duration
	Alloc     memory.Allocator
	// SpoolMemory and SpoolDisk bound the results of started tasks held
	// until they are fetched: in memory, then in files under SpoolDir (a
	// new directory in the system's temporary directory when empty).
	// SpoolMemory 0 is DefaultSpoolMemory.
	SpoolMemory, SpoolDisk int64
	SpoolDir               string
	// KeepFor is how long a started task's result waits for its ticket
	// (cluster.TaskTTL, the ticket's own life, when 0).
	KeepFor time.Duration
	// SpoolStall is how long a producer of an exchange waits for room in
	// full spools while nothing is freed before it gives up (30 s when 0):
	// its readers are tasks that start only once its stage has ended, so
	// it cannot wait for them as a task read by a client does.
	SpoolStall time.Duration
	// HTTPAddr, when set, serves the executor's Prometheus metrics at
	// /metrics there (skein executor --http-addr); in skein serve the
	// coordinator's listener serves them instead.
	HTTPAddr string
	// MaxEditCells bounds the work of one call of an edit distance
	// (duck.Config.MaxEditCells): the coordinator's.
	MaxEditCells int64
	// ObjectStore is what task SQL may read from object storage.
	ObjectStore objstore.Config
	// MaxAwaiting is how many calls without the coordinator's header may
	// wait for their first message at once (32 when 0), and
	// FirstMessageWait how long each may (30 s when 0): see gate.
	MaxAwaiting      int
	FirstMessageWait time.Duration
	// KillTimeout is how long a task may run on after it was stopped (its
	// query cancelled or timed out) before it counts as stuck (reaper.go):
	// 0, never. Stuck, when set, is called once, at the first stuck task.
	KillTimeout time.Duration
	Stuck       func()
	// ClientPing is how long a connection to the executor (a direct-mode
	// client reading its endpoints) may stay silent before it is pinged,
	// and then how long its answer may take before the connection is
	// closed (0: never pinged; cluster.KeepaliveServer).
	ClientPing time.Duration
	// MaxConns bounds the connections open to it at once (its
	// coordinator's, its peers', direct-mode clients'); one past it is
	// closed as it is accepted (0: cluster.DefaultMaxConns; negative:
	// none).
	MaxConns int
	// Test holds hooks for tests only (nil otherwise): no flag sets it.
	Test *TestHooks
}

// TestHooks let tests make an executor slow or hold its tasks, to show
// what the scheduler does with unequal executors. Each runs on the task's
// goroutine while it holds its thread slot; an error fails the task.
type TestHooks struct {
	// Before runs before the task's SQL (a gate: it may wait on ctx).
	Before func(ctx context.Context, t cluster.Task) error
	// After runs after the task's SQL has written its result, which took
	// took on its thread (a delay here makes the executor slower by a
	// factor).
	After func(ctx context.Context, t cluster.Task, took time.Duration) error
}

// Executor is a running executor.
type Executor struct {
	cfg Config
	id  string
	log zerolog.Logger
	db  *duck.DB
	// removeSpoolDir removes the executor's spool directory (spooldir.go).
	removeSpoolDir func()
	grpc           *grpc.Server
	lis            net.Listener
	uri            string
	zone           string   // DuckDB's effective time zone, stated at registration
	reach          []string // the directories and prefixes its SQL may use (cluster.Member.Reach)
	running        atomic.Int64
	// waiting counts the tasks whose results wait for their readers to
	// free spool room, their thread given up (thread.yield).
	waiting atomic.Int64
	// inflight counts tasks between their start and end: running, or
	// queued for their inputs or a thread slot.
	inflight   atomic.Int64
	registered atomic.Bool   // the coordinator took the last registration or heartbeat
	slots      chan struct{} // one per DuckDB thread: tasks beyond wait
	metrics    *prometheus.Registry
	counts     *taskMetrics
	stuckOnce  sync.Once     // Config.Stuck is called once
	stuckNow   chan struct{} // closed at the first stuck task (reaper.go)
	holding    atomic.Int64  // tasks stopped that run on, holding a thread (reaper.go)
	saidHeld   atomic.Bool   // the last heartbeat said threadsHeld
	web        *web.Server
	stop       context.CancelFunc
	health     *health.Server

	life    context.Context // ends at shutdown
	spools  *spoolStore
	peers   *peers // Flight clients of the executors this one fetches exchanges from
	holdMax int64  // the most of a streamed input held in memory (streamHeld)

	// The report loop (registration, heartbeats) runs until stopReport;
	// reported is closed when it has returned.
	stopReport context.CancelFunc
	reported   chan struct{}
	wake       chan struct{} // makes the report loop send at once
	// Draining: no new tasks (the coordinator has been told once
	// drainAcked is closed); inflight and streams count what it still does.
	draining   atomic.Bool
	drainAcked chan struct{}
	streams    atomic.Int64 // DoGet streams being served
	// Exchange streams this executor's consumer tasks have open, and the
	// most they have had at once.
	fetching, peakFetching atomic.Int64
	reads                  reads // clients' reads of task results, for the heartbeats

	coord *coordClient // asks the coordinator where a task runs

	mu      sync.Mutex
	done    []cluster.TaskReport // finished since the last heartbeat
	started map[string]*started  // by runKey: started tasks, and tombstones of redeemed ones
	// cancelled are the queries cancelled here, until their tickets
	// expire: the scheduler's start of one of their tasks that arrives
	// after the cancel (sent just before it) does not run, so no result
	// is left held for nobody.
	cancelled map[string]time.Time
	// revoked are those of them cancelled by their clients
	// (cluster.RevokeHeader), until then: their tickets no longer run
	// here. taken are the spools readers read, by query: a revocation
	// releases them, and each reader, ending, stops the run it read (the
	// runs started here without a reader are in started).
	revoked map[string]time.Time
	taken   map[string]map[*spool]bool
	// rereads counts, by runKey, the runs of a redeemed task started for
	// readers of its ticket again and not yet ended (claim).
	rereads map[string]int
	closing bool
	wg      sync.WaitGroup

	shutdown sync.Once
}

// Start opens the executor's DuckDB, serves Flight and begins reporting to
// the coordinator.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (*Executor, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("executor: a cluster secret is required")
	}
	if err := cfg.TLS.Validate(); err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	if strings.HasPrefix(cfg.Coordinator, "grpc+tls://") && !cfg.TLS.Enabled() {
		// The coordinator refuses it (its clients would read this
		// executor's results in the clear): said now, not as a refusal
		// repeated every second for ever (a tester's).
		return nil, errors.New("executor: the coordinator serves TLS: give the executor --tls-cert and --tls-key")
	}
	if cfg.Advertise != "" {
		// Said now, not as the coordinator's refusal of every
		// registration ("cannot reach it"), repeated for ever.
		if host, _, err := cfg.TLS.Dial(cfg.Advertise); err != nil || host == "" {
			return nil, fmt.Errorf("executor: --advertise %q is not a URI the coordinator and clients can dial (grpc://HOST:PORT or grpc+tls://HOST:PORT): %v", cfg.Advertise, err)
		}
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.SpoolStall == 0 {
		cfg.SpoolStall = 30 * time.Second
	}
	if cfg.KeepFor == 0 {
		cfg.KeepFor = cluster.TaskTTL
	}
	if cfg.Batch.Rows == 0 {
		cfg.Batch = duck.DefaultBatchSize
	}
	if cfg.Alloc == nil {
		cfg.Alloc = memory.DefaultAllocator
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	spoolDir, removeSpoolDir, err := ownSpoolDir(cfg.SpoolDir, log)
	if err != nil {
		return nil, fmt.Errorf("executor: spool directory: %w", err)
	}
	// An executor runs the planner's SQL, built from a client's that the
	// coordinator checked: the JSON functions it let through run here.
	// DuckDB spills under the executor's own spool directory: by default
	// it spilled into .tmp in the working directory, which the shipped
	// manifest mounts read-only (a query that had to spill failed "Failed
	// to create directory .tmp"), and what a killed executor left there
	// stayed until DuckDB spilled again (586 MB; a tester's, 2026-12-06).
	// The spool directory goes with its process, and an executor starting
	// removes those of ended ones (spooldir.go).
	db, err := duck.Open(ctx, duck.Config{AllowedDirs: cfg.AllowDirs, Threads: cfg.Threads, MemoryLimit: cfg.MemoryLimit,
		TimeZone: cfg.TimeZone, ObjectStore: duck.ObjectStoreFor(cfg.ObjectStore, log), RecursiveJSON: true,
		MaxEditCells: cfg.MaxEditCells, BoundsOnDemand: true, TempDir: filepath.Join(spoolDir, "duckdb")})
	if err != nil {
		removeSpoolDir()
		return nil, err
	}
	zone, err := db.TimeZone(ctx)
	if err != nil {
		_ = db.Close()
		removeSpoolDir()
		return nil, err
	}
	creds, err := cfg.TLS.ServerCreds()
	if err != nil {
		_ = db.Close()
		removeSpoolDir()
		return nil, err
	}
	tcp, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = db.Close()
		removeSpoolDir()
		return nil, fmt.Errorf("executor: listen on %s: %w", cfg.Addr, err)
	}
	lis := cluster.LimitConns(tcp, cfg.MaxConns, log)
	scheme := "grpc://"
	if creds != nil {
		scheme = "grpc+tls://"
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if cfg.SpoolMemory == 0 {
		cfg.SpoolMemory = DefaultSpoolMemory
	}
	if cfg.SpoolDisk == 0 {
		cfg.SpoolDisk = 16 << 30
	}
	if free, ok := diskFree(spoolDir); ok {
		if budget := spoolDiskBudget(cfg.SpoolDisk, free, threads); budget < cfg.SpoolDisk {
			log.Warn().Int64("free_bytes", free).Int64("spool_disk_bytes", budget).
				Msg("--spool-disk-gb is more than the spool directory's disk has free: results past the smaller budget wait for their readers")
			cfg.SpoolDisk = budget
		}
	}
	e := &Executor{cfg: cfg, id: id, log: log.With().Str("executor", id).Logger(), db: db, lis: lis, zone: zone,
		reach: cluster.Reach(cfg.AllowDirs, cfg.ObjectStore.Prefixes.URLs()), removeSpoolDir: removeSpoolDir,
		uri: scheme + lis.Addr().String(), slots: make(chan struct{}, threads),
		spools: newSpoolStore(spoolDir, cfg.SpoolMemory, cfg.SpoolDisk), started: map[string]*started{}, cancelled: map[string]time.Time{},
		revoked: map[string]time.Time{}, taken: map[string]map[*spool]bool{}, rereads: map[string]int{},
		peers: newPeers(cfg.TLS, cfg.Secret, maxPeers), holdMax: streamHeld, health: health.New(), reported: make(chan struct{}),
		wake: make(chan struct{}, 1), drainAcked: make(chan struct{}), stuckNow: make(chan struct{})}
	if cfg.Advertise != "" {
		e.uri = cfg.Advertise
	}
	e.coord = &coordClient{e: e}
	e.metrics = prometheus.NewRegistry()
	e.counts = newTaskMetrics(e)
	metrics.Connections(e.metrics, lis)
	statusUnary, statusStream := skeinsql.StatusInterceptors(e.log)
	g := newGate(cfg.Secret, cfg.MaxAwaiting, cfg.FirstMessageWait)
	// The metrics interceptors first: they see each call's final code.
	opts := append(metrics.NewGRPC(e.metrics).ServerOptions(), grpc.ChainUnaryInterceptor(statusUnary), grpc.ChainStreamInterceptor(statusStream),
		grpc.MaxRecvMsgSize(cluster.MaxMessage),
		// The transport as the front door's: its streams a connection are
		// bounded too. A ticket is read before it is checked: one
		// connection's 150 DoGet streams, each sent 20 MiB less a byte,
		// held 3.3 GB. The port is for the cluster and its direct-mode
		// clients (README, Security model); the gate bounds the calls of
		// all connections together.
		grpc.InTapHandle(g.tap), grpc.StatsHandler(g),
		grpc.StatsHandler(lis)) // for cluster.Prove
	opts = append(opts, skeinsql.ConnOptions()...)
	opts = append(opts, cluster.KeepaliveServer(cfg.ClientPing)...)
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	e.grpc = grpc.NewServer(opts...)
	flight.RegisterFlightServiceServer(e.grpc, &service{e: e})
	e.health.Register(e.grpc)
	go func() { _ = e.grpc.Serve(lis) }()
	e.life, e.stop = context.WithCancel(context.Background())
	rctx, stopReport := context.WithCancel(context.Background())
	e.stopReport = stopReport
	go func() {
		defer close(e.reported)
		e.report(rctx)
	}()
	if cfg.HTTPAddr != "" {
		tc, err := cfg.TLS.HTTPConfig()
		if err == nil {
			e.web, err = web.Start(context.Background(), web.Config{Addr: cfg.HTTPAddr, TLS: tc,
				Metrics: prometheus.Gatherers{e.metrics, metrics.Runtime()}, Role: "executor"}, e.log)
		}
		if err != nil {
			e.Shutdown()
			return nil, err
		}
	}
	e.log.Info().Str("uri", e.uri).Str("coordinator", cfg.Coordinator).Msg("executor serving")
	return e, nil
}

// Metrics gathers the executor's own metrics (tasks, spools, gRPC calls),
// without the process's.
func (e *Executor) Metrics() prometheus.Gatherer { return e.metrics }

// HTTPURL is the base URL of its --http-addr listener ("" without one).
func (e *Executor) HTTPURL() string {
	if e.web == nil {
		return ""
	}
	return e.web.URL()
}

// URI is where clients reach this executor.
func (e *Executor) URI() string { return e.uri }

// ID names the executor in the cluster.
func (e *Executor) ID() string { return e.id }

// Shutdown stops the executor now: it stops reporting, cancels running
// tasks, drops what they hold and closes DuckDB. Calls after the first (or
// after Drain) do nothing.
func (e *Executor) Shutdown() { e.shutdown.Do(e.stopAll) }

func (e *Executor) stopAll() {
	e.health.Close()
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	e.stopReport()
	<-e.reported
	e.stop()
	stuck := e.waitTasks()
	e.mu.Lock()
	for h, s := range e.started {
		if s.timer != nil {
			s.timer.Stop()
		}
		s.release()
		delete(e.started, h)
	}
	e.mu.Unlock()
	e.coord.close()
	e.removeSpoolDir()
	// Streams still open end with their spools; a client that keeps
	// one open anyway is cut off.
	stopped := make(chan struct{})
	go func() {
		e.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		e.grpc.Stop()
		<-stopped
	}
	// After the streams: one relaying another executor's run of its task
	// (a client came for it once the drain was over) reads through a
	// peer's client, and closed under it, it broke midway ("the client
	// connection is closing"), which a direct-mode client cannot resume.
	e.peers.close()
	if e.web != nil {
		e.web.Close()
	}
	if stuck {
		return
	}
	if err := e.db.Close(); err != nil {
		e.log.Warn().Err(err).Msg("closing DuckDB")
	}
}

// report registers with the coordinator and sends heartbeats until ctx
// ends; after a refused heartbeat (the coordinator restarted or declared
// this executor dead) it registers again. Health says SERVING only while
// it is registered. Once draining, it tells the coordinator (skein.drain)
// at once, and every later message says so.
func (e *Executor) report(ctx context.Context) {
	var client flight.Client
	registered, drainSent := false, false
	// every is how often the coordinator wants a heartbeat when nothing
	// happens here (it asks for fewer in a large cluster); news (finished
	// tasks, reads ended) goes at once (wakeReport), within newsGap.
	every, last := e.cfg.Heartbeat, time.Time{}
	defer func() {
		if client != nil {
			_ = client.Close()
		}
	}()
	for {
		if client == nil {
			c, err := e.dialCoordinator()
			if err != nil {
				e.log.Warn().Err(err).Msg("cannot reach the coordinator")
			} else {
				client = c
			}
		}
		due := !registered || e.draining.Load() && !drainSent || time.Since(last) >= every || e.news()
		if client != nil && due {
			action := cluster.ActionHeartbeat
			switch {
			case e.draining.Load() && !drainSent:
				action = cluster.ActionDrain
			case !registered:
				action = cluster.ActionRegister
			}
			ack, err := e.send(ctx, client, action)
			last = time.Now()
			switch {
			case err == nil && action == cluster.ActionDrain:
				registered, drainSent = true, true
				close(e.drainAcked)
			case err == nil && !registered:
				registered = true
				e.log.Info().Msg("registered with the coordinator")
			case err != nil && ctx.Err() == nil:
				e.log.Warn().Err(err).Str("action", action).Msg("coordinator refused or unreachable")
				registered = false
			}
			if err == nil {
				every = max(ack.Every, e.cfg.Heartbeat)
				e.peers.gone(ack.Gone)
			}
			e.registered.Store(registered && err == nil)
		} else if client == nil {
			e.registered.Store(false)
		}
		e.health.SetReady(e.registered.Load())
		t := time.NewTimer(e.cfg.Heartbeat)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-e.wake:
			t.Stop()
			// Woken: send now, but no sooner than newsGap after the
			// last message, so that a burst of tasks and reads ending
			// makes one report, not one each.
			if wait := newsGap - time.Since(last); wait > 0 {
				w := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					w.Stop()
					return
				case <-w.C:
				}
			}
			last = time.Time{}
		}
	}
}

// news reports whether there is something to tell the coordinator before
// the next heartbeat is due: finished tasks, reads that ended, or its
// threads held by stopped tasks, or no longer (threadsHeld).
func (e *Executor) news() bool {
	e.mu.Lock()
	done := len(e.done)
	e.mu.Unlock()
	return done > 0 || e.reads.hasEnded() || e.threadsHeld() != e.saidHeld.Load()
}

func (e *Executor) send(ctx context.Context, c flight.Client, action string) (ack cluster.Ack, err error) {
	e.mu.Lock()
	done := e.done
	e.done = nil
	e.mu.Unlock()
	reads := e.reads.take()
	body, err := e.cfg.Secret.SignMember(cluster.Member{ID: e.id, Location: e.uri, Threads: cap(e.slots),
		Running: int(e.running.Load()), Waiting: int(e.waiting.Load()), Zone: e.zone, Reach: e.reach, Draining: e.draining.Load() || e.sayHeld(), Done: done, Reads: reads})
	if err != nil {
		return ack, err
	}
	defer func() {
		if err != nil { // not delivered: send them with the next heartbeat
			e.mu.Lock()
			e.done = append(done, e.done...)
			e.mu.Unlock()
			e.reads.putBack(reads)
		}
	}()
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	actx = metadata.AppendToOutgoingContext(actx, cluster.MemberHeader, string(body))
	reply, err := cluster.DoReply(actx, c, &flight.Action{Type: action, Body: body})
	return cluster.ParseAck(reply), err
}

func (e *Executor) dialCoordinator() (flight.Client, error) {
	addr, creds, err := e.cfg.TLS.Dial(e.cfg.Coordinator)
	if err != nil {
		return nil, err
	}
	return cluster.NewClient(addr, creds, cluster.KeepaliveDial())
}

// service answers Flight: DoGet for task tickets, DoAction for ping.
type service struct {
	flight.BaseFlightServer
	e *Executor
}

func (s *service) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	switch a.Type {
	case cluster.ActionStart, cluster.ActionDrop, cluster.ActionCancel:
		if err := s.e.fromCoordinator(stream.Context()); err != nil {
			return err
		}
	}
	switch a.Type {
	case cluster.ActionPing:
		// Who answers here: the coordinator asks an executor registering
		// at the address it advertises.
		return stream.Send(&flight.Result{Body: []byte(s.e.id)})
	case cluster.ActionStart:
		// The coordinator's scheduler gives this executor tasks as it has
		// free slots; each handle is a signed task ticket, and the answer
		// says when each has run.
		return s.e.startAll(stream, bytes.Split(a.Body, []byte("\n")))
	case cluster.ActionDrop:
		t, err := s.e.cfg.Secret.VerifyTask(a.Body)
		if err != nil {
			return skeinsql.VerifyError("task ticket", err, skeinsql.ErrUnauthenticated)
		}
		answer := cluster.DropKept
		if s.e.drop(runKey(t), t) {
			answer = cluster.DropDone
		}
		return stream.Send(&flight.Result{Body: []byte(answer)})
	case cluster.ActionCancel:
		t, err := s.e.cfg.Secret.VerifyTask(a.Body)
		if err != nil {
			return skeinsql.VerifyError("task ticket", err, skeinsql.ErrUnauthenticated)
		}
		md, _ := metadata.FromIncomingContext(stream.Context())
		s.e.cancelQuery(t.Query, len(md.Get(cluster.RevokeHeader)) > 0)
	default:
		return fmt.Errorf("%w: executor action %q", skeinsql.ErrUnimplemented, a.Type)
	}
	return stream.Send(&flight.Result{Body: []byte("ok")})
}

func (s *service) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	st, err := flightsql.GetStatementQueryTicket(t)
	if err != nil {
		return fmt.Errorf("%w: not a task ticket: %w", skeinsql.ErrInvalid, err)
	}
	handle, part, partial := cluster.SplitPartition(st.GetStatementHandle())
	task, err := s.e.cfg.Secret.VerifyTask(handle)
	if err != nil {
		return skeinsql.VerifyError("task ticket", err, skeinsql.ErrUnauthenticated)
	}
	// A direct-mode client's connection keeps its place at the bound.
	cluster.Prove(stream.Context())
	switch {
	case partial && task.Partitions == 0:
		return fmt.Errorf("%w: task %s/%d has no partitions to read (it is not an exchange's producer)",
			skeinsql.ErrInvalid, task.Query, task.Task)
	case partial && part >= task.Partitions:
		return fmt.Errorf("%w: task %s/%d has %d partitions, not partition %d",
			skeinsql.ErrInvalid, task.Query, task.Task, task.Partitions, part)
	case !partial && task.Partitions > 0:
		return fmt.Errorf("%w: task %s/%d is an exchange's producer: read its partitions with partition tickets",
			skeinsql.ErrInvalid, task.Query, task.Task)
	}
	// Every task writes into a spool and the reader streams from it, so a
	// task never holds a thread slot while its reader is slow: a client
	// that reads endpoints in order (while later streams wait, full) could
	// otherwise hold the slot an earlier endpoint's task is waiting for.
	s.e.streams.Add(1)
	defer s.e.streams.Add(-1)
	if partial { // another executor's consumer task: no client's read
		if relayed, err := s.e.redirect(stream, task, string(handle), t.GetTicket()); relayed {
			return err
		}
		r, release, err := s.e.claimPart(runKey(task), task, part)
		if err != nil {
			return err
		}
		defer release()
		return sendSpooled(stream.Context(), r, stream)
	}
	// The stream counts as a client's read (its query stays) from now,
	// while it waits for the task to start too: counted from when the
	// result was there, a direct query whose reader waited for its
	// producers past --endpoint-expiry was abandoned, and run again.
	end := s.e.reads.begin(task)
	err = s.e.serve(stream, task, handle, t.GetTicket())
	end(err, err != nil && stream.Context().Err() != nil)
	// Read whole, the query is let go; dropped, the coordinator cancels
	// it everywhere: either way it hears at once.
	s.e.wakeReport()
	return err
}

// serve sends a task's result to its reader: from the executor the
// scheduler gave the task to (an idle one stole it), or from its run
// here.
func (e *Executor) serve(stream flight.FlightService_DoGetServer, task cluster.Task, handle, ticket []byte) error {
	if relayed, err := e.redirect(stream, task, string(handle), ticket); relayed {
		return err
	}
	r, release, err := e.claim(runKey(task), task)
	if err != nil {
		return err
	}
	defer release()
	return sendSpooled(stream.Context(), r, stream)
}

// newsGap is the least time between two reports that news (tasks or
// reads ended) sends before the next heartbeat is due: news reaches the
// coordinator within it (a query read whole ends in its history, its
// lease is let go), and a burst of it makes one message.
const newsGap = 20 * time.Millisecond

// wakeReport makes the report loop send a heartbeat now (within newsGap).
func (e *Executor) wakeReport() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// A started task: its spool (a producer's: one per partition, nil for
// a partition nobody reads), and how to stop it. A plain task's entry
// without a spool is the tombstone of a redeemed one.
type started struct {
	query  string
	sp     *spool
	parts  []*spool
	cancel context.CancelFunc
	timer  *time.Timer
	// ran is closed when the run has ended, err then saying how; a
	// tombstone keeps its run's.
	ran *ranSignal
	// overflow says a producer's run gave up for want of room in the
	// spools (errSpoolFull): its unread partitions were dropped.
	overflow atomic.Bool
	// read is a tombstone's: the spool its reader took, and deadline its
	// query's (zero: none), past which the read ends (expire).
	read     *spool
	deadline time.Time
}

// ranSignal says when a run ended and how, and how many rows it gave.
type ranSignal struct {
	ch   chan struct{}
	err  error
	rows int64
}

// reading says whether a reader has taken any of the task's spools.
func (s *started) reading() bool {
	if s.sp != nil && s.sp.isRead() {
		return true
	}
	for _, sp := range s.parts {
		if sp != nil && sp.isRead() {
			return true
		}
	}
	return false
}

// release drops the task's spools.
func (s *started) release() {
	if s.sp != nil {
		s.sp.release()
	}
	for _, sp := range s.parts {
		if sp != nil {
			sp.release()
		}
	}
}

// drained reports whether every partition of a producer has been released.
func (s *started) drained() bool {
	for _, sp := range s.parts {
		if sp != nil && !sp.isClosed() {
			return false
		}
	}
	return true
}

// keepFor is how long a task's run and its result are kept for their
// readers: Config.KeepFor, or until the query's --query-timeout ends, when
// sooner (and a moment more, for a reader reading at the deadline to see
// it end). Kept to the end of KeepFor, a timed-out query's results held
// the spools ten minutes (1 GB each), and queries after it failed.
func (e *Executor) keepFor(t cluster.Task) time.Duration {
	if t.Deadline.IsZero() {
		return e.cfg.KeepFor
	}
	return min(e.cfg.KeepFor, max(time.Until(t.Deadline), 0)+cluster.DeadlineGrace)
}

// runKey names a task's run here: its query and number, not its handle,
// which has other spellings that verify as the same ticket (the bundle of
// a consumer's sources repeated or reordered): keyed by handle, each
// spelling started a run of its own, held for its reader for
// Config.KeepFor (a client replaying a spelled-out ticket held 543 MB of
// spool a call, found 2026-12-04).
func runKey(t cluster.Task) string { return t.Query + "/" + strconv.Itoa(t.Task) }

// start runs a task now, its result spooled until its ticket is redeemed
// (or dropped when the ticket expires). A task already started or redeemed
// is not started again.
func (e *Executor) start(key string, t cluster.Task) *ranSignal {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return nil
	}
	if s, ok := e.started[key]; ok {
		return s.ran
	}
	if until, ok := e.cancelled[t.Query]; ok && time.Now().Before(until) {
		r := &ranSignal{ch: make(chan struct{}), err: fmt.Errorf("%w: query %s was cancelled", context.Canceled, t.Query)}
		close(r.ch)
		return r
	}
	s := e.spawn(t, -1)
	s.timer = time.AfterFunc(e.keepFor(t), func() { e.expire(key) })
	e.started[key] = s
	return s.ran
}

// spawn runs a task into new spools: one, or a producer's one per
// partition (only that partition's, for one reader, when only >= 0).
// Called with e.mu held.
func (e *Executor) spawn(t cluster.Task, only int) *started {
	ctx, cancel := context.WithCancel(e.life)
	if !t.Deadline.IsZero() {
		// The query's --query-timeout ends the task here too.
		ctx, cancel = context.WithDeadline(e.life, t.Deadline)
	}
	s := &started{query: t.Query, cancel: cancel, ran: &ranSignal{ch: make(chan struct{})}}
	var spools []*spool
	open := func(schema *arrow.Schema) (recordWriter, error) {
		return newSpoolWriter(payloads{ctx: ctx, sp: s.sp}, schema, t.Codec != "", e.ipcOptions(t, schema)...), nil
	}
	if t.Partitions > 0 {
		s.parts = make([]*spool, t.Partitions)
		for i := range s.parts {
			switch {
			case only < 0:
				// Read by tasks of a later stage, which start only once
				// this one has ended: its writer must not wait for them.
				s.parts[i] = newSpool(e.spools, t.Readers)
				s.parts[i].stall, s.parts[i].query = e.cfg.SpoolStall, t.Query
			case i == only:
				s.parts[i] = newSpool(e.spools, 1) // its reader is here
			default:
				continue
			}
			spools = append(spools, s.parts[i])
		}
		open = func(schema *arrow.Schema) (recordWriter, error) {
			return e.newSplitter(ctx, schema, s.parts, t)
		}
	}
	th := &thread{e: e}
	if t.Partitions == 0 {
		s.sp = newSpool(e.spools, 1)
		spools = []*spool{s.sp}
		// A result its reader does not take in (a client that opened its
		// streams and reads one at a time, or stopped) waits for spool
		// room without its thread: held, readers that had stopped took
		// both of a cluster's executors' one slot each, and every other
		// query waited 133 s, until they closed (a tester's, 2026-12-06).
		var warned atomic.Bool
		s.sp.yield = func() func(context.Context) error {
			if warned.Swap(true) {
				return th.yield()
			}
			e.taskLog(t).Warn().Int64("spool_memory", e.cfg.SpoolMemory).Int64("spool_disk", e.cfg.SpoolDisk).
				Msg("the task's result waits for its reader to free spool room (--spool-memory-mb, --spool-disk-gb); its thread runs other tasks meanwhile")
			return th.yield()
		}
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		rows, err := e.run(ctx, t, th, open)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("task %s/%d ran longer than its query's timeout (--query-timeout): %w",
				t.Query, t.Task, context.DeadlineExceeded)
		}
		switch {
		case errors.Is(err, errSpoolFull) && t.Partitions > 0:
			// Its readers come once its stage has ended, each to a run of
			// its own (claimPart): what it spooled goes now.
			s.overflow.Store(true)
			e.taskLog(t).Warn().Err(err).Msg("a producer's partitions do not fit in the spools: each consumer runs it for its own")
		case errors.Is(err, errSpoolFull):
			s.overflow.Store(true) // as a producer's: what it spooled goes
			e.taskLog(t).Warn().Err(err).Msg("the task's result does not fit in the spools")
		case err != nil && ctx.Err() == nil:
			e.taskLog(t).Warn().Err(err).Msg("task failed")
		case err != nil:
			// Its reader went, its query was cancelled or timed out, or
			// the executor is stopping.
			e.taskLog(t).Debug().Err(err).Msg("task stopped")
		}
		for _, sp := range spools {
			sp.finish(err)
			if s.overflow.Load() && !sp.isRead() {
				sp.release()
			}
		}
		s.ran.err, s.ran.rows = err, rows
		close(s.ran.ch)
	}()
	return s
}

// claim gives the reader of a ticket its task's spool: the started one,
// else a new run (a start arriving later for it is then ignored). release
// drops the spool and stops the task if it is still running.
func (e *Executor) claim(key string, t cluster.Task) (*spoolReader, func(), error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.refuses(t); err != nil {
		return nil, nil, err
	}
	s, ok := e.started[key]
	again := ok && s.sp == nil // redeemed before: a run of its own
	if again {
		if err := e.reread(key, fmt.Sprintf("task %s/%d's ticket", t.Query, t.Task)); err != nil {
			return nil, nil, err
		}
	}
	if !ok || s.sp == nil {
		s = e.spawn(t, -1)
	}
	switch {
	case ok && s.sp != nil && e.started[key] == s:
		// redeemed: a tombstone until expiry
		e.started[key] = &started{query: t.Query, timer: s.timer, ran: s.ran, read: s.sp, deadline: t.Deadline}
	case !ok:
		// Run here for its reader: a start arriving later waits for this run.
		e.started[key] = &started{query: t.Query, ran: s.ran, read: s.sp, deadline: t.Deadline,
			timer: time.AfterFunc(e.keepFor(t), func() { e.expire(key) })}
	}
	forget := e.reading(t.Query, s.sp)
	return s.sp.take(), func() {
		s.cancel()
		s.sp.release()
		forget()
		if again {
			e.rereadDone(key)
		}
	}, nil
}

// reread counts a run of its own for a reader of what (named for the
// refusal) under key, at most maxRereads at once. Called with e.mu held;
// rereadDone uncounts it.
func (e *Executor) reread(key, what string) error {
	if n := e.rereads[key]; n >= maxRereads {
		return fmt.Errorf("%w: %s is being read %d times at once: it is read once "+
			"(one read again runs its task again, at most %d at a time)", skeinsql.ErrBusy, what, n, maxRereads)
	}
	e.rereads[key]++
	return nil
}

// rereadDone says a run reread counted under key has ended.
func (e *Executor) rereadDone(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rereads[key]--; e.rereads[key] <= 0 {
		delete(e.rereads, key)
	}
}

// maxRereads bounds the runs of one task that readers of its ticket, read
// before, may have at once: each runs the task again (a retry after a
// broken read is one), and one ticket redeemed 40 times at once ran 40
// times, holding 288 MB of spool memory and 138 MB of disk.
const maxRereads = 4

// reading registers a spool a reader of query takes, for a revocation to
// release it (cancelQuery); forget, when the read ends, forgets it.
// Called with e.mu held.
func (e *Executor) reading(query string, sp *spool) (forget func()) {
	if e.taken[query] == nil {
		e.taken[query] = map[*spool]bool{}
	}
	e.taken[query][sp] = true
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if delete(e.taken[query], sp); len(e.taken[query]) == 0 {
			delete(e.taken, query)
		}
	}
}

// fromCoordinator checks that a call carries the coordinator's header
// (cluster.CallHeader): task tickets alone let any holder run their
// tasks again (see cluster.CallHeader).
func (e *Executor) fromCoordinator(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(cluster.CallHeader)
	if len(vals) != 1 {
		return fmt.Errorf("%w: this call is the coordinator's, and carries its %s header", skeinsql.ErrDenied, cluster.CallHeader)
	}
	if err := e.cfg.Secret.VerifyCall(vals[0]); err != nil {
		return fmt.Errorf("%w: the coordinator's call header: %v", skeinsql.ErrDenied, err)
	}
	return nil
}

// refuses says why a reader of task t gets nothing here: the executor is
// shutting down, or t's query was revoked. Called with e.mu held.
func (e *Executor) refuses(t cluster.Task) error {
	if e.closing {
		return errClosing
	}
	if until, ok := e.revoked[t.Query]; ok && time.Now().Before(until) {
		return revokedError(t.Query)
	}
	return nil
}

func revokedError(query string) error {
	return fmt.Errorf("%w: query %s was cancelled by its client: its tickets no longer run",
		context.Canceled, query)
}

var errClosing = fmt.Errorf("%w: the executor is shutting down", skeinsql.ErrBusy)

// errThreadsHeld refuses tasks while every thread runs a stopped task on
// (threadsHeld).
var errThreadsHeld = fmt.Errorf("%w: every thread of the executor runs a stopped task on, in a DuckDB call that checks for no interrupt", skeinsql.ErrBusy)

// claimPart gives a reader of partition part of a producer task that
// partition's spool. A producer not started here (its start was lost, or
// its executor died and the reader came to the alternate) starts now, for
// every partition and all their readers. A reader beyond the partition's
// Readers (a consumer retried), or of a producer whose partitions did not
// fit in the spools, gets a run of its own. The partition is
// released after its last reader, and the run stopped once every
// partition is.
func (e *Executor) claimPart(key string, t cluster.Task, part int) (*spoolReader, func(), error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.refuses(t); err != nil {
		return nil, nil, err
	}
	s, ok := e.started[key]
	// A query released here (its readers done, or abandoned) whose
	// producer is claimed again (an endpoint read past its expiry, a
	// ticket redeemed again) runs for this reader alone: a shared run
	// kept every other partition, unread, in the spools for its ten
	// minutes (20 MB an executor for a shuffle of lineitem; a tester's).
	until, released := e.cancelled[t.Query]
	released = released && time.Now().Before(until)
	if !ok && !released && !e.spools.overflowed(t.Query) {
		s = e.spawn(t, -1)
		s.timer = time.AfterFunc(e.keepFor(t), func() { e.expire(key) })
		e.started[key] = s
		ok = true
	}
	// The reader's partition comes from the shared run, unless its
	// partitions did not fit here (SpoolStall), or none runs because
	// another producer of the query gave up for want of room here (a run
	// of every partition would give up at once: its reader, a consumer
	// failing over from the producer's own executor, then failed "the
	// spools are full"). Then this reader's is run for it, streamed as it
	// reads.
	if ok && !s.overflow.Load() {
		if r := s.parts[part].take(); r != nil {
			forget := e.reading(t.Query, s.parts[part])
			return r, func() {
				r.done()
				if s.drained() {
					s.cancel()
				}
				forget()
			}, nil
		}
	}
	// A partition its readers have all taken is read again with a run of
	// its own, as a ticket read again is (claim), at most maxRereads at
	// once: a client redeeming one producer's partition ticket (inside
	// every consumer's) 600 times at once had as many runs of the producer
	// queued on this executor's threads for 100 s, another client's 0.3 s
	// query waiting behind them (a tester's). The runs for readers of a
	// query that overflowed the spools are its plan's, not bounded.
	rk := ""
	if ok && !s.overflow.Load() || released {
		rk = key + "#" + strconv.Itoa(part)
		if err := e.reread(rk, fmt.Sprintf("partition %d of task %s/%d", part, t.Query, t.Task)); err != nil {
			return nil, nil, err
		}
	}
	own := e.spawn(t, part)
	r := own.parts[part].take()
	forget := e.reading(t.Query, own.parts[part])
	return r, func() {
		r.done()
		own.cancel()
		forget()
		if rk != "" {
			e.rereadDone(rk)
		}
	}, nil
}

// taskLog is the logger of the lines about a task: its query's id and
// trace id, and its own number.
func (e *Executor) taskLog(t cluster.Task) *zerolog.Logger {
	l := skeinsql.QueryLog(e.log, t.Query, t.Trace).With().Int("task_id", t.Task).Logger()
	return &l
}

// cancelQuery stops every task of query started here and drops what they
// hold (readers of their spools get an error). Their tickets stay valid:
// one redeemed again runs its task again, as after expiry.
func (e *Executor) cancelQuery(query string, revoke bool) {
	e.mu.Lock()
	now := time.Now()
	for _, m := range []map[string]time.Time{e.cancelled, e.revoked} {
		for q, until := range m {
			if now.After(until) {
				delete(m, q)
			}
		}
	}
	e.cancelled[query] = now.Add(cluster.TaskTTL)
	var gone []*started
	for h, s := range e.started {
		if s.query == query {
			gone = append(gone, s)
			delete(e.started, h)
		}
	}
	var taken []*spool
	if revoke {
		e.revoked[query] = now.Add(cluster.TaskTTL)
		for sp := range e.taken[query] {
			taken = append(taken, sp)
		}
	}
	e.mu.Unlock()
	// Its readers stop too, with the reason (a result spooled whole was
	// read to its end after the cancel), and stop the runs they read.
	for _, sp := range taken {
		sp.releaseFor(revokedError(query))
	}
	for _, s := range gone {
		if s.timer != nil {
			s.timer.Stop()
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.release()
	}
	if len(gone) > 0 {
		e.log.Debug().Str("query_id", query).Int("tasks", len(gone)).Msg("query cancelled")
	}
}

// expire drops a started task whose ticket expired unredeemed.
func (e *Executor) expire(key string) {
	e.mu.Lock()
	s := e.started[key]
	delete(e.started, key)
	e.mu.Unlock()
	if s != nil && s.cancel != nil {
		// What its spools still hold goes now: said, so that spool files
		// going long after their query are explained.
		e.log.Debug().Str("query_id", s.query).Str("task", key).Msg("a task's run kept for its readers reached its expiry")
		s.cancel()
		s.release()
	}
	// A result taken by a reader that has not read it to its end by its
	// query's deadline: a reader that stopped reading held a task's spooled
	// result (879 MB of a lineitem scan here) four minutes past a 30 s
	// --query-timeout, the query recorded as ended meanwhile (a tester's);
	// the coordinator cuts a proxied read there alike.
	if s != nil && s.read != nil && !s.deadline.IsZero() && !time.Now().Before(s.deadline) {
		s.read.releaseFor(fmt.Errorf("query %s ran longer than its timeout (--query-timeout) before its reader read task %s to its end: %w",
			s.query, key, context.DeadlineExceeded))
	}
}

// sendSpooled streams a task's result from its spool to its reader.
func sendSpooled(ctx context.Context, r *spoolReader, stream flight.FlightService_DoGetServer) error {
	for {
		f, err := r.read(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		// The spool's frames never change: gRPC sends the body from there,
		// and it stays counted against the spools' memory budget until
		// gRPC is done with it (a consumer that does not read yet keeps
		// it queued).
		if err := flightwire.SendHeld(stream, f.header, f.body, func() { r.sent(f) }); err != nil {
			return err
		}
	}
}

// ipcOptions are how a task's output is encoded for its spool: with its
// schema, the executor's allocator and the task's codec.
func (e *Executor) ipcOptions(t cluster.Task, schema *arrow.Schema) []ipc.Option {
	return append(skeinsql.IPCOptions(t.Codec), ipc.WithSchema(schema), ipc.WithAllocator(e.cfg.Alloc))
}

// recordWriter is where a task writes its result: the Flight stream of
// the client redeeming it, or a spool.
type recordWriter interface {
	Write(arrow.RecordBatch) error
	Close() error
}

// run executes a task, writes its result to the writer open gives for its
// schema, and reports how it went. A consumer's inputs are opened first
// (loaded, or their first records in hand: fetchInputs), before it takes a
// thread slot: a consumer waiting for its producers must not hold the slot
// one of them needs.
func (e *Executor) run(ctx context.Context, t cluster.Task, th *thread, open func(*arrow.Schema) (recordWriter, error)) (rows int64, err error) {
	report := cluster.TaskReport{Query: t.Query, Task: t.Task, Executor: e.id, Started: time.Now()}
	e.inflight.Add(1)
	defer func() {
		e.inflight.Add(-1)
		report.Finished = time.Now()
		if err != nil {
			report.Error = err.Error()
		}
		e.counts.ended(report, err)
		e.mu.Lock()
		if len(e.done) < 10000 {
			e.done = append(e.done, report)
		}
		e.mu.Unlock()
		e.wakeReport()
	}()
	defer e.reap(ctx, t)()
	log := e.taskLog(t)
	log.Debug().Int("inputs", len(t.Inputs)).Int("partitions", t.Partitions).Msg("task started")
	start := time.Now()
	conn, err := e.db.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ins := &taskInputs{}
	if len(t.Inputs) > 0 {
		if ins, err = e.fetchInputs(ctx, conn, t); err != nil {
			return 0, fmt.Errorf("task %s/%d: %w", t.Query, t.Task, err)
		}
		defer ins.close() // after the SQL's reader is released (deferred later)
	}
	fetched := time.Now()
	// DuckDB runs a query on the calling thread as well as its pool, so
	// without a bound an executor of N threads would run any number of
	// tasks at once. It runs as many as it has threads; the rest queue.
	if err := th.take(ctx); err != nil {
		return 0, err
	}
	defer th.give()
	slotted := time.Now() // on a thread from here
	// The run stays on one OS thread, whose clocks say what of its time
	// was work and what was waiting for a core (threadClock); at most one
	// locked thread per slot. Only an executor of one DuckDB thread runs
	// all of a task's work on it: at more, DuckDB's pool shares the work
	// of every running task, and the figures are not reported.
	var cpu0, wait0 int64
	measured := cap(e.slots) == 1
	if measured {
		runtime.LockOSThread()
		cpu0, wait0, measured = threadClock()
		defer func() {
			if cpu1, wait1, ok := threadClock(); ok && measured {
				report.CPU, report.CPUWait, report.Measured = time.Duration(cpu1-cpu0), time.Duration(wait1-wait0), true
			}
			runtime.UnlockOSThread()
		}()
	}
	if t.Role.ReadOnly() {
		conn.SetPolicy(duck.Policy{ReadOnly: true})
	}
	if h := e.cfg.Test; h != nil && h.Before != nil {
		if err := h.Before(ctx, t); err != nil {
			return 0, err
		}
	}
	if err := stampedUnchanged(ctx, conn, t, true); err != nil {
		return 0, fmt.Errorf("task %s/%d: %w", t.Query, t.Task, err)
	}
	orChanged := func(err error) error { return changedOr(ctx, conn, t, err) }
	prepare := func(sql string) (*duck.Stmt, error) {
		st, err := conn.Prepare(ctx, sql)
		if err != nil {
			return nil, fmt.Errorf("task %s/%d: %w", t.Query, t.Task, orChanged(err))
		}
		return st, nil
	}
	run := func(st *duck.Stmt) (array.RecordReader, error) {
		rdr, err := st.Query(ctx, e.cfg.Alloc, t.Args(), e.cfg.Batch)
		if err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("task %s/%d: %w", t.Query, t.Task, orChanged(ins.cause(err)))
		}
		return rdr, nil
	}
	sql := t.SQL
	var part *duck.FileRun
	if t.Write != nil {
		sql, part = duck.StartFileRun(t.SQL, t.Write.Path, t.Write.Options)
		defer part.Abandon()
	}
	st, err := prepare(sql)
	if err != nil {
		return 0, err
	}
	// Read by Skein (a consumer, a merge): a column whose values Arrow
	// would not give back goes as its text (internal/duck/encoded.go), by
	// the statement's types, or, not known before its parameters are
	// bound (a scan of read_parquet($1)), by its result's, the query run
	// again for it: not a query scanning a stream input, which is read
	// once.
	var texts map[int]string
	var rdr array.RecordReader
	exchange := t.Partitions > 0 || t.Merged
	if exchange {
		st, rdr, texts, err = duck.ExchangeQuery(st, t.SQL, len(ins.unregister) == 0, prepare, run)
	} else {
		rdr, err = run(st)
	}
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if part != nil {
		rdr = part.Committing(rdr)
	}
	defer rdr.Release()
	schema := skeinsql.ResultSchema(rdr.Schema())
	if exchange {
		schema = duck.ExchangeSchema(rdr, schema, texts)
	}
	w, err := open(schema)
	if err != nil {
		return 0, fmt.Errorf("task %s/%d: %w", t.Query, t.Task, err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = w.Close()
		}
	}()
	for rdr.Next() {
		rec := rdr.RecordBatch()
		rec.Retain()
		rec = skeinsql.Relabel(rec, schema)
		err := w.Write(rec)
		rows += rec.NumRows()
		report.Rows, report.Bytes = rows, report.Bytes+duck.RecordSize(rec)
		rec.Release()
		if err != nil {
			return 0, err
		}
	}
	if err := rdr.Err(); err != nil {
		return 0, fmt.Errorf("task %s/%d: %w", t.Query, t.Task, orChanged(ins.cause(err)))
	}
	if err := stampedUnchanged(ctx, conn, t, false); err != nil {
		return 0, fmt.Errorf("task %s/%d: %w", t.Query, t.Task, err)
	}
	// A producer's writer still holds the rows of partitions it has not
	// filled a batch of: they are written now, and a failure is the task's.
	closed = true
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("task %s/%d: %w", t.Query, t.Task, err)
	}
	if h := e.cfg.Test; h != nil && h.After != nil {
		if err := h.After(ctx, t, time.Since(slotted)); err != nil {
			return 0, err
		}
	}
	ins.logStreams(log, t)
	// took is inputs (fetched and loaded) + queued (for a thread slot) + run
	// (the SQL and the writing of its result).
	// run is cpu (the thread's work) + cpu_wait (runnable, waiting for a
	// core) + any other wait (the spools' budget).
	ev := log.Debug()
	if !ev.Enabled() {
		return rows, nil
	}
	if measured {
		if cpu, wait, ok := threadClock(); ok {
			ev = ev.Dur("cpu", time.Duration(cpu-cpu0)).Dur("cpu_wait", time.Duration(wait-wait0))
		}
	}
	ev.Int64("rows", rows).Dur("took", time.Since(start)).Dur("inputs", fetched.Sub(start)).
		Dur("queued", slotted.Sub(fetched)).Dur("run", time.Since(slotted)).Msg("task done")
	return rows, nil
}

// startAll runs the tasks the scheduler gave this executor and answers
// for each as it ends (cluster.Started), ending when the last has. A task
// already here (started, or run for a reader) is answered when that run
// ends. The tasks go on if the call ends early: their results wait for
// their readers as any started task's.
func (e *Executor) startAll(stream flight.FlightService_DoActionServer, handles [][]byte) error {
	type ran struct {
		i int
		r *ranSignal
	}
	var runs []ran
	if e.threadsHeld() {
		return errThreadsHeld
	}
	for i, h := range handles {
		t, err := e.cfg.Secret.VerifyTask(h)
		if err != nil {
			return skeinsql.VerifyError("task ticket", err, skeinsql.ErrUnauthenticated)
		}
		r := e.start(runKey(t), t)
		if r == nil {
			return errClosing
		}
		runs = append(runs, ran{i, r})
	}
	ended := make(chan ran, len(runs))
	ctx := stream.Context()
	for _, r := range runs {
		go func() {
			select {
			case <-r.r.ch:
				ended <- r
			case <-ctx.Done():
			}
		}()
	}
	for range runs {
		var r ran
		select {
		case r = <-ended:
		case <-ctx.Done():
			return ctx.Err()
		}
		res := cluster.Started{I: r.i}
		if r.r.err == nil {
			res.Rows = &r.r.rows
		}
		if r.r.err != nil {
			if e.life.Err() != nil {
				// Stopped because this executor stops: the task is not
				// done, and goes elsewhere.
				return errClosing
			}
			res.Error = r.r.err.Error()
			res.Code = uint32(status.Code(skeinsql.ToStatus(r.r.err)))
		}
		body, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if err := stream.Send(&flight.Result{Body: body}); err != nil {
			return err
		}
	}
	return nil
}

// drop stops a task's run here and drops what it holds, unless a reader
// has taken its result (it is then kept and runs on). It reports whether
// the task is gone.
func (e *Executor) drop(key string, t cluster.Task) bool {
	e.mu.Lock()
	s, ok := e.started[key]
	if ok && (s.cancel == nil || s.reading()) {
		e.mu.Unlock()
		return false
	}
	delete(e.started, key)
	e.mu.Unlock()
	if ok {
		if s.timer != nil {
			s.timer.Stop()
		}
		s.cancel()
		s.release()
		e.taskLog(t).Debug().Msg("task dropped: another run of it won")
	}
	return true
}

// stampedUnchanged checks that the files task t reads are still those its
// plan listed (cluster.Task.Stamped): before its reading, the local ones;
// after, the local ones and the object its slice reads. An object is read
// by ranged requests over the task's run, and one overwritten before or
// meanwhile (a store replaces it whole) gave rows of another or of both:
// its Last-Modified only moves on, so one HEAD after the reading sees
// either. A local file renamed over one while the task read it is seen
// after as well. The objects of the join inputs every task reads whole
// are not asked: a HEAD of each after every task took TPC-H Q3 over moto
// from 0.22 to 0.33 s, Q10 from 0.22 to 0.37 s and Q5 from 0.24 to 0.54 s
// (scale factor 0.01, bench/run.sh --smoke --workloads tpch,s3).
// changedOr is err, a task's failure, unless a file the task reads
// changed since it was planned: then that. DuckDB reading a file renamed
// over as it read failed with what it made of the old footer and the new
// bytes ("statistics in your data source are corrupt", a prefetch
// outside the file: InvalidArgument, Internal), where the query is to be
// run again, Aborted (a tester's).
func changedOr(ctx context.Context, conn *duck.Conn, t cluster.Task, err error) error {
	if ctx.Err() == nil {
		if cerr := stampedUnchanged(ctx, conn, t, false); cerr != nil {
			return cerr
		}
	}
	return err
}

func stampedUnchanged(ctx context.Context, conn *duck.Conn, t cluster.Task, before bool) error {
	for _, f := range t.Stamped() {
		if duck.Remote(f.Path) && (before || f.Path != t.File) {
			continue
		}
		if err := conn.FileUnchanged(ctx, f.Path, f.Size, f.Modified, f.Tail); err != nil {
			return err
		}
	}
	return nil
}

// thread is a task's hold of one of the executor's thread slots (e.slots),
// counted running (what its heartbeats say, for the scheduler). A result
// task whose spool waits for its reader gives it up meanwhile (yield):
// it runs nothing then.
type thread struct {
	e    *Executor
	mu   sync.Mutex
	held bool
}

// take waits for a slot.
func (th *thread) take(ctx context.Context) error {
	select {
	case th.e.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	th.mu.Lock()
	th.held = true
	th.mu.Unlock()
	th.e.running.Add(1)
	return nil
}

// give gives the slot up, if held, and says whether it was.
func (th *thread) give() bool {
	th.mu.Lock()
	held := th.held
	th.held = false
	th.mu.Unlock()
	if held {
		th.e.running.Add(-1)
		<-th.e.slots
	}
	return held
}

// yield gives the slot up and gives back what takes one again; nil if
// none was held. It does not block. Meanwhile the task counts waiting
// (cluster.Member.Waiting).
func (th *thread) yield() func(context.Context) error {
	if !th.give() {
		return nil
	}
	th.e.waiting.Add(1)
	return func(ctx context.Context) error {
		defer th.e.waiting.Add(-1)
		return th.take(ctx)
	}
}
