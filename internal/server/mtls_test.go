package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/web"
)

// testCA is a certificate authority made in the test, and the client
// certificates it issues (crypto/x509, none of grantd's code).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64 = 100

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestCA(t *testing.T, name string) *testCA {
	k := newKey(t)
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: k}
}

// issue makes a client certificate for subject and DNS names, signed by
// the CA (or self-signed when ca is nil).
func issue(t *testing.T, ca *testCA, subject pkix.Name, dns ...string) tls.Certificate {
	k := newKey(t)
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: subject, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	parent, signer := tmpl, k
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}
}

// x5cJWKS is the JWK Set of a self-signed certificate's key with the
// certificate in x5c (RFC 7517 §4.7), built by hand.
func x5cJWKS(t *testing.T, c tls.Certificate) json.RawMessage {
	pub := c.Leaf.PublicKey.(*ecdsa.PublicKey)
	b64 := base64.RawURLEncoding.EncodeToString
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	b, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y),
		"x5c": []string{base64.StdEncoding.EncodeToString(c.Certificate[0])}}}})
	return b
}

func thumbprint(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mtlsListener starts grantd's mutual-TLS listener beside e's (RFC 8705
// §5: its own URL, the metadata's mtls_endpoint_aliases), trusting ca for
// tls_client_auth, and returns a client for it presenting cert (none when
// cert is nil).
func (e *env) mtlsListener(t *testing.T, ca *testCA) (string, func(cert *tls.Certificate) *http.Client) {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	e.provider.ClientCAs = pool
	ts := httptest.NewUnstartedServer(nil)
	ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pages, err := web.New(web.Options{Provider: e.provider})
	if err != nil {
		t.Fatal(err)
	}
	s := server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store, Pages: pages, MTLSURL: ts.URL})
	ts.Config.Handler = s.MTLSHandler()
	// The plain listener's metadata shows the aliases too.
	e.srv.Config.Handler = s.Handler()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	return ts.URL, func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
}

func postForm(t *testing.T, h *http.Client, u string, v url.Values, header ...string) response {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

// TestMTLSClientAuth: tls_client_auth (RFC 8705 §2.1) with certificates
// made here: a certificate of the trusted CA carrying the registered
// subject DN or SAN authenticates the client by its client_id alone over
// the mutual-TLS listener; another CA's, a self-signed one, one with
// another name, or none (the plain listener) is invalid_client.
// self_signed_tls_client_auth (§2.2): the certificate registered in the
// client's JWK Set (x5c) authenticates, another does not.
func TestMTLSClientAuth(t *testing.T) {
	e := newEnv(t)
	ca, rogue := newTestCA(t, "Test Client CA"), newTestCA(t, "Rogue CA")
	mtlsURL, client := e.mtlsListener(t, ca)
	subject := pkix.Name{CommonName: "client-1", Organization: []string{"Example Bank"}, Country: []string{"GB"}}
	good := issue(t, ca, subject, "client-1.bank.example")
	byDN := e.client(func(c *store.Client) {
		c.AuthMethod, c.SecretHash = store.AuthMethodTLS, nil
		c.Security.TLSClientAuthSubjectDN = "CN=client-1, O=Example Bank, C=GB"
	})
	bySAN := e.client(func(c *store.Client) {
		c.AuthMethod, c.SecretHash = store.AuthMethodTLS, nil
		c.Security.TLSClientAuthSANDNS = "client-1.bank.example"
	})
	cc := func(h *http.Client, base, id string) response {
		return postForm(t, h, base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}})
	}
	for name, c := range map[string]testClient{"subject DN": byDN, "SAN": bySAN} {
		if r := cc(client(&good), mtlsURL, c.ID); r.Status != http.StatusOK || r.str("access_token") == "" {
			t.Errorf("tls_client_auth by %s: %d %s", name, r.Status, r.Body)
		}
	}
	other := issue(t, ca, pkix.Name{CommonName: "client-2", Organization: []string{"Example Bank"}, Country: []string{"GB"}}, "client-2.bank.example")
	fromRogue := issue(t, rogue, subject, "client-1.bank.example")
	self := issue(t, nil, subject, "client-1.bank.example")
	for name, r := range map[string]response{
		"another name":       cc(client(&other), mtlsURL, byDN.ID),
		"another SAN":        cc(client(&other), mtlsURL, bySAN.ID),
		"another CA":         cc(client(&fromRogue), mtlsURL, byDN.ID),
		"self-signed":        cc(client(&self), mtlsURL, byDN.ID),
		"no certificate":     cc(client(nil), mtlsURL, byDN.ID),
		"the plain listener": e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {byDN.ID}}),
		"a secret instead":   postForm(t, client(&good), mtlsURL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(byDN.ID, "gcs_x")...),
	} {
		if r.Status != http.StatusUnauthorized || r.str("error") != oauth.ErrCodeInvalidClient {
			t.Errorf("tls_client_auth with %s: %d %s, want 401 invalid_client", name, r.Status, r.Body)
		}
	}

	selfClient := e.client(func(c *store.Client) {
		c.AuthMethod, c.SecretHash = store.AuthMethodSelfSignedTLS, nil
		c.Security.JWKS = x5cJWKS(t, self)
	})
	if r := cc(client(&self), mtlsURL, selfClient.ID); r.Status != http.StatusOK {
		t.Errorf("self_signed_tls_client_auth with the registered certificate: %d %s", r.Status, r.Body)
	}
	otherSelf := issue(t, nil, subject)
	if r := cc(client(&otherSelf), mtlsURL, selfClient.ID); r.Status != http.StatusUnauthorized {
		t.Errorf("self_signed_tls_client_auth with another certificate: %d %s, want 401", r.Status, r.Body)
	}

	md := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server", nil)))
	aliases, _ := md.JSON["mtls_endpoint_aliases"].(map[string]any)
	if aliases["token_endpoint"] != mtlsURL+"/oauth/token" || md.JSON["tls_client_certificate_bound_access_tokens"] != true {
		t.Errorf("metadata: mtls_endpoint_aliases %v, tls_client_certificate_bound_access_tokens %v", aliases, md.JSON["tls_client_certificate_bound_access_tokens"])
	}
}

