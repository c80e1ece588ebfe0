package postgres

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/migration"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
	"github.com/grantd/grantd/internal/store/storetest"
)

// openRaw opens a store on schema without migrating it.
func openRaw(t *testing.T, schema string) *Store {
	t.Helper()
	s, err := open(t.Context(), pgtest.BaseDSN(t), Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openT opens (and migrates) a store on schema.
func openT(t *testing.T, schema string) *Store {
	t.Helper()
	s, err := Open(t.Context(), pgtest.BaseDSN(t), Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantVersion(t *testing.T, s *Store, want int) {
	t.Helper()
	v, err := s.Version(t.Context())
	if err != nil || v != want {
		t.Fatalf("Version() = %d, %v; want %d", v, err, want)
	}
}

// TestOpenMigrateReopen migrates an empty schema, stores data, and opens it
// again: migrating is idempotent and the data stays.
func TestOpenMigrateReopen(t *testing.T) {
	ctx := t.Context()
	schema, _ := pgtest.Schema(t)
	wantVersion(t, openRaw(t, schema), 0)

	s := openT(t, schema)
	wantVersion(t, s, LatestVersion())
	c := store.Client{ID: "c1", Name: "one", AuthMethod: store.AuthMethodNone, CreatedAt: time.UnixMilli(1_700_000_000_123).UTC()}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	s.Close()

	s = openT(t, schema)
	wantVersion(t, s, LatestVersion())
	got, err := s.GetClient(ctx, "c1")
	if err != nil || got.Name != "one" || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != LatestVersion() {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, LatestVersion())
	}
}

// TestMigrateConcurrently is several instances starting at once on a fresh
// schema: every one migrates without error, and each step runs once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := t.Context()
	schema, _ := pgtest.Schema(t)
	const instances = 8
	stores := make([]*Store, instances)
	for i := range stores {
		stores[i] = openRaw(t, schema)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, instances)
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: Migrate: %v", i, err)
		}
	}
	wantVersion(t, stores[0], LatestVersion())
	var n int
	if err := stores[0].pool.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != LatestVersion() {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, LatestVersion())
	}
}

// TestOpenMissingSchema: a search_path naming no schema is an error that
// says so, not a migration into some other schema.
func TestOpenMissingSchema(t *testing.T) {
	s, err := Open(t.Context(), pgtest.BaseDSN(t), Options{Schema: "grantd_test_does_not_exist"})
	if err == nil {
		s.Close()
		t.Fatal("Open on a missing schema succeeded")
	}
	if !strings.Contains(err.Error(), "no existing schema") {
		t.Errorf("Open on a missing schema: %v", err)
	}
}

// upgrade seeds a database at one schema version with raw SQL written for
// that version, and after migrating to the latest version checks through
// the Store that the data survived.
type upgrade struct {
	seed  func(ctx context.Context, tx pgx.Tx) error
	check func(t *testing.T, s *Store)
}

