package server_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/janitor"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// The commercial policy at every token endpoint, each in its dialect's
// shape: the rules are the core's, the answers the dialects'.

// endpoint is one token endpoint as the policy tests drive it.
type endpoint struct {
	name string
	// client makes the endpoint's kind of client.
	client func(*store.Client)
	// request builds one token request for c.
	request func(t *testing.T, e *testenv.Env, c store.Client, secret string) testenv.Result
	// field is where the answer names the error, and the value per rule.
	field                      string
	rate, balance, hours, down string
}

func basicAuth(id, secret string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}}
}

var endpoints = []endpoint{
	{name: "oauth2", client: func(*store.Client) {},
		request: func(t *testing.T, e *testenv.Env, c store.Client, secret string) testenv.Result {
			return testenv.Post(t, e.URL+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", basicAuth(c.ID, secret))
		}, field: "error", rate: "rate_limit_exceeded", balance: "insufficient_balance", hours: "temporarily_unavailable", down: "temporarily_unavailable"},
	{name: "bankdata", client: func(*store.Client) {},
		request: func(t *testing.T, e *testenv.Env, c store.Client, secret string) testenv.Result {
			return testenv.Post(t, e.URL+"/api/v1/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", basicAuth(c.ID, secret))
		}, field: "error", rate: "rate_limit_exceeded", balance: "insufficient_balance", hours: "temporarily_unavailable", down: "temporarily_unavailable"},
	{name: "bankapi", client: func(*store.Client) {},
		request: func(t *testing.T, e *testenv.Env, c store.Client, secret string) testenv.Result {
			return testenv.Post(t, e.URL+"/v1/oauth/token", "application/json", testenv.JSONBody("client_id", c.ID, "client_secret", secret), nil)
		}, field: "code", rate: "RATE_LIMITED", balance: "INSUFFICIENT_BALANCE", hours: "OUTSIDE_WORKING_HOURS", down: "SERVICE_UNAVAILABLE"},
	{name: "temptoken", client: func(c *store.Client) { c.ResponseTypes = []string{oauth.CodeKindTempToken} },
		request: func(t *testing.T, e *testenv.Env, c store.Client, secret string) testenv.Result {
			g := e.Code(t, c, oauth.Consent{}, false)
			return testenv.Post(t, e.URL+"/v1/tokens", "application/json", testenv.JSONBody("client_id", c.ID, "client_secret", secret, "temp_token", g.Code), nil)
		}, field: "code", rate: "too_many_requests", balance: "insufficient_balance", hours: "outside_operating_hours", down: "temporarily_unavailable"},
	{name: "payroll", client: func(*store.Client) {},
		request: func(t *testing.T, e *testenv.Env, c store.Client, secret string) testenv.Result {
			g := e.Code(t, c, oauth.Consent{ProviderID: "sandbox-payroll"}, false)
			return testenv.Post(t, e.URL+"/auth/token", "application/json", testenv.JSONBody("client_id", c.ID, "client_secret", secret,
				"code", g.Code, "redirect_uri", g.RedirectURI), nil)
		}, field: "name", rate: "rate_limit_error", balance: "payment_required", hours: "service_unavailable_error", down: "service_unavailable_error"},
}

func payrollScopes(c *store.Client) { c.Scopes = []string{"company", "directory", "pay_statement"} }

// policyEnv is a grantd with every dialect and the real policy, on the
// env's fake clock; tiers add to the built-in ones.
func policyEnv(t *testing.T, tiers map[string]policy.Tier, costs map[string]int64) *testenv.Env {
	t.Helper()
	return policyEnvCounting(t, tiers, costs, nil)
}

// policyEnvCounting is policyEnv with the policy's refusals counted.
func policyEnvCounting(t *testing.T, tiers map[string]policy.Tier, costs map[string]int64, counters *policy.Counters) *testenv.Env {
	t.Helper()
	var e *testenv.Env
	pol, err := policy.New(policy.Options{Tiers: tiers, GrantCosts: costs, DefaultTier: policy.TierEnterprise,
		Now: func() time.Time { return e.Clock.Now() }, Counters: counters})
	if err != nil {
		t.Fatal(err)
	}
	e = testenv.New(t, testenv.Options{Dialects: all.Dialects(), Policy: pol})
	return e
}

func (ep endpoint) newClient(t *testing.T, e *testenv.Env, opts ...func(*store.Client)) (store.Client, string) {
	opts = append([]func(*store.Client){ep.client}, opts...)
	if ep.name == "payroll" {
		opts = append(opts, payrollScopes)
	}
	return e.Client(t, opts...)
}

func wantRefused(t *testing.T, ep endpoint, r testenv.Result, status int, value string) {
	t.Helper()
	got := r.Str(ep.field)
	if r.Status != status || got != value {
		t.Errorf("%s: %d %s=%q, want %d %q: %s", ep.name, r.Status, ep.field, got, status, value, r.Body)
	}
}

// TestTierRateLimitEveryDialect: a tier's burst, then 429 with Retry-After
// in each dialect's shape; every answer carries the RateLimit-* headers.
func TestTierRateLimitEveryDialect(t *testing.T) {
	e := policyEnv(t, map[string]policy.Tier{"tiny": {PerSecond: 0.01, Burst: 2}}, nil)
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			c, secret := ep.newClient(t, e, func(c *store.Client) { c.Tier = "tiny" })
			for i, want := range []string{"1", "0"} {
				r := ep.request(t, e, c, secret)
				if r.Status != 200 || r.Header.Get("RateLimit-Limit") != "2" || r.Header.Get("RateLimit-Remaining") != want || r.Header.Get("RateLimit-Reset") == "" {
					t.Fatalf("request %d: %d limit %q remaining %q reset %q: %s", i+1, r.Status, r.Header.Get("RateLimit-Limit"),
						r.Header.Get("RateLimit-Remaining"), r.Header.Get("RateLimit-Reset"), r.Body)
				}
			}
			r := ep.request(t, e, c, secret)
			wantRefused(t, ep, r, http.StatusTooManyRequests, ep.rate)
			if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 100 {
				t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
			}
			if r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Limit") != "2" {
				t.Errorf("429 without its window: %v", r.Header)
			}
			// The window refills with time.
			e.Clock.Advance(101 * time.Second)
			if r := ep.request(t, e, c, secret); r.Status != 200 {
				t.Errorf("after the refill: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestPrepaidBalanceEveryDialect: a metered client pays for its grants in
// the transaction that issues them; with its balance spent, 402 in each
// dialect's shape, and nothing is issued or charged.
func TestPrepaidBalanceEveryDialect(t *testing.T) {
	e := policyEnv(t, nil, map[string]int64{oauth.GrantClientCredentials: 2, oauth.GrantAuthorizationCode: 2})
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			c, secret := ep.newClient(t, e, func(c *store.Client) { c.Metered = true })
			topUp(t, e, c.ID, 3)
			if r := ep.request(t, e, c, secret); r.Status != 200 {
				t.Fatalf("first: %d %s", r.Status, r.Body)
			}
			// 1 credit left, the grant costs 2.
			wantRefused(t, ep, ep.request(t, e, c, secret), http.StatusPaymentRequired, ep.balance)
			got, err := e.Store.GetClient(t.Context(), c.ID)
			if err != nil || got.Balance != 1 {
				t.Fatalf("balance %d, %v: want 1", got.Balance, err)
			}
			ledger, _, err := e.Store.ListLedger(t.Context(), c.ID, store.Page{})
			if err != nil || len(ledger) != 2 || ledger[0].Kind != store.LedgerCharge || ledger[0].Amount != -2 {
				t.Fatalf("ledger %+v, %v", ledger, err)
			}
		})
	}
}

