package bankapi_test

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
	"github.com/grantd/grantd/internal/dialect/bankapi"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

// fixture is a running grantd with the bankapi dialect mounted.
type fixture struct {
	e    *testenv.Env
	logs *syncBuffer
	url  string
}

func newFixture(t *testing.T, policy oauth.Policy) *fixture {
	t.Helper()
	logs := &syncBuffer{}
	e := testenv.New(t, testenv.Options{Dialects: []dialect.Dialect{bankapi.New()}, Policy: policy, Log: logs})
	return &fixture{e: e, logs: logs, url: e.URL + bankapi.Path}
}

func basicHeader(id, secret string) http.Header {
	r, _ := http.NewRequest("POST", "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r.Header
}

func TestSuccessGolden(t *testing.T) {
	f := newFixture(t, nil)
	type tc struct {
		name string
		req  func(id, secret string) (ct, body string, h http.Header)
	}
	for _, c := range []tc{
		{"json", func(id, s string) (string, string, http.Header) {
			return ctJSON, jsonBody("client_id", id, "client_secret", s), nil
		}},
		{"form", func(id, s string) (string, string, http.Header) {
			return ctForm, url.Values{"client_id": {id}, "client_secret": {s}}.Encode(), nil
		}},
		{"form charset", func(id, s string) (string, string, http.Header) {
			return ctForm + "; charset=utf-8", url.Values{"client_id": {id}, "client_secret": {s}}.Encode(), nil
		}},
		{"json grant_type", func(id, s string) (string, string, http.Header) {
			return ctJSON, jsonBody("grant_type", "client_credentials", "client_id", id, "client_secret", s), nil
		}},
		{"basic header", func(id, s string) (string, string, http.Header) {
			return ctForm, url.Values{"grant_type": {"client_credentials"}}.Encode(), basicHeader(id, s)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, secret := f.e.Client(t)
			ct, body, h := c.req(cl.ID, secret)
			res := post(t, f.url, ct, body, h)
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if got := keys(res.JSON); !slices.Equal(got, []string{"access_token", "expires_in", "scope", "token_type"}) {
				t.Fatalf("fields %v", got)
			}
			if res.JSON["token_type"] != "Bearer" || res.JSON["expires_in"] != float64(3600) || res.JSON["scope"] != "accounts transactions balances" {
				t.Errorf("answer %s", res.Body)
			}
			claims := f.e.VerifyJWT(t, res.Str("access_token"))
			if claims["client_id"] != cl.ID || claims["sub"] != cl.ID {
				t.Errorf("claims %v", claims)
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
			}
			golden(t, "success", res, map[string]string{res.Str("access_token"): "<access_token: JWT>"})
		})
	}
}

// TestDecode pins the translation: a client_credentials request with the
// body's credentials, and nothing else.
func TestDecode(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, bankapi.Path, strings.NewReader(jsonBody("client_id", "app", "client_secret", "s3cr3t")))
	r.Header.Set("Content-Type", ctJSON)
	req, err := bankapi.New().Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	want := oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
		Client: oauth.ClientCredentials{ID: "app", Secret: "s3cr3t", Presented: oauth.PresentedPost}}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("got %+v\nwant %+v", req, want)
	}
}

// policy refuses clients by name, as the commercial policies will.
type policy struct{}

func (policy) Check(ctx context.Context, r oauth.PolicyRequest) (oauth.PolicyResult, error) {
	c := r.Client
	switch c.Name {
	case "closed":
		return oauth.PolicyResult{}, &oauth.Error{Status: 503, Code: "temporarily_unavailable", Reason: oauth.ReasonOutsideHours, RetryAfter: 600}
	case "busy":
		return oauth.PolicyResult{}, &oauth.Error{Status: 429, Code: "rate_limited", Reason: oauth.ReasonRateLimited, RetryAfter: 30,
			Description: "The rate limit of the client's tier is exceeded."}
	case "broke":
		return oauth.PolicyResult{}, &oauth.Error{Status: 402, Code: "insufficient_balance", Reason: oauth.ReasonInsufficientFunds,
			Description: "The client's prepaid balance is exhausted."}
	}
	return oauth.StatePolicy{}.Check(ctx, r)
}

func named(n string) func(*store.Client) { return func(c *store.Client) { c.Name = n } }

// errCase is one documented error: a request and what it must get.
type errCase struct {
	name   string
	status int
	code   string
	param  any // the expected parameter_name (nil = null)
	value  any // the expected parameter_value (nil = null)
	// req builds the request and returns the secrets the answer must not
	// echo.
	req func(t *testing.T, f *fixture) (ct, body string, h http.Header, secrets []string)
}

func credsReq(id, secret string) (string, string, http.Header, []string) {
	return ctJSON, jsonBody("client_id", id, "client_secret", secret), nil, []string{secret}
}

