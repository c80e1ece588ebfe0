package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/grantd/grantd/internal/oauth"
)

// The open endpoints an AddressLimits limits (the names server.Route*
// uses).
const (
	RouteRegister        = "register"         // POST /oauth/register
	RouteAuthorize       = "authorize"        // /oauth/authorize
	RouteConnectSessions = "connect_sessions" // POST /connect/sessions
)

// DefaultAddressTiers are the per-address limits of the open endpoints:
//
//	register          10/min, burst 10, 500/day
//	authorize         60/min, burst 30
//	connect_sessions  60/min, burst 30
func DefaultAddressTiers() map[string]Tier {
	return map[string]Tier{
		RouteRegister:        {PerSecond: 10.0 / 60, Burst: 10, PerDay: 500},
		RouteAuthorize:       {PerSecond: 1, Burst: 30},
		RouteConnectSessions: {PerSecond: 1, Burst: 30},
	}
}

// AddressOptions configure AddressLimits; the zero value is the default
// tiers on an in-process limiter.
type AddressOptions struct {
	// Tiers override DefaultAddressTiers by route; Tier{} lifts a route's
	// limit. A route with no tier is not limited.
	Tiers map[string]Tier
	// Limiter keeps the windows, keyed "address:<route>:<address>"; nil =
	// NewMemoryLimiter(0). It may be the Policy's.
	Limiter Limiter
	// FailClosed refuses (503) while the limiter fails; by default the
	// request goes through with a warning.
	FailClosed bool
	Now        func() time.Time
	Counters   *Counters
	Logger     *slog.Logger
}

// AddressLimits limit requests per source address (AddressKey: an IPv4
// address or an IPv6 /64) on the open endpoints, where no client has
// authenticated yet. It satisfies the server's AddressLimiter.
type AddressLimits struct {
	tiers   map[string]Tier
	limiter Limiter
	now     func() time.Time
	rec     *recorder
}

// NewAddressLimits returns the address limits, or every problem of o's
// tiers at once.
func NewAddressLimits(o AddressOptions) (*AddressLimits, error) {
	tiers := DefaultAddressTiers()
	var errs []error
	for _, route := range slices.Sorted(maps.Keys(o.Tiers)) {
		errs = append(errs, within(fmt.Sprintf("route %q", route), o.Tiers[route].Validate())...)
		tiers[route] = o.Tiers[route]
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("policy: address limits: %w", errors.Join(errs...))
	}
	if o.Limiter == nil {
		o.Limiter = NewMemoryLimiter(0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &AddressLimits{tiers: tiers, limiter: o.Limiter, now: o.Now, rec: newRecorder(o.Counters, o.Logger, o.FailClosed)}, nil
}

// Allow takes one request of address at route. Over the limit it answers
// 429 rate_limit_exceeded with RetryAfter and the window (RateLimit); a
// failing limiter lets the request through, or with fail closed answers
// 503.
func (a *AddressLimits) Allow(ctx context.Context, route, address string) error {
	t, ok := a.tiers[route]
	if !ok || t.Unlimited() {
		return nil
	}
	now := a.now()
	d, err := a.limiter.Allow(ctx, "address:"+route+":"+AddressKey(address), t, now)
	if err != nil {
		return a.rec.storeFailed(ctx, now, err, slog.String("route", route), slog.String("address", address))
	}
	if d.Allowed {
		return nil
	}
	e := oauth.RateLimited(d.RetryAfter, rateLimit(d))
	e.Description = "Too many requests from this address; retry after the time in Retry-After."
	a.rec.refused(ctx, RuleAddress, e, slog.String("route", route), slog.String("address", address))
	return e
}
