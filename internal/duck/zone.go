package duck

import (
	"context"
	"fmt"
)

// TimeZone is the zone the instance computes TIMESTAMPTZ values in (its
// TimeZone setting, the machine's unless Config.TimeZone set it). Nodes
// that share a query must agree on it: date_trunc, strftime and casts of
// TIMESTAMPTZ depend on it, and so does the zone in the Arrow schema.
func (db *DB) TimeZone(ctx context.Context) (string, error) {
	var zone string
	if err := db.pool.QueryRowContext(ctx, "SELECT current_setting('TimeZone')").Scan(&zone); err != nil {
		return "", wrap(fmt.Errorf("duck: time zone: %w", err))
	}
	return zone, nil
}
