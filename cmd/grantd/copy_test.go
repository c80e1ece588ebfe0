package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/store/storetest"
)

// The copy goes through store.Copy: what it carries is each backend's
// Export and Import, which the conformance suite's Copy/RoundTrip checks
// with records that set every field (a field added to a record type fails
// there until both backends copy it).

// flow fills a store through its interface, as a server does: clients, an
// authorization request, codes with connections, a redeemed code and a
// rotated refresh token, access tokens, signing keys and events in every
// state. It returns what a check needs to find the records again.
type flow struct {
	client, other          store.Client
	req                    store.AuthRequest
	conn                   store.Connection
	used, unused           store.AuthCode
	oldRefresh, curRefresh []byte
	accessIDs              []string
}

func runFlow(t *testing.T, s store.Store) flow {
	t.Helper()
	ctx := t.Context()
	now := time.Date(2031, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var f flow
	f.client = store.Client{ID: uuid.NewString(), Name: "Budget app", SecretHash: store.Hash("s"),
		AuthMethod: store.AuthMethodBasic, GrantTypes: []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"accounts"},
		Environment: "sandbox", Tier: "gold", State: store.ClientActive, RefreshPolicy: store.RefreshRotating,
		RefreshIdleTimeout: 720 * time.Hour, AccessTokenTTL: time.Hour, TokenFormat: store.TokenFormatOpaque,
		WebhookURL: "https://hooks.example/c", WebhookSecret: []byte{1, 2, 3}, ConsentTTL: 90 * 24 * time.Hour,
		Metadata: map[string]string{"team": "payroll"}, CreatedAt: now, UpdatedAt: now}
	must("CreateClient", s.CreateClient(ctx, f.client))
	f.other = store.Client{ID: uuid.NewString(), Name: "CLI", AuthMethod: store.AuthMethodNone, State: store.ClientPending,
		CreatedAt: now.Add(time.Second)}
	must("CreateClient", s.CreateClient(ctx, f.other))

	f.req = store.AuthRequest{ID: "req-" + uuid.NewString(), ClientID: f.client.ID, ResponseType: "code",
		RedirectURI: "https://app.example/cb", Scopes: []string{"accounts"}, CSRFToken: "csrf", ProviderID: "gusto",
		ProviderFixed: true, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must("CreateAuthRequest", s.CreateAuthRequest(ctx, f.req, 0))

	f.conn = store.Connection{ID: uuid.NewString(), ClientID: f.client.ID, CustomerID: "cust", ProviderID: "gusto",
		Subject: "user-1", Products: []string{"accounts"}, Status: store.ConnectionActive, CreatedAt: now,
		ConsentExpiresAt: now.Add(90 * 24 * time.Hour), DataRetentionUntil: now.Add(120 * 24 * time.Hour)}
	f.used = store.AuthCode{Hash: store.Hash("code-1"), Kind: "code", ClientID: f.client.ID, Scopes: []string{"accounts"},
		Subject: "user-1", ConnectionID: f.conn.ID, GrantID: uuid.NewString(), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	must("CreateAuthCode", s.CreateAuthCode(ctx, f.used, &f.conn))
	conn2 := f.conn
	conn2.ID = uuid.NewString()
	f.unused = store.AuthCode{Hash: store.Hash("temp-1"), Kind: "temp_token", ClientID: f.client.ID, ConnectionID: conn2.ID,
		GrantID: uuid.NewString(), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	must("CreateAuthCode", s.CreateAuthCode(ctx, f.unused, &conn2))

	at := store.AccessToken{ID: uuid.NewString(), ClientID: f.client.ID, Subject: "user-1", FamilyID: f.used.GrantID,
		ConnectionID: f.conn.ID, Scopes: []string{"accounts"}, Format: store.TokenFormatOpaque, CreatedAt: now,
		ExpiresAt: now.Add(time.Hour)}
	f.oldRefresh = store.Hash("refresh-1")
	// The code redeemed: spent, with a family, its first refresh token and
	// an access token.
	must("Decide(code)", s.Decide(ctx, store.GrantKey{CodeHash: f.used.Hash}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now, SpendCode: true,
			Family: &store.RefreshFamily{ID: f.used.GrantID, ClientID: f.client.ID, Subject: "user-1", ConnectionID: f.conn.ID,
				Scopes: []string{"accounts"}, Policy: store.RefreshRotating, IdleTimeout: 720 * time.Hour, CreatedAt: now, LastUsedAt: now},
			RefreshToken: &store.RefreshToken{Hash: f.oldRefresh, FamilyID: f.used.GrantID, CreatedAt: now},
			AccessToken:  &at,
		}, nil
	}))
	// The refresh token rotated.
	f.curRefresh = store.Hash("refresh-2")
	at2 := at
	at2.ID, at2.CreatedAt = uuid.NewString(), now.Add(time.Minute)
	must("Decide(refresh token)", s.Decide(ctx, store.GrantKey{RefreshHash: f.oldRefresh}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now.Add(time.Minute), RotateRefreshToken: true, TouchFamily: true,
			RefreshToken: &store.RefreshToken{Hash: f.curRefresh, FamilyID: f.used.GrantID, CreatedAt: now.Add(time.Minute)},
			AccessToken:  &at2}, nil
	}))
	cc := store.AccessToken{ID: "jti-" + uuid.NewString(), ClientID: f.client.ID, Subject: f.client.ID, Format: store.TokenFormatJWT,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must("RevokeAccessToken", s.RevokeAccessToken(ctx, cc, now.Add(2*time.Minute)))
	f.accessIDs = []string{at.ID, at2.ID, cc.ID}

	var since time.Time
	for i := range 3 {
		k := store.SigningKey{ID: fmt.Sprintf("kid-%d", i), Algorithm: "RS256", EncryptedKey: []byte{byte(i), 0xFF},
			CreatedAt: now.Add(time.Duration(i) * time.Hour), ActivatesAt: now.Add(time.Duration(i)*time.Hour + 3*time.Minute),
			KeepUntil: now.Add(48 * time.Hour)}
		added, err := s.AddSigningKey(ctx, k, since)
		must("AddSigningKey", err)
		if !added {
			t.Fatalf("AddSigningKey(%s) added nothing", k.ID)
		}
		since = k.CreatedAt
	}

	es, err := s.ListEvents(ctx, f.conn.ID)
	must("ListEvents", err)
	if len(es) != 1 {
		t.Fatalf("events of the connection: %+v", es)
	}
	must("MarkEventDelivered", s.MarkEventDelivered(ctx, es[0].Seq, now.Add(time.Minute), false))
	es, err = s.ListEvents(ctx, conn2.ID)
	must("ListEvents", err)
	must("RetryEvent", s.RetryEvent(ctx, es[0].Seq, 2, now.Add(time.Hour), "HTTP 503"))
	return f
}

