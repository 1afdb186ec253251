package executor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/rs/zerolog"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/flightwire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// taskInputs are a consumer task's exchange inputs, open: each the merged
// stream of its sources, and the registrations of the streamed ones.
type taskInputs struct {
	streams    []*merged
	unregister []func()
}

// streamHeld is how much of an input its SQL reads once (Input.Stream) a
// consumer holds in memory: one that ends within it is scanned by the SQL
// from memory, converted as it is read, with its exact row count for
// DuckDB's join planning (which, guessing, can order a join of several
// such inputs disastrously); a larger one is loaded into a table, the
// rows held first. What is held counts against the spools' memory budget
// (spoolStore.holdInput): an input that does not fit there is loaded too.
const streamHeld = 64 << 20

// fetchInputs opens every input of a consumer task at once, each from
// sourcesAtOnce of its sources at a time. An input the task's SQL reads once (Input.Stream)
// and that fits in streamHeld and the spools' memory budget becomes a
// table streaming its records, read (and converted to DuckDB's vectors) as the
// SQL runs; any other is loaded into a TEMP table first, one after another
// (they share the connection). It returns once every input has arrived,
// as before a consumer held inputs in tables only: the task then takes a
// thread slot without keeping one from a producer it waits for. close
// ends it all, after the SQL.
func (e *Executor) fetchInputs(ctx context.Context, conn *duck.Conn, t cluster.Task) (ins *taskInputs, err error) {
	if t, err = e.cfg.Secret.WithSources(t); err != nil {
		return nil, fmt.Errorf("%w: task ticket: %w", skeinsql.ErrUnauthenticated, err)
	}
	ins = &taskInputs{streams: make([]*merged, len(t.Inputs))}
	defer func() {
		if err != nil {
			ins.close()
		}
	}()
	errs := make([]error, len(t.Inputs))
	var wg sync.WaitGroup
	for i, in := range t.Inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ins.streams[i], errs[i] = e.openInput(ctx, in); errs[i] != nil {
				errs[i] = fmt.Errorf("exchange input %s: %w", in.Table, errs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return ins, err
	}
	for i, in := range t.Inputs {
		m := ins.streams[i]
		var rdr array.RecordReader = m
		if in.Stream && !duck.Kept(m.schema) { // a column to cast back is loaded
			h, whole, err := m.hold(e.holdMax, e.spools)
			if err != nil {
				h.Release()
				return ins, fmt.Errorf("exchange input %s: %w", in.Table, err)
			}
			if whole {
				unregister, err := ins.register(conn, in.Table, m.schema, h)
				if err != nil {
					return ins, fmt.Errorf("exchange input %s: %w", in.Table, err)
				}
				ins.unregister = append(ins.unregister, unregister)
				e.counts.inputs.WithLabelValues("memory").Inc()
				continue
			}
			rdr = h
		}
		e.counts.inputs.WithLabelValues("table").Inc()
		start := time.Now()
		err := conn.LoadTemp(ctx, in.Table, rdr)
		if r, ok := rdr.(*replay); ok {
			r.Release()
		}
		if ferr := m.Err(); ferr != nil {
			err = ferr // the cause, rather than the load it interrupted
		}
		if err != nil {
			return ins, fmt.Errorf("exchange input %s: %w", in.Table, err)
		}
		e.taskLog(t).Debug().Str("input", in.Table).Int("sources", len(in.Sources)).Int64("rows", m.rows).
			Dur("took", time.Since(start)).Dur("waited", m.waited).Msg("exchange input loaded")
	}
	return ins, nil
}

// register makes the held records of an input (all of it) the table name
// for the SQL, scanned from memory; they are released, and their budget
// given back, with the registration.
func (ins *taskInputs) register(conn *duck.Conn, name string, schema *arrow.Schema, h *replay) (func(), error) {
	var rows, size int64
	recs := make([]arrow.RecordBatch, len(h.held))
	for i, r := range h.held {
		recs[i] = r.rec
		rows += r.rec.NumRows()
		size += r.size
	}
	rdr, err := array.NewRecordReader(schema, recs)
	if err != nil {
		h.Release()
		return nil, err
	}
	// The reader holds its own references; the budget is kept until the
	// reader is released.
	releaseAll(recs)
	h.held = nil
	free := func() {
		rdr.Release()
		h.store.freeInput(size)
	}
	unregister, err := conn.RegisterStream(rdr, name, rows)
	if err != nil {
		free()
		return nil, err
	}
	return func() {
		unregister()
		free()
	}, nil
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// heldRecord is a record held in memory, and the bytes of the spools'
// memory budget it takes.
type heldRecord struct {
	rec  arrow.RecordBatch
	size int64
}

// replay reads records held (their bytes taken from store's memory
// budget, given back as each is read), then the one that did not fit,
// then the rest of their stream.
type replay struct {
	store   *spoolStore
	held    []heldRecord
	over    arrow.RecordBatch // read past what could be held; not counted
	rest    *merged
	cur     arrow.RecordBatch // a record given by Next, released by the next
	curSize int64             // the budget cur takes
}

func (r *replay) Schema() *arrow.Schema { return r.rest.schema }

func (r *replay) Next() bool {
	r.drop()
	switch {
	case len(r.held) > 0:
		r.cur, r.curSize = r.held[0].rec, r.held[0].size
		r.held = r.held[1:]
		return true
	case r.over != nil:
		r.cur, r.over = r.over, nil
		return true
	}
	return r.rest.Next()
}

// drop releases the current record and gives back its budget.
func (r *replay) drop() {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	r.store.freeInput(r.curSize)
	r.curSize = 0
}

func (r *replay) RecordBatch() arrow.RecordBatch {
	if r.cur != nil {
		return r.cur
	}
	return r.rest.RecordBatch()
}

// Record is RecordBatch, for the older interface.
func (r *replay) Record() arrow.RecordBatch { return r.RecordBatch() }

func (r *replay) Err() error { return r.rest.Err() }

func (r *replay) Retain() {}

// Release releases the records not read and gives back their budget; the
// stream ends with its stop.
func (r *replay) Release() {
	r.drop()
	for _, h := range r.held {
		h.rec.Release()
		r.store.freeInput(h.size)
	}
	r.held = nil
	if r.over != nil {
		r.over.Release()
		r.over = nil
	}
}

// cause is the first failure of a stream, if any, else err: the SQL's
// error when it read a stream that broke is the stream's.
func (ins *taskInputs) cause(err error) error {
	for _, m := range ins.streams {
		if m == nil {
			continue
		}
		if ferr := m.Err(); ferr != nil {
			return ferr
		}
	}
	return err
}

// close ends the registrations and the streams.
func (ins *taskInputs) close() {
	for _, u := range ins.unregister {
		u()
	}
	ins.unregister = nil
	for _, m := range ins.streams {
		if m != nil {
			m.stop()
		}
	}
	ins.streams = nil
}

// logStreams writes a debug line per input held for its SQL: its rows,
// and how long the task waited for its producers.
func (ins *taskInputs) logStreams(log *zerolog.Logger, t cluster.Task) {
	for i, in := range t.Inputs {
		if in.Stream && i < len(ins.streams) {
			m := ins.streams[i]
			log.Debug().Str("input", in.Table).Int("sources", len(in.Sources)).Int64("rows", m.rows).
				Dur("waited", m.waited).Msg("exchange input held")
		}
	}
}

// sourcesAtOnce is how many of an input's sources a consumer streams at
// once. Each open stream holds, outside any budget, up to gRPC's window
// (8 MiB) at the consumer and a frame at its producer: an input of 64
// sources read at once held near a gigabyte. The other sources' rows wait
// in their producers' spools (counted there, spilled to disk past the
// budget); their producers have ended (a stage starts once the stages it
// reads have).
const sourcesAtOnce = 8

// openInput opens partition in.Part of the first sourcesAtOnce sources of
// an input at once, the others as those end, and merges them into one
// stream, read as they send.
func (e *Executor) openInput(ctx context.Context, in cluster.Input) (*merged, error) {
	if len(in.Sources) == 0 {
		return nil, fmt.Errorf("%w: an input without sources", skeinsql.ErrInvalid)
	}
	// The sources' context: a failed one stops the others, and the
	// merged stream's stop ends them all.
	sctx, cancel := context.WithCancel(ctx)
	srcs := make([]*source, len(in.Sources))
	errs := make([]error, len(in.Sources))
	var wg sync.WaitGroup
	opened := min(len(in.Sources), sourcesAtOnce)
	for i, src := range in.Sources {
		ticket, err := cluster.PartitionTicket(src.Handle, in.Part)
		if err != nil {
			errs[i] = err
			continue
		}
		srcs[i] = &source{e: e, ticket: ticket, locs: e.peers.aliveFirst(lastResort(src.Locations, e.uri))}
		if i >= opened {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = srcs[i].open(sctx)
		}()
	}
	wg.Wait()
	closeAll := func() {
		cancel()
		for _, s := range srcs {
			if s != nil {
				s.close()
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		closeAll()
		return nil, err
	}
	schema := srcs[0].schema
	for _, s := range srcs[1:opened] {
		if err := sameSource(s.schema, schema); err != nil {
			closeAll()
			return nil, err
		}
	}
	m := &merged{schema: schema, recs: make(chan arrow.RecordBatch, 1), done: make(chan struct{}),
		cancel: cancel, srcs: srcs}
	m.run(sctx, opened)
	return m, nil
}

// lastResort is a source's locations with this executor's own after them:
// when every executor the producer was given to is gone (its assigned
// one and its alternate can both die, or be dead already when the query
// was planned), the consumer's executor, which is alive, runs the
// producer itself from its ticket (its files have not changed).
func lastResort(locs []string, self string) []string {
	if slices.Contains(locs, self) {
		return locs
	}
	return append(slices.Clip(locs), self)
}

// sameSource says whether a source's schema is the first's.
func sameSource(schema, first *arrow.Schema) error {
	if !sameColumns(schema, first) {
		return fmt.Errorf("%w: the sources' schemas differ: %s and %s", skeinsql.ErrInvalid, first, schema)
	}
	return nil
}

// sameColumns compares two schemas' names and types, not their metadata.
func sameColumns(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i, f := range a.Fields() {
		if g := b.Field(i); f.Name != g.Name || !arrow.TypeEqual(f.Type, g.Type) {
			return false
		}
	}
	return true
}

// source is one producer's partition stream, read from the first of its
// locations that serves it. Until a record has been read, a location that
// fails over (connection lost, executor unavailable) gives way to the next,
// which runs the producer again if it must; after that a failure is the
// consumer's, since another run's rows need not come in the same order.
type source struct {
	e      *Executor
	ticket []byte
	locs   []string
	next   int // the next location to try

	schema *arrow.Schema
	rdr    *flight.Reader
	end    func() // ends the current stream
	got    bool   // a record was read
	again  bool   // the last location was asked again (read)
}

func (s *source) open(ctx context.Context) error {
	var errs []error
	for s.next < len(s.locs) {
		loc := s.locs[s.next]
		s.next++
		err := s.openAt(ctx, loc)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", loc, err))
		if !failsOver(ctx, err) {
			break
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("%w: a source without locations", skeinsql.ErrInvalid)
	}
	return errors.Join(errs...)
}

func (s *source) openAt(ctx context.Context, loc string) error {
	c, release, err := s.e.peers.get(loc)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	end := func() {
		cancel()
		release()
	}
	stream, err := c.DoGet(sctx, &flight.Ticket{Ticket: s.ticket})
	if err != nil {
		end()
		return err
	}
	rdr, err := flight.NewRecordReader(stream, ipc.WithAllocator(s.e.cfg.Alloc))
	if err != nil {
		end()
		return err
	}
	if s.schema != nil && !sameColumns(rdr.Schema(), s.schema) {
		rdr.Release()
		end()
		return fmt.Errorf("%w: a producer's schema changed between runs", skeinsql.ErrInvalid)
	}
	if s.schema == nil {
		s.schema = rdr.Schema()
	}
	n := s.e.fetching.Add(1)
	for p := s.e.peakFetching.Load(); n > p && !s.e.peakFetching.CompareAndSwap(p, n); p = s.e.peakFetching.Load() {
	}
	s.rdr, s.end = rdr, func() {
		end()
		s.e.fetching.Add(-1)
	}
	return nil
}

// read returns the next record (the caller releases it), or io.EOF.
func (s *source) read(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if s.rdr.Next() {
			s.got = true
			rec := s.rdr.RecordBatch()
			rec.Retain()
			return rec, nil
		}
		err := s.rdr.Err()
		if err == nil {
			return nil, errEOF
		}
		if s.got || !failsOver(ctx, err) {
			return nil, err
		}
		if s.next >= len(s.locs) {
			if status.Code(err) != codes.ResourceExhausted || s.again {
				return nil, err
			}
			// The last location's producer gave up for want of room
			// (errSpoolFull) after this reader took its partition: asked
			// again, it runs the producer for this reader alone.
			s.again = true
			s.next--
		}
		s.close()
		if err := s.open(ctx); err != nil {
			return nil, err
		}
	}
}

var errEOF = errors.New("end of stream")

func (s *source) close() {
	if s.rdr != nil {
		s.rdr.Release()
		s.rdr = nil
	}
	if s.end != nil {
		s.end()
		s.end = nil
	}
}

// failsOver says whether a fetch that failed with err may go to the next
// location: the connection failed or the executor is gone or going, not
// the producer's SQL and not the consumer's own end.
func failsOver(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	st, ok := status.FromError(err)
	if !ok {
		return true
	}
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted, codes.Unknown:
		return true
	case codes.Canceled, codes.Aborted:
		// Not this consumer's end (checked above): the producer's
		// executor stopped it (it is shutting down, or its query was
		// cancelled there); another location runs it again.
		return true
	}
	return false
}

// merged is the one record stream of an input's sources, read
// sourcesAtOnce at a time.
type merged struct {
	schema *arrow.Schema
	recs   chan arrow.RecordBatch
	done   chan struct{} // closed when every source has ended
	cancel context.CancelFunc
	srcs   []*source
	wg     sync.WaitGroup

	mu      sync.Mutex
	err     error
	stopped bool
	cur     arrow.RecordBatch
	// waited is how long Next waited for the sources: the rest of a load's
	// time is the load's own. rows counts the rows Next gave.
	waited time.Duration
	rows   int64
}

// run reads the sources into the stream, sourcesAtOnce at a time: the
// first opened of them open already, each other opened once one ends.
func (m *merged) run(ctx context.Context, opened int) {
	slots := make(chan struct{}, sourcesAtOnce)
	for range opened {
		slots <- struct{}{}
	}
	for i, s := range m.srcs {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer s.close()
			if i >= opened {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					m.fail(ctx.Err())
					return
				}
			}
			defer func() { <-slots }()
			if i >= opened {
				err := s.open(ctx)
				if err == nil {
					err = sameSource(s.schema, m.schema)
				}
				if err != nil {
					m.fail(err)
					return
				}
			}
			for {
				rec, err := s.read(ctx)
				if errors.Is(err, errEOF) {
					return
				}
				if err != nil {
					m.fail(err)
					return
				}
				// Each source's schema may carry its own metadata.
				out := array.NewRecordBatch(m.schema, rec.Columns(), rec.NumRows())
				rec.Release()
				select {
				case m.recs <- out:
				case <-ctx.Done():
					out.Release()
					// Cut off, the stream must not look complete to its
					// reader (unless the reader stopped it).
					m.fail(ctx.Err())
					return
				}
			}
		}()
	}
	go func() {
		m.wg.Wait()
		close(m.done)
	}()
}

func (m *merged) fail(err error) {
	m.mu.Lock()
	if m.err == nil && !m.stopped {
		m.err = err
	}
	m.mu.Unlock()
	m.cancel()
}

// stop ends the sources and releases what they sent unread.
func (m *merged) stop() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.cancel()
	<-m.done
	for {
		select {
		case rec := <-m.recs:
			rec.Release()
		default:
			m.Release()
			return
		}
	}
}

