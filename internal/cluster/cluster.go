// Package cluster holds what the coordinator and the executors agree on:
// the cluster secret and the signed capabilities derived from it (task
// tickets, registrations), and the names of the actions between them.
// Nothing here runs a query; it is shared vocabulary.
package cluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/objstore"
	"github.com/skeindb/skein/internal/token"
	"github.com/skeindb/skein/internal/users"
	"github.com/skeindb/skein/partition"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Actions executors send to the coordinator, and the coordinator to them.
const (
	ActionRegister  = "skein.register"
	ActionHeartbeat = "skein.heartbeat"
	// ActionDrain says an executor is draining: it finishes the tasks it
	// has and takes no new ones, so the coordinator assigns it nothing
	// more (its heartbeats say so too, as Member.Draining).
	ActionDrain = "skein.drain"
	// ActionDeregister says an executor is leaving: the coordinator forgets
	// it at once rather than after missed heartbeats.
	ActionDeregister = "skein.deregister"
	ActionPing       = "skein.ping"
	// ActionStart runs tasks at the executor the coordinator's scheduler
	// picked for them, before their tickets are redeemed; the body is
	// their handles, one per line. The executor answers one result per
	// task as it finishes (a Started, in the order they finish) and ends
	// the call when the last has.
	ActionStart = "skein.start"
	// ActionDrop stops one task at an executor and drops its result,
	// unless a reader has it already (a straggler's other run won); the
	// body is the task's handle, the answer DropDone or DropKept.
	ActionDrop = "skein.drop"
	// ActionWhere asks the coordinator where a task runs (the body is its
	// handle): an executor that is asked for a task it does not hold (its
	// ticket names it, but another executor took the task) fetches it
	// from there. The answer, once the task has been given to an
	// executor, is its location; empty when the coordinator does not know
	// the task (the asker runs it itself).
	ActionWhere = "skein.where"
	// HopHeader marks a DoGet relayed by another executor: it is served
	// here, run here if it must, and never relayed again.
	HopHeader = "x-skein-hop"
	// ActionCancel stops every task of a query at an executor and drops
	// what they hold (results, shuffle partitions); the body is the handle
	// of one of the query's tasks, which proves the caller may.
	ActionCancel = "skein.cancel"
	// RevokeHeader on a skein.cancel says the query was cancelled by its
	// client (CancelFlightInfo), not ended or abandoned: its tickets no longer run there (a
	// task redeemed after it was run again, out of the scheduler's and
	// the cancel's reach). Without it the executor stops and drops what
	// the query holds, and a ticket redeemed later runs again.
	RevokeHeader = "x-skein-revoke"
	// FailedAtHeader on a skein.where names the location the asker just
	// failed to read the task from (nothing was sent): the coordinator
	// answers once its scheduler no longer has the task running there.
	FailedAtHeader = "x-skein-failed-at"
	// MemberHeader carries an executor's signed registration on its calls
	// to the coordinator, in place of a user's bearer token.
	MemberHeader = "x-skein-member"
)

// MaxMessage is the largest message an executor reads: a DoGet's task
// ticket, an ActionStart's handles. The coordinator keeps a plan's
// tickets within 16 MiB together (what ADBC reads of a FlightInfo) and
// 8 MiB one (coordinator/tickets.go), so that either fits, with room;
// gRPC's own default, 4 MiB, turned a consumer's ticket of 3.2 MB (the
// decorrelated IN of the invariance corpus on 3 executors) away but for
// a planning bound that ran plans near it local.
const MaxMessage = 20 << 20

// Answers to ActionDrop.
const (
	DropDone = "dropped"
	DropKept = "kept"
)

// Started is an executor's answer to ActionStart for one task: its
// place in the body (I) and, if it failed, why.
type Started struct {
	I     int    `json:"i"`
	Error string `json:"err,omitempty"`
	// Code is Error's gRPC status code (InvalidArgument: the task's own
	// SQL failed, and fails alike anywhere); 0 from an executor that does
	// not say.
	Code uint32 `json:"code,omitempty"`
	// Rows is how many rows the task gave (all its partitions' for an
	// exchange's producer), when it ran without error; nil from an
	// executor that does not say.
	Rows *int64 `json:"rows,omitempty"`
}