func topUp(t *testing.T, e *testenv.Env, clientID string, n int64) {
	t.Helper()
	if _, _, err := e.Store.AdjustBalance(t.Context(), clientID, store.LedgerEntry{Kind: store.LedgerTopUp, Amount: n,
		Reason: "test", IdempotencyKey: "top-" + oauth.RandomToken(8), CreatedAt: e.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestOperatingHoursEveryDialect: outside the client's hours, 503 with
// Retry-After until the next opening, in each dialect's shape.
func TestOperatingHoursEveryDialect(t *testing.T) {
	e := policyEnv(t, nil, nil)
	// Move the clock to the next Monday, 10:00 UTC.
	now := e.Clock.Now()
	monday := time.Date(now.Year(), now.Month(), now.Day(), 10, 0, 0, 0, time.UTC).AddDate(0, 0, (8-int(now.Weekday()))%7+7)
	e.Clock.Advance(monday.Sub(now))
	tuesday := &store.Schedule{TimeZone: "UTC", Weekly: map[string][]string{"tue": {"09:00-17:00"}}}
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			c, secret := ep.newClient(t, e, func(c *store.Client) { c.OperatingHours = tuesday })
			r := ep.request(t, e, c, secret)
			wantRefused(t, ep, r, http.StatusServiceUnavailable, ep.hours)
			if r.Header.Get("Retry-After") != strconv.Itoa(23*3600) {
				t.Errorf("Retry-After %q, want 23 h", r.Header.Get("Retry-After"))
			}
		})
	}
}