// snapshot is everything the store interface shows of f's records, printed:
// two stores holding the same records print the same (nil and empty lists
// print alike).
func snapshot(t *testing.T, s store.Store, f flow) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	add := func(what string, v any, err error) {
		fmt.Fprintf(&b, "%s: %+v (%v)\n", what, v, err)
	}
	cs, _, err := s.ListClients(ctx, store.Page{})
	add("clients", cs, err)
	r, err := s.GetAuthRequest(ctx, f.req.ID, f.req.CreatedAt)
	add("auth request", r, err)
	conns, _, err := s.ListConnections(ctx, "", store.Page{})
	add("connections", conns, err)
	stored := map[int64]store.Event{}
	for _, c := range conns {
		es, err := s.ListEvents(ctx, c.ID)
		add("events", es, err)
		for _, e := range es {
			stored[e.Seq] = e
		}
	}
	for _, h := range [][]byte{f.used.Hash, f.unused.Hash} {
		l, err := storetest.Peek(ctx, s, store.GrantKey{CodeHash: h})
		if err != nil {
			add("code", nil, err)
			continue
		}
		add("code", []any{*l.Code, *l.Connection}, nil)
	}
	for _, h := range [][]byte{f.oldRefresh, f.curRefresh} {
		tok, fam, err := s.GetRefreshToken(ctx, h)
		add("refresh token", []any{tok, fam}, err)
	}
	for _, id := range f.accessIDs {
		a, err := s.GetAccessToken(ctx, id)
		add("access token", a, err)
	}
	keys, err := s.ListSigningKeys(ctx)
	add("signing keys", keys, err)
	// The events a worker would claim; then the claims are given back (the
	// claim only moved next_attempt_at), so that the store is as it was.
	claimed, err := s.ClaimEvents(ctx, f.req.CreatedAt.Add(48*time.Hour), time.Minute, 100)
	add("claimed events", claimed, err)
	for _, e := range claimed {
		was := stored[e.Seq]
		if err := s.RetryEvent(ctx, e.Seq, was.Attempts, was.NextAttemptAt, was.LastError); err != nil {
			t.Fatalf("give back the claim of event %d: %v", e.Seq, err)
		}
	}
	return b.String()
}

