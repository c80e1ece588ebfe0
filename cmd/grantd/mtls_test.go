package main

import (
	"bytes"
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
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
)

// certPair makes a certificate (and its key) for tmpl, signed by parent's
// key (self-signed when parent is nil), with crypto/x509.
func certPair(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// adminCreateClient creates a client through the admin API of the server
// at admin (POST /admin/clients, with h) and returns the answer, failing
// the test unless it is 201 with a client_id.
func adminCreateClient(t *testing.T, h *http.Client, admin, token string, client map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(client)
	req, _ := http.NewRequest(http.MethodPost, admin+"/admin/clients", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var created map[string]any
	json.NewDecoder(resp.Body).Decode(&created)
	if id, _ := created["client_id"].(string); resp.StatusCode != http.StatusCreated || id == "" {
		t.Fatalf("create a client: %d %v", resp.StatusCode, created)
	}
	return created
}

// tokenAlias is the token endpoint of the metadata's mtls_endpoint_aliases
// at public.
func tokenAlias(t *testing.T, h *http.Client, public string) string {
	t.Helper()
	resp, err := h.Get(public + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Aliases map[string]string `json:"mtls_endpoint_aliases"`
	}
	json.NewDecoder(resp.Body).Decode(&md)
	return md.Aliases["token_endpoint"]
}

// checkX5T checks that the access token (a JWT, read without checking
// its signature: other tests do) is bound to cert: cnf.x5t#S256.
func checkX5T(t *testing.T, jwt string, cert *x509.Certificate) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Cnf map[string]string `json:"cnf"`
	}
	json.Unmarshal(payload, &claims)
	sum := sha256.Sum256(cert.Raw)
	if claims.Cnf["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("cnf %v, want the client certificate's thumbprint", claims.Cnf)
	}
}

