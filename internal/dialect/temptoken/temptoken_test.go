package temptoken_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/dialect/temptoken"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

// fixture is a running grantd with the temptoken dialect mounted.
type fixture struct {
	e    *testenv.Env
	logs *syncBuffer
	url  string
}

func newFixture(t *testing.T, policy oauth.Policy) *fixture {
	t.Helper()
	logs := &syncBuffer{}
	e := testenv.New(t, testenv.Options{Dialects: []dialect.Dialect{temptoken.New()}, Policy: policy, Log: logs})
	return &fixture{e: e, logs: logs, url: e.URL + temptoken.Path}
}

// client registers a confidential client whose flows end with a temp token.
func (f *fixture) client(t *testing.T, opts ...func(*store.Client)) (store.Client, string) {
	t.Helper()
	opts = append([]func(*store.Client){func(c *store.Client) { c.ResponseTypes = []string{oauth.CodeKindTempToken} }}, opts...)
	return f.e.Client(t, opts...)
}

// tempToken runs a temp-token flow through the core as the seed's users do:
// no redirect_uri (the registered one is used) and no PKCE, unless asked.
func (f *fixture) tempToken(t *testing.T, c store.Client, pkce bool) string {
	t.Helper()
	q := url.Values{"response_type": {oauth.CodeKindTempToken}, "client_id": {c.ID}, "state": {"s"}}
	if pkce {
		q.Set("code_challenge", oauth.S256Challenge(oauth.RandomToken(32)))
		q.Set("code_challenge_method", "S256")
	}
	ctx := context.Background()
	res, err := f.e.Provider.Authorize(ctx, q)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	to, err := f.e.Provider.Accept(ctx, res.Request.ID, oauth.Consent{Subject: "user-1", ProviderID: "sandbox-bank"})
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	u, _ := url.Parse(to)
	tt := u.Query().Get(oauth.CodeKindTempToken)
	if !strings.HasPrefix(tt, oauth.PrefixTempToken) {
		t.Fatalf("no temp_token in %s", to)
	}
	return tt
}

func (f *fixture) exchange(t *testing.T, ct, id, secret, tt string) result {
	t.Helper()
	body := jsonBody("client_id", id, "client_secret", secret, "temp_token", tt)
	if strings.HasPrefix(ct, ctForm) {
		body = url.Values{"client_id": {id}, "client_secret": {secret}, "temp_token": {tt}}.Encode()
	}
	return post(t, f.url, ct, body, nil)
}

func TestSuccessGolden(t *testing.T) {
	f := newFixture(t, nil)
	for _, ct := range []string{ctJSON, ctForm, ctForm + "; charset=utf-8"} {
		t.Run(ct, func(t *testing.T) {
			c, secret := f.client(t)
			start := f.e.Clock.Now()
			res := f.exchange(t, ct, c.ID, secret, f.tempToken(t, c, false))
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if got := keys(res.JSON); !slices.Equal(got, []string{"access_token", "consent_exp", "credentials_id", "max_data_retention"}) {
				t.Fatalf("fields %v", got)
			}
			credID := res.Str("credentials_id")
			if !isUUID(credID) {
				t.Fatalf("credentials_id %q is not a UUID", credID)
			}
			conn, err := f.e.Store.GetConnection(context.Background(), credID)
			if err != nil || conn.ClientID != c.ID || conn.Status != store.ConnectionActive {
				t.Fatalf("credentials_id is not the client's active connection: %+v %v", conn, err)
			}
			wantExp := start.Add(oauth.DefaultConsentTTL).UTC().Format(temptoken.TimeFormat)
			wantRet := start.Add(oauth.DefaultConsentTTL + oauth.DefaultRetentionTTL).UTC().Format(temptoken.TimeFormat)
			if res.Str("consent_exp") != wantExp || res.Str("consent_exp") != conn.ConsentExpiresAt.UTC().Format(temptoken.TimeFormat) {
				t.Errorf("consent_exp %q, want %q", res.Str("consent_exp"), wantExp)
			}
			if res.Str("max_data_retention") != wantRet || res.Str("max_data_retention") != conn.DataRetentionUntil.UTC().Format(temptoken.TimeFormat) {
				t.Errorf("max_data_retention %q, want %q", res.Str("max_data_retention"), wantRet)
			}
			claims := f.e.VerifyJWT(t, res.Str("access_token"))
			if claims["connection_id"] != credID || claims["client_id"] != c.ID || claims["sub"] != "user-1" {
				t.Errorf("claims %v", claims)
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
			}
			golden(t, "success", res, map[string]string{
				credID:                        "<credentials_id: UUID>",
				res.Str("access_token"):       "<access_token: JWT>",
				res.Str("consent_exp"):        "<consent_exp: now + 90 days>",
				res.Str("max_data_retention"): "<max_data_retention: consent_exp + 30 days>",
			})
		})
	}
}

