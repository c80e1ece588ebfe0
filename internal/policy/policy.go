package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Options configure a Policy; the zero value is the built-in tiers, free
// grants and an in-process limiter.
type Options struct {
	// Tiers add tiers to the built-in ones or override them by name.
	Tiers map[string]Tier
	// DefaultTier is the tier of a client with none (or with a tier that
	// is not configured); "" = TierFree.
	DefaultTier string
	// GrantCosts is what each grant type costs a metered client, in
	// credits; a grant type not in it costs 0.
	GrantCosts map[string]int64
	// Limiter keeps the tiers' windows; nil = NewMemoryLimiter(0). A
	// RedisLimiter shares them between instances.
	Limiter Limiter
	// FailClosed refuses token requests (503) while the limiter fails; by
	// default they go through (fail open) with a warning.
	FailClosed bool
	// Now is the clock for a request that carries no time; nil =
	// time.Now.
	Now      func() time.Time
	Counters *Counters
	Logger   *slog.Logger
}

// Validate lists every problem of o at once; nil when it is valid.
func (o Options) Validate() error {
	tiers, err := MergeTiers(o.Tiers)
	errs := []error{err}
	if _, ok := tiers[o.defaultTier()]; !ok {
		errs = append(errs, fmt.Errorf("default tier %q: no such tier (have %v)", o.DefaultTier, slices.Sorted(maps.Keys(tiers))))
	}
	for _, g := range slices.Sorted(maps.Keys(o.GrantCosts)) {
		if c := o.GrantCosts[g]; c < 0 {
			errs = append(errs, fmt.Errorf("grant cost of %q: %d: must be >= 0", g, c))
		}
	}
	return errors.Join(errs...)
}

func (o Options) defaultTier() string {
	if o.DefaultTier == "" {
		return TierFree
	}
	return o.DefaultTier
}

// Policy is oauth.Policy: grantd's commercial policy. Its rules run in the
// order the package documentation gives; the first that refuses answers.
type Policy struct {
	tiers   map[string]Tier
	def     Tier
	costs   map[string]int64
	limiter Limiter
	now     func() time.Time
	rec     *recorder
	warned  sync.Map // tier names already warned of as unknown
}

var _ oauth.Policy = (*Policy)(nil)