// seedSQL is a seed that runs the statements of each list, in order.
func seedSQL(lists ...[]string) func(ctx context.Context, tx pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		for _, q := range slices.Concat(lists...) {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
}

// grantRows0001 are rows of every table but clients (and ledger), as
// versions 1 and 2 store them, for client c1.
var grantRows0001 = []string{
	`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '{company}',
		'chal', 'S256', 'csrf', 'u1', '2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', 'cust', 'Acme',
		'gusto', true)`,
	`INSERT INTO connections VALUES ('conn1', 'c1', 'cust', 'Acme', 'gusto', 'u1', '{company}', '{}',
		'provider', 'sandbox', 'active', '2023-11-14 22:13:20Z', '2024-11-13 22:13:20Z',
		'2024-12-18 22:13:20Z', NULL)`,
	`INSERT INTO auth_codes VALUES ('\xcc', 'code', 'c1', 'https://a.example/cb', '{company}', 'u1',
		'conn1', 'chal', 'S256', 'grant1', '2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', NULL)`,
	`INSERT INTO refresh_families VALUES ('fam1', 'c1', 'u1', 'conn1', '{company}', 'rotating', 0,
		'2023-11-14 22:13:20Z', NULL, '2023-11-14 22:13:20Z', NULL)`,
	`INSERT INTO refresh_tokens VALUES ('\xaa', 'fam1', '2023-11-14 22:13:20Z', NULL)`,
	`INSERT INTO access_tokens VALUES ('at1', 'c1', 'u1', 'fam1', 'conn1', '{company}', 'opaque',
		'2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', NULL)`,
	`INSERT INTO events VALUES (7, 'evt_1', 'c1', 'conn1', 'connection.created', '{"id":"evt_1"}',
		'2023-11-14 22:13:20Z', 2, '2023-11-14 22:14:20Z', 'HTTP 500', NULL, false)`,
}

// keyRows0001 are signing keys as versions 1 and 2 store them: a current,
// a previous and a retired one, and a JWT access token that expires 500
// days from now, which they must outlive (storetest.CheckMigratedKeys).
var keyRows0001 = []string{
	`INSERT INTO access_tokens VALUES ('atj', 'c1', 'u1', '', 'conn1', '{company}', 'jwt',
		'2023-11-14 22:13:20Z', now() + interval '500 days', NULL)`,
	`INSERT INTO signing_keys VALUES ('kr', 'ES256', '\x00', 'retired', '2023-11-14 20:13:20Z', 1)`,
	`INSERT INTO signing_keys VALUES ('k0', 'ES256', '\x00', 'previous', '2023-11-14 21:13:20Z', 2)`,
	`INSERT INTO signing_keys VALUES ('k1', 'ES256', '\x00', 'current', '2023-11-14 22:13:20Z', 3)`,
}

// upgrades has one entry per schema version. Adding migration N+1 means
// adding upgrades[N+1]: the test fails until it exists.
var upgrades = map[int]upgrade{
	1: {
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', '\x0102', 'client_secret_basic', '{authorization_code}',
					'{code}', '{https://a.example/cb}', '{company}', 'sandbox', 'gold', 'active', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', true, '{"k":"v"}', '2023-11-14 22:13:20.123Z',
					'2023-11-14 22:13:20.456Z', 'https://hooks.example/c1', '\x0a0b', 86400000000000, 172800000000000)`,
			// A client with nothing issued.
			`INSERT INTO clients VALUES ('c2', 'two', NULL, 'none', '{}', '{}', '{}', '{}', 'sandbox', 'free', 'active',
					'rotating', 0, 0, 0, 'jwt', '', false, 'null', '2023-11-14 22:13:20.999Z', '2023-11-14 22:13:20.999Z',
					'', NULL, 0, 0)`,
		}, grantRows0001, keyRows0001, []string{
			// As Import does: new events come after.
			resetEventSeq,
		}),
		check: func(t *testing.T, s *Store) {
			ctx := t.Context()
			c, err := s.GetClient(ctx, "c1")
			if err != nil || c.Name != "one" || !bytes.Equal(c.SecretHash, []byte{1, 2}) || !c.ResourceServer ||
				c.RefreshIdleTimeout != time.Hour || c.Metadata["k"] != "v" || c.CreatedAt.UnixMilli() != 1700000000123 ||
				c.WebhookURL != "https://hooks.example/c1" || !bytes.Equal(c.WebhookSecret, []byte{0x0A, 0x0B}) ||
				c.ConsentTTL != 24*time.Hour || c.RetentionTTL != 48*time.Hour {
				t.Errorf("client: %+v, %v", c, err)
			}
			storetest.CheckClientBeforeBalances(t, s, c, 1700000000000)
			c2, err := s.GetClient(ctx, "c2")
			if err != nil {
				t.Fatal(err)
			}
			storetest.CheckClientBeforeBalances(t, s, c2, 1700000000999) // nothing issued: its creation
			r, err := s.GetAuthRequest(ctx, "r1", time.UnixMilli(1700000000000))
			if err != nil || r.ClientID != "c1" || r.CSRFToken != "csrf" || r.Subject != "u1" || len(r.Scopes) != 1 ||
				r.CustomerID != "cust" || r.CustomerName != "Acme" || r.ProviderID != "gusto" || !r.ProviderFixed {
				t.Errorf("auth request: %+v, %v", r, err)
			}
			conn, err := s.GetConnection(ctx, "conn1")
			if err != nil || conn.CustomerName != "Acme" || conn.Status != store.ConnectionActive || len(conn.EntityIDs) != 0 ||
				conn.ConsentExpiresAt.UnixMilli() != 1731536000000 || conn.DataRetentionUntil.UnixMilli() != 1734560000000 ||
				!conn.RevokedAt.IsZero() {
				t.Errorf("connection: %+v, %v", conn, err)
			}
			es, err := s.ListEvents(ctx, "conn1")
			want := []store.Event{{Seq: 7, ID: "evt_1", ClientID: "c1", ConnectionID: "conn1", Type: "connection.created",
				Payload: []byte(`{"id":"evt_1"}`), CreatedAt: time.UnixMilli(1700000000000).UTC(), Attempts: 2,
				NextAttemptAt: time.UnixMilli(1700000060000).UTC(), LastError: "HTTP 500"}}
			if err != nil || !reflect.DeepEqual(es, want) {
				t.Errorf("events:\n got %+v, %v\nwant %+v", es, err, want)
			}
			if l, err := storetest.Peek(ctx, s, store.GrantKey{CodeHash: []byte{0xCC}}); err != nil || l.Code.GrantID != "grant1" ||
				!l.Code.UsedAt.IsZero() || l.Connection == nil || l.Connection.ID != "conn1" {
				t.Errorf("auth code: %+v, %v", l, err)
			}
			tok, fam, err := s.GetRefreshToken(ctx, []byte{0xAA})
			if err != nil || tok.FamilyID != "fam1" || fam.ConnectionID != "conn1" || !fam.RevokedAt.IsZero() || !fam.ExpiresAt.IsZero() {
				t.Errorf("refresh token: %+v %+v, %v", tok, fam, err)
			}
			at, err := s.GetAccessToken(ctx, "at1")
			if err != nil || at.Revoked || !at.RevokedAt.IsZero() || at.FamilyID != "fam1" {
				t.Errorf("access token: %+v, %v", at, err)
			}
			storetest.CheckClientBeforeLifecycle(t, c)
			storetest.CheckClientBeforeLifecycle(t, c2)
			storetest.CheckMigratedKeys(t, s, 1700000000000)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			// A new event comes after the stored ones.
			if _, err := s.RevokeConnection(ctx, "conn1", time.UnixMilli(1700000002000)); err != nil {
				t.Fatal(err)
			}
			es, err = s.ListEvents(ctx, "conn1")
			if err != nil || len(es) != 2 || es[1].Seq <= 7 || es[1].Type != store.EventConnectionRevoked {
				t.Errorf("events after RevokeConnection: %+v, %v", es, err)
			}
		},
	},
	2: {
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', '\x0102', 'client_secret_basic', '{authorization_code}',
					'{code}', '{https://a.example/cb}', '{company}', 'sandbox', 'gold', 'suspended', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', true, '{"k":"v"}', '2023-11-14 22:13:20.123Z',
					'2023-11-14 22:13:20.456Z', 'https://hooks.example/c1', '\x0a0b', 86400000000000, 172800000000000,
					'unpaid', '2023-11-14 22:13:21Z', '{"time_zone":"UTC","weekly":{"mon":["09:00-17:00"]}}', true, true,
					42, '2023-11-14 22:13:22Z', NULL)`,
			`INSERT INTO ledger VALUES (5, 'led_1', 'c1', 'topup', 42, 42, 'prepaid', 'order-1', '',
					'2023-11-14 22:13:22Z')`,
		}, grantRows0001, keyRows0001, []string{
			// As Import does: new events and ledger entries come after.
			resetEventSeq,
			resetLedgerSeq,
		}),
		check: func(t *testing.T, s *Store) {
			c, err := s.GetClient(t.Context(), "c1")
			if err != nil {
				t.Fatal(err)
			}
			storetest.CheckClientBeforeLifecycle(t, c)
			// What an instance of version 2 reads during a rolling
			// upgrade still reads: the key it calls current is k1, the
			// keys of its algorithms this version added it sees as
			// published, and those of others (which it cannot parse) as
			// retired.
			for _, k := range []store.SigningKey{{ID: "k8", Algorithm: "PS256"}, {ID: "k9", Algorithm: "RS256"}} {
				k.EncryptedKey, k.CreatedAt = []byte{9}, time.UnixMilli(1700000000000).UTC()
				if _, err := s.AddSigningKey(t.Context(), k, time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			rows, err := s.pool.Query(t.Context(), `SELECT id, algorithm, encrypted_key, state, created_at
				FROM signing_keys WHERE state != 'retired' ORDER BY seq DESC`)
			if err != nil {
				t.Fatal(err)
			}
			states, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
				var id, alg, state string
				var key []byte
				var created time.Time
				err := r.Scan(&id, &alg, &key, &state, &created)
				return id + " " + state, err
			})
			if want := []string{"k9 previous", "k1 current", "k0 previous"}; err != nil || !slices.Equal(states, want) {
				t.Errorf("the previous version's key query: %v, %v; want %v", states, err, want)
			}
			// A key the previous version's Rotate inserts names neither
			// new column: it is kept 400 days, not taken for a retired key
			// nothing reserved.
			if _, err := s.exec(t.Context(), `INSERT INTO signing_keys (id, algorithm, encrypted_key, state, created_at, seq)
				VALUES ('ko', 'ES256', '\x00', 'current', now(), 99)`); err != nil {
				t.Fatal(err)
			}
			ks, err := s.ListSigningKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				if k.ID == "ko" && (k.ActivatesAt.IsZero() || time.Until(k.KeepUntil) < 399*24*time.Hour) {
					t.Errorf("a key inserted by the previous version: %+v; want activated and kept 400 days", k)
				}
			}
			if _, err := s.exec(t.Context(), `DELETE FROM signing_keys WHERE id IN ('k8', 'k9', 'ko')`); err != nil {
				t.Fatal(err)
			}
			storetest.CheckMigratedKeys(t, s, 1700000000000)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
	3: {
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', '\x0102', 'client_secret_basic', '{authorization_code}',
					'{code}', '{https://a.example/cb}', '{company}', 'sandbox', 'gold', 'suspended', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', true, '{"k":"v"}', '2023-11-14 22:13:20.123Z',
					'2023-11-14 22:13:20.456Z', 'https://hooks.example/c1', '\x0a0b', 86400000000000, 172800000000000,
					'unpaid', '2023-11-14 22:13:21Z', '{"time_zone":"UTC","weekly":{"mon":["09:00-17:00"]}}', true, true,
					42, '2023-11-14 22:13:22Z', NULL, '\x0c0d', '2023-11-15 22:13:20Z', '\x0e0f', 'PS256')`,
			`INSERT INTO ledger VALUES (5, 'led_1', 'c1', 'topup', 42, 42, 'prepaid', 'order-1', '',
					'2023-11-14 22:13:22Z')`,
			`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
					VALUES ('k2', 'PS256', '\x02', '2023-11-14 22:13:20Z', '2023-11-14 22:16:20Z', '2023-11-15 23:13:20Z', 1)`,
			`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
					VALUES ('k3', 'EdDSA', '\x03', '2023-11-14 22:13:21Z', '2023-11-14 22:16:21Z', NULL, 2)`,
		}, grantRows0001, []string{
			resetEventSeq,
			resetLedgerSeq,
		}),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedLifecycle(t, s, 1700000000000, 1700090000000, 1700086400000)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
}

// Migration 0004 adds triggers, no column: version 4's data is version
// 3's, checked the same way.
func init() { upgrades[4] = upgrades[3] }

// grantRows0005 are grantRows0001 as version 5 stores them: auth
// requests have a source address (version 3) and, with codes, a dpop_jkt;
// families and access tokens a jkt; and a DPoP proof's use.
var grantRows0005 = []string{
	`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '{company}',
		'chal', 'S256', 'csrf', 'u1', '2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', 'cust', 'Acme',
		'gusto', true, '203.0.113.7', 'jkt-r1')`,
	grantRows0001[1],
	`INSERT INTO auth_codes VALUES ('\xcc', 'code', 'c1', 'https://a.example/cb', '{company}', 'u1',
		'conn1', 'chal', 'S256', 'grant1', '2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', NULL, 'jkt-c1')`,
	`INSERT INTO refresh_families VALUES ('fam1', 'c1', 'u1', 'conn1', '{company}', 'rotating', 0,
		'2023-11-14 22:13:20Z', NULL, '2023-11-14 22:13:20Z', NULL, 'jkt-f1')`,
	grantRows0001[4],
	`INSERT INTO access_tokens VALUES ('at1', 'c1', 'u1', 'fam1', 'conn1', '{company}', 'opaque',
		'2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', NULL, 'jkt-a1')`,
	grantRows0001[6],
	`INSERT INTO dpop_proofs VALUES ('\xdd', '2100-01-01 00:00:00Z')`,
}

func init() {
	upgrades[5] = upgrade{
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', '\x0102', 'client_secret_basic', '{authorization_code}',
					'{code}', '{https://a.example/cb}', '{company}', 'sandbox', 'gold', 'suspended', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', true, '{"k":"v"}', '2023-11-14 22:13:20.123Z',
					'2023-11-14 22:13:20.456Z', 'https://hooks.example/c1', '\x0a0b', 86400000000000, 172800000000000,
					'unpaid', '2023-11-14 22:13:21Z', '{"time_zone":"UTC","weekly":{"mon":["09:00-17:00"]}}', true, true,
					42, '2023-11-14 22:13:22Z', NULL, '\x0c0d', '2023-11-15 22:13:20Z', '\x0e0f', 'PS256', true)`,
			`INSERT INTO ledger VALUES (5, 'led_1', 'c1', 'topup', 42, 42, 'prepaid', 'order-1', '',
					'2023-11-14 22:13:22Z')`,
			`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
					VALUES ('k2', 'PS256', '\x02', '2023-11-14 22:13:20Z', '2023-11-14 22:16:20Z', '2023-11-15 23:13:20Z', 1)`,
			`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
					VALUES ('k3', 'EdDSA', '\x03', '2023-11-14 22:13:21Z', '2023-11-14 22:16:21Z', NULL, 2)`,
		}, grantRows0005, []string{
			resetEventSeq,
			resetLedgerSeq,
		}),
		check: func(t *testing.T, s *Store) {
			if a, err := s.GetAccessToken(t.Context(), "at1"); err != nil || a.JKT != "jkt-a1" {
				t.Errorf("the bound access token: %+v, %v", a, err)
			}
			if c, err := s.GetClient(t.Context(), "c1"); err != nil || !c.DPoPBoundAccessTokens {
				t.Errorf("the DPoP-bound client: %+v, %v", c, err)
			}
			// Rows from before 0006: no security settings, no resources
			// and no audience (the columns' defaults).
			storetest.CheckBeforeFAPI(t, s)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	}
}

