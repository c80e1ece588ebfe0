package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/store"
)

// TestTokenEndpointBadInput: every malformed, unknown or unauthorized token
// request gets the RFC 6749 §5.2 error with the right status, never a 500,
// and never an echo of a secret.
func TestTokenEndpointBadInput(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	pub := e.client(public)
	ccOnly := e.client(func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	suspended := e.client(func(c *store.Client) { c.State = store.ClientSuspended })
	other := e.client()

	// A live code for the code-specific rows; each row that reaches the code
	// check fails before spending it.
	verifier := oauth2.GenerateVerifier()
	loc := e.authorize(url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, "frank", true)
	code := loc.Query().Get("code")
	form := "application/x-www-form-urlencoded"
	auth := basic(c.ID, c.Secret)
	codeBody := func(kv ...string) string {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v.Encode()
	}

	tests := []struct {
		name        string
		contentType string
		body        string
		header      []string
		status      int
		err         string
		wwwAuth     bool
	}{
		{"no content type", "", "grant_type=client_credentials", auth, 400, "invalid_request", false},
		{"wrong content type", "text/plain", "grant_type=client_credentials", auth, 400, "invalid_request", false},
		{"multipart", "multipart/form-data; boundary=x", "--x--", auth, 400, "invalid_request", false},
		{"bad json", "application/json", `{"grant_type":`, auth, 400, "invalid_request", false},
		{"json array", "application/json", `["client_credentials"]`, auth, 400, "invalid_request", false},
		{"json nested", "application/json", `{"grant_type":{"a":1}}`, auth, 400, "invalid_request", false},
		{"json duplicate", "application/json", `{"grant_type":"client_credentials","grant_type":"client_credentials"}`, auth, 400, "invalid_request", false},
		{"json duplicate after null", "application/json", `{"grant_type":null,"grant_type":"client_credentials"}`, auth, 400, "invalid_request", false},
		{"json trailing", "application/json", `{"grant_type":"client_credentials"} {}`, auth, 400, "invalid_request", false},
		{"missing grant_type", form, "scope=accounts", auth, 400, "invalid_request", false},
		{"duplicated grant_type", form, "grant_type=client_credentials&grant_type=client_credentials", auth, 400, "invalid_request", false},
		{"unknown grant_type", form, "grant_type=password&username=a&password=b", auth, 400, "unsupported_grant_type", false},
		{"implicit grant", form, "grant_type=implicit", auth, 400, "unsupported_grant_type", false},
		{"oversized body", form, "grant_type=client_credentials&pad=" + strings.Repeat("a", 70<<10), auth, 413, "invalid_request", false},
		{"no client auth", form, "grant_type=client_credentials", nil, 401, "invalid_client", true},
		{"wrong secret basic", form, "grant_type=client_credentials", basic(c.ID, "gcs_wrong"), 401, "invalid_client", true},
		{"wrong secret post", form, "grant_type=client_credentials&client_id=" + c.ID + "&client_secret=gcs_wrong", nil, 401, "invalid_client", true},
		{"unknown client", form, "grant_type=client_credentials", basic("00000000-0000-4000-8000-999999999999", "x"), 401, "invalid_client", true},
		{"malformed basic", form, "grant_type=client_credentials", []string{"Authorization", "Basic !!!"}, 401, "invalid_client", true},
		{"two auth methods", form, "grant_type=client_credentials&client_secret=" + c.Secret, auth, 400, "invalid_request", false},
		{"basic and other body id", form, "grant_type=client_credentials&client_id=" + pub.ID, auth, 401, "invalid_client", true},
		{"oversized client id", form, "grant_type=client_credentials&client_id=" + strings.Repeat("a", 1000) + "&client_secret=x", nil, 401, "invalid_client", true},
		{"public client with secret", form, "grant_type=authorization_code&client_id=" + pub.ID + "&client_secret=x&code=x", nil, 401, "invalid_client", true},
		{"public client credentials grant", form, "grant_type=client_credentials&client_id=" + pub.ID, nil, 400, "unauthorized_client", false},
		{"grant not allowed", form, "grant_type=authorization_code&code=x", basic(ccOnly.ID, ccOnly.Secret), 400, "unauthorized_client", false},
		{"suspended client", form, "grant_type=client_credentials", basic(suspended.ID, suspended.Secret), 409, "unauthorized_client", false},
		{"scope not allowed", form, "grant_type=client_credentials&scope=admin", auth, 400, "invalid_scope", false},
		{"scope malformed", form, "grant_type=client_credentials&scope=%22x%22", auth, 400, "invalid_scope", false},
		{"missing code", form, codeBody("code", ""), auth, 400, "invalid_request", false},
		{"unknown code", form, codeBody("code", "gac_unknown"), auth, 400, "invalid_grant", false},
		{"oversized code", form, codeBody("code", strings.Repeat("c", 4000)), auth, 400, "invalid_grant", false},
		{"wrong redirect", form, codeBody("redirect_uri", "http://127.0.0.1:9876/other"), auth, 400, "invalid_grant", false},
		{"missing redirect", form, codeBody("redirect_uri", ""), auth, 400, "invalid_grant", false},
		{"wrong verifier", form, codeBody("code_verifier", oauth2.GenerateVerifier()), auth, 400, "invalid_grant", false},
		{"missing verifier", form, codeBody("code_verifier", ""), auth, 400, "invalid_grant", false},
		{"short verifier", form, codeBody("code_verifier", "abc"), auth, 400, "invalid_grant", false},
		{"code grant not allowed", form, codeBody(), basic(ccOnly.ID, ccOnly.Secret), 400, "unauthorized_client", false},
		{"code of another client", form, codeBody(), basic(other.ID, other.Secret), 400, "invalid_grant", false},
		{"missing refresh token", form, "grant_type=refresh_token", auth, 400, "invalid_request", false},
		{"unknown refresh token", form, "grant_type=refresh_token&refresh_token=grt_nope", auth, 400, "invalid_grant", false},
		{"foreign-looking refresh token", form, "grant_type=refresh_token&refresh_token=abc", auth, 400, "invalid_grant", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post("/oauth/token", tt.contentType, tt.body, tt.header...)
			if r.Status != tt.status || r.str("error") != tt.err {
				t.Fatalf("status %d error %q, want %d %q; body %s", r.Status, r.str("error"), tt.status, tt.err, r.Body)
			}
			if r.str("error_description") == "" {
				t.Error("no error_description")
			}
			if got := r.Header.Get("WWW-Authenticate") != ""; got != tt.wwwAuth {
				t.Errorf("WWW-Authenticate present = %v, want %v", got, tt.wwwAuth)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Error("error without Cache-Control: no-store")
			}
			for _, secret := range []string{c.Secret, code, verifier} {
				if strings.Contains(string(r.Body), secret) {
					t.Fatal("the error echoes a secret")
				}
			}
		})
	}

	// None of the rows spent the code: it still works once.
	r := e.post("/oauth/token", form, codeBody(), auth...)
	if r.Status != 200 {
		t.Fatalf("the code was spent by a failed request: %d %s", r.Status, r.Body)
	}
}

