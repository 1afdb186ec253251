package coordinator

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/token"
	"github.com/skeindb/skein/internal/users"
	"github.com/skeindb/skein/partition"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// reuseConnection is the Flight location meaning "the server you got this
// FlightInfo from".
const reuseConnection = "arrow-flight-reuse-connection://?"

// dist is the query lifecycle across executors: it plans queries with the
// partition package, assigns tasks, signs their tickets, and redeems the
// tickets that come back to the coordinator (proxying a task, or merging
// partial results).
type dist struct {
	// quarantine refuses the texts of queries whose tasks ended executors.
	quarantine *quarantine
	db         *duck.DB
	mergeDB    *duck.DB // partial results and final SQL
	journal    writeJournal
	secret     cluster.Secret
	// tickets is secret's signer of task, merge and single tickets, made
	// once: every DoGet (local queries' too) asks it whether its ticket is
	// the cluster's.
	tickets *token.Signer
	reg     *registry
	aggs    partition.Aggregates
	// builtins are the names (lower case) of the functions DuckDB had at
	// start, its own: a call of another may be a session's TEMP macro.
	builtins   map[string]bool
	log        zerolog.Logger
	mem        memory.Allocator
	batch      duck.BatchSize
	targetRows int64
	// autoRows: --task-rows was left to the planner (0), which cuts a
	// plain scan into about scanTasksPerSlot tasks an executor thread.
	autoRows bool
	// splitMinRows is --split-min-rows: inputs under it run whole as one
	// task, as does any query on one executor (whole.go); 0: never.
	splitMinRows int64
	// localMaxRows is --local-max-rows: a plan of one task reading fewer
	// rows runs here (here.go); 0: never.
	localMaxRows int64
	planSlots    int    // Config.PlanSlots
	mode         string // the default result mode (flightsql.ResultModes)
	// compression is --wire-compression (Compression*).
	compression string
	// exchanges: plan joins and aggregates in stages with exchanges
	// between executors; broadcastRows: the largest join input broadcast.
	exchanges     bool
	broadcastRows int64
	// held is the bytes proxied streams hold back to be able to run a
	// task again (taskStream.fill), within resumeBudget in all.
	held          atomic.Int64
	taskOpenFiles int // Config.TaskOpenFiles
	retries       int
	hist          *history
	// failedIn tells the front door that a query a session planned, its
	// FlightInfo issued at the time given, failed on executors in its own
	// SQL, and whether a reader met the failure
	// (flightsql.Server.FailedInTransaction). Set before serving.
	failedIn func(session string, issued time.Time, err error, read bool)
	tls      cluster.TLS
	life     context.Context // ends when the coordinator shuts down
	stopLife context.CancelFunc
	work     work // every call and goroutine using the layer, waited for at shutdown
	// streams counts the tickets redeemed here whose answers still stream
	// (proxied tasks, merges, single endpoints): a drain waits for them.
	streams atomic.Int64
	limits  flightsql.Limits

	clients *pool                 // Flight clients by executor location
	footers *lru[string, footer]  // row groups and schema by file path, size and mtime
	globs   *lru[string, dirGlob] // what patterns of one directory matched, by pattern
	// keyBounds are a column's bounds in each row group (keyStats), by
	// file path, size, mtime and column.
	keyBounds *lru[string, []partition.Bounds]
	plans     *lru[string, cachedPlan] // checked rewrites by AST, result schema and files
	// gathers says whether a query of small inputs has a plan in stages
	// of one stage gathered (splitGathers), by its shape, views, schema,
	// rows read and the executor threads planned for: a lookup of a new
	// key then plans no stages to find out again.
	gathers *lru[string, bool]
	// facts are what DuckDB said of inputs that read only files (their
	// columns, their estimated rows), by AST, views and files (memo.go);
	// factLookups counts the planner's questions by answer (hit, miss,
	// asked: an input reading more than files, asked every time).
	facts       *lru[string, inputFact]
	factLookups *prometheus.CounterVec
	// planLookups counts the plan cache's answers, by result (hit, miss):
	// a miss prepares the rewrite again, and samples a range sort's keys.
	planLookups *prometheus.CounterVec
	// texts are the queries the planner left local from their text alone
	// (see plan): their reason, by SQL text.
	texts *lru[string, error]
	// sharedCores: run queries whole here while every ready executor is
	// one of this process's (local, the ids in own), see sharesCores.
	sharedCores bool
	mu          sync.Mutex
	own         map[string]bool              // ids of the executors in this process
	views       *lru[string, partition.View] // view definitions by their CREATE VIEW text (viewCost)
	viewTexts   map[viewID]string            // CREATE VIEW texts by oid (catalog.go)
	// viewTextLoads counts the listings that rendered every view's SQL.
	viewTextLoads atomic.Int64
	// catalogs are sessions' listings of their tables and views, by
	// catalog version (catalogEntries); catalogListings counts the
	// listings run.
	catalogs        *lru[duck.CatalogVersion, []catalogEntry]
	catalogListings atomic.Int64
	// parsed are queries' ASTs (json_serialize_sql) and what follows from
	// them alone, by SQL text: DuckDB's parser reads no catalog and no
	// setting, so a text's AST never changes.
	parsed *lru[string, parsedText]
	// textPlans are plans kept by their text while nothing they were
	// planned from changed (textplan.go); textLookups counts their
	// lookups by result (hit, miss, stale: files changed).
	textPlans   *lru[textKey, textPlan]
	textLookups *prometheus.CounterVec
	// textSchemas are the result schemas of the kept plans, by text and
	// catalog version, for PlanKept.
	textSchemas *lru[schemaKey, keptSchema]
	reading     reading     // staged queries read through here, until they end
	owed        owed        // endpoints to be redeemed here, waited for by a drain
	leases      leases      // queries kept while their clients show they want them
	revoked     revocations // queries cancelled or abandoned: their tickets are void
	sched       *scheduler  // gives tasks to executors as they have free slots
}

// Bounds of the caches: footers by count and bytes (a footer costs its
// key and 8 bytes a row group), checked plans by count, idle executor
// connections by count.
const (
	maxFooters     = 100_000
	maxFooterBytes = 64 << 20
	maxPlans       = 512
	maxIdleConns   = 64
	maxTexts       = 4096
	maxTextBytes   = 16 << 20
	maxASTBytes    = 64 << 20
)

// merge is what a merge ticket carries: the partial tasks and the final
// SQL. A single ticket (result mode single) carries the same without SQL:
// the tasks whose results, one after the other, are the answer.
type merge struct {
	Query string     `json:"q"`
	Trace string     `json:"tr,omitempty"` // the client's trace id, for the logs
	User  string     `json:"u"`
	Role  users.Role `json:"r,omitempty"`
	Tasks []string   `json:"-"` // task handles
	SQL   string     `json:"s"`
	// Final, when set, is SQL the coordinator may run instead, over every
	// partition of the Producers' tasks (handles), rather than read Tasks:
	// the last stage's query and SQL over it, when the scheduler finds the
	// producers gave few rows (partition.Plan.FinalHere).
	Final     string   `json:"f,omitempty"`
	Producers []string `json:"-"`
	// Signed, Tasks and Producers are their task numbers and Bundle the
	// signed tickets of those tasks and every task upstream of them, each
	// once (bundled, unbundled): handles carrying them would repeat
	// the tickets upstream of every task.
	TaskNums     []int     `json:"t"`
	ProducerNums []int     `json:"p,omitempty"`
	Bundle       []string  `json:"b"`
	Deadline     time.Time `json:"dl,omitzero"` // the end of --query-timeout
	// Rounds, when set, has the merge run Tasks in rounds until their
	// rows are enough (firstrows.go).
	Rounds *limitRounds `json:"lr,omitempty"`
	// Now is the query's instant, which SQL or Final takes as its
	// parameter when it has one (partition.NowParameter).
	Now string `json:"now,omitempty"`
}

const (
	kindMerge  = "merge"
	kindSingle = "single"
)

// macroAggregates are DuckDB's macros that aggregate (geomean,
// json_group_array), once listed: DuckDB's own, the same for every
// coordinator of the process, and listing them serializes some 130 macro
// bodies (about 150 ms of CPU).
var macroAggregates struct {
	sync.Mutex
	names []string
}

// addMacroAggregates adds DuckDB's macros that aggregate to aggs.
func addMacroAggregates(ctx context.Context, conn *duck.Conn, aggs partition.Aggregates) error {
	macroAggregates.Lock()
	defer macroAggregates.Unlock()
	if macroAggregates.names == nil {
		rows, err := conn.QueryRows(ctx, partition.MacroBodiesSQL)
		if err != nil {
			return fmt.Errorf("listing DuckDB's macros: %w", err)
		}
		defer rows.Close()
		bodies := map[string][][]byte{}
		for rows.Next() {
			var name, ast string
			if err := rows.Scan(&name, &ast); err != nil {
				return err
			}
			bodies[name] = append(bodies[name], []byte(ast))
		}
		if err := rows.Err(); err != nil {
			return err
		}
		found := maps.Clone(aggs)
		if err := found.AddMacros(bodies); err != nil {
			return err
		}
		names := []string{}
		for name := range found {
			if !aggs[name] {
				names = append(names, name)
			}
		}
		macroAggregates.names = names
	}
	for _, name := range macroAggregates.names {
		aggs[name] = true
	}
	return nil
}