// TestMigrateCopySQLiteToPostgres copies a store filled by a real flow from
// SQLite into PostgreSQL with the CLI, reads every record back through the
// PostgreSQL store, and goes on with the flow there; then copies it back
// into a new SQLite file.
func TestMigrateCopySQLiteToPostgres(t *testing.T) {
	ctx := t.Context()
	_, pgDSN := pgtest.Schema(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "grantd.db")
	lite, err := sqlite.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	f := runFlow(t, lite)
	want := snapshot(t, lite, f)
	if err := lite.Close(); err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, nil, "migrate", "--data-dir", dir, "--from", "sqlite://"+src, "--to", pgDSN)
	for _, line := range []string{"copied sqlite:" + src + " to postgres://", "  clients           2\n",
		"  auth_codes        2\n", "  refresh_tokens    2\n", "  access_tokens     3\n", "  signing_keys      3\n",
		"  events            2\n", "counts verified", "same key-encryption key"} {
		if !strings.Contains(out, line) {
			t.Errorf("migrate --from --to output lacks %q:\n%s", line, out)
		}
	}

	pg, err := postgres.Open(ctx, pgDSN, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if got := snapshot(t, pg, f); got != want {
		t.Errorf("PostgreSQL after the copy:\n%s\nSQLite before:\n%s", got, want)
	}

	// The flow goes on in PostgreSQL: the copied state is live. The core
	// decides on what Decide shows: the used code spent, the old refresh
	// token rotated, the temp token and the current refresh token unused.
	now := f.req.CreatedAt.Add(time.Hour)
	peek := func(what string, key store.GrantKey) store.Locked {
		t.Helper()
		l, err := storetest.Peek(ctx, pg, key)
		if err != nil {
			t.Fatalf("Decide(%s) on the copy: %v", what, err)
		}
		return l
	}
	if l := peek("used code", store.GrantKey{CodeHash: f.used.Hash}); !l.Code.UsedAt.Equal(f.req.CreatedAt) ||
		l.Connection == nil || l.Connection.ID != f.conn.ID {
		t.Errorf("the copied used code: %+v (connection %+v), want spent at %v", *l.Code, l.Connection, f.req.CreatedAt)
	}
	if l := peek("old refresh token", store.GrantKey{RefreshHash: f.oldRefresh}); l.RefreshToken.UsedAt.IsZero() {
		t.Errorf("the copied rotated refresh token: %+v, want it used", *l.RefreshToken)
	}
	if l := peek("current refresh token", store.GrantKey{RefreshHash: f.curRefresh}); !l.RefreshToken.UsedAt.IsZero() ||
		!l.Family.RevokedAt.IsZero() || !l.Family.LastUsedAt.Equal(f.req.CreatedAt.Add(time.Minute)) {
		t.Errorf("the copied current refresh token: %+v, family %+v", *l.RefreshToken, *l.Family)
	}
	if l := peek("temp token", store.GrantKey{CodeHash: f.unused.Hash}); !l.Code.UsedAt.IsZero() {
		t.Errorf("the copied unused temp token: %+v, want it unused", *l.Code)
	}
	if err := pg.Decide(ctx, store.GrantKey{CodeHash: f.unused.Hash}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now, SpendCode: true}, nil
	}); err != nil {
		t.Errorf("spend the copied unused temp token: %v", err)
	}
	if l := peek("temp token", store.GrantKey{CodeHash: f.unused.Hash}); !l.Code.UsedAt.Equal(now) {
		t.Errorf("the temp token spent on the copy: %+v, want used at %v", *l.Code, now)
	}
	if _, err := pg.RevokeConnection(ctx, f.conn.ID, now); err != nil {
		t.Fatal(err)
	}
	es, err := pg.ListEvents(ctx, f.conn.ID)
	if err != nil || len(es) != 2 || es[1].Seq <= es[0].Seq || es[1].Type != store.EventConnectionRevoked {
		t.Errorf("a new event after the copied ones: %+v, %v", es, err)
	}
	if added, err := pg.AddSigningKey(ctx, store.SigningKey{ID: "kid-new", Algorithm: "RS256", EncryptedKey: []byte{9},
		CreatedAt: now.Add(3 * time.Hour)}, now.Add(2*time.Hour)); err != nil || !added {
		t.Fatalf("a rotation after the copied keys: %v, %v", added, err)
	}
	if keys, err := pg.ListSigningKeys(ctx); err != nil || len(keys) != 4 || keys[0].ID != "kid-new" || keys[1].ID != "kid-2" {
		t.Errorf("keys after a rotation on the copy: %+v, %v", keys, err)
	}

	// A second copy into the now non-empty target is refused, and changes nothing.
	r := runCLI(t, nil, "migrate", "--data-dir", dir, "--from", "sqlite://"+src, "--to", pgDSN)
	if r.code != 1 || !strings.Contains(r.stderr, "not empty") || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("copy into a non-empty store: %+v", r)
	}
	if strings.Contains(r.stderr, "secret") {
		t.Errorf("the error shows the DSN's password: %s", r.stderr)
	}

	// And back: PostgreSQL into a new SQLite file holds what PostgreSQL holds.
	pgNow := snapshot(t, pg, f)
	back := filepath.Join(dir, "back.db")
	mustRun(t, nil, "migrate", "--data-dir", dir, "--from", pgDSN, "--to", back)
	lite, err = sqlite.Open(ctx, back)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if got := snapshot(t, lite, f); got != pgNow {
		t.Errorf("SQLite copied back:\n%s\nPostgreSQL:\n%s", got, pgNow)
	}
}

