package executor

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/metrics"
)

// taskMetrics count the executor's task runs as they end; the gauges
// (running and queued tasks, spools, registration) are read at each scrape.
type taskMetrics struct {
	tasks   *prometheus.CounterVec
	seconds *prometheus.HistogramVec
	rows    prometheus.Counter
	bytes   prometheus.Counter
	inputs  *prometheus.CounterVec
	stuck   prometheus.Counter
}

func newTaskMetrics(e *Executor) *taskMetrics {
	m := &taskMetrics{
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_executor_tasks_total",
			Help: "Task runs ended on this executor, by status (ok, failed, cancelled)."}, []string{"status"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "skein_executor_task_duration_seconds",
			Help:    "Time of a task run, from its start (inputs fetched and queueing for a thread included) to its end, by status.",
			Buckets: metrics.LatencyBuckets}, []string{"status"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_executor_task_rows_total",
			Help: "Rows the task runs produced."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_executor_task_bytes_total",
			Help: "Bytes (Arrow buffers) the task runs produced."}),
		inputs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_executor_exchange_inputs_total",
			Help: "Exchange inputs consumer tasks read, by where they held them: memory (scanned from the spools' memory budget) or table (loaded into DuckDB, which spills)."},
			[]string{"held"}),
		stuck: prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_executor_stuck_tasks_total",
			Help: "Tasks still running --task-kill-timeout after they were stopped (their query cancelled or timed out): one DuckDB call that checks for no interrupt."}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	e.metrics.MustRegister(m.tasks, m.seconds, m.rows, m.bytes, m.inputs, m.stuck,
		gauge("skein_executor_tasks_running", "Tasks running now, each on a DuckDB thread.",
			func() float64 { return float64(e.running.Load()) }),
		gauge("skein_executor_tasks_queued", "Tasks started and not yet running: fetching their inputs or waiting for a thread.",
			func() float64 { return float64(max(e.inflight.Load()-e.running.Load(), 0)) }),
		gauge("skein_executor_threads", "Tasks the executor runs at once (its DuckDB threads).",
			func() float64 { return float64(cap(e.slots)) }),
		gauge("skein_executor_registered", "1 while the coordinator accepts this executor's heartbeats, else 0.",
			func() float64 {
				if e.registered.Load() {
					return 1
				}
				return 0
			}),
		gauge("skein_executor_spool_memory_bytes", "Bytes of task results held in memory until read, of exchange inputs consumer tasks hold in memory, and of producer tasks' partitions not yet written.",
			func() float64 { m, _ := e.spools.held(); return float64(m) }),
		gauge("skein_executor_spool_shuffle_bytes", "Of skein_executor_spool_memory_bytes, the bytes of producer tasks' partitions not yet written to their spools.",
			func() float64 { return float64(e.Spooled().Shuffle) }),
		gauge("skein_executor_spool_idle_bytes", "Bytes of partition buffers kept for the next producer task, counted against the spools' memory budget (and given up first when it is full).",
			func() float64 { return float64(e.Spooled().Idle) }),
		gauge("skein_executor_spool_input_bytes", "Of skein_executor_spool_memory_bytes, the bytes of exchange inputs consumer tasks hold in memory.",
			func() float64 { return float64(e.Spooled().Inputs) }),
		gauge("skein_executor_exchange_streams", "Exchange streams consumer tasks have open, each holding up to gRPC's window: at most 8 an input at once.",
			func() float64 { return float64(e.fetching.Load()) }),
		gauge("skein_executor_spool_disk_bytes", "Bytes of task results held in spool files until read.",
			func() float64 { _, d := e.spools.held(); return float64(d) }),
		gauge("skein_executor_spool_memory_limit_bytes", "The spools' memory budget (--spool-memory-mb).",
			func() float64 { return float64(e.spools.memBudget) }),
		gauge("skein_executor_spool_disk_limit_bytes", "The spools' disk budget (--spool-disk-gb).",
			func() float64 { return float64(e.spools.fileBudget) }),
	)
	return m
}

// ended counts a task run as it is reported.
func (m *taskMetrics) ended(r cluster.TaskReport, err error) {
	st := outcome(err)
	m.tasks.WithLabelValues(st).Inc()
	m.seconds.WithLabelValues(st).Observe(r.Finished.Sub(r.Started).Seconds())
	m.rows.Add(float64(r.Rows))
	m.bytes.Add(float64(r.Bytes))
}

// outcome is a task run's status: cancelled when its reader, its query or
// the executor stopped it, failed for any other error.
func outcome(err error) string {
	var de *duck.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled), errors.As(err, &de) && de.Kind == duck.KindInterrupted:
		return "cancelled"
	}
	return "failed"
}

// SpoolLimits are the spools' budgets: in memory, and on disk.
func (e *Executor) SpoolLimits() (memory, disk int64) { return e.spools.memBudget, e.spools.fileBudget }

// held is what the spools hold now: bytes in memory, and on disk.
func (s *spoolStore) held() (memory, disk int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mem - s.pooled, s.disk
}
