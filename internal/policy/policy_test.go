package policy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

const cc = oauth.GrantClientCredentials

// rig is a policy with its counters and its log.
type rig struct {
	p        *Policy
	counters *Counters
	log      *bytes.Buffer
}

func newRig(t *testing.T, o Options) rig {
	t.Helper()
	r := rig{counters: new(Counters), log: new(bytes.Buffer)}
	o.Counters = r.counters
	o.Logger = slog.New(slog.NewTextHandler(r.log, nil))
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	return r
}

func (r rig) check(c *store.Client, action string, at time.Duration) (oauth.PolicyResult, *oauth.Error) {
	res, err := r.p.Check(context.Background(), oauth.PolicyRequest{Client: c, Action: action, Address: home, Now: t0.Add(at)})
	if err == nil {
		return res, nil
	}
	var e *oauth.Error
	if !errors.As(err, &e) {
		panic("policy returned a non-*oauth.Error: " + err.Error())
	}
	return res, e
}

func TestMain(m *testing.M) {
	// The failure tests dial a closed port on purpose: go-redis would log
	// every dial.
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// quiet is the logger of tests that do not read the log.
var quiet = slog.New(slog.DiscardHandler)

func activeClient(id string) *store.Client {
	return &store.Client{ID: id, State: store.ClientActive, SecretHash: store.Hash("gcs_not-in-any-log")}
}

func wantRefusal(t *testing.T, e *oauth.Error, status int, reason string, retryAfter int) {
	t.Helper()
	if e == nil {
		t.Fatalf("allowed; want %d %s", status, reason)
	}
	if e.Status != status || e.Reason != reason || e.RetryAfter != retryAfter {
		t.Fatalf("refused with %d %q Retry-After %d (%v); want %d %q Retry-After %d", e.Status, e.Reason, e.RetryAfter, e, status, reason, retryAfter)
	}
}

func TestStateRefusesEveryAction(t *testing.T) {
	r := newRig(t, Options{})
	for _, s := range []string{store.ClientSuspended, store.ClientPending} {
		c := activeClient("c-" + s)
		c.State = s
		for _, action := range []string{cc, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.ActionAuthorize, oauth.ActionConnectSession} {
			_, e := r.check(c, action, 0)
			wantRefusal(t, e, http.StatusConflict, oauth.ReasonClientState, 0)
		}
	}
	if n := r.counters.Get(RuleState); n != 10 {
		t.Fatalf("state counted %d, want 10", n)
	}
	if !strings.Contains(r.log.String(), `level=INFO msg="policy: refused" client_id=c-suspended action=client_credentials address=198.51.100.7 rule=state reason=client_state status=409`) {
		t.Fatalf("the refusal is not logged with its rule and client:\n%s", r.log)
	}
}

// TestRateLimit: the free tier (the default) allows its burst of 10 token
// requests, then 429 with Retry-After and the window; authorization
// requests and connect sessions take nothing from it.
func TestRateLimit(t *testing.T) {
	for name, newLimiter := range limiterBackends {
		t.Run(name, func(t *testing.T) { testRateLimit(t, newRig(t, Options{Limiter: newLimiter(t)})) })
	}
}

func testRateLimit(t *testing.T, r rig) {
	c := activeClient("c1")
	for range 20 {
		for _, a := range []string{oauth.ActionAuthorize, oauth.ActionConnectSession} {
			if res, e := r.check(c, a, 0); e != nil || res != (oauth.PolicyResult{}) {
				t.Fatalf("%s: %+v, %v", a, res, e)
			}
		}
	}
	for i := range int64(10) {
		res, e := r.check(c, cc, 0)
		if e != nil {
			t.Fatalf("request %d: %v", i+1, e)
		}
		want := oauth.RateLimit{Limit: 10, Remaining: 9 - i, Reset: time.Duration(i+1) * 200 * ms}
		if res.RateLimit == nil || *res.RateLimit != want || res.Cost != 0 {
			t.Fatalf("request %d: %+v, want RateLimit %+v", i+1, res, want)
		}
	}
	_, e := r.check(c, cc, 0)
	wantRefusal(t, e, http.StatusTooManyRequests, oauth.ReasonRateLimited, 1)
	if e.Code != oauth.ErrCodeRateLimitExceeded || e.RateLimit == nil || *e.RateLimit != (oauth.RateLimit{Limit: 10, Reset: 2 * time.Second}) {
		t.Fatalf("429: code %s, RateLimit %+v", e.Code, e.RateLimit)
	}
	// Another client has its own window.
	if _, e := r.check(activeClient("c2"), cc, 0); e != nil {
		t.Fatal(e)
	}
	if _, e := r.check(c, cc, 200*ms); e != nil {
		t.Fatalf("after one interval: %v", e)
	}
	if n := r.counters.Get(RuleRate); n != 1 {
		t.Fatalf("rate counted %d, want 1", n)
	}
}

// burst counts the token requests a client gets at one instant.
func burst(t *testing.T, r rig, c *store.Client) int {
	t.Helper()
	for n := 0; n < 10_000; n++ {
		if _, e := r.check(c, cc, 0); e != nil {
			if e.Reason != oauth.ReasonRateLimited {
				t.Fatal(e)
			}
			return n
		}
	}
	return -1
}

func TestTiers(t *testing.T) {
	r := newRig(t, Options{
		DefaultTier: TierPro,
		Tiers:       map[string]Tier{"gold": {PerSecond: 1, Burst: 3}, TierFree: {PerSecond: 1, Burst: 2}},
	})
	for tier, want := range map[string]int{"": 100, TierPro: 100, TierEnterprise: 1000, "gold": 3, TierFree: 2, "platinum": 100} {
		c := activeClient("client-of-" + tier)
		c.Tier = tier
		if got := burst(t, r, c); got != want {
			t.Errorf("tier %q: a burst of %d, want %d", tier, got, want)
		}
	}
	// An unknown tier is warned of once.
	c := activeClient("another")
	c.Tier = "platinum"
	r.check(c, cc, time.Hour)
	if n := strings.Count(r.log.String(), `msg="policy: unknown tier, using the default tier" tier=platinum`); n != 1 {
		t.Fatalf("the unknown tier was warned of %d times, want once:\n%s", n, r.log)
	}
	// A tier that limits nothing shows no window.
	r = newRig(t, Options{Tiers: map[string]Tier{"unlimited": {}}, DefaultTier: "unlimited"})
	if res, e := r.check(activeClient("x"), cc, 0); e != nil || res.RateLimit != nil {
		t.Fatalf("unlimited: %+v, %v", res, e)
	}
}

// TestBalance: a metered client needs a positive balance that covers the
// grant's cost; the 402 took its rate (the request did arrive) and charged
// nothing; clients that are not metered are not charged.
func TestBalance(t *testing.T) {
	r := newRig(t, Options{GrantCosts: map[string]int64{cc: 10}})
	for _, tc := range []struct {
		metered bool
		balance int64
		grant   string
		refused bool
		cost    int64
		name    string
	}{
		{true, 10, cc, false, 10, "covers the cost exactly"},
		{true, 9, cc, true, 0, "below the cost"},
		{true, 0, oauth.GrantRefreshToken, true, 0, "zero, even for a free grant"},
		{true, -5, oauth.GrantRefreshToken, true, 0, "overdrawn"},
		{true, 1, oauth.GrantRefreshToken, false, 0, "a free grant"},
		{false, 0, cc, false, 0, "not metered"},
	} {
		c := activeClient(tc.name)
		c.Metered, c.Balance = tc.metered, tc.balance
		res, e := r.check(c, tc.grant, 0)
		if tc.refused {
			wantRefusal(t, e, http.StatusPaymentRequired, oauth.ReasonInsufficientFunds, 0)
			if e.RateLimit == nil || e.RateLimit.Remaining != 9 {
				t.Fatalf("%s: the 402 shows the window %+v, want the request counted (9 left)", tc.name, e.RateLimit)
			}
			continue
		}
		if e != nil || res.Cost != tc.cost {
			t.Fatalf("%s: %+v, %v; want cost %d", tc.name, res, e, tc.cost)
		}
	}
	if n := r.counters.Get(RuleBalance); n != 3 {
		t.Fatalf("balance counted %d, want 3", n)
	}
}

// TestOperatingHours: outside the client's hours 503 with Retry-After
// until the next opening, and the request takes no rate.
func TestOperatingHours(t *testing.T) {
	sched := &store.Schedule{TimeZone: "Europe/Bucharest", Weekly: map[string][]string{
		"mon": {"09:00-17:00"}, "tue": {"09:00-17:00"}, "wed": {"09:00-17:00"}, "thu": {"09:00-17:00"}, "fri": {"09:00-17:00"}}}
	r := newRig(t, Options{})
	c := activeClient("bank-hours")
	c.OperatingHours = sched
	// t0 is Monday 12:00 in Bucharest (UTC+2): open.
	if _, e := r.check(c, cc, 0); e != nil {
		t.Fatal(e)
	}
	// Monday 18:00: closed until Tuesday 09:00, 15 h.
	for range 20 {
		_, e := r.check(c, cc, 6*time.Hour)
		wantRefusal(t, e, http.StatusServiceUnavailable, oauth.ReasonOutsideHours, 15*3600)
	}
	// The refusals took no rate: 9 of the burst are left.
	if got := burst(t, r, c); got != 9 {
		t.Fatalf("after 20 refusals outside hours a burst of %d, want 9", got)
	}
	// Connect sessions and authorization requests are not held to hours.
	if _, e := r.check(c, oauth.ActionAuthorize, 6*time.Hour); e != nil {
		t.Fatal(e)
	}
	if n := r.counters.Get(RuleHours); n != 20 {
		t.Fatalf("hours counted %d, want 20", n)
	}
}

// fixedSchedule answers OpenAt with itself.
type fixedSchedule struct {
	open bool
	next time.Time
}

func (s fixedSchedule) OpenAt(time.Time) (bool, time.Time) { return s.open, s.next }

// TestClosed: the hours rule's refusal, whatever the schedule's
// implementation: Retry-After until the next opening, rounded up to whole
// seconds, and none when no opening comes.
func TestClosed(t *testing.T) {
	if e := closed(fixedSchedule{open: true}, t0); e != nil {
		t.Fatalf("open: %v", e)
	}
	for next, retryAfter := range map[time.Time]int{
		t0.Add(15 * time.Hour):    54000,
		t0.Add(1500 * ms):         2,
		t0.Add(time.Millisecond):  1,
		{}:                        0,
		t0.Add(-time.Millisecond): 0, // a schedule that contradicts itself: no Retry-After
	} {
		wantRefusal(t, closed(fixedSchedule{next: next}, t0), http.StatusServiceUnavailable, oauth.ReasonOutsideHours, retryAfter)
	}
}

// TestLimiterFailure: a limiter that fails lets token requests through
// with no window (fail open, the default) or refuses them with 503 (fail
// closed); either way it is counted and logged, at most once per 10 s.
func TestLimiterFailure(t *testing.T) {
	l := NewRedisLimiter(unreachableRedis(t), "")
	open := newRig(t, Options{Limiter: l})
	for i := range 3 {
		res, e := open.check(activeClient("c"), cc, time.Duration(i)*time.Second)
		if e != nil || res.RateLimit != nil {
			t.Fatalf("fail open: %+v, %v", res, e)
		}
	}
	if n := open.counters.Get(RuleLimiterError); n != 3 {
		t.Fatalf("limiter_error counted %d, want 3", n)
	}
	if n := strings.Count(open.log.String(), `level=WARN msg="policy: limiter failed"`); n != 1 {
		t.Fatalf("%d warnings in 3 s, want 1:\n%s", n, open.log)
	}
	open.check(activeClient("c"), cc, 11*time.Second)
	if !strings.Contains(open.log.String(), "not_logged_since=2") || !strings.Contains(open.log.String(), "connection refused") {
		t.Fatalf("the next warning does not count the lines not logged, or has no cause:\n%s", open.log)
	}

	closed := newRig(t, Options{Limiter: l, FailClosed: true})
	_, e := closed.check(activeClient("c"), cc, 0)
	wantUnavailable(t, e)
	if n := closed.counters.Get(RuleLimiterError); n != 1 || closed.counters.Get(RuleRate) != 0 {
		t.Fatalf("counters %v, want one limiter_error", closed.counters.Snapshot())
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	var e *oauth.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Code != oauth.ErrCodeTemporarilyUnavailable || e.RetryAfter != 5 || e.Cause == nil {
		t.Fatalf("fail closed: %#v, want 503 temporarily_unavailable, Retry-After 5, with the cause", err)
	}
}

// unreachableRedis is a client (from OpenRedis) of an address where nothing
// listens.
func unreachableRedis(t *testing.T) *redis.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := OpenRedis("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestOptionsValidate(t *testing.T) {
	err := Options{
		DefaultTier: "gold",
		Tiers:       map[string]Tier{"": {}, "bad": {PerSecond: -1, Burst: 5, PerDay: -2}, "burst-alone": {Burst: 3}, "slow": {PerSecond: 1e-9, Burst: 2}},
		GrantCosts:  map[string]int64{cc: -1},
	}.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{
		"tier with an empty name",
		`tier "bad": per_second -1: must be a finite number >= 0`,
		`tier "bad": per_day -2: must be between 0 and 1000000000000`,
		`tier "slow": burst 2 at per_second 1e-09: a burst may span at most 1e+09 s`,
		`tier "burst-alone": burst without per_second`,
		`default tier "gold": no such tier`,
		`grant cost of "client_credentials": -1`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("the zero Options: %v", err)
	}
}

func TestCountersSnapshot(t *testing.T) {
	var c Counters
	c.add(RuleAddress)
	c.add(RuleAddress)
	got := c.Snapshot()
	want := map[string]int64{"state": 0, "hours": 0, "rate": 0, "balance": 0, "brute_force": 0, "address": 2, "limiter_error": 0, "pending": 0}
	if len(got) != len(want) {
		t.Fatalf("Snapshot() = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("Snapshot() = %v, want %v", got, want)
		}
	}
}

// TestNoSecretInLogs: nothing the policy logs holds the client's secret
// (or its hash).
func TestNoSecretInLogs(t *testing.T) {
	r := newRig(t, Options{})
	c := activeClient("c")
	c.State = store.ClientSuspended
	r.check(c, cc, 0)
	if s := r.log.String(); strings.Contains(s, "gcs_") || strings.Contains(s, string(c.SecretHash)) {
		t.Fatalf("a secret in the log:\n%s", s)
	}
}
