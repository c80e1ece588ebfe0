package clients_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/grantd/grantd/internal/testenv"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
)

func newManager(t *testing.T) (*clients.Manager, *sqlite.Store, *time.Time) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &clients.Manager{Store: st, Now: func() time.Time { return now }}, st, &now
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{`"720h"`, 720 * time.Hour, false},
		{`"30m"`, 30 * time.Minute, false},
		{`3600`, time.Hour, false},
		{`0`, 0, false},
		{`-5`, -5 * time.Second, false}, // refused later by validation
		{`1.5`, 0, true},
		{`"soon"`, 0, true},
		{`true`, 0, true},
		{`99999999999999999`, 0, true},
	}
	for _, tt := range tests {
		var d clients.Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s): err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && d.D() != tt.want {
			t.Errorf("Unmarshal(%s) = %v, want %v", tt.in, d.D(), tt.want)
		}
	}
	b, err := json.Marshal(clients.Duration(90 * time.Minute))
	if err != nil || string(b) != "5400" {
		t.Errorf("Marshal(90m) = %s, %v; want 5400", b, err)
	}
	d := clients.Duration(time.Hour)
	if err := json.Unmarshal([]byte(`null`), &d); err != nil || d.D() != time.Hour {
		t.Errorf("null changed the duration: %v, %v", d.D(), err)
	}
}

func TestDecodeParams(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    string
	}{
		{"ok", `{"name":"A","access_token_ttl":"2h","metadata":{"k":"v"}}`, ""},
		{"unknown field", `{"name":"A","client_secret":"x"}`, `Unknown field(s): "client_secret"`},
		{"case-folded field", `{"NAME":"A"}`, `Unknown field(s): "NAME"`},
		{"wrong type", `{"name":5}`, "The field name is invalid"},
		{"bad duration", `{"access_token_ttl":"forever"}`, "access_token_ttl"},
		{"not an object", `[1]`, "not a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"trailing data", `{"name":"A"} {}`, "not a JSON object"},
		{"malformed", `{"name":`, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := clients.DecodeParams([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if p.Name != "A" || p.AccessTokenTTL.D() != 2*time.Hour || p.Metadata["k"] != "v" {
					t.Errorf("decoded %+v", p)
				}
				return
			}
			var oe *oauth.Error
			if !errors.As(err, &oe) || oe.Code != oauth.ErrCodeInvalidRequest || oe.Status != 400 {
				t.Fatalf("err = %v, want a 400 invalid_request *oauth.Error", err)
			}
			if !strings.Contains(oe.Description, tt.wantErr) {
				t.Errorf("description %q does not contain %q", oe.Description, tt.wantErr)
			}
		})
	}
}

