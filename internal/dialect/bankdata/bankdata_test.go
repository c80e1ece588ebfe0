package bankdata_test

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

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/dialect/bankdata"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const path = "/api/v1/token"

// The seed's example subject: "the user at the Data Provider".
const seedSubject = "bbc6eb83-60fa-4fb0-a6ea-9e2bd54e1071"

// policy is a Policy a test switches: with no error set it is the default
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

// fixture is a grantd with the bankdata dialect and one confidential client.
type fixture struct {
	t      *testing.T
	e      *testenv.Env
	pol    *policy
	c      store.Client
	secret string
	// redact maps secrets of this test to their golden placeholders.
	redact map[string]string
}

func newFixture(t *testing.T, opts ...func(*store.Client)) *fixture {
	t.Helper()
	pol := &policy{}
	e := testenv.New(t, testenv.Options{Dialects: []dialect.Dialect{bankdata.New()}, Policy: pol})
	c, secret := e.Client(t, opts...)
	f := &fixture{t: t, e: e, pol: pol, c: c, secret: secret, redact: map[string]string{}}
	f.secretName(c.ID, "<client_id>")
	f.secretName(secret, "<client_secret>")
	return f
}

// secretName gives a secret its placeholder in golden files.
func (f *fixture) secretName(secret, name string) {
	if secret != "" {
		f.redact[secret] = name
	}
}

// Ways the client authenticates.
type auth int

const (
	authBasic  auth = iota // client_secret_basic
	authBody               // client_id and client_secret in the body
	authNone               // nothing
	authIDOnly             // client_id alone, as a public client
)

// call is one token request.
type call struct {
	json   bool
	auth   auth
	client *store.Client // nil = the fixture's client
	secret string        // with client: its secret
	params map[string]string
	raw    string // a body sent as it is, instead of params
	header []string
}

// reply is a decoded answer, with the request and answer as the golden text.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
	Golden string
}

func (r reply) str(k string) string { s, _ := r.JSON[k].(string); return s }

