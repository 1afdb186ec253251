package coordinator

import (
	"context"

	"github.com/skeindb/skein/internal/duck"
)

// viewID names one version of a view: DuckDB gives every catalog entry an
// oid from one counter of the database instance, and a new one when the
// view is created again (CREATE OR REPLACE, a TEMP view of another
// session), so a view's definition text is known by its oid.
type viewID struct {
	catalog, schema, name string
	oid                   int64
}

// viewTexts bounds the definitions kept by oid; catalogListings the
// listings kept by catalog version (one a session, mostly), each costing
// its entries.
const (
	viewTexts       = 4096
	maxListings     = 1024
	maxListingBytes = 16 << 20
)

func listingCost(_ duck.CatalogVersion, entries []catalogEntry) int64 {
	n := int64(64)
	for _, e := range entries {
		n += int64(len(e.catalog) + len(e.schema) + len(e.name) + len(e.sql))
	}
	return n
}

// catalogEntries lists the session's tables and views, each view with its
// CREATE VIEW text. The texts come from the cache of definitions by oid
// when it holds every view listed: duckdb_views() renders the SQL of all
// its views, DuckDB's internal ones too (55 of them, about 7 ms on the
// benchmark machine, against under 1 ms for the listing without it), on
// every query the planner plans.
//
// A listing is kept by the connection's catalog version
// (duck.CatalogVersion), which any statement but a SELECT on any
// connection moves on: the listing itself, a millisecond or more with
// the views of the 8 TPC-H tables, is then not run again for every query
// until something may have changed the catalog. The version is read
// before listing, so that a change made while it runs keeps it from
// being found again.
func (d *dist) catalogEntries(ctx context.Context, conn *duck.Conn) ([]catalogEntry, error) {
	version := conn.CatalogVersion()
	if entries, ok := d.catalogs.get(version); ok {
		return entries, nil
	}
	entries, err := d.listEntries(ctx, conn)
	if err == nil {
		d.catalogs.put(version, entries)
	}
	return entries, err
}

// listEntries lists the session's tables and views (catalogEntries).
func (d *dist) listEntries(ctx context.Context, conn *duck.Conn) ([]catalogEntry, error) {
	d.catalogListings.Add(1)
	entries, ids, err := listCatalog(ctx, conn, `SELECT database_name, schema_name, view_name, view_oid FROM duckdb_views() WHERE NOT internal
UNION ALL SELECT database_name, schema_name, table_name, -1 FROM duckdb_tables()`, false)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	missing := false
	for i, id := range ids {
		if id.oid < 0 {
			continue
		}
		text, ok := d.viewTexts[id]
		if !ok {
			missing = true
			break
		}
		entries[i].sql = text
	}
	d.mu.Unlock()
	if !missing {
		return entries, nil
	}
	d.viewTextLoads.Add(1)
	views, vids, err := listCatalog(ctx, conn, `SELECT database_name, schema_name, view_name, view_oid, sql FROM duckdb_views() WHERE NOT internal`, true)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.viewTexts)+len(views) > viewTexts {
		clear(d.viewTexts)
	}
	for i, id := range vids {
		d.viewTexts[id] = views[i].sql
	}
	d.mu.Unlock()
	// The views as this listing has them, the tables as the first did.
	out := views
	for i, id := range ids {
		if id.oid < 0 {
			out = append(out, entries[i])
		}
	}
	return out, nil
}

// listCatalog runs a listing of (catalog, schema, name, oid[, sql]).
func listCatalog(ctx context.Context, conn *duck.Conn, query string, withSQL bool) ([]catalogEntry, []viewID, error) {
	rows, err := conn.QueryRows(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var entries []catalogEntry
	var ids []viewID
	for rows.Next() {
		var e catalogEntry
		var id viewID
		dest := []any{&e.catalog, &e.schema, &e.name, &id.oid}
		if withSQL {
			dest = append(dest, &e.sql)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		id.catalog, id.schema, id.name = e.catalog, e.schema, e.name
		entries = append(entries, e)
		ids = append(ids, id)
	}
	return entries, ids, rows.Err()
}
