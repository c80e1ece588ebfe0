package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/store"
)

// TestBatchedTokenInserts: decisions that only insert an access token go
// to PostgreSQL in batches; under 200 concurrent decisions, some of them
// for a client that does not exist, every token of the live client is
// stored and answered nil, every other one is answered ErrMissingParent
// (its batch failed and ran again row by row) and stored nowhere.
func TestBatchedTokenInserts(t *testing.T) {
	s := instances(t, 1)[0]
	ctx := t.Context()
	c := testClient(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 200
	errs := raceAll(n, func(i int) error {
		client := c.ID
		if i%10 == 3 {
			client = uuid.NewString() // no such client
		}
		tok := store.AccessToken{ID: uuid.NewString(), ClientID: client, Subject: client, Scopes: []string{"accounts"},
			Format: store.TokenFormatOpaque, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		return s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
			return store.Writes{At: now, AccessToken: &tok}, nil
		})
	})
	var stored int
	for i, err := range errs {
		switch {
		case i%10 == 3 && !errors.Is(err, store.ErrMissingParent):
			t.Errorf("insert %d for a missing client: %v, want ErrMissingParent", i, err)
		case i%10 != 3 && err != nil:
			t.Errorf("insert %d: %v", i, err)
		case i%10 != 3:
			stored++
		}
	}
	t.Logf("%d batches failed and ran again row by row", s.inserts.refused.Load())
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM access_tokens`).Scan(&rows); err != nil || rows != stored || stored != n-n/10 {
		t.Errorf("%d rows stored (%v), %d answered nil, want %d", rows, err, stored, n-n/10)
	}
}

// TestBatchedTokenInsertsAfterClose: an insert after Close is refused, and
// one whose caller has gone is not waited for.
func TestBatchedTokenInsertsAfterClose(t *testing.T) {
	s := instances(t, 1)[0]
	c := testClient(t, s)
	tok := func() *store.AccessToken {
		return &store.AccessToken{ID: uuid.NewString(), ClientID: c.ID, Format: store.TokenFormatOpaque,
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	}
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.inserts.insert(gone, tok()); !errors.Is(err, context.Canceled) {
		t.Errorf("insert with a canceled context: %v", err)
	}
	var wg sync.WaitGroup
	s.Close()
	wg.Go(func() {
		if err := s.inserts.insert(t.Context(), tok()); !errors.Is(err, errClosed) {
			t.Errorf("insert after Close: %v, want errClosed", err)
		}
	})
	wg.Wait()
}

// TestBatchedTokenInsertsReplyLost: a batch whose answer is lost (no
// PostgreSQL error: the connection dropped, the bound passed) may or may
// not have committed; either way each of its tokens is answered nil once
// it is stored, never ErrConflict for the row the batch itself wrote.
func TestBatchedTokenInsertsReplyLost(t *testing.T) {
	s := instances(t, 1)[0]
	ctx := t.Context()
	c := testClient(t, s)
	var calls atomic.Int64
	s.inserts.insertBatch = func(ctx context.Context, q querier, batch []*tokenInsert) error {
		if calls.Add(1)%2 == 1 {
			if err := insertAccessTokens(ctx, q, batch); err != nil {
				return err
			}
		}
		return fmt.Errorf("reading the reply: %w", io.ErrUnexpectedEOF)
	}
	now := time.Now().UTC()
	const n = 60
	errs := raceAll(n, func(i int) error {
		tok := store.AccessToken{ID: uuid.NewString(), ClientID: c.ID, Subject: c.ID, Scopes: []string{"accounts"},
			Format: store.TokenFormatOpaque, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		return s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
			return store.Writes{At: now, AccessToken: &tok}, nil
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("insert %d: %v", i, err)
		}
	}
	if calls.Load() < 2 {
		t.Fatalf("%d batches: both cases not tried", calls.Load())
	}
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM access_tokens`).Scan(&rows); err != nil || rows != n {
		t.Errorf("%d rows stored (%v), want %d", rows, err, n)
	}
	// A row of the same ID that is another token's stays a conflict.
	other := store.AccessToken{ID: uuid.NewString(), ClientID: c.ID, Format: store.TokenFormatOpaque,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := insertAccessToken(ctx, s.pool, &other); err != nil {
		t.Fatal(err)
	}
	again := other
	again.CreatedAt = now.Add(time.Second)
	if err := insertAccessTokenAgain(ctx, s.pool, &again, true); !errors.Is(err, store.ErrConflict) {
		t.Errorf("another token's row: %v, want ErrConflict", err)
	}
}
