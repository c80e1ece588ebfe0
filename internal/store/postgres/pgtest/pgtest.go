// Package pgtest gives each test its own empty PostgreSQL schema, so that
// test runs (and parallel tests) never see each other's rows.
//
// The database comes from GRANTD_TEST_POSTGRES (a postgres:// DSN). Without
// it the test is skipped, unless CI is set: then it fails, so that CI never
// passes by skipping the PostgreSQL tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the variable with the test database's DSN.
const Env = "GRANTD_TEST_POSTGRES"

// BaseDSN returns GRANTD_TEST_POSTGRES, or skips the test (fails it under CI).
func BaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests (e.g. %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')", Env, Env)
		}
		t.Skipf("%s is not set: skipping the PostgreSQL tests (set it to a postgres:// DSN to run them)", Env)
	}
	return dsn
}

// Schema creates a new empty schema grantd_test_<random>, drops it (with
// everything in it) when the test ends, and returns its name and a DSN whose
// search_path is that schema.
func Schema(t testing.TB) (name, dsn string) {
	t.Helper()
	base := BaseDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := CreateSchema(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DropSchemas(ctx, base, name); err != nil {
			t.Error(err)
		}
	})
	return name, WithSearchPath(t, base, name)
}

// CreateSchema creates a new empty schema grantd_test_<random> in the
// database base names and returns its name. The caller drops it.
func CreateSchema(ctx context.Context, base string) (string, error) {
	name := "grantd_test_" + strings.ToLower(rand.Text()[:16])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("pgtest: connect to %s: %w", Env, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create schema: %w", err)
	}
	return name, nil
}

// dropBatch is how many schemas DropSchemas drops in one statement: a
// statement locks every object of every schema it drops, and a few dozen
// schemas' worth exceed the server's lock table (max_locks_per_transaction,
// "out of shared memory").
const dropBatch = 16

// DropSchemas drops the named schemas and everything in them, dropBatch
// schemas a statement.
func DropSchemas(ctx context.Context, base string, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("pgtest: drop schemas: connect to %s: %w", Env, err)
	}
	defer conn.Close(ctx)
	for batch := range slices.Chunk(names, dropBatch) {
		ids := make([]string, len(batch))
		for i, n := range batch {
			ids[i] = pgx.Identifier{n}.Sanitize()
		}
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+strings.Join(ids, ", ")+` CASCADE`); err != nil {
			return fmt.Errorf("pgtest: drop schemas %s: %w", strings.Join(batch, ", "), err)
		}
	}
	return nil
}

// WithSearchPath returns dsn with its search_path parameter set to schema.
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL", Env)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
