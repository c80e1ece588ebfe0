package admin_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/admin"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// rotationEnv is a running grantd (testenv: the public server on a real
// SQLite file, a fake clock) and the admin API over the same store and
// clock, each with its own log.
type rotationEnv struct {
	*env
	public     *testenv.Env
	publicLogs *testenv.SyncBuffer
}

func newRotationEnv(t *testing.T) *rotationEnv {
	t.Helper()
	publicLogs := &testenv.SyncBuffer{}
	pub := testenv.New(t, testenv.Options{Log: publicLogs})
	logs := &syncBuffer{}
	srv := httptest.NewServer(admin.New(admin.Options{
		Token:   adminToken,
		Clients: &clients.Manager{Store: pub.Store, Now: pub.Clock.Now},
		Store:   pub.Store,
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     pub.Clock.Now,
	}))
	t.Cleanup(srv.Close)
	return &rotationEnv{
		env:    &env{t: t, srv: srv, store: pub.Store, clock: pub.Clock, logs: logs},
		public: pub, publicLogs: publicLogs,
	}
}

// confidential registers a client_credentials client through the admin API
// and returns its id and secret.
func (e *rotationEnv) confidential() (string, string) {
	e.t.Helper()
	r := e.call("POST", "/admin/clients", `{"name":"Reporting job","grant_types":["client_credentials"],"scope":"accounts"}`)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.str("client_id"), r.str("client_secret")
}