func (f *fixture) do(c call) reply {
	f.t.Helper()
	id, secret := f.c.ID, f.secret
	if c.client != nil {
		id, secret = c.client.ID, c.secret
	}
	params := maps.Clone(c.params)
	if params == nil {
		params = map[string]string{}
	}
	switch c.auth {
	case authBody:
		params["client_id"], params["client_secret"] = id, secret
	case authIDOnly:
		params["client_id"] = id
	}
	var body, ct string
	switch {
	case c.raw != "":
		body, ct = c.raw, "application/json"
	case c.json:
		b, _ := json.Marshal(params)
		body, ct = string(b), "application/json"
	default:
		v := url.Values{}
		for k, x := range params {
			v.Set(k, x)
		}
		body, ct = v.Encode(), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(http.MethodPost, f.e.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	if c.auth == authBasic {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	return f.send(req, body)
}

func (f *fixture) send(req *http.Request, body string) reply {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("POST %s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	r.Golden = f.golden(req, body, r)
	return r
}

var (
	jwtRe     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	refreshRe = regexp.MustCompile(oauth.PrefixRefreshToken + `[A-Za-z0-9_-]+`)
	opaqueRe  = regexp.MustCompile(oauth.PrefixAccessToken + `[A-Za-z0-9_-]+`)
)

// golden renders the exchange with every secret replaced by a placeholder.
func (f *fixture) golden(req *http.Request, body string, r reply) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s\nContent-Type: %s\n", req.URL.Path, req.Header.Get("Content-Type"))
	if a := req.Header.Get("Authorization"); a != "" {
		if id, secret, ok := req.BasicAuth(); ok {
			uid, _ := url.QueryUnescape(id)
			usecret, _ := url.QueryUnescape(secret)
			a = "Basic base64(" + f.redactText(uid) + ":" + f.redactText(usecret) + ")"
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
	out = opaqueRe.ReplaceAllString(out, "<opaque_access_token>")
	fmt.Fprintf(&b, "\n%s", out)
	return b.String()
}

func (f *fixture) redactText(s string) string { return testenv.Redact(s, f.redact) }

// checkGolden compares r with testdata/name.golden (rewritten by -update).
func checkGolden(t *testing.T, name string, r reply) {
	t.Helper()
	testenv.CompareGolden(t, *update, name, r.Golden)
}

// code runs the authorization step for the fixture's client (or c) and
// returns a one-time code, its secrets named for golden files.
func (f *fixture) code(c *store.Client, pkce bool) testenv.Grant {
	f.t.Helper()
	if c == nil {
		c = &f.c
	}
	g := f.e.Code(f.t, *c, oauth.Consent{Subject: seedSubject, ProviderID: "sandbox-bank"}, pkce)
	f.secretName(g.Code, "<code>")
	f.secretName(g.Verifier, "<code_verifier>")
	return g
}

// refreshToken runs a code exchange through the dialect and returns the
// refresh token.
func (f *fixture) refreshToken() string {
	f.t.Helper()
	g := f.code(nil, false)
	r := f.do(call{json: true, params: map[string]string{"grant_type": "authorization_code", "code": g.Code, "redirect_uri": g.RedirectURI}})
	if r.Status != 200 || r.str("refresh_token") == "" {
		f.t.Fatalf("exchange: %d %s", r.Status, r.Body)
	}
	f.secretName(r.str("refresh_token"), "<refresh_token>")
	return r.str("refresh_token")
}

// fields checks the answer has exactly the named fields, with the seed's
// types, token_type Bearer and expires_in a positive integer.
func fields(t *testing.T, r reply, want ...string) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	got := slices.Sorted(maps.Keys(r.JSON))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("fields %v, want exactly %v", got, want)
	}
	for _, k := range want {
		switch k {
		case "expires_in":
			n, ok := r.JSON[k].(float64)
			if !ok || n <= 0 || n != float64(int64(n)) {
				t.Errorf("expires_in %v (%T), want a positive integer", r.JSON[k], r.JSON[k])
			}
		default:
			if s, ok := r.JSON[k].(string); !ok || s == "" {
				t.Errorf("%s %v (%T), want a non-empty string", k, r.JSON[k], r.JSON[k])
			}
		}
	}
	if tt := r.str("token_type"); tt != "Bearer" {
		t.Errorf("token_type %q, want Bearer (that casing)", tt)
	}
	if r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", r.Header)
	}
}

// TestGrantsGolden: each grant, JSON and form, Basic and body credentials,
// answers exactly the seed's fields for its grant type.
func TestGrantsGolden(t *testing.T) {
	f := newFixture(t)
	t.Run("client_credentials", func(t *testing.T) {
		for name, c := range map[string]call{
			"client_credentials_json_basic": {json: true, auth: authBasic, params: map[string]string{"grant_type": "client_credentials"}},
			"client_credentials_form_body":  {auth: authBody, params: map[string]string{"grant_type": "client_credentials"}},
			"client_credentials_scope":      {json: true, params: map[string]string{"grant_type": "client_credentials", "scope": "accounts"}},
		} {
			r := f.do(c)
			fields(t, r, "access_token", "token_type", "expires_in")
			checkGolden(t, name, r)
			claims := f.e.VerifyJWT(t, r.str("access_token"))
			if claims["client_id"] != f.c.ID || claims["sub"] != f.c.ID {
				t.Errorf("%s: claims %v", name, claims)
			}
			if name == "client_credentials_scope" && claims["scope"] != "accounts" {
				t.Errorf("scope claim %v, want accounts", claims["scope"])
			}
		}
	})
	t.Run("authorization_code", func(t *testing.T) {
		for name, c := range map[string]call{
			"authorization_code_json_basic": {json: true},
			"authorization_code_form_body":  {auth: authBody},
		} {
			g := f.code(nil, false)
			c.params = map[string]string{"grant_type": "authorization_code", "code": g.Code, "redirect_uri": g.RedirectURI}
			r := f.do(c)
			fields(t, r, "access_token", "token_type", "refresh_token", "expires_in")
			checkGolden(t, name, r)
			claims := f.e.VerifyJWT(t, r.str("access_token"))
			if claims["client_id"] != f.c.ID || claims["sub"] != seedSubject {
				t.Errorf("claims client_id %v sub %v, want %s and %s", claims["client_id"], claims["sub"], f.c.ID, seedSubject)
			}
			if exp, _ := claims["exp"].(float64); int64(exp) != f.e.Clock.Now().Add(time.Hour).Unix() {
				t.Errorf("exp %v, want now + expires_in", claims["exp"])
			}
		}
	})
	t.Run("refresh_token", func(t *testing.T) {
		for name, c := range map[string]call{
			"refresh_token_json_basic": {json: true},
			"refresh_token_form_body":  {auth: authBody},
		} {
			c.params = map[string]string{"grant_type": "refresh_token", "refresh_token": f.refreshToken()}
			r := f.do(c)
			fields(t, r, "access_token", "token_type", "expires_in")
			checkGolden(t, name, r)
			claims := f.e.VerifyJWT(t, r.str("access_token"))
			if claims["client_id"] != f.c.ID || claims["sub"] != seedSubject || claims["exp"] == nil {
				t.Errorf("claims %v", claims)
			}
		}
	})
	t.Run("pkce", func(t *testing.T) {
		// A confidential client that used PKCE sends its code_verifier.
		g := f.code(nil, true)
		r := f.do(call{params: map[string]string{"grant_type": "authorization_code", "code": g.Code,
			"redirect_uri": g.RedirectURI, "code_verifier": g.Verifier}})
		fields(t, r, "access_token", "token_type", "refresh_token", "expires_in")
	})
}

// TestRefreshTokenNeverRotates: the seed's refresh token does not change
// when exchanged, has a 30-day idle timeout and does not expire.
func TestRefreshTokenNeverRotates(t *testing.T) {
	// A consent of ten years, so that only the refresh policy limits.
	f := newFixture(t, func(c *store.Client) { c.ConsentTTL = 10 * 365 * 24 * time.Hour })
	rt := f.refreshToken()
	refresh := func() reply {
		return f.do(call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": rt}})
	}
	// Used every 29 days for more than a year, the same token keeps working.
	for i := range 15 {
		r := refresh()
		fields(t, r, "access_token", "token_type", "expires_in")
		if t.Failed() {
			t.Fatalf("refresh %d failed", i)
		}
		f.e.Clock.Advance(29 * 24 * time.Hour)
	}
	// 30 days idle: expired.
	f.e.Clock.Advance(24 * time.Hour)
	r := refresh()
	if r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("after 30 idle days: %d %s, want 400 invalid_grant", r.Status, r.Body)
	}
	checkGolden(t, "error_refresh_token_idle", r)
}

// TestRefreshOfRotatingFamily: a family created on the standard endpoint by a
// client whose refresh policy is rotating keeps rotating here, and the new
// refresh token is returned rather than lost.
func TestRefreshOfRotatingFamily(t *testing.T) {
	f := newFixture(t)
	g := f.code(nil, false)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {g.Code}, "redirect_uri": {g.RedirectURI}}
	req, _ := http.NewRequest(http.MethodPost, f.e.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.c.ID, f.secret)
	std := f.send(req, form.Encode())
	rt := std.str("refresh_token")
	if std.Status != 200 || rt == "" {
		t.Fatalf("standard exchange: %d %s", std.Status, std.Body)
	}
	r := f.do(call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": rt}})
	fields(t, r, "access_token", "token_type", "refresh_token", "expires_in")
	if r.str("refresh_token") == rt {
		t.Error("the rotating family did not rotate")
	}
	// Reuse of the rotated token revokes the family.
	r = f.do(call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": rt}})
	if r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("reuse: %d %s", r.Status, r.Body)
	}
}

// TestErrors: one case per documented error, each with its golden exchange:
// {error, error_description}, 400 for bad requests and expired or revoked
// tokens, 401 for client authentication, 403 for a client that may not,
// the seed's texts for unsupported_grant_type and server_error. No answer
// echoes a secret.
func TestErrors(t *testing.T) {
	f := newFixture(t)
	ccOnly, ccSecret := f.e.Client(t, func(c *store.Client) { c.GrantTypes = []string{oauth.GrantClientCredentials} })
	suspended, susSecret := f.e.Client(t, func(c *store.Client) { c.State = store.ClientSuspended })
	pub, _ := f.e.Client(t, func(c *store.Client) {
		c.AuthMethod = store.AuthMethodNone
		c.GrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
	})
	f.secretName(ccOnly.ID, "<other_client_id>")
	f.secretName(ccSecret, "<other_client_secret>")
	f.secretName(suspended.ID, "<other_client_id>")
	f.secretName(susSecret, "<other_client_secret>")
	f.secretName(pub.ID, "<public_client_id>")

	// A used code, an expired code, a live code and revoked tokens.
	used := f.code(nil, false)
	if r := f.do(call{params: map[string]string{"grant_type": "authorization_code", "code": used.Code, "redirect_uri": used.RedirectURI}}); r.Status != 200 {
		t.Fatalf("first use: %d %s", r.Status, r.Body)
	}
	expired := f.code(nil, false)
	f.e.Clock.Advance(2 * time.Minute)
	live := f.code(nil, false)
	revoked := f.refreshToken()
	if st := f.e.Revoke(t, f.c, f.secret, revoked); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	pkce := f.code(nil, true)

	code := func(g testenv.Grant, kv ...string) map[string]string {
		p := map[string]string{"grant_type": "authorization_code", "code": g.Code, "redirect_uri": g.RedirectURI}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	cc := map[string]string{"grant_type": "client_credentials"}
	tests := []struct {
		name   string
		call   call
		status int
		err    string
	}{
		{"seed_example_empty_body", call{json: true, params: map[string]string{}}, 400, "invalid_request"},
		{"unsupported_grant_type", call{json: true, params: map[string]string{"grant_type": "password", "username": "u", "password": "p"}}, 400, "unsupported_grant_type"},
		{"missing_code", call{json: true, params: map[string]string{"grant_type": "authorization_code", "redirect_uri": testenv.RedirectURI}}, 400, "invalid_request"},
		{"missing_refresh_token", call{json: true, params: map[string]string{"grant_type": "refresh_token"}}, 400, "invalid_request"},
		{"code_used", call{json: true, params: code(used)}, 400, "invalid_grant"},
		{"code_expired", call{json: true, params: code(expired)}, 400, "invalid_grant"},
		{"code_unknown", call{json: true, params: map[string]string{"grant_type": "authorization_code", "code": "gac_unknown", "redirect_uri": testenv.RedirectURI}}, 400, "invalid_grant"},
		{"redirect_uri_mismatch", call{json: true, params: code(live, "redirect_uri", "http://127.0.0.1:9876/other")}, 400, "invalid_grant"},
		{"redirect_uri_other_port", call{json: true, params: code(live, "redirect_uri", "http://127.0.0.1:9877/callback")}, 400, "invalid_grant"},
		{"pkce_verifier_missing", call{json: true, params: code(pkce)}, 400, "invalid_grant"},
		{"refresh_token_revoked", call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": revoked}}, 400, "invalid_grant"},
		{"refresh_token_unknown", call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": "grt_unknown"}}, 400, "invalid_grant"},
		{"invalid_scope", call{json: true, params: map[string]string{"grant_type": "client_credentials", "scope": "payroll"}}, 400, "invalid_scope"},
		{"no_client_credentials", call{json: true, auth: authNone, params: cc}, 401, "invalid_client"},
		{"client_id_without_secret", call{json: true, auth: authIDOnly, params: cc}, 401, "invalid_client"},
		{"public_client", call{json: true, auth: authIDOnly, client: &pub, params: code(live)}, 401, "invalid_client"},
		{"wrong_secret_basic", call{json: true, auth: authBasic, secret: "gcs_wrong", client: &f.c, params: cc}, 401, "invalid_client"},
		{"wrong_secret_body", call{auth: authBody, secret: "gcs_wrong", client: &f.c, params: cc}, 401, "invalid_client"},
		{"unknown_client", call{json: true, client: &store.Client{ID: "dc-7tf8aijpjqofl3uxppi136ldc"}, secret: "x", params: cc}, 401, "invalid_client"},
		{"malformed_basic", call{json: true, auth: authNone, params: cc, header: []string{"Authorization", "Basic !!!"}}, 401, "invalid_client"},
		{"grant_not_allowed", call{json: true, client: &ccOnly, secret: ccSecret, params: code(live)}, 403, "unauthorized_client"},
		{"client_suspended", call{json: true, client: &suspended, secret: susSecret, params: cc}, 403, "unauthorized_client"},
		{"malformed_json", call{raw: `{"grant_type":`}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(tc.call)
			checkError(t, f, r, tc.status, tc.err)
			checkGolden(t, "error_"+tc.name, r)
		})
	}
	// The live code was never spent by the failures above.
	if r := f.do(call{params: code(live)}); r.Status != 200 {
		t.Errorf("live code after failures: %d %s", r.Status, r.Body)
	}
}

// checkError: the seed's error shape, exactly, and no secret in it.
func checkError(t *testing.T, f *fixture, r reply, status int, code string) {
	t.Helper()
	if r.Status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
	if keys := slices.Sorted(maps.Keys(r.JSON)); !slices.Equal(keys, []string{"error", "error_description"}) || r.str("error_description") == "" {
		t.Errorf("error fields %v, want exactly error and error_description", keys)
	}
	if (status == 401) != (r.Header.Get("WWW-Authenticate") != "") {
		t.Errorf("status %d with WWW-Authenticate %q", status, r.Header.Get("WWW-Authenticate"))
	}
	for s := range f.redact {
		if len(s) >= 8 && bytes.Contains(r.Body, []byte(s)) {
			t.Errorf("the answer echoes a secret (%s)", f.redact[s])
		}
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
	}
}

// TestSeedErrorTexts: unsupported_grant_type and server_error carry the
// seed's descriptions word for word (server_error keeps its spelling).
func TestSeedErrorTexts(t *testing.T) {
	f := newFixture(t)
	r := f.do(call{params: map[string]string{"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}})
	checkError(t, f, r, 400, "unsupported_grant_type")
	if d := r.str("error_description"); d != "The authorization grant type is not supported by the authorization server." {
		t.Errorf("description %q", d)
	}
	f.pol.set(errors.New("the policy backend is down"))
	r = f.do(call{json: true, params: map[string]string{"grant_type": "client_credentials"}})
	checkError(t, f, r, 500, "server_error")
	if d := r.str("error_description"); d != "An unhandled error occured on the server." {
		t.Errorf("description %q", d)
	}
	if strings.Contains(string(r.Body), "backend") {
		t.Error("the private cause leaked")
	}
	checkGolden(t, "error_server_error", r)
}

// TestPolicyErrorsPassThrough: the commercial policy's answers (here 429
// with Retry-After) keep their status and code in this dialect's shape.
func TestPolicyErrorsPassThrough(t *testing.T) {
	f := newFixture(t)
	f.pol.set(&oauth.Error{Code: "rate_limit_exceeded", Status: http.StatusTooManyRequests, RetryAfter: 7,
		Reason: oauth.ReasonRateLimited, Description: "Rate limit exceeded."})
	r := f.do(call{json: true, params: map[string]string{"grant_type": "client_credentials"}})
	checkError(t, f, r, 429, "rate_limit_exceeded")
	if r.Header.Get("Retry-After") != "7" {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
}

// TestClientStateConflict: a policy that refuses a client for its state
// with 409 (the bank client-credentials API's status) is this dialect's 403.
func TestClientStateConflict(t *testing.T) {
	f := newFixture(t)
	f.pol.set(&oauth.Error{Code: "client_suspended", Status: http.StatusConflict, Reason: oauth.ReasonClientState,
		Description: "The client is suspended and may not obtain tokens."})
	r := f.do(call{json: true, params: map[string]string{"grant_type": "client_credentials"}})
	checkError(t, f, r, 403, "unauthorized_client")
}

// TestConsentEnded: a revoked connection ends its refresh token: 400
// invalid_grant, as the seed's warning describes.
func TestConsentEnded(t *testing.T) {
	f := newFixture(t)
	rt := f.refreshToken()
	r := f.do(call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": rt}})
	claims := f.e.VerifyJWT(t, r.str("access_token"))
	connID, _ := claims["connection_id"].(string)
	if _, err := f.e.Store.RevokeConnection(context.Background(), connID, f.e.Clock.Now()); err != nil {
		t.Fatalf("revoke connection: %v", err)
	}
	r = f.do(call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": rt}})
	checkError(t, f, r, 400, "invalid_grant")
}

// TestIntrospectionAndRevocation: this dialect's tokens work at the
// standard introspection and revocation endpoints.
func TestIntrospectionAndRevocation(t *testing.T) {
	f := newFixture(t)
	g := f.code(nil, false)
	r := f.do(call{json: true, params: map[string]string{"grant_type": "authorization_code", "code": g.Code, "redirect_uri": g.RedirectURI}})
	at, rt := r.str("access_token"), r.str("refresh_token")
	for name, tok := range map[string]string{"access": at, "refresh": rt} {
		in := f.e.Introspect(t, tok)
		if in["active"] != true || in["client_id"] != f.c.ID || in["sub"] != seedSubject {
			t.Errorf("%s token introspection: %v", name, in)
		}
	}
	cc := f.do(call{json: true, params: map[string]string{"grant_type": "client_credentials"}})
	if in := f.e.Introspect(t, cc.str("access_token")); in["active"] != true {
		t.Errorf("client_credentials token introspection: %v", in)
	}
	// Refreshed (fixed) tokens too.
	ref := f.do(call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": rt}})
	if in := f.e.Introspect(t, ref.str("access_token")); in["active"] != true {
		t.Errorf("refreshed token introspection: %v", in)
	}
	if st := f.e.Revoke(t, f.c, f.secret, at); st != 200 {
		t.Fatalf("revoke access token: %d", st)
	}
	if in := f.e.Introspect(t, at); in["active"] != false {
		t.Errorf("revoked access token still active: %v", in)
	}
	if st := f.e.Revoke(t, f.c, f.secret, cc.str("access_token")); st != 200 {
		t.Fatalf("revoke client_credentials token: %d", st)
	}
	if in := f.e.Introspect(t, cc.str("access_token")); in["active"] != false {
		t.Errorf("revoked client_credentials token still active: %v", in)
	}
	if st := f.e.Revoke(t, f.c, f.secret, rt); st != 200 {
		t.Fatalf("revoke refresh token: %d", st)
	}
	r = f.do(call{json: true, params: map[string]string{"grant_type": "refresh_token", "refresh_token": rt}})
	checkError(t, f, r, 400, "invalid_grant")
	if in := f.e.Introspect(t, ref.str("access_token")); in["active"] != false {
		t.Errorf("access token of a revoked family still active: %v", in)
	}
}

// TestMountMoved: configuration may move the dialect's path.
func TestMountMoved(t *testing.T) {
	e := testenv.New(t, testenv.Options{Dialects: []dialect.Dialect{bankdata.New()}, Mounts: map[string]string{"bankdata": "/flinks/token"}})
	c, secret := e.Client(t)
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/flinks/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.ID+":"+secret)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("moved mount: %d", resp.StatusCode)
	}
}

// TestBadInput: malformed bodies get the seed's shape, never a 500.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.c.ID+":"+f.secret))
	for _, tc := range []struct {
		name, ct, body string
		status         int
	}{
		{"no content type", "", "grant_type=client_credentials", 400},
		{"text/plain", "text/plain", "grant_type=client_credentials", 400},
		{"json array", "application/json", `["client_credentials"]`, 400},
		{"json nested", "application/json", `{"grant_type":{"x":1}}`, 400},
		{"json duplicate", "application/json", `{"grant_type":"client_credentials","grant_type":"refresh_token"}`, 400},
		{"form duplicate", "application/x-www-form-urlencoded", "grant_type=client_credentials&grant_type=client_credentials", 400},
		{"json number grant", "application/json", `{"grant_type":1}`, 400},
		{"oversized", "application/json", `{"grant_type":"client_credentials","x":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
		{"invalid utf8", "application/x-www-form-urlencoded", "grant_type=%ff%fe", 400},
		{"secret twice", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_secret=" + url.QueryEscape(f.secret), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, f.e.URL+path, strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			req.Header.Set("Authorization", basic)
			r := f.send(req, tc.body)
			if r.Status != tc.status || r.str("error") == "" || r.str("error_description") == "" || len(r.JSON) != 2 {
				t.Fatalf("got %d %s, want %d {error, error_description}", r.Status, r.Body, tc.status)
			}
			if strings.Contains(string(r.Body), f.secret) {
				t.Error("the answer echoes the client secret")
			}
		})
	}
	// GET is not routed to the dialect.
	resp, err := http.Get(f.e.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
}
