package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/clientkeys"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/assertion"
	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// keyClient is a private_key_jwt client (RFC 7523 §2.2) with the given
// key settings and no secret.
func (e *env) keyClient(sec store.ClientSecurity, opts ...func(*store.Client)) testClient {
	e.t.Helper()
	return e.client(append([]func(*store.Client){func(c *store.Client) {
		c.AuthMethod, c.SecretHash, c.Security = store.AuthMethodPrivateKeyJWT, nil, sec
	}}, opts...)...)
}

// withAssertion is v with a client assertion.
func withAssertion(v url.Values, a string) url.Values {
	v.Set("client_assertion_type", assertion.Type)
	v.Set("client_assertion", a)
	return v
}

// TestPrivateKeyJWT: a client authenticates with an assertion signed by
// golang-jwt with a key of its registered JWK Set, at the token endpoint
// (aud the issuer or the endpoint's URL), introspection, revocation and
// PAR; an assertion is used once; one of another key, of another client,
// for another audience, or beside a secret is refused; a secret does not
// authenticate such a client.
func TestPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	k, other := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256")
	c := e.keyClient(store.ClientSecurity{JWKS: testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "k1", "use": "sig"}))},
		func(c *store.Client) { c.ResourceServer = true })
	tokenURL := e.srv.URL + "/oauth/token"
	sign := func(aud string, o testenv.AssertionOpts) string {
		if o.KID == "" {
			o.KID = "k1"
		}
		return k.Assertion(t, c.ID, aud, e.clock.Now(), o)
	}
	cc := func(a string, header ...string) response {
		return e.form("/oauth/token", withAssertion(url.Values{"grant_type": {"client_credentials"}}, a), header...)
	}
	once := sign(e.srv.URL, testenv.AssertionOpts{})
	r := cc(once)
	if r.Status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("client_credentials with an assertion: %d %s", r.Status, r.Body)
	}
	at := r.str("access_token")
	if r := cc(once); r.Status != http.StatusUnauthorized || r.str("error") != oauth.ErrCodeInvalidClient {
		t.Errorf("the assertion again: %d %s, want 401 invalid_client", r.Status, r.Body)
	}
	if r := cc(sign(tokenURL, testenv.AssertionOpts{})); r.Status != http.StatusOK {
		t.Errorf("aud the token endpoint's URL: %d %s", r.Status, r.Body)
	}
	v := withAssertion(url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}}, sign(e.srv.URL, testenv.AssertionOpts{}))
	if r := e.form("/oauth/token", v); r.Status != http.StatusOK {
		t.Errorf("with client_id as well: %d %s", r.Status, r.Body)
	}
	for name, r := range map[string]response{
		"another key":      cc(other.Assertion(t, c.ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "k1"})),
		"another audience": cc(sign("https://other.example", testenv.AssertionOpts{})),
		"the introspection endpoint's aud at the token endpoint": cc(sign(e.srv.URL+"/oauth/introspect", testenv.AssertionOpts{})),
		"another client's":  cc(k.Assertion(t, e.client().ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "k1"})),
		"a secret instead":  e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, "gcs_anything")...),
		"an unknown type":   e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:x"}, "client_assertion": {sign(e.srv.URL, testenv.AssertionOpts{})}}),
		"another client_id": e.form("/oauth/token", withAssertion(url.Values{"grant_type": {"client_credentials"}, "client_id": {e.client().ID}}, sign(e.srv.URL, testenv.AssertionOpts{}))),
	} {
		if r.Status != http.StatusUnauthorized || r.str("error") != oauth.ErrCodeInvalidClient || r.str("access_token") != "" {
			t.Errorf("%s: %d %s, want 401 invalid_client", name, r.Status, r.Body)
		}
	}
	if r := cc(sign(e.srv.URL, testenv.AssertionOpts{}), basic(c.ID, "gcs_x")...); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidRequest {
		t.Errorf("an assertion and a Basic header: %d %s, want 400 invalid_request", r.Status, r.Body)
	}

	// Introspection and revocation, aud the issuer or the endpoint.
	in := e.form("/oauth/introspect", withAssertion(url.Values{"token": {at}}, sign(e.srv.URL+"/oauth/introspect", testenv.AssertionOpts{})))
	if in.Status != http.StatusOK || in.JSON["active"] != true {
		t.Errorf("introspection with an assertion: %d %s", in.Status, in.Body)
	}
	if r := e.form("/oauth/revoke", withAssertion(url.Values{"token": {at}}, sign(e.srv.URL, testenv.AssertionOpts{}))); r.Status != http.StatusOK {
		t.Errorf("revocation with an assertion: %d %s", r.Status, r.Body)
	}
	if in := e.introspect(e.client(func(c *store.Client) { c.ResourceServer = true }), at); in["active"] != false {
		t.Errorf("after revocation: %v", in)
	}
}

