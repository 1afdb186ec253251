package duck

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/maphash"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
	"github.com/skeindb/skein/internal/objstore"
)

// Config describes one DuckDB instance.
type Config struct {
	// Path of the database file; empty means in-memory.
	Path string
	// AllowedDirs are the only directories SQL may read or write files in.
	AllowedDirs []string
	// Threads is DuckDB's worker thread count; 0 keeps DuckDB's default.
	Threads int
	// MemoryLimit is DuckDB's memory_limit ("4GB"); empty keeps the default.
	MemoryLimit string
	// TempDir is where DuckDB spills; empty keeps the default.
	TempDir string
	// System, when set, is the catalog of the server's read-only system
	// tables, attached before the sandbox locks ATTACH (system.go).
	System *System
	// TimeZone is the zone TIMESTAMPTZ values are shown in; empty keeps
	// DuckDB's default (the machine's). The sandbox locks every setting, so
	// it is fixed per instance.
	TimeZone string
	// ObjectStore, when set, lets SQL read the allowed s3:// prefixes
	// (objstore.go); nil keeps the sandbox to local files, without httpfs.
	ObjectStore *ObjectStore
	// MaxExpressionDepth is DuckDB's max_expression_depth, how deeply
	// the parser lets expressions and subqueries nest; 0 keeps DuckDB's
	// (1000). See DefaultMaxExpressionDepth.
	MaxExpressionDepth int
	// RecursiveJSON allows the JSON functions that walk a value by
	// recursion without a depth limit (recursiveJSONCalls) and VARIANT as
	// a type (checkVariantTypes), refused by default: a deeply nested
	// value given to one ends the process.
	RecursiveJSON bool
	// MaxEditCells bounds the product of two strings' lengths that the
	// edit distances (editDistanceCalls) take: 0 is DefaultMaxEditCells,
	// a negative value none.
	MaxEditCells int64
	// BoundsOnDemand creates the macros bounding calls (bounded.go) on a
	// connection only before it prepares a statement that names one,
	// rather than on every new connection (3.4 ms each, BenchmarkConnect): for an
	// instance that runs the planner's SQL (an executor's, the merges'),
	// where a task names every function it calls, and a connection lives
	// for one task.
	BoundsOnDemand bool
	// OnStuck, when set, is told of a statement still preparing
	// StuckAfter (a minute when 0) after it began, or still running that
	// long after it was interrupted, and again when it returns (stuck.go).
	OnStuck    func(Stuck)
	StuckAfter time.Duration
}

// DefaultMaxExpressionDepth is how deeply a client's expressions may
// nest, by DuckDB's count (an operator or call one level, a subquery in
// FROM two). DuckDB 1.5 binds and optimizes a deep expression in time
// that grows with the cube of its depth and checks for no interrupt
// meanwhile: PREPARE of SELECT 1+1+...+1 took 30 ms at 100 terms,
// 0.3 s at 200, 3.4 s at 400 and 53 s at 990, under DuckDB's own limit
// of 1000 (1.3 KB of SQL), so one short query pinned a core past its
// timeout and its client's cancel. At 128, 'a' || ... chains (the
// slowest measured) plan in about 0.3 s and subqueries still nest 60
// deep.
const DefaultMaxExpressionDepth = 128

