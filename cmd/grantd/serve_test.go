package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/clients"
)

// running is one running `grantd serve`.
type running struct {
	public, admin  string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
}

func startServe(t *testing.T, env map[string]string, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &running{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan [2]string, 1)
	c := &cli{stdout: s.stdout, stderr: s.stderr, getenv: func(k string) string { return env[k] },
		ready: func(p, a string) { ready <- [2]string{p, a} }}
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...)
	go func() { s.done <- c.run(ctx, args) }()
	select {
	case u := <-ready:
		s.public, s.admin = u[0], u[1]
	case err := <-s.done:
		cancel()
		t.Fatalf("serve exited before it was ready: %v\nstdout:\n%s\nstderr:\n%s", err, s.stdout, s.stderr)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve not ready\nstderr:\n%s", s.stderr)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the server (as SIGTERM does) and checks it exits cleanly.
func (s *running) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve returned %v\nstderr:\n%s", err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop")
	}
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func wantMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), mode)
	}
}

func TestServeDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, nil, "--data-dir", dir, "--dev", "--log-level", "debug")

	if code, body := get(t, s.public+"/healthz", ""); code != 200 {
		t.Errorf("GET /healthz: %d %s", code, body)
	}
	if code, body := get(t, s.public+"/readyz", ""); code != 200 {
		t.Errorf("GET /readyz: %d %s", code, body)
	}
	if code, body := get(t, s.public+"/.well-known/jwks.json", ""); code != 200 || !strings.Contains(body, `"kid"`) {
		t.Errorf("GET /.well-known/jwks.json: %d %s", code, body)
	}
	code, body := get(t, s.public+"/.well-known/oauth-authorization-server", "")
	if code != 200 || !strings.Contains(body, `"issuer":"`+s.public+`"`) {
		t.Errorf("metadata does not name the issuer %s: %d %s", s.public, code, body)
	}

	tokenFile := filepath.Join(dir, "admin-token")
	for _, f := range []string{tokenFile, filepath.Join(dir, "kek"), filepath.Join(dir, "dev-clients.json")} {
		wantMode(t, f, 0o600)
	}
	wantMode(t, dir, 0o700)
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) != 43 {
		t.Errorf("admin token has %d characters, want 43 (32 bytes base64url)", len(token))
	}

	if code, _ := get(t, s.admin+"/admin/clients", ""); code != http.StatusUnauthorized {
		t.Errorf("admin without token: %d", code)
	}
	code, body = get(t, s.admin+"/admin/clients", token)
	if code != 200 {
		t.Fatalf("GET /admin/clients: %d %s", code, body)
	}
	var listed struct {
		Clients []clients.View `json:"clients"`
	}
	if err := json.Unmarshal([]byte(body), &listed); err != nil || len(listed.Clients) != 2 {
		t.Fatalf("admin lists %s, %v; want the 2 dev clients", body, err)
	}
	if code, _ := get(t, s.public+"/admin/clients", token); code != http.StatusNotFound {
		t.Errorf("the public listener serves the admin API: %d", code)
	}

	// What serve printed: the dev credentials, the token's path, the URLs.
	var saved map[string]clients.View
	if b, err := os.ReadFile(filepath.Join(dir, "dev-clients.json")); err != nil || json.Unmarshal(b, &saved) != nil {
		t.Fatalf("dev-clients.json: %v", err)
	}
	conf, pub := saved["confidential"], saved["public"]
	out := s.stdout.String()
	for _, want := range []string{
		"created demo confidential client", conf.ClientID, conf.ClientSecret,
		"created demo public client", pub.ClientID,
		"admin token: in " + tokenFile,
		"public API: " + s.public, "admin API:  " + s.admin,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not show %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(conf.ClientSecret, "gcs_") || pub.ClientSecret != "" || pub.TokenEndpointAuthMethod != "none" {
		t.Errorf("dev clients: %+v", saved)
	}
	if strings.Contains(out, token) {
		t.Error("stdout shows the admin token")
	}

	s.stop(t)
	logs := s.stderr.String()
	for _, secret := range []string{token, conf.ClientSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
	}
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", logs)
	}

	// A second start keeps the clients, points at the file, and takes
	// GRANTD_ADMIN_TOKEN over the file.
	s2 := startServe(t, map[string]string{"GRANTD_ADMIN_TOKEN": "env-token-0123456789"}, "--data-dir", dir, "--dev")
	out = s2.stdout.String()
	if strings.Contains(out, "created") || strings.Contains(out, conf.ClientSecret) ||
		!strings.Contains(out, "client_secret: in "+filepath.Join(dir, "dev-clients.json")) ||
		!strings.Contains(out, "admin token: from GRANTD_ADMIN_TOKEN") {
		t.Errorf("second start printed:\n%s", out)
	}
	if code, body := get(t, s2.admin+"/admin/clients", "env-token-0123456789"); code != 200 || strings.Count(body, `"client_id"`) != 2 {
		t.Errorf("second start lists: %d %s", code, body)
	}
	if code, _ := get(t, s2.admin+"/admin/clients", token); code != http.StatusUnauthorized {
		t.Errorf("the file's token still works with GRANTD_ADMIN_TOKEN set: %d", code)
	}
}

func TestServeRefusesOpenTokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin-token"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("%+v", r)
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)

	s := startServe(t, map[string]string{"GRANTD_TLS_CERT_FILE": certFile, "GRANTD_TLS_KEY_FILE": keyFile},
		"--data-dir", filepath.Join(dir, "data"))
	if !strings.HasPrefix(s.public, "https://127.0.0.1:") || !strings.HasPrefix(s.admin, "https://127.0.0.1:") {
		t.Fatalf("URLs %s %s", s.public, s.admin)
	}
	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, u := range []string{s.public + "/healthz", s.public + "/.well-known/oauth-authorization-server"} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
		}
		if strings.Contains(u, "well-known") && !strings.Contains(string(body), `"issuer":"`+s.public+`"`) {
			t.Errorf("issuer is not %s: %s", s.public, body)
		}
	}
}

func TestProcsFor(t *testing.T) {
	for _, c := range []struct {
		env           string
		current, want int
	}{
		{"", 1, 2},  // one CPU: two threads
		{"", 2, 0},  // left as Go set it
		{"", 8, 0},  //
		{"1", 1, 0}, // the environment's choice wins
	} {
		if got := procsFor(c.env, c.current); got != c.want {
			t.Errorf("procsFor(%q, %d) = %d, want %d", c.env, c.current, got, c.want)
		}
	}
}