// TestDecode pins the translation: an authorization_code request for a temp
// token, credentials from the body, no refresh token (the profile).
func TestDecode(t *testing.T) {
	if pr := temptoken.New().Profile(); pr.CodeKind != oauth.CodeKindTempToken || pr.RefreshTokens || !pr.UntilConsentEnd ||
		pr.RedirectURI || pr.PKCE || !slices.Equal(pr.Grants, []string{oauth.GrantAuthorizationCode}) {
		t.Fatalf("profile %+v", pr)
	}
	r := httptest.NewRequest(http.MethodPost, temptoken.Path, strings.NewReader(jsonBody("client_id", "app", "client_secret", "s3cr3t", "temp_token", "gtt_x")))
	r.Header.Set("Content-Type", ctJSON)
	req, err := temptoken.New().Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	want := oauth.TokenRequest{
		GrantType: oauth.GrantAuthorizationCode, Code: "gtt_x",
		Client: oauth.ClientCredentials{ID: "app", Secret: "s3cr3t", Presented: oauth.PresentedPost},
	}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("got %+v\nwant %+v", req, want)
	}
	// A Basic header with the same credentials is accepted (and unused).
	r = httptest.NewRequest(http.MethodPost, temptoken.Path, strings.NewReader(url.Values{"client_id": {"a:b"}, "client_secret": {"s&t"}, "temp_token": {"gtt_x"}}.Encode()))
	r.Header.Set("Content-Type", ctForm)
	r.SetBasicAuth(url.QueryEscape("a:b"), url.QueryEscape("s&t"))
	if _, err := temptoken.New().Decode(r); err != nil {
		t.Fatalf("matching Basic header refused: %v", err)
	}
}

// policy refuses clients by name, as the commercial policies will.
type policy struct{}

func (policy) Check(ctx context.Context, r oauth.PolicyRequest) (oauth.PolicyResult, error) {
	c := r.Client
	switch c.Name {
	case "closed":
		return oauth.PolicyResult{}, &oauth.Error{Status: 503, Code: oauth.ErrCodeTemporarilyUnavailable, Reason: oauth.ReasonOutsideHours, RetryAfter: 600,
			Description: "The service is closed outside operating hours (09:00-17:00 Europe/Bucharest)."}
	case "busy":
		return oauth.PolicyResult{}, &oauth.Error{Status: 429, Code: "rate_limited", Reason: oauth.ReasonRateLimited, RetryAfter: 30,
			Description: "The rate limit of the app's tier is exceeded."}
	case "broke":
		return oauth.PolicyResult{}, &oauth.Error{Status: 402, Code: "insufficient_balance", Reason: oauth.ReasonInsufficientFunds,
			Description: "The app's prepaid balance is exhausted."}
	}
	return oauth.StatePolicy{}.Check(ctx, r)
}

// errCase is one documented error: a request and what it must get.
type errCase struct {
	name   string
	status int
	typ    string
	code   string
	// req builds the request; it returns the secrets the answer must not
	// echo.
	req func(t *testing.T, f *fixture) (ct, body string, h http.Header, secrets []string)
}