// DeadlineGrace is how long past its query's deadline (--query-timeout)
// an executor keeps a task's run and result, for a reader reading at the
// deadline to see it end; the coordinator takes a read of the query not
// reported ended by then, and a heartbeat more, as interrupted.
const DeadlineGrace = time.Second

// Token kinds signed with the cluster key.
const (
	KindTask     = "task"
	KindMember   = "member"
	KindCall     = "call"
	TaskTTL      = 10 * time.Minute
	memberTTL    = time.Minute
	secretLength = 32
)

// Secret is the cluster secret; Key derives the signing key for a purpose
// so that no two kinds of token share one.
type Secret []byte

// NewSecret makes a random secret, for an all-in-one process.
func NewSecret() Secret {
	s := make([]byte, secretLength)
	_, _ = rand.Read(s)
	return s
}

// maxSecretFile bounds what ReadSecret reads of a file: --cluster-secret-file
// /dev/zero ran the process out of memory (a tester's).
const maxSecretFile = 64 << 10

// ReadBounded reads a file named by a flag, refusing one longer than max
// bytes: a flag naming /dev/zero (or a log by mistake) ran the process out
// of memory at start (a tester's).
func ReadBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: longer than %d KiB", path, max>>10)
	}
	return b, nil
}

// ReadSecret reads a secret file (its trimmed contents, at least 16 bytes,
// at most 64 KiB).
func ReadSecret(path string) (Secret, error) {
	b, err := ReadBounded(path, maxSecretFile)
	if err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return nil, fmt.Errorf("cluster secret %s: want at least 16 characters, got %d", path, len(s))
	}
	return Secret(s), nil
}

// Signer returns the signer for one purpose.
func (s Secret) Signer(purpose string) *token.Signer {
	m := hmac.New(sha256.New, s)
	m.Write([]byte("skein/" + purpose))
	return token.NewSigner(m.Sum(nil))
}

// Task is what a task ticket lets its holder run: the SQL the coordinator
// planned for one slice of one query, for one user.
type Task struct {
	Query string `json:"q"`
	Task  int    `json:"t"`
	SQL   string `json:"s"`
	User  string `json:"u"`
	// Role is the user's: a reader's task runs read-only on the executor
	// too.
	Role     users.Role `json:"r,omitempty"`
	Executor string     `json:"e"` // assigned executor id
	Alt      string     `json:"a"` // alternate executor id
	// Trace is the W3C trace id the query's client sent (traceparent), for
	// the logs of whoever runs the task; empty without one.
	Trace string `json:"tr,omitempty"`
	// Deadline, when set, is when the query's --query-timeout ends: the
	// task is cancelled then, wherever it runs.
	Deadline time.Time `json:"dl,omitzero"`
	// Ordered says every run of the task gives its rows in the same order
	// (partition.Analysis.Ordered), so that a proxied stream that breaks
	// can be resumed by running the task again and skipping what was read.
	Ordered bool `json:"o,omitempty"`
	// The slice the SQL reads; its Args bind the SQL's first parameters.
	partition.Slice `json:"sl"`
	// Literals bind the SQL's parameters after the slice's: the texts of
	// the constants of the query's filter that the SQL casts to their
	// types (partition.Parameterize), so that one planned SQL serves
	// every value of them.
	Literals []string `json:"lit,omitempty"`
	// Inputs are the exchanges the task reads from its producers: each
	// read by the SQL from memory, or loaded into a TEMP table of the
	// task's connection (Input.Stream), before the task takes a thread
	// slot, so that a consumer waiting for its producers never holds the
	// slot they need.
	Inputs []Input `json:"in,omitempty"`
	// Partitions > 0 makes the task a producer of an exchange: its SQL's
	// last column (PartitionColumn, an integer in [0, Partitions)) says
	// which partition each row goes to; the column is dropped, and each
	// partition is spooled apart, read with PartitionTicket.
	Partitions int `json:"np,omitempty"`
	// Readers is how many consumers read each partition (a broadcast is
	// one partition read by every consumer task); 0 means 1.
	Readers int `json:"nr,omitempty"`
	// Merged: the task's result is read by the coordinator's merge, not by
	// a client: as a producer's, its columns of types Arrow does not give
	// back go as their text (duck.ExchangeSQL).
	Merged bool `json:"mg,omitempty"`
	// Codec compresses the task's output streams (Arrow IPC body
	// compression: flightsql.CodecZstd or CodecLZ4; "" for none).
	Codec string `json:"z,omitempty"`
	// Write, when set, makes the task a part of a distributed COPY: its
	// SQL's rows are written as Write says, and its result is the count.
	Write *PartWrite `json:"w,omitempty"`
	// bundle is what the handle carried after the task's own ticket: the
	// tickets of the tasks it reads (WithSources).
	bundle string
}

