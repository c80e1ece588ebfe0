package clients_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/store"
)

// withSeal gives m a real sealer and returns it, to open what m stored.
func withSeal(t *testing.T, m *clients.Manager) *seal.Sealer {
	t.Helper()
	s, err := seal.New(bytes.Repeat([]byte{3}, seal.KeySize), "webhook-secret")
	if err != nil {
		t.Fatal(err)
	}
	m.Seal = s.Seal
	return s
}

// openSecret checks the stored webhook secret is secret, sealed for c.
func openSecret(t *testing.T, s *seal.Sealer, c store.Client, secret string) {
	t.Helper()
	if bytes.Contains(c.WebhookSecret, []byte(secret)) || bytes.Contains(c.WebhookSecret, []byte(secret[6:])) {
		t.Fatal("the store holds the plaintext webhook secret")
	}
	got, err := s.Open(c.WebhookSecret, c.ID)
	if err != nil || string(got) != secret {
		t.Fatalf("stored webhook secret opens to %q, %v; want the one returned", got, err)
	}
}

func wantWebhookSecret(t *testing.T, secret string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, clients.PrefixWebhookSecret))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(raw) != 32 {
		t.Fatalf("webhook secret %q is not whsec_ + 32 bytes base64url", secret)
	}
}

func TestWebhookURLValidation(t *testing.T) {
	m, _, _ := newManager(t)
	withSeal(t, m)
	ctx := context.Background()
	for _, u := range []string{
		"https://hooks.example/grantd", "https://hooks.example:8443/in?source=grantd", "http://127.0.0.1:9000/hook",
		"http://localhost/hook", "http://[::1]:8080/",
	} {
		if _, _, _, err := m.Register(ctx, clients.Params{Name: "x", WebhookURL: u}); err != nil {
			t.Errorf("webhook_url %q refused: %v", u, err)
		}
	}
	for _, tt := range []struct{ url, want string }{
		{"http://hooks.example/in", "must use https (or http on a loopback host)"},
		{"ftp://hooks.example/in", "must use https"},
		{"com.example.app:/hook", "must be an absolute URL"},
		{"/relative", "must be an absolute URL"},
		{"https:///nohost", "must be an absolute URL"},
		{"https://hooks.example/in#frag", "must not have a fragment"},
		{"https://user:pw@hooks.example/in", "must not have userinfo"},
		{"https://hooks.example/a b", "printable ASCII"},
		{"https://hooks.example/" + strings.Repeat("a", 2048), "longer than 2048"},
	} {
		_, _, _, err := m.Register(ctx, clients.Params{Name: "x", WebhookURL: tt.url})
		var ve *clients.ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.HasPrefix(ve.Problems[0], "webhook_url ") ||
			!strings.Contains(ve.Problems[0], tt.want) {
			t.Errorf("webhook_url %.40q: err = %v, want %q", tt.url, err, tt.want)
		}
	}
	// Reported with the other problems, at once.
	_, _, _, err := m.Register(ctx, clients.Params{WebhookURL: "http://x.example/"})
	var ve *clients.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Errorf("err = %v, want name and webhook_url problems", err)
	}
}

func TestWebhookSecretOnRegister(t *testing.T) {
	m, st, _ := newManager(t)
	s := withSeal(t, m)
	ctx := context.Background()

	c, clientSecret, webhookSecret, err := m.Register(ctx, clients.Params{Name: "x", WebhookURL: "https://hooks.example/in"})
	if err != nil {
		t.Fatal(err)
	}
	if clientSecret == "" || clientSecret == webhookSecret {
		t.Errorf("client secret %q", clientSecret)
	}
	wantWebhookSecret(t, webhookSecret)
	stored, _ := st.GetClient(ctx, c.ID)
	if stored.WebhookURL != "https://hooks.example/in" {
		t.Errorf("webhook_url %q", stored.WebhookURL)
	}
	openSecret(t, s, stored, webhookSecret)

	// A view of the stored client shows the URL, never the secret.
	b, _ := json.Marshal(clients.NewView(stored))
	if !bytes.Contains(b, []byte(`"webhook_url":"https://hooks.example/in"`)) || bytes.Contains(b, []byte("webhook_secret")) {
		t.Errorf("view %s", b)
	}

	// Without a webhook_url, no secret.
	c2, _, none, err := m.Register(ctx, clients.Params{Name: "y"})
	if err != nil || none != "" || c2.WebhookSecret != nil {
		t.Errorf("no webhook_url: secret %q, sealed %x, %v", none, c2.WebhookSecret, err)
	}
	b, _ = json.Marshal(clients.NewView(c2))
	if !bytes.Contains(b, []byte(`"webhook_url":""`)) {
		t.Errorf("view %s", b)
	}

	// Create cannot show a webhook secret, so it refuses a webhook_url.
	if _, _, err := m.Create(ctx, clients.Params{Name: "z", WebhookURL: "https://hooks.example/in"}); err == nil ||
		!strings.Contains(err.Error(), "webhook_url cannot be set here") {
		t.Errorf("Create with a webhook_url: %v", err)
	}
}

