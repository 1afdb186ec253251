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
	path    []pathEntry     // the session's search path, read once asked (resolve)
}

type catalogEntry struct {
	catalog, schema, name string
	sql                   string // CREATE VIEW text; empty for a table
}

// named says whether e is the entry name names, qualified by catalog and
// schema where they are not empty.
func (e catalogEntry) named(catalog, schema, name string) bool {
	return strings.EqualFold(e.name, name) && (catalog == "" || strings.EqualFold(e.catalog, catalog)) &&
		(schema == "" || strings.EqualFold(e.schema, schema))
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
	ambiguous := false
	for i, e := range c.entries {
		if !e.named(catalog, schema, name) {
			continue
		}
		if match != nil {
			ambiguous = true
		}
		match = &c.entries[i]
	}
	if ambiguous {
		// DuckDB's search path decides: a view over files in main stayed
		// on one node while another schema held a table of its name
		// (found 2026-12-06).
		if match = c.resolve(catalog, schema, name); match == nil {
			return partition.View{}, false
		}
	}
	if match == nil && catalog == "" && schema == "" {
		return c.fileAsTable(name)
	}
	if match != nil && match.sql == "" {
		return partition.View{IsTable: true}, false
	}
	if match == nil {
		return partition.View{}, false
	}
	v, err := c.d.viewDefinition(c.ctx, c.conn, match.sql)
	if err != nil {
		return partition.View{}, false
	}
	v.Catalog, v.Schema = match.catalog, match.schema
	if c.used == nil {
		c.used = map[string]bool{}
	}
	// Where it is defined too: its names resolve there (View.Schema).
	c.used[match.catalog+"."+match.schema+"\x00"+match.sql] = true
	return v, true
}

// fileAsTable is the view a name that no table or view has reads when it
// names Parquet files (FROM 'dir/*.parquet', DuckDB's replacement scan):
// SELECT * FROM read_parquet(name), read under DuckDB's alias for it, the
// name itself for a glob, else the file's base name up to its first dot.
// Planned as a table, such a query ran whole on the coordinator.
// resolve is the entry of the name that DuckDB binds where several
// match: the first on the session's search path, in DuckDB's order (its
// TEMP objects, then the current schema, then those SET search_path
// names); nil when none or more than one is at that place, or the path
// is not known.
func (c *catalogViews) resolve(catalog, schema, name string) *catalogEntry {
	if c.path == nil {
		c.path = c.d.searchPath(c.ctx, c.conn)
	}
	for _, at := range c.path {
		var found *catalogEntry
		for i, e := range c.entries {
			if !e.named(catalog, schema, name) || !at.holds(e) {
				continue
			}
			if found != nil {
				return nil
			}
			found = &c.entries[i]
		}
		if found != nil {
			return found
		}
	}
	return nil
}

// pathEntry is one place on a session's search path: a schema of a
// catalog, or, for a name SET search_path gives alone, a schema of that
// name in the current catalog or the main schema of a catalog of that
// name (DuckDB takes it either way).
type pathEntry struct {
	catalog, schema string
	either          string
}

func (p pathEntry) holds(e catalogEntry) bool {
	if p.either != "" {
		return strings.EqualFold(e.catalog, p.catalog) && strings.EqualFold(e.schema, p.either) ||
			strings.EqualFold(e.catalog, p.either) && strings.EqualFold(e.schema, "main")
	}
	return strings.EqualFold(e.catalog, p.catalog) && strings.EqualFold(e.schema, p.schema)
}

// searchPath is the session's search path as DuckDB resolves an
// unqualified name through it; empty (no place) when it cannot be read.
func (d *dist) searchPath(ctx context.Context, conn *duck.Conn) []pathEntry {
	rows, err := conn.QueryRows(ctx, "SELECT current_database(), current_schema(), current_setting('search_path')")
	if err != nil {
		return []pathEntry{}
	}
	defer rows.Close()
	var db, schema, set string
	if !rows.Next() || rows.Scan(&db, &schema, &set) != nil {
		return []pathEntry{}
	}
	path := []pathEntry{{catalog: "temp", schema: "main"}, {catalog: db, schema: schema}}
	for _, p := range strings.Split(set, ",") {
		p = strings.Trim(strings.TrimSpace(p), `"`)
		if p == "" {
			continue
		}
		if cat, sch, ok := strings.Cut(p, "."); ok {
			path = append(path, pathEntry{catalog: strings.Trim(cat, `"`), schema: strings.Trim(sch, `"`)})
		} else {
			path = append(path, pathEntry{catalog: db, either: p})
		}
	}
	return path
}

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
