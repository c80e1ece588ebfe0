package policy

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Default key prefixes of the Redis stores. In a Redis Cluster, give
// RedisAttempts a prefix with a hash tag ("{grantd}:bf:"): its scripts
// touch three keys, which must then share a slot.
const (
	DefaultLimiterPrefix  = "grantd:rl:"
	DefaultAttemptsPrefix = "grantd:bf:"
)

// slackMillis is added to every key's TTL. The TTL only collects garbage:
// what a key means depends on the times stored in it, compared with the
// caller's clock, so a key Redis keeps a second longer changes nothing.
const slackMillis = 1000

var (
	//go:embed gcra.lua
	gcraSource string
	gcraScript = redis.NewScript(gcraSource)

	//go:embed guard_fail.lua
	failSource string
	failScript = redis.NewScript(failSource)

	//go:embed guard_standing.lua
	standingSource string
	standingScript = redis.NewScript(standingSource)

	clearScript = redis.NewScript(`return redis.call('DEL', KEYS[1])`)
)

// RedisLimiter is the Limiter shared by every instance on one Redis: the
// same GCRA as MemoryLimiter, run by one Lua script (EVALSHA, falling back
// to EVAL once after a script flush), one round trip per check. A key is a
// hash of the two windows' arrival times with a TTL until both are rested.
// It runs on the caller's clock: the instances' clocks must agree (NTP);
// a skew of s between two instances lets a key gain or lose about s worth
// of its rate.
type RedisLimiter struct{ on onRedis }

// onRedis is a Redis client and the prefix of one store's keys.
type onRedis struct {
	c      redis.Scripter
	prefix string
}

func newOnRedis(c redis.Scripter, prefix, byDefault string) onRedis {
	if prefix == "" {
		prefix = byDefault
	}
	return onRedis{c: c, prefix: prefix}
}

var _ Limiter = (*RedisLimiter)(nil)

// NewRedisLimiter returns a limiter on c with keys under prefix ("" =
// DefaultLimiterPrefix). c is *redis.Client (see OpenRedis), a
// *redis.ClusterClient or a *redis.Ring.
func NewRedisLimiter(c redis.Scripter, prefix string) *RedisLimiter {
	return &RedisLimiter{newOnRedis(c, prefix, DefaultLimiterPrefix)}
}

// Allow implements Limiter.
func (l *RedisLimiter) Allow(ctx context.Context, key string, t Tier, now time.Time) (Decision, error) {
	rate, day := t.windows()
	if rate.t == 0 && day.t == 0 {
		return Decision{Allowed: true}, nil
	}
	v, err := gcraScript.Run(ctx, l.on.c, []string{l.on.prefix + key},
		now.UnixMicro(), rate.t, rate.b, day.t, day.b, slackMillis).Int64Slice()
	if err == nil && len(v) != 8 {
		err = fmt.Errorf("the script answered %d values, not 8", len(v))
	}
	if err != nil {
		return Decision{}, fmt.Errorf("policy: redis limiter: %w", err)
	}
	r := outcome{ok: v[0] == 1, remaining: v[1], reset: v[2], retry: v[3]}
	d := outcome{ok: v[4] == 1, remaining: v[5], reset: v[6], retry: v[7]}
	return decide(rate, day, r, d), nil
}

// RedisAttempts is the Attempts shared by every instance on one Redis, with
// MemoryAttempts' semantics: each method is one Lua script, one round trip.
// Like RedisLimiter, it runs on the caller's clock.
type RedisAttempts struct{ on onRedis }

var _ Attempts = (*RedisAttempts)(nil)

// NewRedisAttempts returns an attempts store on c with keys under prefix
// ("" = DefaultAttemptsPrefix).
func NewRedisAttempts(c redis.Scripter, prefix string) *RedisAttempts {
	return &RedisAttempts{newOnRedis(c, prefix, DefaultAttemptsPrefix)}
}

func (a *RedisAttempts) keys(clientID, address string) []string {
	k, p := keysOf(clientID, address), a.on.prefix
	return []string{p + k.address, p + k.client, p + k.pair}
}

// Standing implements Attempts.
func (a *RedisAttempts) Standing(ctx context.Context, clientID, address string, now time.Time) (Standing, error) {
	v, err := standingScript.Run(ctx, a.on.c, a.keys(clientID, address)).Int64Slice()
	if err == nil && len(v) != 7 {
		err = fmt.Errorf("the script answered %d values, not 7", len(v))
	}
	if err != nil {
		return Standing{}, fmt.Errorf("policy: redis attempts: %w", err)
	}
	us := now.UnixMicro()
	read := func(f, b, e int64) Count {
		if e <= us {
			return Count{}
		}
		return record{failures: f, blockedUntil: b}.count()
	}
	return Standing{Address: read(v[0], v[1], v[2]), Client: read(v[3], v[4], v[5]), Failed: v[6] > us}, nil
}

// Fail implements Attempts.
func (a *RedisAttempts) Fail(ctx context.Context, clientID, address string, now time.Time, addr, client Lockout) error {
	al, cl := addr.micros(), client.micros()
	err := failScript.Run(ctx, a.on.c, a.keys(clientID, address), now.UnixMicro(),
		al.blockAfter, al.block, al.maxBlock, al.window,
		cl.blockAfter, cl.block, cl.maxBlock, cl.window, slackMillis).Err()
	if err != nil {
		return fmt.Errorf("policy: redis attempts: %w", err)
	}
	return nil
}

// Clear implements Attempts.
func (a *RedisAttempts) Clear(ctx context.Context, clientID, address string) error {
	if err := clearScript.Run(ctx, a.on.c, a.keys(clientID, address)[2:]).Err(); err != nil {
		return fmt.Errorf("policy: redis attempts: %w", err)
	}
	return nil
}

// OpenRedis returns a client for a redis:// (or rediss://, unix://) URL,
// with the timeouts a request path wants where the URL sets none: a check
// that cannot reach Redis fails within about a quarter of a second (one
// dial attempt of 250 ms, reads, writes and the wait for a pooled
// connection 250 ms each, no command retry: a script is not re-run)
// instead of after go-redis's seconds of defaults and retries, so that
// fail open or fail closed answers quickly. The
// client honours the request's context deadline. The URL's own
// parameters (dial_timeout, read_timeout, max_retries, …) win.
func OpenRedis(url string) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("policy: redis URL: %w", err)
	}
	o.ContextTimeoutEnabled = true
	if o.DialTimeout == 0 {
		o.DialTimeout = 250 * time.Millisecond
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 250 * time.Millisecond
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 250 * time.Millisecond
	}
	if o.PoolTimeout == 0 {
		o.PoolTimeout = 250 * time.Millisecond
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = -1
	}
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
	}
	return redis.NewClient(o), nil
}
