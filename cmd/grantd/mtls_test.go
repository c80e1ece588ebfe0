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

	body, _ := json.Marshal(map[string]any{"name": "mTLS app", "token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_subject_dn": "CN=serve-client", "grant_types": []string{"client_credentials"},
		"tls_client_certificate_bound_access_tokens": true})
	req, _ := http.NewRequest(http.MethodPost, s.admin+"/admin/clients", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer mtls-test-admin-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	id, _ := created["client_id"].(string)
	if resp.StatusCode != http.StatusCreated || id == "" || created["client_secret"] != nil {
		t.Fatalf("create a tls_client_auth client: %d %v", resp.StatusCode, created)
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
	parts := strings.Split(out["access_token"].(string), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Cnf map[string]string `json:"cnf"`
	}
	json.Unmarshal(payload, &claims)
	sum := sha256.Sum256(cliCert.Raw)
	if claims.Cnf["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("cnf %v, want the client certificate's thumbprint", claims.Cnf)
	}
	if st, _ := token(withCert, s.public); st != http.StatusUnauthorized {
		t.Errorf("token on the public listener (no certificate asked): %d, want 401", st)
	}

	resp, err = plain.Get(s.public + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if aliases, _ := md["mtls_endpoint_aliases"].(map[string]any); aliases["token_endpoint"] != mtlsURL+"/oauth/token" {
		t.Errorf("mtls_endpoint_aliases %v, want the token endpoint at %s", md["mtls_endpoint_aliases"], mtlsURL)
	}
}