// PartWrite is the file a write task writes: each run of the task writes
// a file of its own beside Path (duck.FileRun), moved to Path once it is
// whole. Runs wrote Path itself: a run on an executor stopped long
// enough for the task to be run again elsewhere was interrupted when it
// resumed, and DuckDB removed its file, the other run's whole part (a
// tester's: the COPY then failed, a part missing).
type PartWrite struct {
	Path    string   `json:"p"`
	Options []string `json:"o"` // the COPY's options, as NAME value
}

// Stamped are the files the task reads that its plan stamped as listed:
// its slice's file (a row range of it is the plan's only while the file
// is the one listed) and the join inputs it reads by name (Pinned). The
// task checks them (duck.FileUnchanged) before and after it reads.
func (t Task) Stamped() []partition.Stamp {
	out := t.Pinned
	if t.File != "" && t.Size > 0 {
		out = append(slices.Clip(out), partition.Stamp{Path: t.File, Size: t.Size, Modified: t.Modified, Tail: t.Tail})
	}
	return out
}

// Args bind the task's SQL: its slice's Args, then its Literals.
func (t Task) Args() []any {
	args := t.Slice.Args()
	for _, l := range t.Literals {
		args = append(args, l)
	}
	return args
}

// PartitionColumn is the last column of a producer task's SQL: the
// partition of each row.
const PartitionColumn = "skein_part"

// Input is one exchange a consumer task reads: partition Part of every
// source task's output, read by the SQL as the table Table.
type Input struct {
	Table   string   `json:"n"`
	Part    int      `json:"p"`
	Sources []Source `json:"src"`
	// Stream says the SQL reads Table once, so that it may be a view
	// over the sources' records (when they fit in the executor's bound),
	// scanned as the SQL runs, rather than a loaded table.
	Stream bool `json:"st,omitempty"`
}

// Source is one producer task of an exchange: its signed handle, and the
// executors to fetch it from, in order (any executor can run a task from
// its handle, so a lost producer's output is recomputed by the next).
type Source struct {
	// Handle is the producer's handle; in a signed ticket it is empty and
	// Task names the producer, whose ticket the handle carries (bundle.go).
	Handle    string   `json:"h,omitempty"`
	Task      int      `json:"t"`
	Locations []string `json:"l"`
}

// PartitionTicket is the Flight ticket that reads partition part of a
// producer task's output.
func PartitionTicket(handle string, part int) ([]byte, error) {
	return flightsql.CreateStatementQueryTicket([]byte(fmt.Sprintf("%s#%d", handle, part)))
}

// SplitPartition takes a partition ticket's statement handle apart; ok is
// false for a plain task handle. Signed handles hold no '#'.
func SplitPartition(h []byte) (handle []byte, part int, ok bool) {
	i := bytes.LastIndexByte(h, '#')
	if i < 0 {
		return h, 0, false
	}
	p, err := strconv.Atoi(string(h[i+1:]))
	if err != nil || p < 0 {
		return h, 0, false
	}
	return h[:i], p, true
}

// SignTask makes a task ticket's handle.
func (s Secret) SignTask(t Task) (string, error) {
	return s.Signer("tickets").Sign(KindTask, t, time.Now().Add(TaskTTL))
}

