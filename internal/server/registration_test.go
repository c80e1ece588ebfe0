package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/testenv"
)

// configure calls the RFC 7592 client configuration endpoint: method on
// uri with token as the Bearer credential ("" = none) and a JSON body ("" =
// none).
func configure(t *testing.T, method, uri, token, body string) registerReply {
	t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return send(t, method, uri, token, ct, body)
}

// registered registers an agent and returns the answer's client id,
// registration access token and client configuration URI.
func registered(t *testing.T, e *testenv.Env, body string) (id, token, uri string) {
	t.Helper()
	r := registerClient(t, e, "application/json", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	return r.JSON["client_id"].(string), r.JSON["registration_access_token"].(string), r.JSON["registration_client_uri"].(string)
}

const minimalRegistration = `{"redirect_uris":["http://127.0.0.1:51000/callback"]}`

// TestRegistrationAnswerHasToken: the RFC 7591 answer carries the RFC 7592
// registration access token (shown once; stored hashed) and the client
// configuration URI.
func TestRegistrationAnswerHasToken(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	e := testenv.New(t, testenv.Options{Log: logs})
	id, token, uri := registered(t, e, agentRegistration)
	if !strings.HasPrefix(token, clients.PrefixRegistrationToken) || len(token) != len(clients.PrefixRegistrationToken)+43 {
		t.Errorf("registration_access_token %q: want grat_ and 256 bits in base64url", token)
	}
	if uri != e.URL+"/oauth/register/"+id {
		t.Errorf("registration_client_uri %q", uri)
	}
	c, err := e.Store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.RegistrationTokenHash, store.Hash(token)) {
		t.Error("the store does not hold the token's hash")
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the log holds the registration access token")
	}
	_, token2, _ := registered(t, e, agentRegistration)
	if token2 == token {
		t.Error("two registrations got one token")
	}
}

func TestRegistrationRead(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	reg := registerClient(t, e, "application/json", agentRegistration)
	id, token, uri := reg.JSON["client_id"].(string), reg.JSON["registration_access_token"].(string), reg.JSON["registration_client_uri"].(string)
	r := configure(t, http.MethodGet, uri, token, "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.Status, r.Body)
	}
	// What registration answered, the token presented included (RFC 7592
	// §3 makes it REQUIRED).
	want := maps.Clone(reg.JSON)
	if got := testenv.Keys(r.JSON); !slices.Equal(got, testenv.Keys(want)) {
		t.Errorf("GET fields %v, want %v", got, testenv.Keys(want))
	}
	for k, v := range want {
		if !jsonEqual(r.JSON[k], v) {
			t.Errorf("GET %s = %v, registration answered %v", k, r.JSON[k], v)
		}
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
		t.Errorf("headers %v", r.Header)
	}
	if r.JSON["client_id"] != id || r.JSON["registration_access_token"] != token {
		t.Errorf("client_id %v, registration_access_token %v", r.JSON["client_id"], r.JSON["registration_access_token"])
	}
	// Reading does not rotate the token.
	if r := configure(t, http.MethodGet, uri, token, ""); r.Status != http.StatusOK {
		t.Errorf("second GET: %d %s", r.Status, r.Body)
	}
}

