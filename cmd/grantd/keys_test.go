package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
)

func TestKeysCommands(t *testing.T) {
	env := map[string]string{"GRANTD_DATA_DIR": t.TempDir(), "GRANTD_SIGNING_ALGORITHM": "ES256",
		"GRANTD_SIGNING_ALGORITHMS": "ES256,EdDSA"}
	if got := mustRun(t, env, "keys", "list"); got != "KID  ALG  STATE  CREATED  ACTIVATES  KEEP UNTIL\n" {
		t.Errorf("keys list on an empty store: %q", got)
	}
	first := mustRun(t, env, "keys", "rotate")
	if n := strings.Count(first, "first signing key "); n != 2 || !strings.Contains(first, "(ES256) created, signing now") {
		t.Errorf("first rotate: %q", first)
	}
	got := mustRun(t, env, "keys", "rotate")
	next := regexp.MustCompile(`^next (ES256|EdDSA) key \S+: published now, signs from \S+Z \(in 3m0s\)$`)
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !next.MatchString(line) {
			t.Errorf("second rotate: %q", line)
		}
	}
	if got := mustRun(t, env, "keys", "rotate", "--alg", "EdDSA", "--key-publication-delay", "10m"); !strings.HasPrefix(got, "next EdDSA key ") ||
		!strings.Contains(got, "(in 10m0s)") || strings.Count(got, "\n") != 1 {
		t.Errorf("rotate --alg EdDSA: %q", got)
	}
	if r := runCLI(t, env, "keys", "rotate", "--alg", "RS256"); r.code != 2 || !strings.Contains(r.stderr, "not among the signing algorithms") {
		t.Errorf("rotate --alg RS256: %+v", r)
	}
	var keys struct {
		Keys []struct {
			KID, Alg, State, CreatedAt, ActivatesAt, KeepUntil string
		} `json:"keys"`
	}
	raw := mustRun(t, env, "keys", "list", "--output", "json")
	if err := json.Unmarshal([]byte(raw), &keys); err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, k := range keys.Keys {
		states = append(states, k.State+" "+k.Alg)
	}
	if want := "current ES256,current EdDSA,next ES256,next EdDSA,next EdDSA"; strings.Join(states, ",") != want {
		t.Errorf("keys: %v, want %s\n%s", states, want, raw)
	}
	if !strings.Contains(raw, `"activates_at":`) || strings.Contains(raw, `"keep_until"`) {
		t.Errorf("keys JSON: %s", raw)
	}
	if text := mustRun(t, env, "keys", "list"); strings.Count(text, "\n") != 6 || !strings.Contains(text, "next") {
		t.Errorf("keys list:\n%s", text)
	}
	// A store with keys and no key-encryption key: refuse to make a new one.
	r := runCLI(t, map[string]string{"GRANTD_DATA_DIR": t.TempDir(), "GRANTD_STORE": filepath.Join(env["GRANTD_DATA_DIR"], "grantd.db")}, "keys", "rotate")
	if r.code != 1 || !strings.Contains(r.stderr, "GRANTD_KEY_ENCRYPTION_KEY") {
		t.Errorf("rotate without the KEK: %+v", r)
	}
}

// skewedClock is a database whose clock is off by skew from this machine's:
// a real one cannot be set.
type skewedClock struct{ skew time.Duration }

func (c skewedClock) DatabaseTime(context.Context) (time.Time, error) {
	return time.Now().Add(-c.skew), nil
}

// TestClockSkew: the skew keys rotate refuses and serve warns on is the
// local clock against the database's; SQLite has none; a real PostgreSQL
// here agrees with this machine.
func TestClockSkew(t *testing.T) {
	ctx := context.Background()
	for _, want := range []time.Duration{-5 * time.Minute, 0, 2 * time.Minute} {
		got, shared, err := clockSkew(ctx, skewedClock{want})
		if err != nil || !shared || got-want > time.Second || want-got > time.Second {
			t.Errorf("skew %s: got %s, %v, %v", want, got, shared, err)
		}
	}
	if got := describeSkew(-5 * time.Minute); got != "5m0s behind" {
		t.Errorf("describeSkew: %q", got)
	}
	if got := describeSkew(90 * time.Second); got != "1m30s ahead of" {
		t.Errorf("describeSkew: %q", got)
	}
	if _, shared, _ := clockSkew(ctx, struct{}{}); shared {
		t.Error("a store without a clock has a skew")
	}
	_, dsn := pgtest.Schema(t)
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, shared, err := clockSkew(ctx, st)
	if err != nil || !shared || got > maxClockSkew || got < -maxClockSkew {
		t.Errorf("PostgreSQL here: skew %s, %v, %v", got, shared, err)
	}
}
