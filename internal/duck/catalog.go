package duck

import "sync/atomic"

// CatalogVersion says when what a connection's names bind to may have
// changed: it moves on after any statement other than a SELECT ran on any
// connection of the instance (DDL, SET and USE, a transaction's BEGIN,
// COMMIT and ROLLBACK, DML, the Arrow streams the server registers). A
// connection that ran such a statement itself has a version of its own
// from then on (its temp objects, search path, settings and transaction
// are its own); every other connection sees the same catalog, the one
// committed, and shares its version. A caller may keep what it learnt
// from the catalog (the views and tables a connection sees) for as long
// as the version stays the same. It counts statements, not changes: a
// DELETE moves it too, which only costs a listing again. It does not
// cover the files a view or a query reads, which change outside DuckDB.
type CatalogVersion struct {
	conn, epoch uint64 // conn 0: a connection that ran SELECTs only
}

// connIDs numbers connections for CatalogVersion.
var connIDs atomic.Uint64

// CatalogVersion is the connection's catalog version now.
func (c *Conn) CatalogVersion() CatalogVersion {
	v := CatalogVersion{epoch: c.db.epoch.Load()}
	if c.own.Load() {
		v.conn = c.id
	}
	return v
}

// changed moves every connection's CatalogVersion on, and gives this one
// a version of its own.
func (c *Conn) changed() {
	c.own.Store(true)
	c.db.changed()
}

// changed moves every connection's CatalogVersion on.
func (db *DB) changed() { db.epoch.Add(1) }
