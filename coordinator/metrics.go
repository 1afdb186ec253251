package coordinator

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/metrics"
)

// queryMetrics count what the history records: queries as they end, by
// mode, how their results were read and status; task attempts as their
// executors report them.
type queryMetrics struct {
	queries     *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	rows        *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	tasks       *prometheus.CounterVec
	taskSeconds *prometheus.HistogramVec
	taskRows    prometheus.Counter
	taskBytes   prometheus.Counter
}

func newQueryMetrics(reg prometheus.Registerer) *queryMetrics {
	m := &queryMetrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_queries_total",
			Help: "Queries ended, by mode (local, scatter, scatter-merge, stages, write ...), result_mode (direct: clients read executors; proxy: through the coordinator, an endpoint per task, and merges; single: one endpoint at the coordinator streaming every task; local; none for writes) and status (ok, failed, cancelled)."},
			[]string{"mode", "result_mode", "status"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "skein_query_duration_seconds",
			Help: "Time from a query's planning to its end, by mode.", Buckets: metrics.LatencyBuckets}, []string{"mode"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_query_rows_total",
			Help: "Result rows of the queries that ended, by mode."}, []string{"mode"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_query_bytes_total",
			Help: "Result bytes (Arrow buffers) of the distributed queries that ended, by mode."}, []string{"mode"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_tasks_total",
			Help: "Task attempts reported by executors (or run by the coordinator), by status (merged: a last stage's task whose work the coordinator's merge did)."}, []string{"status"}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "skein_task_duration_seconds",
			Help: "Time of the task attempts reported, by status.", Buckets: metrics.LatencyBuckets}, []string{"status"}),
		taskRows: prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_task_rows_total",
			Help: "Rows the task attempts reported produced."}),
		taskBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_task_bytes_total",
			Help: "Bytes (Arrow buffers) the task attempts reported produced."}),
	}
	reg.MustRegister(m.queries, m.seconds, m.rows, m.bytes, m.tasks, m.taskSeconds, m.taskRows, m.taskBytes)
	return m
}

// ended counts a query that has just ended.
func (m *queryMetrics) ended(q *queryRecord) {
	if m == nil {
		return
	}
	m.queries.WithLabelValues(q.mode, resultMode(q), q.status).Inc()
	m.seconds.WithLabelValues(q.mode).Observe(q.finished.Sub(q.started).Seconds())
	m.rows.WithLabelValues(q.mode).Add(float64(q.rows))
	m.bytes.WithLabelValues(q.mode).Add(float64(q.bytes))
}

// resultMode is how a query's results were read: direct, proxy or single
// for a distributed read, local for a query run on the coordinator, none for a
// write across executors.
func resultMode(q *queryRecord) string {
	switch {
	case q.resultMode != "":
		return q.resultMode
	case strings.HasPrefix(q.mode, "write"):
		return "none"
	}
	return "local"
}

// attempt counts a task attempt as reported.
func (m *queryMetrics) attempt(a *attempt) {
	if m == nil {
		return
	}
	m.tasks.WithLabelValues(a.status).Inc()
	if !a.started.IsZero() && !a.finished.IsZero() && a.status != statusMerged {
		m.taskSeconds.WithLabelValues(a.status).Observe(a.finished.Sub(a.started).Seconds())
	}
	m.taskRows.Add(float64(a.rows))
	m.taskBytes.Add(float64(a.bytes))
}

// gauges reads, at each scrape, what is true now: sessions, running and
// queued queries, and the executors the registry knows with their load.
type gauges struct {
	hist  *history
	reg   *registry // nil without distribution
	stats func() flightsql.Stats
	now   func() time.Time

	sessions, running, queued                *prometheus.Desc
	executors, up, tasks, threads, heartbeat *prometheus.Desc
}

