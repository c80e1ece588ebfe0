package public_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	path = "/oauth/token"
	// The seed's example redirect URI.
	seedRedirect = "http://127.0.0.1:51000/callback"
)

// The error codes grantd reserves for the seed's 402 and 429 (see
// docs/dialects.md (public)). The commercial policy answers with them.
const (
	codeInsufficientBalance = "insufficient_balance"
	codeRateLimitExceeded   = "rate_limit_exceeded"
)

// policy is a Policy a test switches; with no error set it is the default
// (oauth.StatePolicy).
type policy struct {
	mu  sync.Mutex
	err error
}

func (p *policy) set(err error) { p.mu.Lock(); p.err = err; p.mu.Unlock() }

func (p *policy) Check(ctx context.Context, r oauth.PolicyRequest) (oauth.PolicyResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return oauth.PolicyResult{}, p.err
	}
	return oauth.StatePolicy{}.Check(ctx, r)
}

// fixture is a grantd and one public client registered with the seed's
// loopback redirect.
type fixture struct {
	t      *testing.T
	e      *testenv.Env
	pol    *policy
	c      store.Client
	redact map[string]string // secret -> golden placeholder
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pol := &policy{}
	e := testenv.New(t, testenv.Options{Policy: pol})
	c, _ := e.Client(t, func(c *store.Client) {
		c.Name = "Agent CLI"
		c.AuthMethod = store.AuthMethodNone
		c.GrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
		c.RedirectURIs = []string{seedRedirect}
	})
	return &fixture{t: t, e: e, pol: pol, c: c, redact: map[string]string{c.ID: "<client_id>"}}
}

// grant is a one-time code with its PKCE verifier and redirect URI.
type grant struct{ code, verifier, redirect string }

// authorize runs /oauth/authorize's core for the client with redirect and a
// PKCE challenge, approves it for the user with scope "accounts balances",
// and returns the code.
func (f *fixture) authorize(redirect string) grant {
	f.t.Helper()
	g := grant{verifier: oauth.RandomToken(32), redirect: redirect}
	res, err := f.e.Provider.Authorize(context.Background(), url.Values{
		"response_type": {"code"}, "client_id": {f.c.ID}, "redirect_uri": {redirect}, "state": {"xyz"},
		"scope": {"accounts balances"}, "code_challenge": {oauth.S256Challenge(g.verifier)}, "code_challenge_method": {"S256"},
	})
	if err != nil {
		f.t.Fatalf("authorize: %v", err)
	}
	to, err := f.e.Provider.Accept(context.Background(), res.Request.ID, oauth.Consent{Subject: "agent-user", ProviderID: "sandbox-bank"})
	if err != nil {
		f.t.Fatalf("accept: %v", err)
	}
	u, _ := url.Parse(to)
	if !strings.HasPrefix(to, redirect+"?") {
		f.t.Fatalf("redirected to %s, want %s", to, redirect)
	}
	g.code = u.Query().Get("code")
	f.redact[g.code] = "<code>"
	f.redact[g.verifier] = "<code_verifier>"
	return g
}

func (g grant) params() map[string]string {
	return map[string]string{"grant_type": "authorization_code", "code": g.code, "code_verifier": g.verifier, "redirect_uri": g.redirect}
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
	Golden string
}

func (r reply) str(k string) string { s, _ := r.JSON[k].(string); return s }

// do posts params (with the client's client_id unless noClientID) as a form
// or as JSON.
func (f *fixture) do(asJSON bool, params map[string]string, header ...string) reply {
	f.t.Helper()
	var body, ct string
	if asJSON {
		b, _ := json.Marshal(params)
		body, ct = string(b), "application/json"
	} else {
		v := url.Values{}
		for k, x := range params {
			v.Set(k, x)
		}
		body, ct = v.Encode(), "application/x-www-form-urlencoded"
	}
	req, _ := http.NewRequest(http.MethodPost, f.e.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	r.Golden = f.golden(req, body, r)
	return r
}

// with returns params plus the client's client_id and kv.
func (f *fixture) with(params map[string]string, kv ...string) map[string]string {
	p := maps.Clone(params)
	p["client_id"] = f.c.ID
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(p, kv[i])
		} else {
			p[kv[i]] = kv[i+1]
		}
	}
	return p
}

var (
	jwtRe     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	refreshRe = regexp.MustCompile(oauth.PrefixRefreshToken + `[A-Za-z0-9_-]+`)
)