func TestMigrateCopyUsage(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, nil, "migrate", "--data-dir", dir, "--from", filepath.Join(dir, "a.db"))
	if r.code != 2 || !strings.Contains(r.stderr, "--from and --to go together") {
		t.Errorf("--from alone: %+v", r)
	}
	db := filepath.Join(dir, "a.db")
	r = runCLI(t, nil, "migrate", "--data-dir", dir, "--from", db, "--to", "sqlite://"+db)
	if r.code != 1 || !strings.Contains(r.stderr, "same store") {
		t.Errorf("same store: %+v", r)
	}
	r = runCLI(t, nil, "migrate", "--data-dir", dir, "--from", db, "--to", "mysql://x/y")
	if r.code != 1 || !strings.Contains(r.stderr, "--to") {
		t.Errorf("bad target: %+v", r)
	}
}

// SQLite to SQLite needs no PostgreSQL: the copy machinery on its own.
func TestMigrateCopySQLiteToSQLite(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	lite, err := sqlite.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	f := runFlow(t, lite)
	want := snapshot(t, lite, f)
	lite.Close()
	mustRun(t, nil, "migrate", "--data-dir", dir, "--from", src, "--to", dst)
	lite, err = sqlite.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if got := snapshot(t, lite, f); got != want {
		t.Errorf("copy:\n%s\nsource:\n%s", got, want)
	}
}

func TestMigratePostgres(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	u := strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:hunter2@", 1) // trust auth ignores it
	for range 2 {
		got := mustRun(t, nil, "migrate", "--store", u)
		if !strings.Contains(got, fmt.Sprintf(": schema version %d, up to date", postgres.LatestVersion())) ||
			strings.Contains(got, "hunter2") || !strings.HasPrefix(got, "postgres://") {
			t.Errorf("migrate: %q", got)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=require": "postgres://u:xxxxx@h:5432/db?sslmode=require",
		"postgres://u@h/db":                         "postgres://u@h/db",
		"postgres://h/db?user=u&password=pw":        "postgres://h/db?password=xxxxx&user=u",
		"postgres://u:pw@[::1":                      "postgres://(unparsable DSN)",
	} {
		if got := redactDSN(dsn); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", dsn, got, want)
		}
	}
}

// A PostgreSQL store, which several instances share, never gets a
// key-encryption key generated on one machine.
func TestLoadKEKPostgres(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Store = "postgres://u@db.example/grantd"
	_, err := loadKEK(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "GRANTD_KEY_ENCRYPTION_KEY") {
		t.Errorf("loadKEK for PostgreSQL without a key: %v", err)
	}
	cfg.KeyEncryptionKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	if k, err := loadKEK(context.Background(), cfg, nil); err != nil || len(k) != 32 {
		t.Errorf("loadKEK with GRANTD_KEY_ENCRYPTION_KEY: %d bytes, %v", len(k), err)
	}
}