// New returns a policy, or every problem of o at once.
func New(o Options) (*Policy, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	tiers, _ := MergeTiers(o.Tiers)
	if o.Limiter == nil {
		o.Limiter = NewMemoryLimiter(0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Policy{tiers: tiers, def: tiers[o.defaultTier()], costs: maps.Clone(o.GrantCosts),
		limiter: o.Limiter, now: o.Now, rec: newRecorder(o.Counters, o.Logger, o.FailClosed)}, nil
}

// Refused implements the core's refusal observer: the refusals the core
// makes itself (a provider's hours, the last credit lost to a concurrent
// request, the cap on pending requests) are counted and logged with the
// policy's own, in one place.
func (p *Policy) Refused(ctx context.Context, r oauth.PolicyRequest, e *oauth.Error) {
	rule := RuleHours
	switch e.Reason {
	case oauth.ReasonInsufficientFunds:
		rule = RuleBalance
	case oauth.ReasonTooManyPending:
		rule = RulePending
	case oauth.ReasonOutsideHours:
	default:
		return
	}
	var id string
	if r.Client != nil {
		id = r.Client.ID
	}
	p.rec.refused(ctx, rule, e, slog.String("client_id", id), slog.String("action", r.Action), slog.String("address", r.Address))
}

// Check implements oauth.Policy.
func (p *Policy) Check(ctx context.Context, r oauth.PolicyRequest) (oauth.PolicyResult, error) {
	if r.Now.IsZero() {
		r.Now = p.now()
	}
	c := r.Client
	if err := state(c); err != nil {
		return oauth.PolicyResult{}, p.refuse(ctx, RuleState, r, err)
	}
	if r.Action == oauth.ActionAuthorize || r.Action == oauth.ActionConnectSession {
		return oauth.PolicyResult{}, nil
	}
	if err := hours(c, r.Now); err != nil {
		return oauth.PolicyResult{}, p.refuse(ctx, RuleHours, r, err)
	}
	d, err := p.limit(ctx, c, r.Now)
	if err != nil {
		return oauth.PolicyResult{}, err // the limiter failed, fail closed: counted and logged
	}
	rl := rateLimit(d)
	if err := rate(d, rl); err != nil {
		return oauth.PolicyResult{}, p.refuse(ctx, RuleRate, r, err)
	}
	cost := p.costs[r.Action]
	if !c.Metered {
		cost = 0
	}
	if err := balance(c, cost); err != nil {
		err.RateLimit = rl // the request did take its rate
		return oauth.PolicyResult{}, p.refuse(ctx, RuleBalance, r, err)
	}
	return oauth.PolicyResult{RateLimit: rl, Cost: cost}, nil
}

// refuse counts and logs a refusal by rule.
func (p *Policy) refuse(ctx context.Context, rule Rule, r oauth.PolicyRequest, e *oauth.Error) error {
	p.rec.refused(ctx, rule, e, slog.String("client_id", r.Client.ID), slog.String("action", r.Action), slog.String("address", r.Address))
	return e
}

// state is rule 1: a client that is not active (suspended, pending) gets
// 409, for every action.
func state(c *store.Client) *oauth.Error {
	if err := oauth.ClientStateError(c); err != nil {
		return oauth.AsError(err)
	}
	return nil
}

// hours is rule 2: a client with operating hours gets tokens only while
// they are open; outside them 503 with Retry-After until the next opening
// (none when there is no opening within a year).
func hours(c *store.Client, now time.Time) *oauth.Error {
	if c.OperatingHours == nil {
		return nil
	}
	return closed(c.OperatingHours, now)
}

// closed is the hours rule's refusal at now, nil while s is open.
func closed(s oauth.Schedule, now time.Time) *oauth.Error { return oauth.Closed(s, now) }

// limit takes one request of the client from its tier's windows in the
// limiter, keyed by client id. A tier that limits nothing takes nothing. A
// failing limiter lets the request through with no window (fail open), or
// refuses it with 503 (fail closed).
func (p *Policy) limit(ctx context.Context, c *store.Client, now time.Time) (Decision, error) {
	t := p.tier(ctx, c)
	if t.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	d, err := p.limiter.Allow(ctx, "client:"+c.ID, t, now)
	if err != nil {
		return Decision{Allowed: true}, p.rec.storeFailed(ctx, now, err, slog.String("client_id", c.ID))
	}
	return d, nil
}

// rate is rule 3: a request over the client's tier gets 429 with
// Retry-After and its window.
func rate(d Decision, rl *oauth.RateLimit) *oauth.Error {
	if d.Allowed {
		return nil
	}
	return oauth.RateLimited(d.RetryAfter, rl)
}

// tier is the client's tier: its own, else the default; a tier name that
// is not configured gets the default and one warning per name.
func (p *Policy) tier(ctx context.Context, c *store.Client) Tier {
	if c.Tier == "" {
		return p.def
	}
	if t, ok := p.tiers[c.Tier]; ok {
		return t
	}
	if _, seen := p.warned.LoadOrStore(c.Tier, true); !seen {
		p.rec.log.LogAttrs(ctx, slog.LevelWarn, "policy: unknown tier, using the default tier",
			slog.String("tier", c.Tier), slog.String("client_id", c.ID))
	}
	return p.def
}

// balance is rule 4: a metered client needs a balance above zero that
// covers the grant's cost; else 402, and nothing is charged.
func balance(c *store.Client, cost int64) *oauth.Error {
	if !c.Metered || (c.Balance > 0 && c.Balance >= cost) {
		return nil
	}
	return oauth.InsufficientBalance()
}

// rateLimit is a decision as the RateLimit-* headers show it; nil for none.
func rateLimit(d Decision) *oauth.RateLimit {
	if d.Limit == 0 {
		return nil
	}
	return &oauth.RateLimit{Limit: d.Limit, Remaining: d.Remaining, Reset: d.Reset}
}
