package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"golang.org/x/oauth2"
)

// TestUnavailableSigningAlgorithmConsumesNothing: a client whose
// access_token_signing_alg the server does not sign with (an algorithm
// removed from --signing-algorithms after the client chose it) gets a 503
// temporarily_unavailable before anything is written: the code it
// presented still redeems once the client's algorithm is fixed, and a
// client-credentials request takes no rate.
func TestUnavailableSigningAlgorithmConsumesNothing(t *testing.T) {
	e := newEnv(t) // the signer signs RS256 only
	c := e.client(func(c *store.Client) { c.AccessTokenSigningAlg = "ES256" })

	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"scope": {"accounts"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}}
	code := e.authorize(q, "alice", true).Query().Get("code")
	if code == "" {
		t.Fatal("no code")
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}}
	r := e.tokenRequest(c, exchange)
	if r.Status != http.StatusServiceUnavailable || r.str("error") != oauth.ErrCodeTemporarilyUnavailable {
		t.Fatalf("token with an algorithm the server does not sign: %d %s, want 503 temporarily_unavailable", r.Status, r.Body)
	}
	if ra := r.Header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q for an algorithm that will not sign by waiting", ra)
	}
	r = e.tokenRequest(c, url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}})
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("client credentials: %d %s, want 503", r.Status, r.Body)
	}

	if _, err := e.store.UpdateClient(context.Background(), c.ID, func(c *store.Client) error {
		c.AccessTokenSigningAlg = ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r = e.tokenRequest(c, exchange)
	if r.Status != http.StatusOK {
		t.Fatalf("the same code once the client signs RS256: %d %s, want 200 (the refusal consumed it)", r.Status, r.Body)
	}
	e.verifyJWT(r.str("access_token"))
	tok, _, err := jwt.NewParser().ParseUnverified(r.str("access_token"), jwt.MapClaims{})
	if err != nil || tok.Method.Alg() != "RS256" {
		t.Errorf("token alg %v (%v), want RS256", tok.Method.Alg(), err)
	}
}
