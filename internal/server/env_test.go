package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/testenv"
	"github.com/grantd/grantd/internal/web"
)

// clock is the fake clock the tests move by hand.
type clock = testenv.Clock

// env is a running grantd: a real SQLite file, real keys, a real HTTP
// server.
type env struct {
	t        testing.TB
	srv      *httptest.Server
	store    *sqlite.Store
	signer   *signer.Signer
	provider *oauth.Provider
	clock    *clock
	dbPath   string
}

func newEnv(t testing.TB) *env { return newEnvLog(t, io.Discard) }

// newEnvLog is newEnv with the JSON log written to w, wrapped the way
// `grantd serve` wraps it.
func newEnvLog(t testing.TB, w io.Writer) *env {
	t.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "grantd.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	kek := make([]byte, 32)
	sg, err := signer.New(ctx, signer.Options{Store: st, KEK: kek, Now: clk.Now})
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	logger := slog.New(server.LogHandler(slog.NewJSONHandler(w, nil)))
	e := &env{t: t, store: st, signer: sg, clock: clk, dbPath: dbPath}
	// The issuer is the server's own URL, known only once it listens.
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.provider = &oauth.Provider{
		Store: st, Signer: sg, Issuer: e.srv.URL, Now: clk.Now, Logger: logger,
		HostedConsentPath: web.Path, Catalogue: oauth.SandboxCatalogue(),
	}
	pages, err := web.New(web.Options{Provider: e.provider, Logger: logger})
	if err != nil {
		t.Fatalf("pages: %v", err)
	}
	s := server.New(server.Options{Provider: e.provider, Keys: sg, Store: st, Pages: pages, Logger: logger,
		Registrar: &clients.Registration{Manager: &clients.Manager{Store: st, Now: clk.Now}, Catalogue: e.provider.Catalogue}})
	e.srv.Config.Handler = s.Handler()
	return e
}

// testClient is a registered client and its plaintext secret.
type testClient struct {
	store.Client
	Secret string
}

// client registers a client straight in the store. opts may change it.
func (e *env) client(opts ...func(*store.Client)) testClient {
	e.t.Helper()
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	c := store.Client{
		ID:            newUUID(),
		Name:          "Test App",
		SecretHash:    store.Hash(secret),
		AuthMethod:    store.AuthMethodBasic,
		GrantTypes:    []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		ResponseTypes: []string{"code"},
		RedirectURIs:  []string{"http://127.0.0.1:9876/callback"},
		Scopes:        []string{"accounts", "transactions", "balances"},
		Environment:   "sandbox",
		State:         store.ClientActive,
		RefreshPolicy: store.RefreshRotating,
		TokenFormat:   store.TokenFormatJWT,
		CreatedAt:     e.clock.Now(),
		UpdatedAt:     e.clock.Now(),
	}
	for _, o := range opts {
		o(&c)
	}
	if c.AuthMethod == store.AuthMethodNone {
		c.SecretHash, secret = nil, ""
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatalf("create client: %v", err)
	}
	return testClient{Client: c, Secret: secret}
}

func public(c *store.Client) {
	c.AuthMethod = store.AuthMethodNone
	c.GrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
}

func fixed(c *store.Client) { c.RefreshPolicy = store.RefreshFixed }

func opaque(c *store.Client) { c.TokenFormat = store.TokenFormatOpaque }

var uuidCounter struct {
	sync.Mutex
	n int
}

func newUUID() string {
	uuidCounter.Lock()
	defer uuidCounter.Unlock()
	uuidCounter.n++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", uuidCounter.n)
}

// response is a decoded HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (r response) str(k string) string { s, _ := r.JSON[k].(string); return s }

// post sends a form (or any body with its content type) to path.
func (e *env) post(path, contentType, body string, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(req)
}

func (e *env) form(path string, v url.Values, header ...string) response {
	e.t.Helper()
	return e.post(path, "application/x-www-form-urlencoded", v.Encode(), header...)
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

func basic(id, secret string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
}

// authorize runs /oauth/authorize and the hosted pages as a browser would
// (following the form posts, keeping the CSRF cookie), signs in as user, and
// approves (or denies). It returns the final redirect to the client.
func (e *env) authorize(q url.Values, user string, approve bool) *url.URL {
	e.t.Helper()
	b := newBrowser(e)
	loc := b.get("/oauth/authorize?" + q.Encode())
	if !strings.HasPrefix(loc.Path, web.Path) {
		return loc // an error redirect to the client
	}
	page := b.page(loc.String())
	page = b.choose(page, loc.String())
	b.submit(page, url.Values{"action": {"login"}, "username": {user}, "password": {"anything"}})
	page = b.page(web.Path + "?" + url.Values{"challenge": {loc.Query().Get("challenge")}}.Encode())
	action := "deny"
	if approve {
		action = "approve"
	}
	return b.submit(page, url.Values{"action": {action}})
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	e       *env
	cookies map[string]string
}

func newBrowser(e *env) *browser { return &browser{e: e, cookies: map[string]string{}} }

func (b *browser) send(req *http.Request) response {
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	r := b.e.do(req)
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		b.cookies[c.Name] = c.Value
	}
	return r
}