func named(n string) func(*store.Client) { return func(c *store.Client) { c.Name = n } }

// exchangeReq is a well-formed JSON exchange.
func exchangeReq(id, secret, tt string) (string, string, http.Header, []string) {
	return ctJSON, jsonBody("client_id", id, "client_secret", secret, "temp_token", tt), nil, []string{secret, tt}
}

var errCases = []errCase{
	{"invalid_headers_no_content_type", 400, "invalid_request", "invalid_headers", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		_, body, _, sec := exchangeReq(c.ID, s, "gtt_abc")
		return "", body, nil, sec
	}},
	{"invalid_headers_content_type", 400, "invalid_request", "invalid_headers", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		_, body, _, sec := exchangeReq(c.ID, s, "gtt_abc")
		return "text/plain", body, nil, sec
	}},
	{"invalid_headers_basic_conflict", 400, "invalid_request", "invalid_headers", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		other, osecret := f.client(t)
		ct, body, _, sec := exchangeReq(c.ID, s, f.tempToken(t, c, false))
		r, _ := http.NewRequest("POST", "/", nil)
		r.SetBasicAuth(other.ID, osecret)
		return ct, body, r.Header, append(sec, osecret)
	}},
	{"invalid_body_json", 400, "invalid_request", "invalid_body", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return ctJSON, `{"client_id": "x", "client_secret": ["gcs_nested"]}`, nil, []string{"gcs_nested"}
	}},
	{"invalid_body_repeated", 400, "invalid_request", "invalid_body", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		return ctForm, url.Values{"client_id": {c.ID}, "client_secret": {s}, "temp_token": {"gtt_a", "gtt_b"}}.Encode(), nil, []string{s, "gtt_a", "gtt_b"}
	}},
	{"invalid_body_too_large", 413, "invalid_request", "invalid_body", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		return ctForm, url.Values{"client_id": {c.ID}, "client_secret": {s}, "temp_token": {strings.Repeat("x", 70<<10)}}.Encode(), nil, []string{s}
	}},
	{"unknown_fields", 400, "invalid_request", "unknown_fields", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		return ctJSON, jsonBody("client_id", c.ID, "client_secret", s, "temp_token", "gtt_abc", "grant_type", "authorization_code", "redirect_uri", "https://x"), nil, []string{s, "gtt_abc"}
	}},
	{"missing_fields", 400, "invalid_request", "missing_fields", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return ctJSON, `{}`, nil, nil
	}},
	{"missing_fields_temp_token", 400, "invalid_request", "missing_fields", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		return ctForm, url.Values{"client_id": {c.ID}, "client_secret": {s}, "temp_token": {""}}.Encode(), nil, []string{s}
	}},
	{"invalid_client_id", 400, "invalid_request", "invalid_client_id", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return exchangeReq("7b3fd0dd-f46a-4b75-a000-000000000000", "gcs_not-a-real-secret", "gtt_abc")
	}},
	{"invalid_client_secret", 401, "unauthorized", "invalid_client_secret", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		ct, body, h, sec := exchangeReq(c.ID, s+"-wrong", f.tempToken(t, c, false))
		return ct, body, h, append(sec, s)
	}},
	{"unauthorized_tenant_suspended", 401, "unauthorized", "unauthorized_tenant", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t, func(c *store.Client) { c.State = store.ClientSuspended })
		return exchangeReq(c.ID, s, "gtt_abc")
	}},
	{"unauthorized_tenant_grant", 401, "unauthorized", "unauthorized_tenant", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t, func(c *store.Client) { c.GrantTypes = []string{oauth.GrantClientCredentials} })
		return exchangeReq(c.ID, s, "gtt_abc")
	}},
	{"invalid_temp_token", 401, "unauthorized", "invalid_temp_token", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		return exchangeReq(c.ID, s, oauth.PrefixTempToken+oauth.RandomToken(32))
	}},
	{"invalid_temp_token_other_app", 401, "unauthorized", "invalid_temp_token", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		other, _ := f.client(t)
		return exchangeReq(c.ID, s, f.tempToken(t, other, false))
	}},
	{"invalid_temp_token_code", 401, "unauthorized", "invalid_temp_token", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t) // an ordinary code client: its code is no temp token
		return exchangeReq(c.ID, s, f.e.Code(t, c, oauth.Consent{}, false).Code)
	}},
	{"expired_temp_token", 401, "unauthorized", "expired_temp_token", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		tt := f.tempToken(t, c, false)
		f.e.Clock.Advance(oauth.DefaultCodeTTL)
		return exchangeReq(c.ID, s, tt)
	}},
	{"temp_token_already_used", 401, "unauthorized", "temp_token_already_used", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		tt := f.tempToken(t, c, false)
		if res := f.exchange(t, ctJSON, c.ID, s, tt); res.Status != 200 {
			t.Fatalf("first exchange: %d %s", res.Status, res.Body)
		}
		return exchangeReq(c.ID, s, tt)
	}},
	{"inactive_credentials", 401, "unauthorized", "inactive_credentials", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t)
		tt := f.tempToken(t, c, false)
		conns, _, err := f.e.Store.ListConnections(context.Background(), c.ID, store.Page{})
		if err != nil || len(conns) != 1 {
			t.Fatalf("connections %v %v", conns, err)
		}
		if _, err := f.e.Store.RevokeConnection(context.Background(), conns[0].ID, f.e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		return exchangeReq(c.ID, s, tt)
	}},
	{"insufficient_balance", 402, "payment_required", "insufficient_balance", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t, named("broke"))
		return exchangeReq(c.ID, s, "gtt_abc")
	}},
	{"too_many_requests", 429, "rate_limited", "too_many_requests", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t, named("busy"))
		return exchangeReq(c.ID, s, "gtt_abc")
	}},
	{"outside_operating_hours", 503, "unavailable", "outside_operating_hours", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.client(t, named("closed"))
		return exchangeReq(c.ID, s, "gtt_abc")
	}},
}

