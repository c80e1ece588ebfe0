package clients_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

func grace(d time.Duration) clients.SecretRotation {
	g := clients.Duration(d)
	return clients.SecretRotation{Grace: &g}
}

// TestRotateSecret: the new secret replaces the hash; the old one moves to
// the previous hash with its grace; a rotation during the grace replaces
// the previous one; a grace of 0 keeps none.
func TestRotateSecret(t *testing.T) {
	ctx := context.Background()
	m, st, now := newManager(t)
	c, first, err := m.Create(ctx, clients.Params{Name: "App"})
	if err != nil {
		t.Fatal(err)
	}

	r, err := m.RotateSecret(ctx, c.ID, clients.SecretRotation{})
	if err != nil {
		t.Fatal(err)
	}
	second := r.Secret
	if !strings.HasPrefix(second, oauth.PrefixClientSecret) || len(second) != len(first) || second == first {
		t.Fatalf("new secret %q (first %q)", second, first)
	}
	got, _ := st.GetClient(ctx, c.ID)
	if !bytes.Equal(got.SecretHash, store.Hash(second)) || !bytes.Equal(got.PreviousSecretHash, store.Hash(first)) ||
		!got.PreviousSecretExpiresAt.Equal(now.Add(clients.DefaultSecretGrace)) || !got.UpdatedAt.Equal(*now) {
		t.Errorf("after a rotation with the default grace: %+v", got)
	}
	v := clients.NewSecretView(r)
	if v.ClientID != c.ID || v.ClientSecret != second || v.PreviousSecretExpiresAt == nil ||
		*v.PreviousSecretExpiresAt != "2026-03-02T12:00:00Z" {
		t.Errorf("view %+v", v)
	}
	if cv := clients.NewView(got); cv.PreviousSecretExpiresAt != "2026-03-02T12:00:00Z" || cv.ClientSecret != "" {
		t.Errorf("client view: %+v", cv)
	}

	// A second rotation during the grace: only the second secret is kept
	// as the previous one, with the new grace.
	*now = now.Add(time.Hour)
	r, err = m.RotateSecret(ctx, c.ID, grace(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = st.GetClient(ctx, c.ID)
	if !bytes.Equal(got.SecretHash, store.Hash(r.Secret)) || !bytes.Equal(got.PreviousSecretHash, store.Hash(second)) ||
		!got.PreviousSecretExpiresAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("after a rotation during the grace: %+v", got)
	}

	// At once: no previous secret at all.
	r, err = m.RotateSecret(ctx, c.ID, grace(0))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = st.GetClient(ctx, c.ID)
	if !bytes.Equal(got.SecretHash, store.Hash(r.Secret)) || got.PreviousSecretHash != nil || !got.PreviousSecretExpiresAt.IsZero() {
		t.Errorf("after a rotation at once: %+v", got)
	}
	if v := clients.NewSecretView(r); v.PreviousSecretExpiresAt != nil {
		t.Errorf("view after a rotation at once: %+v", v)
	}
	if cv := clients.NewView(got); cv.PreviousSecretExpiresAt != "" {
		t.Errorf("client view after a rotation at once: %+v", cv)
	}
}

func TestRotateSecretRefusals(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newManager(t)
	pub, _, err := m.Create(ctx, clients.Params{Name: "CLI", TokenEndpointAuthMethod: "none",
		RedirectURIs: []string{"http://127.0.0.1/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RotateSecret(ctx, pub.ID, clients.SecretRotation{}); !errors.Is(err, clients.ErrPublicClient) {
		t.Errorf("public client: %v", err)
	}
	if got, _ := st.GetClient(ctx, pub.ID); got.SecretHash != nil || got.PreviousSecretHash != nil {
		t.Errorf("public client changed: %+v", got)
	}
	if _, err := m.RotateSecret(ctx, "no-such-client", clients.SecretRotation{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	conf, _, err := m.Create(ctx, clients.Params{Name: "App"})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []time.Duration{-time.Second, 1500 * time.Millisecond, clients.MaxSecretGrace + time.Second} {
		_, err := m.RotateSecret(ctx, conf.ID, grace(g))
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Status != http.StatusBadRequest || oe.Code != oauth.ErrCodeInvalidRequest ||
			!strings.HasPrefix(oe.Description, "grace must") {
			t.Errorf("grace %s: %v", g, err)
		}
	}
	if got, _ := st.GetClient(ctx, conf.ID); !bytes.Equal(got.SecretHash, conf.SecretHash) || got.PreviousSecretHash != nil {
		t.Errorf("a refused rotation changed the client: %+v", got)
	}
	if _, err := m.RotateSecret(ctx, conf.ID, grace(clients.MaxSecretGrace)); err != nil {
		t.Errorf("the longest grace: %v", err)
	}
}

// TestPatchKeepsSecrets: a PATCH keeps the current and the previous secret,
// its grace and the registration access token, whatever it changes.
func TestPatchKeepsSecrets(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newManager(t)
	c, _, err := m.Create(ctx, clients.Params{Name: "App"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RotateSecret(ctx, c.ID, clients.SecretRotation{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateClient(ctx, c.ID, func(c *store.Client) error {
		c.RegistrationTokenHash = store.Hash("grat_x")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := st.GetClient(ctx, c.ID)
	after, _, err := m.Patch(ctx, c.ID, []byte(`{"name":"Renamed","token_endpoint_auth_method":"client_secret_post"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after.SecretHash, before.SecretHash) || !bytes.Equal(after.PreviousSecretHash, before.PreviousSecretHash) ||
		!after.PreviousSecretExpiresAt.Equal(before.PreviousSecretExpiresAt) ||
		!bytes.Equal(after.RegistrationTokenHash, before.RegistrationTokenHash) {
		t.Errorf("patch lost a secret:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestAccessTokenSigningAlg(t *testing.T) {
	ctx := context.Background()
	if !slices.Equal(clients.SigningAlgorithms, config.SupportedSigningAlgorithms) {
		t.Errorf("clients.SigningAlgorithms %v, config.SupportedSigningAlgorithms %v", clients.SigningAlgorithms, config.SupportedSigningAlgorithms)
	}
	m, _, _ := newManager(t)
	for _, alg := range clients.SigningAlgorithms {
		c, _, err := m.Create(ctx, clients.Params{Name: "App", AccessTokenSigningAlg: alg})
		if err != nil || c.AccessTokenSigningAlg != alg || clients.NewView(c).AccessTokenSigningAlg != alg {
			t.Errorf("%s: %+v, %v", alg, c, err)
		}
	}
	c, _, err := m.Create(ctx, clients.Params{Name: "Default"})
	if err != nil || c.AccessTokenSigningAlg != "" {
		t.Errorf("no algorithm: %q, %v", c.AccessTokenSigningAlg, err)
	}
	for alg, want := range map[string]string{
		"HS256": `access_token_signing_alg "HS256" is not one of RS256, PS256, ES256, EdDSA`,
		"none":  `access_token_signing_alg "none" is not one of`,
		"rs256": `access_token_signing_alg "rs256" is not one of`,
	} {
		if _, _, err := m.Create(ctx, clients.Params{Name: "App", AccessTokenSigningAlg: alg}); !problem(err, want) {
			t.Errorf("%s: %v", alg, err)
		}
	}
	if _, _, err := m.Create(ctx, clients.Params{Name: "App", AccessTokenSigningAlg: "ES256", AccessTokenFormat: "opaque"}); !problem(err, "applies only to access_token_format jwt") {
		t.Errorf("opaque with an algorithm: %v", err)
	}

	// The server's algorithms bound it; a client whose algorithm the server
	// dropped stays changeable, and may be given one it has.
	ps, _, err := m.Create(ctx, clients.Params{Name: "FAPI", AccessTokenSigningAlg: "PS256"})
	if err != nil {
		t.Fatal(err)
	}
	m.SigningAlgorithms = []string{"RS256", "ES256"}
	if _, _, err := m.Create(ctx, clients.Params{Name: "App", AccessTokenSigningAlg: "PS256"}); !problem(err, `access_token_signing_alg "PS256" is not one of RS256, ES256`) {
		t.Errorf("an algorithm the server does not sign with: %v", err)
	}
	if got, _, err := m.Patch(ctx, ps.ID, []byte(`{"state":"suspended"}`)); err != nil || got.AccessTokenSigningAlg != "PS256" {
		t.Errorf("patch of a client whose algorithm the server dropped: %+v, %v", got, err)
	}
	if _, _, err := m.Patch(ctx, ps.ID, []byte(`{"access_token_signing_alg":"EdDSA"}`)); !problem(err, "is not one of RS256, ES256") {
		t.Errorf("patch to an algorithm the server does not sign with: %v", err)
	}
	if got, _, err := m.Patch(ctx, ps.ID, []byte(`{"access_token_signing_alg":null}`)); err != nil || got.AccessTokenSigningAlg != "" {
		t.Errorf("null returns to the default: %+v, %v", got, err)
	}
}

// problem reports whether err is a *ValidationError with a problem
// containing want.
func problem(err error, want string) bool {
	var ve *clients.ValidationError
	return errors.As(err, &ve) && slices.ContainsFunc(ve.Problems, func(p string) bool { return strings.Contains(p, want) })
}
