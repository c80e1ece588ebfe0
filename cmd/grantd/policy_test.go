package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy"
	"github.com/grantd/grantd/internal/policy/redistest"
	"github.com/grantd/grantd/internal/singleuse"
	"github.com/grantd/grantd/internal/store"
)

// TestPoliciesShareRedis: two serving instances configured with one
// --redis share a client's tier, as newPolicies wires them; without
// --redis, each keeps its own.
func TestPoliciesShareRedis(t *testing.T) {
	url := redistest.URL(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.Policy.Tiers = map[string]policy.Tier{"wiring": {PerSecond: 0.001, Burst: 2}}
	client := &store.Client{ID: "wiring-" + uuid.NewString(), Tier: "wiring", State: store.ClientActive}
	req := oauth.PolicyRequest{Client: client, Action: oauth.GrantClientCredentials, Now: time.Now()}
	take := func(ps []*policies) (ok, refused int) {
		for i := range 4 {
			if _, err := ps[i%2].policy.Check(context.Background(), req); err != nil {
				refused++
			} else {
				ok++
			}
		}
		return ok, refused
	}
	open := func(cfg config.Config) []*policies {
		var ps []*policies
		for range 2 {
			p, err := newPolicies(context.Background(), cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.close() })
			ps = append(ps, p)
		}
		return ps
	}
	if ok, refused := take(open(cfg)); ok != 4 || refused != 0 {
		t.Fatalf("in process: %d allowed, %d refused; want each instance its own burst of 2", ok, refused)
	}
	cfg.Redis = url
	client.ID = "wiring-" + uuid.NewString() // fresh keys under grantd:rl:
	t.Cleanup(func() {
		c := redistest.Client(t)
		_ = redistest.Delete(context.Background(), c, policy.DefaultLimiterPrefix+"client:"+client.ID)
	})
	if ok, refused := take(open(cfg)); ok != 2 || refused != 2 {
		t.Fatalf("through Redis: %d allowed, %d refused; want one shared burst of 2", ok, refused)
	}
}

// TestReplayCacheWiring: replay_cache picks where single uses are
// recorded: memory with the embedded SQLite store (auto), nothing outside
// the store with PostgreSQL (auto) or with store, Redis (newPolicies's
// client) with redis.
func TestReplayCacheWiring(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if _, ok := replayCache(cfg, nil).(*oauth.Replays); !ok {
		t.Errorf("auto with SQLite: %T, want *oauth.Replays", replayCache(cfg, nil))
	}
	cfg.ReplayCache = config.ReplayStore
	if r := replayCache(cfg, nil); r != nil {
		t.Errorf("store with SQLite: %T, want nil", r)
	}
	pg := cfg
	pg.ReplayCache, pg.Store = config.ReplayAuto, "postgres://u@db:5432/grantd"
	if r := replayCache(pg, nil); r != nil {
		t.Errorf("auto with PostgreSQL: %T, want nil", r)
	}
	cfg.ReplayCache, cfg.Redis = config.ReplayRedis, "redis://127.0.0.1:1/0"
	ps, err := newPolicies(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.close()
	if _, ok := replayCache(cfg, ps.redis).(*singleuse.Redis); !ok {
		t.Errorf("redis: %T, want *singleuse.Redis", replayCache(cfg, ps.redis))
	}
}