// TestPrivateKeyJWTCodeFlowAndPAR: a private_key_jwt client pushes its
// authorization request and redeems the code with assertions.
func TestPrivateKeyJWTCodeFlowAndPAR(t *testing.T) {
	e := newEnv(t)
	k := testenv.NewDPoPKey(t, "PS256")
	c := e.keyClient(store.ClientSecurity{JWKS: testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "p1", "alg": "PS256"})),
		TokenEndpointAuthSigningAlg: "PS256"})
	q, verifier := codeRequest(c)
	r := e.form("/oauth/par", withAssertion(q, k.Assertion(t, c.ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "p1"})))
	if r.Status != http.StatusCreated {
		t.Fatalf("PAR with an assertion: %d %s", r.Status, r.Body)
	}
	code := e.authorize(url.Values{"client_id": {c.ID}, "request_uri": {r.str("request_uri")}}, "alice", true).Query().Get("code")
	tok := e.form("/oauth/token", withAssertion(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, k.Assertion(t, c.ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "p1"})))
	if tok.Status != http.StatusOK || tok.str("refresh_token") == "" {
		t.Fatalf("code exchange with an assertion: %d %s", tok.Status, tok.Body)
	}
}

// TestPrivateKeyJWTByURL: the client's keys are fetched from its jwks_uri
// (a real HTTP server) and cached; when the client rotates to a new key, an
// assertion with the new kid makes grantd fetch the set again, once.
func TestPrivateKeyJWTByURL(t *testing.T) {
	e := newEnv(t)
	e.provider.ClientKeys = clientkeys.New(clientkeys.Options{AllowPrivate: true, Now: e.clock.Now})
	k1, k2 := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "EdDSA")
	var (
		mu      sync.Mutex
		current = testenv.JWKSet(t, k1.JWKWith(map[string]any{"kid": "one"}))
		fetches atomic.Int32
	)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(current)
	}))
	defer keys.Close()
	c := e.keyClient(store.ClientSecurity{JWKSURI: keys.URL + "/jwks.json"})
	cc := func(k *testenv.DPoPKey, kid string) response {
		return e.form("/oauth/token", withAssertion(url.Values{"grant_type": {"client_credentials"}},
			k.Assertion(t, c.ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: kid})))
	}
	for range 3 {
		if r := cc(k1, "one"); r.Status != http.StatusOK {
			t.Fatalf("with the first key: %d %s", r.Status, r.Body)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for three assertions, want 1 (cached)", n)
	}
	// The client rotates: its set now holds the new key only. (An unknown
	// kid refetches at most every clientkeys.DefaultMinRefresh.)
	e.clock.Advance(clientkeys.DefaultMinRefresh)
	mu.Lock()
	current = testenv.JWKSet(t, k2.JWKWith(map[string]any{"kid": "two"}))
	mu.Unlock()
	if r := cc(k2, "two"); r.Status != http.StatusOK {
		t.Fatalf("with the rotated key: %d %s", r.Status, r.Body)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after the rotation, want 2", n)
	}
	if r := cc(k1, "one"); r.Status != http.StatusUnauthorized {
		t.Errorf("with the key rotated out: %d %s, want 401", r.Status, r.Body)
	}
}

