package coordinator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/health"
	"github.com/skeindb/skein/internal/metrics"
	"github.com/skeindb/skein/internal/objstore"
	"github.com/skeindb/skein/internal/users"
	"github.com/skeindb/skein/internal/web"
	"github.com/skeindb/skein/partition"
	"google.golang.org/grpc"
)

// Config is the coordinator's configuration; RegisterFlags binds it to
// command-line flags.
type Config struct {
	Addr string
	// HTTPAddr, when set, serves /metrics and the status page (package
	// web) there; port 0 picks a free port.
	HTTPAddr       string
	DataDir        string
	AllowDirs      stringList
	User           string
	Password       string
	PasswordFile   string // holds --user's password, off the command line
	UsersFile      string // users, roles and bcrypt hashes (see internal/users)
	InsecureNoAuth bool
	// Limits.
	MaxSessions             int
	MaxSessionsPerUser      int
	MaxQueriesPerUser       int
	MaxStatementsPerSession int
	// MaxNestedAggregates bounds how deeply aggregates nest in a client's
	// SQL (flightsql.Config.MaxNestedAggregates).
	MaxNestedAggregates int
	// MaxFileScans bounds the file scans one client statement may bind
	// (flightsql.Config.MaxFileScans).
	MaxFileScans int
	// MaxSQLBytes bounds a client's SQL text (flightsql.Config.MaxSQLBytes).
	MaxSQLBytes int
	// MaxExpressionDepth bounds how deeply expressions nest in a
	// client's SQL (duck.Config.MaxExpressionDepth); -1 keeps DuckDB's.
	MaxExpressionDepth int
	// UnsafeJSONFunctions lets client SQL call the JSON functions DuckDB
	// computes by recursion without a depth limit, and cast to VARIANT
	// (duck.Config.RecursiveJSON).
	UnsafeJSONFunctions bool
	// MaxEditCells bounds the work of one call of an edit distance
	// (duck.Config.MaxEditCells), on the coordinator and the executors it
	// starts: 0 is the default, -1 none.
	MaxEditCells int64

	MaxOpenFiles int // 0: half the process's limit; negative: none
	// MaxConnections bounds the client connections open at once; one
	// past it takes the place of an unproven one, or is closed as it is
	// accepted (cluster.ConnLimit; 0: cluster.DefaultMaxConns; negative:
	// none). The in-process executors' connections come on
	// top, and their own bound is this one with room for the
	// coordinator's and each other's (execMaxConns).
	MaxConnections int
	MaxMessageMB   int
	TLSCert        string
	TLSKey         string
	TLSClientCA    string
	Threads        int
	MemoryLimit    string
	TimeZone       string
	BatchRows      int64
	// Distribution.
	ClusterSecretFile string
	ClusterCA         string // CA that signed executors' certificates
	Executors         int    // in-process executors (skein serve)
	// InProcessPlan is how queries are planned while every live executor
	// is one of this process's (skein serve): PlanLocal runs them whole on
	// the coordinator's DuckDB, since executors sharing its cores add
	// none; PlanDistribute (or empty, the Go API's zero value) splits them
	// as on a cluster of processes.
	InProcessPlan string
	// TaskRows is the target rows per task when a scan is split; 0: the
	// planner's choice, about two tasks an executor thread for a plain
	// scan (whole files together), 1M rows in a join's.
	TaskRows int64
	// SplitMinRows: a query whose inputs hold fewer rows runs whole as
	// one task on one executor, as does any query while one executor (or
	// one executor thread) takes tasks; 0 (the Go API's zero value)
	// always splits.
	SplitMinRows int64
	// LocalMaxRows: a plan of one task whose Parquet inputs hold fewer
	// rows runs on the coordinator, as a local query (here.go); 0 (the Go
	// API's zero value): never.
	LocalMaxRows int64
	// TaskOpenFiles bounds the Parquet files a task of whole files holds
	// open at once (partition.Env.TaskOpenFiles): 0, the Go API's zero
	// value, partition.DefaultTaskOpenFiles; negative: no bound.
	TaskOpenFiles int
	NoExchanges   bool   // plan no stages: joins read their other inputs whole, merges run here
	BroadcastRows int64  // largest join input broadcast rather than co-partitioned
	ResultMode    string // direct | proxy | single (flightsql.ResultModes)
	// WireCompression is how result streams are compressed (the
	// Compression* values; empty: CompressionAuto).
	WireCompression  string
	HeartbeatTimeout time.Duration
	ShutdownGrace    time.Duration
	SessionIdle      time.Duration
	// ClientPing is how long a client connection may stay silent before
	// it is pinged, and then how long its answer may take before the
	// connection is closed (0: never pinged; cluster.KeepaliveServer).
	// The in-process executors ping alike.
	ClientPing time.Duration
	// AbandonedTxn closes a session with a transaction open once every
	// client connection it was used on has been closed this long (0: never).
	AbandonedTxn time.Duration
	QueryTimeout time.Duration // 0: none
	// EndpointExpiry is how long a distributed query's endpoints wait for
	// a sign of their client (a read, a poll, a renewal) before the query
	// is abandoned (see leases).
	EndpointExpiry time.Duration
	MaxResultBytes int64 // 0: none
	// Admission: distributed queries running on executors at once, in
	// all and per user; beyond, they wait in a queue (0: no limit).
	MaxRunningQueries        int
	MaxRunningQueriesPerUser int
	// NoStealing (benchmarks, no flag) runs each task at its assigned
	// executor while that one takes tasks, and no straggler twice.
	NoStealing bool
	// DispatchBatch (benchmarks, no flag) is the most tasks a free slot
	// is given in one message (0: 16; 1: one task a message).
	DispatchBatch int
	// PlanSlots (benchmarks, no flag) plans queries as if the executors
	// taking tasks had this many thread slots in all (0: the slots they
	// have), so that one executor runs the plan a cluster of more would:
	// BenchmarkUnequalExecutors' baseline for the same work.
	PlanSlots int
	// FinalHereRows (tests and benchmarks, no flag) is the most rows the
	// producers of a merged query's last stage may give for the
	// coordinator to run that stage itself (0: 50,000; negative: never,
	// the last stage always on executors; finalhere.go).
	FinalHereRows int64
	Version       string
	// Alloc allocates the server's Arrow buffers; tests pass a checked one.
	Alloc memory.Allocator
	// Executor adjusts the in-process executors' configuration (tests:
	// spool budgets, how long a started task's result waits).
	Executor func(*executor.Config)
	// ObjectStore is what SQL may read from object storage (--allow-prefix
	// and the --s3-* flags), for the coordinator and its in-process
	// executors alike.
	ObjectStore objstore.Config
}

