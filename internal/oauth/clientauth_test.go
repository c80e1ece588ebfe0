package oauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
)

// TestAuthenticatePreviousSecret: a confidential client authenticates with
// its current secret, or with the one a rotation replaced while its grace
// lasts (PreviousSecretExpiresAt excluded), never after; the debug log says
// which one, never the secret.
func TestAuthenticatePreviousSecret(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	p, st := authProvider(t, &now, &logs)
	current, previous := oauth.PrefixClientSecret+oauth.RandomToken(32), oauth.PrefixClientSecret+oauth.RandomToken(32)
	expires := now.Add(time.Hour)
	c := store.Client{ID: uuid.NewString(), Name: "App", AuthMethod: store.AuthMethodBasic,
		SecretHash: store.Hash(current), PreviousSecretHash: store.Hash(previous), PreviousSecretExpiresAt: expires,
		GrantTypes: []string{oauth.GrantClientCredentials}, State: store.ClientActive, CreatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	auth := func(secret string) error {
		_, err := p.AuthenticateClient(ctx, oauth.ClientCredentials{ID: c.ID, Secret: secret, Presented: oauth.PresentedBasic})
		return err
	}
	wrong := func(err error) bool {
		var e *oauth.Error
		return errors.As(err, &e) && e.Code == oauth.ErrCodeInvalidClient && e.Reason == oauth.ReasonWrongSecret
	}

	for _, at := range []time.Time{now, expires.Add(-time.Nanosecond)} {
		now = at
		if err := auth(current); err != nil {
			t.Errorf("%s: current secret: %v", at, err)
		}
		if err := auth(previous); err != nil {
			t.Errorf("%s: previous secret within its grace: %v", at, err)
		}
	}
	for _, at := range []time.Time{expires, expires.Add(time.Hour)} {
		now = at
		if err := auth(previous); !wrong(err) {
			t.Errorf("%s: previous secret after its grace: %v", at, err)
		}
		if err := auth(current); err != nil {
			t.Errorf("%s: current secret: %v", at, err)
		}
	}
	if err := auth(oauth.PrefixClientSecret + oauth.RandomToken(32)); !wrong(err) {
		t.Errorf("another secret: %v", err)
	}
	if err := auth(""); err == nil {
		t.Error("no secret authenticated")
	}

	// The log tells which secret was used, and holds neither secret nor
	// hash.
	var used []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"msg":"client authenticated"`) {
			switch {
			case strings.Contains(line, `"secret":"current"`):
				used = append(used, "current")
			case strings.Contains(line, `"secret":"previous"`):
				used = append(used, "previous")
			default:
				t.Errorf("log line %s", line)
			}
		}
	}
	if strings.Join(used, " ") != "current previous current previous current current" {
		t.Errorf("logged secrets used: %v", used)
	}
	for _, s := range []string{current, previous} {
		h := store.Hash(s)
		for _, form := range []string{s, hex.EncodeToString(h), base64.StdEncoding.EncodeToString(h), base64.RawURLEncoding.EncodeToString(h)} {
			if strings.Contains(logs.String(), form) {
				t.Errorf("the log holds a secret or its hash (%.8s…)", form)
			}
		}
	}
}

// TestAuthenticateWithoutPreviousSecret: a client that never rotated, or
// whose previous secret was dropped, has only its current secret; a stale
// expiry without a hash opens nothing.
func TestAuthenticateWithoutPreviousSecret(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p, st := authProvider(t, &now, io.Discard)
	current := oauth.PrefixClientSecret + oauth.RandomToken(32)
	c := store.Client{ID: uuid.NewString(), Name: "App", AuthMethod: store.AuthMethodPost, SecretHash: store.Hash(current),
		PreviousSecretExpiresAt: now.Add(time.Hour), GrantTypes: []string{oauth.GrantClientCredentials},
		State: store.ClientActive, CreatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	for secret, ok := range map[string]bool{current: true, "": false, oauth.PrefixClientSecret: false} {
		_, err := p.AuthenticateClient(ctx, oauth.ClientCredentials{ID: c.ID, Secret: secret, Presented: oauth.PresentedPost})
		if (err == nil) != ok {
			t.Errorf("secret %.8q: %v", secret, err)
		}
	}
}

// authProvider is the core on a SQLite file, with the clock *now and a
// debug log into logs.
func authProvider(t *testing.T, now *time.Time, logs io.Writer) (*oauth.Provider, *sqlite.Store) {
	t.Helper()
	return authProviderAt(t, filepath.Join(t.TempDir(), "grantd.db"), now, logs)
}

// authProviderAt is authProvider on the SQLite file at path.
func authProviderAt(t *testing.T, path string, now *time.Time, logs io.Writer) (*oauth.Provider, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &oauth.Provider{Store: st, Issuer: "https://grantd.test", Now: func() time.Time { return *now },
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, st
}

// TestAuthenticateSecretRotatedElsewhere: the store may answer a client
// from its cache, but a secret rotated by another process (a CLI command
// beside the server, another instance: here a second store on the same
// file) authenticates at once: a secret that does not match the kept copy
// is judged on the stored client.
func TestAuthenticateSecretRotatedElsewhere(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "grantd.db")
	p, st := authProviderAt(t, path, &now, io.Discard)
	old, rotated := oauth.PrefixClientSecret+oauth.RandomToken(32), oauth.PrefixClientSecret+oauth.RandomToken(32)
	c := store.Client{ID: uuid.NewString(), Name: "App", AuthMethod: store.AuthMethodBasic, SecretHash: store.Hash(old),
		GrantTypes: []string{oauth.GrantClientCredentials}, State: store.ClientActive, CreatedAt: now, FirstTokenAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	st.SetClientCacheTTL(time.Hour) // nothing expires during the test
	auth := func(secret string) error {
		_, err := p.AuthenticateClient(ctx, oauth.ClientCredentials{ID: c.ID, Secret: secret, Presented: oauth.PresentedBasic})
		return err
	}
	if err := auth(old); err != nil {
		t.Fatalf("the secret: %v", err)
	}
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.UpdateClient(ctx, c.ID, func(c *store.Client) error { c.SecretHash = store.Hash(rotated); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := auth(rotated); err != nil {
		t.Errorf("a secret rotated by another process: %v", err)
	}
	// The stored client is kept now: the replaced secret fails.
	if err := auth(old); err == nil {
		t.Errorf("the replaced secret still authenticates after the stored client was read")
	}
}