// functionNames are the names (lower case) of the functions conn's
// DuckDB has of its own (builtins), and of those SQL created in its
// database (made: persistent macros), in one listing: duckdb_functions()
// takes about 100 ms.
func functionNames(ctx context.Context, conn *duck.Conn) (builtins map[string]bool, made []string, err error) {
	// A temporary one is this connection's: the macros bounding the edit
	// distances, which every connection has.
	rows, err := conn.QueryRows(ctx, "SELECT DISTINCT lower(function_name), internal FROM duckdb_functions() WHERE internal OR database_name <> 'temp'")
	if err != nil {
		return nil, nil, fmt.Errorf("listing DuckDB's functions: %w", err)
	}
	defer rows.Close()
	builtins = map[string]bool{}
	for rows.Next() {
		var name string
		var internal bool
		if err := rows.Scan(&name, &internal); err != nil {
			return nil, nil, err
		}
		if internal {
			builtins[name] = true
		} else {
			made = append(made, name)
		}
	}
	return builtins, made, rows.Err()
}

func newDist(ctx context.Context, db *duck.DB, dataDir string, secret cluster.Secret, reg *registry, cfg Config, mem memory.Allocator, log zerolog.Logger) (*dist, error) {
	conn, err := db.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// An arrow view from before partials had a database of their own
	// (it has no SQL, and would scan freed memory).
	if stale, err := scalar[int64](ctx, conn, `SELECT count(*) FROM duckdb_views()
WHERE database_name = 'data' AND view_name = 'skein_partials' AND sql = ''`); err == nil && stale > 0 {
		_, _ = conn.Exec(ctx, `DROP VIEW data.main.skein_partials`)
	}
	rows, err := conn.QueryRows(ctx, "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'aggregate'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	aggs := partition.Aggregates{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		aggs[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := addMacroAggregates(ctx, conn, aggs); err != nil {
		return nil, err
	}
	// The database's own macros and types (CREATE TYPE), which the
	// executors do not have: a macro named as a function of DuckDB's
	// shadows it here and not there.
	builtins, made, err := functionNames(ctx, conn)
	if err != nil {
		return nil, err
	}
	db.NoteUserFunctions(made...)
	types, err := queryStrings(ctx, conn, "SELECT DISTINCT type_name FROM duckdb_types() WHERE NOT internal")
	if err != nil {
		return nil, fmt.Errorf("listing the database's types: %w", err)
	}
	db.NoteUserTypes(types...)
	// Merges run in an in-memory DuckDB of their own: the partial results
	// they register never touch the managed database, and their SQL can
	// read no file.
	mergeDB, err := duck.Open(ctx, duck.Config{Threads: cfg.Threads, MemoryLimit: cfg.MemoryLimit,
		TempDir: filepath.Join(dataDir, "tmp-merge"), TimeZone: cfg.TimeZone, MaxEditCells: cfg.MaxEditCells,
		BoundsOnDemand: true, RecursiveJSON: true}) // the planner's SQL, from a client's the coordinator checked
	if err != nil {
		return nil, err
	}
	taskRows := cfg.TaskRows
	if taskRows <= 0 {
		taskRows = minTaskRows
	}
	journal := writeJournal{dir: filepath.Join(dataDir, "writes")}
	journal.recover(log)
	life, stop := context.WithCancel(context.Background())
	d := &dist{db: db, mergeDB: mergeDB, journal: journal, secret: secret, tickets: secret.Signer("tickets"), reg: reg, aggs: aggs, builtins: builtins, log: log, mem: mem,
		batch:      duck.Batches(cfg.BatchRows),
		targetRows: taskRows, autoRows: cfg.TaskRows <= 0, splitMinRows: cfg.SplitMinRows, localMaxRows: cfg.LocalMaxRows, planSlots: cfg.PlanSlots, mode: cmp.Or(cfg.ResultMode, flightsql.ResultDirect), exchanges: !cfg.NoExchanges, broadcastRows: cfg.BroadcastRows, taskOpenFiles: cfg.TaskOpenFiles, retries: 2, life: life, stopLife: stop,
		limits: cfg.limits(), views: newLRU(maxTexts, maxASTBytes, viewCost), viewTexts: map[viewID]string{}, own: map[string]bool{},
		sharedCores: cfg.Executors > 0 && cfg.InProcessPlan == PlanLocal, compression: cmp.Or(cfg.WireCompression, CompressionAuto),
		footers: newLRU(maxFooters, maxFooterBytes, func(k string, v footer) int64 { return v.cost(k) }),
		keyBounds: newLRU(maxFooters, maxFooterBytes, func(k string, v []partition.Bounds) int64 {
			return int64(len(k) + 24*len(v))
		}),
		plans:       newLRU(maxPlans, maxTextPlanBytes, cachedPlanCost),
		gathers:     newLRU(maxPlans, maxTextBytes, func(k string, _ bool) int64 { return int64(len(k)) }),
		facts:       newLRU(maxFacts, maxFactBytes, factCost),
		texts:       newLRU(maxTexts, maxTextBytes, func(k string, _ error) int64 { return int64(len(k)) }),
		catalogs:    newLRU(maxListings, maxListingBytes, listingCost),
		globs:       newLRU(maxTexts, maxTextBytes, dirGlobCost),
		parsed:      newLRU(maxTexts, maxASTBytes, parsedCost),
		textPlans:   newLRU(maxTextPlans, maxTextPlanBytes, textPlanCost),
		textSchemas: newLRU(maxTextPlans, maxTextPlanBytes, func(k schemaKey, _ keptSchema) int64 { return int64(len(k.query)) + 256 }),
		textLookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_text_plans_total",
			Help: "Lookups of a distributed query's plan kept by its SQL text, by result: hit (the catalog version, the cluster and the files it reads unchanged: nothing planned), unprepared (a hit before the text was prepared, its result schema the one of its last hit: neither prepared nor planned), miss (planned), stale (kept, but a file it reads was added, removed or rewritten: planned again)."},
			[]string{"result"}),
		planLookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_plan_cache_lookups_total",
			Help: "Lookups of distributed queries' checked plans in the plan cache, by result (hit, miss: the rewrite planned, prepared and, for a range-partitioned sort, its keys sampled again)."},
			[]string{"result"}),
		factLookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_plan_input_facts_total",
			Help: "Questions the planner asked DuckDB about a query's inputs (their columns, their estimated rows), by answer: hit (remembered for the input's AST, views and files), miss (asked, then remembered), asked (an input reading more than files, asked every time)."},
			[]string{"result"})}
	d.clients = newPool(maxIdleConns, d.dial, reg.locations)
	d.leases = leases{expiry: cmp.Or(cfg.EndpointExpiry, defaultEndpointExpiry), grace: reg.interval, now: time.Now}
	d.work.spawn(d.sweepLeases)
	d.sched = newScheduler(reg, life, log)
	d.sched.limit, d.sched.perUser, d.sched.noSteal = cfg.MaxRunningQueries, cfg.MaxRunningQueriesPerUser, cfg.NoStealing
	if cfg.DispatchBatch > 0 {
		d.sched.batch = cfg.DispatchBatch
	}
	if cfg.FinalHereRows != 0 {
		d.sched.hereRows = cfg.FinalHereRows
	}
	d.sched.send, d.sched.drop, d.sched.spawn = d.runAt, d.dropAt, d.work.spawn
	d.sched.admitted = func(qid string, at time.Time) { d.hist.admitted(qid, at) }
	d.sched.lostOne = d.clients.sever
	d.quarantine = newQuarantine()
	d.sched.poisoned = func(text [32]byte, qid string, dead []string) {
		d.log.Error().Str("query_id", qid).Strs("executors", dead).Dur("refused_for", quarantineFor).
			Msg("executors died running a task of the query: its text is refused for a while")
		d.quarantine.add(text, qid, dead)
	}
	d.sched.sqlFailed = func(qid string, err error) { d.sqlFailed(qid, err, false) }
	d.leases.failedRead = func(qid string) { d.sqlFailed(qid, nil, true) }
	d.sched.reran = d.leases.reran
	d.work.spawn(d.sched.loop) // before close can be called: the count is not yet waited on
	return d, nil
}

// sqlFailed tells the session that planned query qid that it failed in
// its own SQL with err (read: a reader met the failure, here or at an
// executor; err nil: a failure of it told before), for its transaction.
func (d *dist) sqlFailed(qid string, err error, read bool) {
	if session, issued, ok := d.leases.origin(qid); ok && session != "" && d.failedIn != nil {
		d.failedIn(session, issued, err, read)
	}
}

// Member implements flightsql.Cluster.
func (d *dist) Member(header string) (string, any, bool) {
	m, err := d.secret.VerifyMember([]byte(header))
	return m.ID, m, err == nil
}