// DB is one sandboxed DuckDB instance.
type DB struct {
	connector *duckdb.Connector
	pool      *sql.DB
	allowed   []string // cleaned absolute AllowedDirs
	// realAllowed are the allowed directories with their links resolved:
	// a file the server reads itself must lie in one once its own are.
	realAllowed []string
	gate        *objstore.Gate // object storage requests go through it; nil without
	// recursiveJSON is Config.RecursiveJSON.
	recursiveJSON bool
	// oneThread says DuckDB runs one worker thread: its ASOF RIGHT and
	// FULL joins then never end on some inputs (checkNamed).
	oneThread bool
	// editCells bounds the edit distances' work (Config.MaxEditCells); 0:
	// no bound.
	editCells int64
	// onDemand are the macros bounding calls, created on a connection by
	// boundFor (Config.BoundsOnDemand); none when every connection has
	// them all from the start.
	onDemand []boundMacro
	// json remembers the JSON files checkNamed found shallow.
	json jsonChecked
	// onStuck and stuckAfter are Config.OnStuck and StuckAfter (watch).
	onStuck    func(Stuck)
	stuckAfter time.Duration
	// streamOnce registers skein_stream (RegisterStream) at its first use.
	streamOnce sync.Once
	streamErr  error
	// streams are the streams registered on its connections, and how many
	// connections have one by each name (replaceStream).
	streamMu    sync.Mutex
	streams     map[streamKey]*stream
	streamNames map[string]int
	// epoch counts the statements run on any of its connections that may
	// have changed what a name binds to (catalog.go).
	epoch atomic.Uint64
	// funcs are DuckDB's own functions, asked once (nesting.go).
	funcsOnce sync.Once
	funcs     builtinFunctions
	// defs are the views and macros of the committed catalog, which
	// every connection that ran only SELECTs sees (CatalogVersion),
	// listed by the first of them to need them at a version.
	defsMu sync.Mutex
	defs   nestDefs
	// outside are the idle connections Aside lends.
	outside chan *Conn
	// userFuncs and userTypes are the names of the functions and types
	// SQL created (NoteUserFunctions, NoteUserTypes).
	userFuncs, userTypes nameSet
	// systemDir, when set, is the directory the system catalog was
	// written in instead of System.Path, for systemErr (attachSystem);
	// removed at Close.
	systemDir string
	systemErr error
	// readers are the system tables' reader of each connection that has
	// one (SetReader), by DuckDB's id of the connection.
	readers sync.Map
}

// nameSet is a set of names, case-insensitive, safe for concurrent use.
// It keeps a 64-bit hash of each name, not the name: a name may be as
// long as the SQL text, and a client that created and dropped macros of
// distinct megabyte names grew the coordinator by 1.3 MB a statement,
// never given back (a tester's: 543 MB of heap after 405). A hash two
// names share makes the other one count as a name SQL created: a query
// calling it is planned on one node.
type nameSet struct {
	mu    sync.Mutex
	names map[uint64]struct{}
}

// nameSeed hashes the names of every nameSet of the process.
var nameSeed = maphash.MakeSeed()

func (n *nameSet) add(names ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names == nil {
		n.names = map[uint64]struct{}{}
	}
	for _, name := range names {
		n.names[maphash.String(nameSeed, strings.ToLower(name))] = struct{}{}
	}
}

func (n *nameSet) has(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.names[maphash.String(nameSeed, strings.ToLower(name))]
	return ok
}

// NoteUserFunctions records names of functions (macros) created by SQL:
// one a statement of any connection creates, and those the database held
// when it was opened (the coordinator lists them). A call of such a name
// may not mean DuckDB's own function of that name on another DuckDB, or
// this one's other connections (a TEMP macro named abs shadows abs in its
// connection): UserFunction says so. Names are never forgotten (DROP
// MACRO): a name kept costs a plan on one node.
func (db *DB) NoteUserFunctions(names ...string) { db.userFuncs.add(names...) }

// UserFunction says whether SQL ever created a function of this name.
func (db *DB) UserFunction(name string) bool { return db.userFuncs.has(name) }

// NoteUserTypes records names of types created by SQL (CREATE TYPE), as
// NoteUserFunctions does functions: the executors' DuckDBs do not have
// them, and a plan whose SQL names one fails there ("Type with name
// hg_int does not exist").
func (db *DB) NoteUserTypes(names ...string) { db.userTypes.add(names...) }

// UserType says whether SQL ever created a type of this name.
func (db *DB) UserType(name string) bool { return db.userTypes.has(name) }

