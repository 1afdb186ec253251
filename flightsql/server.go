package flightsql

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/flightwire"
	"github.com/skeindb/skein/internal/token"
	"github.com/skeindb/skein/internal/users"
	"google.golang.org/grpc"
)

// Config configures the Flight SQL front door.
type Config struct {
	// Users enables Basic auth: who may log in, with which role. Nil
	// means no auth: every caller may do everything.
	Users *users.Store
	// TokenKey signs bearer tokens and tickets; random when empty.
	TokenKey []byte
	// TokenTTL is how long a bearer token is valid.
	TokenTTL time.Duration
	// TicketTTL is how long an unredeemed ticket (and its prepared query) lives.
	TicketTTL time.Duration
	// SessionIdle closes sessions unused for this long.
	SessionIdle time.Duration
	// AbandonedTxn closes a session with a transaction open this long
	// after the last client connection it was used on closed (0: never;
	// see sessions.abandonTxns).
	AbandonedTxn time.Duration
	// MaxSessions bounds open sessions (each holds a DuckDB connection).
	MaxSessions int
	// MaxSessionsPerUser bounds one user's open sessions (with auth).
	MaxSessionsPerUser int
	// MaxQueriesPerUser bounds one user's calls running SQL at once; 0 is
	// no bound.
	MaxQueriesPerUser int
	// MaxMessageBytes bounds one received message (a command, a batch of
	// ingested rows), and the memory of the parameter rows bound to one
	// prepared statement.
	MaxMessageBytes int
	// MaxStatementsPerSession bounds what one session holds in DuckDB
	// for later: its open prepared statements and its queries planned
	// and not yet read (each about 15 KB; a client that never closes or
	// reads them would grow the server without end).
	MaxStatementsPerSession int
	// MaxOpenFiles bounds the file descriptors the statements kept for
	// later (prepared statements, queries planned and not read, statements
	// kept for reuse) may take: while the process holds more, a statement
	// is closed once its schema is known and prepared again when it runs,
	// and one that cannot be (parameters, several statements) is refused
	// (openfiles.go). 0: half the process's limit; negative: no bound.
	MaxOpenFiles int
	// MaxNestedAggregates bounds how deeply aggregates nest in a client's
	// SQL (duck.CheckNesting): DuckDB 1.5 plans deeper nests in time
	// exponential in the depth, deaf to cancellation. 0:
	// duck.DefaultMaxNesting; negative: no bound.
	MaxNestedAggregates int
	// MaxFileScans bounds how many file scans one client statement may
	// bind (duck.CheckQuery): DuckDB holds a descriptor for each until the
	// statement ends. 0: duck.DefaultMaxFileScans; negative: no bound.
	MaxFileScans int
	// MaxSQLBytes bounds the length of a client's SQL text: checking and
	// parsing it takes a hundred times and more its size (a 5 MB
	// statement of commas took the coordinator to 924 MB), and
	// --max-message-mb lets 64 MB through. 0: DefaultMaxSQLBytes;
	// negative: no bound.
	MaxSQLBytes int
	// LoginBackoff bounds the wait after repeated failed logins.
	LoginBackoff time.Duration
	// Batch bounds result batches.
	Batch duck.BatchSize
	// Limits bound each query's time and result size.
	Limits Limits
	// Version is reported in GetSqlInfo.
	Version string
	// NoCompression refuses every client's CompressionHeader: results
	// go plain (--wire-compression off).
	NoCompression bool
	// Cluster, when set, authenticates executors (their signed membership
	// in a header) and answers their actions and the tickets it planned.
	Cluster Cluster
}

