package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenIDClientFAPI2 runs openid-client (sdk-tests/openid-client, npm),
// a relying-party library nobody on the team wrote, through the FAPI 2.0
// flow against `grantd serve`: a client registered through the admin API
// with profile fapi2, private_key_jwt (its key made here) and an external
// consent app. The Node test checks every answer; this one that it passed.
func TestOpenIDClientFAPI2(t *testing.T) {
	const dir = "../../sdk-tests/openid-client"
	node := nodeWith(t, dir, "openid-client")
	const adminToken = "openid-client-test-admin-token"
	s := startServe(t, map[string]string{"GRANTD_ADMIN_TOKEN": adminToken}, "--data-dir", filepath.Join(t.TempDir(), "data"))

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	b64 := base64.RawURLEncoding.EncodeToString
	fill := func(n *big.Int) string { b := make([]byte, 32); n.FillBytes(b); return b64(b) }
	jwks := map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "kid": "sdk1", "use": "sig",
		"x": fill(key.X), "y": fill(key.Y)}}}
	const redirect = "https://rp.example.com/cb"
	created := adminCreateClient(t, http.DefaultClient, s.admin, adminToken, map[string]any{"name": "openid-client",
		"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks, "redirect_uris": []string{redirect},
		"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "accounts", "profile": "fapi2",
		"consent_url": "http://127.0.0.1:9/consent", "resource_server": true})
	id, _ := created["client_id"].(string)
	if created["profile"] != "fapi2" {
		t.Fatalf("the client's profile: %v", created)
	}

	result := filepath.Join(t.TempDir(), "result.json")
	cmd := exec.Command(node, "--test", "--test-reporter=tap", "fapi.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRANTD_ISSUER="+s.public, "GRANTD_ADMIN="+s.admin, "ADMIN_TOKEN="+adminToken,
		"CLIENT_ID="+id, "CLIENT_KID=sdk1", "CLIENT_KEY_PKCS8="+base64.StdEncoding.EncodeToString(pkcs8),
		"REDIRECT_URI="+redirect, "RESULT_FILE="+result)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "# pass 1") || !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	var res struct {
		AccessToken string `json:"access_token"`
		JKT         string `json:"jkt"`
	}
	if b, err := os.ReadFile(result); err != nil || json.Unmarshal(b, &res) != nil || res.JKT == "" {
		t.Fatalf("the Node test's result: %v", err)
	}
	// grantd signed the token PS256, the profile's default.
	h, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(res.AccessToken, ".", 2)[0])
	if !strings.Contains(string(h), `"alg":"PS256"`) {
		t.Errorf("the access token's header %s, want PS256", h)
	}
}