// TestRegistrationTokenRefused: a wrong token, another client's token, an
// unknown client, an operator's client (which has no token) and a token
// that is not one get the same 401 invalid_token with a Bearer challenge,
// at every method; no token gets the challenge without an error code.
func TestRegistrationTokenRefused(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	id, token, uri := registered(t, e, agentRegistration)
	_, other, _ := registered(t, e, agentRegistration)
	operators, _ := e.Client(t, func(c *store.Client) { c.AuthMethod = store.AuthMethodNone })
	base := e.URL + "/oauth/register/"
	update := `{"client_id":"` + id + `","redirect_uris":["http://127.0.0.1:51000/callback"]}`
	cases := []struct{ name, uri, token string }{
		{"wrong token", uri, clients.PrefixRegistrationToken + oauth.RandomToken(32)},
		{"another client's token", uri, other},
		{"unknown client", base + uuid.NewString(), token},
		{"operator's client", base + operators.ID, token},
		{"not a registration token", uri, "gat_" + oauth.RandomToken(32)},
		{"the token of the path's client, mangled", uri, token + "x"},
		{"an overlong token", uri, clients.PrefixRegistrationToken + strings.Repeat("a", 600)},
		{"an overlong client id", base + strings.Repeat("a", 300), token},
	}
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		var first []byte
		for _, tc := range cases {
			t.Run(method+" "+tc.name, func(t *testing.T) {
				body := ""
				if method == http.MethodPut {
					body = update
				}
				r := configure(t, method, tc.uri, tc.token, body)
				if r.Status != http.StatusUnauthorized || r.JSON["error"] != "invalid_token" ||
					r.Header.Get("WWW-Authenticate") != `Bearer realm="grantd", error="invalid_token"` {
					t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
				}
				if first == nil {
					first = r.Body
				} else if !bytes.Equal(r.Body, first) {
					t.Errorf("answer %s differs from %s", r.Body, first)
				}
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
				}
				testenv.CheckNoEcho(t, r.Body, []string{token, other})
			})
		}
		r := configure(t, method, uri, "", "")
		if r.Status != http.StatusUnauthorized || r.JSON["error"] != "invalid_token" || r.Header.Get("WWW-Authenticate") != `Bearer realm="grantd"` {
			t.Errorf("%s without a token: %d %v %s", method, r.Status, r.Header, r.Body)
		}
	}
	// The token is checked before the body is read: with a wrong token, a
	// body that would be refused (not JSON, a server field, oversized)
	// still gets the token's 401, so that a caller without a token learns
	// nothing of the validation.
	wrong := clients.PrefixRegistrationToken + oauth.RandomToken(32)
	for name, b := range map[string]struct{ ct, body string }{
		"form":         {"application/x-www-form-urlencoded", "client_id=" + id},
		"server field": {"application/json", `{"client_id":"` + id + `","client_id_issued_at":1}`},
		"oversized":    {"application/json", `{"x":"` + strings.Repeat("a", 20<<10) + `"}`},
	} {
		if r := send(t, http.MethodPut, uri, wrong, b.ct, b.body); r.Status != http.StatusUnauthorized || r.JSON["error"] != "invalid_token" {
			t.Errorf("PUT with a wrong token and a bad body (%s): %d %s", name, r.Status, r.Body)
		}
	}
	// Nothing changed and nothing was deleted: the right token still reads.
	if r := configure(t, http.MethodGet, uri, token, ""); r.Status != http.StatusOK {
		t.Errorf("GET with the right token afterwards: %d %s", r.Status, r.Body)
	}
	if _, err := e.Store.GetClient(context.Background(), operators.ID); err != nil {
		t.Errorf("the operator's client: %v", err)
	}
}