// Cluster is the coordinator's side of distribution, as the front door
// sees it.
type Cluster interface {
	// Member verifies an executor's signed membership header. What it
	// verified comes back to Action when the action's body is the header
	// (a registration or heartbeat signs one message for both), so that
	// it is verified once.
	Member(header string) (id string, verified any, ok bool)
	// Action answers an executor's action (registration, heartbeat);
	// verified is what Member made of the body, or nil.
	Action(ctx context.Context, typ string, body []byte, verified any) ([]byte, error)
	// Plan returns a FlightInfo that runs query across executors, or nil
	// to run it here; a FlightInfo without endpoints also runs it here,
	// its AppMetadata (why it stays local) given to the client. conn is
	// the caller's session connection, held for the call; tag names the
	// query; schema is its result schema; resultMode is the client's
	// choice (one of ResultModes, or "" for the server's).
	Plan(ctx context.Context, conn *duck.Conn, tag QueryTag, user, query string, schema *arrow.Schema, resultMode string, desc *flight.FlightDescriptor) (*flight.FlightInfo, error)
	// PlanBound is Plan for a prepared query with one row of parameter
	// values bound (args, as RowArgs gives them): planned as the query
	// with those values in place of its parameters.
	PlanBound(ctx context.Context, conn *duck.Conn, tag QueryTag, user, query string, args []any, schema *arrow.Schema, resultMode string, desc *flight.FlightDescriptor) (*flight.FlightInfo, error)
	// BoundSchema is the result schema of a prepared query bound to args
	// (as RowArgs gives them), learnt without running it; ok is false
	// where it cannot be.
	BoundSchema(ctx context.Context, conn *duck.Conn, query string, args []any) (_ *arrow.Schema, ok bool)
	// PlanKept is Plan for a query whose result schema the cluster
	// already knows, nothing it follows from having changed since, so
	// that the text need not be prepared to learn it: the FlightInfo and
	// that schema, or nil to prepare it and call Plan.
	PlanKept(ctx context.Context, conn *duck.Conn, tag QueryTag, user, query, resultMode string, desc *flight.FlightDescriptor) (*flight.FlightInfo, *arrow.Schema, error)
	// Local records a query that runs here; done reports its end.
	Local(tag QueryTag, user, sql string) (done func(rows int64, err error))
	// Redeem serves a ticket handle it issued; ok is false for any other.
	Redeem(ctx context.Context, user string, handle []byte) (schema *arrow.Schema, stream <-chan flight.StreamChunk, ok bool, err error)
	// Cancel stops the query behind a ticket handle it issued to user, on
	// every executor; ok is false for any other handle.
	Cancel(user string, handle []byte) (ok bool, err error)
	// Progress says how far a query it planned has come (PollFlightInfo),
	// which renews its endpoints; ok is false for any other query.
	Progress(query string) (p Progress, ok bool)
	// Renew extends the expiration of the endpoints of the query behind a
	// ticket handle it issued to user; ok is false for any other handle.
	Renew(user string, handle []byte) (expires time.Time, ok bool, err error)
	// SessionClosed cancels, on every executor, the queries a session
	// that has been closed planned.
	SessionClosed(session string)
	// SessionBusy is how many queries the session planned are still
	// followed (running, or their endpoints not all read).
	SessionBusy(session string) int
	// SessionOverdue says whether a query the session planned ran past
	// its --query-timeout before it was read to its end (it was
	// interrupted): issued, when its FlightInfo was issued, zero if none.
	// A positive wait says it may not be: a read that ended in time may be
	// reported that much later. A query is said once, once sure.
	SessionOverdue(session string) (issued time.Time, wait time.Duration)
	// Write runs a statement that writes across executors, recording it
	// in the history: files into a directory (COPY (query) TO 'dir/'),
	// returning the rows written, or a new table from a query (CREATE
	// TABLE ... AS), returning DuckDB's count for it; ok is false for any
	// other statement, which runs here as before, and for one inside a
	// transaction (a Flight SQL one is never passed; one begun in SQL
	// is conn's to tell, duck.Conn.InTransaction). conn is the caller's
	// session connection, held for the call.
	Write(ctx context.Context, conn *duck.Conn, tag QueryTag, user, query string) (rows int64, ok bool, err error)
}

