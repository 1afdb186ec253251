package coordinator

import (
	"context"
	"encoding/json"
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

// TestCatalogListingKeptUntilChanged plans one SQL text again and again:
// the session's listing of its tables and views is run once while
// nothing changes the catalog, and again after another session replaces
// a view the query reads, whose new definition the plan and the answer
// then follow.
func TestCatalogListingKeptUntilChanged(t *testing.T) {
	c, cl, dir, views := stageCoordinator(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	ctx := context.Background()
	q := "SELECT count(*) AS v FROM fact JOIN dim USING (d) GROUP BY name"
	plan := func() string {
		t.Helper()
		info, e := plannedStages(t, cl, q)
		sameAsDuckDB(t, cl, dir, views, q, info)
		meta, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return string(meta)
	}
	plan()
	listings := c.dist.catalogListings.Load()
	for range 3 {
		plan()
	}
	if n := c.dist.catalogListings.Load() - listings; n != 0 {
		t.Errorf("the catalog was listed %d times for 3 plans with nothing changed, want 0", n)
	}
	other := dialClient(t, c)
	replaced := "CREATE OR REPLACE VIEW dim AS SELECT d, name FROM read_parquet('" +
		filepath.Join(dir, "dim.parquet") + "') WHERE d < 3"
	if _, err := other.ExecuteUpdate(ctx, replaced); err != nil {
		t.Fatal(err)
	}
	views = append(views, replaced)
	if after := plan(); !strings.Contains(after, `(d \u003c 3)`) {
		t.Errorf("planned with the view's old definition after it was replaced: %s", after)
	}
	if c.dist.catalogListings.Load() == listings {
		t.Error("a view was replaced, and the catalog was not listed again")
	}
}
