package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	// Each subtest gets a copy of one freshly migrated, empty database:
	// migrating costs more than most subtests (ALTER TABLE is slow under
	// -race), and migrations have tests of their own (migrate_test.go).
	// Open still runs Migrate on the copy, which finds it up to date.
	template := filepath.Join(t.TempDir(), "template.db")
	s, err := sqlite.Open(t.Context(), template)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "grantd.db")
		for _, suffix := range []string{"", "-wal"} { // no -wal once closed, unless a checkpoint was left undone
			b, err := os.ReadFile(template + suffix)
			if err == nil {
				err = os.WriteFile(path+suffix, b, 0o600)
			}
			if err != nil && (suffix == "" || !os.IsNotExist(err)) {
				t.Fatal(err)
			}
		}
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	})
}