// checkError checks one error answer: status, exact shape, a UUID id that
// the server logged as error_id, no echoed secret, and the golden file.
func checkError(t *testing.T, f *fixture, res result, name string, status int, typ, code string, secrets []string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	if got := keys(res.JSON); !slices.Equal(got, []string{"code", "http", "id", "message", "type"}) {
		t.Fatalf("fields %v", got)
	}
	if res.JSON["type"] != typ || res.JSON["code"] != code {
		t.Errorf("type %v code %v, want %s %s", res.JSON["type"], res.JSON["code"], typ, code)
	}
	if h, ok := res.JSON["http"].(float64); !ok || int(h) != status {
		t.Errorf("http %#v, want the number %d", res.JSON["http"], status)
	}
	if m := res.Str("message"); m == "" {
		t.Errorf("empty message")
	}
	id := res.Str("id")
	testenv.CheckErrorLogged(t, f.logs, id, temptoken.Name)
	testenv.CheckNoEcho(t, res.Body, secrets)

	if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", res.Header)
	}
	golden(t, "error_"+name, res, map[string]string{id: "<id: UUID>"})
}

func TestErrors(t *testing.T) {
	f := newFixture(t, policy{})
	var all []string
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			ct, body, h, secrets := tc.req(t, f)
			all = append(all, secrets...)
			res := post(t, f.url, ct, body, h)
			checkError(t, f, res, tc.name, tc.status, tc.typ, tc.code, secrets)
		})
	}
	logs := f.logs.String()
	for _, s := range all {
		if len(s) > 4 && strings.Contains(logs, s) {
			t.Errorf("the log holds a secret (%.8s…)", s)
		}
	}
}