func TestIntrospectRevokeBadInput(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	pub := e.client(public)
	form := "application/x-www-form-urlencoded"
	for _, path := range []string{"/oauth/introspect", "/oauth/revoke"} {
		tests := []struct {
			name, contentType, body string
			header                  []string
			status                  int
			err                     string
		}{
			{"no auth", form, "token=x", nil, 401, "invalid_client"},
			{"wrong secret", form, "token=x", basic(c.ID, "bad"), 401, "invalid_client"},
			{"missing token", form, "", basic(c.ID, c.Secret), 400, "invalid_request"},
			{"duplicated token", form, "token=a&token=b", basic(c.ID, c.Secret), 400, "invalid_request"},
			{"wrong content type", "text/plain", "token=x", basic(c.ID, c.Secret), 400, "invalid_request"},
			{"oversized", form, "token=" + strings.Repeat("t", 70<<10), basic(c.ID, c.Secret), 413, "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				r := e.post(path, tt.contentType, tt.body, tt.header...)
				if r.Status != tt.status || r.str("error") != tt.err {
					t.Fatalf("status %d error %q, want %d %q; body %s", r.Status, r.str("error"), tt.status, tt.err, r.Body)
				}
			})
		}
	}
	// A public client may revoke (its own tokens), not introspect.
	if r := e.form("/oauth/introspect", url.Values{"token": {"x"}, "client_id": {pub.ID}}); r.Status != 401 || r.str("error") != "invalid_client" {
		t.Errorf("public client introspects: %d %s", r.Status, r.Body)
	}
	if r := e.form("/oauth/revoke", url.Values{"token": {"x"}, "client_id": {pub.ID}}); r.Status != 200 {
		t.Errorf("public client revokes: %d %s", r.Status, r.Body)
	}
	// Wrong methods on the endpoints.
	for _, path := range []string{"/oauth/token", "/oauth/introspect", "/oauth/revoke"} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		if r := e.do(req); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", path, r.Status)
		}
	}
}

