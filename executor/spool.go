package executor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/flightwire"
)

// A spool holds a task's result (or one partition of a producer's) between
// the task and its readers: the task's Flight messages (IPC header and
// body, as sent on the wire), in memory while the executor's memory budget
// allows, then appended to a file. A task started before its ticket is
// redeemed fills it with no reader yet; a reader takes the messages in
// order while the task may still be writing, and waits for more when it
// has caught up. A spool of one reader clears each frame as it is read; a
// spool of several (a broadcast) keeps them until the last is done.
type spool struct {
	store *spoolStore

	mu      sync.Mutex
	cond    *sync.Cond
	mem     []frame // the first frames; a read one is cleared
	file    *os.File
	fileLen int64 // bytes written to file
	nFile   int   // frames in file
	readOff int64 // how far the only reader has read file
	held    int64 // bytes of mem and after not yet read
	// after are frames that follow the file's, in memory: written when
	// the disk was full and the reader had read the file to its end (or
	// it had none), so that the reader gets them, in order, without the
	// disk (addAfter). Once one is, every later frame is.
	after     []frame
	afterHeld int64 // bytes of after not yet read
	disk      int64 // bytes reserved for the file
	done      bool  // the writer finished
	err       error // why the writer failed
	closed    bool  // the readers are gone: the writer stops
	reading   bool  // a reader has taken the spool
	readers   int   // how many readers it is kept for
	taken     int   // readers that have taken it
	gone      int   // readers that are done with it
	// why, when set, is what a reader of the spool released gets.
	why error
	// stall, when set, is how long the writer (a producer of query's)
	// may wait for room in full spools while nothing is freed
	// (spoolStore.reserve).
	stall time.Duration
	query string
	// yield, when set, is called as the writer starts to wait for room
	// (spoolStore.reserve): it gives up what the writer holds while it
	// waits (its task's thread slot), and gives back what takes it again.
	yield func() (resume func(context.Context) error)
}

func (sp *spool) isRead() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.reading
}

// take gives the spool to one of its readers; nil when every reader it
// was kept for has taken it.
func (sp *spool) take() *spoolReader {
	sp.mu.Lock()
	if sp.taken >= sp.readers {
		sp.mu.Unlock()
		return nil
	}
	sp.taken++
	sp.reading = true
	sp.mu.Unlock()
	sp.store.wake()
	return &spoolReader{sp: sp}
}

// done says a reader is finished with the spool, whether it read to the
// end or not; after the last one the spool is released.
func (r *spoolReader) done() {
	sp := r.sp
	sp.mu.Lock()
	sp.gone++
	last := sp.gone >= sp.readers
	sp.mu.Unlock()
	if last {
		sp.release()
	}
}

type frame struct{ header, body []byte }

// spoolStore is the executor-wide budget of spooled bytes: memBudget in
// memory, fileBudget on disk in dir. A writer over both waits for readers.
// The exchange inputs consumer tasks hold in memory (fetchInputs) take
// from the same memory budget, without waiting: an input that does not
// fit is loaded into a DuckDB table instead, which DuckDB spills.
type spoolStore struct {
	dir                   string
	memBudget, fileBudget int64

	mu        sync.Mutex
	cond      *sync.Cond
	mem, disk int64
	inputs    int64 // of mem, held by consumers' exchange inputs
	sending   int64 // of mem, frames readers handed to gRPC, not yet written
	shuffle   int64 // of mem, producers' partitions not yet written to their spools
	// Of mem, idle partition buffers kept for the next producer (scatter):
	// at most a quarter of the budget, and given up first when it is full.
	pool   [][]byte
	pooled int64
	// The most mem, inputs and shuffle have been: what tests assert the
	// budget on.
	peakMem, peakInputs, peakShuffle int64

	// freed counts the times memory or disk was given back: what a
	// writer waiting for room watches to see the spools move.
	freed uint64
	// full holds the queries one of whose producers gave up waiting for
	// room here, and when: their other producers give up at once.
	full map[string]time.Time
	// noRoom, when set, is what the spools held on disk when a write
	// found the disk full (filled): the disk budget until some is freed.
	noRoom int64

	bodies bodyPool // frames' bodies, reused

	// writeAt, when set, writes to spool files in place of the file's
	// WriteAt: a test's, to find the disk full.
	writeAt func(f *os.File, b []byte, off int64) (int, error)
}