func newGauges(hist *history, reg *registry, stats func() flightsql.Stats) *gauges {
	ex := []string{"executor"}
	return &gauges{hist: hist, reg: reg, stats: stats, now: time.Now,
		sessions: prometheus.NewDesc("skein_sessions", "Client sessions open.", nil, nil),
		running: prometheus.NewDesc("skein_queries_running",
			"Queries planned and not yet ended, less the queued (skein.queries with status running).", nil, nil),
		queued: prometheus.NewDesc("skein_queries_queued",
			"Queries planned to run on the coordinator whose ticket no client has redeemed yet: nothing of them runs.", nil, nil),
		executors: prometheus.NewDesc("skein_cluster_executors", "Executors the coordinator knows, by state (live, draining: finishing its tasks and given no new ones, dead).",
			[]string{"state"}, nil),
		up: prometheus.NewDesc("skein_cluster_executor_up",
			"1 while the executor's heartbeats arrive within --heartbeat-timeout, else 0.", []string{"executor", "location"}, nil),
		tasks: prometheus.NewDesc("skein_cluster_executor_tasks_running",
			"Tasks the executor said it was running at its last heartbeat.", ex, nil),
		threads: prometheus.NewDesc("skein_cluster_executor_threads", "Tasks the executor runs at once (its DuckDB threads).", ex, nil),
		heartbeat: prometheus.NewDesc("skein_cluster_executor_heartbeat_age_seconds",
			"Seconds since the executor's last heartbeat.", ex, nil),
	}
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.sessions, g.running, g.queued, g.executors, g.up, g.tasks, g.threads, g.heartbeat} {
		ch <- d
	}
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	st := g.stats()
	running := max(g.hist.runningNow()-st.Queued, 0)
	ch <- prometheus.MustNewConstMetric(g.sessions, prometheus.GaugeValue, float64(st.Sessions))
	ch <- prometheus.MustNewConstMetric(g.running, prometheus.GaugeValue, float64(running))
	ch <- prometheus.MustNewConstMetric(g.queued, prometheus.GaugeValue, float64(st.Queued))
	if g.reg == nil {
		return
	}
	live, draining, dead := 0, 0, 0
	now := g.now()
	for _, m := range g.reg.snapshot() {
		up := 0.0
		switch {
		case m.alive && m.Draining:
			up, draining = 1, draining+1
		case m.alive:
			up, live = 1, live+1
		default:
			dead++
		}
		ch <- prometheus.MustNewConstMetric(g.up, prometheus.GaugeValue, up, m.ID, m.Location)
		ch <- prometheus.MustNewConstMetric(g.tasks, prometheus.GaugeValue, float64(m.Running), m.ID)
		ch <- prometheus.MustNewConstMetric(g.threads, prometheus.GaugeValue, float64(m.Threads), m.ID)
		ch <- prometheus.MustNewConstMetric(g.heartbeat, prometheus.GaugeValue, now.Sub(m.lastSeen).Seconds(), m.ID)
	}
	ch <- prometheus.MustNewConstMetric(g.executors, prometheus.GaugeValue, float64(live), "live")
	ch <- prometheus.MustNewConstMetric(g.executors, prometheus.GaugeValue, float64(draining), "draining")
	ch <- prometheus.MustNewConstMetric(g.executors, prometheus.GaugeValue, float64(dead), "dead")
}

// stuckReporter logs and counts the statements DuckDB has not let go of
// (duck.Config.OnStuck): still preparing a minute after they began (a
// bind or constant fold that checks for no interrupt), or still running
// a minute after they were interrupted (a query's timeout or cancel).
type stuckReporter struct {
	log   zerolog.Logger
	count *prometheus.CounterVec
}

func newStuckReporter(reg prometheus.Registerer, log zerolog.Logger) *stuckReporter {
	r := &stuckReporter{log: log, count: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_stuck_statements_total",
		Help: "Statements on the coordinator's DuckDB still preparing a minute after they began, or still running a minute after they were interrupted (by phase: preparing, interrupted): one DuckDB call that checks for no interrupt holds a core."},
		[]string{"phase"})}
	reg.MustRegister(r.count)
	return r
}

func (r *stuckReporter) report(s duck.Stuck) {
	if s.Ended {
		r.log.Warn().Str("query_id", s.Label.QueryID).Str("user", s.Label.User).Str("phase", s.Phase).Dur("took", s.For).
			Msg("a stuck statement returned")
		return
	}
	r.count.WithLabelValues(s.Phase).Inc()
	r.log.Error().Str("query_id", s.Label.QueryID).Str("user", s.Label.User).Str("sql", s.Label.SQL).Str("phase", s.Phase).
		Dur("for", s.For).Msg("a statement holds a core in one DuckDB call that checks for no interrupt: its timeout and cancel do not reach it")
}
