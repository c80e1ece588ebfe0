package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// retryOn turns refresh retries on with window, and the server key they
// need.
func (e *env) retryOn(window time.Duration) {
	e.provider.RefreshRetryWindow, e.provider.RetryKey = window, bytes.Repeat([]byte{1}, 32)
}

// retried checks that r, the answer to a retry, is ok the same answer as
// first: the same refresh token, and the same access token (the same
// string for opaque tokens, the same jti for JWTs).
func (e *env) retried(what string, first, r response) {
	e.t.Helper()
	if r.Status != http.StatusOK || r.str("refresh_token") != first.str("refresh_token") {
		e.t.Fatalf("%s: %d %s, want the first answer again (refresh token %s)", what, r.Status, r.Body, first.str("refresh_token"))
	}
	if a, b := r.str("access_token"), first.str("access_token"); a != b && e.verifyJWT(a)["jti"] != e.verifyJWT(b)["jti"] {
		e.t.Errorf("%s: another access token (%s, want %s)", what, a, b)
	}
}

// TestRefreshRetry: with a retry window, a rotated refresh token sent
// again within it while its successor is unused gets the same answer
// again (opaque and JWT, concurrent retries alike) and writes nothing of
// it in clear; once the successor was used, after the window, with the
// window off, or by another client, it is a reuse: the family is revoked.
func TestRefreshRetry(t *testing.T) {
	for _, format := range []string{store.TokenFormatOpaque, store.TokenFormatJWT} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t)
			e.retryOn(10 * time.Second)
			c := e.client(func(c *store.Client) { c.TokenFormat = format })
			rs := e.client(func(c *store.Client) { c.ResourceServer = true })
			rt0 := e.grant(c, oauth.Consent{}).str("refresh_token")
			first := e.refresh(c, rt0, "")
			if first.Status != http.StatusOK {
				t.Fatalf("rotation: %d %s", first.Status, first.Body)
			}
			rt1 := first.str("refresh_token")
			e.clock.Advance(3 * time.Second)
			e.retried("a retry 3 s later", first, e.refresh(c, rt0, ""))

			// Concurrent retries: every one gets the same answer.
			var wg sync.WaitGroup
			answers := make([]response, 12)
			for i := range answers {
				wg.Go(func() { answers[i] = e.refresh(c, rt0, "") })
			}
			wg.Wait()
			for _, r := range answers {
				e.retried("a concurrent retry", first, r)
			}

			// The sealed answer on the rotated token's row holds nothing in clear.
			tok, _, err := e.store.GetRefreshToken(context.Background(), oauth.SecretKey(rt0))
			if err != nil || len(tok.Retry) == 0 || bytes.Contains(tok.Retry, []byte(rt1)) ||
				bytes.Contains(tok.Retry, []byte(first.str("access_token"))) {
				t.Errorf("the kept answer: %d bytes, %v (or the tokens in clear)", len(tok.Retry), err)
			}

			// The successor used: the old token again is a reuse.
			second := e.refresh(c, rt1, "")
			if second.Status != http.StatusOK {
				t.Fatalf("the successor: %d %s", second.Status, second.Body)
			}
			if r := e.refresh(c, rt0, ""); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidGrant {
				t.Fatalf("the rotated token after its successor's use: %d %s, want invalid_grant", r.Status, r.Body)
			}
			if e.introspect(rs, second.str("refresh_token"))["active"] != false {
				t.Error("the family is live after a reuse past its successor")
			}

			// After the window: a reuse.
			rt0 = e.grant(c, oauth.Consent{}).str("refresh_token")
			first = e.refresh(c, rt0, "")
			e.clock.Advance(11 * time.Second)
			if r := e.refresh(c, rt0, ""); r.Status != http.StatusBadRequest {
				t.Errorf("a retry after the window: %d %s, want 400", r.Status, r.Body)
			}
			if e.introspect(rs, first.str("refresh_token"))["active"] != false {
				t.Error("the family is live after a reuse past the window")
			}

			// Another client presenting it: refused and revoked.
			rt0 = e.grant(c, oauth.Consent{}).str("refresh_token")
			first = e.refresh(c, rt0, "")
			if r := e.refresh(e.client(), rt0, ""); r.Status != http.StatusBadRequest {
				t.Errorf("another client's retry: %d %s, want 400", r.Status, r.Body)
			}
			if e.introspect(rs, first.str("refresh_token"))["active"] != false {
				t.Error("the family is live after another client presented its rotated token")
			}

			// Its access token revoked meanwhile: not given again; a reuse.
			rt0 = e.grant(c, oauth.Consent{}).str("refresh_token")
			first = e.refresh(c, rt0, "")
			if r := e.form("/oauth/revoke", url.Values{"token": {first.str("access_token")}}, basic(c.ID, c.Secret)...); r.Status != http.StatusOK {
				t.Fatalf("revoke the access token: %d %s", r.Status, r.Body)
			}
			if r := e.refresh(c, rt0, ""); r.Status != http.StatusBadRequest {
				t.Errorf("a retry after its access token's revocation: %d %s, want 400", r.Status, r.Body)
			}
			if e.introspect(rs, first.str("refresh_token"))["active"] != false {
				t.Error("the family is live after a retry of a revoked access token")
			}

			// Another server key (a copy of the database elsewhere) opens
			// nothing: a reuse.
			rt0 = e.grant(c, oauth.Consent{}).str("refresh_token")
			first = e.refresh(c, rt0, "")
			key := e.provider.RetryKey
			e.provider.RetryKey = bytes.Repeat([]byte{7}, 32)
			if r := e.refresh(c, rt0, ""); r.Status != http.StatusBadRequest {
				t.Errorf("a retry under another server key: %d %s, want 400", r.Status, r.Body)
			}
			e.provider.RetryKey = key

			// The window off: a reuse, as ever.
			e.provider.RefreshRetryWindow = 0
			rt0 = e.grant(c, oauth.Consent{}).str("refresh_token")
			first = e.refresh(c, rt0, "")
			if r := e.refresh(c, rt0, ""); r.Status != http.StatusBadRequest {
				t.Errorf("a retry with the window off: %d %s, want 400", r.Status, r.Body)
			}
			if e.introspect(rs, first.str("refresh_token"))["active"] != false {
				t.Error("the family is live after a reuse with the window off")
			}
		})
	}
}

