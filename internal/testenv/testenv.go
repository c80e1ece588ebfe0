// Package testenv builds a running grantd for tests in other packages (the
// dialects, the SDK tests): a real SQLite file, real signing keys, the real
// core and HTTP server on a loopback httptest listener, and a fake clock. It
// is imported only by _test.go files.
package testenv

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
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/web"
)

// Clock is a fake clock tests move by hand.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a fake clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Env is a running grantd.
type Env struct {
	URL      string
	Server   *httptest.Server
	Store    *sqlite.Store
	Signer   *signer.Signer
	Provider *oauth.Provider
	Clock    *Clock
}

// Options change what New builds.
type Options struct {
	Dialects []dialect.Dialect
	Mounts   map[string]string
	Policy   oauth.Policy
	Guard    oauth.AuthGuard
	// AddressLimiter and TrustedProxies are the server's (internal/server).
	AddressLimiter server.AddressLimiter
	TrustedProxies []netip.Prefix
	Log            io.Writer // nil = discard
}

// New starts a grantd for the test; it stops when the test ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	clk := NewClock(time.Now().UTC().Truncate(time.Second))
	sg, err := signer.New(ctx, signer.Options{Store: st, KEK: make([]byte, 32), Now: clk.Now})
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	w := o.Log
	if w == nil {
		w = io.Discard
	}
	logger := slog.New(server.LogHandler(slog.NewJSONHandler(w, nil)))
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	p := &oauth.Provider{
		Store: st, Signer: sg, Issuer: srv.URL, Now: clk.Now, Logger: logger,
		HostedConsentPath: web.Path, Catalogue: oauth.SandboxCatalogue(), Policy: o.Policy, Guard: o.Guard,
	}
	pages, err := web.New(web.Options{Provider: p, Logger: logger})
	if err != nil {
		t.Fatalf("pages: %v", err)
	}
	srv.Config.Handler = server.New(server.Options{
		Provider: p, Keys: sg, Store: st, Pages: pages, Logger: logger,
		Dialects: o.Dialects, Mounts: o.Mounts,
		Registrar:      &clients.Registration{Manager: &clients.Manager{Store: st, Now: clk.Now}, Catalogue: p.Catalogue},
		AddressLimiter: o.AddressLimiter, TrustedProxies: o.TrustedProxies,
	}).Handler()
	return &Env{URL: srv.URL, Server: srv, Store: st, Signer: sg, Provider: p, Clock: clk}
}

// RedirectURI is the redirect URI of clients made by Client.
const RedirectURI = "http://127.0.0.1:9876/callback"

// Client registers a confidential client (client_secret_basic, every grant,
// scopes accounts/transactions/balances, redirect RedirectURI, rotating
// refresh, JWT access tokens) and returns it with its secret; opts change it
// before it is stored. A public client (AuthMethod none) gets no secret.
func (e *Env) Client(t testing.TB, opts ...func(*store.Client)) (store.Client, string) {
	t.Helper()
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	c := store.Client{
		ID:            uuid.NewString(),
		Name:          "Test App",
		SecretHash:    store.Hash(secret),
		AuthMethod:    store.AuthMethodBasic,
		GrantTypes:    []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		ResponseTypes: []string{"code"},
		RedirectURIs:  []string{RedirectURI},
		Scopes:        []string{"accounts", "transactions", "balances"},
		Environment:   "sandbox",
		State:         store.ClientActive,
		RefreshPolicy: store.RefreshRotating,
		TokenFormat:   store.TokenFormatJWT,
		CreatedAt:     e.Clock.Now(),
		UpdatedAt:     e.Clock.Now(),
	}
	for _, o := range opts {
		o(&c)
	}
	if c.AuthMethod == store.AuthMethodNone {
		c.SecretHash, secret = nil, ""
	}
	if err := e.Store.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("create client: %v", err)
	}
	return c, secret
}

// Grant is a one-time code (or temp token) and what was asked for it.
type Grant struct {
	Code        string // the code or temp token
	Verifier    string // the PKCE verifier; "" when none was used
	RedirectURI string
	State       string
}

// Code runs an authorization request for c (response_type from the client:
// temp_token if it is the client's only type) through the core, decides it
// with consent (Subject defaults to "user-1", ProviderID to "sandbox-bank"),
// and returns the one-time code. Public clients get a PKCE challenge; pkce
// forces one for confidential clients too.
func (e *Env) Code(t testing.TB, c store.Client, consent oauth.Consent, pkce bool) Grant {
	t.Helper()
	rt := "code"
	if len(c.ResponseTypes) == 1 && c.ResponseTypes[0] == oauth.CodeKindTempToken {
		rt = oauth.CodeKindTempToken
	}
	g := Grant{RedirectURI: RedirectURI, State: "st-" + oauth.RandomToken(6)}
	q := url.Values{"response_type": {rt}, "client_id": {c.ID}, "redirect_uri": {g.RedirectURI}, "state": {g.State}}
	if pkce || c.IsPublic() {
		g.Verifier = oauth.RandomToken(32)
		q.Set("code_challenge", oauth.S256Challenge(g.Verifier))
		q.Set("code_challenge_method", "S256")
	}
	res, err := e.Provider.Authorize(context.Background(), q)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if consent.Subject == "" {
		consent.Subject = "user-1"
	}
	if consent.ProviderID == "" {
		consent.ProviderID = "sandbox-bank"
	}
	to, err := e.Provider.Accept(context.Background(), res.Request.ID, consent)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	g.Code = u.Query().Get(rt)
	if g.Code == "" {
		t.Fatalf("no %s in %s", rt, to)
	}
	return g
}

// VerifyJWT checks an access token with golang-jwt (an independent JOSE
// implementation) against the server's JWKS and returns its claims.
func (e *Env) VerifyJWT(t testing.TB, token string) jwt.MapClaims {
	t.Helper()
	resp, err := http.Get(e.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kty, Kid, N, E, X, Y string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	b64 := func(s string) *big.Int {
		b, _ := base64.RawURLEncoding.DecodeString(s)
		return new(big.Int).SetBytes(b)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		switch k.Kty {
		case "RSA":
			keys[k.Kid] = &rsa.PublicKey{N: b64(k.N), E: int(b64(k.E).Int64())}
		case "EC":
			keys[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: b64(k.X), Y: b64(k.Y)}
		}
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != "at+jwt" {
			return nil, fmt.Errorf("typ %q", typ)
		}
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("kid %q not in the JWKS", kid)
	}, jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithIssuer(e.URL), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(e.Clock.Now))
	if err != nil {
		t.Fatalf("JWT does not verify: %v", err)
	}
	return claims
}

// Introspect asks the server about a token as a resource-server client it
// registers once per call.
func (e *Env) Introspect(t testing.TB, token string) map[string]any {
	t.Helper()
	rs, secret := e.Client(t, func(c *store.Client) { c.ResourceServer = true })
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth/introspect", stringsReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(rs.ID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("introspect: %d %v", resp.StatusCode, err)
	}
	return out
}

// Revoke revokes a token as the client that owns it (Basic auth, or
// client_id alone for a public client) and returns the status.
func (e *Env) Revoke(t testing.TB, c store.Client, secret, token string) int {
	t.Helper()
	form := url.Values{"token": {token}}
	if secret == "" {
		form.Set("client_id", c.ID)
	}
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth/revoke", stringsReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