func (m *merged) Schema() *arrow.Schema { return m.schema }

func (m *merged) Next() bool {
	if m.cur != nil {
		m.cur.Release()
		m.cur = nil
	}
	if m.Err() != nil {
		return false
	}
	select {
	case rec := <-m.recs:
		return m.take(rec)
	default:
	}
	start := time.Now()
	defer func() { m.waited += time.Since(start) }()
	select {
	case rec := <-m.recs:
		return m.take(rec)
	case <-m.done:
		// Sources may have sent their last records just before ending.
		select {
		case rec := <-m.recs:
			return m.take(rec)
		default:
			return false
		}
	}
}

// hold reads the stream until it ends (whole) or the next record would
// take what is held over limit bytes or over store's memory budget; the
// caller reads the records from the replay, and releases it.
func (m *merged) hold(limit int64, store *spoolStore) (h *replay, whole bool, err error) {
	h = &replay{store: store, rest: m}
	var size int64
	for {
		if !m.Next() {
			return h, m.Err() == nil, m.Err()
		}
		rec := m.RecordBatch()
		rec.Retain()
		n := duck.RecordSize(rec)
		if size+n > limit || !store.holdInput(n) {
			h.over = rec
			return h, false, nil
		}
		h.held = append(h.held, heldRecord{rec: rec, size: n})
		size += n
	}
}

