package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
	"github.com/grantd/grantd/internal/store/storetest"
)

// TestConformance runs the store suite, each subtest on a fresh schema of
// its own.
func TestConformance(t *testing.T) {
	f := newFactory(t, pgtest.BaseDSN(t), 4)
	storetest.Run(t, func(t *testing.T) store.Store {
		s := f.next(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	})
}

// factory makes migrated stores, each on a new schema, ahead of the tests
// that take them: creating and migrating a schema costs more than most
// subtests, so workers prepare the next stores while a subtest runs. Every
// schema it made is dropped, in one statement, when the test ends.
type factory struct {
	base  string
	ready chan made
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	names []string
}

type made struct {
	s   *postgres.Store
	err error
}

func newFactory(t *testing.T, base string, workers int) *factory {
	f := &factory{base: base, ready: make(chan made), stop: make(chan struct{})}
	for range workers {
		f.wg.Go(func() {
			for {
				m := f.make()
				select {
				case f.ready <- m:
				case <-f.stop:
					if m.s != nil {
						m.s.Close()
					}
					return
				}
			}
		})
	}
	t.Cleanup(func() {
		close(f.stop)
		f.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pgtest.DropSchemas(ctx, base, f.names...); err != nil {
			t.Error(err)
		}
	})
	return f
}

func (f *factory) make() made {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := pgtest.CreateSchema(ctx, f.base)
	if err != nil {
		return made{err: err}
	}
	f.mu.Lock()
	f.names = append(f.names, name)
	f.mu.Unlock()
	s, err := postgres.Open(ctx, f.base, postgres.Options{Schema: name})
	return made{s, err}
}

// next returns a fresh, empty, migrated store.
func (f *factory) next(t *testing.T) *postgres.Store {
	t.Helper()
	select {
	case m := <-f.ready:
		if m.err != nil {
			t.Fatal(m.err)
		}
		return m.s
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
		return nil
	}
}