// grantRows0006 are grantRows0005 as version 6 stores them: auth
// requests, codes and families have resources, access tokens an audience
// and a certificate thumbprint (x5t); and a pushed authorization request.
var grantRows0006 = []string{
	`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '{company}',
		'chal', 'S256', 'csrf', 'u1', '2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', 'cust', 'Acme',
		'gusto', true, '203.0.113.7', 'jkt-r1', '{https://api.example.com/,https://files.example.com/v1}')`,
	grantRows0001[1],
	`INSERT INTO auth_codes VALUES ('\xcc', 'code', 'c1', 'https://a.example/cb', '{company}', 'u1',
		'conn1', 'chal', 'S256', 'grant1', '2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', NULL, 'jkt-c1',
		'{https://api.example.com/,https://files.example.com/v1}')`,
	`INSERT INTO refresh_families VALUES ('fam1', 'c1', 'u1', 'conn1', '{company}', 'rotating', 0,
		'2023-11-14 22:13:20Z', NULL, '2023-11-14 22:13:20Z', NULL, 'jkt-f1',
		'{https://api.example.com/,https://files.example.com/v1}')`,
	grantRows0001[4],
	`INSERT INTO access_tokens VALUES ('at1', 'c1', 'u1', 'fam1', 'conn1', '{company}', 'opaque',
		'2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', NULL, 'jkt-a1',
		'{https://api.example.com/,https://files.example.com/v1}', 'x5t-a1')`,
	grantRows0001[6],
	`INSERT INTO dpop_proofs VALUES ('\xdd', '2100-01-01 00:00:00Z')`,
	`INSERT INTO pushed_requests VALUES ('\xee', 'c1',
		'{"resource":["https://api.example.com/","https://files.example.com/v1"],"scope":["company"]}',
		'2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z')`,
}