var errCases = []errCase{
	{"unsupported_media_type", 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type", "text/plain", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t)
		_, body, _, sec := credsReq(c.ID, s)
		return "text/plain; charset=utf-8", body, nil, sec
	}},
	{"unsupported_media_type_missing", 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type", nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t)
		_, body, _, sec := credsReq(c.ID, s)
		return "", body, nil, sec
	}},
	{"validation_error_body", 400, "VALIDATION_ERROR", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return ctJSON, `{"client_id": "x", "client_secret": "gcs_unterminated`, nil, []string{"gcs_unterminated"}
	}},
	{"validation_error_repeated", 400, "VALIDATION_ERROR", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t)
		return ctForm, url.Values{"client_id": {c.ID}, "client_secret": {s, s + "2"}}.Encode(), nil, []string{s}
	}},
	{"validation_error_too_large", 413, "VALIDATION_ERROR", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t)
		return ctJSON, jsonBody("client_id", c.ID, "client_secret", s+strings.Repeat("x", 70<<10)), nil, []string{s}
	}},
	{"validation_error_client_id_missing", 400, "VALIDATION_ERROR", "client_id", nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return ctJSON, jsonBody("client_secret", "gcs_secret-without-id"), nil, []string{"gcs_secret-without-id"}
	}},
	// An empty value is an absent one (RFC 6749 §3.1): nothing to echo.
	{"validation_error_client_id_empty", 400, "VALIDATION_ERROR", "client_id", nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return credsReq("", "gcs_secret-without-id")
	}},
	{"validation_error_client_id_too_long", 400, "VALIDATION_ERROR", "client_id", nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return credsReq(strings.Repeat("a", 300), "gcs_secret-long-id")
	}},
	{"validation_error_client_secret_missing", 400, "VALIDATION_ERROR", "client_secret", nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, _ := f.e.Client(t)
		return ctForm, url.Values{"client_id": {c.ID}}.Encode(), nil, nil
	}},
	{"validation_error_client_secret_empty", 400, "VALIDATION_ERROR", "client_secret", nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, _ := f.e.Client(t)
		return credsReq(c.ID, "")
	}},
	{"validation_error_client_secret_twice", 400, "VALIDATION_ERROR", "client_secret", nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t)
		return ctForm, url.Values{"client_id": {c.ID}, "client_secret": {s}}.Encode(), basicHeader(c.ID, s), []string{s}
	}},
	{"validation_error_grant_type", 400, "VALIDATION_ERROR", "grant_type", "password", func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t)
		return ctJSON, jsonBody("grant_type", "password", "client_id", c.ID, "client_secret", s), nil, []string{s}
	}},
	{"validation_error_unknown_parameter", 400, "VALIDATION_ERROR", "scope", nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t)
		return ctJSON, jsonBody("client_id", c.ID, "client_secret", s, "scope", "accounts"), nil, []string{s}
	}},
	{"invalid_client_unknown", 401, "INVALID_CLIENT", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return credsReq("9d4d7a63-3e72-4d27-a000-000000000000", "gcs_not-a-real-secret")
	}},
	{"invalid_client_secret", 401, "INVALID_CLIENT", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t)
		ct, body, h, sec := credsReq(c.ID, s+"-wrong")
		return ct, body, h, append(sec, s)
	}},
	{"invalid_client_basic_malformed", 401, "INVALID_CLIENT", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		return ctForm, "", http.Header{"Authorization": {"Basic !!not-base64!!"}}, nil
	}},
	{"unauthorized_client", 403, "UNAUTHORIZED_CLIENT", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t, func(c *store.Client) { c.GrantTypes = []string{oauth.GrantAuthorizationCode} })
		return credsReq(c.ID, s)
	}},
	{"client_state_conflict_suspended", 409, "CLIENT_STATE_CONFLICT", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t, func(c *store.Client) { c.State = store.ClientSuspended })
		return credsReq(c.ID, s)
	}},
	{"client_state_conflict_pending", 409, "CLIENT_STATE_CONFLICT", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t, func(c *store.Client) { c.State = store.ClientPending })
		return credsReq(c.ID, s)
	}},
	{"insufficient_balance", 402, "INSUFFICIENT_BALANCE", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t, named("broke"))
		return credsReq(c.ID, s)
	}},
	{"rate_limited", 429, "RATE_LIMITED", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t, named("busy"))
		return credsReq(c.ID, s)
	}},
	{"outside_working_hours", 503, "OUTSIDE_WORKING_HOURS", nil, nil, func(t *testing.T, f *fixture) (string, string, http.Header, []string) {
		c, s := f.e.Client(t, named("closed"))
		return credsReq(c.ID, s)
	}},
}

// checkError checks one error answer: status, exact shape, a UUID errorId
// that the server logged as error_id, no echoed secret, and the golden file.
func checkError(t *testing.T, f *fixture, res result, name string, status int, code string, param, value any, secrets []string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	if got := keys(res.JSON); !slices.Equal(got, []string{"code", "errorId", "parameter_name", "parameter_value", "text"}) {
		t.Fatalf("fields %v", got)
	}
	if res.JSON["code"] != code {
		t.Errorf("code %v, want %s", res.JSON["code"], code)
	}
	if res.JSON["parameter_name"] != param || res.JSON["parameter_value"] != value {
		t.Errorf("parameter %#v = %#v, want %#v = %#v", res.JSON["parameter_name"], res.JSON["parameter_value"], param, value)
	}
	if res.Str("text") == "" {
		t.Errorf("empty text")
	}
	id := res.Str("errorId")
	testenv.CheckErrorLogged(t, f.logs, id, bankapi.Name)
	testenv.CheckNoEcho(t, res.Body, secrets)

	if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", res.Header)
	}
	golden(t, "error_"+name, res, map[string]string{id: "<errorId: UUID>"})
}