// get requests path and returns the redirect location it answers with.
func (b *browser) get(path string) *url.URL {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	r := b.send(req)
	if r.Status != http.StatusFound && r.Status != http.StatusSeeOther {
		b.e.t.Fatalf("GET %s: status %d, want a redirect; body %s", path, r.Status, r.Body)
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		b.e.t.Fatal(err)
	}
	return u
}

type htmlPage struct {
	challenge, csrf string
	body            string
}

var (
	reChallenge = regexp.MustCompile(`name="challenge" value="([^"]+)"`)
	reCSRF      = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

func (b *browser) page(path string) htmlPage {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	r := b.send(req)
	if r.Status != http.StatusOK {
		b.e.t.Fatalf("GET %s: status %d; body %s", path, r.Status, r.Body)
	}
	p := htmlPage{body: string(r.Body)}
	if m := reChallenge.FindStringSubmatch(p.body); m != nil {
		p.challenge = m[1]
	}
	if m := reCSRF.FindStringSubmatch(p.body); m != nil {
		p.csrf = m[1]
	}
	if p.challenge == "" || p.csrf == "" {
		b.e.t.Fatalf("page %s has no form: %s", path, p.body)
	}
	return p
}

// choose picks the sandbox bank when the page is the provider chooser, and
// returns the next page.
func (b *browser) choose(p htmlPage, path string) htmlPage {
	b.e.t.Helper()
	if !strings.Contains(p.body, `value="choose"`) {
		return p
	}
	b.submit(p, url.Values{"action": {"choose"}, "provider_id": {"sandbox-bank"}})
	return b.page(path)
}

func (b *browser) submit(p htmlPage, v url.Values) *url.URL {
	b.e.t.Helper()
	v.Set("challenge", p.challenge)
	v.Set("csrf_token", p.csrf)
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+web.Path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := b.send(req)
	if r.Status != http.StatusSeeOther {
		b.e.t.Fatalf("POST %s: status %d, want 303; body %s", web.Path, r.Status, r.Body)
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		b.e.t.Fatal(err)
	}
	return u
}

// jwksKeys parses the JWKS the server publishes, independently of the
// signer package.
func (e *env) jwksKeys() map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/.well-known/jwks.json", nil)
	r := e.do(req)
	if r.Status != http.StatusOK {
		e.t.Fatalf("jwks: status %d", r.Status)
	}
	var set struct {
		Keys []struct {
			Kty, Kid, Alg, Use, N, E, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil {
		e.t.Fatalf("jwks: %v", err)
	}
	keys := map[string]any{}
	b64 := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			e.t.Fatalf("jwks: %v", err)
		}
		return new(big.Int).SetBytes(b)
	}
	for _, k := range set.Keys {
		if k.Use != "sig" || k.Kid == "" {
			e.t.Fatalf("jwks key without use=sig or kid: %+v", k)
		}
		switch k.Kty {
		case "RSA":
			keys[k.Kid] = &rsa.PublicKey{N: b64(k.N), E: int(b64(k.E).Int64())}
		case "EC":
			keys[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: b64(k.X), Y: b64(k.Y)}
		}
	}
	return keys
}

// verifyJWT checks an access token with golang-jwt against the published
// JWKS and returns its claims.
func (e *env) verifyJWT(token string) jwt.MapClaims {
	e.t.Helper()
	return e.verifyJWTFor(token, e.srv.URL)
}

// verifyJWTFor is verifyJWT for a token whose aud names aud.
func (e *env) verifyJWTFor(token, aud string) jwt.MapClaims {
	e.t.Helper()
	keys := e.jwksKeys()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != "at+jwt" {
			return nil, fmt.Errorf("typ %q, want at+jwt", typ)
		}
		kid, _ := tok.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("kid %q not in JWKS", kid)
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithIssuer(e.srv.URL),
		jwt.WithAudience(aud), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithTimeFunc(e.clock.Now))
	if err != nil || !parsed.Valid {
		e.t.Fatalf("JWT does not verify against the JWKS: %v", err)
	}
	return claims
}

// signWith makes the core sign access tokens with alg, by a signer of its
// own key store (a new key in e.store would wait for its publication), and
// serves its keys at the JWKS endpoint too.
func (e *env) signWith(alg string) {
	e.t.Helper()
	keys, err := sqlite.Open(context.Background(), filepath.Join(e.t.TempDir(), "keys.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { keys.Close() })
	sg, err := signer.New(context.Background(), signer.Options{Store: keys, KEK: make([]byte, 32), Algorithm: alg, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.provider.Signer, e.signer = sg, sg
	pages, err := web.New(web.Options{Provider: e.provider})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv.Config.Handler = server.New(server.Options{Provider: e.provider, Keys: sg, Store: e.store, Pages: pages,
		Registrar: &clients.Registration{Manager: &clients.Manager{Store: e.store, Now: e.clock.Now}, Catalogue: e.provider.Catalogue}}).Handler()
}
