package policy

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy/redistest"
	"github.com/grantd/grantd/internal/store"
)

// benchmarkCheck measures one token request's policy check: an active
// client of the enterprise tier, no hours, not metered, on a clock that
// moves at the tier's rate so that every request is allowed.
func benchmarkCheck(b *testing.B, l Limiter) {
	p, err := New(Options{Limiter: l})
	if err != nil {
		b.Fatal(err)
	}
	c := &store.Client{ID: "0197c0de-0000-7000-8000-000000000001", State: store.ClientActive, Tier: TierEnterprise}
	ctx := context.Background()
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(2 * time.Millisecond)
		res, err := p.Check(ctx, oauth.PolicyRequest{Client: c, Action: oauth.GrantClientCredentials, Address: home, Now: now})
		if err != nil || res.RateLimit == nil {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkPolicyCheck: the in-process limiter.
func BenchmarkPolicyCheck(b *testing.B) { benchmarkCheck(b, NewMemoryLimiter(0)) }

// BenchmarkPolicyCheckRedis: one round trip to GRANTD_TEST_REDIS.
func BenchmarkPolicyCheckRedis(b *testing.B) {
	c := redistest.Client(b)
	benchmarkCheck(b, NewRedisLimiter(c, redistest.Prefix(b, c)))
}

// BenchmarkPolicyCheckParallel: many clients at once on the in-process
// limiter's one lock.
func BenchmarkPolicyCheckParallel(b *testing.B) {
	p, err := New(Options{Tiers: map[string]Tier{"bench": {PerSecond: 1e9, Burst: 1e9}}, DefaultTier: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := &store.Client{ID: rand.Text(), State: store.ClientActive}
		for pb.Next() {
			if _, err := p.Check(ctx, oauth.PolicyRequest{Client: c, Action: oauth.GrantClientCredentials, Now: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRS256Reference is one RSA-2048 signature, what a JWT access
// token costs the server: the unit the policy's cost is read against in
// the same run (docs/benchmarks.md).
func BenchmarkRS256Reference(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("header.claims"))
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkGuard measures what the guard adds to a successful client
// authentication: Allow, then Succeeded.
func benchmarkGuard(b *testing.B, a Attempts) {
	g, err := NewGuard(GuardOptions{Attempts: a})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		at, err := g.Attempt(ctx, "0197c0de-0000-7000-8000-000000000001", home)
		if err != nil {
			b.Fatal(err)
		}
		at.Succeeded(ctx)
	}
}

func BenchmarkGuard(b *testing.B) { benchmarkGuard(b, NewMemoryAttempts(0)) }

// BenchmarkGuardRedis: two round trips (Standing, Clear).
func BenchmarkGuardRedis(b *testing.B) {
	c := redistest.Client(b)
	benchmarkGuard(b, NewRedisAttempts(c, redistest.Prefix(b, c)))
}