func (c *Config) defaults() {
	if c.TokenTTL == 0 {
		c.TokenTTL = 12 * time.Hour
	}
	if c.TicketTTL == 0 {
		c.TicketTTL = 10 * time.Minute
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = 15 * time.Minute
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 512
	}
	if c.MaxSessionsPerUser == 0 {
		c.MaxSessionsPerUser = 64
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 64 << 20
	}
	if c.MaxStatementsPerSession == 0 {
		c.MaxStatementsPerSession = 1000
	}
	if c.MaxOpenFiles == 0 {
		c.MaxOpenFiles = defaultOpenFiles()
	}
	if c.LoginBackoff == 0 {
		c.LoginBackoff = 30 * time.Second
	}
	if c.Batch.Rows == 0 {
		c.Batch = duck.DefaultBatchSize
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Server implements Flight SQL over one DuckDB database.
type Server struct {
	flightsql.BaseServer
	cfg      Config
	db       *duck.DB
	mem      memory.Allocator
	log      zerolog.Logger
	signer   *token.Signer
	bearers  bearerCache // bearer tokens signer verified
	sessions *sessions
	queries  *queries
	running  *running
	throttle *users.Throttle
	polls    polls
	params   *byteBudget     // what bound parameter rows hold
	stmts    *byteBudget     // what prepared statements hold (statementCost)
	held     *byteBudget     // what the rows of writes returning rows, unread, hold
	draining atomic.Bool     // new queries are refused (Unavailable)
	inCalls  atomic.Int64    // calls that start work, running (working)
	sqlInfos map[uint32]bool // the GetSqlInfo ids answered

	life context.Context // ends at Close
	// ending ends when a draining server's grace runs out (Interrupt):
	// every call still running then ends with errGraceOver.
	ending    context.Context
	interrupt context.CancelFunc
	stop      context.CancelFunc
}

// New returns a server over db. mem allocates the Arrow buffers the server
// builds (tests pass a checked allocator). Call Close to end it.
func New(cfg Config, db *duck.DB, mem memory.Allocator, log zerolog.Logger) (*Server, error) {
	cfg.defaults()
	if len(cfg.TokenKey) == 0 {
		cfg.TokenKey = make([]byte, 32)
		if _, err := rand.Read(cfg.TokenKey); err != nil {
			return nil, fmt.Errorf("flightsql: token key: %w", err)
		}
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	// Without auth every caller is the same anonymous user, whom a
	// per-user bound would only make a smaller server.
	perUser := cfg.MaxSessionsPerUser
	if cfg.Users == nil {
		perUser = 0
	}
	s := &Server{
		cfg:      cfg,
		db:       db,
		mem:      mem,
		log:      log,
		signer:   token.NewSigner(cfg.TokenKey),
		sessions: newSessions(db, cfg.SessionIdle, cfg.MaxSessions, perUser, log),
		queries:  newQueries(),
		running:  &running{max: cfg.MaxQueriesPerUser, byUser: map[string]int{}},
		throttle: users.NewThrottle(min(time.Second, cfg.LoginBackoff), cfg.LoginBackoff),
	}
	s.Alloc = mem
	s.polls.byID = map[string]*polled{}
	s.params = newByteBudget("parameter rows bound to prepared statements", "close prepared statements, bind fewer rows, or load rows with bulk ingest",
		paramsPerMessage, cfg.MaxMessageBytes, cfg.Users != nil)
	s.stmts = newByteBudget("memory of the prepared statements held (estimated from their texts, or what the process grew by as DuckDB prepared them)", "close prepared statements",
		stmtsPerMessage, cfg.MaxMessageBytes, cfg.Users != nil)
	s.held = newByteBudget("rows of writes returning rows (INSERT ... RETURNING) held unread", "read them (DoGet) or close them",
		heldPerMessage, cfg.MaxMessageBytes, cfg.Users != nil)
	s.sessions.params, s.sessions.stmts = s.params, s.stmts
	s.sessions.unread = s.queries.endSession
	s.sessions.abandon = cfg.AbandonedTxn
	if cfg.Cluster != nil {
		s.sessions.closed = cfg.Cluster.SessionClosed
		s.sessions.busy = cfg.Cluster.SessionBusy
		s.sessions.overdue = cfg.Cluster.SessionOverdue
	}
	if err := s.registerSqlInfo(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s.life, s.stop = ctx, stop
	s.ending, s.interrupt = context.WithCancel(context.Background())
	go s.sessions.run(ctx)
	go s.queries.run(ctx)
	return s, nil
}

// MaxHeaderBytes bounds a call's headers, which are read before any
// credential is checked (grpc-go's default is 16 MiB): unfinished header
// blocks of 10 MB held some 40 MB a connection, from a client without
// credentials (a tester's). A client's headers (a token, cookies, the
// options it sets) take a few KiB.
const MaxHeaderBytes = 64 << 10

// ReadBufferBytes is a server connection's read buffer (gRPC's
// ReadBufferSize): gRPC's default is 32 KiB.
const ReadBufferBytes = 64 << 10

// ServerOptions are the gRPC options the front door needs: auth (checked
// before any message of a call is read), the message size bound and the
// mapping of errors to status codes.
func (s *Server) ServerOptions() []grpc.ServerOption {
	statusUnary, statusStream := StatusInterceptors(s.log)
	return append([]grpc.ServerOption{
		grpc.InTapHandle(s.tap),
		grpc.ChainUnaryInterceptor(statusUnary, s.endUnary, s.authUnary),
		grpc.ChainStreamInterceptor(statusStream, s.endStream, s.authStream),
		grpc.MaxRecvMsgSize(s.cfg.MaxMessageBytes),
		grpc.StatsHandler(connTracker{}),
	}, ConnOptions()...)
}

// ConnOptions are the gRPC options of a connection's transport that the
// front door and the executors share.
func ConnOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		// Streams at once on one connection (grpc-go's default is no
		// bound): 100,000 health Watch streams on one connection, from a
		// caller without credentials, were all kept.
		grpc.MaxConcurrentStreams(MaxStreamsPerConn),
		grpc.MaxHeaderListSize(MaxHeaderBytes),
		// Results are large: bigger flow-control windows and socket
		// buffers keep the stream from stalling on acknowledgements and
		// cut system calls (measured by BenchmarkFetch, see the README).
		grpc.InitialWindowSize(8 << 20),
		grpc.InitialConnWindowSize(16 << 20),
		grpc.WriteBufferSize(1 << 20),
		// Every connection has its buffers from the start, whatever its
		// client does: 1,000 unauthenticated connections each sending a
		// megabyte of frames held 1.9 GB with a 1 MiB read buffer and a
		// write buffer of its own (a tester's). The write buffer is taken
		// from a pool while a connection writes; the read buffer is
		// smaller, clients sending little but ingests.
		grpc.SharedWriteBuffer(true),
		grpc.ReadBufferSize(ReadBufferBytes),
		// Calls run on long-lived worker goroutines rather than one new
		// goroutine each: a new goroutine grows its stack by copying on
		// every call (7% of the server's CPU on a SELECT 1 loop).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Results are sent from their records' buffers (DoGet).
		flightwire.ServerOption(),
	}
}

// Register adds the Flight service to g.
func (s *Server) Register(g *grpc.Server) {
	flight.RegisterFlightServiceServer(g, &service{
		FlightServer: flightsql.NewFlightServerWithAllocator(s, s.mem),
		s:            s,
	})
}

// service is the Flight service: arrow-go's Flight SQL routing plus our own
// Handshake.
type service struct {
	flight.FlightServer
	s *Server
}

func (f *service) Handshake(stream flight.FlightService_HandshakeServer) error {
	return f.s.handshake(stream)
}

// MaxStreamsPerConn bounds the calls one client connection runs at once:
// far more than a client reading every endpoint of a query in parallel.
const MaxStreamsPerConn = 1024

// maxPutFields bounds the fields, at every level together, of the schema
// a client's DoPut stream declares (rows to ingest, parameters).
const maxPutFields = 100_000

// DoPut checks the schema a client's stream declares before arrow-go
// reads it (flightwire.CheckSchema): one nested deeper than a result may
// be, or with too many fields, is refused, not parsed.
func (f *service) DoPut(stream flight.FlightService_DoPutServer) error {
	return f.FlightServer.DoPut(checkedPut{stream})
}

// checkedPut is a DoPut stream whose schema messages are checked.
type checkedPut struct {
	flight.FlightService_DoPutServer
}

func (p checkedPut) Recv() (*flight.FlightData, error) {
	fd, err := p.FlightService_DoPutServer.Recv()
	if err != nil {
		return fd, err
	}
	if err := flightwire.CheckSchema(fd.GetDataHeader(), duck.MaxResultNesting, maxPutFields); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return fd, nil
}

// DoAction answers executors' cluster actions itself and leaves the rest to
// Flight SQL. Membership is good for cluster actions only, a user's login
// for everything else.
func (f *service) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	id := identityFrom(stream.Context())
	if !strings.HasPrefix(a.GetType(), "skein.") {
		if id.member {
			return fmt.Errorf("%w: cluster membership is accepted on cluster actions only, not %q", ErrDenied, a.GetType())
		}
		return f.FlightServer.DoAction(a, stream)
	}
	if f.s.cfg.Cluster == nil || !id.member {
		return fmt.Errorf("%w: cluster actions are for executors", ErrDenied)
	}
	var verified any
	if string(a.GetBody()) == id.header {
		verified = id.verified
	}
	body, err := f.s.cfg.Cluster.Action(stream.Context(), a.GetType(), a.GetBody(), verified)
	if err != nil {
		return err
	}
	return stream.Send(&flight.Result{Body: body})
}

// Drain makes the server refuse every call that would start a query or a
// session (Unavailable: the client may retry elsewhere or later) while
// those already planned are read: the coordinator's first step of a
// graceful stop. Cluster actions, reads of issued tickets, cancels and
// the health service go on.
func (s *Server) Drain() { s.draining.Store(true) }

// Pending is how many queries planned here (not split across executors)
// have yet to be read to their end: their streams are running, or their
// tickets are unredeemed and neither cancelled nor abandoned (the client
// connection they were planned on is still open); and how many calls
// that start work are still running (working).
func (s *Server) Pending() int { return s.queries.pending() + int(s.inCalls.Load()) }

// working counts a call that starts work (startsWork) as pending until
// the function it returns is called: a write done within its call (a
// distributed COPY run by GetFlightInfo) is registered for its DoGet
// only as the call ends, and a drain that found nothing pending
// meanwhile stopped the server, its client told the COPY it had done
// failed (a tester's).
func (s *Server) working(method string) func() {
	if !startsWork[method] {
		return func() {}
	}
	s.inCalls.Add(1)
	return func() { s.inCalls.Add(-1) }
}

// startsWork are the calls refused while draining.
var startsWork = map[string]bool{
	flightMethod + "Handshake":      true,
	flightMethod + "GetFlightInfo":  true,
	flightMethod + "PollFlightInfo": true,
	flightMethod + "GetSchema":      true,
	flightMethod + "DoPut":          true,
	flightMethod + "DoExchange":     true,
}

var errDraining = fmt.Errorf("%w: the server is shutting down: it finishes the queries it has and takes no new ones", ErrUnavailable)

// refuseWhileDraining refuses a call that starts work once the server
// drains.
func (s *Server) refuseWhileDraining(method string) error {
	if s.draining.Load() && startsWork[method] {
		return errDraining
	}
	return nil
}

// errGraceOver ends the calls still running when a draining server's
// grace runs out.
var errGraceOver = fmt.Errorf("%w: the server is shutting down, and its grace (--shutdown-grace) ran out before this call ended: run it again once the server is back", ErrUnavailable)

// Interrupt ends every call still running, each with errGraceOver: the
// server is about to stop, which otherwise cuts their connections with no
// status (a client saw a bare EOF, "possible causes: server crashed";
// a tester's).
func (s *Server) Interrupt() { s.interrupt() }

// endUnary and endStream end a call when Interrupt is called: its context
// is cancelled, and its error is errGraceOver.
func (s *Server) endUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ending, cancel)()
	resp, err := h(ctx, req)
	if err != nil && s.ending.Err() != nil {
		return nil, errGraceOver
	}
	return resp, err
}

func (s *Server) endStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	defer context.AfterFunc(s.ending, cancel)()
	err := h(srv, identityStream{ServerStream: ss, ctx: ctx})
	if err != nil && s.ending.Err() != nil {
		return errGraceOver
	}
	return err
}

// Close closes every session and stops background work. Streams still
// running are interrupted.
func (s *Server) Close() {
	s.stop()
	s.queries.closeAll()
	s.sessions.closeAll()
}

// endpoint is a FlightInfo for one ticket redeemed at this server.
func (s *Server) flightInfo(desc *flight.FlightDescriptor, schema *arrow.Schema, ticket []byte, records int64) *flight.FlightInfo {
	return flightInfoOf(desc, flight.SerializeSchema(schema, s.mem), ticket, records)
}

// flightInfoOf is flightInfo with the schema already serialized.
func flightInfoOf(desc *flight.FlightDescriptor, schema []byte, ticket []byte, records int64) *flight.FlightInfo {
	return &flight.FlightInfo{
		Schema:           schema,
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: ticket}}},
		TotalRecords:     records,
		TotalBytes:       -1,
	}
}