type stringList []string

func (s *stringList) String() string     { return fmt.Sprint([]string(*s)) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// defaultSplitMinRows is --split-min-rows' default. On TPC-H SF1 over two
// executors of one thread, every query reading under 2M rows (Q2, Q11,
// Q13, Q16, Q22) took longer split than DuckDB on one thread (the one
// task's stand-in), and the lightest scans of 6M rows (Q1, Q6) less: it
// lies between (README, Distribution: one task). Q2's plan is one stage
// gathered since, split whatever its rows (splitGathers).
const defaultSplitMinRows = 4_000_000

// defaultLocalMaxRows is --local-max-rows' default: a one-task plan under
// it costs the coordinator tens of ms of CPU at most (TPC-H SF1's
// correlated count per supplier, 810,000 rows read, about 25 ms on one
// thread), where its executor's dispatch, prepare and relay cost several
// ms; above it, the executor's threads are worth those ms.
const defaultLocalMaxRows = 1_000_000

// The values of --in-process-plan (Config.InProcessPlan).
const (
	PlanLocal      = "local"
	PlanDistribute = "distribute"
)

// The values of --wire-compression (Config.WireCompression): how Arrow
// streams are compressed. Between the nodes (exchanges, and the results
// the coordinator merges or proxies) CompressionAuto uses LZ4 once an
// executor advertises an address off loopback and none while all are on
// it; CompressionZstd and CompressionLZ4 always use theirs. A client's
// own results are compressed only when it asks (the skein-compression
// header), except with CompressionOff, which compresses nothing at all.
const (
	CompressionAuto = "auto"
	CompressionOff  = "off"
	CompressionZstd = flightsql.CodecZstd
	CompressionLZ4  = flightsql.CodecLZ4
)

// RegisterFlags binds the configuration to flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:31337", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "address of the HTTP listener for Prometheus /metrics and the status page, e.g. 127.0.0.1:31338 (empty: none; port 0 picks a free port)")
	fs.StringVar(&c.DataDir, "data-dir", "./skein-data", "directory of the managed database, persisted across restarts; SQL reaches only its files/ subdirectory")
	fs.Var(&c.AllowDirs, "allow-dir", "another directory whose files SQL may read and write, outside --data-dir (repeatable)")
	fs.StringVar(&c.User, "user", "", "user name for Basic auth (empty: no auth, loopback only)")
	fs.StringVar(&c.Password, "password", "", "password of --user (visible to ps: prefer --password-file or SKEIN_PASSWORD)")
	fs.StringVar(&c.PasswordFile, "password-file", "", "file holding the password of --user")
	fs.StringVar(&c.UsersFile, "users-file", "", "file of users, one a line: name:role:bcrypt-hash, role admin, writer or reader (hashes from skein hash-password)")
	fs.IntVar(&c.MaxSessions, "max-sessions", 512, "most client sessions open at once (each holds a DuckDB connection)")
	fs.IntVar(&c.MaxSessionsPerUser, "max-sessions-per-user", 64, "most sessions one user may have open (with auth)")
	fs.IntVar(&c.MaxQueriesPerUser, "max-queries-per-user", 0, "most calls running SQL one user may have at once (0: no limit)")
	fs.IntVar(&c.MaxNestedAggregates, "max-nested-aggregates", duck.DefaultMaxNesting, "deepest nesting of aggregates a client's SQL may have, through subqueries, CTEs, views and macros (a scalar subquery's counts twice): DuckDB 1.5 plans deeper ones in time that doubles with each level and cannot be cancelled (-1: no bound)")
	fs.IntVar(&c.MaxStatementsPerSession, "max-statements-per-session", 1000, "most prepared statements and planned, unread queries one session may hold at once")
	fs.IntVar(&c.MaxExpressionDepth, "max-expression-depth", duck.DefaultMaxExpressionDepth, "deepest nesting of expressions a client's SQL may have, by DuckDB's count (an operator or call one level, a subquery in FROM two): DuckDB 1.5 plans a deep expression in time that grows with the cube of its depth and cannot be cancelled, 53 s for 1+1+...+1 of 990 terms (-1: DuckDB's own limit, 1000)")
	fs.BoolVar(&c.UnsafeJSONFunctions, "unsafe-json-functions", false, "let client SQL call json_structure, json_group_structure, json_merge_patch and json_contains, name VARIANT as a type (a cast, a column's type), give from_json or json_transform a structure other than one string literal nesting at most 256 deep, and read local JSON files with read_json without checking first that no value nests more than 1,000 deep, which DuckDB 1.5 computes by recursion over a JSON value's nesting without a limit: a value nested some 100,000 deep (a few hundred KB, built in the query; in a file, 10,000) ends the process that runs it (SIGSEGV); refused by default")
	fs.Int64Var(&c.MaxEditCells, "max-edit-distance-cells", duck.DefaultMaxEditCells, "largest product of two strings' lengths in bytes that levenshtein, editdist3 and damerau_levenshtein take, on this process and the executors it starts (give executors of their own the same): DuckDB computes one call in as many steps (4 to 17 ns each) and cannot cancel it meanwhile, so two strings of 200,000 bytes held a core for minutes past --query-timeout and the client's cancel; a call past it is an error (-1: no bound)")
	fs.IntVar(&c.MaxFileScans, "max-file-scans", duck.DefaultMaxFileScans, "most file scans (read_parquet, read_csv, read_json and the like, a file named as a table, counted through views, CTEs and macros) one client statement may bind: DuckDB holds a file open for each until the statement ends, so one statement of 18,000 scans took 18,000 descriptors (-1: no bound)")
	fs.IntVar(&c.MaxSQLBytes, "max-sql-bytes", flightsql.DefaultMaxSQLBytes, "longest SQL text a client may send, in bytes: checking and parsing a statement takes a hundred times and more its size in memory (a 5 MB statement took the coordinator to 924 MB), so long lists of values go as bound parameters, an ingested table or a file (-1: no bound)")
	fs.IntVar(&c.MaxOpenFiles, "max-open-files", 0, "while the process holds more file descriptors than this, a statement kept for later (a prepared statement, a query planned and not yet read) keeps none of its files open: it is prepared again when it runs, and one that cannot be (parameters, several statements in one text) is refused to the user holding the most statements (0: half the process's open-file limit, ulimit -n; -1: no bound)")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "most client connections open at once, so that no client's idle connections take the process's descriptors or memory: one past it takes the place of a connection none of whose calls has passed the credential check (one with no call in progress, of the address holding the most), or, if every open one has, is closed as it is accepted (its client sees Unavailable) (0: a quarter of the open-file limit, ulimit -n, at most 2048; -1: no bound)")
	fs.IntVar(&c.MaxMessageMB, "max-message-mb", 64, "largest message a client may send, in MiB (a command, a batch of ingested rows), and most memory the parameter rows bound to one prepared statement may hold")
	fs.BoolVar(&c.InsecureNoAuth, "insecure-no-auth", false, "allow serving a non-loopback address without auth")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); enables TLS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "CA bundle (PEM) that client certificates must chain to (mTLS)")
	fs.IntVar(&c.Threads, "threads", 0, "DuckDB worker threads (0: one per core)")
	fs.StringVar(&c.MemoryLimit, "memory-limit", "", "DuckDB memory limit, e.g. 4GB (empty: DuckDB's default)")
	fs.StringVar(&c.TimeZone, "timezone", "", "time zone of TIMESTAMPTZ results, e.g. UTC (empty: the machine's)")
	fs.Int64Var(&c.BatchRows, "batch-rows", duck.DefaultBatchSize.Rows, "most rows per result batch on the wire (batches also stop at 2 MiB; a result starts with a batch of one DuckDB chunk, 2048 rows, and each next batch doubles up to this)")
	fs.StringVar(&c.ClusterSecretFile, "cluster-secret-file", "", "file holding the secret shared with executors")
	fs.StringVar(&c.ClusterCA, "cluster-ca", "", "CA bundle (PEM) trusted for executors' TLS certificates (besides the system roots)")
	fs.Int64Var(&c.TaskRows, "task-rows", 0, "target rows per task when a scan is split (a quarter of it in the scan's last rows on executors measured unequal); 0: a plain scan in about two tasks an executor thread of 1048576 rows at least, consecutive whole files read by one task, and a join's split scan in 1048576-row slices")
	fs.Int64Var(&c.SplitMinRows, "split-min-rows", defaultSplitMinRows, "a query the planner would split runs whole as one task on one executor, with all its DuckDB threads and no exchanges, when the files it reads hold fewer rows than this (Parquet footers; each scan counted; CSV and JSON inputs always split; not a plan of one stage of tasks gathered), and whatever its inputs while one executor or one executor thread takes tasks (0: always split)")
	fs.Int64Var(&c.LocalMaxRows, "local-max-rows", defaultLocalMaxRows, "a plan of one task in all (see --split-min-rows) whose Parquet files hold fewer rows than this (footers; each scan counted; CSV and JSON never; a LIMIT n without ORDER BY or WHERE counts n; a query of one scan counts the row groups its filter's statistics do not refute) runs on the coordinator as a local query, without an executor's dispatch, prepare and relay of its result; --explain says so (0: never)")
	fs.IntVar(&c.TaskOpenFiles, "task-open-files", partition.DefaultTaskOpenFiles, "most Parquet files one task holds open at once, about: a task reading more whole files reads them as this many lists of consecutive files, DuckDB holding one file of each open until the task ends and opening the others in turn, so that a query over any number of files keeps an executor to about its threads times this many descriptors, and the coordinator, which binds one task to check it, to this many (-1: a file a branch of the task's UNION ALL, every one open until the task ends)")
	fs.BoolVar(&c.NoExchanges, "no-exchanges", false, "plan no stages with exchanges between executors (joins then read their other inputs whole in every task, aggregates merge on the coordinator)")
	fs.Int64Var(&c.BroadcastRows, "broadcast-rows", 4_000_000, "a join input giving at most this many rows after its own filters (DuckDB's estimate; unfiltered, its Parquet metadata's count), from files of at most 4 times as many, is broadcast to every task; a larger one joined by an equality, or one giving more rows than the scan it joins holds, is co-partitioned")
	fs.StringVar(&c.ResultMode, "result-mode", "direct", "how a split query's FlightInfo answers: direct: an endpoint per task, at executors; proxy: an endpoint per task, at the coordinator; single: one endpoint at the coordinator streaming every task's result, for clients that read only the first endpoint (a client picks its own with the skein-result-mode header or the result_mode session option)")
	fs.StringVar(&c.WireCompression, "wire-compression", CompressionAuto, "Arrow IPC compression of the streams between the nodes: auto: lz4 once an executor advertises an address off loopback, none on loopback; off: none, and clients' requests for it (header skein-compression) are ignored; zstd or lz4: always")
	fs.DurationVar(&c.HeartbeatTimeout, "heartbeat-timeout", 5*time.Second, "an executor silent this long is dead")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long the drain may take: the coordinator turns NOT_SERVING, refuses new queries and lets planned and running ones finish, then stops (a second signal stops it at once)")
	fs.DurationVar(&c.SessionIdle, "session-idle-timeout", 15*time.Minute, "close client sessions idle this long")
	fs.DurationVar(&c.ClientPing, "client-ping", cluster.DefaultClientPing, "ping a client connection silent this long, and close it if the ping goes unanswered as long again: a stopped or frozen client process then no longer holds its calls (a bulk ingest, its transaction, a result being read) (0: never ping)")
	fs.DurationVar(&c.AbandonedTxn, "abandoned-txn-timeout", 10*time.Second, "a session with a transaction open whose client connections have all closed (a client killed or cut off) is closed, and its transaction rolled back, this long after the last one closed, releasing its row locks; a client that comes back on a new connection within it keeps it (0: only --session-idle-timeout ends it)")
	fs.DurationVar(&c.EndpointExpiry, "endpoint-expiry", defaultEndpointExpiry, "a distributed query's endpoints expire (expiration_time) this long after the client last read, polled (PollFlightInfo) or renewed (RenewFlightEndpoint) them: a query left so long with no stream of it open is cancelled on every executor")
	fs.DurationVar(&c.QueryTimeout, "query-timeout", 0, "cancel a query or write running longer than this, its tasks on executors too (0: no limit)")
	fs.Int64Var(&c.MaxResultBytes, "max-result-bytes", 0, "fail a query whose result, as the coordinator streams, proxies or merges it, exceeds this many bytes (0: no limit)")
	fs.IntVar(&c.MaxRunningQueries, "max-running-queries", 0, "most distributed queries whose tasks run on executors at once; more wait in a queue, in arrival order (0: no limit)")
	fs.IntVar(&c.MaxRunningQueriesPerUser, "max-running-queries-per-user", 0, "most distributed queries of one user running on executors at once; more wait in the queue (0: no limit)")
	c.ObjectStore.RegisterFlags(fs)
}