// Action implements flightsql.Cluster.
func (d *dist) Action(ctx context.Context, typ string, body []byte, verified any) ([]byte, error) {
	if err := d.work.enter(); err != nil {
		return nil, err
	}
	defer d.work.leave()
	if typ == cluster.ActionWhere {
		t, err := d.secret.VerifyTask(body)
		if err != nil {
			return nil, fmt.Errorf("%w: task ticket: %w", flightsql.ErrUnauthenticated, err)
		}
		var failedAt string
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(cluster.FailedAtHeader); len(v) > 0 {
				failedAt = v[0]
			}
		}
		loc, err := d.sched.where(ctx, t.Query, t.Task, failedAt)
		return []byte(loc), err
	}
	m, ok := verified.(cluster.Member)
	if !ok {
		var err error
		if m, err = d.reg.verify(body); err != nil {
			return nil, err
		}
	}
	if typ == cluster.ActionRegister {
		if d.tls.Enabled() && !strings.HasPrefix(m.Location, "grpc+tls://") {
			// Its endpoints would be read in the clear by clients that
			// chose TLS, its tickets and results with them (a tester's:
			// registered without a word).
			return nil, fmt.Errorf("%w: executor %s advertises %s, in plaintext, and this coordinator serves TLS: "+
				"give the executor --tls-cert and --tls-key", flightsql.ErrInvalid, m.ID, m.Location)
		}
		if err := d.answersAt(ctx, m); err != nil {
			return nil, err
		}
	}
	if err := d.reg.act(typ, m); err != nil {
		return nil, err
	}
	return json.Marshal(d.reg.ack())
}

// answersAt is nil when the executor registering answers at the location
// it advertises. One advertising an address where nothing answered was
// listed live and given tasks that all failed there, and of two
// advertising one address, the second's tasks ran at the first, its own
// threads idle (a tester's): each is refused, saying why.
func (d *dist) answersAt(ctx context.Context, m cluster.Member) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, lease, err := d.clients.get(m.Location)
	var body []byte
	if err == nil {
		defer lease()
		if ctx, err = d.secret.WithCall(ctx); err == nil {
			body, err = cluster.DoReply(ctx, c, &flight.Action{Type: cluster.ActionPing})
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("%w: executor %s advertises %s, where the coordinator cannot reach it (%v): give it an --advertise address the coordinator and clients reach",
			flightsql.ErrInvalid, m.ID, m.Location, err)
	case len(body) > 0 && string(body) != m.ID:
		return fmt.Errorf("%w: executor %s advertises %s, where executor %s answers: give each executor an address of its own (--advertise)",
			flightsql.ErrInvalid, m.ID, m.Location, body)
	}
	return nil
}

// Plan implements flightsql.Cluster: it splits the query if the partition
// package proves it safe and executors are alive, else leaves it local.
func (d *dist) Plan(ctx context.Context, conn *duck.Conn, tag flightsql.QueryTag, user, query string, schema *arrow.Schema, resultMode string, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if err := d.work.enter(); err != nil {
		return nil, err
	}
	defer d.work.leave()
	if err := d.quarantine.check(query); err != nil {
		return nil, err
	}
	start := time.Now()
	var deadline time.Time
	if d.limits.QueryTimeout > 0 {
		deadline = start.Add(d.limits.QueryTimeout) // tasks start now, with the FlightInfo
	}
	ready := d.reg.ready()
	if len(ready) == 0 {
		return runsLocal(errNoExecutors)
	}
	if d.sharesCores(ready) {
		return runsLocal(errSharedCores)
	}
	if why, ok := d.texts.get(query); ok {
		return runsLocal(why)
	}
	log := flightsql.QueryLog(d.log, tag.ID, tag.Trace)
	p, err := d.plan(ctx, conn, query, schema)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The planning ran out of time (--query-timeout) or its
			// client went: whatever failed for it, an interrupted read
			// of files' footers, is no reason to run the query here
			// after the time it had (a tester's: a minute past 10 s).
			return nil, fmt.Errorf("planning: %w", cerr)
		}
		if errors.Is(err, partition.ErrLocal) {
			log.Debug().Str("reason", err.Error()).Msg("query runs local")
			return runsLocal(err)
		}
		return nil, err
	}
	if p.here != "" {
		log.Debug().Str("reason", p.here).Msg("query runs local")
		return runsLocal(fmt.Errorf("%w: %s", partition.ErrLocal, p.here))
	}
	return d.issue(ctx, tag, user, query, schema, resultMode, desc, ready, p, start, deadline)
}

// PlanKept implements flightsql.Cluster: the plan kept for the query's
// text (textplan.go), issued as Plan issues it, when the text was planned
// before at the connection's catalog version and every file it reads is
// listed as it was then. Its result schema is then the one it was planned
// for, and the front door need not prepare the text again to learn it
// (DuckDB globbing and binding the scan: 57 ms of CPU for an aggregate
// over 12,000 files, 13 ms over 3,000). nil, and nothing done, otherwise
// (and for a plan run here, whose statement the front door runs): it
// prepares the text and calls Plan, which lists the files again.
func (d *dist) PlanKept(ctx context.Context, conn *duck.Conn, tag flightsql.QueryTag, user, query, resultMode string, desc *flight.FlightDescriptor) (*flight.FlightInfo, *arrow.Schema, error) {
	if err := d.work.enter(); err != nil {
		return nil, nil, nil // Plan says so
	}
	defer d.work.leave()
	if d.quarantine.check(query) != nil {
		return nil, nil, nil // Plan says why
	}
	start := time.Now()
	ks, ok := d.textSchemas.get(schemaKey{query: query, catalog: conn.CatalogVersion()})
	if !ok {
		return nil, nil, nil
	}
	schema := ks.schema
	ready := d.reg.ready()
	if len(ready) == 0 || d.sharesCores(ready) {
		return nil, nil, nil
	}
	// The plan the schema was confirmed with (keptPlan), its files as
	// they were: a plan kept since (files changed, planned again) is
	// confirmed at its own first hit.
	kept, ok := d.textPlans.get(d.textKeyOf(conn, query, schema))
	if !ok || kept.p != ks.p || kept.p.here != "" || !d.unchanged(ctx, conn, d.newListings(), kept.files) {
		return nil, nil, nil
	}
	d.textLookups.WithLabelValues("unprepared").Inc()
	var deadline time.Time
	if d.limits.QueryTimeout > 0 {
		deadline = start.Add(d.limits.QueryTimeout)
	}
	now, err := instant(ctx, conn, kept.p, start)
	if err != nil {
		return nil, nil, err
	}
	info, err := d.issue(ctx, tag, user, query, schema, resultMode, desc, ready, kept.p.at(now), start, deadline)
	return info, schema, err
}

