package coordinator

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestViewTextsByOid plans queries over views: the views' CREATE texts,
// which DuckDB renders for all its views (its internal ones too) at each
// listing, are rendered again only when a view was created or replaced
// since, and a replaced view plans with its new definition.
func TestViewTextsByOid(t *testing.T) {
	c, cl, dir, _ := stageCoordinator(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	ctx := context.Background()
	explain := func(q string) string {
		t.Helper()
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return string(info.AppMetadata)
	}
	q := "SELECT name, count(*) FROM fact JOIN dim USING (d) GROUP BY name"
	explain(q)
	loads := c.dist.viewTextLoads.Load()
	for range 3 {
		if e := explain(q); !strings.Contains(e, `"mode":"stages"`) {
			t.Fatalf("%s planned %s, want stages", q, e)
		}
	}
	if n := c.dist.viewTextLoads.Load() - loads; n != 0 {
		t.Errorf("the views' texts were rendered %d times for 3 plans with no view changed, want 0", n)
	}
	before := explain(q)
	if _, err := cl.ExecuteUpdate(ctx, "CREATE OR REPLACE VIEW dim AS SELECT d, name FROM read_parquet('"+
		filepath.Join(dir, "dim.parquet")+"') WHERE d < 3"); err != nil {
		t.Fatal(err)
	}
	after := explain(q)
	if n := c.dist.viewTextLoads.Load() - loads; n != 1 {
		t.Errorf("the views' texts were rendered %d times after a view was replaced, want 1", n)
	}
	if strings.Contains(before, "(d \\u003c 3)") || !strings.Contains(after, "(d \\u003c 3)") {
		t.Errorf("the replaced view's filter: before %v, after %v, want only after\nafter: %s",
			strings.Contains(before, "(d \\u003c 3)"), strings.Contains(after, "(d \\u003c 3)"), after)
	}
}
