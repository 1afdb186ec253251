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
type history struct {
	log    zerolog.Logger
	mu     sync.Mutex
	conn   *duck.Conn
	writes int
	open   map[string]*openQuery // scatter queries waiting for their task reports
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
	return &history{log: log, conn: conn, open: map[string]*openQuery{}}, nil
}

func (h *history) exec(q string, args ...any) {
	if _, err := h.conn.Exec(context.Background(), q, args...); err != nil {
		h.log.Warn().Err(err).Msg("recording history")
	}
}

// started records a planned query.
func (h *history) started(id, user, sql, mode string, tasks int, scatter bool) {
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
	h.mu.Lock()
	defer h.mu.Unlock()
	h.finish(id, rows, bytes, errText(err))
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

func (h *history) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	_ = h.conn.Close()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
