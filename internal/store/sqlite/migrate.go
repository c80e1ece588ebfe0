package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store/migration"
)

// migrationFS holds the schema, one file per version: NNNN_name.sql, applied
// in order, each in its own transaction. A migration is never edited once
// released; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations is the parsed content of migrationFS, versions 1..n without gaps.
var migrations = migration.MustLoad(migrationFS, "migrations")

// LatestVersion is the schema version this build migrates to.
func LatestVersion() int { return len(migrations) }

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT`

// Migrate applies every pending migration. It is idempotent, and safe against
// another process migrating the same file: each migration runs in a BEGIN
// IMMEDIATE transaction that re-reads the version first. It refuses a
// database whose version is newer than this build knows.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, LatestVersion())
}

// migrateTo applies the migrations up to and including version target.
func (s *Store) migrateTo(ctx context.Context, target int) error {
	if _, err := s.writeExec(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for _, m := range migrations[:target] {
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
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
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return mapErr(err)
			}
			_, err = exec(ctx, tx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", m.Name, err)
		}
	}
	return nil
}

// Version returns the schema version of the database: 0 when no migration
// ran yet.
func (s *Store) Version(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, mapErr(err)
	}
	return version(ctx, s.r)
}

func version(ctx context.Context, db execer) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, mapErr(err)
}
