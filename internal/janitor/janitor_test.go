package janitor_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/janitor"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
)

// timed is a real store whose DeleteExpired calls are timed.
type timed struct {
	*sqlite.Store
	calls []span
}

type span struct{ start, end time.Time }

func (s *timed) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	sp := span{start: time.Now()}
	n, err := s.Store.DeleteExpired(ctx, now, limit)
	sp.end = time.Now()
	s.calls = append(s.calls, sp)
	return n, err
}

// TestJanitorPaces: a backlog is deleted in batches, and after each full
// batch the janitor waits at least as long as the batch took before the
// next, so that requests queued behind it go first; every expired row is
// gone at the end of the pass.
func TestJanitorPaces(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := store.Client{ID: uuid.NewString(), Name: "c", AuthMethod: store.AuthMethodBasic, State: store.ClientActive,
		CreatedAt: now, FirstTokenAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	const rows, batch = 230, 50
	if err := st.Import(ctx, func(l store.Loader) error {
		for range rows {
			if err := l.Put(ctx, store.RecordOf(&store.AccessToken{ID: uuid.NewString(), ClientID: c.ID, Format: store.TokenFormatOpaque,
				CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)})); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ts := &timed{Store: st}
	j := &janitor.Janitor{Store: ts, Batch: batch}
	res, err := j.RunOnce(ctx)
	if err != nil || res.Deleted != rows {
		t.Fatalf("RunOnce: %+v, %v; want %d deleted", res, err, rows)
	}
	if len(ts.calls) != rows/batch+1 {
		t.Fatalf("%d batches, want %d", len(ts.calls), rows/batch+1)
	}
	for i := 1; i < len(ts.calls); i++ {
		took, gap := ts.calls[i-1].end.Sub(ts.calls[i-1].start), ts.calls[i].start.Sub(ts.calls[i-1].end)
		if gap < took {
			t.Errorf("batch %d started %v after batch %d ended, which took %v: want a pause at least as long", i, gap, i-1, took)
		}
	}
}
