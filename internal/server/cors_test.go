package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

const appOrigin = "https://app.example.com"

// preflightOf sends a browser's CORS preflight for method to path.
func (e *env) preflightOf(path, origin, method, headers string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return e.do(req)
}

// TestCORSPreflight: the token, revocation and registration endpoints
// answer a preflight from a web origin with the CORS headers (any origin:
// the request itself is judged); an opaque or malformed origin, or a
// method not served, gets none; introspection, the authorization endpoint
// and PAR answer no preflight.
func TestCORSPreflight(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/oauth/token", "/oauth/revoke", "/oauth/register"} {
		r := e.preflightOf(path, appOrigin, http.MethodPost, "authorization,content-type,dpop")
		h := r.Header
		if r.Status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != appOrigin ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Max-Age") != "600" {
			t.Errorf("preflight of %s: %d %v", path, r.Status, h)
		}
		if path != "/oauth/register" && !strings.Contains(h.Get("Access-Control-Allow-Headers"), "DPoP") {
			t.Errorf("preflight of %s allows headers %q, want Authorization, Content-Type, DPoP", path, h.Get("Access-Control-Allow-Headers"))
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight of %s allows credentials", path)
		}
	}
	for name, r := range map[string]response{
		"an opaque origin":      e.preflightOf("/oauth/token", "null", http.MethodPost, ""),
		"an origin with a path": e.preflightOf("/oauth/token", appOrigin+"/x", http.MethodPost, ""),
		"http on a public host": e.preflightOf("/oauth/token", "http://app.example.com", http.MethodPost, ""),
		"another method":        e.preflightOf("/oauth/token", appOrigin, http.MethodPut, ""),
	} {
		if r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight with %s: allowed (%v)", name, r.Header)
		}
	}
	for _, path := range []string{"/oauth/introspect", "/oauth/authorize", "/oauth/par", "/connect/sessions"} {
		if r := e.preflightOf(path, appOrigin, http.MethodPost, ""); r.Header.Get("Access-Control-Allow-Origin") != "" || r.Status == http.StatusNoContent {
			t.Errorf("preflight of %s: %d %v, want no CORS", path, r.Status, r.Header)
		}
	}
}

// TestCORSRequests: a browser-based client's token request from an origin
// it lists is served and readable by that origin (Access-Control-Allow-
// Origin, Vary, the exposed headers); from an origin it does not list it
// is 400 unauthorized_client and issues nothing; revocation likewise, the
// token staying active; a request without Origin, or from the issuer's
// own origin, is served as ever; introspection has no CORS; the metadata
// and the JWKS are readable by every origin.
func TestCORSRequests(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(c *store.Client) {
		c.GrantTypes, c.ResourceServer = []string{oauth.GrantClientCredentials}, true
		c.Security.AllowedCORSOrigins = []string{appOrigin, "http://localhost:5173"}
	})
	other := e.client(func(c *store.Client) { c.GrantTypes = []string{oauth.GrantClientCredentials} })
	cc := url.Values{"grant_type": {"client_credentials"}}
	from := func(origin string, who testClient, path string, v url.Values) response {
		h := basic(who.ID, who.Secret)
		if origin != "" {
			h = append(h, "Origin", origin)
		}
		return e.form(path, v, h...)
	}
	r := from(appOrigin, c, "/oauth/token", cc)
	if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.Contains(r.Header.Get("Vary"), "Origin") || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Fatalf("a token request from a listed origin: %d %v %s", r.Status, r.Header, r.Body)
	}
	at := r.str("access_token")
	if r := from("http://localhost:5173", c, "/oauth/token", cc); r.Status != http.StatusOK {
		t.Errorf("from a listed loopback origin: %d %s", r.Status, r.Body)
	}
	for name, r := range map[string]response{
		"an unlisted origin":           from("https://evil.example", c, "/oauth/token", cc),
		"a client listing no origin":   from(appOrigin, other, "/oauth/token", cc),
		"another port of the origin":   from(appOrigin+":8443", c, "/oauth/token", cc),
		"revocation, unlisted origin":  from("https://evil.example", c, "/oauth/revoke", url.Values{"token": {at}}),
		"revocation, client listing 0": from(appOrigin, other, "/oauth/revoke", url.Values{"token": {at}}),
		// A form POST needs no preflight: an opaque or malformed Origin
		// (a sandboxed frame, a file: page, a LAN page over http) is
		// refused as well, though no CORS answer may name it.
		"an opaque origin":          from("null", other, "/oauth/token", cc),
		"http on a LAN address":     from("http://192.168.1.20", other, "/oauth/token", cc),
		"a malformed origin":        from("not an origin", other, "/oauth/token", cc),
		"revocation, opaque origin": from("null", c, "/oauth/revoke", url.Values{"token": {at}}),
	} {
		if r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeUnauthorizedClient || r.str("access_token") != "" {
			t.Errorf("%s: %d %s, want 400 unauthorized_client", name, r.Status, r.Body)
		}
	}
	if e.introspect(c, at)["active"] != true {
		t.Fatal("the token is not active after refused revocations")
	}
	if r := from("", other, "/oauth/token", cc); r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "" ||
		!strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Errorf("without Origin: %d %v", r.Status, r.Header)
	}
	if r := from(e.srv.URL, other, "/oauth/token", cc); r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("from the issuer's own origin: %d %v %s", r.Status, r.Header, r.Body)
	}
	if r := from(appOrigin, c, "/oauth/introspect", url.Values{"token": {at}}); r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("introspection from a browser origin: %d %v, want served without CORS", r.Status, r.Header)
	}
	if r := from(appOrigin, c, "/oauth/revoke", url.Values{"token": {at}}); r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("revocation from the listed origin: %d %v %s", r.Status, r.Header, r.Body)
	}
	if e.introspect(c, at)["active"] != false {
		t.Error("the token is active after its revocation")
	}
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/jwks.json"} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Origin", appOrigin)
		if r := e.do(req); r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s from a browser origin: %d %v", path, r.Status, r.Header)
		}
	}
}

