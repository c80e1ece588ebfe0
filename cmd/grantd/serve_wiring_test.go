package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/events"
)

// call sends a JSON body (or none) with an optional bearer token.
func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return resp.StatusCode, v
}

// TestServeWiring: what `serve` starts besides the listeners is wired: the
// dialects answer at their paths, the webhook worker delivers a signed
// connection.created event, and registration follows its switch.
func TestServeWiring(t *testing.T) {
	var (
		mu       sync.Mutex
		received [][]byte
		secret   []byte
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := events.Verify(secret, r.Header, body, time.Now(), events.DefaultTolerance); err != nil {
			t.Errorf("webhook signature: %v", err)
		}
		received = append(received, body)
	}))
	t.Cleanup(hook.Close)

	const admin = "wiring-admin-token-0123456789"
	s := startServe(t, map[string]string{"GRANTD_ADMIN_TOKEN": admin},
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--dynamic-registration=false")

	code, c := call(t, "POST", s.admin+"/admin/clients", admin, `{"name":"Wired","redirect_uris":["http://127.0.0.1:9876/callback"],
		"grant_types":["client_credentials","authorization_code"],"scope":"accounts","webhook_url":"`+hook.URL+`/hooks"}`)
	if code != 201 {
		t.Fatalf("create client: %d %v", code, c)
	}
	id, sec := c["client_id"].(string), c["client_secret"].(string)
	mu.Lock()
	secret = []byte(c["webhook_secret"].(string))
	mu.Unlock()

	// A dialect is mounted.
	code, tok := call(t, "POST", s.public+"/v1/oauth/token", "", `{"client_id":"`+id+`","client_secret":"`+sec+`"}`)
	if code != 200 || tok["token_type"] != "Bearer" {
		t.Fatalf("bank API dialect: %d %v", code, tok)
	}

	// A connection through the external-consent API produces an event.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
		Get(s.public + "/oauth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {id}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	ch := loc.Query().Get("challenge")
	if code, v := call(t, "POST", s.admin+"/admin/authorizations/"+ch+"/accept", admin, `{"subject":"wired-user"}`); code != 200 {
		t.Fatalf("accept: %d %v", code, v)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		var first []byte
		if n > 0 {
			first = received[0]
		}
		mu.Unlock()
		if n > 0 {
			if !bytes.Contains(first, []byte(`"type":"connection.created"`)) || !bytes.Contains(first, []byte("wired-user")) {
				t.Fatalf("event %s", first)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no webhook delivered by the running server")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Registration is off: no route, not in the metadata.
	if code, _ := call(t, "POST", s.public+"/oauth/register", "", `{"redirect_uris":["http://127.0.0.1/cb"]}`); code == 201 {
		t.Fatal("registration answered while turned off")
	}
	if _, md := call(t, "GET", s.public+"/.well-known/oauth-authorization-server", "", ""); md["registration_endpoint"] != nil {
		t.Fatalf("metadata lists registration while it is off: %v", md["registration_endpoint"])
	}
}