func TestErrors(t *testing.T) {
	f := newFixture(t, policy{})
	var all []string
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			ct, body, h, secrets := tc.req(t, f)
			all = append(all, secrets...)
			res := post(t, f.url, ct, body, h)
			checkError(t, f, res, tc.name, tc.status, tc.code, tc.param, tc.value, secrets)
		})
	}
	logs := f.logs.String()
	for _, s := range all {
		if len(s) > 4 && strings.Contains(logs, s) {
			t.Errorf("the log holds a secret (%.8s…)", s)
		}
	}
}

// TestHeaders: the policy's Retry-After reaches the wire on 503 and 429;
// 401 answers name the Basic scheme.
func TestHeaders(t *testing.T) {
	f := newFixture(t, policy{})
	for name, want := range map[string]string{"closed": "600", "busy": "30"} {
		c, s := f.e.Client(t, named(name))
		ct, body, _, _ := credsReq(c.ID, s)
		if got := post(t, f.url, ct, body, nil).Header.Get("Retry-After"); got != want {
			t.Errorf("%s: Retry-After %q, want %q", name, got, want)
		}
	}
	c, s := f.e.Client(t)
	ct, body, _, _ := credsReq(c.ID, s+"x")
	if got := post(t, f.url, ct, body, nil).Header.Get("WWW-Authenticate"); got != `Basic realm="grantd"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

// TestInternalError: a store failure is a 500 with the dialect's shape and
// no detail.
func TestInternalError(t *testing.T) {
	f := newFixture(t, nil)
	c, s := f.e.Client(t)
	f.e.Store.Close()
	ct, body, _, secrets := credsReq(c.ID, s)
	res := post(t, f.url, ct, body, nil)
	checkError(t, f, res, "internal_error", 500, "INTERNAL_ERROR", nil, nil, secrets)
}

// TestIntrospectRevoke: the dialect's tokens are ordinary grantd tokens, JWT
// or opaque.
func TestIntrospectRevoke(t *testing.T) {
	f := newFixture(t, nil)
	for _, format := range []string{store.TokenFormatJWT, store.TokenFormatOpaque} {
		t.Run(format, func(t *testing.T) {
			c, s := f.e.Client(t, func(c *store.Client) { c.TokenFormat = format })
			ct, body, _, _ := credsReq(c.ID, s)
			res := post(t, f.url, ct, body, nil)
			at := res.Str("access_token")
			if res.Status != 200 || at == "" {
				t.Fatalf("token: %d %s", res.Status, res.Body)
			}
			in := f.e.Introspect(t, at)
			if in["active"] != true || in["client_id"] != c.ID || in["scope"] != res.Str("scope") {
				t.Fatalf("introspection %v", in)
			}
			if st := f.e.Revoke(t, c, s, at); st != http.StatusOK {
				t.Fatalf("revoke %d", st)
			}
			if in := f.e.Introspect(t, at); in["active"] != false {
				t.Fatalf("revoked token still active: %v", in)
			}
		})
	}
}

// TestExpiry: expires_in is the client's lifetime and the token ends then,
// on the fake clock.
func TestExpiry(t *testing.T) {
	f := newFixture(t, nil)
	c, s := f.e.Client(t, func(c *store.Client) { c.AccessTokenTTL = 5 * time.Minute })
	ct, body, _, _ := credsReq(c.ID, s)
	res := post(t, f.url, ct, body, nil)
	if res.JSON["expires_in"] != float64(300) {
		t.Fatalf("expires_in %v", res.JSON["expires_in"])
	}
	at := res.Str("access_token")
	f.e.Clock.Advance(5*time.Minute - time.Second)
	if in := f.e.Introspect(t, at); in["active"] != true {
		t.Fatalf("inactive before expiry: %v", in)
	}
	f.e.Clock.Advance(time.Second)
	if in := f.e.Introspect(t, at); in["active"] != false {
		t.Fatalf("active after expiry: %v", in)
	}
}

// FuzzDecode: no body or header makes Decode panic or answer 5xx.
func FuzzDecode(f *testing.F) {
	f.Add(ctJSON, `{"client_id":"a","client_secret":"b"}`, "")
	f.Add(ctForm, "client_id=a&client_secret=b&=x", "Basic Og==")
	f.Add("multipart/form-data; boundary=x", "--x--", "Bearer x")
	f.Add(ctJSON, `{"client_id":{"x":1}}`, "Basic !!")
	f.Add(ctForm, "grant_type=client_credentials", "Basic YTpi")
	f.Fuzz(func(t *testing.T, ct, body, auth string) {
		r := httptest.NewRequest(http.MethodPost, bankapi.Path, strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Authorization", auth)
		d := bankapi.New()
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