func (f *fixture) golden(req *http.Request, body string, r reply) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s\nContent-Type: %s\n", req.URL.Path, req.Header.Get("Content-Type"))
	if a := req.Header.Get("Authorization"); a != "" {
		if id, secret, ok := req.BasicAuth(); ok {
			a = "Basic base64(" + f.redactText(id) + ":" + f.redactText(secret) + ")"
		}
		fmt.Fprintf(&b, "Authorization: %s\n", a)
	}
	fmt.Fprintf(&b, "\n%s\n\nHTTP %d\n", f.redactText(body), r.Status)
	for _, h := range []string{"Cache-Control", "Content-Type", "Pragma", "Retry-After", "WWW-Authenticate"} {
		if v := r.Header.Get(h); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", h, v)
		}
	}
	out := f.redactText(string(r.Body))
	out = jwtRe.ReplaceAllString(out, "<jwt>")
	out = refreshRe.ReplaceAllString(out, "<new_refresh_token>")
	fmt.Fprintf(&b, "\n%s", out)
	return b.String()
}

func (f *fixture) redactText(s string) string { return testenv.Redact(s, f.redact) }

func checkGolden(t *testing.T, name string, r reply) {
	t.Helper()
	testenv.CompareGolden(t, *update, name, r.Golden)
}