// TestCORSOrigins: allowed_cors_origins takes web origins as browsers
// write them (https, or http on a loopback host) and refuses anything
// else at registration; dynamic registration keeps them, and the client
// registered from a browser then calls the token endpoint from there.
func TestCORSOrigins(t *testing.T) {
	e := newEnv(t)
	m := &clients.Manager{Store: e.store, Now: e.clock.Now}
	for _, bad := range []string{"null", "https://app.example.com/", "https://app.example.com/cb", "http://app.example.com",
		"https://App.example.com", "https://app.example.com:443", "ftp://app.example.com", "https://user@app.example.com", "*",
		"https://bücher.example", "https://app.example.com:0443", "https://app.example.com:0", "https://app.example.com:99999",
		"http://[0:0:0:0:0:0:0:1]:3000", "http://[::ffff:127.0.0.1]", "https://.", "https://a.b;c", "https://-a.example",
		"https://app.example.com.", "https://app.example.com:", "http://127.1", "https://app.example.com?x", "https://app.example.com#x"} {
		_, _, err := m.Create(t.Context(), clients.Params{Name: "SPA", GrantTypes: []string{oauth.GrantAuthorizationCode},
			RedirectURIs: []string{"https://app.example.com/cb"}, TokenEndpointAuthMethod: store.AuthMethodNone,
			AllowedCORSOrigins: []string{bad}})
		if err == nil {
			t.Errorf("allowed_cors_origins %q accepted", bad)
		}
	}
	for _, good := range []string{appOrigin, "https://app.example.com:8443", "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173",
		"https://xn--bcher-kva.example", "https://203.0.113.7", "https://[2001:db8::1]:8443"} {
		if !oauth.ValidOrigin(good) {
			t.Errorf("ValidOrigin(%q) = false", good)
		}
	}
	pre := e.preflightOf("/oauth/register", appOrigin, http.MethodPost, "content-type")
	if pre.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("registration preflight: %v", pre.Header)
	}
	r := e.post("/oauth/register", "application/json", `{"redirect_uris":["http://127.0.0.1:5000/cb"],
		"allowed_cors_origins":["`+appOrigin+`"]}`, "Origin", appOrigin)
	if r.Status != http.StatusCreated || r.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("registration from a browser origin: %d %v %s", r.Status, r.Header, r.Body)
	}
	if got, _ := r.JSON["allowed_cors_origins"].([]any); len(got) != 1 || got[0] != appOrigin {
		t.Errorf("registered allowed_cors_origins %v", r.JSON["allowed_cors_origins"])
	}
	if r := e.post("/oauth/register", "application/json", `{"redirect_uris":["http://127.0.0.1:5000/cb"],
		"allowed_cors_origins":["https://app.example.com/path"]}`); r.Status != http.StatusBadRequest || r.str("error") != "invalid_client_metadata" {
		t.Errorf("registration with a bad origin: %d %s", r.Status, r.Body)
	}
}

// TestCORSSeedDialects: the seed dialects' token endpoints answer no CORS,
// but a browser's form POST from another page reaches them all the same
// (no preflight): it is refused unless the client lists the origin, and
// issues nothing; without Origin they serve as ever.
func TestCORSSeedDialects(t *testing.T) {
	e := testenv.New(t, testenv.Options{Dialects: all.Dialects()})
	c, secret := e.Client(t)
	for _, origin := range []string{"", "https://evil.example", "null"} {
		h := basicAuth(c.ID, secret)
		jh := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
			jh.Set("Origin", origin)
		}
		bankdata := testenv.Post(t, e.URL+"/api/v1/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", h)
		bankapi := testenv.Post(t, e.URL+"/v1/oauth/token", "application/json", testenv.JSONBody("client_id", c.ID, "client_secret", secret), jh)
		for name, r := range map[string]testenv.Result{"bankdata": bankdata, "bankapi": bankapi} {
			switch {
			case origin == "" && r.Status != http.StatusOK:
				t.Errorf("%s without Origin: %d %s", name, r.Status, r.Body)
			case origin != "" && (r.Status == http.StatusOK || r.Status >= 500 || r.Header.Get("Access-Control-Allow-Origin") != ""):
				t.Errorf("%s with Origin %q: %d %v %s, want refused, no CORS", name, origin, r.Status, r.Header, r.Body)
			}
		}
	}
}
