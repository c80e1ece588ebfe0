package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/testenv"
)

// TestServeDPoPNonce: with --dpop-nonce, a proof without the server's nonce
// is refused with use_dpop_nonce and the nonce; a second server started on
// the same data (the same key-encryption key) accepts the first one's
// nonce, and the proof it carries binds the token.
func TestServeDPoPNonce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, nil, "--data-dir", dir, "--dev", "--dpop-nonce")
	var saved map[string]clients.View
	if b, err := os.ReadFile(filepath.Join(dir, "dev-clients.json")); err != nil || json.Unmarshal(b, &saved) != nil {
		t.Fatalf("dev-clients.json: %v", err)
	}
	conf := saved["confidential"]
	k := testenv.NewDPoPKey(t, "ES256")
	token := func(base string, o testenv.ProofOpts) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/oauth/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(conf.ClientID), url.QueryEscape(conf.ClientSecret))
		req.Header.Set(dpop.Header, k.Proof(t, http.MethodPost, base+"/oauth/token", o))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := token(s.public, testenv.ProofOpts{})
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	nonce := resp.Header.Get(dpop.NonceHeader)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("a proof without the nonce: %d %v (DPoP-Nonce %q), want 400 use_dpop_nonce", resp.StatusCode, body, nonce)
	}
	s.stop(t)

	s2 := startServe(t, nil, "--data-dir", dir, "--dev", "--dpop-nonce")
	resp = token(s2.public, testenv.ProofOpts{Nonce: nonce})
	body = nil
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("the first server's nonce at the second: %d %v, want a DPoP token", resp.StatusCode, body)
	}
}

// TestServeOnePerSQLiteFile: a second `grantd serve` on the same SQLite
// store is refused while the first runs (what the server keeps in memory,
// DPoP proofs' single uses, is right only for the one server), and starts
// once the first has stopped.
func TestServeOnePerSQLiteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, nil, "--data-dir", dir)
	c := &cli{stdout: &syncBuffer{}, stderr: &syncBuffer{}, getenv: func(string) string { return "" }}
	err := c.run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", dir})
	if err == nil || !strings.Contains(err.Error(), "another grantd serve uses the SQLite store") {
		t.Fatalf("a second server on the store: %v, want it refused", err)
	}
	s.stop(t)
	startServe(t, nil, "--data-dir", dir)
}
