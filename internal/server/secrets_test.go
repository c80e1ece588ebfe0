package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// TestSecretsInTimeOrder: the codes, refresh tokens and opaque access
// tokens grantd issues carry their issue time, and their record keys begin
// with it, so keys issued later sort after earlier ones (internal/oauth,
// SecretKey).
func TestSecretsInTimeOrder(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(c *store.Client) { c.TokenFormat = store.TokenFormatOpaque })
	first := e.grant(c, oauth.Consent{ProviderID: "sandbox-bank"})
	e.clock.Advance(2e6) // 2 ms
	second := e.grant(c, oauth.Consent{ProviderID: "sandbox-bank"})
	for _, k := range []string{"access_token", "refresh_token"} {
		a, b := first.str(k), second.str(k)
		if len(a) != 4+8+43 || len(b) != len(a) {
			t.Fatalf("%s: %q, %q: not prefix, time and 256 bits", k, a, b)
		}
		ka, kb := oauth.SecretKey(a), oauth.SecretKey(b)
		if len(ka) != 6+32 || bytes.Compare(ka, kb) >= 0 {
			t.Fatalf("%s: keys %x then %x: not in time order", k, ka, kb)
		}
	}
	if rt := second.str("refresh_token"); e.refresh(c, rt, "").Status != 200 {
		t.Fatal("refresh with a time-ordered token failed")
	}
	if e.introspect(c, first.str("access_token"))["active"] != true {
		t.Fatal("a time-ordered opaque access token is not active")
	}
}

// TestSecretsOfTheOldShape: refresh tokens and opaque access tokens issued
// before secrets carried their issue time (prefix and 43 characters, keyed
// by their plain SHA-256) keep working after an upgrade, and a time-ordered
// secret whose time was altered is not found.
func TestSecretsOfTheOldShape(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(func(c *store.Client) { c.TokenFormat = store.TokenFormatOpaque })
	r := e.grant(c, oauth.Consent{ProviderID: "sandbox-bank"})
	rt := r.str("refresh_token")
	now := e.clock.Now()

	oldRT := oauth.PrefixRefreshToken + oauth.RandomToken(32)
	oldAT := oauth.PrefixAccessToken + oauth.RandomToken(32)
	err := e.store.Decide(ctx, store.GrantKey{RefreshHash: oauth.SecretKey(rt)}, func(l store.Locked) (store.Writes, error) {
		return store.Writes{At: now,
			RefreshToken: &store.RefreshToken{Hash: store.Hash(oldRT), FamilyID: l.Family.ID, CreatedAt: now},
			AccessToken: &store.AccessToken{ID: hex.EncodeToString(store.Hash(oldAT)), ClientID: c.ID, Subject: l.Family.Subject,
				FamilyID: l.Family.ID, ConnectionID: l.Family.ConnectionID, Scopes: l.Family.Scopes,
				Format: store.TokenFormatOpaque, CreatedAt: now, ExpiresAt: now.Add(oauth.DefaultAccessTokenTTL)},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(oauth.SecretKey(oldRT), store.Hash(oldRT)) {
		t.Fatal("an old-shape secret's key is not its SHA-256")
	}
	if got := e.introspect(c, oldAT); got["active"] != true || got["client_id"] != c.ID {
		t.Fatalf("old-shape opaque access token: %v", got)
	}
	if got := e.introspect(c, oldRT); got["active"] != true {
		t.Fatalf("old-shape refresh token: %v", got)
	}
	next := e.refresh(c, oldRT, "")
	if next.Status != 200 || len(next.str("refresh_token")) != 4+8+43 {
		t.Fatalf("refresh with an old-shape token: %d %s", next.Status, next.Body)
	}

	// The issue time is part of what is hashed: changing it finds nothing.
	nt := next.str("refresh_token")
	i := len(oauth.PrefixRefreshToken)
	b := []byte(nt)
	b[i+7] = map[bool]byte{true: 'B', false: 'A'}[b[i+7] == 'A']
	if r := e.refresh(c, string(b), ""); r.str("error") != "invalid_grant" {
		t.Fatalf("a refresh token with its time altered: %d %s", r.Status, r.Body)
	}
	if r := e.form("/oauth/revoke", url.Values{"token": {nt}}, basic(c.ID, c.Secret)...); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if got := e.introspect(c, nt); got["active"] != false {
		t.Fatalf("a revoked time-ordered refresh token: %v", got)
	}
	if strings.Contains(nt, "=") {
		t.Fatalf("padding in %q", nt)
	}
}