// clientRows0006 are client c1, its ledger and a signing key as version 6
// stores them: c1 has security settings.
var clientRows0006 = []string{
	`INSERT INTO clients VALUES ('c1', 'one', '\x0102', 'client_secret_basic', '{authorization_code}',
		'{code}', '{https://a.example/cb}', '{company}', 'sandbox', 'gold', 'suspended', 'rotating',
		3600000000000, 0, 900000000000, 'opaque', '', true, '{"k":"v"}', '2023-11-14 22:13:20.123Z',
		'2023-11-14 22:13:20.456Z', 'https://hooks.example/c1', '\x0a0b', 86400000000000, 172800000000000,
		'unpaid', '2023-11-14 22:13:21Z', '{"time_zone":"UTC","weekly":{"mon":["09:00-17:00"]}}', true, true,
		42, '2023-11-14 22:13:22Z', NULL, '\x0c0d', '2023-11-15 22:13:20Z', '\x0e0f', 'PS256', true,
		'{"allowed_resources":["https://api.example.com/"],"require_pushed_authorization_requests":true}')`,
	`INSERT INTO ledger VALUES (5, 'led_1', 'c1', 'topup', 42, 42, 'prepaid', 'order-1', '',
		'2023-11-14 22:13:22Z')`,
	`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
		VALUES ('k2', 'PS256', '\x02', '2023-11-14 22:13:20Z', '2023-11-14 22:16:20Z', '2023-11-15 23:13:20Z', 1)`,
}

