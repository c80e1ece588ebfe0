package dpop_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/testenv"
)

const tokenURL = "https://as.example/oauth/token"

func TestCheckAcceptsEachAlgorithm(t *testing.T) {
	var c dpop.Checker
	now := time.Now()
	for _, alg := range []string{"ES256", "ES384", "PS256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k := testenv.NewDPoPKey(t, alg)
			p, err := c.Check([]string{k.Proof(t, "POST", tokenURL, testenv.ProofOpts{})}, dpop.Request{Method: "POST", URL: tokenURL}, now)
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != k.JKT() {
				t.Fatalf("jkt %s, want the RFC 7638 thumbprint %s", p.JKT, k.JKT())
			}
			if len(p.Replay) != 32 || p.Until.Before(now.Add(dpop.DefaultMaxAge-time.Second)) {
				t.Fatalf("replay key %x until %v", p.Replay, p.Until)
			}
		})
	}
}

// TestCheckRefuses breaks each check of RFC 9449 §4.3 in turn.
func TestCheckRefuses(t *testing.T) {
	k := testenv.NewDPoPKey(t, "ES256")
	other := testenv.NewDPoPKey(t, "ES256")
	now := time.Now()
	req := dpop.Request{Method: "POST", URL: tokenURL}
	good := func(o testenv.ProofOpts) string { return k.Proof(t, "POST", tokenURL, o) }
	hs256 := func() string {
		// alg HS256 over the same header: a MAC is no proof of a key.
		p := good(testenv.ProofOpts{})
		parts := strings.Split(p, ".")
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		h = bytes.Replace(h, []byte(`"ES256"`), []byte(`"HS256"`), 1)
		return base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "." + parts[2]
	}
	withPrivate := func() string {
		// the private key in the header (§4.3 point 7).
		jwk := map[string]any{}
		for n, v := range k.JWK() {
			jwk[n] = v
		}
		jwk["d"] = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		return good(testenv.ProofOpts{Header: map[string]any{"jwk": jwk}})
	}
	cases := []struct {
		name    string
		headers []string
		req     dpop.Request
	}{
		{"no header", nil, req},
		{"two headers", []string{good(testenv.ProofOpts{}), good(testenv.ProofOpts{})}, req},
		{"not a JWT", []string{"not.a.jwt"}, req},
		{"too long", []string{strings.Repeat("a", dpop.MaxProofLen+1)}, req},
		{"typ missing", []string{good(testenv.ProofOpts{Header: map[string]any{"typ": "-"}})}, req},
		{"typ JWT", []string{good(testenv.ProofOpts{Header: map[string]any{"typ": "JWT"}})}, req},
		{"alg none", []string{good(testenv.ProofOpts{Header: map[string]any{"alg": "none"}})}, req},
		{"alg HS256", []string{hs256()}, req},
		{"alg of another key type", []string{good(testenv.ProofOpts{Header: map[string]any{"alg": "RS256"}})}, req},
		{"no jwk", []string{good(testenv.ProofOpts{Header: map[string]any{"jwk": "-"}})}, req},
		{"private jwk", []string{withPrivate()}, req},
		{"symmetric jwk", []string{good(testenv.ProofOpts{Header: map[string]any{"jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}})}, req},
		{"signed by another key", []string{good(testenv.ProofOpts{SignWith: other})}, req},
		{"crit header", []string{good(testenv.ProofOpts{Header: map[string]any{"crit": []string{"exp"}}})}, req},
		{"jti missing", []string{good(testenv.ProofOpts{Claims: map[string]any{"jti": "-"}})}, req},
		{"jti too long", []string{good(testenv.ProofOpts{JTI: strings.Repeat("j", dpop.MaxJTILen+1)})}, req},
		{"htm missing", []string{good(testenv.ProofOpts{Claims: map[string]any{"htm": "-"}})}, req},
		{"htm GET", []string{good(testenv.ProofOpts{Claims: map[string]any{"htm": "GET"}})}, req},
		{"htm lower case", []string{good(testenv.ProofOpts{Claims: map[string]any{"htm": "post"}})}, req},
		{"htu missing", []string{good(testenv.ProofOpts{Claims: map[string]any{"htu": "-"}})}, req},
		{"htu of another endpoint", []string{good(testenv.ProofOpts{Claims: map[string]any{"htu": "https://as.example/oauth/revoke"}})}, req},
		{"htu of another host", []string{good(testenv.ProofOpts{Claims: map[string]any{"htu": "https://rs.example/oauth/token"}})}, req},
		{"htu http", []string{good(testenv.ProofOpts{Claims: map[string]any{"htu": "http://as.example/oauth/token"}})}, req},
		{"htu relative", []string{good(testenv.ProofOpts{Claims: map[string]any{"htu": "/oauth/token"}})}, req},
		{"iat missing", []string{good(testenv.ProofOpts{Claims: map[string]any{"iat": "-"}})}, req},
		{"iat a string", []string{good(testenv.ProofOpts{Claims: map[string]any{"iat": "1700000000"}})}, req},
		{"iat too old", []string{good(testenv.ProofOpts{IAT: now.Add(-dpop.DefaultMaxAge - time.Second)})}, req},
		{"iat in the future", []string{good(testenv.ProofOpts{IAT: now.Add(dpop.DefaultLeeway + 2*time.Second)})}, req},
		{"ath missing", []string{good(testenv.ProofOpts{})}, dpop.Request{Method: "POST", URL: tokenURL, AccessToken: "gat_x"}},
		{"ath of another token", []string{good(testenv.ProofOpts{AccessToken: "gat_y"})}, dpop.Request{Method: "POST", URL: tokenURL, AccessToken: "gat_x"}},
	}
	var c dpop.Checker
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Check(tc.headers, tc.req, now)
			var e *dpop.Error
			if !errors.As(err, &e) || e.Nonce {
				t.Fatalf("Check = %v, want a refusal of the proof", err)
			}
			if testing.Verbose() {
				t.Log(e.Reason)
			}
		})
	}
}

func TestCheckAth(t *testing.T) {
	k := testenv.NewDPoPKey(t, "ES256")
	var c dpop.Checker
	req := dpop.Request{Method: "DELETE", URL: "https://as.example/connections/current", AccessToken: "gat_x"}
	p := k.Proof(t, "DELETE", req.URL, testenv.ProofOpts{AccessToken: "gat_x"})
	if _, err := c.Check([]string{p}, req, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestSameURL(t *testing.T) {
	for _, tc := range []struct {
		htu  string
		same bool
	}{
		{"https://as.example/oauth/token", true},
		{"HTTPS://AS.Example/oauth/token", true},
		{"https://as.example:443/oauth/token", true},
		{"https://as.example/oauth/token?x=1", true},
		{"https://as.example/oauth/token#f", true},
		{"https://as.example/oauth/%74oken", true},
		{"https://as.example/OAUTH/token", false},
		{"https://as.example:8443/oauth/token", false},
		{"https://as.example/oauth/token/", false},
		{"https://user@as.example/oauth/token", false},
		{"", false},
	} {
		if got := dpop.SameURL(tc.htu, "https://as.example/oauth/token"); got != tc.same {
			t.Errorf("SameURL(%q) = %v, want %v", tc.htu, got, tc.same)
		}
	}
	if !dpop.SameURL("http://127.0.0.1:80/x", "http://127.0.0.1/x") || !dpop.SameURL("https://[::1]:443/", "https://[::1]") {
		t.Error("default ports or the empty path are not normalised")
	}
}

func TestNonces(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	n, err := dpop.NewNonces(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := dpop.NewNonces(bytes.Repeat([]byte{2}, 32), time.Minute)
	now := time.Unix(1_800_000_000, 0)
	cur := n.Current(now)
	switch {
	case !n.Valid(cur, now), !n.Valid(cur, now.Add(time.Minute)):
		t.Fatal("a nonce is not valid in its period and the next")
	case n.Valid(cur, now.Add(2*time.Minute)):
		t.Fatal("a nonce two periods old is valid")
	case other.Valid(cur, now):
		t.Fatal("a nonce under another key is valid")
	case n.Valid("", now), n.Valid(cur+"x", now):
		t.Fatal("a wrong nonce is valid")
	case n.Current(now.Add(time.Minute)) == cur:
		t.Fatal("the nonce does not rotate")
	}
	if _, err := dpop.NewNonces(key[:16], 0); err == nil {
		t.Fatal("a short key is accepted")
	}

	k := testenv.NewDPoPKey(t, "ES256")
	c := dpop.Checker{Nonces: n}
	req := dpop.Request{Method: "POST", URL: tokenURL}
	_, err = c.Check([]string{k.Proof(t, "POST", tokenURL, testenv.ProofOpts{IAT: now})}, req, now)
	var e *dpop.Error
	if !errors.As(err, &e) || !e.Nonce {
		t.Fatalf("a proof without a nonce: %v, want a nonce refusal", err)
	}
	_, err = c.Check([]string{k.Proof(t, "POST", tokenURL, testenv.ProofOpts{IAT: now, Nonce: other.Current(now)})}, req, now)
	if !errors.As(err, &e) || !e.Nonce {
		t.Fatalf("a proof with a foreign nonce: %v, want a nonce refusal", err)
	}
	if _, err := c.Check([]string{k.Proof(t, "POST", tokenURL, testenv.ProofOpts{IAT: now, Nonce: cur})}, req, now); err != nil {
		t.Fatal(err)
	}
}