// TestRegistrationUpdate: PUT replaces the metadata (omitted members return
// to their defaults), keeps what the operator set, and rotates the token.
func TestRegistrationUpdate(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	e := testenv.New(t, testenv.Options{Log: logs})
	id, token, uri := registered(t, e, agentRegistration)
	ctx := context.Background()
	// What an operator set through the admin API.
	if _, err := e.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		c.Tier, c.StateReason, c.Metadata["team"] = "pro", "watched", "agents"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Store.GetClient(ctx, id)

	r := configure(t, http.MethodPut, uri, token, `{
		"client_id": "`+id+`",
		"client_name": "Example Agent CLI 2",
		"redirect_uris": ["com.example.agent:/oauth/callback"],
		"grant_types": ["authorization_code"],
		"scope": "accounts",
		"access_token_signing_alg": "ES256"
	}`)
	if r.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	fresh, _ := r.JSON["registration_access_token"].(string)
	if !strings.HasPrefix(fresh, clients.PrefixRegistrationToken) || fresh == token {
		t.Fatalf("PUT answered the token %q (old %q)", fresh, token)
	}
	if r.JSON["client_name"] != "Example Agent CLI 2" || r.JSON["scope"] != "accounts" ||
		r.JSON["access_token_signing_alg"] != "ES256" || r.JSON["registration_client_uri"] != uri ||
		r.JSON["client_id"] != id || int64(r.JSON["client_id_issued_at"].(float64)) != before.CreatedAt.Unix() ||
		!jsonEqual(r.JSON["redirect_uris"], []any{"com.example.agent:/oauth/callback"}) ||
		!jsonEqual(r.JSON["grant_types"], []any{"authorization_code"}) {
		t.Errorf("PUT answer %s", r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	after, _ := e.Store.GetClient(ctx, id)
	if after.Name != "Example Agent CLI 2" || after.AccessTokenSigningAlg != "ES256" || !slices.Equal(after.Scopes, []string{"accounts"}) ||
		after.Tier != "pro" || after.StateReason != "watched" || after.Metadata["team"] != "agents" ||
		after.Metadata[clients.MetadataRegistration] != clients.MetadataDynamic || !after.CreatedAt.Equal(before.CreatedAt) ||
		!after.IsPublic() || !bytes.Equal(after.RegistrationTokenHash, store.Hash(fresh)) {
		t.Errorf("stored after PUT: %+v", after)
	}

	// The old token is refused; the new one works.
	if r := configure(t, http.MethodGet, uri, token, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("GET with the old token: %d %s", r.Status, r.Body)
	}
	if r := configure(t, http.MethodPut, uri, token, `{"client_id":"`+id+`","redirect_uris":["http://127.0.0.1/cb"]}`); r.Status != http.StatusUnauthorized {
		t.Errorf("PUT with the old token: %d %s", r.Status, r.Body)
	}
	r = configure(t, http.MethodGet, uri, fresh, "")
	if r.Status != http.StatusOK || r.JSON["client_name"] != "Example Agent CLI 2" {
		t.Errorf("GET with the new token: %d %s", r.Status, r.Body)
	}

	// A PUT with the minimal metadata: every omitted member returns to the
	// registration's default.
	r = configure(t, http.MethodPut, uri, fresh, `{"client_id":"`+id+`","redirect_uris":["http://127.0.0.1:51000/callback"]}`)
	if r.Status != http.StatusOK {
		t.Fatalf("minimal PUT: %d %s", r.Status, r.Body)
	}
	def := registerClient(t, e, "application/json", minimalRegistration)
	for _, k := range []string{"client_name", "grant_types", "response_types", "scope", "token_endpoint_auth_method", "access_token_signing_alg"} {
		if !jsonEqual(r.JSON[k], def.JSON[k]) {
			t.Errorf("after a minimal PUT %s = %v, a minimal registration has %v", k, r.JSON[k], def.JSON[k])
		}
	}
	for _, s := range []string{token, fresh, r.JSON["registration_access_token"].(string)} {
		if strings.Contains(logs.String(), s) {
			t.Error("the log holds a registration access token")
		}
	}
}

// TestRegistrationUpdateRefused: an update the rules refuse is an RFC 7591
// error, changes nothing and keeps the token.
func TestRegistrationUpdateRefused(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	id, token, uri := registered(t, e, agentRegistration)
	loop := `"redirect_uris":["http://127.0.0.1:51000/callback"]`
	idm := `"client_id":"` + id + `",`
	before, _ := e.Store.GetClient(context.Background(), id)
	tests := []struct {
		name, ct, body string
		status         int
		err            string
	}{
		{"no client_id", "application/json", `{` + loop + `}`, 400, "invalid_client_metadata"},
		{"another client_id", "application/json", `{"client_id":"` + uuid.NewString() + `",` + loop + `}`, 400, "invalid_client_metadata"},
		{"a client_secret", "application/json", `{` + idm + `"client_secret":"gcs_x",` + loop + `}`, 400, "invalid_client_metadata"},
		// RFC 7592 §2.2: the server's fields, of any value.
		{"registration_access_token", "application/json", `{` + idm + `"registration_access_token":"` + token + `",` + loop + `}`, 400, "invalid_client_metadata"},
		{"registration_client_uri", "application/json", `{` + idm + `"registration_client_uri":"` + uri + `",` + loop + `}`, 400, "invalid_client_metadata"},
		{"client_secret_expires_at", "application/json", `{` + idm + `"client_secret_expires_at":0,` + loop + `}`, 400, "invalid_client_metadata"},
		{"client_id_issued_at null", "application/json", `{` + idm + `"client_id_issued_at":null,` + loop + `}`, 400, "invalid_client_metadata"},
		{"https redirect", "application/json", `{` + idm + `"redirect_uris":["https://agent.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"no redirect_uris", "application/json", `{` + idm[:len(idm)-1] + `}`, 400, "invalid_redirect_uri"},
		{"confidential", "application/json", `{` + idm + loop + `,"token_endpoint_auth_method":"client_secret_basic"}`, 400, "invalid_client_metadata"},
		{"client_credentials", "application/json", `{` + idm + loop + `,"grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"scope not offered", "application/json", `{` + idm + loop + `,"scope":"admin"}`, 400, "invalid_client_metadata"},
		{"bad signing alg", "application/json", `{` + idm + loop + `,"access_token_signing_alg":"HS256"}`, 400, "invalid_client_metadata"},
		{"bidi name", "application/json", `{` + idm + loop + `,"client_name":"\u202eX"}`, 400, "invalid_client_metadata"},
		{"wrong type", "application/json", `{` + idm + `"redirect_uris":"http://127.0.0.1/cb"}`, 400, "invalid_client_metadata"},
		{"not an object", "application/json", `[]`, 400, "invalid_client_metadata"},
		{"trailing data", "application/json", `{` + idm + loop + `} {}`, 400, "invalid_client_metadata"},
		{"form body", "application/x-www-form-urlencoded", "client_id=" + id, 400, "invalid_client_metadata"},
		{"oversized", "application/json", `{` + idm + loop + `,"x":"` + strings.Repeat("a", 20<<10) + `"}`, 413, "invalid_client_metadata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, http.MethodPut, uri, token, tc.ct, tc.body)
			if r.Status != tc.status || r.JSON["error"] != tc.err || len(r.JSON) != 2 {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.err)
			}
			if d, _ := r.JSON["error_description"].(string); d == "" {
				t.Errorf("no error_description: %s", r.Body)
			}
		})
	}
	after, _ := e.Store.GetClient(context.Background(), id)
	if !bytes.Equal(after.RegistrationTokenHash, before.RegistrationTokenHash) || after.Name != before.Name ||
		!slices.Equal(after.RedirectURIs, before.RedirectURIs) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("refused updates changed the client:\nbefore %+v\nafter  %+v", before, after)
	}
	if r := configure(t, http.MethodGet, uri, token, ""); r.Status != http.StatusOK {
		t.Errorf("GET after refused updates: %d %s", r.Status, r.Body)
	}
}

// TestRegistrationDelete: DELETE removes the client and everything issued
// to it; the token then opens nothing.
func TestRegistrationDelete(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	id, token, uri := registered(t, e, agentRegistration)
	ctx := context.Background()
	c, err := e.Store.GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	g := e.Code(t, c, oauth.Consent{Subject: "agent-user", Scopes: []string{"accounts"}}, true)
	tok := testenv.Post(t, e.URL+"/oauth/token", "application/x-www-form-urlencoded", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {id}, "code": {g.Code},
		"code_verifier": {g.Verifier}, "redirect_uri": {g.RedirectURI},
	}.Encode(), nil)
	if tok.Status != http.StatusOK {
		t.Fatalf("token: %d %s", tok.Status, tok.Body)
	}
	access, refresh := tok.Str("access_token"), tok.Str("refresh_token")
	if in := e.Introspect(t, access); in["active"] != true {
		t.Fatalf("introspection before DELETE: %v", in)
	}

	r := configure(t, http.MethodDelete, uri, token, "")
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	if _, err := e.Store.GetClient(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client after DELETE: %v", err)
	}
	for _, tk := range []string{access, refresh} {
		if in := e.Introspect(t, tk); in["active"] != false {
			t.Errorf("a token of the deleted client introspects %v", in)
		}
	}
	rt := testenv.Post(t, e.URL+"/oauth/token", "application/x-www-form-urlencoded", url.Values{
		"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {refresh},
	}.Encode(), nil)
	if rt.Status == http.StatusOK {
		t.Errorf("refresh after DELETE: %d %s", rt.Status, rt.Body)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		if r := configure(t, method, uri, token, ""); r.Status != http.StatusUnauthorized || r.JSON["error"] != "invalid_token" {
			t.Errorf("%s after DELETE: %d %s", method, r.Status, r.Body)
		}
	}
}

