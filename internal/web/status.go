package web

import "time"

// Status is what the status page shows, read from the coordinator.
type Status interface {
	// Cluster is the coordinator and its executors now.
	Cluster() Cluster
	// Queries are the newest queries of the history v may see, newest
	// first, at most limit.
	Queries(v Viewer, limit int) []Query
	// Query is one query with its plan and tasks, if the history holds it
	// and v may see it.
	Query(v Viewer, id string) (QueryDetail, bool)
}

// Viewer is who reads the page: a user sees its own queries, an admin
// (All) every user's, as in skein.queries. Another user's SQL text and
// errors may hold what it would not show (a literal, a path).
type Viewer struct {
	User string
	All  bool
}

// Cluster is the coordinator and the executors it knows.
type Cluster struct {
	Coordinator Coordinator `json:"coordinator"`
	Executors   []Executor  `json:"executors"`
}

// Coordinator is the coordinator's own state.
type Coordinator struct {
	URI      string    `json:"uri"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started_at"`
	Sessions int       `json:"sessions"`
	Running  int       `json:"queries_running"`
	Queued   int       `json:"queries_queued"`
}

// Executor is one member as the coordinator's registry has it: alive
// while its heartbeats arrive, its load as the last one said.
type Executor struct {
	ID       string    `json:"id"`
	Location string    `json:"location"`
	State    string    `json:"state"` // live or dead
	Threads  int       `json:"threads"`
	Running  int       `json:"running"`
	LastSeen time.Time `json:"last_seen"`
	// HeartbeatAge is how long ago it was last heard from, in seconds.
	HeartbeatAge float64 `json:"heartbeat_age_seconds"`
	// Spool is what its spools hold, for executors in the coordinator's
	// process (skein serve); nil for others.
	Spool *Spool `json:"spool,omitempty"`
}

// Spool is what an executor's spools hold, and their limits.
type Spool struct {
	MemoryBytes int64 `json:"memory_bytes"`
	// InputBytes is the part of MemoryBytes that consumer tasks hold of
	// their exchange inputs.
	InputBytes       int64 `json:"input_bytes"`
	DiskBytes        int64 `json:"disk_bytes"`
	MemoryLimitBytes int64 `json:"memory_limit_bytes"`
	DiskLimitBytes   int64 `json:"disk_limit_bytes"`
}

// Query is one query of the history (skein.queries).
type Query struct {
	ID         string     `json:"query_id"`
	User       string     `json:"user"`
	SQL        string     `json:"sql"`
	Mode       string     `json:"mode"`
	ResultMode string     `json:"result_mode,omitempty"`
	Tasks      int        `json:"tasks"`
	Started    time.Time  `json:"started_at"`
	Finished   *time.Time `json:"finished_at,omitempty"`
	Seconds    float64    `json:"duration_seconds"` // so far, while running
	Rows       int64      `json:"rows"`
	Bytes      int64      `json:"bytes"`
	Status     string     `json:"status"`
	Error      string     `json:"error,omitempty"`
}

// QueryDetail is a query with its plan and every task attempt.
type QueryDetail struct {
	Query
	// Plan is the planner's explanation (what skein sql --explain prints:
	// stages, tasks, their SQL), absent for a query that ran local.
	Plan any `json:"plan,omitempty"`
	// Attempts are its tasks' attempts (skein.tasks), by task, and the
	// tasks not yet reported, as pending on their assigned executor.
	Attempts []Task `json:"attempts"`
}

// Task is one attempt of a task, or a task planned and not yet reported.
type Task struct {
	Task      int        `json:"task"`
	Stage     int        `json:"stage"`
	Attempt   int        `json:"attempt"`
	Executor  string     `json:"executor"`
	Location  string     `json:"location,omitempty"`
	Started   *time.Time `json:"started_at,omitempty"`
	Finished  *time.Time `json:"finished_at,omitempty"`
	Rows      int64      `json:"rows"`
	Bytes     int64      `json:"bytes"`
	Status    string     `json:"status"` // ok, failed, cancelled, or pending
	Error     string     `json:"error,omitempty"`
	Alternate string     `json:"alternate,omitempty"`
}