// checkTokens checks the seed's promise field by field: exactly
// access_token (an RS256 JWT), token_type Bearer, expires_in (an integer),
// refresh_token and scope.
func (f *fixture) checkTokens(r reply) {
	f.t.Helper()
	t := f.t
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	want := []string{"access_token", "expires_in", "refresh_token", "scope", "token_type"}
	if got := slices.Sorted(maps.Keys(r.JSON)); !slices.Equal(got, want) {
		t.Errorf("fields %v, want exactly %v", got, want)
	}
	if r.str("token_type") != "Bearer" {
		t.Errorf("token_type %q, want Bearer", r.str("token_type"))
	}
	if n, ok := r.JSON["expires_in"].(float64); !ok || n != 3600 {
		t.Errorf("expires_in %v (%T), want the integer 3600", r.JSON["expires_in"], r.JSON["expires_in"])
	}
	if r.str("scope") != "accounts balances" {
		t.Errorf("scope %q, want the granted scope", r.str("scope"))
	}
	if !strings.HasPrefix(r.str("refresh_token"), oauth.PrefixRefreshToken) {
		t.Errorf("refresh_token %q", r.str("refresh_token"))
	}
	at := r.str("access_token")
	head, _, _ := strings.Cut(at, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h map[string]any
	if err != nil || json.Unmarshal(raw, &h) != nil {
		t.Fatalf("access_token is not a JWT")
	}
	if h["alg"] != "RS256" || h["typ"] != "at+jwt" || h["kid"] == nil {
		t.Errorf("JWT header %v, want alg RS256, typ at+jwt and a kid", h)
	}
	claims := f.e.VerifyJWT(t, at)
	if claims["client_id"] != f.c.ID || claims["sub"] != "agent-user" || claims["scope"] != "accounts balances" {
		t.Errorf("claims %v", claims)
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
}

// TestCodeExchange: the seed's authorization_code request, form and JSON.
func TestCodeExchange(t *testing.T) {
	f := newFixture(t)
	for name, asJSON := range map[string]bool{"code_form": false, "code_json": true} {
		g := f.authorize(seedRedirect)
		r := f.do(asJSON, f.with(g.params()))
		f.checkTokens(r)
		checkGolden(t, name, r)
	}
}

// TestLoopbackAnyPort: the client registered the seed's
// http://127.0.0.1:51000/callback; any port of that loopback address works
// (RFC 8252 §7.3), as long as the exchange repeats the authorization's URI.
func TestLoopbackAnyPort(t *testing.T) {
	f := newFixture(t)
	g := f.authorize("http://127.0.0.1:63112/callback")
	f.checkTokens(f.do(false, f.with(g.params())))

	g = f.authorize("http://127.0.0.1:40000/callback")
	r := f.do(false, f.with(g.params(), "redirect_uri", seedRedirect))
	checkError(t, f, r, 400, "invalid_grant")
	checkGolden(t, "error_redirect_uri_port_changed", r)

	for _, bad := range []string{"http://localhost:51000/callback", "http://127.0.0.1:51000/other", "https://127.0.0.1:51000/callback"} {
		_, err := f.e.Provider.Authorize(context.Background(), url.Values{"response_type": {"code"}, "client_id": {f.c.ID},
			"redirect_uri": {bad}, "code_challenge": {oauth.S256Challenge(oauth.RandomToken(32))}, "code_challenge_method": {"S256"}})
		if err == nil {
			t.Errorf("authorize accepted %s", bad)
		}
	}
}

// TestPKCERequired: a public client cannot start the flow without an S256
// challenge, nor finish it without the verifier.
func TestPKCERequired(t *testing.T) {
	f := newFixture(t)
	for _, q := range []url.Values{
		{"response_type": {"code"}, "client_id": {f.c.ID}, "redirect_uri": {seedRedirect}},
		{"response_type": {"code"}, "client_id": {f.c.ID}, "redirect_uri": {seedRedirect}, "code_challenge": {"abc"}, "code_challenge_method": {"plain"}},
	} {
		_, err := f.e.Provider.Authorize(context.Background(), q)
		var ae *oauth.AuthorizeError
		if !errors.As(err, &ae) || ae.Err.Code != oauth.ErrCodeInvalidRequest {
			t.Errorf("authorize %v: %v, want invalid_request", q, err)
		}
	}
}

// TestRefreshRotates: refresh_token rotates the refresh token; reuse of a
// rotated one revokes the whole family, the newest token and its access
// tokens included.
func TestRefreshRotates(t *testing.T) {
	f := newFixture(t)
	g := f.authorize(seedRedirect)
	first := f.do(false, f.with(g.params()))
	f.checkTokens(first)
	rt1 := first.str("refresh_token")
	f.redact[rt1] = "<refresh_token>"

	second := f.do(true, f.with(map[string]string{"grant_type": "refresh_token", "refresh_token": rt1}))
	f.checkTokens(second)
	checkGolden(t, "refresh_json", second)
	rt2 := second.str("refresh_token")
	if rt2 == rt1 {
		t.Fatal("the refresh token did not rotate")
	}
	if in := f.e.Introspect(t, second.str("access_token")); in["active"] != true || in["client_id"] != f.c.ID {
		t.Errorf("introspection: %v", in)
	}

	// Reuse of rt1: refused, and the family is revoked.
	r := f.do(false, f.with(map[string]string{"grant_type": "refresh_token", "refresh_token": rt1}))
	checkError(t, f, r, 400, "invalid_grant")
	checkGolden(t, "error_refresh_token_reused", r)
	r = f.do(false, f.with(map[string]string{"grant_type": "refresh_token", "refresh_token": rt2}))
	checkError(t, f, r, 400, "invalid_grant")
	for _, at := range []string{first.str("access_token"), second.str("access_token")} {
		if in := f.e.Introspect(t, at); in["active"] != false {
			t.Errorf("access token of a revoked family still active: %v", in)
		}
	}
}

// TestRevocation: a public client revokes its own refresh token with its
// client_id alone (RFC 7009 §2.1); the family ends.
func TestRevocation(t *testing.T) {
	f := newFixture(t)
	r := f.do(false, f.with(f.authorize(seedRedirect).params()))
	f.checkTokens(r)
	if st := f.e.Revoke(t, f.c, "", r.str("refresh_token")); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	r = f.do(false, f.with(map[string]string{"grant_type": "refresh_token", "refresh_token": r.str("refresh_token")}))
	checkError(t, f, r, 400, "invalid_grant")
}

// TestClientIDs: grantd's client ids are UUIDs, which the seed's client_id
// (its example is "cursor") accepts; an unknown name is an unknown client.
func TestClientIDs(t *testing.T) {
	f := newFixture(t)
	if _, err := uuid.Parse(f.c.ID); err != nil {
		t.Errorf("client id %q is not a UUID", f.c.ID)
	}
	req, _ := http.NewRequest(http.MethodPost, f.e.URL+"/oauth/register", strings.NewReader(`{"client_name":"cursor","redirect_uris":["`+seedRedirect+`"]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if id, _ := reg["client_id"].(string); resp.StatusCode != 201 || uuid.Validate(id) != nil {
		t.Fatalf("registration: %d %v", resp.StatusCode, reg)
	}
	g := f.authorize(seedRedirect)
	r := f.do(false, f.with(g.params(), "client_id", "cursor"))
	checkError(t, f, r, 401, "invalid_client")
	checkGolden(t, "error_unknown_client_id", r)
}

// TestErrors: the seed's 400 and 401, and its 500: RFC 6749 §5.2 JSON,
// exactly {error, error_description}, never an echo of a secret.
func TestErrors(t *testing.T) {
	f := newFixture(t)
	live := f.authorize(seedRedirect)
	tests := []struct {
		name   string
		params map[string]string
		header []string
		status int
		err    string
	}{
		{"missing_grant_type", f.with(live.params(), "grant_type", ""), nil, 400, "invalid_request"},
		{"unsupported_grant_type", f.with(map[string]string{"grant_type": "password", "username": "u", "password": "p"}), nil, 400, "unsupported_grant_type"},
		{"client_credentials_grant", f.with(map[string]string{"grant_type": "client_credentials"}), nil, 400, "unauthorized_client"},
		{"missing_code", f.with(live.params(), "code", ""), nil, 400, "invalid_request"},
		{"unknown_code", f.with(live.params(), "code", "gac_unknown"), nil, 400, "invalid_grant"},
		{"missing_code_verifier", f.with(live.params(), "code_verifier", ""), nil, 400, "invalid_grant"},
		{"wrong_code_verifier", f.with(live.params(), "code_verifier", strings.Repeat("v", 43)), nil, 400, "invalid_grant"},
		{"missing_refresh_token", f.with(map[string]string{"grant_type": "refresh_token"}), nil, 400, "invalid_request"},
		{"unknown_refresh_token", f.with(map[string]string{"grant_type": "refresh_token", "refresh_token": "grt_unknown"}), nil, 400, "invalid_grant"},
		{"missing_client_id", f.with(live.params(), "client_id", ""), nil, 401, "invalid_client"},
		{"public_client_with_secret", f.with(live.params(), "client_secret", "s3cret-value"), nil, 401, "invalid_client"},
		{"public_client_with_basic", f.with(live.params(), "client_id", ""), []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(f.c.ID+":"))}, 401, "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(false, tc.params, tc.header...)
			checkError(t, f, r, tc.status, tc.err)
			checkGolden(t, "error_"+tc.name, r)
		})
	}
	// The seed's code sample sends "Authorization: Bearer …": the token
	// endpoint ignores a Bearer header, and the live code still works.
	r := f.do(true, f.with(live.params()), "Authorization", "Bearer YOUR_JWT_TOKEN")
	f.checkTokens(r)
}

// TestPolicyErrors: the seed's 402 (insufficient balance) and 429 (rate
// limit, with Retry-After) as the commercial policy answers them, and 500
// for a policy that fails.
func TestPolicyErrors(t *testing.T) {
	f := newFixture(t)
	g := f.authorize(seedRedirect)
	first := f.do(false, f.with(g.params()))
	f.checkTokens(first)
	f.redact[first.str("refresh_token")] = "<refresh_token>"
	refresh := f.with(map[string]string{"grant_type": "refresh_token", "refresh_token": first.str("refresh_token")})
	live := f.authorize(seedRedirect)

	tests := []struct {
		name   string
		policy error
		params map[string]string
		status int
		code   string
	}{
		{"insufficient_balance", &oauth.Error{Code: codeInsufficientBalance, Status: http.StatusPaymentRequired,
			Reason: oauth.ReasonInsufficientFunds, Description: "Insufficient token balance for this call."}, refresh, 402, codeInsufficientBalance},
		{"rate_limit_exceeded", &oauth.Error{Code: codeRateLimitExceeded, Status: http.StatusTooManyRequests, RetryAfter: 30,
			Reason: oauth.ReasonRateLimited, Description: "Rate limit exceeded for your tier."}, live.params(), 429, codeRateLimitExceeded},
		{"server_error", errors.New("policy store unreachable"), refresh, 500, "server_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.pol.set(tc.policy)
			defer f.pol.set(nil)
			r := f.do(false, f.with(tc.params))
			checkError(t, f, r, tc.status, tc.code)
			checkGolden(t, "error_"+tc.name, r)
			if tc.status == 429 && r.Header.Get("Retry-After") != "30" {
				t.Errorf("Retry-After %q, want 30", r.Header.Get("Retry-After"))
			}
			if strings.Contains(string(r.Body), "unreachable") {
				t.Error("the private cause leaked")
			}
		})
	}
	// The refused requests spent nothing: the code and the refresh token
	// still work.
	f.checkTokens(f.do(false, f.with(live.params())))
	f.checkTokens(f.do(false, refresh))
}

// TestExpiry: expires_in is what the JWT says, and the access token ends
// then.
func TestExpiry(t *testing.T) {
	f := newFixture(t)
	r := f.do(false, f.with(f.authorize(seedRedirect).params()))
	f.checkTokens(r)
	claims := f.e.VerifyJWT(t, r.str("access_token"))
	if exp, _ := claims["exp"].(float64); int64(exp) != f.e.Clock.Now().Add(time.Hour).Unix() {
		t.Errorf("exp %v, want now + expires_in", claims["exp"])
	}
	f.e.Clock.Advance(time.Hour)
	if in := f.e.Introspect(t, r.str("access_token")); in["active"] != false {
		t.Errorf("expired token active: %v", in)
	}
}

// checkError: RFC 6749 §5.2, exactly {error, error_description}, no secret.
func checkError(t *testing.T, f *fixture, r reply, status int, code string) {
	t.Helper()
	if r.Status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
	if keys := slices.Sorted(maps.Keys(r.JSON)); !slices.Equal(keys, []string{"error", "error_description"}) || r.str("error_description") == "" {
		t.Errorf("error fields %v, want exactly error and error_description", keys)
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
	for s := range f.redact {
		if len(s) >= 8 && bytes.Contains(r.Body, []byte(s)) {
			t.Errorf("the answer echoes a secret (%s)", f.redact[s])
		}
	}
	if bytes.Contains(r.Body, []byte("s3cret-value")) {
		t.Error("the answer echoes the client secret")
	}
}