// TestRegistrationMethods: other methods are 405 with Allow, in the JSON
// error shape, whatever the token.
func TestRegistrationMethods(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	_, token, uri := registered(t, e, minimalRegistration)
	for _, method := range []string{http.MethodPost, http.MethodPatch, http.MethodOptions} {
		for _, tk := range []string{token, ""} {
			r := configure(t, method, uri, tk, "")
			if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, PUT, DELETE" ||
				r.JSON["error"] != "invalid_request" || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: %d %v %s", method, r.Status, r.Header, r.Body)
			}
		}
	}
	// No client id: not the endpoint.
	if r := configure(t, http.MethodGet, e.URL+"/oauth/register/", token, ""); r.Status != http.StatusNotFound {
		t.Errorf("GET /oauth/register/: %d %s", r.Status, r.Body)
	}
}

// TestRegistrationSigningAlg: access_token_signing_alg is an RFC 7591
// member too, checked against the server's algorithms.
func TestRegistrationSigningAlg(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	for _, alg := range clients.SigningAlgorithms {
		r := registerClient(t, e, "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"access_token_signing_alg":"`+alg+`"}`)
		if r.Status != http.StatusCreated || r.JSON["access_token_signing_alg"] != alg {
			t.Fatalf("%s: %d %s", alg, r.Status, r.Body)
		}
		c, _ := e.Store.GetClient(context.Background(), r.JSON["client_id"].(string))
		if c.AccessTokenSigningAlg != alg {
			t.Errorf("%s stored as %q", alg, c.AccessTokenSigningAlg)
		}
	}
	for _, alg := range []string{"HS256", "none", "rs256"} {
		r := registerClient(t, e, "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"access_token_signing_alg":"`+alg+`"}`)
		if r.Status != http.StatusBadRequest || r.JSON["error"] != "invalid_client_metadata" ||
			!strings.Contains(string(r.Body), "access_token_signing_alg") {
			t.Errorf("%s: %d %s", alg, r.Status, r.Body)
		}
	}
	r := registerClient(t, e, "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"access_token_signing_alg":256}`)
	if r.Status != http.StatusBadRequest || r.JSON["error"] != "invalid_client_metadata" {
		t.Errorf("a number: %d %s", r.Status, r.Body)
	}
}

// TestMetadataSigningAlgorithms: the metadata lists the algorithms a client
// may name, when the server is given them.
func TestMetadataSigningAlgorithms(t *testing.T) {
	e := newEnv(t)
	for _, algs := range [][]string{nil, {"RS256", "ES256"}} {
		s := server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store, SigningAlgorithms: algs,
			Logger: slog.New(slog.DiscardHandler)})
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
		var md map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("metadata: %d %v", rec.Code, err)
		}
		got, present := md["access_token_signing_alg_values_supported"]
		switch {
		case algs == nil && present:
			t.Errorf("listed %v without algorithms", got)
		case algs != nil && !jsonEqual(got, []any{"RS256", "ES256"}):
			t.Errorf("access_token_signing_alg_values_supported = %v", got)
		}
	}
}