func init() {
	upgrades[6] = upgrade{
		seed: seedSQL(clientRows0006, grantRows0006, []string{
			resetEventSeq,
			resetLedgerSeq,
		}),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedFAPI(t, s)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	}
}

// grantRows0007 are grantRows0006 as version 7 stores them: families have
// a certificate thumbprint (x5t).
var grantRows0007 = slices.Concat(grantRows0006[:3], []string{
	`INSERT INTO refresh_families VALUES ('fam1', 'c1', 'u1', 'conn1', '{company}', 'rotating', 0,
		'2023-11-14 22:13:20Z', NULL, '2023-11-14 22:13:20Z', NULL, 'jkt-f1',
		'{https://api.example.com/,https://files.example.com/v1}', 'x5t-f1')`,
}, grantRows0006[4:])

func init() {
	upgrades[7] = upgrade{
		seed: seedSQL(clientRows0006, grantRows0007, []string{
			resetEventSeq,
			resetLedgerSeq,
		}),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedFAPI(t, s)
			storetest.CheckMigratedFamilyX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	}
}

// grantRows0008 are grantRows0007 as version 8 stores them: refresh
// tokens have a retry answer (NULL = none); AA was rotated, with the
// answer 52E7.
var grantRows0008 = slices.Concat(grantRows0007[:4], []string{
	`INSERT INTO refresh_tokens VALUES ('\xaa', 'fam1', '2023-11-14 22:13:20Z', '2023-11-14 22:14:20Z', '\x52e7')`,
}, grantRows0007[5:])