// Validate checks the configuration before anything starts.
func (c *Config) Validate() error {
	switch {
	case c.UsersFile != "" && (c.User != "" || c.Password != "" || c.PasswordFile != ""):
		return errors.New("--users-file replaces --user, --password and --password-file")
	case c.Password != "" && c.PasswordFile != "":
		return errors.New("--password and --password-file: give one")
	case (c.User == "") != (c.Password == "" && c.PasswordFile == ""):
		return errors.New("--user and --password (or --password-file) go together")
	case c.MaxSessions < 0 || c.MaxSessionsPerUser < 0 || c.MaxQueriesPerUser < 0 || c.MaxMessageMB < 0 || c.MaxStatementsPerSession < 0:
		return errors.New("--max-sessions, --max-sessions-per-user, --max-queries-per-user, --max-message-mb and --max-statements-per-session may not be negative")
	case c.SplitMinRows < 0:
		return errors.New("--split-min-rows may not be negative (0 always splits)")
	case c.LocalMaxRows < 0:
		return errors.New("--local-max-rows may not be negative (0: never on the coordinator)")
	case c.MaxRunningQueries < 0 || c.MaxRunningQueriesPerUser < 0:
		return errors.New("--max-running-queries and --max-running-queries-per-user may not be negative")
	case c.Threads < 0:
		return errors.New("--threads may not be negative (0: one per core)")
	case c.TaskRows < 0 || c.BroadcastRows < 0:
		return errors.New("--task-rows and --broadcast-rows may not be negative")
	case c.HeartbeatTimeout < 0 || c.ShutdownGrace < 0 || c.EndpointExpiry < 0:
		return errors.New("--heartbeat-timeout, --shutdown-grace and --endpoint-expiry may not be negative")
	}
	if err := (cluster.TLS{Cert: c.TLSCert, Key: c.TLSKey, ClientCA: c.TLSClientCA, CA: c.ClusterCA}).Validate(); err != nil {
		return err
	}
	if c.ResultMode != "" {
		mode, ok := flightsql.ParseResultMode(c.ResultMode)
		if !ok {
			return fmt.Errorf("--result-mode %q: want one of %s", c.ResultMode, strings.Join(flightsql.ResultModes, ", "))
		}
		c.ResultMode = mode
	}
	switch c.WireCompression {
	case "", CompressionAuto, CompressionOff, CompressionZstd, CompressionLZ4:
	default:
		return fmt.Errorf("--wire-compression %q: want %s, %s, %s or %s", c.WireCompression,
			CompressionAuto, CompressionOff, CompressionZstd, CompressionLZ4)
	}
	switch c.InProcessPlan {
	case "", PlanLocal, PlanDistribute:
	default:
		return fmt.Errorf("--in-process-plan %q: want %s or %s", c.InProcessPlan, PlanLocal, PlanDistribute)
	}
	if c.QueryTimeout < 0 || c.MaxResultBytes < 0 {
		return errors.New("--query-timeout and --max-result-bytes must not be negative")
	}
	if c.SessionIdle < 0 {
		// A negative one panicked at start (a ticker of its quarter).
		return errors.New("--session-idle-timeout must not be negative (0 is the default, 15m)")
	}
	if c.BatchRows < 0 {
		return errors.New("--batch-rows must be positive")
	}
	if err := c.ObjectStore.Validate(); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if !c.auth() && !c.InsecureNoAuth && !isLoopback(host) {
		return fmt.Errorf("refusing to serve %s without auth: set --users-file, or --user and --password, or --insecure-no-auth", c.Addr)
	}
	if c.HTTPAddr != "" {
		host, _, err := net.SplitHostPort(c.HTTPAddr)
		if err != nil {
			return fmt.Errorf("--http-addr %q: %w", c.HTTPAddr, err)
		}
		if !c.auth() && !c.InsecureNoAuth && !isLoopback(host) {
			return fmt.Errorf("refusing to serve the status page on %s without auth: set --users-file, or --user and --password, or --insecure-no-auth", c.HTTPAddr)
		}
	}
	return nil
}

