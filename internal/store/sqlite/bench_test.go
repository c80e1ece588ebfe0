package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/storetest"
)

// BenchmarkStore runs the store micro-benchmarks (storetest.Bench) on a
// real SQLite file.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := Open(context.Background(), filepath.Join(b.TempDir(), "grantd.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}