func newSpoolStore(dir string, memBudget, fileBudget int64) *spoolStore {
	s := &spoolStore{dir: dir, memBudget: memBudget, fileBudget: fileBudget, full: map[string]time.Time{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// reserve takes n bytes of memory if memOK and the budget allows, else of
// disk. While both are full it waits, unless reading() says a reader is
// draining the spool: then it takes disk over budget, since waiting for
// other spools' readers (a client reading one endpoint at a time) could
// wait forever. With stall set (a producer of query's) it waits at most
// that long while nothing is freed, then fails with errSpoolFull; at once
// if another producer of query's has. It reports which, or ctx's error.
// Without stall, yield (when set) is called before it first waits, and
// what it gives back is returned, for the caller to call once s.mu is
// released.
func (s *spoolStore) reserve(ctx context.Context, n int64, memOK bool, reading func() bool, stall time.Duration, query string,
	yield func() func(context.Context) error) (inMemory bool, resume func(context.Context) error, err error) {
	stop := context.AfterFunc(ctx, s.wake)
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		timer *time.Timer
		freed uint64
		until time.Time
	)
	for {
		switch {
		case ctx.Err() != nil:
			return false, resume, ctx.Err()
		case memOK && s.fits(n):
			s.mem += n
			s.peakMem = max(s.peakMem, s.mem)
			return true, resume, nil
		case s.disk+n <= s.diskBudget(yield != nil) || reading():
			s.disk += n
			return false, resume, nil
		}
		if yield != nil && stall == 0 && resume == nil {
			resume = yield()
		}
		if stall > 0 {
			switch now := time.Now(); {
			case s.gaveUp(query, now):
				return false, resume, fmt.Errorf("%w: %d bytes in memory (--spool-memory-mb) and %d on disk (--spool-disk-gb) held, and another task of the query's found them so",
					errSpoolFull, s.mem, s.disk)
			case timer == nil:
				timer = time.AfterFunc(stall, s.wake)
				defer timer.Stop()
				freed, until = s.freed, now.Add(stall)
			case s.freed != freed:
				freed, until = s.freed, now.Add(stall)
				timer.Reset(stall)
			case !now.Before(until):
				s.full[query] = now
				return false, resume, fmt.Errorf("%w: %d bytes in memory (--spool-memory-mb) and %d on disk (--spool-disk-gb) held, none freed for %v",
					errSpoolFull, s.mem, s.disk, stall)
			}
		}
		s.cond.Wait()
	}
}

// gaveUp says whether a producer of query gave up waiting for room here
// in the last cluster.TaskTTL (a query's life at most), forgetting older
// ones. Called with s.mu held.
func (s *spoolStore) gaveUp(query string, now time.Time) bool {
	for q, at := range s.full {
		if now.Sub(at) > cluster.TaskTTL {
			delete(s.full, q)
		}
	}
	_, ok := s.full[query]
	return ok
}

// overflowed says whether a producer of query gave up waiting for room
// here lately (gaveUp): another run of one of its producers would wait for
// nothing and fail at once.
func (s *spoolStore) overflowed(query string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gaveUp(query, time.Now())
}

// errSpoolFull says an exchange's producer gave up waiting for room in
// the spools: its consumers could not start to read what it wrote. It is
// ResourceExhausted, which a consumer's fetch takes to the producer's
// other location (failsOver), where it runs for that consumer alone.
var errSpoolFull = fmt.Errorf("%w: the executor's spools are full", flightsql.ErrBusy)

// holdInput takes n bytes of the memory budget for an exchange input's
// records that a consumer holds, if the budget has them now; it never
// waits (the consumer loads the input into a table instead).
func (s *spoolStore) holdInput(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fits(n) {
		return false
	}
	s.mem += n
	s.inputs += n
	s.peakMem = max(s.peakMem, s.mem)
	s.peakInputs = max(s.peakInputs, s.inputs)
	return true
}

// freeInput gives back what holdInput took.
func (s *spoolStore) freeInput(n int64) { s.freeOf(&s.inputs, n) }

// freeOf gives back n bytes of memory counted in part (of s: inputs or
// shuffle).
func (s *spoolStore) freeOf(part *int64, n int64) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	*part -= n
	s.mu.Unlock()
	s.free(n, 0)
}

// holdSend takes n bytes of the memory budget for a spilled frame a
// reader is about to read from its file and hand to gRPC. Over budget, it
// waits while the reader's previous frame is still in gRPC's hands
// (inFlight); a reader with none in flight takes the bytes over budget, so
// every stream moves: a frame can wait for its reader's consumer, which
// may be reading another stream first. So what readers hold beyond the
// budget is at most one frame a stream.
func (s *spoolStore) holdSend(ctx context.Context, n int64, inFlight func() bool) error {
	stop := context.AfterFunc(ctx, s.wake)
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.fits(n) && inFlight() {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.cond.Wait()
	}
	s.mem += n
	s.sending += n
	if s.mem <= s.memBudget { // not the frame a stream takes over it
		s.peakMem = max(s.peakMem, s.mem)
	}
	return nil
}

// sent gives back the memory of a frame gRPC is done with: one holdSend
// took, or one a reader took from its spool's memory (still counted).
func (s *spoolStore) sent(n int64) {
	s.mu.Lock()
	s.mem -= n
	s.sending -= n
	s.freed++
	s.cond.Broadcast()
	s.mu.Unlock()
}

// fits says whether n more bytes of memory are in the budget, giving up
// idle partition buffers to make room. Called with s.mu held.
func (s *spoolStore) fits(n int64) bool {
	for s.mem+n > s.memBudget && len(s.pool) > 0 {
		last := len(s.pool) - 1
		c := int64(cap(s.pool[last]))
		s.pool[last] = nil
		s.pool = s.pool[:last]
		s.pooled -= c
		s.mem -= c
	}
	return s.mem+n <= s.memBudget
}

// holdShuffle takes n bytes of the memory budget for a producer's
// partitions not yet written to their spools, if they fit, or anyway when
// force is set (the memory is in use already, or the producer must move);
// it reports whether they fit.
func (s *spoolStore) holdShuffle(n int64, force bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	fits := s.fits(n)
	if !fits && !force {
		return false
	}
	s.mem += n
	s.shuffle += n
	if fits { // not a producer's chunk over the budget
		s.peakMem = max(s.peakMem, s.mem)
		s.peakShuffle = max(s.peakShuffle, s.shuffle)
	}
	return fits
}

// freeShuffle gives back what holdShuffle took.
func (s *spoolStore) freeShuffle(n int64) { s.freeOf(&s.shuffle, n) }

// buffer is an idle partition buffer (empty, its capacity now counted as
// the caller's shuffle bytes), or nil.
func (s *spoolStore) buffer() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pool) == 0 {
		return nil
	}
	last := len(s.pool) - 1
	b := s.pool[last]
	s.pool[last] = nil
	s.pool = s.pool[:last]
	s.pooled -= int64(cap(b))
	s.shuffle += int64(cap(b))
	s.peakShuffle = max(s.peakShuffle, s.shuffle)
	return b
}

