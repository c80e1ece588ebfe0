package policy

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy/redistest"
)

// attemptsBackends are the Attempts implementations the guard's suite
// runs: each returns a new, empty store.
var attemptsBackends = map[string]func(t *testing.T) Attempts{
	"memory": func(*testing.T) Attempts { return NewMemoryAttempts(0) },
	"redis": func(t *testing.T) Attempts {
		c := redistest.Client(t)
		return NewRedisAttempts(c, redistest.Prefix(t, c))
	},
}

// guardRig is a guard on a fake clock that records its delays instead of
// sleeping.
type guardRig struct {
	t        *testing.T
	g        *Guard
	now      time.Time
	slept    []time.Duration
	counters *Counters
}

func newGuardRig(t *testing.T, a Attempts) *guardRig {
	r := &guardRig{t: t, now: t0, counters: new(Counters)}
	g, err := NewGuard(GuardOptions{Attempts: a, Counters: r.counters, Logger: quiet,
		Now: func() time.Time { return r.now },
		Sleep: func(_ context.Context, d time.Duration) error {
			r.slept = append(r.slept, d)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.g = g
	return r
}

func (r *guardRig) fail(client, addr string, n int) {
	for range n {
		r.g.Failed(context.Background(), client, addr)
	}
}

// allow asks the guard and returns the delay it took and the Retry-After of
// its refusal (0 = allowed).
func (r *guardRig) allow(client, addr string) (delay time.Duration, retryAfter int) {
	r.t.Helper()
	r.slept = nil
	err := r.g.Allow(context.Background(), client, addr)
	if len(r.slept) > 0 {
		delay = r.slept[0]
	}
	if err == nil {
		return delay, 0
	}
	var e *oauth.Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Reason != oauth.ReasonTooManyAttempts ||
		e.Code != oauth.ErrCodeRateLimitExceeded || e.RetryAfter <= 0 {
		r.t.Fatalf("Allow refused with %#v, want 429 %s with Retry-After", err, oauth.ReasonTooManyAttempts)
	}
	return delay, e.RetryAfter
}

func (r *guardRig) want(client, addr string, delay time.Duration, retryAfter int) {
	r.t.Helper()
	if d, ra := r.allow(client, addr); d != delay || ra != retryAfter {
		r.t.Fatalf("Allow(%s, %s) at +%v: delay %v, Retry-After %d; want %v, %d", client, addr, r.now.Sub(t0), d, ra, delay, retryAfter)
	}
}

// TestGuard runs the guard on every Attempts implementation, with the
// defaults: per address slowed from 5 failures, blocked at 10; per client
// slowed from 50, blocked at 100; blocks of 1 min doubling to 1 h; counts
// forgotten 15 min after the last failure or block.
func TestGuard(t *testing.T) {
	for name, newAttempts := range attemptsBackends {
		t.Run(name, func(t *testing.T) {
			for _, c := range guardCases {
				t.Run(c.name, func(t *testing.T) {
					c.run(newGuardRig(t, newAttempts(t)))
				})
			}
		})
	}
}

const attacker, home, client = "203.0.113.66", "198.51.100.7", "client-1"

var guardCases = []struct {
	name string
	run  func(r *guardRig)
}{
	{"slowed past the threshold, then refused", func(r *guardRig) {
		r.fail(client, attacker, 4)
		r.want(client, attacker, 0, 0)
		r.fail(client, attacker, 1) // 5: slowed
		r.want(client, attacker, 250*ms, 0)
		r.fail(client, attacker, 3) // 8
		r.want(client, attacker, time.Second, 0)
		r.fail(client, attacker, 1) // 9
		r.want(client, attacker, 1250*ms, 0)
		r.fail(client, attacker, 1) // 10: blocked for a minute
		r.want(client, attacker, 0, 60)
		r.want("another-client", attacker, 0, 60) // the address is blocked
		r.now = r.now.Add(59*time.Second + 500*ms)
		r.want(client, attacker, 0, 1)
		if n := r.counters.Get(RuleBruteForce); n != 3 {
			r.t.Fatalf("brute_force counted %d refusals, want 3", n)
		}
	}},
	{"the delay is capped", func(r *guardRig) {
		// 60 failures for one client, one from each of 60 addresses:
		// 11 past the client's slowdown, 2.75 s, capped at 2 s.
		for i := range 60 {
			r.fail(client, "192.0.2."+strconv.Itoa(i), 1)
		}
		r.want(client, "192.0.2.1", DefaultMaxDelay, 0)
		r.want(client, home, 0, 0)
	}},
	{"each block after the first doubles, up to the cap", func(r *guardRig) {
		r.fail(client, attacker, 10)
		block := time.Minute
		for i := range int64(8) {
			r.want(client, attacker, 0, int(block/time.Second))
			r.now = r.now.Add(block) // the block ends; one more failure
			r.want(client, attacker, min(DefaultMaxDelay, time.Duration(10+i-4)*DefaultDelay), 0)
			r.fail(client, attacker, 1)
			block = min(2*block, time.Hour)
		}
		r.want(client, attacker, 0, 3600) // 1, 2, 4, … 64 min: capped at 1 h
	}},
	{"a failure during a block does not lengthen it", func(r *guardRig) {
		r.fail(client, attacker, 10)
		r.now = r.now.Add(30 * time.Second)
		r.fail(client, attacker, 5) // requests that were under way
		r.want(client, attacker, 0, 30)
	}},
	{"counts are forgotten a window after the last failure or block", func(r *guardRig) {
		r.fail(client, attacker, 7)
		r.now = r.now.Add(15*time.Minute - time.Second)
		r.want(client, attacker, 750*ms, 0)
		r.now = r.now.Add(time.Second)
		r.want(client, attacker, 0, 0)
		r.fail(client, attacker, 10) // blocked for 1 min: forgotten 15 min after
		r.now = r.now.Add(16*time.Minute - time.Second)
		r.want(client, attacker, 1500*ms, 0)
		r.now = r.now.Add(time.Second)
		r.want(client, attacker, 0, 0)
		r.fail(client, attacker, 10) // the strikes were forgotten too
		r.want(client, attacker, 0, 60)
	}},
	{"a blocked client holds back only the addresses that failed for it", func(r *guardRig) {
		// The legitimate client failed once from its office, then
		// succeeded: that address's failure is forgotten.
		office := "198.51.100.20"
		r.fail(client, office, 1)
		r.g.Succeeded(context.Background(), client, office)
		// An attacker spreads 100 guesses over 25 addresses, 4 each:
		// no address is slowed, the client is blocked.
		for i := range 25 {
			r.fail(client, "192.0.2."+strconv.Itoa(i), 4)
		}
		r.want(client, "192.0.2.3", 0, 60)
		// The client's own addresses are not held back at all.
		r.want(client, home, 0, 0)
		r.want(client, office, 0, 0)
		// An address that fails for it now is.
		r.fail(client, home, 1)
		r.want(client, home, 0, 60)
		// Other clients are not concerned.
		r.want("client-2", "192.0.2.3", 0, 0)
	}},
	{"a success keeps the address's count", func(r *guardRig) {
		// One valid credential must not reset an address guessing others.
		r.fail("victim", attacker, 9)
		r.g.Succeeded(context.Background(), "own-client", attacker)
		r.want("victim", attacker, 1250*ms, 0)
		r.fail("victim", attacker, 1)
		r.want("own-client", attacker, 0, 60)
	}},
	{"addresses are counted apart; an IPv6 /64 is one address", func(r *guardRig) {
		r.fail(client, attacker, 10)
		r.want(client, home, 0, 0)
		r.fail(client, "2001:db8:1:2::1", 10)
		r.want("other", "2001:db8:1:2:ffff::9", 0, 60)
		r.want("other", "2001:db8:1:3::1", 0, 0)
		r.want("other", "::ffff:"+attacker, 0, 60) // IPv4-mapped is the IPv4 address
	}},
}

// TestGuardFailOpen: when the attempts store fails, authentication goes
// through (counted as limiter_error), or with FailClosed gets 503.
func TestGuardFailOpen(t *testing.T) {
	for _, closed := range []bool{false, true} {
		counters := new(Counters)
		g, err := NewGuard(GuardOptions{Attempts: NewRedisAttempts(unreachableRedis(t), ""), FailClosed: closed, Counters: counters, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		err = g.Allow(context.Background(), client, attacker)
		g.Failed(context.Background(), client, attacker)
		g.Succeeded(context.Background(), client, attacker)
		if closed {
			wantUnavailable(t, err)
		} else if err != nil {
			t.Fatalf("fail open: Allow = %v", err)
		}
		if n := counters.Get(RuleLimiterError); n != 3 {
			t.Fatalf("limiter_error counted %d, want 3", n)
		}
	}
}

// TestGuardSleepHonoursContext: the real delay ends when the request's
// context does, and the attempt then gets 429.
func TestGuardSleepHonoursContext(t *testing.T) {
	g, err := NewGuard(GuardOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		g.Failed(context.Background(), client, attacker)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var e *oauth.Error
	if err := g.Allow(ctx, client, attacker); !errors.As(err, &e) || e.Reason != oauth.ReasonTooManyAttempts || !errors.Is(err, context.Canceled) {
		t.Fatalf("Allow with an ended context while slowed: %v, want 429 with the context's error as cause", err)
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("sleep took %v after its context ended", d)
	}
	if err := sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestGuardOptionsValidate(t *testing.T) {
	_, err := NewGuard(GuardOptions{
		Address:  Lockout{SlowAfter: 20, BlockAfter: 10, Block: time.Hour, MaxBlock: time.Minute},
		Client:   Lockout{Window: time.Millisecond},
		Delay:    time.Second,
		MaxDelay: time.Millisecond,
	})
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"address lockout: slow_after 20: must be <= block_after 10", "block 1h0m0s and max_block 1m0s",
		"client lockout: window 1ms", "delay 1s and max_delay 1ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":           "203.0.113.7",
		"::ffff:203.0.113.7":    "203.0.113.7",
		"2001:db8:a:b:c:d:e:f":  "2001:db8:a:b::/64",
		"2001:db8:a:b::1%eth0":  "2001:db8:a:b::/64",
		"not an address":        "not an address",
		"":                      "",
		"[2001:db8::1]:443":     "2001:db8::/64",
		"203.0.113.7:443":       "203.0.113.7",
		"203.0.113.7:":          "203.0.113.7:",
		"fe80::1":               "fe80::/64",
		"2001:db8:a:b:ffff::77": "2001:db8:a:b::/64",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRedisGuardTwoInstances: two guards on two connections, as two grantd
// instances, share their counts; each call is one round trip.
func TestRedisGuardTwoInstances(t *testing.T) {
	c1, c2 := redistest.Client(t), redistest.Client(t)
	prefix := redistest.Prefix(t, c1)
	one := newGuardRig(t, NewRedisAttempts(c1, prefix))
	two := newGuardRig(t, NewRedisAttempts(c2, prefix))
	one.want(client, attacker, 0, 0) // loads the scripts if they must
	one.fail(client, attacker, 1)
	one.g.Succeeded(context.Background(), client, attacker)
	counter := &commandCounter{}
	c1.AddHook(counter)
	for i := range 10 {
		r := []*guardRig{one, two}[i%2]
		r.allow(client, attacker) // slowed from the fifth failure, refused at the tenth
		r.fail(client, attacker, 1)
	}
	if got := counter.names(); len(got) != 10 || got[0] != "evalsha" || got[9] != "evalsha" {
		t.Fatalf("5 Allow and 5 Failed sent %v, want 10 × evalsha", got)
	}
	// 11 failures between them: both see the block.
	one.want(client, attacker, 0, 60)
	two.want("another-client", attacker, 0, 60)
}

// countingAttempts counts the Clear calls of an Attempts.
type countingAttempts struct {
	Attempts
	clears int
}

func (c *countingAttempts) Clear(ctx context.Context, clientID, address string) error {
	c.clears++
	return c.Attempts.Clear(ctx, clientID, address)
}

// TestAttemptClearsOnlyAfterFailures: an ordinary successful authentication
// reads the counts once and writes nothing; after a failure of the pair,
// the success clears it.
func TestAttemptClearsOnlyAfterFailures(t *testing.T) {
	a := &countingAttempts{Attempts: NewMemoryAttempts(0)}
	g, err := NewGuard(GuardOptions{Attempts: a, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at, err := g.Attempt(ctx, "c", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	at.Succeeded(ctx)
	if a.clears != 0 {
		t.Fatalf("a clean success cleared %d times", a.clears)
	}
	at, _ = g.Attempt(ctx, "c", "192.0.2.1")
	at.Failed(ctx)
	at, err = g.Attempt(ctx, "c", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	at.Succeeded(ctx)
	if a.clears != 1 {
		t.Fatalf("a success after a failure cleared %d times, want 1", a.clears)
	}
	s, _ := a.Standing(ctx, "c", "192.0.2.1", time.Now())
	if s.Failed {
		t.Fatal("the pair still failed after the success")
	}
}
