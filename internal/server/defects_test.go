package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// Tests of defects found from outside (issue #8), each against the running
// server: each failed before its fix.

// TestEmptyParameterIsAbsent: RFC 6749 §3.1 — "Parameters sent without a
// value MUST be treated as if they were omitted from the request". An empty
// client_secret beside a Basic header is no second authentication method.
func TestEmptyParameterIsAbsent(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_secret": {""}, "scope": {""}}, basic(c.ID, c.Secret)...)
	if r.Status != 200 || r.str("scope") != "accounts transactions balances" {
		t.Fatalf("form client_secret= with Basic: %d %s", r.Status, r.Body)
	}
	r = e.post("/oauth/token", "application/json", `{"grant_type":"client_credentials","client_secret":""}`, basic(c.ID, c.Secret)...)
	if r.Status != 200 {
		t.Fatalf(`JSON "client_secret":"" with Basic: %d %s`, r.Status, r.Body)
	}
	tok := r.str("access_token")
	r = e.form("/oauth/introspect", url.Values{"token": {tok}, "client_secret": {""}}, basic(c.ID, c.Secret)...)
	if r.Status != 200 || r.JSON["active"] != true {
		t.Fatalf("introspect with client_secret=: %d %s", r.Status, r.Body)
	}
	r = e.form("/oauth/revoke", url.Values{"token": {""}}, basic(c.ID, c.Secret)...)
	if r.Status != 400 || r.str("error") != "invalid_request" || !strings.Contains(r.str("error_description"), "token parameter is missing") {
		t.Fatalf("revoke with token=: %d %s", r.Status, r.Body)
	}
}

// TestRedirectURIComparedAsString: OAuth 2.1 §4.1.1 — the redirect URI is
// compared as a string; only a loopback port may vary (RFC 8252 §7.3), and
// only to a real port.
func TestRedirectURIComparedAsString(t *testing.T) {
	e := newEnv(t)
	c := e.client() // registered: http://127.0.0.1:9876/callback
	for _, tt := range []struct {
		redirect string
		ok       bool
	}{
		{"http://127.0.0.1:9876/callback", true},
		{"http://127.0.0.1:4711/callback", true},
		{"http://127.0.0.1/callback", true},
		{"HTTP://127.0.0.1:9876/callback", false},
		{"http://127.0.0.1:9876/%63allback", false},
		{"http://127.0.0.1:9876/Callback", false},
		{"http://127.0.0.1:9876/callback/", false},
		{"http://127.0.0.1:0/callback", false},
		{"http://127.0.0.1:65536/callback", false},
		{"http://127.0.0.1:99999/callback", false},
		{"http://127.0.0.1:09876/callback", false},
		{"http://u@127.0.0.1:9876/callback", false},
		{"http://127.0.0.1:9876/callback?x=1", false},
	} {
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {tt.redirect}, "state": {"s"},
			"code_challenge": {oauth.S256Challenge(oauth.RandomToken(32))}, "code_challenge_method": {"S256"}}
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+q.Encode(), nil)
		r := e.do(req)
		loc := r.Header.Get("Location")
		switch {
		case tt.ok && (r.Status != http.StatusFound || !strings.HasPrefix(loc, "/oauth/consent?")):
			t.Errorf("%s: %d %q, want the consent page", tt.redirect, r.Status, loc)
		case !tt.ok && (r.Status != http.StatusBadRequest || loc != ""):
			t.Errorf("%s: %d %q, want an error page and no redirect", tt.redirect, r.Status, loc)
		}
	}
}

// TestErrorDescriptionsAreRFCText: RFC 6749 §5.2 — error_description is
// %x20-21 / %x23-5B / %x5D-7E, in every error answer and error redirect.
func TestErrorDescriptionsAreRFCText(t *testing.T) {
	e := newEnv(t)
	valid := func(what, s string) {
		t.Helper()
		if s == "" {
			t.Errorf("%s: no error_description", what)
		}
		for _, c := range []byte(s) {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Errorf("%s: error_description %q has %q", what, s, c)
				return
			}
		}
	}
	// Registration problems carried an ellipsis and quoted values.
	for _, body := range []string{`{}`, `{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["password"]}`,
		`{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"` + strings.Repeat("n", 300) + `"}`} {
		r := e.post("/oauth/register", "application/json", body)
		if r.Status != 400 {
			t.Fatalf("register %s: %d %s", body, r.Status, r.Body)
		}
		valid("register "+body[:min(len(body), 40)], r.str("error_description"))
	}
	// An authorize error redirect.
	c := e.client(public)
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"http://127.0.0.1:9876/callback"}, "scope": {"payroll"}}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+q.Encode(), nil)
	r := e.do(req)
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil || u.Query().Get("error") == "" {
		t.Fatalf("authorize: %d %q", r.Status, r.Header.Get("Location"))
	}
	valid("authorize redirect", u.Query().Get("error_description"))
	if got := oauth.DescriptionText(`A "quoted" \ value… ‘x’ – y ü`); got != `A 'quoted' / value... 'x' - y ?` {
		t.Errorf("DescriptionText = %q", got)
	}
}

// TestStandardEndpointsMethodNotAllowed: every API endpoint answers another
// method with 405, Allow and a JSON error that is not cached, as the
// dialects do.
func TestStandardEndpointsMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	for path, allow := range map[string]string{
		"/oauth/token": "POST", "/oauth/introspect": "POST", "/oauth/revoke": "POST", "/oauth/register": "POST",
		"/connect/sessions": "POST", "/connections/current": "DELETE",
	} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodPost} {
			if method == allow {
				continue
			}
			req, _ := http.NewRequest(method, e.srv.URL+path, nil)
			r := e.do(req)
			if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != allow || r.str("error") != "invalid_request" ||
				r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: %d Allow %q %q %s", method, path, r.Status, r.Header.Get("Allow"), r.Header.Get("Content-Type"), r.Body)
			}
		}
	}
}

