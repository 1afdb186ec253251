package coordinator

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/skeindb/skein/flightsql"
)

// A query whose task ended the executors that ran it (DuckDB crashing on
// its input; scheduler.died) fails, and ends them again when it is run
// again: run three times, a poison query ended the fourth executor of four,
// and then the coordinator, which runs a query itself once no executor is
// left (a tester's). The coordinator refuses the same SQL text for
// quarantineFor after, so that a client's or a dashboard's retries end no
// more of the cluster. A text written otherwise is another query: this
// spares a cluster accidents, not a client bent on ending it (the guard's
// refusals, duck.checkText, are for that).
type quarantine struct {
	mu     sync.Mutex
	now    func() time.Time
	byText map[[sha256.Size]byte]quarantined
}

type quarantined struct {
	query     string // the query id whose task ended them
	executors []string
	until     time.Time
}

// quarantineFor is how long a text whose task ended executors is refused.
const quarantineFor = 10 * time.Minute

func newQuarantine() *quarantine {
	return &quarantine{now: time.Now, byText: map[[sha256.Size]byte]quarantined{}}
}

// add refuses text from now on: a task of query qid ended executors dead.
func (q *quarantine) add(text [sha256.Size]byte, qid string, dead []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for k, e := range q.byText {
		if now.After(e.until) {
			delete(q.byText, k)
		}
	}
	q.byText[text] = quarantined{query: qid, executors: dead, until: now.Add(quarantineFor)}
}

// check is nil unless sql's text is refused.
func (q *quarantine) check(sql string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.byText[sha256.Sum256([]byte(sql))]
	if !ok || q.now().After(e.until) {
		return nil
	}
	return fmt.Errorf("%w: this query's tasks ended executors %s as they ran (query %s): the same text is refused until %s",
		flightsql.ErrInvalid, strings.Join(e.executors, ", "), e.query, e.until.UTC().Format(time.RFC3339))
}