// issue assigns and signs the tasks of p, a plan of query, starts them and
// answers with its FlightInfo.
func (d *dist) issue(ctx context.Context, tag flightsql.QueryTag, user, query string, schema *arrow.Schema, resultMode string,
	desc *flight.FlightDescriptor, ready []cluster.Member, p *planned, start, deadline time.Time) (*flight.FlightInfo, error) {
	log := flightsql.QueryLog(d.log, tag.ID, tag.Trace)
	qid := tag.ID
	// How the answer is read, as explained and recorded: the client's
	// choice, else the server's; a merge's through the coordinator
	// whatever was asked.
	results := cmp.Or(resultMode, d.mode)
	if p.mode == partition.ScatterMerge {
		results = flightsql.ResultProxy
	}
	proto := cluster.Task{Query: qid, Trace: tag.Trace, User: user, Role: flightsql.RoleFrom(ctx), Deadline: deadline}
	handles, execs, err := d.sign(p, proto, d.codecsFor(ctx, ready, results == flightsql.ResultDirect))
	if err != nil {
		return nil, err
	}
	if execs == nil {
		return runsLocal(errNoExecutors)
	}
	all, allExecs := handles, execs
	// The gather stage's tasks are the endpoints (or the merge's input).
	handles, execs = handles[len(handles)-len(p.tasks):], execs[len(execs)-len(p.tasks):]
	single := results == flightsql.ResultSingle
	// A range-partitioned sort answers with its partitions' endpoints in
	// order: the Flight SQL way to say their concatenation is sorted (a
	// single endpoint streams them in that order).
	info := &flight.FlightInfo{Schema: flight.SerializeSchema(flightsql.ResultSchema(schema), d.mem),
		FlightDescriptor: desc, TotalRecords: -1, TotalBytes: -1, Ordered: p.sorted()}
	gather := merge{Query: qid, Trace: tag.Trace, User: user, Role: flightsql.RoleFrom(ctx), Tasks: handles, Deadline: deadline,
		Now: p.instant}
	switch {
	case p.mode == partition.ScatterMerge || single:
		kind := kindSingle
		gather.TaskNums = numbers(len(all)-len(handles), len(handles))
		if p.mode == partition.ScatterMerge {
			kind, gather.SQL, gather.Rounds = kindMerge, p.merge, p.rounds
			if p.finalHere != "" {
				first, n := p.stageTasks(p.finalFrom)
				gather.Final, gather.Producers, gather.ProducerNums = p.finalHere, all[first:first+n], numbers(first, n)
			}
		}
		gather.Bundle = cluster.Tickets(append(slices.Clone(gather.Tasks), gather.Producers...))
		h, err := d.tickets.Sign(kind, gather, time.Now().Add(cluster.TaskTTL))
		if err != nil {
			return nil, err
		}
		ticket, err := cluster.TaskTicket(h)
		if err != nil {
			return nil, err
		}
		info.Endpoint = []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: ticket}}}
	default:
		for i, h := range handles {
			ticket, err := cluster.TaskTicket(h)
			if err != nil {
				return nil, err
			}
			ep := &flight.FlightEndpoint{Ticket: &flight.Ticket{Ticket: ticket}}
			if results == flightsql.ResultDirect {
				for _, id := range execs[i] {
					if loc, ok := d.reg.location(id); ok {
						ep.Location = append(ep.Location, &flight.Location{Uri: loc})
					}
				}
				ep.Location = append(ep.Location, &flight.Location{Uri: reuseConnection})
			}
			info.Endpoint = append(info.Endpoint, ep)
		}
	}
	explained := p.explain(execs)
	explained.ResultMode, explained.Endpoints = results, len(info.Endpoint)
	meta, err := json.Marshal(explained)
	if err != nil {
		return nil, err
	}
	info.AppMetadata = meta
	final := p.final(len(all))
	// A draining coordinator waits for the endpoints it serves itself.
	switch {
	case p.mode == partition.ScatterMerge || single:
		d.owed.add(qid, []int{-1}, flightsql.ConnOpen(ctx))
	case results == flightsql.ResultProxy:
		d.owed.add(qid, final, flightsql.ConnOpen(ctx))
	}
	// A staged query that the coordinator reads, and any it reads through
	// a single endpoint, is cancelled on every executor once read, or at
	// its first failure: nothing it holds there is read after that.
	// So is a LIMIT whose merge runs its tasks in rounds: the tasks it
	// never released are dropped then.
	if single || p.stages != nil && results == flightsql.ResultProxy || p.rounds != nil {
		d.track(qid, all[0], final)
	}
	// Its endpoints expire unless the client reads, polls or renews them.
	read, direct := final, results == flightsql.ResultDirect
	if p.mode == partition.ScatterMerge || single {
		read, direct = []int{-1}, false
	}
	expires := timestamppb.New(d.leases.add(qid, tag, all[0], read, direct, direct && p.stages != nil, deadline))
	for _, ep := range info.Endpoint {
		ep.ExpirationTime = expires
	}
	// Recorded before any task can start, so that no report finds it
	// missing. A scatter query ends with its tasks, unless the single
	// endpoint streams them: then with that stream, as a merge does.
	d.hist.started(tag, user, query, p.modeName(), len(all), true, p.mode == partition.Scatter && !single)
	if len(final) > 0 {
		d.hist.resultTasks(qid, final[0])
	}
	d.hist.describe(qid, results, &explained, allExecs, len(meta))
	tasks, stages := p.jobOf(all, allExecs)
	queued := d.sched.add(qid, user, tasks, stages)
	d.sched.setText(qid, sha256.Sum256([]byte(query)))
	log.Info().Str("mode", p.modeName()).Int("tasks", len(all)).Bool("queued", queued).
		Dur("planning", time.Since(start)).Msg("query planned")
	return info, nil
}

// sign assigns and signs every task of a plan, its stages' in order: it
// returns each handle and its executors, the gather stage's last (none if
// no executor is alive).
func (d *dist) sign(p *planned, proto cluster.Task, z codecs) (handles []string, execs [][2]string, err error) {
	if p.stages != nil {
		return d.signStages(p, proto, z)
	}
	execs = d.reg.assign(len(p.tasks))
	for i, pt := range p.tasks[:len(execs)] {
		t := proto
		t.Task, t.SQL, t.Slice, t.Literals, t.Ordered, t.Codec = i, pt.sql, pt.slice, pt.literals, pt.ordered, z.gather
		t.Write = pt.write
		t.Executor, t.Alt, t.Merged = execs[i][0], execs[i][1], proto.Merged || p.merge != ""
		h, err := d.secret.SignTask(t)
		if err != nil {
			return nil, nil, err
		}
		handles = append(handles, h)
	}
	return handles, execs, nil
}

var (
	errNoExecutors = fmt.Errorf("%w: no executor is alive", partition.ErrLocal)
	errSharedCores = fmt.Errorf("%w: the executors run in this process and share its cores, "+
		"so splitting would add exchanges and no CPU: the coordinator's DuckDB runs it with all its threads "+
		"(--in-process-plan distribute splits it)", partition.ErrLocal)
)

// inProcess notes an executor that runs in this process (skein serve).
func (d *dist) inProcess(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.own[id] = true
}

