package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/testenv"
)

// TestDialectWrongMethod: another method than POST on a dialect's path gets
// 405 with Allow: POST, in that dialect's own JSON error shape.
func TestDialectWrongMethod(t *testing.T) {
	e := testenv.New(t, testenv.Options{Dialects: all.Dialects()})
	for _, d := range all.Dialects() {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(method, e.URL+d.Path(), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var v map[string]any
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || json.Unmarshal(body, &v) != nil || len(v) == 0 {
				t.Errorf("%s %s (%s): %d Allow %q body %s", method, d.Path(), d.Name(), resp.StatusCode, resp.Header.Get("Allow"), body)
			}
		}
	}
}

// TestRegistrationCanBeTurnedOff: with dynamic registration off, the route
// is gone and the metadata does not list it.
func TestRegistrationCanBeTurnedOff(t *testing.T) {
	e := newEnv(t)
	s := server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store}) // no Registrar
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/oauth/register", "application/json", strings.NewReader(`{"redirect_uris":["http://127.0.0.1/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("register with registration off: %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if _, ok := md["device_authorization_endpoint"]; ok || slices.Contains(md["grant_types_supported"].([]any), any(oauth.GrantDeviceCode)) {
		t.Errorf("without the hosted pages (the device flow's verification page): metadata %v", md)
	}
	if _, ok := md["registration_endpoint"]; ok || md["issuer"] == nil {
		t.Fatalf("metadata %v", md)
	}
	for _, r := range s.Routes() {
		if strings.Contains(r, "/oauth/register") {
			t.Fatalf("route %s mounted", r)
		}
	}
}

// TestMountCollisions: a dialect moved onto a standard endpoint or onto
// another dialect's path is refused at start-up, and never panics the
// server; the standard dialect in the list is not mounted twice.
func TestMountCollisions(t *testing.T) {
	ds := all.Endpoints()
	if err := server.CheckMounts(ds, nil); err != nil {
		t.Fatalf("default paths: %v", err)
	}
	for _, mounts := range []map[string]string{
		{"payroll": "/oauth/token"}, {"bankapi": "/oauth/revoke"}, {"bankdata": "/v1/tokens"},
	} {
		if err := server.CheckMounts(ds, mounts); err == nil || !strings.Contains(err.Error(), "is taken by") {
			t.Errorf("%v: %v", mounts, err)
		}
		e := newEnv(t)
		s := server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store, Dialects: ds, Mounts: mounts})
		if n := strings.Count(strings.Join(s.Routes(), "\n"), "POST /oauth/token"); n != 1 {
			t.Errorf("%v: /oauth/token mounted %d times: %v", mounts, n, s.Routes())
		}
	}
}
