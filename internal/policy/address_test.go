package policy

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/oauth"
)

// TestAddressLimits: per address and per route, with the defaults
// (register 10/min, burst 10), an IPv6 /64 counted as one address.
func TestAddressLimits(t *testing.T) {
	now := t0
	counters := new(Counters)
	a, err := NewAddressLimits(AddressOptions{Now: func() time.Time { return now }, Counters: counters, Logger: quiet,
		Tiers: map[string]Tier{RouteConnectSessions: {}, "custom": {PerSecond: 1, Burst: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 10 {
		if err := a.Allow(ctx, RouteRegister, "2001:db8::"+strconv.Itoa(i+1)); err != nil {
			t.Fatalf("registration %d: %v", i+1, err)
		}
	}
	err = a.Allow(ctx, RouteRegister, "2001:db8::ffff")
	var e *oauth.Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Reason != oauth.ReasonRateLimited ||
		e.RetryAfter != 6 || e.RateLimit == nil || e.RateLimit.Limit != 10 {
		t.Fatalf("the 11th registration from one /64: %#v, want 429 with Retry-After 6", err)
	}
	for _, ok := range []struct{ route, address string }{
		{RouteRegister, "2001:db8:0:1::1"}, // another /64
		{RouteAuthorize, "2001:db8::1"},    // another route
		{RouteConnectSessions, "2001:db8::1"},
		{"unknown-route", "2001:db8::1"},
		{"custom", "192.0.2.1"},
	} {
		if err := a.Allow(ctx, ok.route, ok.address); err != nil {
			t.Fatalf("%s from %s: %v", ok.route, ok.address, err)
		}
	}
	if err := a.Allow(ctx, "custom", "192.0.2.1"); err == nil {
		t.Fatal("the custom route's tier is not applied")
	}
	now = now.Add(6 * time.Second)
	if err := a.Allow(ctx, RouteRegister, "2001:db8::1"); err != nil {
		t.Fatalf("six seconds later: %v", err)
	}
	if n := counters.Get(RuleAddress); n != 2 {
		t.Fatalf("address counted %d, want 2", n)
	}
	for range 30 {
		if err := a.Allow(ctx, RouteConnectSessions, "192.0.2.9"); err != nil {
			t.Fatalf("a route whose limit is lifted: %v", err)
		}
	}
}

func TestAddressLimitsFailure(t *testing.T) {
	l := NewRedisLimiter(unreachableRedis(t), "")
	open, _ := NewAddressLimits(AddressOptions{Limiter: l, Logger: quiet})
	if err := open.Allow(context.Background(), RouteAuthorize, "192.0.2.1"); err != nil {
		t.Fatalf("fail open: %v", err)
	}
	closed, _ := NewAddressLimits(AddressOptions{Limiter: l, FailClosed: true, Logger: quiet})
	wantUnavailable(t, closed.Allow(context.Background(), RouteAuthorize, "192.0.2.1"))
	if _, err := NewAddressLimits(AddressOptions{Tiers: map[string]Tier{RouteRegister: {Burst: -1}}}); err == nil {
		t.Fatal("an invalid tier accepted")
	}
}
