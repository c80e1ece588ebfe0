package e2e

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy"
	"github.com/grantd/grantd/internal/policy/redistest"
	"github.com/grantd/grantd/internal/store"
)

// TestTierLimitSharedThroughRedis: two instances on one database, each with
// its own Redis client, share one client's tier: its burst is spent once,
// across both. It needs GRANTD_TEST_POSTGRES and GRANTD_TEST_REDIS
// (skipped without them; required in CI).
func TestTierLimitSharedThroughRedis(t *testing.T) {
	redistest.URL(t)
	prefix := redistest.Prefix(t, redistest.Client(t))
	ins := startInstancesWith(t, 2, func(int) oauth.Policy {
		p, err := policy.New(policy.Options{
			Tiers:   map[string]policy.Tier{"shared": {PerSecond: 0.001, Burst: 4}},
			Limiter: policy.NewRedisLimiter(redistest.Client(t), prefix),
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	c := store.Client{ID: uuid.NewString(), Name: "Shared tier", SecretHash: store.Hash(secret), AuthMethod: store.AuthMethodBasic,
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"accounts"}, Environment: "sandbox",
		State: store.ClientActive, Tier: "shared", TokenFormat: store.TokenFormatJWT, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := ins[0].store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	var ok, limited int
	for i := range 8 {
		a := ins[i%2].post(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
		switch a.status {
		case 200:
			ok++
		case 429:
			limited++
			if a.str("error") != "rate_limit_exceeded" {
				t.Errorf("429 body %v", a.body)
			}
		default:
			t.Fatalf("status %d %v", a.status, a.body)
		}
	}
	if ok != 4 || limited != 4 {
		t.Fatalf("%d tokens and %d refusals across two instances, want 4 and 4 (one shared burst)", ok, limited)
	}
}