// TestRetryAfter: the policy's Retry-After reaches the wire on 429 and 503.
func TestRetryAfter(t *testing.T) {
	f := newFixture(t, policy{})
	for name, want := range map[string]string{"closed": "600", "busy": "30"} {
		c, s := f.client(t, named(name))
		ct, body, _, _ := exchangeReq(c.ID, s, "gtt_abc")
		if got := post(t, f.url, ct, body, nil).Header.Get("Retry-After"); got != want {
			t.Errorf("%s: Retry-After %q, want %q", name, got, want)
		}
	}
}

// TestInternalError: a store failure is a 500 with the dialect's shape and
// no detail.
func TestInternalError(t *testing.T) {
	f := newFixture(t, nil)
	c, s := f.client(t)
	tt := f.tempToken(t, c, false)
	f.e.Store.Close()
	ct, body, _, secrets := exchangeReq(c.ID, s, tt)
	res := post(t, f.url, ct, body, nil)
	checkError(t, f, res, "internal_error", 500, "internal_error", "internal_error", secrets)
}

// TestIntrospectRevoke: the dialect's tokens are ordinary grantd tokens.
func TestIntrospectRevoke(t *testing.T) {
	f := newFixture(t, nil)
	c, s := f.client(t)
	res := f.exchange(t, ctJSON, c.ID, s, f.tempToken(t, c, false))
	at := res.Str("access_token")
	in := f.e.Introspect(t, at)
	if in["active"] != true || in["client_id"] != c.ID || in["connection_id"] != res.Str("credentials_id") || in["sub"] != "user-1" {
		t.Fatalf("introspection %v", in)
	}
	if st := f.e.Revoke(t, c, s, at); st != http.StatusOK {
		t.Fatalf("revoke %d", st)
	}
	if in := f.e.Introspect(t, at); in["active"] != false {
		t.Fatalf("revoked token still active: %v", in)
	}
}

