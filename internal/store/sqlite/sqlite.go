// Package sqlite is the SQLite backend of store.Store, on modernc.org/sqlite
// (pure Go, no cgo).
//
// A Store holds two connection pools on one database file in WAL mode:
//
//   - a writer pool of exactly one connection. Every write, and every
//     read-modify-write, runs on it in a BEGIN IMMEDIATE transaction, so
//     writers queue in Go (database/sql's pool, honouring ctx) instead of
//     racing for SQLite's write lock: a process never sees SQLITE_BUSY from
//     itself;
//   - a reader pool of several query_only connections. Under WAL a reader
//     sees the last committed state and neither blocks nor is blocked by the
//     writer.
//
// SQLite transactions are serializable. BEGIN IMMEDIATE takes the write lock
// when the transaction starts, so a load, the caller's decision and the
// write that follows it see no concurrent change. busy_timeout covers the
// remaining cases: another process on the same file (grantd migrate, a
// second instance) and WAL recovery.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"

	"github.com/grantd/grantd/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeoutMS is how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	w  *sql.DB // one connection: every write
	r  *sql.DB // read pool, query_only
	g  *groupWriter
	ck *checkpointer
	// clients answers GetClient from memory; every write of a client
	// forgets it there.
	clients store.ClientCache
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed, with mode 0600) the database file at
// path, applies the connection pragmas and runs every pending migration. path must name a
// file: ":memory:" is refused, since the writer and the readers are separate
// connections that must share the database.
func Open(ctx context.Context, path string) (*Store, error) {
	s, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// open opens both pools and applies the pragmas, but migrates nothing.
func open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: %q: want the path of a database file", path)
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	w := openCached(dsn(path, false))
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer connects first: it creates the file and switches it to WAL
	// (a persistent setting) before any reader opens it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, mapErr(err))
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, mapErr(err))
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: journal_mode is %q, want wal", path, mode)
	}

	r := openCached(dsn(path, true))
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, mapErr(err))
	}
	return &Store{w: w, r: r, g: newGroupWriter(w), ck: startCheckpointer(dsn(path, false))}, nil
}

// createPrivate creates the database file, empty, readable and writable by
// its owner only, unless it exists: SQLite would create it with 0644 less
// the umask, and it holds client secrets' hashes, sealed signing keys and
// every grant. SQLite gives the -wal and -shm files it creates next to it
// the main file's mode. An existing file keeps its mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return f.Close()
}

// dsn builds the driver's data source name. The pragmas run on every new
// connection. _txlock=immediate makes BeginTx issue BEGIN IMMEDIATE; _dqs=0
// turns double-quoted strings into the errors they should be.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_dqs", "0")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// Checkpoints run off the writer (checkpoint.go); the writer's own
		// runs only past writerCheckpointPages, and finds little left.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", writerCheckpointPages))
		// Each grant of a group commit runs in a savepoint, whose
		// statement journal keeps the pages it changes; past 64 KiB SQLite
		// spills that journal to a temporary file, a write system call a
		// page. In memory it stays a copy (bounded by the group's size).
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

// Close closes both pools.
func (s *Store) Close() error {
	s.g.close()
	return errors.Join(s.ck.close(), s.r.Close(), s.w.Close())
}

// Ping checks that both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return mapErr(err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return mapErr(err)
	}
	var one int
	return mapErr(s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one))
}

// writeTx runs fn in a write transaction (BEGIN IMMEDIATE) on the writer
// connection and commits if fn returns nil. fn must use only tx: the writer
// pool has one connection, which tx holds.
//
// Transactions that wait at once share one commit (groupcommit.go): fn
// runs in a savepoint of the batch's transaction, and writeTx returns once
// that transaction is committed. fn must not commit, roll back, or rely on
// being first in its transaction.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.g.do(ctx, fn)
}

// writeExec runs one write statement in its own BEGIN IMMEDIATE transaction
// and returns the number of rows it changed. An autocommit statement would
// start as a reader and upgrade to a writer, which, with another process
// writing the file, can fail with SQLITE_BUSY_SNAPSHOT without waiting.
func (s *Store) writeExec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = exec(ctx, tx, query, args...)
		return err
	})
	return n, err
}

// execer is what *sql.DB and *sql.Tx share.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// exec runs one statement and returns the number of rows it changed.
func exec(ctx context.Context, db execer, query string, args ...any) (int64, error) {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}
