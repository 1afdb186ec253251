package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/skeindb/skein/internal/duck"
)

// estimateRows is how many rows DuckDB's optimizer expects a query (a
// statement's AST, partition.QueryAST) to give: the estimated cardinality at the
// top of its physical plan, as EXPLAIN shows it. The planner compares join
// inputs by it, as DuckDB picks a join's build side by it.
func estimateRows(ctx context.Context, conn *duck.Conn, ast []byte) (int64, error) {
	q, err := deserialize(ctx, conn, ast)
	if err != nil {
		return 0, err
	}
	rows, err := conn.QueryRows(ctx, "EXPLAIN (FORMAT json) "+q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var key, plan string
	for rows.Next() {
		if err := rows.Scan(&key, &plan); err != nil {
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return planCardinality([]byte(plan))
}

// explainNode is one operator of EXPLAIN (FORMAT json)'s plan.
type explainNode struct {
	Name     string          `json:"name"`
	Children []explainNode   `json:"children"`
	Extra    json.RawMessage `json:"extra_info"`
}

// planCardinality is the estimated cardinality of the topmost operator of
// an EXPLAIN (FORMAT json) plan that states one.
func planCardinality(plan []byte) (int64, error) {
	var nodes []explainNode
	if err := json.Unmarshal(plan, &nodes); err != nil {
		return 0, fmt.Errorf("explain: %w", err)
	}
	for len(nodes) > 0 {
		var extra map[string]any
		if json.Unmarshal(nodes[0].Extra, &extra) == nil {
			if s, ok := extra["Estimated Cardinality"].(string); ok {
				return strconv.ParseInt(s, 10, 64)
			}
		}
		nodes = nodes[0].Children
	}
	return 0, errors.New("explain: no estimated cardinality")
}
