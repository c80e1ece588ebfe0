package policy

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/internal/oauth"
)

// Rule names a policy rule, for the counters and the logs.
type Rule uint8

// The rules, in the order the policy runs them (see the package
// documentation), then the guard's, the address limits' and the limiter
// failures.
const (
	RuleState        Rule = iota // 409: the client is not active
	RuleHours                    // 503: outside the client's operating hours
	RuleRate                     // 429: the client's tier
	RuleBalance                  // 402: a metered client's balance
	RuleBruteForce               // 429: too many failed authentications
	RuleAddress                  // 429: an address at an open endpoint
	RuleLimiterError             // the limiter or attempts store failed
	RulePending                  // 429: too many pending authorization requests
	numRules
)

var ruleNames = [numRules]string{"state", "hours", "rate", "balance", "brute_force", "address", "limiter_error", "pending"}

func (r Rule) String() string {
	if r < numRules {
		return ruleNames[r]
	}
	return "unknown"
}

// Counters count refusals by rule (and limiter failures, whether they
// refused or not), for a metrics endpoint; safe for concurrent use. The
// zero value is ready.
type Counters struct {
	n [numRules]atomic.Int64
}

// Get returns the count of rule r.
func (c *Counters) Get(r Rule) int64 { return c.n[r].Load() }

// Snapshot returns every rule's count, by rule name.
func (c *Counters) Snapshot() map[string]int64 {
	m := make(map[string]int64, numRules)
	for r := range numRules {
		m[r.String()] = c.n[r].Load()
	}
	return m
}

func (c *Counters) add(r Rule) { c.n[r].Add(1) }

// LimiterRetryAfter is the Retry-After of a request refused because the
// limiter failed, with fail closed configured.
const LimiterRetryAfter = 5 * time.Second

// warnEvery is how often a failing limiter is logged at the most; the
// lines between are counted in the next one.
const warnEvery = 10 * time.Second

// recorder counts and logs the refusals and limiter failures of one
// component (the policy, the guard, the address limits).
type recorder struct {
	counters   *Counters
	log        *slog.Logger
	failClosed bool

	mu         sync.Mutex
	warnedAt   time.Time
	suppressed int
}

func newRecorder(c *Counters, log *slog.Logger, failClosed bool) *recorder {
	if c == nil {
		c = new(Counters)
	}
	if log == nil {
		log = slog.Default()
	}
	return &recorder{counters: c, log: log, failClosed: failClosed}
}

// refused counts a refusal and logs it at Info with its rule, reason and
// status; attrs name the client or the address, never a secret.
func (r *recorder) refused(ctx context.Context, rule Rule, e *oauth.Error, attrs ...slog.Attr) {
	r.counters.add(rule)
	attrs = append(attrs, slog.String("rule", rule.String()), slog.String("reason", e.Reason), slog.Int("status", e.Status))
	r.log.LogAttrs(ctx, slog.LevelInfo, "policy: refused", attrs...)
}

// storeFailed handles a failure of the limiter (or attempts store): it is
// counted, logged as a warning with its cause (at most once every
// warnEvery, with how many were not logged), and then either let through
// (nil, fail open) or refused with 503 temporarily_unavailable (fail
// closed).
func (r *recorder) storeFailed(ctx context.Context, now time.Time, err error, attrs ...slog.Attr) error {
	r.counters.add(RuleLimiterError)
	r.mu.Lock()
	log := r.warnedAt.IsZero() || now.Sub(r.warnedAt) >= warnEvery || now.Before(r.warnedAt)
	suppressed := r.suppressed
	if log {
		r.warnedAt, r.suppressed = now, 0
	} else {
		r.suppressed++
	}
	r.mu.Unlock()
	if log {
		attrs = append(attrs, slog.String("rule", RuleLimiterError.String()), slog.Bool("fail_closed", r.failClosed),
			slog.Int("not_logged_since", suppressed), slog.Any("cause", err))
		r.log.LogAttrs(ctx, slog.LevelWarn, "policy: limiter failed", attrs...)
	}
	if !r.failClosed {
		return nil
	}
	return &oauth.Error{Code: oauth.ErrCodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
		Description: "The service is temporarily unavailable; retry after the time in Retry-After.",
		RetryAfter:  int(LimiterRetryAfter / time.Second), Cause: err}
}