// TestRefreshRetryDPoP: a public client's family bound to its DPoP key
// (RFC 9449 §5): a retry with a proof of that key gets the same answer,
// bound to the same key; one with another key, or none, is a reuse.
func TestRefreshRetryDPoP(t *testing.T) {
	e := newEnv(t)
	e.retryOn(10 * time.Second)
	c := e.client(public)
	rs := e.client(func(c *store.Client) { c.ResourceServer = true })
	k, other := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256")
	start := func() (string, response) {
		q, verifier := codeRequest(c)
		cd := e.authorize(q, "alice", true).Query().Get("code")
		r := e.dpopToken(c, k, url.Values{"grant_type": {"authorization_code"}, "code": {cd}, "redirect_uri": {redirectURI},
			"code_verifier": {verifier}}, testenv.ProofOpts{})
		rt0 := r.str("refresh_token")
		first := e.dpopToken(c, k, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt0}}, testenv.ProofOpts{})
		if first.Status != http.StatusOK || first.str("token_type") != oauth.TokenTypeDPoP {
			t.Fatalf("a bound rotation: %d %s", first.Status, first.Body)
		}
		return rt0, first
	}
	rt0, first := start()
	r := e.dpopToken(c, k, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt0}}, testenv.ProofOpts{})
	e.retried("a retry with the family's key", first, r)
	if cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != k.JKT() {
		t.Errorf("the retried token's cnf %v, want the family's key", cnf)
	}
	for name, send := range map[string]func(rt string) response{
		"another key": func(rt string) response {
			return e.dpopToken(c, other, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, testenv.ProofOpts{})
		},
		"no proof": func(rt string) response { return e.refresh(c, rt, "") },
	} {
		rt0, first := start()
		if r := send(rt0); r.Status != http.StatusBadRequest {
			t.Errorf("a retry with %s: %d %s, want 400", name, r.Status, r.Body)
		}
		if e.introspect(rs, first.str("refresh_token"))["active"] != false {
			t.Errorf("the family is live after a retry with %s", name)
		}
	}
}

// TestRefreshRetryCharge: a metered client pays for a rotation once: its
// retry, the same answer, is not charged again.
func TestRefreshRetryCharge(t *testing.T) {
	e := newEnv(t)
	e.retryOn(10 * time.Second)
	pol, err := policy.New(policy.Options{GrantCosts: map[string]int64{oauth.GrantRefreshToken: 1}, DefaultTier: policy.TierEnterprise, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.provider.Policy = pol
	c := e.client(func(c *store.Client) { c.Metered = true })
	if _, _, err := e.store.AdjustBalance(t.Context(), c.ID, store.LedgerEntry{Kind: store.LedgerTopUp, Amount: 5,
		IdempotencyKey: "retry-topup", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	balance := func() int64 {
		got, err := e.store.GetClient(t.Context(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Balance
	}
	rt0 := e.grant(c, oauth.Consent{}).str("refresh_token")
	first := e.refresh(c, rt0, "")
	if first.Status != http.StatusOK || balance() != 4 {
		t.Fatalf("rotation: %d %s, balance %d, want 4", first.Status, first.Body, balance())
	}
	e.retried("a metered client's retry", first, e.refresh(c, rt0, ""))
	if b := balance(); b != 4 {
		t.Errorf("balance %d after the retry, want 4 (charged once)", b)
	}
}