// TestAuthorizeBadInput: errors before the redirect URI is trusted are pages;
// after, redirects with error, state and iss.
func TestAuthorizeBadInput(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	pub := e.client(public)
	tempClient := e.client(func(c *store.Client) { c.ResponseTypes = []string{"code", "temp_token"} })
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	good := func(client string, kv ...string) url.Values {
		v := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirectURI},
			"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	pages := []struct {
		name  string
		query string
	}{
		{"no client", good("", "client_id", "").Encode()},
		{"unknown client", good("00000000-0000-4000-8000-999999999999").Encode()},
		{"unregistered redirect", good(c.ID, "redirect_uri", "https://evil.example/cb").Encode()},
		{"redirect other loopback path", good(c.ID, "redirect_uri", "http://127.0.0.1:1234/evil").Encode()},
		{"repeated parameter", good(c.ID).Encode() + "&client_id=" + c.ID},
		{"oversized state", good(c.ID, "state", strings.Repeat("s", 2000)).Encode()},
		// RFC 9126 §4: a request_uri that was never pushed is no request.
		{"unknown request uri", good(c.ID, "request_uri", "urn:ietf:params:oauth:request_uri:x").Encode()},
		{"foreign request uri", good(c.ID, "request_uri", "urn:x").Encode()},
		{"repeated resource beyond the bound", good(c.ID).Encode() + strings.Repeat("&resource=https%3A%2F%2Fa.example%2F", 17)},
	}
	for _, tt := range pages {
		t.Run("page "+tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+tt.query, nil)
			r := e.do(req)
			if r.Status != 400 || r.Header.Get("Location") != "" || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d location %q type %q, want a 400 page", r.Status, r.Header.Get("Location"), r.Header.Get("Content-Type"))
			}
			if r.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Error("error page can be framed")
			}
		})
	}
	redirects := []struct {
		name string
		q    url.Values
		err  string
	}{
		{"missing response_type", good(c.ID, "response_type", ""), "invalid_request"},
		{"token response_type", good(c.ID, "response_type", "token"), "unsupported_response_type"},
		{"temp_token not allowed", good(c.ID, "response_type", "temp_token"), "unauthorized_client"},
		{"plain PKCE", good(c.ID, "code_challenge_method", "plain"), "invalid_request"},
		{"PKCE without method", good(c.ID, "code_challenge_method", ""), "invalid_request"},
		{"malformed challenge", good(c.ID, "code_challenge", "short"), "invalid_request"},
		{"public without PKCE", good(pub.ID, "code_challenge", "", "code_challenge_method", ""), "invalid_request"},
		{"scope not allowed", good(c.ID, "scope", "admin"), "invalid_scope"},
		{"request object", good(c.ID, "request", "eyJ..."), "request_not_supported"},
		{"temp_token with PKCE", good(tempClient.ID, "response_type", "temp_token"), "invalid_request"},
	}
	for _, tt := range redirects {
		t.Run("redirect "+tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+tt.q.Encode(), nil)
			r := e.do(req)
			loc, _ := url.Parse(r.Header.Get("Location"))
			if r.Status != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), redirectURI+"?") {
				t.Fatalf("status %d location %q", r.Status, r.Header.Get("Location"))
			}
			q := loc.Query()
			if q.Get("error") != tt.err || q.Get("state") != "st" || q.Get("iss") != e.srv.URL {
				t.Fatalf("redirect query %v, want error %s with state and iss", q, tt.err)
			}
		})
	}
}

