package policy

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/grantd/grantd/internal/policy/redistest"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// limiterBackends are the Limiter implementations the shared suite runs:
// each returns a new, empty limiter.
var limiterBackends = map[string]func(t *testing.T) Limiter{
	"memory": func(*testing.T) Limiter { return NewMemoryLimiter(0) },
	"redis": func(t *testing.T) Limiter {
		c := redistest.Client(t)
		return NewRedisLimiter(c, redistest.Prefix(t, c))
	},
}

// TestLimiter runs the shared suite against every implementation: they
// must agree to the microsecond.
func TestLimiter(t *testing.T) {
	for name, newLimiter := range limiterBackends {
		t.Run(name, func(t *testing.T) {
			for _, c := range limiterCases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, newLimiter(t))
				})
			}
		})
	}
}

// check is one Allow with the decision it must give.
type check struct {
	at   time.Duration // since t0
	key  string        // "" = "k"
	tier Tier
	want Decision
}

func runChecks(t *testing.T, l Limiter, checks []check) {
	t.Helper()
	for i, c := range checks {
		if c.key == "" {
			c.key = "k"
		}
		got, err := l.Allow(context.Background(), c.key, c.tier, t0.Add(c.at))
		if err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
		if got != c.want {
			t.Fatalf("check %d at +%v of %s: got %+v, want %+v", i, c.at, c.key, got, c.want)
		}
	}
}

var (
	free    = BuiltinTiers()[TierFree] // 5/s burst 10, 1000/day
	ms      = time.Millisecond
	allowed = func(limit, remaining int64, reset time.Duration) Decision {
		return Decision{true, limit, remaining, reset, 0}
	}
	refused  = func(limit int64, reset, retry time.Duration) Decision { return Decision{false, limit, 0, reset, retry} }
	perDay3  = Tier{PerDay: 3}
	oneInDay = 86400 * time.Second
)

var limiterCases = []struct {
	name string
	run  func(t *testing.T, l Limiter)
}{
	{"burst, then refused until one interval has passed", func(t *testing.T, l Limiter) {
		var cs []check
		for i := range int64(10) {
			cs = append(cs, check{tier: free, want: allowed(10, 9-i, time.Duration(i+1)*200*ms)})
		}
		cs = append(cs,
			check{tier: free, want: refused(10, 2000*ms, 200*ms)},
			check{at: 150 * ms, tier: free, want: refused(10, 1850*ms, 50*ms)},
			// A refusal took nothing: the next interval gives exactly one.
			check{at: 200 * ms, tier: free, want: allowed(10, 0, 2000*ms)},
			check{at: 200 * ms, tier: free, want: refused(10, 2000*ms, 200*ms)},
			// Rested: the whole burst again.
			check{at: time.Hour, tier: free, want: allowed(10, 9, 200*ms)},
		)
		runChecks(t, l, cs)
	}},
	{"a rolling daily quota", func(t *testing.T, l Limiter) {
		third := oneInDay / 3
		runChecks(t, l, []check{
			{tier: perDay3, want: allowed(3, 2, third)},
			{tier: perDay3, want: allowed(3, 1, 2*third)},
			{tier: perDay3, want: allowed(3, 0, oneInDay)},
			{at: time.Hour, tier: perDay3, want: refused(3, oneInDay-time.Hour, third-time.Hour)},
			// It refills continuously, not at midnight.
			{at: third, tier: perDay3, want: allowed(3, 0, oneInDay)},
		})
	}},
	{"the window closer to exhaustion is shown", func(t *testing.T, l Limiter) {
		tier := Tier{PerSecond: 10, Burst: 5, PerDay: 8}
		runChecks(t, l, []check{
			{tier: tier, want: allowed(5, 4, 100*ms)}, // rate 4 left, day 7
			{tier: tier, want: allowed(5, 3, 200*ms)},
			{tier: tier, want: allowed(5, 2, 300*ms)},
			{tier: tier, want: allowed(5, 1, 400*ms)}, // rate 1, day 4
			// A second later the rate has 4 left, the day 3: the day shows.
			{at: time.Second, tier: tier, want: allowed(8, 3, 5*oneInDay/8-time.Second)},
			{at: time.Second, tier: tier, want: allowed(8, 2, 6*oneInDay/8-time.Second)},
			{at: time.Second, tier: tier, want: allowed(8, 1, 7*oneInDay/8-time.Second)},
			{at: time.Second, tier: tier, want: allowed(8, 0, oneInDay-time.Second)},
			// The day refuses; the rate would allow, and shows nothing.
			{at: time.Second, tier: tier, want: refused(8, oneInDay-time.Second, 3*time.Hour-time.Second)},
		})
	}},
	{"a refusal by one window takes nothing from the other", func(t *testing.T, l Limiter) {
		both := Tier{PerSecond: 1, Burst: 1, PerDay: 10}
		dayOnly := Tier{PerDay: 10}
		runChecks(t, l, []check{
			{tier: both, want: allowed(1, 0, time.Second)},
			{tier: both, want: refused(1, time.Second, time.Second)},
			// The day window took the first request only.
			{tier: dayOnly, want: allowed(10, 8, 2*oneInDay/10)},
		})
		rateOnly := Tier{PerSecond: 1, Burst: 2}
		tight := Tier{PerSecond: 1, Burst: 2, PerDay: 1}
		runChecks(t, l, []check{
			{key: "j", tier: tight, want: allowed(1, 0, oneInDay)},
			{key: "j", at: time.Minute, tier: tight, want: refused(1, oneInDay-time.Minute, oneInDay-time.Minute)},
			// The rate window took only the first, long rested.
			{key: "j", at: time.Minute, tier: rateOnly, want: allowed(2, 1, time.Second)},
		})
	}},
	{"keys are independent", func(t *testing.T, l Limiter) {
		one := Tier{PerSecond: 1, Burst: 1}
		runChecks(t, l, []check{
			{key: "a", tier: one, want: allowed(1, 0, time.Second)},
			{key: "a", tier: one, want: refused(1, time.Second, time.Second)},
			{key: "b", tier: one, want: allowed(1, 0, time.Second)},
		})
	}},
	{"a fractional rate", func(t *testing.T, l Limiter) {
		register := DefaultAddressTiers()[RouteRegister] // 10/min burst 10, 500/day
		var cs []check
		for i := range int64(10) {
			cs = append(cs, check{tier: register, want: allowed(10, 9-i, time.Duration(i+1)*6*time.Second)})
		}
		cs = append(cs, check{tier: register, want: refused(10, 60*time.Second, 6*time.Second)})
		runChecks(t, l, cs)
	}},
	{"a tier that limits nothing", func(t *testing.T, l Limiter) {
		runChecks(t, l, []check{{tier: Tier{}, want: Decision{Allowed: true}}, {tier: Tier{}, want: Decision{Allowed: true}}})
	}},
	{"concurrent requests take the burst exactly once", func(t *testing.T, l Limiter) {
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				d, err := l.Allow(context.Background(), "race", free, t0)
				if err != nil {
					t.Error(err)
				}
				if d.Allowed {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != free.Burst {
			t.Fatalf("%d of 40 concurrent requests allowed, want the burst, %d", ok.Load(), free.Burst)
		}
	}},
}

// TestRedisLimiterTwoInstances: two limiters on two connections, as two
// grantd instances, share one limit.
func TestRedisLimiterTwoInstances(t *testing.T) {
	c1, c2 := redistest.Client(t), redistest.Client(t)
	prefix := redistest.Prefix(t, c1)
	instances := []Limiter{NewRedisLimiter(c1, prefix), NewRedisLimiter(c2, prefix)}
	var n int
	for i := range 30 {
		d, err := instances[i%2].Allow(context.Background(), "client:shared", free, t0)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			n++
		}
	}
	if n != int(free.Burst) {
		t.Fatalf("two instances allowed %d requests together, want one burst, %d", n, free.Burst)
	}
}