func TestCreateValidation(t *testing.T) {
	m, _, _ := newManager(t)
	long := strings.Repeat("a", 2040)
	tests := []struct {
		name string
		p    clients.Params
		want []string // substrings, each in its own problem
	}{
		{"no name", clients.Params{}, []string{"name is required"}},
		{"long name", clients.Params{Name: strings.Repeat("é", 201)}, []string{"name is longer than 200"}},
		{"control char in name", clients.Params{Name: "a\nb"}, []string{"control characters"}},
		{"bidi override in name", clients.Params{Name: "Bank\u202eexe.txt"}, []string{"bidi controls"}},
		{"zero-width space in name", clients.Params{Name: "Pay\u200bPal"}, []string{"invisible characters"}},
		{"redirect port 0", clients.Params{Name: "x", RedirectURIs: []string{"http://127.0.0.1:0/cb"}}, []string{"port from 1 to 65535"}},
		{"redirect port 65536", clients.Params{Name: "x", RedirectURIs: []string{"https://app.example:65536/cb"}}, []string{"port from 1 to 65535"}},
		{"unknown enums", clients.Params{Name: "x", TokenEndpointAuthMethod: "client_secret_jwt", Environment: "prod",
			State: "gone", RefreshPolicy: "sliding", AccessTokenFormat: "paseto"},
			[]string{"token_endpoint_auth_method", "environment", "state", "refresh_policy", "access_token_format"}},
		{"unknown grant", clients.Params{Name: "x", GrantTypes: []string{"password"}}, []string{`"password" is not one of`}},
		{"bad resources", clients.Params{Name: "x", AllowedResources: []string{"/relative", "https://a.example/#f", "https://ok.example/"}},
			[]string{`allowed_resources[0] "/relative"`, `allowed_resources[1] "https://a.example/#f"`}},
		{"too many resources", clients.Params{Name: "x", AllowedResources: make([]string, 21)}, []string{"allowed_resources has more than 20"}},
		{"empty grants", clients.Params{Name: "x", GrantTypes: []string{}}, []string{"grant_types must not be empty"}},
		{"unknown response type", clients.Params{Name: "x", ResponseTypes: []string{"token"}, RedirectURIs: []string{"https://a.example/cb"}},
			[]string{`"token" is not one of`}},
		{"public with client_credentials", clients.Params{Name: "x", TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"client_credentials"}}, []string{"may not use the client_credentials"}},
		{"public without code", clients.Params{Name: "x", TokenEndpointAuthMethod: "none"},
			[]string{"require at least one redirect_uri"}},
		{"public refresh only", clients.Params{Name: "x", TokenEndpointAuthMethod: "none", GrantTypes: []string{"refresh_token"},
			RedirectURIs: []string{"http://127.0.0.1/cb"}},
			[]string{"must use the authorization_code or the device code grant", "refresh_token grant requires the authorization_code or the device code grant"}},
		{"public with fixed refresh", clients.Params{Name: "x", TokenEndpointAuthMethod: "none", RefreshPolicy: "fixed",
			RedirectURIs: []string{"http://127.0.0.1/cb"}}, []string{"not allowed for public clients"}},
		{"code without redirect", clients.Params{Name: "x", GrantTypes: []string{"authorization_code"}},
			[]string{"require at least one redirect_uri"}},
		{"temp_token without redirect", clients.Params{Name: "x", ResponseTypes: []string{"temp_token"}},
			[]string{"require at least one redirect_uri"}},
		{"code response without grant", clients.Params{Name: "x", ResponseTypes: []string{"code"}},
			[]string{"response_type code requires the authorization_code grant"}},
		{"bad redirects", clients.Params{Name: "x", RedirectURIs: []string{
			"/relative", "https://a.example/cb#frag", "https://user:pw@a.example/cb", "http://a.example/cb",
			"myapp:/cb", "https:///nohost", "https://a.example/" + long, "https://a.example/a b", "com.example.app:cb",
		}}, []string{
			"redirect_uris[0] must be an absolute URI", "redirect_uris[1] must not have a fragment",
			"redirect_uris[2] must not have userinfo", "redirect_uris[3] may use http only with a loopback host",
			"redirect_uris[4] must use https", "redirect_uris[5] must name a host",
			"redirect_uris[6] is longer than 2048", "redirect_uris[7] must be printable ASCII",
			"redirect_uris[8] with a private-use scheme must have a path",
		}},
		{"too many redirects", clients.Params{Name: "x", RedirectURIs: slices.Repeat([]string{"https://a.example/cb"}, 21)},
			[]string{"more than 20 entries"}},
		{"bad scope", clients.Params{Name: "x", Scope: `accounts "quoted"`}, []string{"scope must be"}},
		{"bad tier", clients.Params{Name: "x", Tier: "gold tier"}, []string{"tier may only hold"}},
		{"durations", clients.Params{Name: "x", AccessTokenTTL: clients.Duration(25 * time.Hour),
			RefreshIdleTimeout: clients.Duration(-time.Second), RefreshTokenTTL: clients.Duration(1500 * time.Millisecond)},
			[]string{"access_token_ttl must be at most", "refresh_idle_timeout must be positive", "refresh_token_ttl must be a whole number"}},
		{"ttl with fixed policy", clients.Params{Name: "x", RefreshPolicy: "fixed", RefreshTokenTTL: clients.Duration(time.Hour)},
			[]string{"refresh_token_ttl applies only to the rotating"}},
		{"bad consent url", clients.Params{Name: "x", ConsentURL: "http://consent.example/"}, []string{"consent_url must use https"}},
		{"metadata", clients.Params{Name: "x", Metadata: map[string]string{"": "v", "k": strings.Repeat("v", 257)}},
			[]string{`metadata key "" must be`, `metadata["k"] must be at most 256`}},
		{"too much metadata", clients.Params{Name: "x", Metadata: func() map[string]string {
			m := map[string]string{}
			for i := range 21 {
				m[string(rune('a'+i))] = "v"
			}
			return m
		}()}, []string{"more than 20 keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := m.Create(context.Background(), tt.p)
			var ve *clients.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if len(ve.Problems) != len(tt.want) {
				t.Errorf("got %d problems, want %d: %q", len(ve.Problems), len(tt.want), ve.Problems)
			}
			for i, w := range tt.want {
				if i < len(ve.Problems) && !strings.Contains(ve.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ve.Problems[i], w)
				}
			}
			if !strings.Contains(err.Error(), tt.want[0]) {
				t.Errorf("Error() = %q lacks %q", err.Error(), tt.want[0])
			}
		})
	}
	if cs, _ := m.List(context.Background()); len(cs) != 0 {
		t.Errorf("invalid registrations stored %d clients", len(cs))
	}
}