func TestLoopbackRedirectAnyPort(t *testing.T) {
	e := newEnv(t)
	c := e.client(public, func(c *store.Client) { c.RedirectURIs = []string{"http://127.0.0.1/callback"} })
	verifier := oauth2.GenerateVerifier()
	loc := e.authorize(url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"http://127.0.0.1:51000/callback"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, "gina", true)
	if loc.Host != "127.0.0.1:51000" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {"http://127.0.0.1:51000/callback"}, "code_verifier": {verifier}})
	if r.Status != 200 {
		t.Fatalf("exchange: %d %s", r.Status, r.Body)
	}
}

func TestHostedPagesCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	b := newBrowser(e)
	loc := b.get("/oauth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}}.Encode())
	page := b.choose(b.page(loc.String()), loc.String())
	if !strings.Contains(page.body, "Test App") {
		t.Error("the sign-in page does not name the client")
	}
	post := func(v url.Values, cookies bool, header ...string) response {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth/consent", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if cookies {
			return b.send(req)
		}
		return e.do(req)
	}
	login := url.Values{"challenge": {page.challenge}, "action": {"login"}, "username": {"mallory"}}
	// No token, a wrong token, no cookie, a cross-site post: all refused.
	if r := post(login, true); r.Status != http.StatusForbidden {
		t.Errorf("no csrf token: %d", r.Status)
	}
	login.Set("csrf_token", "wrong")
	if r := post(login, true); r.Status != http.StatusForbidden {
		t.Errorf("wrong csrf token: %d", r.Status)
	}
	login.Set("csrf_token", page.csrf)
	if r := post(login, false); r.Status != http.StatusForbidden {
		t.Errorf("no cookie: %d", r.Status)
	}
	if r := post(login, true, "Sec-Fetch-Site", "cross-site"); r.Status != http.StatusForbidden {
		t.Errorf("cross-site: %d", r.Status)
	}
	if r := post(login, true); r.Status != http.StatusSeeOther {
		t.Fatalf("good login: %d %s", r.Status, r.Body)
	}
	consent := b.page(loc.String())
	if !strings.Contains(consent.body, "mallory") || !strings.Contains(consent.body, "Accounts") {
		t.Error("the consent page does not show the user and the scopes")
	}
}

// TestTwoFlowsInOneBrowser: opening a second authorization does not break
// the first one's form (each request has its own CSRF cookie).
func TestTwoFlowsInOneBrowser(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	b := newBrowser(e)
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}}
	first := b.get("/oauth/authorize?" + q.Encode())
	p1 := b.choose(b.page(first.String()), first.String())
	second := b.get("/oauth/authorize?" + q.Encode())
	b.choose(b.page(second.String()), second.String())
	b.submit(p1, url.Values{"action": {"login"}, "username": {"nina"}})
	p1 = b.page(first.String())
	loc := b.submit(p1, url.Values{"action": {"approve"}})
	if loc.Query().Get("code") == "" {
		t.Fatalf("first flow after opening a second: %s", loc)
	}
}

// TestInvalidTextRefused: bytes that are not UTF-8, or a NUL, in any
// parameter or credential are invalid_request (no store keeps them).
func TestInvalidTextRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	form := "application/x-www-form-urlencoded"
	for name, tt := range map[string]struct {
		path, ct, body string
		header         []string
		status         int
	}{
		"form client id":  {"/oauth/token", form, "grant_type=client_credentials&client_id=%FF&client_secret=x", nil, 400},
		"form NUL":        {"/oauth/token", form, "grant_type=client_credentials&scope=a%00b", basic(c.ID, c.Secret), 400},
		"json NUL":        {"/oauth/token", "application/json", `{"grant_type":"client_credentials","scope":"a\u0000b"}`, basic(c.ID, c.Secret), 400},
		"basic bad utf-8": {"/oauth/token", form, "grant_type=client_credentials", basic("a\xffb", "x"), 401},
		"connect session": {"/connect/sessions", "application/json", `{"customer_id":"a\u0000b"}`, basic(c.ID, c.Secret), 400},
		"introspect":      {"/oauth/introspect", form, "token=%FF", basic(c.ID, c.Secret), 400},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.post(tt.path, tt.ct, tt.body, tt.header...)
			if r.Status != tt.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tt.status)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?client_id="+c.ID+"&response_type=code&state=%FF", nil)
	if r := e.do(req); r.Status != 400 || r.Header.Get("Location") != "" {
		t.Fatalf("authorize with bad state: %d %q", r.Status, r.Header.Get("Location"))
	}
}