// sharesCores says whether queries run whole here: with --in-process-plan
// local, while every ready executor is one of this process's. Such
// executors add no cores to the coordinator's DuckDB, which already uses
// them all, and each exchange costs a Flight hop and a copy. An executor
// of another process (a serve given --cluster-secret-file) brings cores
// of its own: then queries are split as on any cluster.
func (d *dist) sharesCores(ready []cluster.Member) bool {
	if !d.sharedCores {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range ready {
		if !d.own[m.ID] {
			return false
		}
	}
	return true
}

// runsLocal is the FlightInfo of a query that runs whole here: no
// endpoints (the Flight SQL server gives its own), and why as its
// app_metadata, for --explain.
func runsLocal(why error) (*flight.FlightInfo, error) {
	meta, err := json.Marshal(explanation{Mode: partition.Local.String(), Reason: why.Error()})
	if err != nil {
		return nil, err
	}
	return &flight.FlightInfo{AppMetadata: meta}, nil
}

// planned is a split query: its tasks, each the SQL it runs over its
// slice (bound as $1, $2, $3), and, for scatter-merge, the final SQL over
// their results. A value: it holds nothing of its planning's session
// (partition.Stage.Shape), and is read, never changed, once planned, so
// that the queries of its text may share it (textplan.go).
type planned struct {
	mode  partition.Mode
	tasks []plannedTask // the gather stage's, with stages
	merge string
	// A plan in stages: every stage's tasks, the last one's are tasks.
	stages []plannedStage
	// ordered: the gather stage's outputs, in task order, are the answer
	// sorted (partition.Plan.Sorted); anyRows: the stages pay however few
	// rows the query reads (partition.Plan.AnyRows).
	ordered, anyRows bool
	// finalHere is the merge with the last stage's query in it, over the
	// partitions of stage finalFrom, for the coordinator to run instead
	// of the last stage when that stage's input is small (see
	// partition.Plan.FinalHere); "" if the plan has none.
	finalHere string
	finalFrom int
	// pruned says which slices of its scans the filter's bounds dropped
	// (prune.go), for --explain.
	pruned []string
	// rounds, for any n rows (partition.Analysis.AnyRowsLimit), says how
	// its merge runs the tasks (firstrows.go); nil for any other plan.
	rounds *limitRounds
	// now says some SQL of the plan, a task's, the merge or finalHere,
	// takes the query's instant (partition.NowParameter); instant is it
	// (partition.NowText), set for one run (at).
	now     bool
	instant string
	// here says why the plan runs on the coordinator instead, as a local
	// query (here.go); "" for a plan run on executors.
	here string
	// firstRows: the plan is one task reading its scan's first rows until
	// it has this many (LIMIT n [OFFSET m] without ORDER BY or WHERE,
	// whole.go); 0 for any other plan.
	firstRows int64
	// filteredRows: the plan is one task whose query reads one scan, and
	// these are the rows of its row groups that the filter's Parquet
	// statistics do not refute (filteredRows, here.go); 0: not known.
	filteredRows int64
}

type plannedTask struct {
	sql      string
	slice    partition.Slice
	literals []string // the SQL's parameters after the slice's (cluster.Task.Literals)
	ordered  bool     // its output order is fixed: a broken stream of it can resume
	// now says the SQL takes the query's instant as its last parameter
	// (partition.NowParameter), after the literals.
	now bool
	// write, for a task of a distributed COPY, is the part it writes
	// (cluster.Task.Write).
	write *cluster.PartWrite
}

// at is the plan of one run at instant now: a copy whose tasks that take
// the query's instant have it as their last literal, p left as it is (a
// plan kept for its text or shape holds no instant: each run takes its
// own). p itself when no SQL of it takes one.
func (p *planned) at(now time.Time) *planned {
	if !p.now {
		return p
	}
	q := *p
	q.instant = partition.NowText(now)
	bind := func(tasks []plannedTask) []plannedTask {
		out := slices.Clone(tasks)
		for i, t := range out {
			if t.now {
				out[i].literals = append(slices.Clone(t.literals), q.instant)
			}
		}
		return out
	}
	q.tasks = bind(p.tasks)
	if n := len(p.stages); n > 0 {
		q.stages = slices.Clone(p.stages)
		for i := range q.stages {
			q.stages[i].tasks = bind(q.stages[i].tasks)
		}
		q.tasks = q.stages[n-1].tasks
	}
	return &q
}

// planText plans a query from its text: seen are the planning's
// listings. A text planned before whose query reads files alone
// (partition.TextReads) has them listed first, into seen, and keep says
// its plan may be kept for the text (textplan.go); a text seen for the
// first time (a lookup's new key, mostly) is not, and costs no more.
func (d *dist) planText(ctx context.Context, conn *duck.Conn, query string, schema *arrow.Schema, seen listings) (_ *planned, keep bool, err error) {
	text, again, err := d.parse(ctx, conn, query)
	if err != nil {
		return nil, false, err
	}
	ast := text.ast
	views := &catalogViews{ctx: ctx, conn: conn, d: d}
	// Listed before it is planned, so that what a kept plan was planned
	// from is never newer than what it is checked against.
	if again {
		if reads, ok := partition.TextReads([]byte(ast), views.view); ok {
			_, err := seen.stat(ctx, conn, reads.Paths)
			keep = err == nil
		}
	}
	p, err := d.planAST(ctx, conn, query, text, views, schema, seen)
	if err != nil {
		return nil, false, err
	}
	if why := d.runHere(ctx, conn, seen, p, text.marked, views.view); why != "" {
		p = p.ranHere(why)
	}
	return p, keep, nil
}

// planAST plans a query from its parsed text.
func (d *dist) planAST(ctx context.Context, conn *duck.Conn, query string, text parsedText, views *catalogViews, schema *arrow.Schema, seen listings) (*planned, error) {
	var err error
	ast := text.ast
	scanRows := func(paths []string) (int64, error) {
		files, err := d.filesOnce(ctx, conn, seen, paths)
		return totalRows(files), err
	}
	facts := &inputFacts{d: d, views: views.view, ctx: ctx, conn: conn, seen: seen}
	// Whether the planner asked about the catalog or the files: if not,
	// its decision follows from the text alone.
	consulted := false
	view := func(catalog, schema, name string) (partition.View, bool) {
		consulted = true
		return views.view(catalog, schema, name)
	}
	rows := func(paths []string) (int64, error) {
		consulted = true
		return scanRows(paths)
	}
	// The files a join input each task reads itself is pinned to
	// (partition.Env.Files) are in the plan's cache keys: a plan kept
	// names them, and one more file is another plan.
	var pins strings.Builder
	listed := func(paths []string) ([]partition.File, error) {
		consulted = true
		files, err := d.filesOnce(ctx, conn, seen, paths)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			fmt.Fprintf(&pins, "\x00pinned %s %d %d %d", f.Path, f.Size, f.Modified, f.Tail)
		}
		return files, nil
	}
	cols := func(item partition.Node) ([]partition.Column, error) {
		consulted = true
		return facts.columns(item)
	}
	keyStats := func(paths []string, column string) ([]partition.File, error) {
		consulted = true
		return d.keyStats(ctx, conn, seen, paths, column)
	}
	pruneStats := func(paths []string, column, typ string) ([]partition.File, error) {
		consulted = true
		return d.columnStats(ctx, conn, seen, paths, column, typ, true)
	}
	hive := func(paths []string) (partition.Hive, error) {
		// Files with no key=value directory change no decision: one
		// local for another reason (random()) is still remembered.
		h, err := hiveOf(ctx, conn, seen, paths)
		if err != nil || h.Read() {
			consulted = true
		}
		return h, err
	}
	sessionFunction := func(name string) bool {
		if d.db.UserFunction(name) {
			return true // a macro (of a session, or the database), maybe named as one of DuckDB's
		}
		if d.builtins[strings.ToLower(name)] {
			return false // DuckDB's own: the executors have it
		}
		consulted = true
		n, err := scalar[int64](ctx, conn, `SELECT count(*) FROM duckdb_functions()
WHERE database_name = 'temp' AND lower(function_name) = lower($1)`, name)
		return err != nil || n > 0 // not known to be everywhere: here
	}
	// The constants of the WHERE that no value of theirs changes the plan
	// of, marked: a plan is reused for other values of them.
	marked, values := text.marked, text.values
	names := fieldNames(schema)
	a, err := partition.Analyze(marked, partition.Env{Aggregates: d.aggs, View: view, Rows: rows,
		Exchanges: d.exchanges, Partitions: d.slots(), BroadcastRows: d.broadcastRows, Columns: cols,
		Estimate: facts.estimate, KeyStats: keyStats, PruneStats: pruneStats, Hive: hive, Names: names, Files: listed,
		TaskOpenFiles: d.taskOpenFiles, SessionFunction: sessionFunction, SessionType: d.db.UserType})
	if errors.Is(err, partition.ErrLocal) && !consulted {
		// Local whatever the catalog holds (SELECT 1, a volatile function,
		// a recursive WITH): parsing and analysing it again would give the
		// same answer. A query naming a table or a view, or reading files,
		// is planned each time: a view created or dropped, or files
		// changed, may change it.
		d.texts.put(query, err)
	}
	if err != nil {
		return nil, err
	}
	// The plan cache key: the AST, the views it read (the stage planner
	// reads some, those in a WITH computed once, after Analyze), the
	// result schema.
	cacheKey := func() string { return ast + views.key() + "\x00" + schema.String() + pins.String() }
	// The same with the marked constants counted by type only
	// (partition.MarkLiterals), for a plan whose SQL takes them as
	// parameters (lits, their texts).
	if text.shape == "" {
		if text.shape, err = partition.Shape(marked); err != nil {
			return nil, err
		}
		d.parsed.put(query, text)
	}
	shape := text.shape
	shapeKey := func() string { return shape + views.key() + "\x00" + schema.String() + pins.String() }
	var lits []string
	if values != "" {
		if lits, err = partition.LiteralArgs(values); err != nil {
			lits = nil // written with its constants, for each
		}
	}
	// Where splitting cannot pay, the query runs whole as one task, but
	// for a plan in stages that pays however few rows it reads
	// (anyRowsFirst): made first, and then not made again below.
	// The plan in stages is made once, when first asked for: before the
	// one-task plan where it may pay however few rows the query reads
	// (anyRowsFirst), by the one-task plan for a query of small inputs
	// (splitGathers), or below.
	var staged *planned
	var stagedErr error
	made := false
	stages := func() (*planned, error) {
		if !made {
			made = true
			staged, stagedErr = d.planStages(ctx, conn, seen, a, cacheKey, schema)
		}
		return staged, stagedErr
	}
	if d.anyRowsFirst(a) {
		if p, err := stages(); err == nil && p != nil && p.anyRows {
			return p, nil
		}
	}
	small := func() *planned {
		if !d.exchanges {
			return nil
		}
		p, err := stages()
		if err != nil {
			return nil
		}
		return p
	}
	if p, err := d.planWhole(ctx, conn, seen, a, marked, lits, views.view, cacheKey, shapeKey, schema, small); p != nil || err != nil {
		return p, err
	}
	// A UNION ALL is planned branch by branch; anything else is one part.
	parts := a.Branches
	if parts == nil {
		parts = []*partition.Analysis{a}
	}
	if d.exchanges {
		if staged, stagedErr := stages(); staged != nil || stagedErr != nil {
			return staged, stagedErr
		}
	}
	// The plan cache key: the AST, the views, the schema, the files of
	// each part's slices before pruning, and the task templates and merges written
	// for the slices kept, the marked constants of all of them counted by
	// type only (partition.MarkLiterals). Two lookups of other keys are
	// one plan: their rewrite is checked once, and pruning (per query)
	// decides which slices run it. Its tasks' SQL takes the marked
	// constants as parameters where it can, so that it is written once
	// too.
	var key strings.Builder
	key.WriteString(shapeKey())
	sliced := make([][]partition.Slice, len(parts))
	asts := make([]partASTs, len(parts))
	var pruned []string
	for i, part := range parts {
		var all []partition.Slice
		if sliced[i], all, err = d.scanSlices(ctx, conn, seen, part, &pruned); err != nil {
			return nil, fmt.Errorf("%w: %w", partition.ErrLocal, err)
		}
		if len(sliced[i]) == 0 {
			return nil, fmt.Errorf("%w: no rows to split", partition.ErrLocal)
		}
		for _, f := range sliceStamps(all) {
			fmt.Fprintf(&key, "\x00%s", f)
		}
		if asts[i], err = templates(part, i, sliced[i], names, len(lits), &key); err != nil {
			return nil, err
		}
		key.WriteString("\x00" + part.ReadsAs()) // the first file, when the files' schemas differ
	}
	lit := lits != nil
	for _, p := range asts {
		lit = lit && p.lit
	}
	fmt.Fprintf(&key, "\x00literals %v", lit)
	// A query planned before over the same files reuses its rewrites.
	c, ok := d.cachedPlan(key.String())
	switch {
	case !ok:
		if lit {
			// The SQL with parameters must bind as it does with the
			// constants, else each value gets SQL of its own.
			lit = d.literalsBind(ctx, conn, parts, sliced, names, schema, len(lits))
		}
		c = cachedPlan{tasks: map[taskShape]string{}, values: values, literals: lit}
		c.now, c.mergeNow = nowOf(asts)
		for i, part := range parts {
			tmpl := asts[i].tasks
			if lit {
				tmpl = asts[i].params
			}
			first := shapeOf(i, sliced[i][0])
			if c.tasks[first], c.merge, err = d.rewrite(ctx, conn, part, sliced[i][0], names, schema,
				tmpl[first], asts[i].merge); err != nil {
				return nil, err
			}
			// Slices of whole files take as many parameters as files.
			for _, sh := range asts[i].order[1:] {
				if c.tasks[sh], err = deserialize(ctx, conn, tmpl[sh]); err != nil {
					return nil, err
				}
			}
		}
		d.plans.put(key.String(), c)
	case c.literals:
		// Its SQL takes these constants as parameters.
	case c.values != values:
		// Checked for other constants: only the SQL to write again, with
		// these.
		if c, err = render(ctx, conn, asts); err != nil {
			return nil, err
		}
		c.values = values
		c.now, c.mergeNow = nowOf(asts)
		d.plans.put(key.String(), c)
	}
	p := &planned{mode: a.Mode, merge: c.merge, pruned: pruned, now: c.mergeNow}
	if n, want, ok := a.AnyRowsLimit(); ok && len(parts) == 1 {
		p.rounds = d.limitRounds(n, want, len(sliced[0]))
	}
	if !c.literals {
		lits = nil
	}
	for i := range parts {
		for _, s := range sliced[i] {
			s.Pinned = parts[i].Pinned
			now := c.now[shapeOf(i, s)]
			p.tasks = append(p.tasks, plannedTask{sql: c.tasks[shapeOf(i, s)], slice: s, ordered: parts[i].Ordered(), literals: lits, now: now})
			p.now = p.now || now
		}
	}
	return p, nil
}