// Open opens (or creates) the database and locks its configuration: after
// Open returns, no SQL can widen the sandbox.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	q := url.Values{}
	q.Set("autoinstall_known_extensions", "false")
	q.Set("autoload_known_extensions", "false")
	// DuckDB's default, stated because the cluster depends on it: a scan's
	// rows, filtered and projected, come out in the scan's order on every
	// run, which is what lets a broken task stream resume by skipping the
	// rows already sent (partition.Analysis.Ordered).
	q.Set("preserve_insertion_order", "true")
	if cfg.Threads > 0 {
		q.Set("threads", fmt.Sprint(cfg.Threads))
	}
	if cfg.MemoryLimit != "" {
		q.Set("memory_limit", cfg.MemoryLimit)
	}
	if cfg.TempDir != "" {
		q.Set("temp_directory", cfg.TempDir)
	}
	dsn := cfg.Path + "?" + q.Encode()
	cells := editCells(cfg.MaxEditCells)
	bounding := boundingMacros(cells)
	init, onDemand := boundEveryConnection(bounding), []boundMacro(nil)
	if cfg.BoundsOnDemand {
		init, onDemand = nil, bounding
	}
	connector, err := duckdb.NewConnector(dsn, init)
	if err != nil {
		return nil, wrap(fmt.Errorf("duck: open %q: %w", cfg.Path, err))
	}
	db := &DB{connector: connector, pool: sql.OpenDB(connector),
		streams: map[streamKey]*stream{}, streamNames: map[string]int{}, recursiveJSON: cfg.RecursiveJSON, editCells: cells, onDemand: onDemand,
		onStuck: cfg.OnStuck, stuckAfter: cmp.Or(cfg.StuckAfter, time.Minute), outside: make(chan *Conn, maxOutside)}
	// Before any connection binds a query: DuckDB's list of replacement
	// scans is not guarded against a change while a query binds.
	duckdb.RegisterReplacementScan(connector, db.replaceStream)
	for _, d := range cfg.AllowedDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("duck: allowed directory %q: %w", d, err)
		}
		db.allowed = append(db.allowed, abs)
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		db.realAllowed = append(db.realAllowed, abs)
	}
	if cfg.System != nil {
		if err := db.attachSystem(ctx, *cfg.System); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	dirs := cfg.AllowedDirs
	if o := cfg.ObjectStore; o != nil {
		if err := db.loadObjectStore(ctx, *o); err != nil {
			_ = db.Close()
			return nil, err
		}
		dirs = append(append([]string(nil), dirs...), o.Config.Prefixes.URLs()...)
	}
	if err := db.sandbox(ctx, dirs, cfg.TimeZone, cfg.MaxExpressionDepth); err != nil {
		_ = db.Close()
		return nil, err
	}
	var threads int64
	if err := db.pool.QueryRowContext(ctx, "SELECT current_setting('threads')::BIGINT").Scan(&threads); err != nil {
		_ = db.Close()
		return nil, wrap(fmt.Errorf("duck: threads: %w", err))
	}
	db.oneThread = threads == 1
	return db, nil
}

func (db *DB) sandbox(ctx context.Context, dirs []string, timeZone string, maxDepth int) error {
	quoted := make([]string, 0, len(dirs))
	for _, d := range dirs {
		quoted = append(quoted, QuoteString(strings.TrimSuffix(d, "/")+"/"))
	}
	var stmts []string
	if timeZone != "" {
		// ICU's setting, which a DSN cannot carry.
		stmts = append(stmts, "SET GLOBAL TimeZone = "+QuoteString(timeZone))
	}
	if maxDepth > 0 {
		stmts = append(stmts, fmt.Sprintf("SET GLOBAL max_expression_depth = %d", maxDepth))
	}
	stmts = append(stmts,
		// Parquet footers parsed once and kept, in DuckDB's own cache,
		// which checks each file's modification time (and rereads one
		// modified lately, where a coarse clock could hide a rewrite):
		// every task of a scan opens the files of its slice, and parsing
		// a lineitem footer took about 6 ms of a 122,880-row slice's 10
		// (TPC-H SF1). An extension's setting, so not in the DSN. The
		// footers are within memory_limit: DuckDB's object cache reserves
		// each against the buffer pool and evicts them, least recently
		// used first (TestParquetFooterCacheIsBounded).
		"SET GLOBAL parquet_metadata_cache = true",
		"SET allowed_directories=["+strings.Join(quoted, ", ")+"]",
		"SET enable_external_access=false",
		"SET lock_configuration=true",
	)
	defer db.changed()
	for _, s := range stmts {
		if _, err := db.pool.ExecContext(ctx, s); err != nil {
			return wrap(fmt.Errorf("duck: sandbox (%s): %w", s, err))
		}
	}
	return nil
}

// Connect opens a new connection. Each connection is used by one goroutine at
// a time; the caller serialises access.
func (db *DB) Connect(ctx context.Context) (*Conn, error) {
	sc, err := db.pool.Conn(ctx)
	if err != nil {
		return nil, wrap(fmt.Errorf("duck: connect: %w", err))
	}
	c := &Conn{sc: sc, allowed: db.allowed, db: db, id: connIDs.Add(1)}
	err = sc.Raw(func(dc any) error {
		raw, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("%w: driver connection is %T", errLayout, dc)
		}
		h, err := connHandle(raw)
		if err != nil {
			return err
		}
		c.raw, c.handle = raw, h
		return nil
	})
	if err != nil {
		_ = sc.Close()
		return nil, err
	}
	return c, nil
}