func (m *merged) take(rec arrow.RecordBatch) bool {
	m.cur = rec
	m.rows += rec.NumRows()
	return true
}

func (m *merged) RecordBatch() arrow.RecordBatch { return m.cur }

// Record is RecordBatch, for the older interface.
func (m *merged) Record() arrow.RecordBatch { return m.cur }

func (m *merged) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

func (m *merged) Retain() {}

// Release releases the current record; the stream itself ends with stop.
func (m *merged) Release() {
	if m.cur != nil {
		m.cur.Release()
		m.cur = nil
	}
}

// peers holds Flight clients of the executors this one fetches exchange
// partitions from, one per location; beyond max, idle ones are closed,
// the least recently used first. Task tickets are the capability, so the
// clients carry no credentials beyond the cluster's TLS.
type peers struct {
	tls    cluster.TLS
	secret cluster.Secret // signs the calls (cluster.CallsDialOption)
	max    int

	mu     sync.Mutex
	conns  map[string]*peer
	clock  int64
	closed bool
	// dead: the locations the coordinator's last answer counted dead
	// (cluster.Ack.Gone).
	dead map[string]bool
}

type peer struct {
	c     flight.Client
	users int
	used  int64
}

const maxPeers = 64

func newPeers(tls cluster.TLS, secret cluster.Secret, max int) *peers {
	return &peers{tls: tls, secret: secret, max: max, conns: map[string]*peer{}}
}

