package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store/postgres/pgtest"
)

// TestServePostgresInstances runs two instances on one PostgreSQL store, as
// behind a load balancer: both are ready, a client created through one is
// seen by the other, and both publish the same signing keys.
func TestServePostgresInstances(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	env := map[string]string{
		"GRANTD_KEY_ENCRYPTION_KEY": "c2hhcmVkIGtleS1lbmNyeXB0aW9uIGtleSAzMiBieXQ=",
		"GRANTD_ADMIN_TOKEN":        "shared-admin-token-0123456789",
		"GRANTD_STORE":              dsn,
	}
	var instances []*running
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "data")
		s := startServe(t, env, "--data-dir", dir, "--key-reload-interval", "100ms",
			"--postgres-max-conns", "4", "--log-level", "error")
		instances = append(instances, s)
		if !strings.Contains(s.stdout.String(), "admin token: from GRANTD_ADMIN_TOKEN") {
			t.Errorf("instance %d: %s", i, s.stdout)
		}
	}
	for i, s := range instances {
		if code, body := get(t, s.public+"/readyz", ""); code != http.StatusOK {
			t.Errorf("instance %d: GET /readyz: %d %s", i, code, body)
		}
	}

	req, err := http.NewRequest("POST", instances[0].admin+"/admin/clients", strings.NewReader(
		`{"name":"shared","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env["GRANTD_ADMIN_TOKEN"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ClientID string `json:"client_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || created.ClientID == "" {
		t.Fatalf("POST /admin/clients: %d, %+v, %v", resp.StatusCode, created, err)
	}
	if code, body := get(t, instances[1].admin+"/admin/clients/"+created.ClientID, env["GRANTD_ADMIN_TOKEN"]); code != http.StatusOK {
		t.Errorf("the other instance does not see the client: %d %s", code, body)
	}

	kids := func(s *running) []string {
		_, body := get(t, s.public+"/.well-known/jwks.json", "")
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(body), &set); err != nil {
			t.Fatalf("jwks: %s: %v", body, err)
		}
		var ids []string
		for _, k := range set.Keys {
			ids = append(ids, k.Kid)
		}
		slices.Sort(ids)
		return ids
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, b := kids(instances[0]), kids(instances[1])
		if len(a) > 0 && slices.Equal(a, b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instances publish different keys: %q and %q", a, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve refuses a PostgreSQL store without a shared key-encryption key.
func TestServePostgresNeedsKEK(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	r := runCLI(t, map[string]string{"GRANTD_STORE": dsn}, "serve", "--data-dir", t.TempDir(),
		"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "GRANTD_KEY_ENCRYPTION_KEY") {
		t.Errorf("serve on PostgreSQL without a KEK: %+v", r)
	}
}