// VerifyTask checks a task ticket's handle: its own ticket. The tickets
// of the producers it carries (bundle.go) are verified by WithSources,
// where the task fetches its inputs: a partition's read, a drop or a
// cancel need none of them.
func (s Secret) VerifyTask(handle []byte) (Task, error) {
	var t Task
	top, rest, _ := strings.Cut(string(handle), BundleSep)
	if err := s.Signer("tickets").Verify(KindTask, top, &t); err != nil {
		return t, err
	}
	if rest != "" && len(t.Inputs) == 0 {
		// The coordinator bundles only a reader's producers. Anything
		// after a ticket that reads none is a forgery, and would name a
		// new run of it: a client that added suffixes to its own
		// tickets had each executor run and hold the task again and
		// again, for as long as unread results are kept.
		return Task{}, fmt.Errorf("task %s/%d reads no other task but its handle carries tickets", t.Query, t.Task)
	}
	t.bundle = rest
	return t, nil
}

// TaskTicket wraps a task handle as a Flight SQL statement ticket, so that
// the coordinator's Flight SQL routing and the executors read the same bytes.
func TaskTicket(handle string) ([]byte, error) {
	return flightsql.CreateStatementQueryTicket([]byte(handle))
}

// Member is an executor's registration or heartbeat. A heartbeat also
// reports the tasks finished since the last one, for the history.
type Member struct {
	ID       string `json:"id"`
	Location string `json:"loc"`
	Threads  int    `json:"th"`
	Running  int    `json:"run"`
	// Waiting are the tasks the executor started whose results wait for
	// their readers to free spool room: they hold no thread meanwhile, so
	// the scheduler gives the executor as many more tasks.
	Waiting int `json:"wt,omitempty"`
	// Zone is the time zone the executor's DuckDB computes in; the
	// coordinator admits only executors of its own.
	Zone string `json:"tz"`
	// Reach are the directories (absolute, as given and with links
	// resolved) and object storage prefixes its DuckDB may read and write:
	// the coordinator admits only executors that reach each of its own
	// --allow-dir and --allow-prefix (their tasks would fail on its files).
	Reach []string `json:"reach,omitempty"`
	// Draining says the executor takes no new tasks (see ActionDrain).
	Draining bool         `json:"dr,omitempty"`
	Done     []TaskReport `json:"done,omitempty"`
	// Reads are clients' reads of task results here since the last
	// heartbeat (and every read still open): the coordinator keeps a
	// query whose endpoints are being read, and cancels one whose reader
	// dropped its stream.
	Reads []Read `json:"rd,omitempty"`
}

// Read is one read of a task's result at an executor, as a heartbeat
// reports it.
type Read struct {
	Query string `json:"q"`
	Task  int    `json:"t"`
	State string `json:"s"` // ReadOpen, ReadDone, ReadDropped or ReadFailed
	// Error is a failed read's error, as its reader got it.
	Error string `json:"e,omitempty"`
}

// The states of a Read.
const (
	ReadOpen    = "open"    // its stream is open (reported by every heartbeat meanwhile)
	ReadDone    = "done"    // read to its end
	ReadDropped = "dropped" // its reader went before the end
	ReadFailed  = "failed"  // the stream ended in an error (the task's run failed)
)

// TaskReport is one finished task attempt.
type TaskReport struct {
	Query    string    `json:"q"`
	Task     int       `json:"t"`
	Executor string    `json:"e"`
	Started  time.Time `json:"s"`
	Finished time.Time `json:"f"`
	Rows     int64     `json:"r"`
	Bytes    int64     `json:"b"`
	Error    string    `json:"err,omitempty"`
	// CPU is the CPU time the task's thread used from when it had a
	// thread slot to its end, and CPUWait the time that thread waited,
	// runnable, for a core meanwhile: the task's wall time less both is
	// what it waited for otherwise (a slow reader, the spools' budget).
	// Zero where the executor cannot measure them (Measured false).
	CPU      time.Duration `json:"c,omitempty"`
	CPUWait  time.Duration `json:"w,omitempty"`
	Measured bool          `json:"m,omitempty"`
}

// SignMember signs a registration or heartbeat.
func (s Secret) SignMember(m Member) ([]byte, error) {
	t, err := s.Signer("members").Sign(KindMember, m, time.Now().Add(memberTTL))
	return []byte(t), err
}

// VerifyMember checks one.
func (s Secret) VerifyMember(b []byte) (Member, error) {
	var m Member
	err := s.Signer("members").Verify(KindMember, string(b), &m)
	return m, err
}