// parsedText is what follows from a query's text alone: its AST
// (DuckDB's JSON of it), the AST with the constants of the WHERE that no
// value of theirs changes the plan of marked (partition.MarkLiterals) and
// their values, and the marked AST's shape (partition.Shape; empty until
// a planning needs it). Immutable once cached: plannings share it.
type parsedText struct {
	ast    string
	marked []byte
	values string
	shape  string
	// bound: the text of a prepared query with its parameters' values
	// in place, cached with the AST they were written into (PlanBound)
	// before it was planned: its first planning is its first sight.
	bound bool
}

func parsedCost(k string, v parsedText) int64 {
	return int64(len(k) + len(v.ast) + len(v.marked) + len(v.values) + len(v.shape))
}

// parse is what follows from a query's text, from the cache when the
// text was planned before (again).
func (d *dist) parse(ctx context.Context, conn *duck.Conn, query string) (_ parsedText, again bool, err error) {
	if p, ok := d.parsed.get(query); ok {
		if p.bound {
			p.bound = false
			d.parsed.put(query, p)
			return p, false, nil
		}
		return p, true, nil
	}
	ast, err := serialize(ctx, conn, query)
	if errors.Is(err, errASTTooLarge) {
		d.texts.put(query, err) // not serialized again to learn it
	}
	if err != nil {
		return parsedText{}, false, err
	}
	p := parsedText{ast: ast}
	if p.marked, p.values, err = partition.MarkLiterals([]byte(ast)); err != nil {
		return parsedText{}, false, err
	}
	d.parsed.put(query, p)
	return p, false, nil
}

// literalsBind says the check of every part's rewrite (over its first
// slice) prepares with its n marked constants as parameters
// (partition.Parameterize), and gives the query's schema: DuckDB binds
// them as it did the constants, whatever their value.
func (d *dist) literalsBind(ctx context.Context, conn *duck.Conn, parts []*partition.Analysis, sliced [][]partition.Slice, names []string, schema *arrow.Schema, n int) bool {
	for i, part := range parts {
		check, err := part.CheckAST(sliced[i][0], names)
		if err != nil {
			return false
		}
		check, ok, err := partition.Parameterize(check, 0, n)
		if err != nil || !ok {
			return false
		}
		sql, err := deserialize(ctx, conn, check)
		if err != nil {
			return false
		}
		got, err := d.rewriteSchema(ctx, conn, sql)
		if err != nil {
			d.log.Debug().Err(err).Msg("a rewrite with its constants as parameters does not prepare: planned for each value")
			return false
		}
		if !got.Equal(schema) {
			return false
		}
	}
	return true
}

// sliceStamps are the files slices read, each once, in order, with the
// size, modification time and tail they were listed with where a slice
// has them: in a plan's key, so that a file rewritten (other columns,
// other types) is planned and its rewrite checked again. Keyed by name
// alone, a prepared query over a file rewritten with a VARCHAR where an
// INTEGER was reused the plan checked for the INTEGER: its FlightInfo
// said int32 and its streams utf8 (a tester's).
func sliceStamps(sl []partition.Slice) []string {
	stamps := map[string]string{}
	for _, s := range sl {
		if s.File != "" && s.Size != 0 {
			stamps[s.File] = fmt.Sprintf("%s\x00%d\x00%d\x00%d", s.File, s.Size, s.Modified, s.Tail)
		}
	}
	files := sliceFiles(sl)
	for i, f := range files {
		if st, ok := stamps[f]; ok {
			files[i] = st
		}
	}
	return files
}