func TestCreateValidRedirects(t *testing.T) {
	m, _, _ := newManager(t)
	for _, u := range []string{
		"https://app.example/cb?x=1", "http://127.0.0.1/cb", "http://127.0.0.1:8080/cb", "http://[::1]:9000/cb",
		"http://localhost/cb", "com.example.app:/oauth2redirect", "com.example.app://cb",
	} {
		if _, _, err := m.Create(context.Background(), clients.Params{Name: "x", RedirectURIs: []string{u}}); err != nil {
			t.Errorf("redirect %q refused: %v", u, err)
		}
	}
}

func TestCreateDefaultsAndSecret(t *testing.T) {
	m, st, now := newManager(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		p          clients.Params
		wantPublic bool
		wantGrants []string
		wantResp   []string
	}{
		{"machine client", clients.Params{Name: "Backend"}, false,
			[]string{"client_credentials"}, []string{}},
		{"web app", clients.Params{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}}, false,
			[]string{"authorization_code", "refresh_token"}, []string{"code"}},
		{"public cli", clients.Params{Name: "CLI", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"http://127.0.0.1/cb"}}, true,
			[]string{"authorization_code", "refresh_token"}, []string{"code"}},
		{"temp token", clients.Params{Name: "TT", ResponseTypes: []string{"temp_token"}, RedirectURIs: []string{"https://app.example/cb"}}, false,
			[]string{"authorization_code", "refresh_token"}, []string{"temp_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, secret, err := m.Create(ctx, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if u, err := uuid.Parse(c.ID); err != nil || u.Version() != 7 {
				t.Errorf("client_id %q is not a UUIDv7", c.ID)
			}
			if tt.wantPublic {
				if secret != "" || c.SecretHash != nil || c.AuthMethod != "none" {
					t.Errorf("public client has secret %q / hash %x / method %s", secret, c.SecretHash, c.AuthMethod)
				}
			} else {
				if !strings.HasPrefix(secret, "gcs_") || len(secret) != 4+43 {
					t.Errorf("secret %q is not gcs_ + 32 bytes base64url", secret)
				}
				if c.AuthMethod != store.AuthMethodBasic {
					t.Errorf("auth method %q, want default client_secret_basic", c.AuthMethod)
				}
			}
			got, err := st.GetClient(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantPublic && !bytes.Equal(got.SecretHash, store.Hash(secret)) {
				t.Errorf("stored hash does not match the secret")
			}
			if !slices.Equal(got.GrantTypes, tt.wantGrants) || !slices.Equal(got.ResponseTypes, tt.wantResp) {
				t.Errorf("grants %q responses %q, want %q %q", got.GrantTypes, got.ResponseTypes, tt.wantGrants, tt.wantResp)
			}
			if got.Environment != "sandbox" || got.State != "active" || got.RefreshPolicy != "rotating" ||
				got.TokenFormat != "jwt" || got.AccessTokenTTL != time.Hour || got.RefreshIdleTimeout != 30*24*time.Hour ||
				got.RefreshTTL != 0 || !got.CreatedAt.Equal(*now) || !got.UpdatedAt.Equal(*now) {
				t.Errorf("defaults not applied: %+v", got)
			}
			v := clients.NewView(got)
			if v.ClientSecret != "" {
				t.Errorf("a view of a stored client shows a secret")
			}
		})
	}
}