// TestMTLSBoundTokens: a client registered with
// tls_client_certificate_bound_access_tokens (RFC 8705 §3) gets access
// tokens bound to its request's certificate: the JWT's cnf.x5t#S256 is the
// certificate's SHA-256 thumbprint, introspection shows it, and the
// protected resource takes the token only over mutual TLS with that
// certificate. Without a certificate, no token is issued.
func TestMTLSBoundTokens(t *testing.T) {
	e := newEnv(t)
	ca := newTestCA(t, "Test Client CA")
	mtlsURL, client := e.mtlsListener(t, ca)
	cert := issue(t, ca, pkix.Name{CommonName: "app"})
	c := e.client(func(c *store.Client) { c.Security.TLSCertBoundAccessTokens = true })
	if r := e.tokenRequest(c, url.Values{"grant_type": {"client_credentials"}}); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidRequest {
		t.Errorf("a bound client without a certificate: %d %s, want 400 invalid_request", r.Status, r.Body)
	}
	r := postForm(t, client(&cert), mtlsURL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...)
	if r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeBearer {
		t.Fatalf("a bound client over mutual TLS: %d %s", r.Status, r.Body)
	}
	cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any)
	if cnf["x5t#S256"] != thumbprint(cert) {
		t.Errorf("cnf %v, want x5t#S256 %s", cnf, thumbprint(cert))
	}
	in := e.introspect(c, r.str("access_token"))
	if cnf, _ := in["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(cert) {
		t.Errorf("introspection cnf %v", in["cnf"])
	}

	// A code flow's token at the protected resource.
	verifier := oauth2.GenerateVerifier()
	code := e.authorize(url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"scope": {"accounts"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}}, "alice", true).Query().Get("code")
	r = postForm(t, client(&cert), mtlsURL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, basic(c.ID, c.Secret)...)
	if r.Status != http.StatusOK {
		t.Fatalf("code exchange over mutual TLS: %d %s", r.Status, r.Body)
	}
	at := r.str("access_token")
	disconnect := func(h *http.Client, base string) int {
		req, _ := http.NewRequest(http.MethodDelete, base+"/connections/current", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		resp, err := h.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	otherCert := issue(t, ca, pkix.Name{CommonName: "thief"})
	if st := disconnect(http.DefaultClient, e.srv.URL); st != http.StatusUnauthorized {
		t.Errorf("the bound token without mutual TLS: %d, want 401", st)
	}
	if st := disconnect(client(&otherCert), mtlsURL); st != http.StatusUnauthorized {
		t.Errorf("the bound token with another certificate: %d, want 401", st)
	}
	if st := disconnect(client(&cert), mtlsURL); st != http.StatusOK {
		t.Errorf("the bound token with its certificate: %d, want 200", st)
	}
}

// TestMTLSFAPI2: a FAPI 2.0 client authenticating with tls_client_auth gets
// a token bound to its certificate without registering
// tls_client_certificate_bound_access_tokens (its tokens must be
// sender-constrained); the mutual-TLS listener serves no browser route.
func TestMTLSFAPI2(t *testing.T) {
	e := newEnv(t)
	e.signWith("ES256")
	ca := newTestCA(t, "Test Client CA")
	mtlsURL, client := e.mtlsListener(t, ca)
	cert := issue(t, ca, pkix.Name{CommonName: "fapi-app", Organization: []string{"Example Bank"}})
	c := e.client(func(c *store.Client) {
		c.AuthMethod, c.SecretHash, c.AccessTokenSigningAlg, c.RefreshPolicy = store.AuthMethodTLS, nil, "ES256", store.RefreshFixed
		c.GrantTypes = []string{"authorization_code", "refresh_token"}
		c.Security.Profile, c.Security.TLSClientAuthSubjectDN = store.ProfileFAPI2, "CN=fapi-app,O=Example Bank"
	})
	q, verifier := codeRequest(c)
	r := postForm(t, client(&cert), mtlsURL+"/oauth/par", q)
	if r.Status != http.StatusCreated {
		t.Fatalf("PAR over mutual TLS: %d %s", r.Status, r.Body)
	}
	code := e.authorize(url.Values{"client_id": {c.ID}, "request_uri": {r.str("request_uri")}}, "alice", true).Query().Get("code")
	r = postForm(t, client(&cert), mtlsURL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}, "client_id": {c.ID}})
	if r.Status != http.StatusOK {
		t.Fatalf("code exchange over mutual TLS: %d %s", r.Status, r.Body)
	}
	if cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(cert) {
		t.Errorf("cnf %v, want the certificate's thumbprint", cnf)
	}
	resp, err := client(&cert).Get(mtlsURL + "/oauth/authorize?client_id=" + c.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/oauth/authorize on the mutual-TLS listener: %d, want 404", resp.StatusCode)
	}
}