func TestWebhooksNeedSeal(t *testing.T) {
	m, _, _ := newManager(t) // no Seal
	ctx := context.Background()
	_, _, _, err := m.Register(ctx, clients.Params{Name: "x", WebhookURL: "https://hooks.example/in"})
	var ve *clients.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "webhook_url is not available") {
		t.Fatalf("err = %v", err)
	}
	c, _, _, err := m.Register(ctx, clients.Params{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Patch(ctx, c.ID, []byte(`{"webhook_url":"https://hooks.example/in"}`)); !errors.As(err, &ve) {
		t.Errorf("patch: %v", err)
	}
	if _, _, err := m.RotateWebhookSecret(ctx, c.ID); !errors.As(err, &ve) {
		t.Errorf("rotate: %v", err)
	}
	if _, _, err := m.Patch(ctx, c.ID, []byte(`{"name":"y"}`)); err != nil {
		t.Errorf("a patch without webhooks: %v", err)
	}
}

func TestWebhookPatchAndRotate(t *testing.T) {
	m, st, _ := newManager(t)
	s := withSeal(t, m)
	ctx := context.Background()
	c, _, _, err := m.Register(ctx, clients.Params{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}

	// The first webhook_url makes a secret, shown once.
	_, first, err := m.Patch(ctx, c.ID, []byte(`{"webhook_url":"https://hooks.example/a"}`))
	if err != nil {
		t.Fatal(err)
	}
	wantWebhookSecret(t, first)
	got, _ := st.GetClient(ctx, c.ID)
	openSecret(t, s, got, first)

	// A changed URL, or another field, keeps it and shows nothing.
	for _, body := range []string{`{"webhook_url":"https://hooks.example/b"}`, `{"name":"y"}`} {
		_, again, err := m.Patch(ctx, c.ID, []byte(body))
		if err != nil || again != "" {
			t.Fatalf("patch %s: secret %q, %v", body, again, err)
		}
		got, _ = st.GetClient(ctx, c.ID)
		openSecret(t, s, got, first)
	}
	if got.WebhookURL != "https://hooks.example/b" {
		t.Errorf("webhook_url %q", got.WebhookURL)
	}

	// An invalid URL is refused and changes nothing.
	if _, _, err := m.Patch(ctx, c.ID, []byte(`{"webhook_url":"http://hooks.example/c"}`)); err == nil {
		t.Error("http webhook_url accepted")
	}
	if got, _ = st.GetClient(ctx, c.ID); got.WebhookURL != "https://hooks.example/b" {
		t.Errorf("a refused patch changed webhook_url to %q", got.WebhookURL)
	}

	// Rotation replaces the secret.
	_, rotated, err := m.RotateWebhookSecret(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantWebhookSecret(t, rotated)
	if rotated == first {
		t.Fatal("rotation kept the secret")
	}
	got, _ = st.GetClient(ctx, c.ID)
	openSecret(t, s, got, rotated)

	// Removing the URL drops the secret; a new URL makes a new one.
	if _, none, err := m.Patch(ctx, c.ID, []byte(`{"webhook_url":null}`)); err != nil || none != "" {
		t.Fatalf("remove: %q, %v", none, err)
	}
	if got, _ = st.GetClient(ctx, c.ID); got.WebhookURL != "" || got.WebhookSecret != nil {
		t.Errorf("after removal: url %q, secret %x", got.WebhookURL, got.WebhookSecret)
	}
	var ve *clients.ValidationError
	if _, _, err := m.RotateWebhookSecret(ctx, c.ID); !errors.As(err, &ve) || !strings.Contains(err.Error(), "no webhook_url") {
		t.Errorf("rotate without a webhook_url: %v", err)
	}
	_, fresh, err := m.Patch(ctx, c.ID, []byte(`{"webhook_url":"https://hooks.example/d"}`))
	if err != nil || fresh == "" || fresh == first || fresh == rotated {
		t.Fatalf("new URL: secret %q, %v", fresh, err)
	}
	got, _ = st.GetClient(ctx, c.ID)
	openSecret(t, s, got, fresh)

	if _, _, err := m.RotateWebhookSecret(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rotate an unknown client: %v", err)
	}
}