// jsonEqual compares two decoded JSON values.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestClientSigningAlg: a client's access_token_signing_alg picks the
// algorithm of its JWT access tokens; a client that names none gets the
// server's default.
func TestClientSigningAlg(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sg, err := signer.New(ctx, signer.Options{Store: st, KEK: make([]byte, 32), Algorithm: "RS256", Algorithms: clients.SigningAlgorithms})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	p := &oauth.Provider{Store: st, Signer: sg, Issuer: srv.URL, Logger: slog.New(slog.DiscardHandler)}
	srv.Config.Handler = server.New(server.Options{Provider: p, Keys: sg, Store: st, Logger: slog.New(slog.DiscardHandler),
		SigningAlgorithms: clients.SigningAlgorithms}).Handler()
	m := &clients.Manager{Store: st}
	for _, alg := range append([]string{""}, clients.SigningAlgorithms...) {
		c, secret, err := m.Create(ctx, clients.Params{Name: "App " + alg, AccessTokenSigningAlg: alg, Scope: "accounts"})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ID)+":"+url.QueryEscape(secret)))}}
		r := testenv.Post(t, srv.URL+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", h)
		if r.Status != http.StatusOK {
			t.Fatalf("%q: token %d %s", alg, r.Status, r.Body)
		}
		head, _, _ := strings.Cut(r.Str("access_token"), ".")
		raw, _ := base64.RawURLEncoding.DecodeString(head)
		var hdr struct{ Alg, Kid string }
		if err := json.Unmarshal(raw, &hdr); err != nil {
			t.Fatal(err)
		}
		want := alg
		if want == "" {
			want = "RS256"
		}
		if hdr.Alg != want {
			t.Errorf("client with access_token_signing_alg %q got a %s token", alg, hdr.Alg)
		}
		var claims map[string]any
		if err := sg.Verify(r.Str("access_token"), &claims); err != nil || claims["client_id"] != c.ID {
			t.Errorf("%s token does not verify: %v", want, err)
		}
	}
}