func init() {
	upgrades[8] = upgrade{
		seed: seedSQL(clientRows0006, grantRows0008, []string{
			resetEventSeq,
			resetLedgerSeq,
		}),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedFAPI(t, s)
			storetest.CheckMigratedFamilyX5T(t, s)
			storetest.CheckMigratedRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	}
}

// grantRows0009 are grantRows0008 as version 9 stores them: auth
// requests name the device request they approve (NULL = none); r1 names
// DE, a pending device request polled 5 s after its creation.
var grantRows0009 = slices.Concat([]string{
	`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '{company}',
		'chal', 'S256', 'csrf', 'u1', '2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z', 'cust', 'Acme',
		'gusto', true, '203.0.113.7', 'jkt-r1', '{https://api.example.com/,https://files.example.com/v1}', '\xde')`,
}, grantRows0008[1:], []string{
	`INSERT INTO device_requests VALUES ('\xde', '\xdf', 'c1', '{company}',
		'{https://api.example.com/,https://files.example.com/v1}', 'pending', 5000000000,
		'2023-11-14 22:13:25Z', '2023-11-14 22:13:20Z', '2100-01-01 00:00:00Z')`,
})

func init() {
	upgrades[9] = upgrade{
		seed: seedSQL(clientRows0006, grantRows0009, []string{
			resetEventSeq,
			resetLedgerSeq,
		}),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedFAPI(t, s)
			storetest.CheckMigratedFamilyX5T(t, s)
			storetest.CheckMigratedRetry(t, s)
			storetest.CheckMigratedDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	}
}

