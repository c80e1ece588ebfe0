// Package postgres is the PostgreSQL backend of store.Store, on
// github.com/jackc/pgx/v5 (pgxpool), for several grantd instances sharing one
// database behind a load balancer.
//
// Concurrency design (docs/storage.md, "PostgreSQL"):
//
//   - Every read-modify-write runs in one READ COMMITTED transaction that
//     locks the row it is about to change with SELECT … FOR UPDATE before
//     reading it for the decision. Concurrent callers queue on the row lock;
//     when the winner commits, PostgreSQL re-reads the row for each waiter,
//     whose decision then sees the committed state (code used, token
//     rotated). No read-then-write race, and no serialization failures to
//     retry on the hot paths.
//   - Locks are taken in one order everywhere: connection, then code or
//     refresh family and then its token, then the client's row, then
//     families, refresh tokens and access tokens. A decision on a code or a
//     refresh token (Decide) holds its connection FOR SHARE, so a
//     revocation of that connection waits for it (and then revokes what it
//     issued) or runs first (and the decision sees the connection revoked).
//     The client's row is the parent of every grant row; Decide takes it
//     (FOR NO KEY UPDATE, by an UPDATE) after the rows its key names are
//     loaded, as the first write of store.Writes.Apply: the charge of a
//     metered client (UPDATE clients … WHERE id = $1 AND balance >= $2),
//     then the first-token mark, before any grant row is written. So a
//     charge the balance does not cover fails before anything is written,
//     and concurrent charges queue on the client's row and each sees the
//     balance the one before left (EvalPlanQual): the last credit goes to
//     one. AdjustBalance and a capped CreateAuthRequest lock the client's
//     row FOR NO KEY UPDATE first, then write its ledger or requests; that
//     lock does not conflict with the FOR KEY SHARE that inserts of the
//     client's token rows take. DeleteClient and DeleteUnusedClients (FOR
//     UPDATE SKIP LOCKED) lock the client, then cascade to its rows; against
//     a decision on one of those rows that is the one cycle, which the
//     deadlock detector and the retry resolve.
//   - A decision (Decide) sends its transaction in two pipelines on one
//     connection: BEGIN with the locks, then the writes with COMMIT; a
//     write whose result is read sends what is queued first (decideOnce).
//   - AddSigningKey keeps an invariant over several rows (one current, one
//     previous key); it runs SERIALIZABLE, which is cheap for a rare
//     operation.
//   - Every transaction and every single statement is retried a bounded
//     number of times, with jittered backoff, on serialization failures
//     (40001) and deadlocks (40P01). A retried transaction calls the
//     caller's function (decide, fn) again; only the last run's result is
//     written. Export and Import are not retried: their callers' functions
//     have seen records or written them by then.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/grantd/grantd/internal/store"
)

// DefaultMaxConns is the pool's bound when neither the options nor the DSN
// set one: the larger of 16 and twice the CPUs. pgx's own default, the
// larger of 4 and the CPUs, left a 2-core instance waiting for connections
// while PostgreSQL idled: 16 gave 26-30 % more tokens/s at 64 concurrent
// requests (docs/benchmarks.md). Instances × this must stay below the
// server's max_connections (100 by default).
func DefaultMaxConns() int32 { return int32(max(16, 2*runtime.GOMAXPROCS(0))) }