// TestMTLSPublicClient: a public client that binds its tokens to a
// self-signed certificate (RFC 8705 §4: mutual TLS for binding, not
// authentication) gets its access token and its refresh token bound to
// it: a refresh with another certificate is invalid_grant and rotates
// nothing, with its own it succeeds; introspection shows the family's
// cnf; the client revokes the bound refresh token only over mutual TLS
// with that certificate.
func TestMTLSPublicClient(t *testing.T) {
	e := newEnv(t)
	mtlsURL, client := e.mtlsListener(t, newTestCA(t, "Unused CA"))
	cert, other := issue(t, nil, pkix.Name{CommonName: "device-1"}), issue(t, nil, pkix.Name{CommonName: "device-2"})
	c := e.client(public, func(c *store.Client) { c.Security.TLSCertBoundAccessTokens = true })
	rs := e.client(func(c *store.Client) { c.ResourceServer = true })
	verifier := oauth2.GenerateVerifier()
	code := e.authorize(url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"scope": {"accounts"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}}, "alice", true).Query().Get("code")
	r := postForm(t, client(&cert), mtlsURL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"client_id": {c.ID}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if r.Status != http.StatusOK || r.str("refresh_token") == "" {
		t.Fatalf("code exchange over mutual TLS: %d %s", r.Status, r.Body)
	}
	if cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(cert) {
		t.Errorf("access token cnf %v, want x5t#S256 %s", cnf, thumbprint(cert))
	}
	rt := r.str("refresh_token")
	if cnf, _ := e.introspect(rs, rt)["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(cert) {
		t.Errorf("refresh token introspection cnf %v, want x5t#S256 %s", cnf, thumbprint(cert))
	}
	refresh := func(h *http.Client, base, token string) response {
		return postForm(t, h, base+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {c.ID}})
	}
	if r := refresh(client(&other), mtlsURL, rt); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidGrant {
		t.Errorf("refresh with another certificate: %d %s, want 400 invalid_grant", r.Status, r.Body)
	}
	if r := refresh(http.DefaultClient, e.srv.URL, rt); r.Status != http.StatusBadRequest {
		t.Errorf("refresh without mutual TLS: %d %s, want 400", r.Status, r.Body)
	}
	r = refresh(client(&cert), mtlsURL, rt)
	if r.Status != http.StatusOK || r.str("refresh_token") == "" {
		t.Fatalf("refresh with its certificate after the refusals (nothing rotated): %d %s", r.Status, r.Body)
	}
	rt = r.str("refresh_token")
	if cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(cert) {
		t.Errorf("refreshed access token cnf %v", cnf)
	}

	revoke := func(h *http.Client, base string) response {
		return postForm(t, h, base+"/oauth/revoke", url.Values{"token": {rt}, "client_id": {c.ID}})
	}
	if r := revoke(http.DefaultClient, e.srv.URL); r.Status != http.StatusBadRequest {
		t.Errorf("revocation of the bound refresh token without its certificate: %d %s, want 400", r.Status, r.Body)
	}
	if r := revoke(client(&other), mtlsURL); r.Status != http.StatusBadRequest {
		t.Errorf("revocation with another certificate: %d %s, want 400", r.Status, r.Body)
	}
	if e.introspect(rs, rt)["active"] != true {
		t.Fatal("the refresh token is not active after refused revocations")
	}
	if r := revoke(client(&cert), mtlsURL); r.Status != http.StatusOK {
		t.Errorf("revocation with its certificate: %d %s", r.Status, r.Body)
	}
	if e.introspect(rs, rt)["active"] != false {
		t.Error("the refresh token is active after its revocation")
	}
}

