package postgres

import (
	"context"
	"testing"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
	"github.com/grantd/grantd/internal/store/storetest"
)

// BenchmarkStore runs the store micro-benchmarks (storetest.Bench) on a
// schema of its own in the PostgreSQL of GRANTD_TEST_POSTGRES: each
// operation's round trips to a real server, on loopback here.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		schema, _ := pgtest.Schema(b)
		s, err := Open(context.Background(), pgtest.BaseDSN(b), Options{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}
