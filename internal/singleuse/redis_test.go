package singleuse_test

import (
	"bytes"
	"context"
	"encoding/hex"
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

// TestRedis: on a real Redis, a key is fresh once, then used; its record
// lives a minute past until; a released reservation is fresh again, but
// releasing an old reservation leaves a newer one in place; a short key
// is not covered; 50 racing reservations of one key give exactly one
// fresh.
func TestRedis(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	r, ctx := singleuse.NewRedis(c, prefix), context.Background()
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	now := time.Now()
	until := now.Add(time.Minute)
	first, err := r.Reserve(ctx, key(1), now, until, now)
	if err != nil || !first.Fresh || !first.Covered || first.Token == "" {
		t.Fatalf("a new key: %+v, %v", first, err)
	}
	if again, err := r.Reserve(ctx, key(1), now, until, now); err != nil || again.Fresh || !again.Covered {
		t.Errorf("the key again: %+v, %v, want used", again, err)
	}
	ttl, err := c.PTTL(ctx, prefix+hex.EncodeToString(key(1))).Result()
	if err != nil || ttl <= 115*time.Second || ttl > 120*time.Second {
		t.Errorf("TTL of the record %v (%v), want until + 1 minute", ttl, err)
	}
	r.Release(ctx, key(1), first)
	second, _ := r.Reserve(ctx, key(1), now, until, now)
	if !second.Fresh {
		t.Fatal("a released key is not fresh")
	}
	r.Release(ctx, key(1), first) // the old reservation: the new one stays
	if again, _ := r.Reserve(ctx, key(1), now, until, now); again.Fresh {
		t.Error("releasing an old reservation freed a newer one")
	}
	if res, _ := r.Reserve(ctx, []byte("short"), now, until, now); res.Covered {
		t.Error("a short key is covered")
	}

	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if res, err := r.Reserve(ctx, key(3), now, until, now); err == nil && res.Fresh {
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
	res, err := r.Reserve(context.Background(), bytes.Repeat([]byte{1}, 32), now, now.Add(time.Minute), now)
	if err == nil || res.Fresh {
		t.Errorf("Reserve on a dead Redis: %+v, %v, want an error", res, err)
	}
}