// TestServeMutualTLS: `grantd serve --mtls-addr … --tls-client-ca-file …`
// opens a third listener that asks for client certificates: a
// tls_client_auth client registered through the admin API gets a token
// there with its certificate, bound to it (cnf.x5t#S256); the metadata names
// the listener in mtls_endpoint_aliases; the public listener asks for no
// certificate.
func TestServeMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := certPair(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	srvCert, srvKey := certPair(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "grantd"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	cliCert, cliKey := certPair(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "serve-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", srvCert.Raw)
	kb, _ := x509.MarshalECPrivateKey(srvKey)
	writePEM(t, filepath.Join(dir, "server.key"), "EC PRIVATE KEY", kb)

	s := startServe(t, map[string]string{"GRANTD_ADMIN_TOKEN": "mtls-test-admin-token"},
		"--data-dir", filepath.Join(dir, "data"), "--tls-cert-file", filepath.Join(dir, "server.pem"),
		"--tls-key-file", filepath.Join(dir, "server.key"), "--mtls-addr", "127.0.0.1:0",
		"--tls-client-ca-file", filepath.Join(dir, "ca.pem"), "--issuer", "https://127.0.0.1")
	m := regexp.MustCompile(`mutual TLS: (\S+)`).FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no mutual-TLS listener in the output:\n%s", s.stdout)
	}
	mtlsURL := m[1]
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	withCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey}}}}}

	created := adminCreateClient(t, plain, s.admin, "mtls-test-admin-token", map[string]any{"name": "mTLS app",
		"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=serve-client",
		"grant_types": []string{"client_credentials"}, "tls_client_certificate_bound_access_tokens": true})
	id, _ := created["client_id"].(string)
	if created["client_secret"] != nil {
		t.Errorf("a tls_client_auth client got a secret: %v", created)
	}

	token := func(h *http.Client, base string) (int, map[string]any) {
		resp, err := h.PostForm(base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	st, out := token(withCert, mtlsURL)
	if st != http.StatusOK {
		t.Fatalf("token over mutual TLS: %d %v", st, out)
	}
	checkX5T(t, out["access_token"].(string), cliCert)
	if st, _ := token(withCert, s.public); st != http.StatusUnauthorized {
		t.Errorf("token on the public listener (no certificate asked): %d, want 401", st)
	}

	if got := tokenAlias(t, plain, s.public); got != mtlsURL+"/oauth/token" {
		t.Errorf("mtls_endpoint_aliases' token_endpoint %q, want the token endpoint at %s", got, mtlsURL)
	}
}

// TestServeMutualTLSBehindProxy: grantd serve without TLS of its own, its
// mutual-TLS listener behind a TLS-terminating proxy (the test) that
// forwards the client's certificate in RFC 9440's Client-Cert header:
// tls_client_auth and the certificate-bound token work, the metadata's
// aliases are the proxy's --mtls-url, and the public listener does not
// read the header.
func TestServeMutualTLSBehindProxy(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := certPair(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Proxy CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	cliCert, _ := certPair(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "proxied-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mtlsAddr := ln.Addr().String()
	ln.Close()

	s := startServe(t, map[string]string{"GRANTD_ADMIN_TOKEN": "proxy-test-admin-token"},
		"--data-dir", filepath.Join(dir, "data"), "--mtls-addr", mtlsAddr, "--mtls-url", "https://mtls.example.test",
		"--tls-client-cert-header", "Client-Cert", "--tls-client-cert-proxies", "127.0.0.1",
		"--tls-client-ca-file", filepath.Join(dir, "ca.pem"))
	created := adminCreateClient(t, http.DefaultClient, s.admin, "proxy-test-admin-token", map[string]any{"name": "Proxied app",
		"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=proxied-client",
		"grant_types": []string{"client_credentials"}, "tls_client_certificate_bound_access_tokens": true})
	id, _ := created["client_id"].(string)
	token := func(base string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Client-Cert", ":"+base64.StdEncoding.EncodeToString(cliCert.Raw)+":")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	st, out := token("http://" + mtlsAddr)
	if st != http.StatusOK {
		t.Fatalf("token through the proxy: %d %v", st, out)
	}
	checkX5T(t, out["access_token"].(string), cliCert)
	if st, _ := token(s.public); st != http.StatusUnauthorized {
		t.Errorf("the header on the public listener: %d, want 401", st)
	}
	if got := tokenAlias(t, http.DefaultClient, s.public); got != "https://mtls.example.test/oauth/token" {
		t.Errorf("mtls_endpoint_aliases' token_endpoint %q, want the proxy's", got)
	}
}

// TestLoadTLSSuites: the TLS grantd terminates is 1.2 or 1.3, and in 1.2
// only the four ECDHE AES-GCM suites RFC 9325 §4.2 (BCP 195) recommends,
// as FAPI 2.0 §5.2.2 asks: a TLS 1.2 client offering only ChaCha20-Poly1305
// or a CBC suite fails the handshake, one offering AES-GCM succeeds.
func TestLoadTLSSuites(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := certPair(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Suites CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	srv, srvKey := certPair(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "grantd"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", srv.Raw)
	kb, _ := x509.MarshalECPrivateKey(srvKey)
	writePEM(t, filepath.Join(dir, "server.key"), "EC PRIVATE KEY", kb)
	conf, err := loadTLS(config.TLS{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server.key")})
	if err != nil {
		t.Fatal(err)
	}
	if conf.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", conf.MinVersion)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	dial := func(version uint16, suites ...uint16) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, MinVersion: version, MaxVersion: version, CipherSuites: suites})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256); err != nil {
		t.Errorf("TLS 1.2 with ECDHE-ECDSA-AES128-GCM: %v", err)
	}
	if err := dial(tls.VersionTLS13); err != nil {
		t.Errorf("TLS 1.3: %v", err)
	}
	for name, suite := range map[string]uint16{"ChaCha20-Poly1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		"AES-CBC": tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA} {
		if err := dial(tls.VersionTLS12, suite); err == nil {
			t.Errorf("TLS 1.2 with %s only: the handshake succeeded", name)
		}
	}
	if err := dial(tls.VersionTLS11); err == nil {
		t.Error("TLS 1.1: the handshake succeeded")
	}
}