func (c *Config) limits() flightsql.Limits {
	return flightsql.Limits{QueryTimeout: c.QueryTimeout, MaxResultBytes: c.MaxResultBytes}
}

func (c *Config) auth() bool { return c.User != "" || c.UsersFile != "" }

// users loads who may log in: the users file, or --user as the one admin.
func (c *Config) users() (*users.Store, error) {
	switch {
	case c.UsersFile != "":
		return users.Load(c.UsersFile)
	case c.User == "":
		return nil, nil
	case c.PasswordFile != "":
		b, err := cluster.ReadBounded(c.PasswordFile, 64<<10)
		if err != nil {
			return nil, fmt.Errorf("--password-file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return nil, fmt.Errorf("--password-file %s is empty", c.PasswordFile)
		}
		return users.Single(c.User, pw), nil
	}
	return users.Single(c.User, c.Password), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Coordinator is a running coordinator.
type Coordinator struct {
	cfg       Config
	log       zerolog.Logger
	db        *duck.DB
	fs        *flightsql.Server
	grpc      *grpc.Server
	lis       *cluster.ConnLimit
	done      chan error
	dist      *dist
	reg       *registry
	executors []*executor.Executor
	hist      *history
	started   time.Time
	// metrics is the coordinator's own registry; web, when --http-addr
	// is set, serves it with its executors' and the process's.
	metrics *prometheus.Registry
	web     *web.Server
	health  *health.Server
	stopBy  atomic.Int64 // unix nanoseconds: the end of the grace a Drain began; 0 before

	// unwatch ends watchDatabase, which closes watched when it returns.
	unwatch, watched chan struct{}
	// invalid is closed once the database refuses every statement
	// (watchDatabase).
	invalid chan struct{}

	shutdown    sync.Once
	shutdownErr error
}

// Start opens the database and starts serving.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BatchRows == 0 {
		cfg.BatchRows = duck.DefaultBatchSize.Rows
	}
	logins, err := cfg.users()
	if err != nil {
		return nil, err
	}
	dataDir, allowed, err := cfg.dirs()
	if err != nil {
		return nil, err
	}
	nodeTLS := cluster.TLS{Cert: cfg.TLSCert, Key: cfg.TLSKey, ClientCA: cfg.TLSClientCA, CA: cfg.ClusterCA}
	creds, err := nodeTLS.ServerCreds()
	if err != nil {
		return nil, err
	}
	hist := newHistory()
	// A registry of its own: tests run several coordinators in a process.
	promReg := prometheus.NewRegistry()
	hist.metrics = newQueryMetrics(promReg)
	grpcMetrics := metrics.NewGRPC(promReg)
	stuck := newStuckReporter(promReg, log)
	db, err := duck.Open(ctx, duck.Config{
		// The file names the catalog of managed tables: "data". The
		// catalog "skein" holds the system tables (skein.queries, ...).
		Path:        filepath.Join(dataDir, "data.duckdb"),
		System:      hist.system(filepath.Join(dataDir, "system.duckdb")),
		AllowedDirs: allowed,
		Threads:     cfg.Threads,
		MemoryLimit: cfg.MemoryLimit,
		TempDir:     filepath.Join(dataDir, "tmp"),
		// Client SQL reaches this instance only; the SQL executors and
		// merges run is the planner's, built from SQL parsed here.
		MaxExpressionDepth: exprDepth(cfg.MaxExpressionDepth),
		RecursiveJSON:      cfg.UnsafeJSONFunctions,
		MaxEditCells:       cfg.MaxEditCells,
		TimeZone:           cfg.TimeZone,
		ObjectStore:        duck.ObjectStoreFor(cfg.ObjectStore, log),
		OnStuck:            stuck.report,
	})
	if err != nil {
		return nil, err
	}
	if dir, why := db.SystemElsewhere(); dir != "" {
		log.Warn().Err(why).Str("dir", dir).Msg("the system tables (skein.queries, ...) are written under the temporary directory: the data directory took nothing (is its disk full?)")
	}
	if err := afterOpen(ctx, db, dataDir, log); err != nil {
		_ = db.Close()
		return nil, err
	}
	var secret cluster.Secret
	switch {
	case cfg.ClusterSecretFile != "":
		if secret, err = cluster.ReadSecret(cfg.ClusterSecretFile); err != nil {
			_ = db.Close()
			return nil, err
		}
	case cfg.Executors > 0:
		secret = cluster.NewSecret()
	}
	mem := cfg.Alloc
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	fcfg := flightsql.Config{
		Users:       logins,
		SessionIdle: cfg.SessionIdle, AbandonedTxn: cfg.AbandonedTxn, Version: cfg.Version,
		MaxSessions: cfg.MaxSessions, MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		MaxQueriesPerUser: cfg.MaxQueriesPerUser, MaxMessageBytes: cfg.MaxMessageMB << 20,
		MaxStatementsPerSession: cfg.MaxStatementsPerSession,
		MaxNestedAggregates:     cfg.MaxNestedAggregates,
		MaxFileScans:            cfg.MaxFileScans,
		MaxSQLBytes:             cfg.MaxSQLBytes,
		MaxOpenFiles:            cfg.MaxOpenFiles,
		Batch:                   duck.Batches(cfg.BatchRows),
		Limits:                  cfg.limits(),
		NoCompression:           cfg.WireCompression == CompressionOff,
	}
	var reg *registry
	var d *dist
	if host, _, _ := net.SplitHostPort(cfg.Addr); cfg.Executors > 0 && !isLoopback(host) && (cfg.ResultMode == "" || cfg.ResultMode == flightsql.ResultDirect) {
		// In-process executors listen on loopback, where remote clients
		// cannot reach them: serve every ticket from the coordinator.
		log.Info().Msg("executors are on loopback and the coordinator is not: result mode proxy")
		cfg.ResultMode = "proxy"
	}
	if secret != nil {
		timeout := cfg.HeartbeatTimeout
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		zone, err := db.TimeZone(ctx)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		reg = newRegistry(secret, timeout, zone, log)
		reg.needs = executorNeeds(cfg.AllowDirs, dataDir, cfg.ObjectStore.Prefixes.URLs())
		if d, err = newDist(ctx, db, dataDir, secret, reg, cfg, mem, log); err != nil {
			_ = db.Close()
			return nil, err
		}
		d.tls, d.hist = nodeTLS, hist
		reg.reports, reg.reads = hist.tasks, d.executorReads
		fcfg.Cluster = d
	}
	fs, err := flightsql.New(fcfg, db, mem, log)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if d != nil {
		d.failedIn = fs.FailedInTransaction
	}
	tcp, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fs.Close()
		_ = db.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	// The bound is the clients': skein serve's own executors, two
	// connections each (their registration's, their relay's), come on
	// top (with --max-connections 2 and 2 of them, no client could
	// connect, a tester's).
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		maxConns = cluster.DefaultMaxConns()
	}
	if maxConns > 0 {
		maxConns += 2 * cfg.Executors
	}
	lis := cluster.LimitConns(tcp, maxConns, log)
	metrics.Connections(promReg, lis)
	// Stop, past the shutdown grace, waits for the handlers it cancels:
	// nothing may use the database after Shutdown closes it.
	// The metrics interceptors come first, so they see each call's final
	// status code.
	// Executors ping their connections to it (cluster.KeepaliveDial); it
	// pings its clients (--client-ping).
	opts := append(append(append(grpcMetrics.ServerOptions(), fs.ServerOptions()...), grpc.WaitForHandlers(true)), cluster.KeepaliveServer(cfg.ClientPing)...)
	// The listener tells calls their connection, which their credential
	// proves (cluster.Prove).
	opts = append(opts, grpc.StatsHandler(lis))
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	g := grpc.NewServer(opts...)
	fs.Register(g)
	hs := health.New()
	hs.Register(g)
	promReg.MustRegister(newGauges(hist, reg, fs.Stats))
	if d != nil {
		promReg.MustRegister(d.sched.calls, d.sched.sent, d.planLookups, d.factLookups, d.textLookups)
	}
	c := &Coordinator{cfg: cfg, log: log, db: db, fs: fs, grpc: g, lis: lis, done: make(chan error, 1), dist: d, reg: reg,
		hist: hist, started: time.Now(), metrics: promReg, health: hs,
		unwatch: make(chan struct{}), watched: make(chan struct{}), invalid: make(chan struct{})}
	go func() { c.done <- g.Serve(lis) }()
	go c.watchDatabase()
	if err := c.startExecutors(ctx, secret, allowed); err != nil {
		_ = c.Shutdown()
		return nil, err
	}
	if err := c.startWeb(nodeTLS, logins != nil); err != nil {
		_ = c.Shutdown()
		return nil, err
	}
	// Ready: the catalog is open, the listener accepts, and the executors
	// of skein serve have registered.
	hs.SetReady(true)
	log.Info().Str("addr", lis.Addr().String()).Str("data_dir", dataDir).Bool("auth", logins != nil).
		Bool("tls", creds != nil).Msg("coordinator serving")
	cfg.ObjectStore.LogTo(log)
	return c, nil
}