// TestRedisLimiterOneRoundTrip: a check is one command to Redis (EVALSHA),
// and its key has a TTL until both windows are rested (plus the slack).
func TestRedisLimiterOneRoundTrip(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	l := NewRedisLimiter(c, prefix)
	ctx := context.Background()
	if _, err := l.Allow(ctx, "warm", free, t0); err != nil { // loads the script if it must
		t.Fatal(err)
	}
	counter := &commandCounter{}
	c.AddHook(counter)
	for range 5 {
		if _, err := l.Allow(ctx, "k", free, t0); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter.names(); len(got) != 5 || got[0] != "evalsha" {
		t.Fatalf("5 checks sent %v, want 5 × evalsha", got)
	}
	ttl, err := c.PTTL(ctx, prefix+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	// Five requests of the free tier: the day window rests last, in
	// 5 × 86.4 s.
	if want := 5 * 86400 * ms; ttl <= want || ttl > want+slackMillis*ms {
		t.Fatalf("TTL %v, want just over %v", ttl, want)
	}
}

// commandCounter is a go-redis hook that records the commands sent.
type commandCounter struct {
	mu   sync.Mutex
	sent []string
}

func (c *commandCounter) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.sent...)
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.sent = append(c.sent, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		for _, cmd := range cmds {
			c.sent = append(c.sent, cmd.Name())
		}
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

// TestMemoryLimiterBounded: a full limiter forgets rested keys first and
// never holds more than its bound.
func TestMemoryLimiterBounded(t *testing.T) {
	l := NewMemoryLimiter(100)
	one := Tier{PerSecond: 1, Burst: 1}
	for i := range 1000 {
		if _, err := l.Allow(context.Background(), "key-"+strconv.Itoa(i), one, t0.Add(time.Duration(i)*ms)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.cells.m); n > 100 {
		t.Fatalf("%d keys kept, bound 100", n)
	}
	// A minute later every key is rested; the next insert sweeps them all.
	if _, err := l.Allow(context.Background(), "new", one, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(l.cells.m); n != 1 {
		t.Fatalf("%d keys kept after a sweep, want 1", n)
	}
}