// proxyListener starts the mutual-TLS listener as plain HTTP behind a
// TLS-terminating proxy (the test plays the proxy): certificates come in
// header, read from peers in trusted only.
func (e *env) proxyListener(t *testing.T, ca *testCA, header string, trusted ...netip.Prefix) string {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	e.provider.ClientCAs = pool
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	s := server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store, MTLSURL: "https://mtls.example.test",
		ClientCertHeader: header, ClientCertProxies: trusted})
	ts.Config.Handler = s.MTLSHandler()
	return ts.URL
}

// TestMTLSForwardedByProxy: behind a TLS-terminating proxy the mutual-TLS
// listener reads the client's certificate from the header the proxy sets:
// RFC 9440's Client-Cert (with Client-Cert-Chain), or URL-encoded PEM, as
// nginx and load balancers send. tls_client_auth and certificate-bound
// tokens work with it; from a peer that is not a trusted proxy, or
// malformed, the header is no certificate (invalid_client).
func TestMTLSForwardedByProxy(t *testing.T) {
	e := newEnv(t)
	ca := newTestCA(t, "Proxy Client CA")
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	good := issue(t, ca, pkix.Name{CommonName: "client-1"}, "client-1.bank.example")
	c := e.client(func(c *store.Client) {
		c.AuthMethod, c.SecretHash = store.AuthMethodTLS, nil
		c.Security.TLSClientAuthSANDNS, c.Security.TLSCertBoundAccessTokens = "client-1.bank.example", true
	})
	cc := func(base string, header ...string) response {
		return postForm(t, http.DefaultClient, base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}}, header...)
	}
	sf := ":" + base64.StdEncoding.EncodeToString(good.Certificate[0]) + ":"
	pemEscaped := url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Certificate[0]})))

	rfc9440 := e.proxyListener(t, ca, "Client-Cert", loopback)
	r := cc(rfc9440, "Client-Cert", sf, "Client-Cert-Chain", ":"+base64.StdEncoding.EncodeToString(ca.cert.Raw)+":")
	if r.Status != http.StatusOK {
		t.Fatalf("tls_client_auth with Client-Cert from a trusted proxy: %d %s", r.Status, r.Body)
	}
	if cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(good) {
		t.Errorf("cnf %v, want x5t#S256 %s", cnf, thumbprint(good))
	}
	if r := cc(e.proxyListener(t, ca, "X-Client-Cert", loopback), "X-Client-Cert", pemEscaped); r.Status != http.StatusOK {
		t.Errorf("URL-encoded PEM from a trusted proxy: %d %s", r.Status, r.Body)
	}
	unpadded := ":" + base64.RawStdEncoding.EncodeToString(good.Certificate[0]) + ":"
	for name, v := range map[string]string{"without padding": unpadded, "with parameters": sf + ";issued=1"} {
		if r := cc(rfc9440, "Client-Cert", v); r.Status != http.StatusOK {
			t.Errorf("Client-Cert %s (RFC 8941 §4.2.7): %d %s", name, r.Status, r.Body)
		}
	}
	twice := func(base string) response {
		req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Add("Client-Cert", sf)
		req.Header.Add("Client-Cert", sf)
		return e.do(req)
	}
	otherPEM := url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issue(t, ca, pkix.Name{CommonName: "x"}).Certificate[0]})))
	untrusted := e.proxyListener(t, ca, "Client-Cert", netip.MustParsePrefix("10.0.0.0/8"))
	for name, r := range map[string]response{
		"from a peer that is no trusted proxy": cc(untrusted, "Client-Cert", sf),
		"malformed":                            cc(rfc9440, "Client-Cert", ":not base64!:"),
		"not a certificate":                    cc(rfc9440, "Client-Cert", ":"+base64.StdEncoding.EncodeToString([]byte("hello"))+":"),
		"in another header":                    cc(rfc9440, "X-Client-Cert", pemEscaped),
		"in two header lines":                  twice(rfc9440),
		"as two PEM certificates":              cc(e.proxyListener(t, ca, "X-Client-Cert", loopback), "X-Client-Cert", otherPEM+pemEscaped),
		"none":                                 cc(rfc9440),
	} {
		if r.Status != http.StatusUnauthorized || r.str("error") != oauth.ErrCodeInvalidClient {
			t.Errorf("a forwarded certificate %s: %d %s, want 401 invalid_client", name, r.Status, r.Body)
		}
	}

	// A proxy that itself connects over TLS with its own certificate (a
	// mesh): only the forwarded one counts.
	ts := httptest.NewUnstartedServer(nil)
	ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ts.Config.Handler = server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store, MTLSURL: ts.URL,
		ClientCertHeader: "Client-Cert", ClientCertProxies: []netip.Prefix{loopback}}).MTLSHandler()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	proxyCert := issue(t, ca, pkix.Name{CommonName: "mesh-proxy"}, "client-1.bank.example") // would pass as the client
	mesh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		Certificates: []tls.Certificate{proxyCert}}}}
	r = postForm(t, mesh, ts.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}})
	if r.Status != http.StatusUnauthorized {
		t.Errorf("the proxy's own certificate, no header: %d %s, want 401", r.Status, r.Body)
	}
	r = postForm(t, mesh, ts.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}}, "Client-Cert", sf)
	if cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any); r.Status != http.StatusOK || cnf["x5t#S256"] != thumbprint(good) {
		t.Errorf("the forwarded certificate through a TLS proxy: %d %s, cnf %v, want bound to the forwarded one", r.Status, r.Body, cnf)
	}
}

// TestHSTS: with an https issuer every answer carries
// Strict-Transport-Security (FAPI 2.0 §5.2.3, against TLS stripping);
// with an http (development) issuer none does.
func TestHSTS(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct{ issuer, want string }{{"https://auth.example.test", "max-age=31536000"}, {"http://127.0.0.1:9", ""}} {
		e.provider.Issuer = tt.issuer
		h := server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store}).Handler()
		for _, path := range []string{"/.well-known/oauth-authorization-server", "/healthz", "/oauth/token"} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if got := w.Header().Get("Strict-Transport-Security"); got != tt.want {
				t.Errorf("issuer %s, GET %s: Strict-Transport-Security %q, want %q", tt.issuer, path, got, tt.want)
			}
		}
	}
}