// get leases the client for loc; release ends the lease.
func (p *peers) get(loc string) (flight.Client, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, errClosing
	}
	p.clock++
	pc, ok := p.conns[loc]
	if !ok {
		addr, creds, err := p.tls.Dial(loc)
		if err != nil {
			return nil, nil, err
		}
		// Partitions come in batches of the producer's size, which may be
		// over gRPC's default 4 MB limit on a received message.
		c, err := cluster.NewClient(addr, creds, cluster.KeepaliveDial(), p.secret.CallsDialOption(),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
			grpc.WithInitialWindowSize(8<<20), grpc.WithInitialConnWindowSize(16<<20), flightwire.DialOption())
		if err != nil {
			return nil, nil, err
		}
		pc = &peer{c: c}
		p.conns[loc] = pc
	}
	pc.users++
	pc.used = p.clock
	p.prune()
	var once sync.Once
	return pc.c, func() {
		once.Do(func() {
			p.mu.Lock()
			pc.users--
			p.mu.Unlock()
		})
	}, nil
}

// prune closes the least recently used idle clients beyond max. p.mu is
// held.
func (p *peers) prune() {
	if len(p.conns) <= p.max {
		return
	}
	var idle []string
	for loc, pc := range p.conns {
		if pc.users == 0 {
			idle = append(idle, loc)
		}
	}
	sort.Slice(idle, func(i, j int) bool { return p.conns[idle[i]].used < p.conns[idle[j]].used })
	for _, loc := range idle {
		if len(p.conns) <= p.max {
			break
		}
		_ = p.conns[loc].c.Close()
		delete(p.conns, loc)
	}
}

