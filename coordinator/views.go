package coordinator

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// catalogViews resolves table references to views for one planning, from
// the session's own catalog: a name resolves only when exactly one table
// or view in the session's databases matches it, and that one is a view.
// It records the definitions it hands out, which become part of the plan
// cache key (a view redefined is planned again): as a set, since the
// planner's walk of the AST meets the views in no fixed order, and one
// query must not make one cache entry per order (each a planning again:
// the staged rewrite prepared, a range-partitioned sort's keys sampled).
type catalogViews struct {
	ctx  context.Context
	conn *duck.Conn
	d    *dist

	loaded  bool
	err     error
	entries []catalogEntry
	used    map[string]bool // CREATE VIEW texts handed out
}

type catalogEntry struct {
	catalog, schema, name string
	sql                   string // CREATE VIEW text; empty for a table
}

func (c *catalogViews) load() error {
	if c.loaded {
		return c.err
	}
	c.loaded = true
	c.entries, c.err = c.d.catalogEntries(c.ctx, c.conn)
	return c.err
}

// view implements partition.Env.View.
func (c *catalogViews) view(catalog, schema, name string) (partition.View, bool) {
	if c.load() != nil {
		return partition.View{}, false
	}
	var match *catalogEntry
	for i, e := range c.entries {
		if !strings.EqualFold(e.name, name) || (catalog != "" && !strings.EqualFold(e.catalog, catalog)) ||
			(schema != "" && !strings.EqualFold(e.schema, schema)) {
			continue
		}
		if match != nil {
			return partition.View{}, false // ambiguous: DuckDB's search path decides
		}
		match = &c.entries[i]
	}
	if match == nil && catalog == "" && schema == "" {
		return c.fileAsTable(name)
	}
	if match == nil || match.sql == "" {
		return partition.View{}, false
	}
	v, err := c.d.viewDefinition(c.ctx, c.conn, match.sql)
	if err != nil {
		return partition.View{}, false
	}
	if c.used == nil {
		c.used = map[string]bool{}
	}
	c.used[match.sql] = true
	return v, true
}

// fileAsTable is the view a name that no table or view has reads when it
// names Parquet files (FROM 'dir/*.parquet', DuckDB's replacement scan):
// SELECT * FROM read_parquet(name), read under DuckDB's alias for it, the
// name itself for a glob, else the file's base name up to its first dot.
// Planned as a table, such a query ran whole on the coordinator.
func (c *catalogViews) fileAsTable(name string) (partition.View, bool) {
	if !strings.HasSuffix(strings.ToLower(name), ".parquet") {
		return partition.View{}, false
	}
	create := "CREATE VIEW f AS SELECT * FROM read_parquet('" + strings.ReplaceAll(name, "'", "''") + "')"
	v, err := c.d.viewDefinition(c.ctx, c.conn, create)
	if err != nil {
		return partition.View{}, false
	}
	v.Alias = name
	if !strings.ContainsAny(name, "*?[") {
		base := name[strings.LastIndexAny(name, `/\`)+1:]
		v.Alias, _, _ = strings.Cut(base, ".")
	}
	if c.used == nil {
		c.used = map[string]bool{}
	}
	c.used[create] = true
	return v, true
}

// key is the definitions handed out, in a fixed order whatever order the
// planner asked for them in.
func (c *catalogViews) key() string {
	defs := slices.Sorted(maps.Keys(c.used))
	var b strings.Builder
	for _, d := range defs {
		b.WriteString("\x00" + d)
	}
	return b.String()
}

// viewDefinition parses a CREATE VIEW statement into the view's AST,
// cached by its text.
func (d *dist) viewDefinition(ctx context.Context, conn *duck.Conn, create string) (partition.View, error) {
	v, ok := d.views.get(create)
	if ok {
		return v, nil
	}
	query, cols, err := partition.ViewQuery(create)
	if err != nil {
		return v, err
	}
	ast, err := serialize(ctx, conn, query)
	if err != nil {
		return v, err
	}
	v = partition.NewView([]byte(ast), cols)
	d.views.put(create, v)
	return v, nil
}

// viewCost is what a view's definition takes in the cache: its text, and
// its AST decoded, estimated (not measured) at four times its JSON. Bounded by count alone (512),
// 60 views of IN lists of 100,000 keys took the coordinator's heap from
// 61 to 198 MB (a tester's).
func viewCost(create string, v partition.View) int64 {
	return int64(len(create) + 4*len(v.AST))
}