// dialable is the address at which a process on this machine reaches a
// listener bound to a: a itself, or loopback for a wildcard address.
func dialable(a *net.TCPAddr) string {
	host := "127.0.0.1"
	if a.IP != nil && !a.IP.IsUnspecified() {
		host = a.IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// execMaxConns is the bound skein serve's executors keep on their
// connections: the coordinator's (its clients' and theirs, whose direct
// reads reach them too), and the coordinator's own and their peers' on
// top.
func (c *Coordinator) execMaxConns() int {
	if c.lis.Max() < 0 {
		return -1
	}
	return int(c.lis.Max()) + 2 + c.cfg.Executors
}

// startExecutors runs the in-process executors of skein serve: each its own
// DuckDB and Flight listener on loopback, registering over gRPC like any
// other, and waits until they have registered.
func (c *Coordinator) startExecutors(ctx context.Context, secret cluster.Secret, allowed []string) error {
	if c.cfg.Executors <= 0 {
		return nil
	}
	// Executors in this process reach the coordinator where it listens:
	// on loopback when it listens on every address, else at the one
	// address it was given (a coordinator bound to one interface is not on
	// loopback). Over TLS when it serves TLS: its certificate must then
	// cover that address (or 127.0.0.1 or localhost), as it must for the
	// executors, which share it.
	scheme := "grpc://"
	if c.cfg.TLSCert != "" {
		scheme = "grpc+tls://"
	}
	coord := scheme + dialable(c.lis.Addr().(*net.TCPAddr))
	for range c.cfg.Executors {
		ecfg := executor.Config{
			Addr: "127.0.0.1:0", Coordinator: coord, Secret: secret, AllowDirs: allowed,
			Threads: c.cfg.Threads, MemoryLimit: c.cfg.MemoryLimit, TimeZone: c.cfg.TimeZone, ObjectStore: c.cfg.ObjectStore,
			MaxEditCells: c.cfg.MaxEditCells,
			// A stuck task is logged and counted; the process, shared
			// with the coordinator, serves on.
			KillTimeout: executor.DefaultKillTimeout,
			ClientPing:  c.cfg.ClientPing,
			// Its clients' bound, and the coordinator's and its
			// peers' connections on top (with the clients' alone, the
			// coordinator's took the one place of --max-connections 1,
			// and no exchange could reach it: a tester's).
			MaxConns:  c.execMaxConns(),
			Batch:     duck.Batches(c.cfg.BatchRows),
			Heartbeat: min(time.Second, c.reg.timeout/3),
			TLS:       c.dist.tls,
		}
		if c.cfg.Executor != nil {
			c.cfg.Executor(&ecfg)
		}
		e, err := executor.Start(ctx, ecfg, c.log)
		if err != nil {
			return err
		}
		c.executors = append(c.executors, e)
		c.dist.inProcess(e.ID())
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(c.reg.live()) < c.cfg.Executors {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d executors registered", len(c.reg.live()), c.cfg.Executors)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Invalidated is closed once the database refuses every statement after
// a fatal error (watchDatabase): only a new process serves again.
func (c *Coordinator) Invalidated() <-chan struct{} { return c.invalid }

// Executors are the in-process executors (for tests that stop one).
func (c *Coordinator) Executors() []*executor.Executor { return c.executors }

// URI is where clients connect, with the real port.
func (c *Coordinator) URI() string {
	scheme := "grpc"
	if c.cfg.TLSCert != "" {
		scheme = "grpc+tls"
	}
	return scheme + "://" + c.lis.Addr().String()
}

// Done reports the end of serving.
func (c *Coordinator) Done() <-chan error { return c.done }

// Shutdown stops accepting connections and lets running calls finish
// within the grace period (what is left of it after Drain). Past it, it
// cancels all running work through its contexts (the dist layer's, then
// every call's). Either way it waits for every handler and goroutine that
// uses the dist layer or a database to return, and only then closes them:
// the dist layer, the sessions, the executors, and last the checkpointed
// database.
func (c *Coordinator) Shutdown() error {
	c.shutdown.Do(func() { c.shutdownErr = c.stop() })
	return c.shutdownErr
}

// interruptWait is how long the calls interrupted at the grace's end have
// to answer with their status before their connections are cut.
const interruptWait = 2 * time.Second

func (c *Coordinator) stop() error {
	// Health watchers are told NOT_SERVING and their streams end: a
	// graceful stop waits for every stream.
	c.health.Close()
	stopped := make(chan struct{})
	go func() {
		c.grpc.GracefulStop()
		close(stopped)
	}()
	grace := c.cfg.ShutdownGrace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	if by := c.stopBy.Load(); by != 0 {
		grace = max(time.Until(time.Unix(0, by)), 0)
	}
	select {
	case <-stopped:
	case <-time.After(grace):
		if grace == 0 {
			c.log.Warn().Msg("the drain ended with queries running (its grace ran out, or a second signal came): interrupting them")
		} else {
			c.log.Warn().Dur("grace", grace).Msg("grace period over: interrupting running queries")
		}
		if c.dist != nil {
			c.dist.stopLife()
		}
		// Each call still running ends with a status that says so; those
		// that have not within a moment are cut (grpc.Stop cancels every
		// call's context and waits for its handler).
		c.fs.Interrupt()
		select {
		case <-stopped:
		case <-time.After(interruptWait):
			c.grpc.Stop()
			<-stopped
		}
	}
	// The status page and metrics watch the drain; they go with it.
	if c.web != nil {
		c.web.Close()
	}
	if c.dist != nil {
		c.dist.cancelServedHere(interruptWait)
		c.dist.close() // waits for its streams and early starts
	}
	c.fs.Close() // waits for every session's running statement
	for _, e := range c.executors {
		e.Shutdown()
	}
	close(c.unwatch)
	<-c.watched
	err := c.db.Checkpoint(context.Background())
	if cerr := c.db.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	c.log.Info().Msg("coordinator stopped")
	return nil
}

// dbWatchEvery is how often watchDatabase asks the database.
const dbWatchEvery = 2 * time.Second

// watchDatabase asks the database every dbWatchEvery whether it still
// runs statements. After a fatal error (a checkpoint that could not
// write: the disk full, the file size limit reached) DuckDB refuses every
// statement until the process restarts: the health service then says
// NOT_SERVING, Liveness included, so that a supervisor restarts it.
// (Until 2026-12-04 both said SERVING while every query failed.)
func (c *Coordinator) watchDatabase() {
	defer close(c.watched)
	t := time.NewTicker(dbWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-c.unwatch:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), dbWatchEvery)
		err := c.db.Ping(ctx)
		cancel()
		if duck.Invalidated(err) {
			c.health.Fail()
			c.log.Error().Err(err).Msg("the database refuses every statement after a fatal error (a disk full, memory short at a checkpoint): " +
				"health is NOT_SERVING, liveness too; the process is to be restarted (what was committed is kept)")
			close(c.invalid)
			return
		}
	}
}

// startWeb serves --http-addr: the coordinator's metrics with its
// in-process executors' (each labelled executor="ID") and the process's,
// and the status page, behind the Flight users' credentials when auth is
// on; HTTPS with the node's certificate when it serves TLS.
func (c *Coordinator) startWeb(node cluster.TLS, auth bool) error {
	if c.cfg.HTTPAddr == "" {
		return nil
	}
	tc, err := node.HTTPConfig()
	if err != nil {
		return err
	}
	wc := web.Config{Addr: c.cfg.HTTPAddr, TLS: tc, Metrics: c.Metrics(), Status: statusPage{c}, Role: "coordinator"}
	if auth {
		wc.Login = c.fs.Login
	}
	// The listener lives until Shutdown, not until the signal that starts
	// it: the drain is worth watching.
	c.web, err = web.Start(context.Background(), wc, c.log)
	return err
}

// Metrics gathers what the coordinator's listener exposes: its own
// metrics, its in-process executors' (labelled executor="ID") and the Go
// runtime's.
func (c *Coordinator) Metrics() prometheus.Gatherer {
	gs := prometheus.Gatherers{c.metrics, metrics.Runtime()}
	for _, e := range c.executors {
		gs = append(gs, metrics.Labelled(e.Metrics(), "executor", e.ID()))
	}
	return gs
}

// HTTPURL is the base URL of the --http-addr listener, with its real
// port ("" without one).
func (c *Coordinator) HTTPURL() string {
	if c.web == nil {
		return ""
	}
	return c.web.URL()
}

// exprDepth is the duck.Config.MaxExpressionDepth of a
// Config.MaxExpressionDepth: 0 is the default, -1 DuckDB's own.
func exprDepth(n int) int {
	switch {
	case n == 0:
		return duck.DefaultMaxExpressionDepth
	case n < 0:
		return 0
	}
	return n
}