// Options tunes Open. The zero value keeps what the DSN says (pgx reads
// pool_max_conns, pool_min_conns, pool_max_conn_lifetime, search_path …
// from it) and pgx's defaults otherwise.
type Options struct {
	// Schema is the schema grantd's tables live in: it becomes the
	// connections' search_path. It must exist. "" = the DSN's search_path
	// parameter, else the server's default (public).
	Schema string
	// MaxConns bounds the pool; 0 = the DSN's pool_max_conns, else
	// DefaultMaxConns.
	MaxConns int32
	// MinConns is how many connections the pool keeps open; 0 = the DSN's
	// pool_min_conns, else 0.
	MinConns int32
	// MaxConnLifetime recycles connections; 0 = the DSN's
	// pool_max_conn_lifetime, else one hour.
	MaxConnLifetime time.Duration
	// Logger receives what the store does on its own, away from any call:
	// the client-change listener losing and regaining its connection. nil
	// = nothing is logged.
	Logger *slog.Logger
}

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use, by many goroutines and many processes.
type Store struct {
	pool *pgxpool.Pool
	// clients answers GetClient from memory; every write of a client
	// forgets it there, and listener when another instance writes it.
	clients  store.ClientCache
	listener clientListener
	// inserts batches lone access-token inserts (groupinsert.go).
	inserts *tokenInserts
	log     *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (postgres://… or
// postgresql://…), checks that it answers, and runs every pending migration
// (several processes may do so at once: see Migrate).
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	s, err := open(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// open connects, but migrates nothing.
func open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := poolConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.inserts = newTokenInserts(s)
	return s, nil
}

// poolConfig parses dsn and applies opts. Errors never quote the DSN: it may
// hold a password.
func poolConfig(dsn string, opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("postgres: cannot parse the DSN (want postgres://user:password@host:5432/db?sslmode=…)")
	}
	if opts.MaxConns < 0 || opts.MinConns < 0 || opts.MaxConnLifetime < 0 {
		return nil, errors.New("postgres: pool settings must not be negative")
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns()
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if cfg.MinConns > cfg.MaxConns {
		return nil, fmt.Errorf("postgres: min_conns (%d) is larger than max_conns (%d)", cfg.MinConns, cfg.MaxConns)
	}
	if opts.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opts.MaxConnLifetime
	}
	rp := cfg.ConnConfig.RuntimeParams
	if opts.Schema != "" {
		rp["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	if rp["application_name"] == "" {
		rp["application_name"] = "grantd"
	}
	// Times are timestamptz and read back in UTC whatever the session's zone;
	// a fixed zone keeps what psql shows and what the server compares equal.
	if rp["timezone"] == "" {
		rp["timezone"] = "UTC"
	}
	return cfg, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.stopListening()
	s.inserts.close()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers a query (readiness).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return mapErr(s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one))
}

// DatabaseTime is the database server's clock (clock_timestamp()): what
// instances that share the database should agree with. grantd compares it
// with the local clock (keys rotate refuses, serve warns, on a skew that
// the key publication margin does not cover).
func (s *Store) DatabaseTime(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t)
	return t, mapErr(err)
}

// querier is what *pgxpool.Pool, *pgxpool.Conn and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Retries of a transaction that failed with a serialization failure or a
// deadlock: at most maxAttempts runs, sleeping a random time up to
// retryBase·2^n (at most retryCap) in between.
const (
	maxAttempts = 8
	retryBase   = 5 * time.Millisecond
	retryCap    = 250 * time.Millisecond
)

// retry runs fn until it succeeds, fails with an error that retrying cannot
// fix, runs maxAttempts times, or ctx ends.
func retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		backoff := min(retryCap, retryBase<<(attempt-1))
		t := time.NewTimer(rand.N(backoff) + time.Millisecond) // full jitter
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// tx runs fn in a transaction at level iso, committing if fn returns nil,
// and retries the whole transaction as retry does. fn may run more than
// once, so it must only change variables it resets first. An error from fn
// is returned as is.
func (s *Store) tx(ctx context.Context, iso pgx.TxIsoLevel, fn func(tx pgx.Tx) error) error {
	return retry(ctx, func() error { return s.txOnce(ctx, pgx.TxOptions{IsoLevel: iso}, fn) })
}

// txOnce runs fn in one transaction with opts, committing if fn returns
// nil, and does not retry it.
func (s *Store) txOnce(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // no-op after Commit; also runs if fn panics
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx))
}

// writeTx is the transaction of every read-modify-write: READ COMMITTED,
// with the rows to change locked FOR UPDATE before they are read.
func (s *Store) writeTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.tx(ctx, pgx.ReadCommitted, fn)
}

// exec runs one statement (its own transaction) with retries and returns
// the number of rows it changed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := retry(ctx, func() error {
		var err error
		n, err = exec(ctx, s.pool, query, args...)
		return err
	})
	return n, err
}

func exec(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	tag, err := q.Exec(ctx, query, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}