// TestConnectSessionKeysExact: /connect/sessions decodes JSON as the token
// endpoints do: a repeated member is refused (not "last wins"), and a case
// variant of a member is another, unknown member (it does not
// authenticate).
func TestConnectSessionKeysExact(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for name, body := range map[string]string{
		"repeated secret":   `{"client_id":"` + c.ID + `","client_secret":"wrong","client_secret":"` + c.Secret + `","customer_id":"c"}`,
		"repeated customer": `{"customer_id":"a","customer_id":"b"}`,
		"case variant":      `{"CLIENT_ID":"` + c.ID + `","Client_Secret":"` + c.Secret + `","customer_id":"c"}`,
	} {
		header := []string(nil)
		if !strings.Contains(body, "client_id") && !strings.Contains(body, "CLIENT_ID") {
			header = basic(c.ID, c.Secret)
		}
		r := e.post("/connect/sessions", "application/json", body, header...)
		if r.Status != 400 || r.str("error") != "invalid_request" || r.str("session_id") != "" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
}

// TestErrorsNeverEchoUnknownNames: a parameter name grantd does not know is
// the client's own text — a client secret pasted as a field name must not
// come back in any token endpoint's error, nor in a repeated-parameter
// error.
func TestErrorsNeverEchoUnknownNames(t *testing.T) {
	e := testenv.New(t, testenv.Options{Dialects: all.Dialects()})
	c, secret := e.Client(t)
	leaked := secret[:40]
	for _, path := range []string{"/oauth/token", "/v1/oauth/token", "/v1/tokens", "/api/v1/token", "/auth/token"} {
		for name, body := range map[string]string{
			"unknown field": `{"client_id":"` + c.ID + `","client_secret":"` + secret + `","` + leaked + `":"x"}`,
			"repeated":      `{"client_id":"` + c.ID + `","` + leaked + `":"x","` + leaked + `":"y"}`,
		} {
			r := testenv.Post(t, e.URL+path, "application/json", body, nil)
			if strings.Contains(string(r.Body), leaked[4:20]) {
				t.Errorf("%s %s: the answer echoes the name: %d %s", path, name, r.Status, r.Body)
			}
		}
		form := url.Values{leaked: {"1", "2"}, "client_id": {c.ID}}.Encode()
		if r := testenv.Post(t, e.URL+path, "application/x-www-form-urlencoded", form, nil); r.Status < 400 || strings.Contains(string(r.Body), leaked[4:20]) {
			t.Errorf("%s form repeated: %d %s", path, r.Status, r.Body)
		}
	}
	// A name grantd knows is still named.
	r := testenv.Post(t, e.URL+"/oauth/token", "application/x-www-form-urlencoded", "scope=a&scope=b", nil)
	if r.Str("error_description") != "The scope parameter is repeated." {
		t.Errorf("repeated scope: %s", r.Body)
	}
}

// TestRegistrationRefusesFormatCharacters: client metadata that is shown to
// people may not hold bidi controls or invisible characters, which would
// let one name read as another; the joiners of emoji and scripts are fine.
func TestRegistrationRefusesFormatCharacters(t *testing.T) {
	e := newEnv(t)
	for _, member := range []string{
		`"client_name":"Bank\u202etxt.exe"`, `"client_name":"Zero\u200bWidth"`, `"client_name":"Bell\u0007"`,
		`"client_uri":"https://app.example/\u202e"`, `"logo_uri":"https://app.example/\u2066x"`,
		`"policy_uri":"https://app.example/\u200e"`, `"tos_uri":"https://app.example/\ufeff"`,
		`"software_id":"a\u202db"`, `"contacts":["ops@app.example","\u202eevil"]`,
	} {
		r := e.post("/oauth/register", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],`+member+`}`)
		if r.Status != 400 || r.str("error") != "invalid_client_metadata" {
			t.Errorf("%s: %d %s", member, r.Status, r.Body)
		}
	}
	for _, name := range []string{"Zoë's agent 日本", "Dev 👩\u200d💻", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "co\u00adop"} {
		if r := e.post("/oauth/register", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"`+name+`"}`); r.Status != 201 {
			t.Errorf("the name %q: %d %s", name, r.Status, r.Body)
		}
	}
}

// TestSuspendedClientTokensInactive: while a client is suspended its tokens
// introspect inactive, to it and to resource servers; reactivated, they are
// active again until they expire.
func TestSuspendedClientTokensInactive(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	rs := e.client(func(c *store.Client) { c.ResourceServer = true })
	tok := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...).str("access_token")
	active := func(who testClient) bool {
		t.Helper()
		r := e.form("/oauth/introspect", url.Values{"token": {tok}}, basic(who.ID, who.Secret)...)
		if r.Status != 200 {
			t.Fatalf("introspect: %d %s", r.Status, r.Body)
		}
		return r.JSON["active"] == true
	}
	setState := func(state string) {
		t.Helper()
		if _, err := e.store.UpdateClient(context.Background(), c.ID, func(c *store.Client) error { c.State = state; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if !active(c) || !active(rs) {
		t.Fatal("a fresh token is inactive")
	}
	setState(store.ClientSuspended)
	if active(c) || active(rs) {
		t.Fatal("a suspended client's token is active")
	}
	setState(store.ClientActive)
	if !active(c) || !active(rs) {
		t.Fatal("a reactivated client's token is inactive")
	}
}