// token asks the public token endpoint for a client_credentials token and
// returns the status and the access token.
func (e *rotationEnv) token(id, secret string) (int, string) {
	e.t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	r := testenv.Post(e.t, e.public.URL+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", h)
	return r.Status, r.Str("access_token")
}

// works checks which of secrets obtain a token at the public endpoint.
func (e *rotationEnv) works(id string, secrets map[string]bool) {
	e.t.Helper()
	for secret, want := range secrets {
		status, _ := e.token(id, secret)
		if got := status == http.StatusOK; got != want {
			e.t.Errorf("at %s the secret %.12s… gets %d, want working=%v", e.clock.Now().Format(time.RFC3339), secret, status, want)
		}
	}
}

func (e *rotationEnv) rotate(id, body string) resp {
	e.t.Helper()
	r := e.call("POST", "/admin/clients/"+id+"/secret", body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("rotate %s: %d %s", body, r.status, r.raw)
	}
	if got := keys(r.body); !slices.Equal(got, []string{"client_id", "client_secret", "previous_secret_expires_at"}) {
		e.t.Errorf("rotation answer fields %v", got)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	return r
}

// TestRotateSecretWithGrace: both secrets work until the grace ends, then
// only the new one.
func TestRotateSecretWithGrace(t *testing.T) {
	e := newRotationEnv(t)
	id, old := e.confidential()
	e.works(id, map[string]bool{old: true})

	r := e.rotate(id, "") // no body: the default grace, 24 h
	fresh := r.str("client_secret")
	until := e.clock.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	if r.str("client_id") != id || !strings.HasPrefix(fresh, "gcs_") || fresh == old || r.str("previous_secret_expires_at") != until {
		t.Fatalf("rotation: %s", r.raw)
	}
	v := e.call("GET", "/admin/clients/"+id, "")
	if v.str("previous_secret_expires_at") != until || v.str("client_secret") != "" {
		t.Errorf("client view: %s", v.raw)
	}
	e.works(id, map[string]bool{old: true, fresh: true})
	e.clock.Advance(24*time.Hour - time.Second)
	e.works(id, map[string]bool{old: true, fresh: true})
	e.clock.Advance(time.Second)
	e.works(id, map[string]bool{old: false, fresh: true})

	// A token of the new secret introspects without either secret.
	_, tok := e.token(id, fresh)
	in := e.public.Introspect(t, tok)
	if in["active"] != true {
		t.Fatalf("introspection: %v", in)
	}
	c, _ := e.store.GetClient(t.Context(), id)
	raw, _ := json.Marshal(in)
	noSecrets(t, "the introspection", string(raw), c, old, fresh)
	noSecrets(t, "the admin log", e.logs.String(), c, old, fresh)
	noSecrets(t, "the public log", e.publicLogs.String(), c, old, fresh)
	noSecrets(t, "the client view", string(v.raw), c, old, fresh)
	if !strings.Contains(e.logs.String(), `"msg":"admin: client secret rotated"`) {
		t.Errorf("the rotation is not logged:\n%s", e.logs.String())
	}
}

// TestRotateSecretAtOnce: with a grace of 0 the old secret is refused at
// once.
func TestRotateSecretAtOnce(t *testing.T) {
	e := newRotationEnv(t)
	for _, body := range []string{`{"grace":"0"}`, `{"grace":0}`, `{"grace":"0s"}`} {
		id, old := e.confidential()
		r := e.rotate(id, body)
		if v, ok := r.body["previous_secret_expires_at"]; !ok || v != nil {
			t.Errorf("%s: previous_secret_expires_at = %v, want null", body, v)
		}
		e.works(id, map[string]bool{old: false, r.str("client_secret"): true})
		if v := e.call("GET", "/admin/clients/"+id, ""); strings.Contains(string(v.raw), "previous_secret_expires_at") {
			t.Errorf("%s: the view shows a previous secret: %s", body, v.raw)
		}
	}
}

// TestRotateSecretDuringGrace: a second rotation during a grace ends the
// first secret at once; the second works for the new grace.
func TestRotateSecretDuringGrace(t *testing.T) {
	e := newRotationEnv(t)
	id, first := e.confidential()
	second := e.rotate(id, `{"grace":"1h"}`).str("client_secret")
	e.clock.Advance(10 * time.Minute)
	r := e.rotate(id, `{"grace":7200}`)
	third := r.str("client_secret")
	if want := e.clock.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339); r.str("previous_secret_expires_at") != want {
		t.Errorf("previous_secret_expires_at %q, want %q", r.str("previous_secret_expires_at"), want)
	}
	e.works(id, map[string]bool{first: false, second: true, third: true})
	e.clock.Advance(2 * time.Hour)
	e.works(id, map[string]bool{first: false, second: false, third: true})
}

func TestRotateSecretRefused(t *testing.T) {
	e := newRotationEnv(t)
	id, secret := e.confidential()
	pub := e.call("POST", "/admin/clients", `{"name":"CLI","token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb"]}`)
	if pub.status != http.StatusCreated {
		t.Fatalf("create public: %d %s", pub.status, pub.raw)
	}
	tests := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"public client", "/admin/clients/" + pub.str("client_id") + "/secret", "", 409, "public_client"},
		{"unknown client", "/admin/clients/no-such-client/secret", "", 404, "not_found"},
		{"negative grace", "/admin/clients/" + id + "/secret", `{"grace":"-1s"}`, 400, "invalid_request"},
		{"grace above 30 days", "/admin/clients/" + id + "/secret", `{"grace":"721h"}`, 400, "invalid_request"},
		{"fractional grace", "/admin/clients/" + id + "/secret", `{"grace":"1.5s"}`, 400, "invalid_request"},
		{"not a duration", "/admin/clients/" + id + "/secret", `{"grace":"a day"}`, 400, "invalid_request"},
		{"unknown field", "/admin/clients/" + id + "/secret", `{"grace":"1h","secret":"mine"}`, 400, "invalid_request"},
		{"not an object", "/admin/clients/" + id + "/secret", `"1h"`, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", tc.path, tc.body)
			if r.status != tc.status || r.str("error") != tc.code || r.str("error_description") == "" {
				t.Errorf("%d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
		})
	}
	if r := e.call("GET", "/admin/clients/"+id+"/secret", ""); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET: %d %v %s", r.status, r.header, r.raw)
	}
	if r := e.callWith("POST", "/admin/clients/"+id+"/secret", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("without the admin token: %d %s", r.status, r.raw)
	}
	// None of it changed the secret.
	e.works(id, map[string]bool{secret: true})
	if c, _ := e.store.GetClient(t.Context(), id); c.PreviousSecretHash != nil {
		t.Errorf("a refused rotation kept a previous secret")
	}
}

// noSecrets fails when text holds a secret or a hash of c's, in any
// encoding the code might use.
func noSecrets(t *testing.T, what, text string, c store.Client, secrets ...string) {
	t.Helper()
	forms := slices.Clone(secrets)
	for _, h := range [][]byte{c.SecretHash, c.PreviousSecretHash, store.Hash(secrets[0])} {
		if len(h) > 0 {
			forms = append(forms, hex.EncodeToString(h), base64.StdEncoding.EncodeToString(h), base64.RawURLEncoding.EncodeToString(h))
		}
	}
	for _, f := range forms {
		if strings.Contains(text, f) {
			t.Errorf("%s holds a secret or a secret's hash (%.10s…)", what, f)
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