// Ping runs a statement that touches nothing: an error says the
// database runs nothing (see Invalidated).
func (db *DB) Ping(ctx context.Context) error {
	_, err := db.pool.ExecContext(ctx, "SELECT 1")
	return wrap(err)
}

// Checkpoint writes the WAL into the database file.
func (db *DB) Checkpoint(ctx context.Context) error {
	defer db.changed()
	if _, err := db.pool.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return wrap(fmt.Errorf("duck: checkpoint: %w", err))
	}
	return nil
}

// Close closes the database; connections must be closed first.
func (db *DB) Close() error {
	var err error
	for len(db.outside) > 0 {
		err = errors.Join(err, (<-db.outside).Close())
	}
	err = errors.Join(err, db.pool.Close())
	err = errors.Join(err, db.connector.Close())
	if db.gate != nil {
		err = errors.Join(err, db.gate.Close())
	}
	if db.systemDir != "" {
		err = errors.Join(err, os.RemoveAll(db.systemDir))
	}
	return err
}

// Conn is one DuckDB connection: its own transaction, temp tables and
// settings.
type Conn struct {
	db      *DB
	sc      *sql.Conn
	raw     *duckdb.Conn
	handle  mapping.Connection
	id      uint64           // unique in the process (CatalogVersion)
	duckID  uint64           // DuckDB's id of the connection, plus 1 (0: not asked yet)
	bounded map[int]bool     // the macros boundFor created here, by index in db.onDemand
	own     atomic.Bool      // it ran a statement that may change its catalog
	kept    map[string]*Stmt // QueryText's statements, by query
	spare   []*Stmt          // Keep's statements, oldest first
	policy  Policy
	defs    nestDefs // the views and macros it sees, once it has its own CatalogVersion (nesting.go)
	// allowed are the directories COPY TO and EXPORT may write in.
	allowed []string
	// txnStatements counts the statements run that may begin or end a
	// transaction (TxnStatements).
	txnStatements atomic.Uint64
	// lastCommit: the last of those was a COMMIT (or END), alone in its
	// text, that succeeded.
	lastCommit atomic.Bool
	// variables are the sizes of its variables by name, as of the last
	// SET statement it ran (boundVariables).
	variables map[string]int64
}

// LastEndCommitted says whether the last statement the connection ran
// that may have ended a transaction was a COMMIT (or END), alone in its
// text, that succeeded.
func (c *Conn) LastEndCommitted() bool { return c.lastCommit.Load() }

// TxnStatements counts the statements the connection ran that may have
// begun or ended a transaction (BEGIN, COMMIT, ROLLBACK, in a text of
// several too): a caller that keeps what it knows of the connection's
// transaction asks again (InTransaction) when it moved.
func (c *Conn) TxnStatements() uint64 { return c.txnStatements.Load() }

// Close closes the connection, rolling back any open transaction.
func (c *Conn) Close() error {
	if c.duckID != 0 { // asked for it: it may have a reader (SetReader)
		c.db.readers.Delete(c.duckID - 1)
	}
	c.closeKept()
	c.closeSpare()
	// database/sql would hand the driver connection to the next caller with
	// its transaction and temp tables; a session's state must die with it.
	// Returning ErrBadConn from Raw makes database/sql discard it.
	err := c.sc.Raw(func(any) error { return driver.ErrBadConn })
	if errors.Is(err, driver.ErrBadConn) {
		return nil
	}
	return errors.Join(err, c.sc.Close())
}

// duckConnID is DuckDB's id of the connection, unique in the instance.
func (c *Conn) duckConnID() uint64 {
	if c.duckID == 0 {
		var cc mapping.ClientContext
		mapping.ConnectionGetClientContext(c.handle, &cc)
		c.duckID = uint64(mapping.ClientContextGetConnectionId(cc)) + 1 // 0: not known yet
		mapping.DestroyClientContext(&cc)
	}
	return c.duckID - 1
}

// Interrupt stops whatever the connection is running.
func (c *Conn) Interrupt() { mapping.Interrupt(c.handle) }

// Exec runs SQL that returns no rows and returns the rows changed.
func (c *Conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	st, err := c.Prepare(ctx, query)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.Exec(ctx, args)
}

// QueryRows runs a small query through database/sql, for metadata: a
// query that reads, which CatalogVersion does not count.
func (c *Conn) QueryRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := c.sc.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err)
	}
	return rows, nil
}

// QuoteIdent quotes an SQL identifier for DuckDB.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// QuoteString quotes an SQL string literal for DuckDB.
func QuoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
