package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store/migration"
)

// migrationFS holds the schema, one file per version: NNNN_name.sql, applied
// in order, each in its own transaction. A migration is never edited once
// released; a change is a new file. PostgreSQL's versions are its own: they
// need not match SQLite's.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations is the parsed content of migrationFS, versions 1..n without gaps.
var migrations = migration.MustLoad(migrationFS, "migrations")

// LatestVersion is the schema version this build migrates to.
func LatestVersion() int { return len(migrations) }

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL
)`

// Migrate applies every pending migration. It is idempotent, and safe when
// several instances start at once: each migration runs in a transaction
// that first takes a transaction-level advisory lock (pg_advisory_xact_lock)
// whose key is derived from the schema's name, then re-reads the version.
// The other instances wait for the lock and find the step done. DDL is
// transactional in PostgreSQL, so a failed step leaves nothing behind. It
// refuses a database whose version is newer than this build knows.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, LatestVersion())
}

// migrateTo applies the migrations up to and including version target.
func (s *Store) migrateTo(ctx context.Context, target int) error {
	// Up to date: no lock, no DDL, so that a runtime role without CREATE on
	// the schema can start once an operator has migrated.
	if v, err := s.Version(ctx); err == nil && v >= target {
		if v > LatestVersion() {
			return fmt.Errorf("postgres: database schema version %d is newer than this build's %d", v, LatestVersion())
		}
		return nil
	}
	for _, m := range migrations[:target] {
		err := s.tx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
			if err := lockSchema(ctx, tx, "migrate"); err != nil {
				return err
			}
			if _, err := exec(ctx, tx, createMigrationsTable); err != nil {
				return err
			}
			v, err := version(ctx, tx)
			if err != nil {
				return err
			}
			if v > LatestVersion() {
				return fmt.Errorf("database schema version %d is newer than this build's %d", v, LatestVersion())
			}
			if v >= m.Version {
				return nil
			}
			if _, err := exec(ctx, tx, m.SQL); err != nil {
				return err
			}
			_, err = exec(ctx, tx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UTC())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migrate %s: %w", m.Name, err)
		}
	}
	return nil
}

// lockSchema takes the transaction-level advisory lock named what in the
// current schema: grantd instances on other schemas of the same database
// do not wait for each other. It fails when the search_path names no
// existing schema.
func lockSchema(ctx context.Context, tx pgx.Tx, what string) error {
	var schema *string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return mapErr(err)
	}
	if schema == nil {
		return errors.New("no schema: the search_path names no existing schema (create it first)")
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "grantd %s %s", what, *schema)
	_, err := exec(ctx, tx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64()))
	return err
}

// Version returns the schema version of the database: 0 when no migration
// ran yet.
func (s *Store) Version(ctx context.Context) (int, error) {
	var exists bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = 'schema_migrations')`).Scan(&exists)
	if err != nil || !exists {
		return 0, mapErr(err)
	}
	return version(ctx, s.pool)
}

func version(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, mapErr(err)
}