// gone takes the coordinator's list of dead executors' locations: their
// clients are closed, those in use too (their reads fail over to the
// next location at once, or fail their task, which the coordinator runs
// again), and aliveFirst puts them last.
func (p *peers) gone(locs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(locs) == 0 && len(p.dead) == 0 {
		return
	}
	p.dead = make(map[string]bool, len(locs))
	for _, loc := range locs {
		p.dead[loc] = true
		if pc, ok := p.conns[loc]; ok {
			_ = pc.c.Close()
			delete(p.conns, loc)
		}
	}
}

// aliveFirst orders a source's locations: those not known dead first,
// in their order, then the dead ones (the coordinator may be wrong: an
// executor late with its heartbeats under load).
func (p *peers) aliveFirst(locs []string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.dead) == 0 || !slices.ContainsFunc(locs, func(l string) bool { return p.dead[l] }) {
		return locs
	}
	out := make([]string, 0, len(locs))
	for _, l := range locs {
		if !p.dead[l] {
			out = append(out, l)
		}
	}
	for _, l := range locs {
		if p.dead[l] {
			out = append(out, l)
		}
	}
	return out
}

// close closes every client; no fetch is running (the executor's tasks
// have ended).
func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for loc, pc := range p.conns {
		_ = pc.c.Close()
		delete(p.conns, loc)
	}
}
