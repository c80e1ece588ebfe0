package postgres

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
	"github.com/grantd/grantd/internal/store/storetest"
	"github.com/grantd/grantd/internal/testenv"
)

// instances opens n stores (n connection pools: n grantd instances) on one
// fresh, migrated schema.
func instances(t *testing.T, n int) []*Store {
	t.Helper()
	schema, _ := pgtest.Schema(t)
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openT(t, schema)
	}
	return stores
}

// raceAll runs fn from n goroutines released at once.
func raceAll(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func tally(t *testing.T, what string, errs []error, loser error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("%s: unexpected error: %v", what, err)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d succeeded, want exactly 1 (the others %v)", what, wins, loser)
	}
}

func testClient(t *testing.T, s *Store) store.Client {
	t.Helper()
	c := store.Client{ID: uuid.NewString(), Name: "c", AuthMethod: store.AuthMethodBasic, State: store.ClientActive,
		WebhookURL: "https://hooks.example/c", CreatedAt: time.Now()}
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func testCode(clientID, connID, kind string) store.AuthCode {
	return store.AuthCode{Hash: store.Hash(uuid.NewString()), Kind: kind, ClientID: clientID, ConnectionID: connID,
		GrantID: uuid.NewString(), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
}

// grantOf is what redeeming code writes: the code spent, a rotating
// family, its first refresh token and an access token.
func grantOf(code store.AuthCode, now time.Time) store.Writes {
	return store.Writes{
		At:        now,
		SpendCode: true,
		Family: &store.RefreshFamily{ID: code.GrantID, ClientID: code.ClientID, ConnectionID: code.ConnectionID,
			Policy: store.RefreshRotating, CreatedAt: now, LastUsedAt: now},
		RefreshToken: &store.RefreshToken{Hash: store.Hash(uuid.NewString()), FamilyID: code.GrantID, CreatedAt: now},
		AccessToken: &store.AccessToken{ID: uuid.NewString(), ClientID: code.ClientID, FamilyID: code.GrantID,
			ConnectionID: code.ConnectionID, Format: store.TokenFormatOpaque, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	}
}

// counting wraps decide, counting in n the runs that see the code unused or
// the refresh token current.
func counting(n *atomic.Int32, decide func(store.Locked) (store.Writes, error)) func(store.Locked) (store.Writes, error) {
	return func(l store.Locked) (store.Writes, error) {
		if (l.Code != nil && l.Code.UsedAt.IsZero()) || (l.RefreshToken != nil && l.RefreshToken.UsedAt.IsZero()) {
			n.Add(1)
		}
		return decide(l)
	}
}

// TestExactlyOnceAcrossInstances: several instances (connection pools)
// redeem one code, one temp token, and refresh one token at the same
// instant, deciding as the core does: one decision sees the record unused
// and wins, every other sees it used (the replay or reuse answer).
func TestExactlyOnceAcrossInstances(t *testing.T) {
	const perInstance = 10
	stores := instances(t, 4)
	ctx := t.Context()
	n := len(stores) * perInstance
	c := testClient(t, stores[0])

	for _, kind := range []string{"code", "temp_token"} {
		code := testCode(c.ID, "", kind)
		if err := stores[0].CreateAuthCode(ctx, code, nil); err != nil {
			t.Fatal(err)
		}
		g := grantOf(code, time.Now())
		var unused atomic.Int32
		errs := raceAll(n, func(i int) error {
			return stores[i%len(stores)].Decide(ctx, store.GrantKey{CodeHash: code.Hash}, counting(&unused, storetest.Redeem(g)))
		})
		tally(t, "Decide("+kind+")", errs, storetest.ErrReplayed)
		if got := unused.Load(); got != 1 {
			t.Errorf("Decide(%s): %d decisions saw it unused, want 1", kind, got)
		}
	}

	code := testCode(c.ID, "", "code")
	if err := stores[0].CreateAuthCode(ctx, code, nil); err != nil {
		t.Fatal(err)
	}
	g := grantOf(code, time.Now())
	if err := stores[1].Decide(ctx, store.GrantKey{CodeHash: code.Hash}, storetest.Redeem(g)); err != nil {
		t.Fatal(err)
	}
	var current atomic.Int32
	errs := raceAll(n, func(i int) error {
		w := store.Writes{At: time.Now(), RefreshToken: &store.RefreshToken{
			Hash: store.Hash(uuid.NewString()), FamilyID: code.GrantID, CreatedAt: time.Now()}}
		return stores[i%len(stores)].Decide(ctx, store.GrantKey{RefreshHash: g.RefreshToken.Hash},
			counting(&current, storetest.Refresh(w)))
	})
	tally(t, "Decide(refresh token)", errs, storetest.ErrReused)
	if got := current.Load(); got != 1 {
		t.Errorf("Decide(refresh token): %d decisions saw it current, want 1", got)
	}
	if _, f, err := stores[2].GetRefreshToken(ctx, g.RefreshToken.Hash); err != nil || f.RevokedAt.IsZero() {
		t.Errorf("family after concurrent reuse: %+v, %v; want revoked", f, err)
	}
}

// TestRedeemRacesRevokeConnection: a redemption and a revocation of its
// connection at once, on two instances. Whichever goes first, no live
// token survives on the revoked connection: the redemption either sees the
// connection revoked (and refuses, as the core does), or commits first and
// the revocation then revokes what it issued.
func TestRedeemRacesRevokeConnection(t *testing.T) {
	stores := instances(t, 2)
	ctx := t.Context()
	c := testClient(t, stores[0])
	errRefused := errors.New("connection not active")
	for range 15 {
		now := time.Now()
		conn := store.Connection{ID: uuid.NewString(), ClientID: c.ID, Status: store.ConnectionActive, CreatedAt: now}
		code := testCode(c.ID, conn.ID, "code")
		if err := stores[0].CreateAuthCode(ctx, code, &conn); err != nil {
			t.Fatal(err)
		}
		g := grantOf(code, now)
		errs := raceAll(2, func(i int) error {
			if i == 0 {
				return stores[0].Decide(ctx, store.GrantKey{CodeHash: code.Hash}, func(l store.Locked) (store.Writes, error) {
					if l.Connection == nil || l.Connection.Status != store.ConnectionActive {
						return store.Writes{}, errRefused
					}
					return g, nil
				})
			}
			_, err := stores[1].RevokeConnection(ctx, conn.ID, now)
			return err
		})
		if errs[1] != nil {
			t.Fatalf("RevokeConnection: %v", errs[1])
		}
		switch {
		case errors.Is(errs[0], errRefused):
		case errs[0] == nil:
			if _, f, err := stores[0].GetRefreshToken(ctx, g.RefreshToken.Hash); err != nil || f.RevokedAt.IsZero() {
				t.Errorf("family issued before the revocation: %+v, %v; want revoked", f, err)
			}
			var rowRevoked bool
			if err := stores[0].pool.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM access_tokens WHERE id = $1`,
				g.AccessToken.ID).Scan(&rowRevoked); err != nil || !rowRevoked {
				t.Errorf("access token issued before the revocation: revoked_at set = %v, %v; want set", rowRevoked, err)
			}
		default:
			t.Fatalf("Decide: %v", errs[0])
		}
	}
}

// TestAddSigningKeyAcrossInstances: instances starting at once on an empty
// store each add a first key of every algorithm, then rotate at once with
// the same since: one key of each algorithm is added each time, from any
// pool, and every key has its own seq.
func TestAddSigningKeyAcrossInstances(t *testing.T) {
	stores := instances(t, 6)
	ctx := t.Context()
	algs := []string{"RS256", "PS256", "ES256", "EdDSA"}
	now := time.Now().UTC().Truncate(time.Millisecond)
	add := func(since time.Time, created time.Time) map[string]int {
		t.Helper()
		var mu sync.Mutex
		added := map[string]int{}
		errs := raceAll(len(stores)*len(algs), func(i int) error {
			alg := algs[i%len(algs)]
			ok, err := stores[i%len(stores)].AddSigningKey(ctx, store.SigningKey{ID: uuid.NewString(), Algorithm: alg,
				EncryptedKey: []byte{byte(i)}, CreatedAt: created, ActivatesAt: created}, since)
			if ok {
				mu.Lock()
				added[alg]++
				mu.Unlock()
			}
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: AddSigningKey: %v", i, err)
			}
		}
		return added
	}
	for round, since := range []time.Time{{}, now} {
		added := add(since, now.Add(time.Duration(round)*time.Hour))
		for _, alg := range algs {
			if added[alg] != 1 {
				t.Errorf("round %d: %d %s keys added, want 1", round, added[alg], alg)
			}
		}
	}
	keys, err := stores[0].ListSigningKeys(ctx)
	if err != nil || len(keys) != 2*len(algs) {
		t.Fatalf("ListSigningKeys: %d keys, %v; want %d", len(keys), err, 2*len(algs))
	}
	var seqs int
	if err := stores[0].pool.QueryRow(ctx, `SELECT COUNT(DISTINCT seq) FROM signing_keys`).Scan(&seqs); err != nil || seqs != len(keys) {
		t.Errorf("distinct seq %d, %v; want %d", seqs, err, len(keys))
	}
}

func TestRetry(t *testing.T) {
	ser := &pgconn.PgError{Code: codeSerializationFailure}
	dead := &pgconn.PgError{Code: codeDeadlockDetected}
	dup := &pgconn.PgError{Code: codeUniqueViolation, ConstraintName: "clients_pkey"}
	for _, tc := range []struct {
		name  string
		errs  []error // what successive runs return; nil after the end
		calls int
		fails bool
	}{
		{"success", nil, 1, false},
		{"serialization failures then success", []error{ser, mapErr(ser)}, 3, false},
		{"deadlock then success", []error{dead}, 2, false},
		{"conflict is final", []error{mapErr(dup)}, 1, true},
		{"other is final", []error{errors.New("x")}, 1, true},
		{"bounded", []error{ser, ser, ser, ser, ser, ser, ser, ser, ser, ser}, maxAttempts, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := retry(t.Context(), func() error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if calls != tc.calls || (err != nil) != tc.fails {
				t.Errorf("%d calls, error %v; want %d calls, failure %v", calls, err, tc.calls, tc.fails)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := 0
	if err := retry(ctx, func() error { calls++; return ser }); err == nil || calls != 1 {
		t.Errorf("cancelled context: %d calls, %v; want 1 call and the error", calls, err)
	}
}

func TestPoolConfig(t *testing.T) {
	const dsn = "postgres://u:secret@db.example:5432/grantd?sslmode=disable&pool_max_conns=7&search_path=from_dsn"
	cfg, err := poolConfig(dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 7 || cfg.ConnConfig.RuntimeParams["search_path"] != "from_dsn" ||
		cfg.ConnConfig.RuntimeParams["application_name"] != "grantd" || cfg.ConnConfig.RuntimeParams["timezone"] != "UTC" {
		t.Errorf("from the DSN: max %d, params %v", cfg.MaxConns, cfg.ConnConfig.RuntimeParams)
	}
	cfg, err = poolConfig(dsn, Options{Schema: "Tenant A", MaxConns: 20, MinConns: 2, MaxConnLifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 20 || cfg.MinConns != 2 || cfg.MaxConnLifetime != time.Minute ||
		cfg.ConnConfig.RuntimeParams["search_path"] != `"Tenant A"` {
		t.Errorf("with options: %+v, params %v", cfg, cfg.ConnConfig.RuntimeParams)
	}
	// Neither sets it: grantd's default, not pgx's max(4, CPUs).
	if cfg, err := poolConfig("postgres://u@db.example/grantd", Options{}); err != nil || cfg.MaxConns != DefaultMaxConns() || cfg.MaxConns < 16 {
		t.Errorf("default pool: %d, %v; want %d", cfg.MaxConns, err, DefaultMaxConns())
	}
	for _, o := range []Options{{MinConns: 8, MaxConns: 4}, {MaxConns: -1}, {MaxConnLifetime: -time.Second}} {
		if _, err := poolConfig(dsn, o); err == nil {
			t.Errorf("poolConfig(%+v) succeeded, want an error", o)
		}
	}
	if _, err := poolConfig("postgres://u:secret@[::1", Options{}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad DSN: %v, want an error without the password", err)
	}
}

// TestClientChangesAcrossInstances: an instance keeps a client it read in
// memory (store.ClientCache), and forgets it when another instance updates
// or deletes it (migration 0004's notifications), long before the cache's
// TTL (an hour here); an update of only the balance or the first token's
// time notifies nothing. Another schema's changes are not this one's.
func TestClientChangesAcrossInstances(t *testing.T) {
	stores := instances(t, 2)
	a, b := stores[0], stores[1]
	a.SetClientCacheTTL(time.Hour)
	ctx := t.Context()
	c := testClient(t, b)
	if _, err := b.pool.Exec(ctx, `UPDATE clients SET first_token_at = now() WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	name := func() string {
		t.Helper()
		got, err := a.GetClient(ctx, c.ID)
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		return got.Name
	}
	// seen waits (bounded) until a sees want.
	seen := func(what string, want func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !want(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen by the other instance within 10s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The listener starts with the first GetClient and forgets everything
	// once it listens: wait until a keeps a copy that survives a direct
	// change nobody is told of (the cache is working), then undo it.
	name()
	if _, err := b.pool.Exec(ctx, `ALTER TABLE clients DISABLE TRIGGER clients_updated`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `UPDATE clients SET name = 'untold' WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	seen("an untold change, once the listener has started", func() bool { return name() == "untold" })
	if _, err := b.pool.Exec(ctx, `UPDATE clients SET name = 'kept' WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `ALTER TABLE clients ENABLE TRIGGER clients_updated`); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if got := name(); got != "untold" {
			t.Fatalf("a change nobody was told of reached the cache (%q): the cache keeps nothing, so this test proves nothing", got)
		}
		time.Sleep(5 * time.Millisecond)
	}

	if _, err := b.UpdateClient(ctx, c.ID, func(c *store.Client) error { c.Name = "renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	seen("UpdateClient", func() bool { return name() == "renamed" })

	// Another schema's notification for the same id changes nothing here.
	// Untold, c changes again, and a marker client m too; then another
	// schema notifies c, and this one m: notifications arrive in commit
	// order, so once m is forgotten c's foreign notice was read.
	m := testClient(t, b)
	if _, err := b.pool.Exec(ctx, `UPDATE clients SET first_token_at = now() WHERE id = $1`, m.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := a.GetClient(ctx, m.ID); err != nil || got.Name != "c" {
		t.Fatalf("GetClient(marker): %q, %v", got.Name, err)
	}
	for _, q := range []string{`ALTER TABLE clients DISABLE TRIGGER clients_updated`,
		`UPDATE clients SET name = 'untold again' WHERE id = '` + c.ID + `'`,
		`UPDATE clients SET name = 'marker' WHERE id = '` + m.ID + `'`,
		`ALTER TABLE clients ENABLE TRIGGER clients_updated`} {
		if _, err := b.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	other := instances(t, 1)[0]
	if _, err := other.pool.Exec(ctx, `SELECT pg_notify('grantd_clients', current_schema() || ' ' || $1::text)`, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `SELECT pg_notify('grantd_clients', current_schema() || ' ' || $1::text)`, m.ID); err != nil {
		t.Fatal(err)
	}
	seen("the marker's notice", func() bool {
		got, err := a.GetClient(ctx, m.ID)
		return err == nil && got.Name == "marker"
	})
	if got := name(); got != "renamed" {
		t.Errorf("another schema's notice made this one forget c: %q", got)
	}

	if err := b.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	seen("DeleteClient", func() bool {
		_, err := a.GetClient(ctx, c.ID)
		return errors.Is(err, store.ErrNotFound)
	})
}

// TestClientChangesListenerSaysWhenItLoses: when the listener's connection
// is cut (its backend terminated, as a database restart would), the store
// warns once, connects again by itself within a few seconds, and says so;
// a change made after that reaches the cache again.
func TestClientChangesListenerSaysWhenItLoses(t *testing.T) {
	schema, _ := pgtest.Schema(t)
	app := "grantd_listener_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	dsn := pgtest.BaseDSN(t)
	if strings.Contains(dsn, "?") {
		dsn += "&application_name=" + app
	} else {
		dsn += "?application_name=" + app
	}
	var logs testenv.SyncBuffer
	s, err := Open(t.Context(), dsn, Options{Schema: schema, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	other := openT(t, schema)
	s.SetClientCacheTTL(time.Hour)
	ctx := t.Context()
	c := testClient(t, other)
	if _, err := other.pool.Exec(ctx, `UPDATE clients SET first_token_at = now() WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	within := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s; logs:\n%s", what, logs.String())
			}
		}
	}
	listener := func() (pid int) {
		err := other.pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND query = 'LISTEN `+clientChannel+`'`, app).Scan(&pid)
		if err != nil {
			return 0
		}
		return pid
	}
	if _, err := s.GetClient(ctx, c.ID); err != nil { // starts the listener
		t.Fatal(err)
	}
	var pid int
	within("the listener's LISTEN", func() bool { pid = listener(); return pid != 0 })
	var ended bool
	if err := other.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ended); err != nil || !ended {
		t.Fatalf("pg_terminate_backend(%d): %v, %v", pid, ended, err)
	}
	within("the warning", func() bool { return strings.Contains(logs.String(), "not listening for client changes") })
	within("listening again", func() bool {
		return strings.Contains(logs.String(), "listening for client changes again") && listener() != 0
	})
	if n := strings.Count(logs.String(), "not listening for client changes"); n != 1 {
		t.Errorf("%d warnings for one cut, want 1:\n%s", n, logs.String())
	}
	// The reconnected listener forgets what it is told.
	name := func() string {
		got, err := s.GetClient(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Name
	}
	name()
	if _, err := other.UpdateClient(ctx, c.ID, func(c *store.Client) error { c.Name = "after the cut"; return nil }); err != nil {
		t.Fatal(err)
	}
	within("a change after the cut", func() bool { return name() == "after the cut" })
}