// TestRegisterPrivateKeyJWT: dynamic registration (RFC 7591) takes a
// client with its own keys: private_key_jwt with jwks (https redirect URIs
// allowed for it), no client_secret in the answer; the client then
// authenticates with an assertion. A jwks_uri that is not https, keys
// beside a public client's none, and a private key are refused.
func TestRegisterPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	k := testenv.NewDPoPKey(t, "ES256")
	jwks := string(testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "d1"})))
	r := e.post("/oauth/register", "application/json", `{"redirect_uris":["https://app.example.com/cb"],
		"token_endpoint_auth_method":"private_key_jwt","grant_types":["authorization_code","refresh_token"],"jwks":`+jwks+`}`)
	id := r.str("client_id")
	if r.Status != http.StatusCreated || r.str("client_secret") != "" || r.str("token_endpoint_auth_method") != "private_key_jwt" || r.JSON["jwks"] == nil {
		t.Fatalf("register with jwks: %d %s", r.Status, r.Body)
	}
	q, _ := codeRequest(testClient{Client: store.Client{ID: id}})
	q.Set("redirect_uri", "https://app.example.com/cb")
	par := e.form("/oauth/par", withAssertion(q, k.Assertion(t, id, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "d1"})))
	if par.Status != http.StatusCreated {
		t.Fatalf("PAR of the registered client: %d %s", par.Status, par.Body)
	}
	for name, body := range map[string]string{
		"an http jwks_uri":          `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://keys.example.com/"}`,
		"jwks for a public client":  `{"redirect_uris":["http://127.0.0.1:5000/cb"],"jwks":` + jwks + `}`,
		"no keys":                   `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"private_key_jwt"}`,
		"a secret method":           `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_basic"}`,
		"https for a public client": `{"redirect_uris":["https://app.example.com/cb"]}`,
	} {
		if r := e.post("/oauth/register", "application/json", body); r.Status != http.StatusBadRequest {
			t.Errorf("register with %s: %d %s, want 400", name, r.Status, r.Body)
		}
	}
	if r.JSON["profile"] != nil || r.JSON["require_pushed_authorization_requests"] != nil {
		t.Errorf("a client without a profile: profile %v, require_pushed_authorization_requests %v", r.JSON["profile"], r.JSON["require_pushed_authorization_requests"])
	}

	// With --fapi2 (the manager's default profile) a keyed client is held
	// to FAPI 2.0, and its registration says so: profile and PAR.
	e.signWith("ES256")
	e.srv.Config.Handler = server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store,
		Registrar: &clients.Registration{Manager: &clients.Manager{Store: e.store, Now: e.clock.Now, DefaultProfile: store.ProfileFAPI2},
			Catalogue: e.provider.Catalogue}}).Handler()
	r = e.post("/oauth/register", "application/json", `{"redirect_uris":["https://app.example.com/cb"],
		"token_endpoint_auth_method":"private_key_jwt","grant_types":["authorization_code","refresh_token"],"jwks":`+jwks+`}`)
	if r.Status != http.StatusCreated || r.JSON["profile"] != store.ProfileFAPI2 || r.JSON["require_pushed_authorization_requests"] != true {
		t.Errorf("register under --fapi2: %d %s, want profile fapi2 and require_pushed_authorization_requests", r.Status, r.Body)
	}
}

// TestPrivateKeyJWTNonceRetry: with DPoP nonces on, a token request with an
// assertion and a proof without the nonce gets use_dpop_nonce before the
// assertion is spent: the retry with the nonce may carry the same
// assertion (RFC 9449 §8), and is served.
func TestPrivateKeyJWTNonceRetry(t *testing.T) {
	e := newEnv(t)
	nonces, err := dpop.NewNonces(bytes.Repeat([]byte{5}, 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.provider.DPoP = &dpop.Checker{Nonces: nonces}
	k, pk := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256")
	c := e.keyClient(store.ClientSecurity{JWKS: testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "k1"}))})
	a := k.Assertion(t, c.ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "k1"})
	body := withAssertion(url.Values{"grant_type": {"client_credentials"}}, a)
	proof := func(nonce string) string {
		return pk.Proof(t, http.MethodPost, e.srv.URL+"/oauth/token", testenv.ProofOpts{IAT: e.clock.Now(), Nonce: nonce})
	}
	r := e.form("/oauth/token", body, dpop.Header, proof(""))
	nonce := r.Header.Get(dpop.NonceHeader)
	if r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeUseDPoPNonce || nonce == "" {
		t.Fatalf("without the nonce: %d %s, want use_dpop_nonce", r.Status, r.Body)
	}
	if r := e.form("/oauth/token", body, dpop.Header, proof(nonce)); r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeDPoP {
		t.Errorf("the retry with the same assertion and the nonce: %d %s, want a DPoP token", r.Status, r.Body)
	}
}