// TestMigrateUpWithData migrates, for every version v, a schema at v
// holding data up to the latest version, and checks the data.
func TestMigrateUpWithData(t *testing.T) {
	for v := 1; v <= LatestVersion(); v++ {
		u, ok := upgrades[v]
		if !ok {
			t.Fatalf("no upgrades[%d]: add seed data for migration %s", v, migrations[v-1].Name)
		}
		t.Run(migrations[v-1].Name, func(t *testing.T) {
			ctx := t.Context()
			schema, _ := pgtest.Schema(t)
			s := openRaw(t, schema)
			if err := s.migrateTo(ctx, v); err != nil {
				t.Fatal(err)
			}
			wantVersion(t, s, v)
			if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return u.seed(ctx, tx) }); err != nil {
				t.Fatalf("seed at version %d: %v", v, err)
			}
			// Every table of version v has data to carry over.
			for table, n := range rowCounts(t, s) {
				if n == 0 {
					t.Errorf("upgrades[%d] seeds no row in table %s", v, table)
				}
			}
			s.Close()

			s = openT(t, schema)
			wantVersion(t, s, LatestVersion())
			u.check(t, s)
		})
	}
}

// rowCounts returns the number of rows in each table of the schema but
// schema_migrations.
func rowCounts(t *testing.T, s *Store) map[string]int {
	t.Helper()
	ctx := t.Context()
	rows, err := s.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name != 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, table := range tables {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		counts[table] = n
	}
	return counts
}

func TestRefusesNewerDatabase(t *testing.T) {
	ctx := t.Context()
	schema, _ := pgtest.Schema(t)
	s := openT(t, schema)
	if _, err := s.exec(ctx, `INSERT INTO schema_migrations VALUES ($1, 'future.sql', now())`, LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, pgtest.BaseDSN(t), Options{Schema: schema}); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a newer database: %v, want an error", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	for name, files := range map[string][]string{
		"gap":       {"migrations/0001_a.sql", "migrations/0003_c.sql"},
		"duplicate": {"migrations/0001_a.sql", "migrations/0001_b.sql"},
		"bad name":  {"migrations/1_a.sql"},
		"none":      nil,
	} {
		fsys := fstest.MapFS{}
		for _, f := range files {
			fsys[f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		if _, err := migration.Load(fsys, "migrations"); err == nil {
			t.Errorf("%s: migration.Load succeeded, want an error", name)
		}
	}
	if len(migrations) == 0 || migrations[0].Version != 1 {
		t.Fatalf("embedded migrations: %+v", migrations)
	}
}

func TestMapErr(t *testing.T) {
	ctx := t.Context()
	schema, _ := pgtest.Schema(t)
	s := openT(t, schema)
	if err := mapErr(pgx.ErrNoRows); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("mapErr(ErrNoRows) = %v", err)
	}
	c := store.Client{ID: "c1"}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "23505") {
		t.Errorf("duplicate primary key: %v, want ErrConflict with the cause", err)
	}
	// A record that refers to a missing client.
	err := s.CreateAuthRequest(ctx, store.AuthRequest{ID: "r1", ClientID: "nobody", ExpiresAt: time.Now()}, 0)
	if !errors.Is(err, store.ErrMissingParent) || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "23503") {
		t.Errorf("missing foreign key: %v, want ErrMissingParent with the cause", err)
	}
	if err := mapErr(errors.New("other")); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		t.Errorf("mapErr(other) = %v", err)
	}
}