// TestLastCreditRace: 60 requests race for a metered client's last credit:
// exactly one token is issued and charged.
func TestLastCreditRace(t *testing.T) {
	counters := &policy.Counters{}
	e := policyEnvCounting(t, nil, map[string]int64{oauth.GrantClientCredentials: 1}, counters)
	ep := endpoints[0]
	c, secret := ep.newClient(t, e, func(c *store.Client) { c.Metered = true })
	topUp(t, e, c.ID, 1)
	var wg sync.WaitGroup
	statuses := make(chan int, 60)
	for range 60 {
		wg.Go(func() { statuses <- ep.request(t, e, c, secret).Status })
	}
	wg.Wait()
	close(statuses)
	n := map[int]int{}
	for s := range statuses {
		n[s]++
	}
	if n[200] != 1 || n[402] != 59 {
		t.Fatalf("statuses %v: want one 200 and 59 402", n)
	}
	if got, _ := e.Store.GetClient(t.Context(), c.ID); got.Balance != 0 {
		t.Fatalf("balance %d", got.Balance)
	}
	// Every 402 is counted, whether the policy's pre-check or the charge
	// refused it.
	if n := counters.Get(policy.RuleBalance); n != 59 {
		t.Errorf("balance refusals counted: %d, want 59", n)
	}
}

