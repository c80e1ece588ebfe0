package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/policy"
)

// policies is the commercial policy of a serving instance: the token
// policy, the brute-force guard and the open endpoints' address limits,
// with their shared counters, in process or shared through Redis.
type policies struct {
	policy   *policy.Policy
	guard    *policy.Guard
	address  *policy.AddressLimits
	counters *policy.Counters
	close    func() error
	// redis is the shared Redis, nil without one: the single-use records
	// may live there too (replay_cache: redis).
	redis *redis.Client
}

// newPolicies builds the policy from the configuration. With a Redis URL,
// every instance shares the windows and counts; an unreachable Redis at
// start is a warning (the policy fails open, or closed, as configured),
// not a reason to refuse to start.
func newPolicies(ctx context.Context, cfg config.Config, log *slog.Logger) (*policies, error) {
	ps := &policies{counters: &policy.Counters{}, close: func() error { return nil }}
	var limiter policy.Limiter
	var attempts policy.Attempts
	if cfg.Redis != "" {
		rc, err := policy.OpenRedis(cfg.Redis)
		if err != nil {
			return nil, errors.New("redis: the URL does not parse")
		}
		ps.close, ps.redis = rc.Close, rc
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := rc.Ping(pctx).Err(); err != nil {
			log.Warn("redis unreachable at start; rate limits and brute-force counts wait for it", "redis", redactDSN(cfg.Redis),
				"fail_closed", cfg.Policy.FailClosed, "cause", err.Error())
		}
		cancel()
		limiter, attempts = policy.NewRedisLimiter(rc, ""), policy.NewRedisAttempts(rc, "") // grantd:rl:, grantd:bf:
	}
	po := cfg.PolicyOptions()
	po.Limiter, po.Counters, po.Logger = limiter, ps.counters, log
	gopt := cfg.GuardOptions()
	gopt.Attempts, gopt.Counters, gopt.Logger = attempts, ps.counters, log
	ao := cfg.AddressOptions()
	ao.Limiter, ao.Counters, ao.Logger = limiter, ps.counters, log
	var err error
	if ps.policy, err = policy.New(po); err != nil {
		return nil, err
	}
	if ps.guard, err = policy.NewGuard(gopt); err != nil {
		return nil, fmt.Errorf("brute_force: %w", err)
	}
	if ps.address, err = policy.NewAddressLimits(ao); err != nil {
		return nil, fmt.Errorf("address_limits: %w", err)
	}
	return ps, nil
}