// CallHeader is the gRPC header of the calls only the coordinator makes
// at an executor (ActionStart, ActionDrop, ActionCancel): a token of the
// cluster secret's (SignCall). A task ticket says what a task may read,
// not who may have it run: a client holding its query's tickets (direct
// mode) had started their tasks again with skein.start, each run's result
// held for its reader for ten minutes, until the executors' spools were
// full and no query answered.
const CallHeader = "skein-coordinator-call"

// callTTL is how long a SignCall token is good for.
const callTTL = time.Minute

// SignCall is a token for CallHeader.
func (s Secret) SignCall() (string, error) {
	return s.Signer("calls").Sign(KindCall, struct{}{}, time.Now().Add(callTTL))
}

// VerifyCall checks a CallHeader token.
func (s Secret) VerifyCall(tok string) error {
	var claims struct{}
	return s.Signer("calls").Verify(KindCall, tok, &claims)
}

// WithCall is ctx with the coordinator's CallHeader.
func (s Secret) WithCall(ctx context.Context) (context.Context, error) {
	tok, err := s.SignCall()
	if err != nil {
		return ctx, err
	}
	return metadata.AppendToOutgoingContext(ctx, CallHeader, tok), nil
}

// CallsDialOption gives each call of a client the cluster's CallHeader
// (one that has its own keeps it): an executor lets the cluster's calls
// past the bound it keeps on calls without credentials (executor/gate.go),
// the coordinator's reads and the other executors' fetches included.
func (s Secret) CallsDialOption() grpc.DialOption {
	return grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get(CallHeader)) == 0 {
			var err error
			if ctx, err = s.WithCall(ctx); err != nil {
				return nil, err
			}
		}
		return streamer(ctx, desc, cc, method, opts...)
	})
}

// Sleep waits d or until ctx ends, reporting whether it waited the whole d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Ack is the coordinator's answer to a registration or heartbeat.
type Ack struct {
	// Every is how often the coordinator wants to hear from the executor
	// when nothing happens there (0: as often as the executor likes). It
	// grows with the cluster, so that membership costs the coordinator
	// about the same at a thousand executors as at ten.
	Every time.Duration `json:"every,omitempty"`
	// Gone lists where the executors the coordinator counts dead served
	// (heard from within ten minutes; none alive serves there now). An
	// executor fetching exchange partitions tries those locations last
	// and drops its connections to them: a host that vanished without
	// closing them (powered off, partitioned, stopped) would otherwise
	// hold each read until gRPC's keepalive gave up on it, 15 s.
	Gone []string `json:"gone,omitempty"`
}

// ParseAck reads an Ack; an older coordinator's "ok" is the zero Ack.
func ParseAck(body []byte) Ack {
	var a Ack
	_ = json.Unmarshal(body, &a)
	return a
}

// DoReply runs a Flight action and returns the body of its first result,
// reading the rest to the end.
func DoReply(ctx context.Context, c flight.Client, a *flight.Action) ([]byte, error) {
	stream, err := c.DoAction(ctx, a)
	if err != nil {
		return nil, err
	}
	var body []byte
	for first := true; ; first = false {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return body, nil
		}
		if err != nil {
			return nil, err
		}
		if first {
			body = r.GetBody()
		}
	}
}

// Do runs a Flight action and reads its results to the end.
func Do(ctx context.Context, c flight.Client, a *flight.Action) error {
	_, err := DoReply(ctx, c, a)
	return err
}

// SQLFailed says err is a task's own SQL failing, as it would on any
// node: DuckDB's parser, binder, conversion or other invalid-input error
// (InvalidArgument: a cast, an overflow, error()), not its executor's (a
// file it does not see, its sandbox, its memory) or the way to it. Such
// a task is never run again elsewhere.
func SQLFailed(err error) bool { return status.Code(err) == codes.InvalidArgument }

// FailsAnywhere says err is a task's failure that would fail alike on any
// node: its own SQL's (SQLFailed), or the object storage every node reads
// not answering (objstore.Unreachable). Such a task is never run again
// elsewhere: its readers get the error.
func FailsAnywhere(err error) bool { return SQLFailed(err) || objstore.Unreachable(err) }
