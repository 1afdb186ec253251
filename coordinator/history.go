package coordinator

import (
	"context"
	"sync"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
)

// history records every distributed query and task attempt in the
// system tables skein.queries and skein.tasks (an in-memory catalog beside
// the managed one), readable through Flight SQL like any table, keeping
// the newest retainQueries queries.
//
// Writes go through one goroutine, in order, so that recording never
// slows a query down; if it falls far behind, records are dropped (and
// logged) rather than queries waiting.
type history struct {
	log    zerolog.Logger
	mu     sync.Mutex
	conn   *duck.Conn
	writes int
	open   map[string]*openQuery // scatter queries waiting for their task reports
	work   chan func()
	done   chan struct{}
	qmu    sync.Mutex // guards closed and sending on work
	closed bool
}

type openQuery struct {
	left        int
	rows, bytes int64
	failed      string
}

const retainQueries = 10000

const historyDDL = `CREATE TABLE IF NOT EXISTS skein.queries (query_id VARCHAR, "user" VARCHAR, sql VARCHAR, mode VARCHAR,
  tasks INTEGER, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, rows BIGINT, bytes BIGINT, status VARCHAR, error VARCHAR);
CREATE TABLE IF NOT EXISTS skein.tasks (query_id VARCHAR, task_id INTEGER, executor VARCHAR, attempt INTEGER,
  started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, rows BIGINT, bytes BIGINT, status VARCHAR, error VARCHAR)`

func newHistory(ctx context.Context, db *duck.DB, log zerolog.Logger) (*history, error) {
	conn, err := db.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, historyDDL); err != nil {
		_ = conn.Close()
		return nil, err
	}
	h := &history{log: log, conn: conn, open: map[string]*openQuery{}, work: make(chan func(), 4096), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for f := range h.work {
			f()
		}
	}()
	return h, nil
}

// later queues a write.
func (h *history) later(f func()) {
	h.qmu.Lock()
	defer h.qmu.Unlock()
	if h.closed {
		return
	}
	select {
	case h.work <- f:
	default:
		h.log.Warn().Msg("history is behind: a record was dropped")
	}
}

func (h *history) exec(q string, args ...any) {
	if _, err := h.conn.Exec(context.Background(), q, args...); err != nil {
		h.log.Warn().Err(err).Msg("recording history")
	}
}

// started records a planned query.
func (h *history) started(id, user, sql, mode string, tasks int, scatter bool) {
	h.later(func() { h.start(id, user, sql, mode, tasks, scatter) })
}

func (h *history) start(id, user, sql, mode string, tasks int, scatter bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.exec(`INSERT INTO skein.queries VALUES ($1, $2, $3, $4, $5, now(), NULL, NULL, NULL, 'running', NULL)`,
		id, user, sql, mode, int32(tasks))
	if scatter {
		h.open[id] = &openQuery{left: tasks}
	}
	h.writes++
	if h.writes%100 == 0 {
		h.exec(`DELETE FROM skein.queries WHERE started_at < (SELECT min(started_at) FROM
  (SELECT started_at FROM skein.queries ORDER BY started_at DESC LIMIT $1))`, int64(retainQueries))
		h.exec(`DELETE FROM skein.tasks WHERE query_id NOT IN (SELECT query_id FROM skein.queries)`)
	}
}

// finished records the end of a query.
func (h *history) finished(id string, rows, bytes int64, err error) {
	failure := errText(err)
	h.later(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.finish(id, rows, bytes, failure)
	})
}

func (h *history) finish(id string, rows, bytes int64, failure string) {
	status := "ok"
	var e any
	if failure != "" {
		status, e = "failed", failure
	}
	h.exec(`UPDATE skein.queries SET finished_at = now(), rows = $2, bytes = $3, status = $4, error = $5
WHERE query_id = $1`, id, rows, bytes, status, e)
	delete(h.open, id)
}

// tasks records task attempts reported by executors or run here.
func (h *history) tasks(reports []cluster.TaskReport) {
	h.later(func() { h.record(reports) })
}

func (h *history) record(reports []cluster.TaskReport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range reports {
		status := "ok"
		var e any
		if r.Error != "" {
			status, e = "failed", r.Error
		}
		h.exec(`INSERT INTO skein.tasks SELECT $1, $2, $3,
  (SELECT count(*) + 1 FROM skein.tasks WHERE query_id = $1 AND task_id = $2), $4, $5, $6, $7, $8, $9`,
			r.Query, int32(r.Task), r.Executor, r.Started, r.Finished, r.Rows, r.Bytes, status, e)
		if q := h.open[r.Query]; q != nil {
			if r.Error != "" {
				q.failed = r.Error
				continue
			}
			q.left--
			q.rows += r.Rows
			q.bytes += r.Bytes
			if q.left <= 0 {
				h.finish(r.Query, q.rows, q.bytes, q.failed)
			}
		}
	}
}

// close writes what is queued and closes the connection. Nothing may
// record after it.
func (h *history) close() {
	h.qmu.Lock()
	h.closed = true
	close(h.work)
	h.qmu.Unlock()
	<-h.done
	_ = h.conn.Close()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
