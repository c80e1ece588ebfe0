package policy

import (
	"context"
	"time"
)

// Limiter checks one request of a key against a tier: both of the tier's
// windows (the rate with its burst, and the daily quota) in one atomic step.
// A request either takes one unit of each window, or, refused, takes
// nothing. MemoryLimiter and RedisLimiter have the same semantics; the
// limiter runs on the caller's clock (now).
type Limiter interface {
	Allow(ctx context.Context, key string, t Tier, now time.Time) (Decision, error)
}

// Decision is a limiter's answer, with what RateLimit-* and Retry-After
// show: of the two windows, the one closer to exhaustion when the request
// is allowed, and the one that refused it otherwise
// (draft-ietf-httpapi-ratelimit-headers).
type Decision struct {
	Allowed bool
	// Limit is the window's quota: the burst, or the daily quota; 0 when
	// the tier limits nothing (then the rest is zero too).
	Limit int64
	// Remaining is what the window still allows now, after this request.
	Remaining int64
	// Reset is when the window is whole again.
	Reset time.Duration
	// RetryAfter is, for a refused request, when the same request would be
	// allowed; 0 when allowed.
	RetryAfter time.Duration
}

// window is one GCRA cell (the generic cell rate algorithm): one request
// every t microseconds, b of them at once from a rested cell. Its state is
// the theoretical arrival time (TAT) of the next request; a cell whose TAT
// is not after now is rested, the same as one never seen. t == 0: no
// window.
type window struct{ t, b int64 }

// take is one request at now (µs) against a cell whose TAT is tat (0 =
// none): the TAT to store if every window allows, and the outcome.
// redis.lua's take is the same function, line for line.
func (w window) take(tat, now int64) (next int64, o outcome) {
	if w.t == 0 {
		return 0, outcome{ok: true}
	}
	tat = max(tat, now)
	next = tat + w.t
	tau := w.b * w.t
	if next-now > tau {
		return tat, outcome{reset: tat - now, retry: next - tau - now}
	}
	return next, outcome{ok: true, remaining: (tau - (next - now)) / w.t, reset: next - now}
}

// outcome is one window's part of a decision, in microseconds.
type outcome struct {
	ok                      bool
	remaining, reset, retry int64
}

// decide combines the two windows' outcomes into the decision the caller
// sees. Both implementations of Limiter compute the outcomes (in Go or in
// Lua) and call this.
func decide(rate, day window, r, d outcome) Decision {
	shown, w := r, rate
	switch {
	case rate.t == 0:
		shown, w = d, day
	case day.t == 0:
	case r.ok && d.ok && d.remaining < r.remaining,
		!d.ok && (r.ok || d.retry > r.retry):
		shown, w = d, day
	}
	if w.t == 0 {
		return Decision{Allowed: true}
	}
	return Decision{
		Allowed:    r.ok && d.ok,
		Limit:      w.b,
		Remaining:  shown.remaining,
		Reset:      time.Duration(shown.reset) * time.Microsecond,
		RetryAfter: time.Duration(shown.retry) * time.Microsecond,
	}
}
