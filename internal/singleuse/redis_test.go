package singleuse_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy/redistest"
	"github.com/grantd/grantd/internal/singleuse"
)

var _ oauth.SingleUse = (*singleuse.Redis)(nil)

// TestRedis: on a real Redis, a key is fresh once, then used; a released
// one is fresh again; its record expires after until; a short key is not
// covered; 50 racing reservations of one key give exactly one fresh.
func TestRedis(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	r, ctx := singleuse.NewRedis(c, prefix), context.Background()
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	now := time.Now()
	until := now.Add(time.Minute)
	if fresh, covered, err := r.Reserve(ctx, key(1), now, until, now); err != nil || !fresh || !covered {
		t.Fatalf("a new key: fresh %v covered %v err %v", fresh, covered, err)
	}
	if fresh, covered, err := r.Reserve(ctx, key(1), now, until, now); err != nil || fresh || !covered {
		t.Errorf("the key again: fresh %v covered %v err %v, want used", fresh, covered, err)
	}
	ttl, err := c.PTTL(ctx, prefix+string(bytes.Repeat([]byte("01"), 32))).Result()
	if err != nil || ttl <= 55*time.Second || ttl > 61*time.Second {
		t.Errorf("TTL of the record %v (%v), want about until+1s", ttl, err)
	}
	r.Release(ctx, key(1))
	if fresh, _, _ := r.Reserve(ctx, key(1), now, until, now); !fresh {
		t.Error("a released key is not fresh")
	}
	if _, covered, _ := r.Reserve(ctx, []byte("short"), now, until, now); covered {
		t.Error("a short key is covered")
	}
	// until already past: the record still lives a second (slack), then goes.
	if fresh, _, _ := r.Reserve(ctx, key(2), now, now.Add(-time.Minute), now); !fresh {
		t.Fatal("a key past its until is not fresh")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if fresh, _, _ := r.Reserve(ctx, key(2), now, now.Add(-time.Minute), now); fresh {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired record stays")
		}
		time.Sleep(100 * time.Millisecond)
	}

	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if fresh, _, err := r.Reserve(ctx, key(3), now, until, now); err == nil && fresh {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d of 50 racing reservations were fresh, want 1", n)
	}
}

// TestRedisDown: a Redis that does not answer is an error, never a fresh
// key (the caller refuses the request).
func TestRedisDown(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	r := singleuse.NewRedis(c, "")
	now := time.Now()
	fresh, _, err := r.Reserve(context.Background(), bytes.Repeat([]byte{1}, 32), now, now.Add(time.Minute), now)
	if err == nil || fresh {
		t.Errorf("Reserve on a dead Redis: fresh %v err %v, want an error", fresh, err)
	}
}