// keep takes back a partition buffer of the caller's shuffle bytes: idle
// for the next producer while the pool has room, else let go.
func (s *spoolStore) keep(b []byte) {
	c := int64(cap(b))
	if c == 0 {
		return
	}
	s.mu.Lock()
	s.shuffle -= c
	if s.pooled+c <= s.memBudget/4 {
		s.pool = append(s.pool, b[:0])
		s.pooled += c
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.free(c, 0)
}

// wake makes waiting writers look again.
func (s *spoolStore) wake() {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *spoolStore) free(mem, disk int64) {
	if mem == 0 && disk == 0 {
		return
	}
	s.mu.Lock()
	s.mem -= mem
	s.disk -= disk
	if disk > 0 {
		s.noRoom = 0 // the disk may take more now
	}
	s.freed++
	s.cond.Broadcast()
	s.mu.Unlock()
}

// takeOver counts n bytes of memory whatever the budget (spool.addAfter).
func (s *spoolStore) takeOver(n int64) {
	s.mu.Lock()
	s.mem += n
	s.mu.Unlock()
}

// filled records that a write found the spool directory's disk full
// while the spools held what they hold now on it: the writers that
// follow wait (reserve) as if the disk budget were that, until some of it
// is freed. Other writers on the disk (another executor's spools, DuckDB's
// spills) took the rest: a budget (--spool-disk-gb) no larger than the
// disk cannot count on it.
func (s *spoolStore) filled() {
	s.mu.Lock()
	s.noRoom = max(s.disk, 1)
	s.mu.Unlock()
}

// diskBudget is the disk the spools may take: fileBudget, or for a
// result's spool (one that waits for room without its thread) less after
// the disk was found full (filled). An exchange's producer takes the
// budget as it is and fails at a full disk, as before: its consumers then
// run it for their own partitions, each holding a thread, and one of
// those runs waiting here for room, its reader waiting for a thread,
// hung a sort. Called with s.mu held.
func (s *spoolStore) diskBudget(result bool) int64 {
	if s.noRoom > 0 && result {
		return min(s.fileBudget, s.noRoom)
	}
	return s.fileBudget
}

// newSpool makes a spool kept for readers readers.
func newSpool(store *spoolStore, readers int) *spool {
	sp := &spool{store: store, readers: max(readers, 1)}
	sp.cond = sync.NewCond(&sp.mu)
	return sp
}

// payloads is the ipc.PayloadWriter a task writes its result through.
// With partial set, a spool its readers abandoned swallows what is written
// (a producer's other partitions still have readers).
type payloads struct {
	ctx     context.Context
	sp      *spool
	partial bool
}

func (p payloads) Start() error { return nil }
func (p payloads) Close() error { return nil }

func (p payloads) WritePayload(payload ipc.Payload) error {
	meta := payload.Meta()
	header := bytes.Clone(meta.Bytes())
	meta.Release()
	body, err := serializeBody(payload, p.sp.store.bodies.get)
	if err != nil {
		return err
	}
	return p.add(frame{header: header, body: body})
}

// add adds a message to the spool.
func (p payloads) add(f frame) error {
	err := p.sp.add(p.ctx, f)
	if p.partial && errors.Is(err, errAbandoned) {
		return nil
	}
	return err
}

// spoolWriter is the IPC writer of a spool. A batch of DuckDB's chunks
// (a joined.Record) is copied into its message from the chunks, not
// joined first and then copied (flightwire.Joiner), unless its buffers
// are compressed.
type spoolWriter struct {
	*ipc.Writer
	p          payloads
	joiner     flightwire.Joiner
	schema     *arrow.Schema
	compressed bool
	started    bool // the schema message is written
}

func newSpoolWriter(p payloads, schema *arrow.Schema, compressed bool, opts ...ipc.Option) *spoolWriter {
	return &spoolWriter{Writer: ipc.NewWriterWithPayloadWriter(p, opts...), p: p, schema: schema, compressed: compressed}
}

func (w *spoolWriter) Write(rec arrow.RecordBatch) error {
	if w.started && !w.compressed && rec.Schema().Equal(w.schema) {
		header, body, ok, err := w.joiner.Message(rec, w.p.sp.store.bodies.get)
		if err != nil {
			return err
		}
		if ok {
			return w.p.add(frame{header: header, body: body})
		}
	}
	if err := w.Writer.Write(rec); err != nil {
		return err
	}
	w.started = true
	return nil
}

// serializeBody copies a payload's body (its buffers, padded) into one
// slice of its exact size, measured first, from alloc (which need not
// zero it). Grown in a bytes.Buffer, a 2 MiB body was reallocated a dozen
// times, zeroing and copying twice its size (a fifth of an executor's CPU
// fetching lineitem, in its profile), and held up to twice the memory the
// spool counted.
func serializeBody(payload ipc.Payload, alloc func(int) []byte) ([]byte, error) {
	var n byteCounter
	if err := payload.SerializeBody(&n); err != nil {
		return nil, err
	}
	body := sliceWriter(alloc(int(n))[:0])
	if err := payload.SerializeBody(&body); err != nil {
		return nil, err
	}
	return body, nil
}

// byteCounter is a writer that counts what it is given.
type byteCounter int64

func (c *byteCounter) Write(b []byte) (int, error) {
	*c += byteCounter(len(b))
	return len(b), nil
}

// sliceWriter appends what it is given.
type sliceWriter []byte

func (w *sliceWriter) Write(b []byte) (int, error) {
	*w = append(*w, b...)
	return len(b), nil
}

var errAbandoned = errors.New("the task's result is no longer wanted")

func (sp *spool) add(ctx context.Context, f frame) error {
	n := int64(len(f.header) + len(f.body))
	for {
		sp.mu.Lock()
		spilled, closed, after := sp.file != nil, sp.closed, len(sp.after) > 0
		sp.mu.Unlock()
		if closed {
			return errAbandoned
		}
		if after {
			return sp.addAfter(ctx, f, n)
		}
		// Once spilled, frames stay in order in the file.
		inMemory, resume, err := sp.store.reserve(ctx, n, !spilled, sp.drainable, sp.stall, sp.query, sp.yield)
		if resume != nil {
			if rerr := resume(ctx); rerr != nil && err == nil {
				sp.unreserve(inMemory, n)
				return rerr
			}
		}
		if err != nil {
			return err
		}
		err = sp.put(f, inMemory, n)
		if !noRoom(err) {
			return err
		}
		// The disk is full (of other spools' files, or of what other
		// writers put there): the writers that follow wait as for a
		// budget reached (filled). A result's spool whose reader has
		// frames of its file still to read waits for it to read some,
		// and writes the frame again; one whose file is read to its end
		// (its reader waits for this frame: with the disk full of other
		// results, a client reading endpoints one at a time failed
		// after 1.9M of 6M rows, a tester's) goes on in memory. An
		// exchange's producer (its readers come after its stage, see
		// diskBudget) and a broadcast fail, as before.
		if sp.yield == nil || sp.readers > 1 {
			return spillError(err)
		}
		sp.store.filled()
		read, werr := sp.awaitReader(ctx)
		if werr != nil {
			return werr
		}
		if !read {
			return sp.addAfter(ctx, f, n)
		}
	}
}

// addAfter keeps frame f, of n bytes, in memory after the file's frames
// (after): past the memory budget, but no more than spoolBacklog of them
// unread, beyond which it waits for the reader, its task's thread given
// up meanwhile (yield).
func (sp *spool) addAfter(ctx context.Context, f frame, n int64) error {
	if err := sp.waitWhile(ctx, func() bool { return sp.afterHeld > 0 && sp.afterHeld+n > spoolBacklog }); err != nil {
		return err
	}
	sp.store.takeOver(n)
	sp.mu.Lock()
	if sp.closed { // released meanwhile: nothing else will free it
		sp.mu.Unlock() // never held while taking the store's lock
		sp.store.free(n, 0)
		return errAbandoned
	}
	sp.after = append(sp.after, f)
	sp.afterHeld += n
	sp.held += n
	sp.cond.Broadcast()
	sp.mu.Unlock()
	return nil
}

// unreserve gives back the n bytes reserve took for a frame not kept.
func (sp *spool) unreserve(inMemory bool, n int64) {
	if inMemory {
		sp.store.free(n, 0)
	} else {
		sp.store.free(0, n)
	}
}

// put keeps frame f, of n bytes reserved in memory or on disk. On an
// error the reservation is given back.
func (sp *spool) put(f frame, inMemory bool, n int64) error {
	sp.mu.Lock()
	if sp.closed {
		sp.mu.Unlock()
		sp.unreserve(inMemory, n)
		return errAbandoned
	}
	if inMemory {
		sp.mem = append(sp.mem, f)
		sp.held += n
		sp.cond.Broadcast()
		sp.mu.Unlock()
		return nil
	}
	err := sp.writeFile(f)
	if err == nil {
		sp.disk += n
		sp.cond.Broadcast()
	}
	sp.mu.Unlock() // never held while taking the store's lock
	if err != nil {
		sp.store.free(0, n)
		if !noRoom(err) {
			err = spillError(err)
		}
	}
	return err
}

// writeFile appends frame f to the spool's file, creating it first.
// Called with sp.mu held.
func (sp *spool) writeFile(f frame) error {
	if sp.file == nil {
		file, err := sp.store.createFile()
		if err != nil {
			return err
		}
		sp.file = file
	}
	var lens [8]byte
	binary.LittleEndian.PutUint32(lens[:4], uint32(len(f.header)))
	binary.LittleEndian.PutUint32(lens[4:], uint32(len(f.body)))
	write := sp.file.WriteAt
	if w := sp.store.writeAt; w != nil {
		write = func(b []byte, off int64) (int, error) { return w(sp.file, b, off) }
	}
	at := sp.fileLen
	for _, b := range [][]byte{lens[:], f.header, f.body} {
		if _, err := write(b, at); err != nil {
			return err // the frame is written again at fileLen
		}
		at += int64(len(b))
	}
	sp.fileLen = at
	sp.nFile++
	sp.store.bodies.put(f.body) // in the file now
	return nil
}

// awaitReader waits until the spool's reader (to come, or reading) has
// read more of its file, and says whether it did: not when the file is
// read to its end (the reader waits for the writer), nor when the spool
// is released or ctx ends (its error). The writer gives up its task's
// thread meanwhile (yield), as it does waiting in reserve.
func (sp *spool) awaitReader(ctx context.Context) (bool, error) {
	sp.mu.Lock()
	if sp.readOff >= sp.fileLen {
		sp.mu.Unlock()
		return false, nil
	}
	was := sp.readOff
	sp.mu.Unlock()
	if err := sp.waitWhile(ctx, func() bool { return sp.readOff == was }); err != nil {
		return false, err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.readOff != was && !sp.closed, nil
}

// waitWhile waits while blocked (called with sp.mu held) says the writer
// must, until the spool is released or ctx ends (its error), its task's
// thread given up meanwhile (yield).
func (sp *spool) waitWhile(ctx context.Context, blocked func() bool) error {
	sp.mu.Lock()
	waits := blocked()
	sp.mu.Unlock()
	if !waits {
		return nil
	}
	var resume func(context.Context) error
	if sp.yield != nil {
		resume = sp.yield()
	}
	stop := context.AfterFunc(ctx, func() {
		sp.mu.Lock()
		sp.cond.Broadcast()
		sp.mu.Unlock()
	})
	sp.mu.Lock()
	for blocked() && !sp.closed && ctx.Err() == nil {
		sp.cond.Wait()
	}
	sp.mu.Unlock()
	stop()
	if resume != nil {
		if err := resume(ctx); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// noRoom says err is a write that found the disk full.
func noRoom(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// createFile creates a spool's file. A spool directory removed under the
// executor (a cleaner of the system's temporary directory, where it is by
// default, removing what looks idle) is made again: every spilling task
// failed until the executor was restarted.
func (s *spoolStore) createFile() (*os.File, error) {
	file, err := os.CreateTemp(s.dir, "task-*.spool")
	if !errors.Is(err, fs.ErrNotExist) {
		return file, err
	}
	if merr := os.MkdirAll(s.dir, 0o700); merr != nil {
		return nil, errors.Join(err, merr)
	}
	return os.CreateTemp(s.dir, "task-*.spool")
}

// spillError is the error of a write to a spool's file. A disk with no
// room left is the spools being full (ResourceExhausted: a producer's
// consumers then run it for their own partitions), not an internal
// failure naming the file.
func spillError(err error) error {
	if noRoom(err) {
		return fmt.Errorf("%w: the disk of the spool directory has no room left", errSpoolFull)
	}
	return fmt.Errorf("spilling a task result: %w", err)
}

// finish records that the writer is done, with err if it failed.
func (sp *spool) finish(err error) {
	sp.mu.Lock()
	sp.done, sp.err = true, err
	sp.cond.Broadcast()
	sp.mu.Unlock()
}

// reader reads a spool's frames in order.
type spoolReader struct {
	sp   *spool
	next int   // frame index
	off  int64 // file offset of the next file frame
	// inFlight counts the frames read whose memory is still counted
	// (sending) until their release.
	inFlight atomic.Int32
}

// sendFrame is a frame a reader took, and the bytes of the spools' memory
// budget it holds until its release, which the reader calls once gRPC
// is done with the frame (a broadcast's frames stay in their spool, and
// hold nothing of their own).
type sendFrame struct {
	frame
	held int64
	// owned: the frame is the reader's alone (its spool's only reader
	// took it, or it was read from the file), so its body goes back to
	// the pool once sent.
	owned bool
}

func (r *spoolReader) counted(f frame, n int64) sendFrame {
	r.inFlight.Add(1)
	return sendFrame{frame: f, held: n, owned: true}
}

// sent is a frame's end once gRPC is done with it: its bytes are given
// back to the budget (release) and, if the reader owned it, its body to
// the pool.
func (r *spoolReader) sent(f sendFrame) {
	r.release(f.held)
	if f.owned {
		r.sp.store.bodies.put(f.body)
	}
}

// release gives back the n bytes a frame held (sendFrame.held), once
// gRPC is done with it; it takes the count, not the frame, so that the
// frame's bytes are garbage once gRPC drops them.
func (r *spoolReader) release(n int64) {
	if n == 0 {
		return
	}
	r.inFlight.Add(-1)
	r.sp.store.sent(n)
}

// read returns the next frame, waiting for the writer; io.EOF after the
// last frame of a task that succeeded, the task's error if it failed. The
// caller releases the frame once it is sent: a frame read stays counted
// against the spools' memory budget while gRPC holds it.
func (r *spoolReader) read(ctx context.Context) (sendFrame, error) {
	sp := r.sp
	stop := context.AfterFunc(ctx, func() {
		sp.mu.Lock()
		sp.cond.Broadcast()
		sp.mu.Unlock()
	})
	defer stop()
	sp.mu.Lock()
	for r.next >= len(sp.mem)+sp.nFile+len(sp.after) && !sp.done && !sp.closed && ctx.Err() == nil {
		sp.cond.Wait()
	}
	switch {
	case ctx.Err() != nil:
		sp.mu.Unlock()
		return sendFrame{}, ctx.Err()
	case sp.closed: // expired, revoked, or the executor is shutting down
		why := sp.why
		sp.mu.Unlock()
		if why != nil {
			return sendFrame{}, why
		}
		return sendFrame{}, errAbandoned
	case r.next < len(sp.mem) && sp.readers > 1:
		f := sp.mem[r.next]
		r.next++
		sp.mu.Unlock()
		return sendFrame{frame: f}, nil
	case r.next < len(sp.mem):
		// The frame's bytes move from the spool to the send, counted.
		f := sp.mem[r.next]
		sp.mem[r.next] = frame{}
		n := int64(len(f.header) + len(f.body))
		sp.held -= n
		r.next++
		sp.mu.Unlock() // never held while taking the store's lock
		sp.store.mu.Lock()
		sp.store.sending += n
		sp.store.mu.Unlock()
		return r.counted(f, n), nil
	case r.next < len(sp.mem)+sp.nFile:
		file := sp.file
		sp.mu.Unlock()
		f, err := r.readFile(ctx, file)
		if err == nil {
			r.next++
		}
		return f, err
	case r.next < len(sp.mem)+sp.nFile+len(sp.after):
		i := r.next - len(sp.mem) - sp.nFile
		f := sp.after[i]
		sp.after[i] = frame{}
		n := int64(len(f.header) + len(f.body))
		sp.held -= n
		sp.afterHeld -= n
		r.next++
		sp.cond.Broadcast() // its writer may wait for room (addAfter)
		sp.mu.Unlock()
		sp.store.mu.Lock()
		sp.store.sending += n
		sp.store.mu.Unlock()
		return r.counted(f, n), nil
	}
	err := sp.err
	sp.mu.Unlock()
	if err == nil {
		err = io.EOF
	}
	return sendFrame{}, err
}

func (r *spoolReader) readFile(ctx context.Context, file *os.File) (sendFrame, error) {
	var lens [8]byte
	if _, err := file.ReadAt(lens[:], r.off); err != nil {
		return sendFrame{}, fmt.Errorf("reading a spilled task result: %w", err)
	}
	h, b := binary.LittleEndian.Uint32(lens[:4]), binary.LittleEndian.Uint32(lens[4:])
	n := int64(h) + int64(b)
	store := r.sp.store
	if err := store.holdSend(ctx, n, func() bool { return r.inFlight.Load() > 0 }); err != nil {
		return sendFrame{}, err
	}
	f := r.counted(frame{header: make([]byte, h), body: store.bodies.get(int(b))}, n)
	if _, err := file.ReadAt(f.header, r.off+8); err != nil {
		r.sent(f)
		return sendFrame{}, fmt.Errorf("reading a spilled task result: %w", err)
	}
	if _, err := file.ReadAt(f.body, r.off+8+int64(h)); err != nil {
		r.sent(f)
		return sendFrame{}, fmt.Errorf("reading a spilled task result: %w", err)
	}
	r.sp.readTo(file, r.off, 8+n, n)
	r.off += 8 + n
	return f, nil
}

// spoolDiskBudget is the disk budget of an executor's spools: asked
// (--spool-disk-gb), but no more than the spool directory's disk has free
// (free bytes) less the room the spools being read may take past the
// budget (spoolBacklog each, one a thread and one more; at most half the
// free bytes). A budget larger than the disk made full-speed readers'
// results fail: the results not yet read took the whole disk, and the
// one being read found no room (a tester's, a 48 MB spool disk: "the
// disk of the spool directory has no room left" after 1.9M of 6M rows).
func spoolDiskBudget(asked, free int64, threads int) int64 {
	past := min(spoolBacklog*int64(threads+1), free/2)
	return max(min(asked, free-past), 0)
}

// spoolBacklog is how much of its file a spool being read may hold unread
// while its writer takes disk over the budget (drainable).
const spoolBacklog = 16 << 20

// readTo records that a spool's only reader has read the file's frame of
// size bytes at off, n of them reserved for it: what it takes on disk goes
// back to the budget once the file gives its blocks back (punchHole; the
// file keeps its length). A broadcast's frames stay for its other
// readers.
func (sp *spool) readTo(file *os.File, off, size, n int64) {
	if sp.readers > 1 {
		return
	}
	sp.mu.Lock()
	sp.readOff = off + size
	freed := sp.file == file && punchHole(file, off, size) // not released meanwhile
	if freed {
		sp.disk -= n
	}
	sp.cond.Broadcast() // its writer may wait for this reader (awaitReader)
	sp.mu.Unlock()
	if freed {
		sp.store.free(0, n)
	} else {
		sp.store.wake() // its writer may wait for this reader (drainable)
	}
}

// drainable says whether a reader is draining the spool, and holds less
// than spoolBacklog of its file unread (a broadcast's readers: any): then
// its writer may take disk over the budget (spoolStore.reserve), since
// waiting for other spools' readers could wait for ever; past it, the
// writer waits for its own reader. Without the bound, a slow reader of a
// large result let its spool grow on disk to the whole result, whatever
// --spool-disk-gb said.
func (sp *spool) drainable() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.reading && (sp.readers > 1 || sp.fileLen-sp.readOff < spoolBacklog)
}

// releaseFor is release, its readers told why.
func (sp *spool) releaseFor(why error) {
	sp.mu.Lock()
	sp.why = why
	sp.mu.Unlock()
	sp.release()
}

// release drops whatever the spool still holds, stops its writer and
// removes its file.
func (sp *spool) release() {
	sp.mu.Lock()
	sp.closed = true
	held, file, disk, mem := sp.held, sp.file, sp.disk, sp.mem
	sp.mem, sp.held, sp.file, sp.disk, sp.nFile = nil, 0, nil, 0, 0
	sp.after, sp.afterHeld = nil, 0
	sp.cond.Broadcast()
	sp.mu.Unlock()
	sp.store.free(held, disk)
	if sp.readers == 1 {
		// The frames left were never read (a read one is cleared); a
		// broadcast's may still be in gRPC's hands.
		for _, f := range mem {
			sp.store.bodies.put(f.body)
		}
	}
	if file != nil {
		_ = file.Close()
		_ = os.Remove(file.Name())
	}
}

func (sp *spool) isClosed() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.closed
}

// SpoolUsage is what an executor's spools hold: bytes in memory (Inputs
// of them held by consumer tasks' exchange inputs, Sending of them frames
// handed to gRPC and not yet written, Shuffle of them producers'
// partitions not yet written to their spools) and on disk, and spool files
// in its spool directory. Idle is the bytes of partition buffers kept for
// the next producer: outside Memory, but counted against the same budget,
// and given up first when it is full.
type SpoolUsage struct {
	Memory, Inputs, Sending, Shuffle, Disk, Idle int64
	Files                                        int
}

// Spooled says what the executor's spools hold now (tests assert that a
// query's results and shuffle partitions are gone after it).
func (e *Executor) Spooled() SpoolUsage {
	s := e.spools
	s.mu.Lock()
	u := SpoolUsage{Memory: s.mem - s.pooled, Inputs: s.inputs, Sending: s.sending, Shuffle: s.shuffle,
		Disk: s.disk, Idle: s.pooled}
	s.mu.Unlock()
	files, _ := filepath.Glob(filepath.Join(s.dir, "task-*.spool"))
	u.Files = len(files)
	return u
}

// SpoolPeak is the most the spools' memory has held at once since the
// executor started, and the most of it exchange inputs held: never over
// the memory budget (SpoolLimits), but for the frame a stream with none in
// gRPC's hands reads from its file over the budget (so that it moves), and
// the chunk a producer that finds the budget full takes over it to write
// at once, which the peak leaves out.
func (e *Executor) SpoolPeak() (memory, inputs int64) {
	s := e.spools
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakMem, s.peakInputs
}