// sliceFiles are the files slices read, each once, in order: what a
// plan's key holds of its slices, whose row ranges vary with pruning and
// with the scheduler's measure of the executors (tailRows).
func sliceFiles(sl []partition.Slice) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range sl {
		for _, f := range append([]string{s.File}, s.Files...) {
			if f != "" && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// partASTs are a part's task templates by shape (in the order of its
// slices) and its merge, as ASTs. params are the templates with the
// query's marked constants as parameters (partition.Parameterize), lit
// says every template has one and the merge holds none of the constants.
type partASTs struct {
	tasks, params map[taskShape][]byte
	order         []taskShape
	merge         []byte // nil but for scatter-merge
	lit           bool
	// now says which templates, and whether the merge, take the query's
	// instant as their last parameter (partition.NowParameter).
	now      map[taskShape]bool
	mergeNow bool
}

// templates are the ASTs of part i's task templates for its slices and
// of its merge, and with the query's n marked constants as parameters;
// their shapes (partition.Shape) are added to key.
func templates(part *partition.Analysis, i int, slices []partition.Slice, names []string, n int, key *strings.Builder) (partASTs, error) {
	out := partASTs{tasks: map[taskShape][]byte{}, params: map[taskShape][]byte{}, lit: n > 0, now: map[taskShape]bool{}}
	add := func(what string, ast []byte) error {
		sh, err := partition.Shape(ast)
		fmt.Fprintf(key, "\x00%s %s", what, sh)
		return err
	}
	args := map[taskShape]int{} // the slice's parameters, by shape
	for _, s := range slices {
		sh := shapeOf(i, s)
		if k, ok := args[sh]; ok {
			out.lit = out.lit && k == len(s.Args())
			continue
		}
		args[sh] = len(s.Args())
		tmpl, err := part.TemplateAST(s, names)
		if err == nil {
			err = add(fmt.Sprintf("task %d %d %v", sh.part, sh.files, sh.keys), tmpl)
		}
		if err != nil {
			return out, err
		}
		out.tasks[sh], out.order = tmpl, append(out.order, sh)
		if out.lit {
			var ok bool
			if out.params[sh], ok, err = partition.Parameterize(tmpl, args[sh], n); err != nil {
				return out, err
			}
			out.lit = ok
		}
		// The instant after every other parameter, the literals' too.
		if out.tasks[sh], out.now[sh], err = partition.NowParameter(tmpl); err != nil {
			return out, err
		}
		if out.params[sh] != nil {
			if out.params[sh], _, err = partition.NowParameter(out.params[sh]); err != nil {
				return out, err
			}
		}
	}
	if part.Mode == partition.ScatterMerge {
		var err error
		if out.merge, err = part.MergeAST(partialsView, names); err == nil {
			err = add("merge", out.merge)
		}
		if err != nil {
			return out, err
		}
		if out.lit {
			// The merge runs here without parameters: it must hold none
			// of the constants.
			_, out.lit, err = partition.Parameterize(out.merge, 0, 0)
			if err != nil {
				return out, err
			}
		}
		if out.merge, out.mergeNow, err = partition.NowParameter(out.merge); err != nil {
			return out, err
		}
	}
	return out, nil
}

// nowOf is which task templates of the parts, and whether a merge, take
// the query's instant.
func nowOf(asts []partASTs) (now map[taskShape]bool, merge bool) {
	now = map[taskShape]bool{}
	for _, p := range asts {
		maps.Copy(now, p.now)
		merge = merge || p.mergeNow
	}
	return now, merge
}

// render writes the SQL of a plan's templates and merge (that of the
// last part, as rewrite gives it) from their ASTs, once a plan of their
// shape was checked.
func render(ctx context.Context, conn *duck.Conn, asts []partASTs) (cachedPlan, error) {
	c := cachedPlan{tasks: map[taskShape]string{}}
	var err error
	for _, p := range asts {
		for _, sh := range p.order {
			if c.tasks[sh], err = deserialize(ctx, conn, p.tasks[sh]); err != nil {
				return c, err
			}
		}
		c.merge = ""
		if p.merge != nil {
			if c.merge, err = deserialize(ctx, conn, p.merge); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// cachedPlan looks a plan up in the cache, counting hits and misses.
func (d *dist) cachedPlan(key string) (cachedPlan, bool) {
	c, ok := d.plans.get(key)
	result := "miss"
	if ok {
		result = "hit"
	}
	d.planLookups.WithLabelValues(result).Inc()
	return c, ok
}

// final are the indexes, among a plan's n signed tasks, of its gather
// stage's: the last ones.
func (p *planned) final(n int) []int {
	out := make([]int, len(p.tasks))
	for i := range out {
		out[i] = n - len(p.tasks) + i
	}
	return out
}

// withGather is a copy of p whose gather stage's tasks are tasks, p left
// as it is.
func (p *planned) withGather(tasks []plannedTask) *planned {
	q := *p
	q.tasks = tasks
	if n := len(p.stages); n > 0 {
		q.stages = slices.Clone(p.stages)
		q.stages[n-1].tasks = tasks
	}
	return &q
}

// sorted says the plan's endpoints, in order, give the answer sorted.
func (p *planned) sorted() bool { return p.ordered }

// modeName is the plan's mode as explained and recorded: a plan in
// stages is "stages".
func (p *planned) modeName() string {
	if p.stages != nil {
		return "stages"
	}
	return p.mode.String()
}

// taskShape is what a task template depends on: the part of the query
// (a UNION ALL branch), for a slice of whole files how many, and for a
// slice cut by key ranges its bounds (a join input is read in them).
type taskShape struct {
	part, files int
	keys        partition.Bounds
}

func shapeOf(part int, s partition.Slice) taskShape {
	t := taskShape{part: part, files: len(s.Files)}
	if s.Keys != nil {
		t.keys = *s.Keys
	}
	return t
}

// rewrite is the task template and merge SQL of a split query (from
// their ASTs, tmpl for slice s and mergeAST, nil but for scatter-merge),
// checked by preparing the rewrite over slice s: it must give exactly the
// original's columns and types.
func (d *dist) rewrite(ctx context.Context, conn *duck.Conn, a *partition.Analysis, s partition.Slice, names []string, schema *arrow.Schema, tmpl, mergeAST []byte) (task, merge string, err error) {
	check, err := a.CheckAST(s, names)
	if err != nil {
		return "", "", err
	}
	if mergeAST == nil {
		mergeAST = []byte(`{"error":false,"statements":[]}`)
	}
	rows, err := conn.QueryRows(ctx, `SELECT json_deserialize_sql($1::JSON), json_deserialize_sql($2::JSON),
  CASE WHEN $4 THEN json_deserialize_sql($3::JSON) ELSE '' END`, string(check), string(tmpl), string(mergeAST),
		a.Mode == partition.ScatterMerge)
	if err != nil {
		return "", "", err
	}
	var checkSQL string
	if rows.Next() {
		err = rows.Scan(&checkSQL, &task, &merge)
	}
	rows.Close()
	if err != nil || checkSQL == "" {
		return "", "", fmt.Errorf("writing the task queries: %v", errors.Join(err, rows.Err()))
	}
	got, err := d.rewriteSchema(ctx, conn, checkSQL)
	if err != nil {
		return "", "", fmt.Errorf("%w: rewrite does not prepare: %v", partition.ErrLocal, err)
	}
	if !got.Equal(schema) {
		return "", "", fmt.Errorf("%w: rewrite changes the result schema", partition.ErrLocal)
	}
	return task, merge, nil
}

// slices cuts the files a split scan reads into the slices of its tasks:
// Parquet files by row groups, text files whole. seen are the planning's
// listings. files are the Parquet files read, and group, when not nil,
// joins the slices kept after pruning into tasks of whole files
// (partition.Coalesce, CoalesceTail).
func (d *dist) slices(ctx context.Context, conn *duck.Conn, seen listings, a *partition.Analysis) (sl []partition.Slice, files []partition.File, group func([]partition.Slice) []partition.Slice, err error) {
	if a.Format == partition.Text {
		paths, err := globAll(ctx, conn, a.Paths)
		return partition.SplitFiles(paths), nil, nil, err
	}
	files, err = d.filesOnce(ctx, conn, seen, a.Paths)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading Parquet metadata: %w", err)
	}
	if err := readAsFirst(a, files); err != nil {
		return nil, nil, nil, err
	}
	// Every task of a join reads the other inputs whole: with more files
	// than executor threads, each thread gets one task of whole files; so
	// does a scan whose every task gives about as many rows (PerSlot).
	if slots := d.slots(); (a.Joined || a.PerSlot) && len(files) > slots {
		return partition.SplitGroups(files, slots), files, nil, nil
	}
	if a.Joined {
		return partition.Split(files, d.taskRows(a, files)), files, nil, nil
	}
	if d.sched.unequal(d.readyIDs()) {
		tail := tailRows(files, d.targetRows, d.slots())
		limit := d.targetRows
		if d.autoRows {
			// As many tasks before the tail as on equal executors at
			// most: the tail's small ones balance the executors.
			tasks := int64(scanTasksPerSlot * d.slots())
			limit = min(limit, max((totalRows(files)-tail+tasks-1)/tasks, 1))
		}
		group := func(kept []partition.Slice) []partition.Slice {
			return partition.CoalesceTail(kept, files, limit, tail)
		}
		return partition.SplitTail(files, d.targetRows, tail), files, group, nil
	}
	if !d.autoRows {
		return partition.Split(files, d.targetRows), files, nil, nil
	}
	if _, _, ok := a.AnyRowsLimit(); ok {
		// Any n rows, whose merge runs the tasks in rounds (firstrows.go):
		// the first round's tasks of about minTaskRows, never two files
		// together, so that it reads the fewest rows (a task of two files
		// read by UNION ALL starts both: 35 ms against 21 for one,
		// lineitem SF1, one thread); the others joined as below, after
		// pruning (scanSlices).
		tasks := scanTasksPerSlot * d.slots()
		return partition.Split(files, d.targetRows), files, func(kept []partition.Slice) []partition.Slice {
			return partition.Coalesce(kept, files, tasks)
		}, nil
	}
	// Equal executors: about scanTasksPerSlot tasks a slot, each paying a
	// task's fixed cost once for many rows, whole files together; the
	// second lets a free slot take work from a busy one (stealing).
	tasks := scanTasksPerSlot * d.slots()
	group = func(kept []partition.Slice) []partition.Slice { return partition.Coalesce(kept, files, tasks) }
	return partition.Split(files, max(d.targetRows, (totalRows(files)+int64(tasks)-1)/int64(tasks))), files, group, nil
}

// The automatic task size of a plain scan (--task-rows 0): about
// scanTasksPerSlot tasks for each executor thread, of minTaskRows rows at
// least. TPC-H Q6 (SF1, lineitem's 8 files) on two executors of one
// thread runs 4 tasks of two whole files rather than 8 of one file's
// row range each: each task costs about 4 ms of executor CPU whatever
// it reads (Q6's executors took 446 ms of CPU in 56 tasks, 237 ms in 8,
// on a loaded machine).
const (
	scanTasksPerSlot = 2
	minTaskRows      = 1 << 20
)

// readyIDs are the executors taking tasks.
func (d *dist) readyIDs() []string {
	var ids []string
	for _, m := range d.reg.ready() {
		ids = append(ids, m.ID)
	}
	return ids
}

// tailRows is how many of a scan's last rows are cut into a slice a row
// group on executors measured unequal, for the scheduler to give out
// last (see adapt.go): two rounds of --task-rows for every slot, at most
// a quarter of the scan.
func tailRows(files []partition.File, taskRows int64, slots int) int64 {
	return min(2*int64(slots)*taskRows, totalRows(files)/4)
}

// slots is how many tasks the live executors run at once (Config.PlanSlots
// when set).
func (d *dist) slots() int {
	if d.planSlots > 0 {
		return d.planSlots
	}
	n := 0
	for _, m := range d.reg.ready() {
		n += max(m.Threads, 1)
	}
	return max(n, 1)
}

// taskRows is the target size of the query's tasks: --task-rows, but in a
// join, whose every task reads the other inputs whole, at least an even
// share of the scan for each executor thread, so the other inputs are read
// once per thread rather than once per --task-rows.
func (d *dist) taskRows(a *partition.Analysis, files []partition.File) int64 {
	if !a.Joined {
		return d.targetRows
	}
	slots := int64(d.slots())
	return max(d.targetRows, (totalRows(files)+slots-1)/slots)
}

func totalRows(files []partition.File) int64 {
	var n int64
	for _, f := range files {
		n += f.Rows()
	}
	return n
}

// A plan cache entry: the checked rewrites of one AST shape over one set
// of slices, one task template per shape.
type cachedPlan struct {
	tasks map[taskShape]string
	merge string
	// finalHere and finalFrom are a staged plan's planned.finalHere and
	// finalFrom.
	finalHere string
	finalFrom int
	// values are the constants the plan's SQL was written with (those
	// partition.MarkLiterals marks; its key has their types only), unless
	// literals: its tasks' SQL takes them as parameters
	// (cluster.Task.Literals).
	values   string
	literals bool
	// stream is a staged plan's plannedStage.stream, by stage.
	stream [][]bool
	// now says which task SQL, and whether the merge or finalHere, take
	// the query's instant (partition.NowParameter).
	now      map[taskShape]bool
	mergeNow bool
}

// cachedPlanCost is what a checked plan takes in its cache: its key (the
// query's AST) and its SQL texts, which carry the query's constants.
// Bounded by count alone (512), a cache of plans of long texts had no
// bound in bytes (a tester's reading).
func cachedPlanCost(k string, v cachedPlan) int64 {
	n := int64(len(k)+len(v.merge)+len(v.finalHere)+len(v.values)) + 256
	for _, sql := range v.tasks {
		n += 64 + int64(len(sql))
	}
	return n
}

const partialsView = "skein_partials"

// explanation is how a query was split, sent as the FlightInfo's
// app_metadata (skein sql --explain prints it).
type explanation struct {
	// The query's id and its client's trace id: the front door adds them
	// to every FlightInfo it answers (flightsql.QueryTag).
	QueryID string `json:"query_id,omitempty"`
	TraceID string `json:"trace_id,omitempty"`
	Mode    string `json:"mode"`
	// Reason says why a query runs local (partition.ErrLocal's text).
	Reason  string     `json:"reason,omitempty"`
	Tasks   int        `json:"tasks,omitempty"`
	TaskSQL string     `json:"task_sql,omitempty"`
	Plan    []taskInfo `json:"plan,omitempty"`
	Merge   string     `json:"merge_sql,omitempty"`
	// FinalHere is the merge the coordinator runs instead of the last
	// stage's tasks when that stage's input is small (finalhere.go).
	FinalHere string      `json:"final_here_sql,omitempty"`
	Stages    []stageInfo `json:"stages,omitempty"`
	// Pruned says which slices of a scan its filter dropped, and why.
	Pruned  []string `json:"pruned,omitempty"`
	Ordered bool     `json:"ordered,omitempty"` // the endpoints in order are the sorted answer
	// Rounds: the merge runs the tasks in rounds, the first of
	// first_round tasks, until it has limit rows (firstrows.go).
	Rounds *limitRounds `json:"limit_rounds,omitempty"`
	// ResultMode is how the answer is read (flightsql.ResultModes; proxy
	// for a merge), from how many endpoints.
	ResultMode string `json:"result_mode,omitempty"`
	Endpoints  int    `json:"endpoints,omitempty"`
}

type taskInfo struct {
	Task      int    `json:"task"`
	Slice     string `json:"slice"`
	Executor  string `json:"executor"`
	Alternate string `json:"alternate"`
	SQL       string `json:"sql,omitempty"` // where it is not task_sql (UNION ALL branches)
}

func (p *planned) explain(execs [][2]string) explanation {
	e := explanation{Mode: p.modeName(), Tasks: len(p.tasks), TaskSQL: p.tasks[0].sql, Merge: p.merge,
		FinalHere: p.finalHere, Stages: p.stageInfos(), Ordered: p.sorted(), Pruned: p.pruned, Rounds: p.rounds}
	for _, ps := range p.stages[:max(len(p.stages)-1, 0)] {
		e.Tasks += len(ps.tasks) // every stage's tasks
	}
	for i, t := range p.tasks {
		ti := taskInfo{Task: i, Slice: t.slice.String(), Executor: execs[i][0], Alternate: execs[i][1]}
		if t.sql != e.TaskSQL {
			ti.SQL = t.sql
		}
		e.Plan = append(e.Plan, ti)
	}
	return e
}

// queryStrings is the one VARCHAR column of a query's rows.
func queryStrings(ctx context.Context, conn *duck.Conn, q string, args ...any) ([]string, error) {
	rows, err := conn.QueryRows(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func scalar[T any](ctx context.Context, conn *duck.Conn, q string, args ...any) (T, error) {
	var v T
	rows, err := conn.QueryRows(ctx, q, args...)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	if !rows.Next() {
		return v, errors.New("no row")
	}
	err = rows.Scan(&v)
	return v, err
}

// The planner reads a query's AST as Go values, many times over (marked,
// analysed, rewritten per part and stage, parameterized), at about a
// hundred times its JSON's size, and the JSON of a list of constants is
// some thirty times its text: an IN list of 200,000 ids, 1.3 MB of SQL,
// took the coordinator to 2.3 GB for 90 s of planning (DuckDB alone runs
// it in 3 s), and a client may send 64 MiB. A query of a longer text than
// maxPlanText, or whose AST is longer than maxPlanAST, runs whole on the
// coordinator, as DuckDB alone runs it.
const (
	maxPlanText = 256 << 10
	maxPlanAST  = 2 << 20
)

var (
	errTextTooLarge = fmt.Errorf("%w: its text is longer than %d KiB, more than the planner reads",
		partition.ErrLocal, maxPlanText>>10)
	errASTTooLarge = fmt.Errorf("%w: its AST is longer than %d MiB, more than the planner reads",
		partition.ErrLocal, maxPlanAST>>20)
)

// serialize is DuckDB's AST of query, as JSON (json_serialize_sql): an
// error wrapping partition.ErrLocal past maxPlanText or maxPlanAST.
func serialize(ctx context.Context, conn *duck.Conn, query string) (string, error) {
	if len(query) > maxPlanText {
		return "", errTextTooLarge
	}
	ast, err := conn.QueryText(ctx, "SELECT json_serialize_sql($1::VARCHAR)::VARCHAR", query)
	if err == nil && len(ast) > maxPlanAST {
		return "", errASTTooLarge
	}
	return ast, err
}

// shipped is the SQL of a JSON AST that runs when the query does (a
// task's, a merge's), and whether it takes the query's instant as its
// last parameter (partition.NowParameter).
func shipped(ctx context.Context, conn *duck.Conn, ast []byte) (sql string, now bool, err error) {
	if ast, now, err = partition.NowParameter(ast); err != nil {
		return "", false, err
	}
	sql, err = deserialize(ctx, conn, ast)
	return sql, now, err
}

// deserialize is the SQL of a JSON AST (json_deserialize_sql).
func deserialize(ctx context.Context, conn *duck.Conn, ast []byte) (string, error) {
	return conn.QueryText(ctx, "SELECT json_deserialize_sql($1::JSON)", string(ast))
}

var errZone = errors.New("coordinator: executor time zone differs")

// jobOf is what the scheduler needs of a plan's tasks (handles in signed
// order, with their assigned executors): each task's home and stage, and
// each stage's inputs. A stage reading only files may run a task twice
// (a straggler's second run): its output depends on nothing else.
func (p *planned) jobOf(handles []string, execs [][2]string) ([]jobTask, []jobStage) {
	tasks := make([]jobTask, len(handles))
	for i, h := range handles {
		tasks[i] = jobTask{handle: h, home: execs[i][0]}
	}
	if p.stages == nil {
		for i, t := range p.tasks {
			tasks[i].rows = sliceRows(t.slice)
			tasks[i].held = p.rounds != nil && i >= p.rounds.First
		}
		return tasks, []jobStage{{n: len(handles), spec: true}}
	}
	stages := make([]jobStage, len(p.stages))
	i := 0
	for si, ps := range p.stages {
		stages[si] = jobStage{n: len(ps.tasks), spec: len(ps.stage.Inputs) == 0,
			here: p.finalHere != "" && si == len(p.stages)-1}
		for _, in := range ps.stage.Inputs {
			stages[si].inputs = append(stages[si].inputs, in.Stage)
		}
		for _, t := range ps.tasks {
			tasks[i].stage, tasks[i].rows = si, sliceRows(t.slice)
			i++
		}
	}
	return tasks, stages
}

// stageTasks are the number of stage si's first task and how many it
// has, among every stage's in order.
func (p *planned) stageTasks(si int) (first, n int) {
	for _, ps := range p.stages[:si] {
		first += len(ps.tasks)
	}
	return first, len(p.stages[si].tasks)
}

// numbers are n task numbers from first.
func numbers(first, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = first + i
	}
	return out
}

// unbundled gives a verified merge ticket's Tasks and Producers their
// handles, from its Bundle.
func (d *dist) unbundled(m *merge) error {
	h, err := d.secret.HandlesOf(m.Bundle, m.Query)
	if err != nil {
		return fmt.Errorf("%w: merge ticket: %w", flightsql.ErrInvalid, err)
	}
	handles := func(nums []int) ([]string, error) {
		var out []string
		for _, n := range nums {
			s, err := h.Handle(n)
			if err != nil {
				return nil, fmt.Errorf("%w: merge ticket: %w", flightsql.ErrInvalid, err)
			}
			out = append(out, s)
		}
		return out, nil
	}
	if m.Tasks, err = handles(m.TaskNums); err != nil {
		return err
	}
	m.Producers, err = handles(m.ProducerNums)
	return err
}

// sliceRows is how many rows a slice reads when it is a row range of a
// Parquet file or whole files whose rows planning counted, else 0 (not
// known: whole files otherwise, exchanges).
func sliceRows(s partition.Slice) int64 {
	if s.File == "" || s.Whole() {
		return s.Rows
	}
	return s.Last - s.First + 1
}

// close cancels what runs in the layer, waits for all of it to return,
// then closes the connections and the merge database it used.
func (d *dist) close() {
	d.stopLife()
	d.work.close()
	d.clients.close()
	if err := d.mergeDB.Close(); err != nil {
		d.log.Warn().Err(err).Msg("closing the merge database")
	}
}