// TestReplayRevokes: a temp token is one-time; presenting it again fails and
// revokes the access token the first exchange issued.
func TestReplayRevokes(t *testing.T) {
	f := newFixture(t, nil)
	c, s := f.client(t)
	tt := f.tempToken(t, c, false)
	first := f.exchange(t, ctForm, c.ID, s, tt)
	if first.Status != 200 {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	at := first.Str("access_token")
	if in := f.e.Introspect(t, at); in["active"] != true {
		t.Fatalf("first token inactive: %v", in)
	}
	second := f.exchange(t, ctJSON, c.ID, s, tt)
	if second.Status != 401 || second.Str("code") != temptoken.CodeTempTokenUsed {
		t.Fatalf("replay: %d %s", second.Status, second.Body)
	}
	if strings.Contains(string(second.Body), tt) || strings.Contains(string(second.Body), at) {
		t.Fatal("the replay answer echoes the temp token or the access token")
	}
	if in := f.e.Introspect(t, at); in["active"] != false {
		t.Fatalf("first token survived the replay: %v", in)
	}
}

// TestExpiry: temp tokens, access tokens and consents end on the fake clock.
func TestExpiry(t *testing.T) {
	f := newFixture(t, nil)

	t.Run("temp token", func(t *testing.T) {
		c, s := f.client(t)
		tt := f.tempToken(t, c, false)
		f.e.Clock.Advance(oauth.DefaultCodeTTL - time.Second)
		if res := f.exchange(t, ctJSON, c.ID, s, tt); res.Status != 200 {
			t.Fatalf("just before expiry: %d %s", res.Status, res.Body)
		}
		tt = f.tempToken(t, c, false)
		f.e.Clock.Advance(oauth.DefaultCodeTTL)
		if res := f.exchange(t, ctJSON, c.ID, s, tt); res.Status != 401 || res.Str("code") != temptoken.CodeExpiredTempToken {
			t.Fatalf("after expiry: %d %s", res.Status, res.Body)
		}
	})

	t.Run("access token", func(t *testing.T) {
		c, s := f.client(t)
		// The token is the consent's key: it lives until the consent ends
		// (90 days by default), not the client's one-hour lifetime.
		at := f.exchange(t, ctJSON, c.ID, s, f.tempToken(t, c, false)).Str("access_token")
		f.e.Clock.Advance(oauth.DefaultConsentTTL - time.Second)
		if in := f.e.Introspect(t, at); in["active"] != true {
			t.Fatalf("inactive before expiry: %v", in)
		}
		f.e.Clock.Advance(time.Second)
		if in := f.e.Introspect(t, at); in["active"] != false {
			t.Fatalf("active after expiry: %v", in)
		}
	})

	t.Run("consent", func(t *testing.T) {
		// A consent shorter than the access-token lifetime caps the token,
		// and consent_exp says when.
		c, s := f.client(t, func(c *store.Client) { c.ConsentTTL, c.RetentionTTL = 10*time.Minute, 24*time.Hour })
		now := f.e.Clock.Now()
		res := f.exchange(t, ctJSON, c.ID, s, f.tempToken(t, c, false))
		if res.Str("consent_exp") != now.Add(10*time.Minute).UTC().Format(temptoken.TimeFormat) ||
			res.Str("max_data_retention") != now.Add(10*time.Minute+24*time.Hour).UTC().Format(temptoken.TimeFormat) {
			t.Fatalf("deadlines %s %s (now %s)", res.Str("consent_exp"), res.Str("max_data_retention"), now)
		}
		at := res.Str("access_token")
		f.e.Clock.Advance(10 * time.Minute)
		if in := f.e.Introspect(t, at); in["active"] != false {
			t.Fatalf("token outlived its consent: %v", in)
		}
	})
}

// TestMount: config may move the dialect's path.
func TestMount(t *testing.T) {
	e := testenv.New(t, testenv.Options{Dialects: []dialect.Dialect{temptoken.New()}, Mounts: map[string]string{temptoken.Name: "/finqware/v1/tokens"}})
	f := &fixture{e: e, logs: &syncBuffer{}, url: e.URL + "/finqware/v1/tokens"}
	c, s := f.client(t)
	if res := f.exchange(t, ctJSON, c.ID, s, f.tempToken(t, c, false)); res.Status != 200 {
		t.Fatalf("moved path: %d %s", res.Status, res.Body)
	}
}

// FuzzDecode: no body or header makes Decode panic or answer 5xx.
func FuzzDecode(f *testing.F) {
	f.Add(ctJSON, `{"client_id":"a","client_secret":"b","temp_token":"c"}`, "")
	f.Add(ctForm, "client_id=a&client_secret=b&temp_token=c&=x", "Basic Og==")
	f.Add("multipart/form-data; boundary=x", "--x--", "Bearer x")
	f.Add(ctJSON, `{"client_id":{"x":1}}`, "Basic !!")
	f.Add(ctJSON, `[1,2]`, "")
	f.Fuzz(func(t *testing.T, ct, body, auth string) {
		r := httptest.NewRequest(http.MethodPost, temptoken.Path, strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Authorization", auth)
		d := temptoken.New()
		_, err := d.Decode(r)
		if err == nil {
			return
		}
		w := httptest.NewRecorder()
		d.EncodeError(w, r, oauth.AsError(err), "00000000-0000-0000-0000-000000000000")
		if w.Code >= 500 {
			t.Fatalf("status %d for bad input: %s", w.Code, w.Body)
		}
	})
}

// A temp token from a flow that named a redirect_uri is exchanged without
// one: this wire has no such field, and the token stays bound to its client.
func TestTempTokenFromFlowWithRedirectURI(t *testing.T) {
	f := newFixture(t, nil)
	c, s := f.client(t)
	tt := f.e.Code(t, c, oauth.Consent{}, false).Code
	if res := f.exchange(t, ctJSON, c.ID, s, tt); res.Status != 200 {
		t.Fatalf("exchange: %d %s", res.Status, res.Body)
	}
}