func TestPatch(t *testing.T) {
	m, _, now := newManager(t)
	ctx := context.Background()
	base, secret, err := m.Create(ctx, clients.Params{
		Name: "Web", RedirectURIs: []string{"https://app.example/cb"}, Scope: "accounts balances",
		Tier: "gold", Metadata: map[string]string{"a": "1", "b": "2"}, AccessTokenTTL: clients.Duration(2 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	created := *now
	*now = now.Add(time.Minute)

	tests := []struct {
		name    string
		body    string
		check   func(t *testing.T, c store.Client)
		wantErr string // substring of the error; "" = success
	}{
		{"only present fields change", `{"name":"Web 2","scope":"accounts"}`, func(t *testing.T, c store.Client) {
			if c.Name != "Web 2" || !slices.Equal(c.Scopes, []string{"accounts"}) || c.Tier != "gold" ||
				c.AccessTokenTTL != 2*time.Hour || !slices.Equal(c.RedirectURIs, []string{"https://app.example/cb"}) {
				t.Errorf("patched client %+v", c)
			}
		}, ""},
		{"metadata is replaced, not merged", `{"metadata":{"c":"3"}}`, func(t *testing.T, c store.Client) {
			if len(c.Metadata) != 1 || c.Metadata["c"] != "3" {
				t.Errorf("metadata %v", c.Metadata)
			}
		}, ""},
		{"null resets to the default", `{"access_token_ttl":null,"tier":null}`, func(t *testing.T, c store.Client) {
			if c.AccessTokenTTL != time.Hour || c.Tier != "" {
				t.Errorf("ttl %v tier %q", c.AccessTokenTTL, c.Tier)
			}
		}, ""},
		{"durations as strings or seconds", `{"refresh_idle_timeout":"48h","access_token_ttl":600}`, func(t *testing.T, c store.Client) {
			if c.RefreshIdleTimeout != 48*time.Hour || c.AccessTokenTTL != 10*time.Minute {
				t.Errorf("idle %v access %v", c.RefreshIdleTimeout, c.AccessTokenTTL)
			}
		}, ""},
		{"basic to post keeps the secret", `{"token_endpoint_auth_method":"client_secret_post"}`, func(t *testing.T, c store.Client) {
			if c.AuthMethod != "client_secret_post" || !bytes.Equal(c.SecretHash, store.Hash(secret)) {
				t.Errorf("method %s, secret hash changed: %v", c.AuthMethod, !bytes.Equal(c.SecretHash, store.Hash(secret)))
			}
		}, ""},
		{"whole result re-validated", `{"redirect_uris":[]}`, nil, "require at least one redirect_uri"},
		{"several problems", `{"name":"","environment":"moon"}`, nil, "name is required; environment"},
		{"public switch refused", `{"token_endpoint_auth_method":"none","grant_types":["authorization_code"]}`, nil, "cannot change between none"},
		{"unknown field", `{"client_id":"x"}`, nil, `Unknown field(s): "client_id"`},
		{"malformed", `{"name":`, nil, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := m.Get(ctx, base.ID)
			c, _, err := m.Patch(ctx, base.ID, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				after, _ := m.Get(ctx, base.ID)
				if !slices.Equal(after.GrantTypes, before.GrantTypes) || after.Name != before.Name ||
					!slices.Equal(after.RedirectURIs, before.RedirectURIs) || after.AuthMethod != before.AuthMethod {
					t.Errorf("a refused patch changed the client")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ID != base.ID || !c.CreatedAt.Equal(created) || !c.UpdatedAt.Equal(*now) {
				t.Errorf("id %s created %v updated %v", c.ID, c.CreatedAt, c.UpdatedAt)
			}
			stored, err := m.Get(ctx, base.ID)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, stored)
		})
	}

	if _, _, err := m.Patch(ctx, uuid.NewString(), []byte(`{"name":"x"}`)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("patch of an unknown client: %v, want ErrNotFound", err)
	}
}

// TestResourceServerPersists checks the one boolean of a client survives the
// store.
func TestResourceServerPersists(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := context.Background()
	c, _, err := m.Create(ctx, clients.Params{Name: "RS", ResourceServer: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ResourceServer {
		t.Fatal("resource_server not persisted")
	}
	if _, _, err := m.Patch(ctx, c.ID, []byte(`{"resource_server":false}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Get(ctx, c.ID); got.ResourceServer {
		t.Errorf("resource_server still true after PATCH false")
	}
}

// TestSecuritySettingsPersist: allowed_resources (deduplicated) and
// require_pushed_authorization_requests are kept, shown and patched.
func TestSecuritySettingsPersist(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := context.Background()
	c, _, err := m.Create(ctx, clients.Params{Name: "FAPI", RequirePushedAuthorizationRequests: true,
		AllowedResources: []string{"https://a.example/", "urn:example:payments", "https://a.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	v := clients.NewView(got)
	if !v.RequirePushedAuthorizationRequests || !slices.Equal(v.AllowedResources, []string{"https://a.example/", "urn:example:payments"}) {
		t.Fatalf("view %+v", v)
	}
	if _, _, err := m.Patch(ctx, c.ID, []byte(`{"require_pushed_authorization_requests":false,"allowed_resources":[]}`)); err != nil {
		t.Fatal(err)
	}
	got, _ = m.Get(ctx, c.ID)
	if v := clients.NewView(got); v.RequirePushedAuthorizationRequests || len(v.AllowedResources) != 0 || v.AllowedResources == nil {
		t.Errorf("after PATCH: %v %#v", v.RequirePushedAuthorizationRequests, v.AllowedResources)
	}
}

func TestDelete(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := context.Background()
	c, _, err := m.Create(ctx, clients.Params{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
	if err := m.Delete(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestViewJSON(t *testing.T) {
	v := clients.NewView(store.Client{ID: "id", Name: "n", Scopes: []string{"a", "b"}, AccessTokenTTL: time.Hour,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))})
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["client_secret"]; ok {
		t.Errorf("client_secret present: %s", b)
	}
	for k, want := range map[string]any{
		"scope": "a b", "access_token_ttl": 3600.0, "created_at": "2026-01-02T02:04:05Z",
		"grant_types": []any{}, "metadata": map[string]any{}, "updated_at": "",
	} {
		got, _ := json.Marshal(m[k])
		w, _ := json.Marshal(want)
		if !bytes.Equal(got, w) {
			t.Errorf("%s = %s, want %s", k, got, w)
		}
	}
}

func TestConsentAndRetentionOverrides(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := context.Background()
	c, _, err := m.Create(ctx, clients.Params{Name: "x", ConsentTTL: clients.Duration(240 * time.Hour), RetentionTTL: clients.Duration(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if c.ConsentTTL != 240*time.Hour || c.RetentionTTL != 48*time.Hour {
		t.Fatalf("stored %v %v", c.ConsentTTL, c.RetentionTTL)
	}
	v := clients.NewView(c)
	if v.ConsentTTL.D() != 240*time.Hour || v.RetentionTTL.D() != 48*time.Hour {
		t.Fatalf("view %v %v", v.ConsentTTL, v.RetentionTTL)
	}
	_, _, err = m.Create(ctx, clients.Params{Name: "x", ConsentTTL: clients.Duration(-time.Hour), RetentionTTL: clients.Duration(1500 * time.Millisecond)})
	if err == nil || !strings.Contains(err.Error(), "consent_ttl must be positive") || !strings.Contains(err.Error(), "retention_ttl must be a whole number") {
		t.Fatalf("bad overrides: %v", err)
	}
}

// TestPrivateKeyJWTClients: a private_key_jwt client registers a JWK Set
// of public keys or an https jwks_uri, exactly one, gets no secret, and
// cannot rotate one; private keys, symmetric keys and both or neither of
// jwks and jwks_uri are refused, as are keys on other clients.
func TestPrivateKeyJWTClients(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := context.Background()
	k := testenv.NewDPoPKey(t, "ES256")
	jwks := testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "k1"}))
	c, secret, err := m.Create(ctx, clients.Params{Name: "FAPI", TokenEndpointAuthMethod: "private_key_jwt", JWKS: jwks,
		TokenEndpointAuthSigningAlg: "ES256"})
	if err != nil || secret != "" || len(c.SecretHash) != 0 {
		t.Fatalf("create: %v, secret %q", err, secret)
	}
	got, _ := m.Get(ctx, c.ID)
	if v := clients.NewView(got); !json.Valid(v.JWKS) || v.TokenEndpointAuthSigningAlg != "ES256" || v.TokenEndpointAuthMethod != "private_key_jwt" {
		t.Errorf("view: %+v", v)
	}
	if _, err := m.RotateSecret(ctx, c.ID, clients.SecretRotation{}); !errors.Is(err, clients.ErrPublicClient) {
		t.Errorf("rotating a private_key_jwt client's secret: %v", err)
	}
	if _, _, err := m.Create(ctx, clients.Params{Name: "by URL", TokenEndpointAuthMethod: "private_key_jwt",
		JWKSURI: "https://keys.example.com/jwks.json"}); err != nil {
		t.Errorf("create with a jwks_uri: %v", err)
	}
	symmetric := []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0"}]}`)
	private := testenv.JWKSet(t, map[string]any{"kty": "EC", "crv": "P-256", "x": k.JWK()["x"], "y": k.JWK()["y"],
		"d": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"})
	for name, p := range map[string]clients.Params{
		"no keys":                 {Name: "x", TokenEndpointAuthMethod: "private_key_jwt"},
		"both":                    {Name: "x", TokenEndpointAuthMethod: "private_key_jwt", JWKS: jwks, JWKSURI: "https://keys.example.com/"},
		"a private key":           {Name: "x", TokenEndpointAuthMethod: "private_key_jwt", JWKS: private},
		"a symmetric key":         {Name: "x", TokenEndpointAuthMethod: "private_key_jwt", JWKS: symmetric},
		"an empty set":            {Name: "x", TokenEndpointAuthMethod: "private_key_jwt", JWKS: []byte(`{"keys":[]}`)},
		"an http URL":             {Name: "x", TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "http://keys.example.com/"},
		"HS256":                   {Name: "x", TokenEndpointAuthMethod: "private_key_jwt", JWKS: jwks, TokenEndpointAuthSigningAlg: "HS256"},
		"keys on a secret client": {Name: "x", JWKS: jwks},
	} {
		var ve *clients.ValidationError
		if _, _, err := m.Create(ctx, p); !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a validation error", name, err)
		}
	}
	// The method cannot change between a secret and keys.
	if _, _, err := m.Patch(ctx, c.ID, []byte(`{"token_endpoint_auth_method":"client_secret_basic","jwks":null}`)); err == nil {
		t.Error("PATCH from private_key_jwt to client_secret_basic accepted")
	}
}

// TestFAPI2Clients: profile fapi2 holds a client to the FAPI 2.0 Security
// Profile at registration: private_key_jwt or mutual TLS only, the code
// grant only, PS256/ES256/EdDSA only (PS256 by default), fixed refresh
// tokens by default. The Manager's default profile (--fapi2) applies to
// the clients that can be held to it, and "none" opts out.
func TestFAPI2Clients(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := context.Background()
	jwks := testenv.JWKSet(t, testenv.NewDPoPKey(t, "ES256").JWKWith(map[string]any{"kid": "k"}))
	keyed := clients.Params{Name: "FAPI", TokenEndpointAuthMethod: "private_key_jwt", JWKS: jwks,
		RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"}}
	p := keyed
	p.Profile = "fapi2"
	c, _, err := m.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Security.Profile != "fapi2" || c.AccessTokenSigningAlg != "PS256" || c.RefreshPolicy != "fixed" {
		t.Errorf("fapi2 client: profile %q, alg %q, refresh %q; want fapi2, PS256, fixed", c.Security.Profile, c.AccessTokenSigningAlg, c.RefreshPolicy)
	}
	for name, mod := range map[string]func(*clients.Params){
		"a secret":           func(p *clients.Params) { p.TokenEndpointAuthMethod, p.JWKS = "client_secret_basic", nil },
		"RS256 tokens":       func(p *clients.Params) { p.AccessTokenSigningAlg = "RS256" },
		"RS256 assertions":   func(p *clients.Params) { p.TokenEndpointAuthSigningAlg = "RS256" },
		"client_credentials": func(p *clients.Params) { p.GrantTypes = []string{"client_credentials"} },
		"an unknown profile": func(p *clients.Params) { p.Profile = "fapi1" },
	} {
		q := p
		mod(&q)
		var ve *clients.ValidationError
		if _, _, err := m.Create(ctx, q); !errors.As(err, &ve) {
			t.Errorf("fapi2 with %s: %v, want a validation error", name, err)
		}
	}
	m.DefaultProfile = "fapi2"
	if c, _, _ := m.Create(ctx, keyed); c.Security.Profile != "fapi2" {
		t.Errorf("a private_key_jwt client under the default fapi2: profile %q", c.Security.Profile)
	}
	if c, _, err := m.Create(ctx, clients.Params{Name: "secret"}); err != nil || c.Security.Profile != "" {
		t.Errorf("a secret client under the default fapi2: %v, profile %q; want none", err, c.Security.Profile)
	}
	optOut := keyed
	optOut.Profile = "none"
	if c, _, _ := m.Create(ctx, optOut); c.Security.Profile != "" {
		t.Errorf("profile none under the default fapi2: %q", c.Security.Profile)
	}
}
