package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// A statement cache under database/sql: each connection keeps the SQLite
// statements it prepared, by SQL text, and runs a query it has seen again
// without parsing it. The driver prepares anew for every QueryContext and
// ExecContext, and parsing was 14-23 % of the CPU of a token (issue 11's
// profile): the store's statements are a few dozen fixed strings, so a
// connection's cache holds them all.
//
// A cached statement serves one query at a time: while rows of it are
// open (a loop over rows that runs the same statement inside a
// transaction), the query runs uncached, as the driver would.

// maxCachedStatements bounds a connection's cache; statements past it run
// uncached.
const maxCachedStatements = 256

// openCached opens a pool of dsn whose connections cache statements.
func openCached(dsn string) *sql.DB {
	return sql.OpenDB(cachingConnector{dsn: dsn, d: &sqlite.Driver{}})
}

type cachingConnector struct {
	dsn string
	d   driver.Driver
}

func (c cachingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.d }

// The interfaces of modernc's connection that database/sql uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a connection with its statement cache. database/sql uses
// a connection from one goroutine at a time: no lock.
type cachingConn struct {
	conn  driver.Conn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	s    driver.Stmt
	busy bool // rows of it are open
}

var _ sqliteConn = (*cachingConn)(nil)

func (c *cachingConn) inner() sqliteConn { return c.conn.(sqliteConn) }

// stmt is the cached statement of query, prepared if new, or nil when the
// query must run uncached (busy, or the cache is full).
func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if st := c.stmts[query]; st != nil {
		if st.busy {
			return nil, nil
		}
		return st, nil
	}
	if len(c.stmts) >= maxCachedStatements {
		return nil, nil
	}
	s, err := c.inner().PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st := &cachedStmt{s: s}
	c.stmts[query] = st
	return st, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.inner().ExecContext(ctx, query, args)
	}
	return st.s.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.inner().QueryContext(ctx, query, args)
	}
	rows, err := st.s.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	st.busy = true
	return &cachedRows{Rows: rows, st: st}, nil
}

// cachedRows frees its statement for the next query when closed.
type cachedRows struct {
	driver.Rows
	st *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.st.busy = false
	return err
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.inner().PrepareContext(ctx, query)
}
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.inner().BeginTx(context.Background(), driver.TxOptions{})
}
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.inner().BeginTx(ctx, opts)
}
func (c *cachingConn) Ping(ctx context.Context) error         { return c.inner().Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.inner().ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.inner().IsValid() }

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for q, st := range c.stmts {
		errs = append(errs, st.s.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.conn.Close())...)
}