// TestBruteForceLockout: failed secrets from one address are slowed, then
// refused with 429 and a growing, capped Retry-After; the client's own
// address is not locked out. The addresses come through a trusted proxy
// (TestClientAddress tests which forwarded addresses are believed).
func TestBruteForceLockout(t *testing.T) {
	var e *testenv.Env
	guard, err := policy.NewGuard(policy.GuardOptions{
		Address: policy.Lockout{SlowAfter: 3, BlockAfter: 5, Block: time.Minute, MaxBlock: 4 * time.Minute, Window: time.Hour},
		Delay:   time.Millisecond, MaxDelay: time.Millisecond,
		Now: func() time.Time { return e.Clock.Now() },
	})
	if err != nil {
		t.Fatal(err)
	}
	e = testenv.New(t, testenv.Options{Guard: guard, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	c, secret := e.Client(t)
	token := func(from, secret string) testenv.Result {
		h := basicAuth(c.ID, secret)
		h.Set("X-Forwarded-For", from)
		return testenv.Post(t, e.URL+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", h)
	}
	const attacker, owner = "198.51.100.66", "203.0.113.10"
	for i := range 5 {
		if r := token(attacker, "gcs_guess"); r.Status != 401 {
			t.Fatalf("guess %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := token(attacker, "gcs_guess")
	if r.Status != 429 || r.Str("error") != "rate_limit_exceeded" || r.Header.Get("Retry-After") != "60" {
		t.Fatalf("after 5 failures: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	// Even the right secret waits out the block from that address …
	if r := token(attacker, secret); r.Status != 429 {
		t.Fatalf("right secret from the blocked address: %d", r.Status)
	}
	// … but not from the client's own address.
	if r := token(owner, secret); r.Status != 200 {
		t.Fatalf("the owner's address: %d %s", r.Status, r.Body)
	}
	// The next block after a further failure is longer, and capped.
	for _, want := range []string{"120", "240", "240"} {
		e.Clock.Advance(10 * time.Minute)
		token(attacker, "gcs_guess")
		if r := token(attacker, "gcs_guess"); r.Status != 429 || r.Header.Get("Retry-After") != want {
			t.Fatalf("block: %d Retry-After %q, want %s", r.Status, r.Header.Get("Retry-After"), want)
		}
	}
}

// TestOpenEndpointsLimitedPerAddress: registration from one address is
// limited; another address is not held back.
func TestOpenEndpointsLimitedPerAddress(t *testing.T) {
	var e *testenv.Env
	limits, err := policy.NewAddressLimits(policy.AddressOptions{Tiers: map[string]policy.Tier{
		policy.RouteRegister: {PerSecond: 0.001, Burst: 2}, policy.RouteConnectSessions: {PerSecond: 0.001, Burst: 1}},
		Now: func() time.Time { return e.Clock.Now() }})
	if err != nil {
		t.Fatal(err)
	}
	e = testenv.New(t, testenv.Options{AddressLimiter: limits, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	register := func(from string) testenv.Result {
		return testenv.Post(t, e.URL+"/oauth/register", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"]}`,
			http.Header{"X-Forwarded-For": {from}})
	}
	for range 2 {
		if r := register("198.51.100.1"); r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
	}
	if r := register("198.51.100.1"); r.Status != 429 || r.Header.Get("Retry-After") == "" || r.Str("error") != "rate_limit_exceeded" {
		t.Fatalf("third registration: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if r := register("198.51.100.2"); r.Status != 201 {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
	c, secret := e.Client(t)
	session := func() testenv.Result {
		h := basicAuth(c.ID, secret)
		h.Set("X-Forwarded-For", "198.51.100.3")
		return testenv.Post(t, e.URL+"/connect/sessions", "application/json", `{"customer_id":"c"}`, h)
	}
	if r := session(); r.Status != 200 {
		t.Fatalf("session: %d %s", r.Status, r.Body)
	}
	if r := session(); r.Status != 429 {
		t.Fatalf("second session: %d %s", r.Status, r.Body)
	}
	// /oauth/authorize answers on a page.
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}}
	for range 40 {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/oauth/authorize?"+q.Encode(), nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("authorize 429: %v", resp.Header)
			}
			return
		}
	}
	t.Fatal("authorize was never limited (default 30 at once per address)")
}

// TestPendingAuthorizationsCapped: one browser address may leave only so
// many authorization requests pending for a client, without holding back
// other addresses or the client's own connect sessions, which have their
// own, per-client cap.
func TestPendingAuthorizationsCapped(t *testing.T) {
	e := testenv.New(t, testenv.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	e.Provider.MaxPendingAuthRequests, e.Provider.MaxPendingConnectSessions = 2, 2
	c, secret := e.Client(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(from string) (int, string) {
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {testenv.RedirectURI}, "state": {"s"}}
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/oauth/authorize?"+q.Encode(), nil)
		req.Header.Set("X-Forwarded-For", from)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	for i := range 2 {
		if st, loc := authorize("198.51.100.1"); st != http.StatusFound || !strings.Contains(loc, "/oauth/consent?") {
			t.Fatalf("authorize %d: %d %s", i+1, st, loc)
		}
	}
	if st, loc := authorize("198.51.100.1"); st != http.StatusFound || !strings.Contains(loc, "error=temporarily_unavailable") {
		t.Fatalf("authorize over the cap: %d %s", st, loc)
	}
	if st, loc := authorize("198.51.100.2"); st != http.StatusFound || !strings.Contains(loc, "/oauth/consent?") {
		t.Fatalf("another address: %d %s", st, loc)
	}
	session := func() testenv.Result {
		return testenv.Post(t, e.URL+"/connect/sessions", "application/json", `{"customer_id":"c"}`, basicAuth(c.ID, secret))
	}
	for i := range 3 {
		r := session()
		switch {
		case i < 2 && r.Status != 200:
			t.Fatalf("session %d: %d %s", i+1, r.Status, r.Body)
		case i == 2 && (r.Status != 429 || r.Header.Get("Retry-After") == ""):
			t.Fatalf("session over the cap: %d %s", r.Status, r.Body)
		}
	}
	// Expired ones do not count.
	e.Clock.Advance(25 * time.Hour)
	if r := session(); r.Status != 200 {
		t.Fatalf("after expiry: %d %s", r.Status, r.Body)
	}
}

// TestProviderOperatingHours: a provider's hours close grants on its
// connections, for clients with no hours of their own; a client's own
// hours win; client_credentials has no provider.
func TestProviderOperatingHours(t *testing.T) {
	counters := &policy.Counters{}
	e := policyEnvCounting(t, nil, nil, counters)
	now := e.Clock.Now()
	monday := time.Date(now.Year(), now.Month(), now.Day(), 10, 0, 0, 0, time.UTC).AddDate(0, 0, (8-int(now.Weekday()))%7+7)
	e.Clock.Advance(monday.Sub(now))
	for i := range e.Provider.Catalogue {
		if e.Provider.Catalogue[i].ID == "sandbox-payroll" {
			e.Provider.Catalogue[i].OperatingHours = &store.Schedule{TimeZone: "UTC", Weekly: map[string][]string{"tue": {"09:00-17:00"}}}
		}
	}
	ep := endpoints[4] // payroll: a code on a sandbox-payroll connection
	c, secret := ep.newClient(t, e)
	r := ep.request(t, e, c, secret)
	wantRefused(t, ep, r, http.StatusServiceUnavailable, ep.hours)
	if r.Header.Get("Retry-After") != strconv.Itoa(23*3600) {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if n := counters.Get(policy.RuleHours); n != 1 {
		t.Errorf("hours refusals counted: %d, want 1", n)
	}
	always := &store.Schedule{TimeZone: "UTC", Weekly: map[string][]string{
		"mon": {"00:00-24:00"}, "tue": {"00:00-24:00"}, "wed": {"00:00-24:00"}, "thu": {"00:00-24:00"},
		"fri": {"00:00-24:00"}, "sat": {"00:00-24:00"}, "sun": {"00:00-24:00"}}}
	own, ownSecret := ep.newClient(t, e, func(c *store.Client) { c.OperatingHours = always })
	if r := ep.request(t, e, own, ownSecret); r.Status != 200 {
		t.Errorf("a client with its own hours: %d %s", r.Status, r.Body)
	}
	if r := endpoints[0].request(t, e, c, secret); r.Status != 200 {
		t.Errorf("client_credentials (no provider): %d %s", r.Status, r.Body)
	}
}

// TestJanitorDeletesUnusedDynamicClients: a self-registered client that
// never obtained a token goes after the TTL; one that did stays, and so does
// an operator's client.
func TestJanitorDeletesUnusedDynamicClients(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	register := func() string {
		r := testenv.Post(t, e.URL+"/oauth/register", "application/json", `{"redirect_uris":["`+testenv.RedirectURI+`"]}`, nil)
		if r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		return r.Str("client_id")
	}
	unused, used := register(), register()
	usedClient, err := e.Store.GetClient(t.Context(), used)
	if err != nil {
		t.Fatal(err)
	}
	g := e.Code(t, usedClient, oauth.Consent{}, true)
	r := testenv.Post(t, e.URL+"/oauth/token", "application/x-www-form-urlencoded", url.Values{"grant_type": {"authorization_code"},
		"client_id": {used}, "code": {g.Code}, "redirect_uri": {g.RedirectURI}, "code_verifier": {g.Verifier}}.Encode(), nil)
	if r.Status != 200 {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	operator, _ := e.Client(t)
	// A client made from a metadata document, never used: the same.
	doc, _ := e.Client(t, func(c *store.Client) {
		c.ID, c.Metadata = "https://agent.example/client.json", map[string]string{clients.MetadataRegistration: clients.MetadataDocument}
	})
	jan := &janitor.Janitor{Store: e.Store, Now: e.Clock.Now, UnusedDynamicClientTTL: 30 * 24 * time.Hour}
	if _, err := jan.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.GetClient(t.Context(), unused); err != nil {
		t.Fatalf("deleted before its TTL: %v", err)
	}
	e.Clock.Advance(31 * 24 * time.Hour)
	res, err := jan.RunOnce(t.Context())
	if err != nil || res.UnusedClients != 2 {
		t.Fatalf("pass: %+v, %v", res, err)
	}
	for _, id := range []string{unused, doc.ID} {
		if _, err := e.Store.GetClient(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the unused self-registered client %s: %v", id, err)
		}
	}
	for _, id := range []string{used, operator.ID} {
		if _, err := e.Store.GetClient(t.Context(), id); err != nil {
			t.Errorf("client %s: %v", id, err)
		}
	}
}

// TestBruteForceAndFailClosedEveryDialect: the guard's 429 and a failing
// limiter's 503 (fail closed) in each dialect's shape.
func TestBruteForceAndFailClosedEveryDialect(t *testing.T) {
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			guard, err := policy.NewGuard(policy.GuardOptions{
				Address: policy.Lockout{SlowAfter: 1, BlockAfter: 2, Block: time.Minute, MaxBlock: time.Hour, Window: time.Hour},
				Sleep:   func(context.Context, time.Duration) error { return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			e := testenv.New(t, testenv.Options{Dialects: all.Dialects(), Guard: guard})
			c, _ := ep.newClient(t, e)
			for range 2 {
				ep.request(t, e, c, "gcs_wrong")
			}
			r := ep.request(t, e, c, "gcs_wrong")
			wantRefused(t, ep, r, http.StatusTooManyRequests, ep.rate)
			if r.Header.Get("Retry-After") != "60" {
				t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
			}

			rc, err := policy.OpenRedis("redis://127.0.0.1:1/0") // nothing listens there
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			pol, err := policy.New(policy.Options{Limiter: policy.NewRedisLimiter(rc, ""), FailClosed: true})
			if err != nil {
				t.Fatal(err)
			}
			closed := testenv.New(t, testenv.Options{Dialects: all.Dialects(), Policy: pol})
			c, secret := ep.newClient(t, closed)
			r = ep.request(t, closed, c, secret)
			wantRefused(t, ep, r, http.StatusServiceUnavailable, ep.down)
			if r.Header.Get("Retry-After") != "5" {
				t.Errorf("fail closed: Retry-After %q", r.Header.Get("Retry-After"))
			}
		})
	}
}
