package oauth

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestReplays: a key is fresh once and then used; one first usable before
// since, one of the wrong length, and any once the memory is full are not
// covered (the store judges them); an expired key goes, and a released one
// may be used again.
func TestReplays(t *testing.T) {
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	r, ctx := NewReplays(start), context.Background()
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	later, until := start.Add(time.Minute), start.Add(7*time.Minute)
	now := start.Add(2 * time.Minute)
	if res, _ := r.Reserve(ctx, key(1), later, until, now); !res.Fresh || !res.Covered {
		t.Fatalf("a new key: %+v", res)
	}
	if res, _ := r.Reserve(ctx, key(1), later, until, now); res.Fresh || !res.Covered {
		t.Errorf("the key again: %+v, want used", res)
	}
	if res, _ := r.Reserve(ctx, key(2), start.Add(-time.Second), until, now); res.Covered {
		t.Error("a key usable before the start is covered")
	}
	if res, _ := r.Reserve(ctx, []byte("short"), later, until, now); res.Covered {
		t.Error("a short key is covered")
	}
	r.Release(ctx, key(1), Reservation{})
	if res, _ := r.Reserve(ctx, key(1), later, until, now); !res.Fresh {
		t.Error("a released key is not fresh")
	}
	if res, _ := r.Reserve(ctx, key(1), later, until, until.Add(time.Second)); !res.Fresh {
		t.Error("an expired key is not fresh again")
	}
	if n := len(r.keys); n != 1 {
		t.Errorf("%d keys kept after the sweep, want 1", n)
	}
	var nilR *Replays
	if res, _ := nilR.Reserve(ctx, key(3), later, until, now); res.Covered {
		t.Error("a nil Replays covers")
	}
}
