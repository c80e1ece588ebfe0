package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/migration"
	"github.com/grantd/grantd/internal/store/storetest"
)

func openT(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
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

// TestOpenMigrateReopen migrates an empty file, stores data, and opens the
// file again: migrating is idempotent and the data stays.
func TestOpenMigrateReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "grantd.db")

	raw, err := open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	wantVersion(t, raw, 0)
	raw.Close()

	s := openT(t, path)
	wantVersion(t, s, LatestVersion())
	c := store.Client{ID: "c1", Name: "one", AuthMethod: store.AuthMethodNone, CreatedAt: time.UnixMilli(1_700_000_000_123).UTC()}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, path)
	wantVersion(t, s, LatestVersion())
	got, err := s.GetClient(ctx, "c1")
	if err != nil || got.Name != "one" || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != LatestVersion() {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, LatestVersion())
	}
}

// upgrade seeds a database at one schema version with raw SQL written for
// that version, and after migrating to the latest version checks through
// the Store that the data survived.
type upgrade struct {
	seed  func(ctx context.Context, db *sql.Tx) error
	check func(t *testing.T, s *Store)
}

// seedSQL is a seed that runs the statements of each list, in order.
func seedSQL(lists ...[]string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range slices.Concat(lists...) {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
}

// grantRows0001 are rows of the tables that have not changed since
// version 1, for client c1.
var grantRows0001 = []string{
	`INSERT INTO connections VALUES ('conn1', 'c1', 'cust', 'Acme', 'gusto', 'u1', '["company"]', 'null',
		'provider', 'sandbox', 'active', 1700000000000, 1731536000000, 1734560000000, 0)`,
	`INSERT INTO auth_codes VALUES (X'CC', 'code', 'c1', 'https://a.example/cb', '["company"]', 'u1',
		'conn1', 'chal', 'S256', 'grant1', 1700000000000, 4102444800000, 0)`,
	`INSERT INTO refresh_families VALUES ('fam1', 'c1', 'u1', 'conn1', '["company"]', 'rotating', 0,
		1700000000000, 0, 1700000000000, 0)`,
	`INSERT INTO refresh_tokens VALUES (X'AA', 'fam1', 1700000000000, 0)`,
	`INSERT INTO access_tokens VALUES ('at1', 'c1', 'u1', 'fam1', 'conn1', '["company"]', 'opaque',
		1700000000000, 4102444800000, 0)`,
}

// keyRows0001 are signing keys as versions 1 to 3 store them: a current, a
// previous and a retired one, and a JWT access token that expires 500 days
// from now, which they must outlive (storetest.CheckMigratedKeys).
var keyRows0001 = []string{
	`INSERT INTO access_tokens VALUES ('atj', 'c1', 'u1', '', 'conn1', '["company"]', 'jwt',
		1700000000000, unixepoch() * 1000 + 500 * 86400000, 0)`,
	`INSERT INTO signing_keys VALUES ('kr', 'ES256', X'00', 'retired', 1699992800000, 1)`,
	`INSERT INTO signing_keys VALUES ('k0', 'ES256', X'00', 'previous', 1699996400000, 2)`,
	`INSERT INTO signing_keys VALUES ('k1', 'ES256', X'00', 'current', 1700000000000, 3)`,
}

// grantRows0002 are rows of every table but clients (and ledger), as
// versions 2 and 3 store them, for client c1.
var grantRows0002 = append([]string{
	`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '["company"]',
		'chal', 'S256', 'csrf', 'u1', 1700000000000, 4102444800000, 'cust', 'Acme', 'gusto', 1)`,
	`INSERT INTO events VALUES (7, 'evt_1', 'c1', 'conn1', 'connection.created', CAST('{"id":"evt_1"}' AS BLOB),
		1700000000000, 2, 1700000060000, 'HTTP 500', 0, 0)`,
}, grantRows0001...)

// grantRows0003 are grantRows0002 as version 3 stores them: auth requests
// have a source address.
var grantRows0003 = append([]string{
	`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '["company"]',
		'chal', 'S256', 'csrf', 'u1', 1700000000000, 4102444800000, 'cust', 'Acme', 'gusto', 1, '203.0.113.7')`,
}, grantRows0002[1:]...)

// upgrades has one entry per schema version. Adding migration N+1 means
// adding upgrades[N+1]: the test fails until it exists.
var upgrades = map[int]upgrade{
	1: {
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', X'0102', 'client_secret_basic', '["authorization_code"]',
					'["code"]', '["https://a.example/cb"]', '["company"]', 'sandbox', 'gold', 'active', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', 1, '{"k":"v"}', 1700000000123, 1700000000456)`,
			`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '["company"]',
					'chal', 'S256', 'csrf', 'u1', 1700000000000, 4102444800000)`,
		}, grantRows0001, keyRows0001),
		check: func(t *testing.T, s *Store) {
			ctx := t.Context()
			c, err := s.GetClient(ctx, "c1")
			if err != nil || c.Name != "one" || !bytes.Equal(c.SecretHash, []byte{1, 2}) || !c.ResourceServer ||
				c.RefreshIdleTimeout != time.Hour || c.Metadata["k"] != "v" || c.CreatedAt.UnixMilli() != 1700000000123 {
				t.Errorf("client: %+v, %v", c, err)
			}
			// Columns added by 0002 take their defaults.
			if c.WebhookURL != "" || c.WebhookSecret != nil || c.ConsentTTL != 0 || c.RetentionTTL != 0 {
				t.Errorf("client's new fields: %q %x %v %v, want zero", c.WebhookURL, c.WebhookSecret, c.ConsentTTL, c.RetentionTTL)
			}
			storetest.CheckClientBeforeBalances(t, s, c, 1700000000000)
			r, err := s.GetAuthRequest(ctx, "r1", time.UnixMilli(1700000000000))
			if err != nil || r.ClientID != "c1" || r.CSRFToken != "csrf" || r.Subject != "u1" || len(r.Scopes) != 1 ||
				r.CustomerID != "" || r.CustomerName != "" || r.ProviderID != "" {
				t.Errorf("auth request: %+v, %v", r, err)
			}
			conn, err := s.GetConnection(ctx, "conn1")
			if err != nil || conn.CustomerName != "Acme" || conn.Status != store.ConnectionActive || conn.EntityIDs != nil ||
				conn.ConsentExpiresAt.UnixMilli() != 1731536000000 || conn.DataRetentionUntil.UnixMilli() != 1734560000000 {
				t.Errorf("connection: %+v, %v", conn, err)
			}
			if es, err := s.ListEvents(ctx, "conn1"); err != nil || len(es) != 0 {
				t.Errorf("events of a connection from before 0002: %+v, %v", es, err)
			}
			if l, err := storetest.Peek(ctx, s, store.GrantKey{CodeHash: []byte{0xCC}}); err != nil || l.Code.GrantID != "grant1" ||
				!l.Code.UsedAt.IsZero() || l.Connection == nil || l.Connection.ID != "conn1" {
				t.Errorf("auth code: %+v, %v", l, err)
			}
			tok, fam, err := s.GetRefreshToken(ctx, []byte{0xAA})
			if err != nil || tok.FamilyID != "fam1" || fam.ConnectionID != "conn1" || !fam.RevokedAt.IsZero() {
				t.Errorf("refresh token: %+v %+v, %v", tok, fam, err)
			}
			at, err := s.GetAccessToken(ctx, "at1")
			if err != nil || at.Revoked || !at.RevokedAt.IsZero() || at.FamilyID != "fam1" {
				t.Errorf("access token: %+v, %v", at, err)
			}
			storetest.CheckMigratedKeys(t, s, 1700000000000)
			storetest.CheckClientBeforeLifecycle(t, c)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)

			// The upgraded data works with what 0002 added: a webhook URL,
			// and events for the old connection.
			if _, err := s.UpdateClient(ctx, "c1", func(c *store.Client) error {
				c.WebhookURL = "https://hooks.example/c1"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RevokeConnection(ctx, "conn1", time.UnixMilli(1700000002000)); err != nil {
				t.Fatal(err)
			}
			es, err := s.ListEvents(ctx, "conn1")
			if err != nil || len(es) != 1 || es[0].Type != store.EventConnectionRevoked {
				t.Errorf("events after revoking an old connection: %+v, %v", es, err)
			}
		},
	},
	2: {
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', X'0102', 'client_secret_basic', '["authorization_code"]',
					'["code"]', '["https://a.example/cb"]', '["company"]', 'sandbox', 'gold', 'active', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', 1, '{"k":"v"}', 1700000000123, 1700000000456,
					'https://hooks.example/c1', X'0A0B', 86400000000000, 172800000000000)`,
			// A client with nothing issued.
			`INSERT INTO clients VALUES ('c2', 'two', NULL, 'none', '[]', '[]', '[]', '[]', 'sandbox', 'free', 'active',
					'rotating', 0, 0, 0, 'jwt', '', 0, 'null', 1700000000999, 1700000000999, '', NULL, 0, 0)`,
		}, grantRows0002, keyRows0001),
		check: func(t *testing.T, s *Store) {
			ctx := t.Context()
			c, err := s.GetClient(ctx, "c1")
			if err != nil || c.WebhookURL != "https://hooks.example/c1" || !bytes.Equal(c.WebhookSecret, []byte{0x0A, 0x0B}) ||
				c.ConsentTTL != 24*time.Hour || c.RetentionTTL != 48*time.Hour {
				t.Errorf("client: %+v, %v", c, err)
			}
			storetest.CheckClientBeforeBalances(t, s, c, 1700000000000)
			c2, err := s.GetClient(ctx, "c2")
			if err != nil {
				t.Fatal(err)
			}
			storetest.CheckClientBeforeBalances(t, s, c2, 1700000000999) // nothing issued: its creation
			storetest.CheckClientBeforeLifecycle(t, c2)
			storetest.CheckMigratedKeys(t, s, 1700000000000)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			r, err := s.GetAuthRequest(ctx, "r1", time.UnixMilli(1700000000000))
			if err != nil || r.CustomerID != "cust" || r.CustomerName != "Acme" || r.ProviderID != "gusto" || !r.ProviderFixed {
				t.Errorf("auth request: %+v, %v", r, err)
			}
			es, err := s.ListEvents(ctx, "conn1")
			want := []store.Event{{Seq: 7, ID: "evt_1", ClientID: "c1", ConnectionID: "conn1", Type: "connection.created",
				Payload: []byte(`{"id":"evt_1"}`), CreatedAt: time.UnixMilli(1700000000000).UTC(), Attempts: 2,
				NextAttemptAt: time.UnixMilli(1700000060000).UTC(), LastError: "HTTP 500"}}
			if err != nil || !reflect.DeepEqual(es, want) {
				t.Errorf("events:\n got %+v, %v\nwant %+v", es, err, want)
			}
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
	3: {
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', X'0102', 'client_secret_basic', '["authorization_code"]',
					'["code"]', '["https://a.example/cb"]', '["company"]', 'sandbox', 'gold', 'suspended', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', 1, '{"k":"v"}', 1700000000123, 1700000000456,
					'https://hooks.example/c1', X'0A0B', 86400000000000, 172800000000000, 'unpaid', 1700000001000,
					'{"time_zone":"UTC","weekly":{"mon":["09:00-17:00"]}}', 1, 1, 42, 1700000002000, 0)`,
			`INSERT INTO ledger VALUES (5, 'led_1', 'c1', 'topup', 42, 42, 'prepaid', 'order-1', '', 1700000002000)`,
		}, grantRows0003, keyRows0001),
		check: func(t *testing.T, s *Store) {
			c, err := s.GetClient(t.Context(), "c1")
			if err != nil {
				t.Fatal(err)
			}
			storetest.CheckClientBeforeLifecycle(t, c)
			storetest.CheckMigratedKeys(t, s, 1700000000000)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
	4: {
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', X'0102', 'client_secret_basic', '["authorization_code"]',
					'["code"]', '["https://a.example/cb"]', '["company"]', 'sandbox', 'gold', 'suspended', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', 1, '{"k":"v"}', 1700000000123, 1700000000456,
					'https://hooks.example/c1', X'0A0B', 86400000000000, 172800000000000, 'unpaid', 1700000001000,
					'{"time_zone":"UTC","weekly":{"mon":["09:00-17:00"]}}', 1, 1, 42, 1700000002000, 0,
					X'0C0D', 1700086400000, X'0E0F', 'PS256')`,
			`INSERT INTO ledger VALUES (5, 'led_1', 'c1', 'topup', 42, 42, 'prepaid', 'order-1', '', 1700000002000)`,
			`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
					VALUES ('k2', 'PS256', X'02', 1700000000000, 1700000180000, 1700090000000, 1)`,
			`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
					VALUES ('k3', 'EdDSA', X'03', 1700000001000, 1700000181000, 0, 2)`,
		}, grantRows0003),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedLifecycle(t, s, 1700000000000, 1700090000000, 1700086400000)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
	5: {
		seed: seedSQL([]string{
			`INSERT INTO clients VALUES ('c1', 'one', X'0102', 'client_secret_basic', '["authorization_code"]',
					'["code"]', '["https://a.example/cb"]', '["company"]', 'sandbox', 'gold', 'suspended', 'rotating',
					3600000000000, 0, 900000000000, 'opaque', '', 1, '{"k":"v"}', 1700000000123, 1700000000456,
					'https://hooks.example/c1', X'0A0B', 86400000000000, 172800000000000, 'unpaid', 1700000001000,
					'{"time_zone":"UTC","weekly":{"mon":["09:00-17:00"]}}', 1, 1, 42, 1700000002000, 0,
					X'0C0D', 1700086400000, X'0E0F', 'PS256', 1)`,
			`INSERT INTO ledger VALUES (5, 'led_1', 'c1', 'topup', 42, 42, 'prepaid', 'order-1', '', 1700000002000)`,
			`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
					VALUES ('k2', 'PS256', X'02', 1700000000000, 1700000180000, 1700090000000, 1)`,
			`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
					VALUES ('k3', 'EdDSA', X'03', 1700000001000, 1700000181000, 0, 2)`,
			`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '["company"]',
					'chal', 'S256', 'csrf', 'u1', 1700000000000, 4102444800000, 'cust', 'Acme', 'gusto', 1, '203.0.113.7',
					'jkt-r1')`,
			`INSERT INTO events VALUES (7, 'evt_1', 'c1', 'conn1', 'connection.created', CAST('{"id":"evt_1"}' AS BLOB),
					1700000000000, 2, 1700000060000, 'HTTP 500', 0, 0)`,
			`INSERT INTO connections VALUES ('conn1', 'c1', 'cust', 'Acme', 'gusto', 'u1', '["company"]', 'null',
					'provider', 'sandbox', 'active', 1700000000000, 1731536000000, 1734560000000, 0)`,
			`INSERT INTO auth_codes VALUES (X'CC', 'code', 'c1', 'https://a.example/cb', '["company"]', 'u1',
					'conn1', 'chal', 'S256', 'grant1', 1700000000000, 4102444800000, 0, 'jkt-c1')`,
			`INSERT INTO refresh_families VALUES ('fam1', 'c1', 'u1', 'conn1', '["company"]', 'rotating', 0,
					1700000000000, 0, 1700000000000, 0, 'jkt-f1')`,
			`INSERT INTO refresh_tokens VALUES (X'AA', 'fam1', 1700000000000, 0)`,
			`INSERT INTO access_tokens VALUES ('at1', 'c1', 'u1', 'fam1', 'conn1', '["company"]', 'opaque',
					1700000000000, 4102444800000, 0, 'jkt-a1')`,
			`INSERT INTO dpop_proofs VALUES (X'DD', 4102444800000)`,
		}),
		check: func(t *testing.T, s *Store) {
			if a, err := s.GetAccessToken(t.Context(), "at1"); err != nil || a.JKT != "jkt-a1" {
				t.Errorf("the bound access token: %+v, %v", a, err)
			}
			// Rows from before 0006: no security settings, nil resources
			// and audience (the columns' default 'null').
			storetest.CheckBeforeFAPI(t, s)
			if a, err := s.GetAccessToken(t.Context(), "at1"); err != nil || a.Audience != nil {
				t.Errorf("access token from before 0006: audience %#v, %v; want nil", a.Audience, err)
			}
			if r, err := s.GetAuthRequest(t.Context(), "r1", time.UnixMilli(1700000000000)); err != nil || r.Resources != nil {
				t.Errorf("auth request from before 0006: resources %#v, %v; want nil", r.Resources, err)
			}
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
	6: {
		seed: seedSQL(rows0006),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedFAPI(t, s)
			storetest.CheckFamilyBeforeX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
	7: {
		seed: seedSQL(rows0007),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedFAPI(t, s)
			storetest.CheckMigratedFamilyX5T(t, s)
			storetest.CheckTokenBeforeRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
	8: {
		seed: seedSQL(rows0008),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedFAPI(t, s)
			storetest.CheckMigratedFamilyX5T(t, s)
			storetest.CheckMigratedRetry(t, s)
			storetest.CheckRequestBeforeDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
	9: {
		seed: seedSQL(rows0009),
		check: func(t *testing.T, s *Store) {
			storetest.CheckMigratedFAPI(t, s)
			storetest.CheckMigratedFamilyX5T(t, s)
			storetest.CheckMigratedRetry(t, s)
			storetest.CheckMigratedDevice(t, s)
			storetest.CheckMigratedBalance(t, s, 1700000001000, 1700000002000, 5)
		},
	},
}

// rows0006 are rows of every table as version 6 stores them, for client
// c1: auth requests, codes and families have resources, access tokens an
// audience and a certificate thumbprint (x5t); and a pushed authorization
// request.
var rows0006 = []string{
	`INSERT INTO clients VALUES ('c1', 'one', X'0102', 'client_secret_basic', '["authorization_code"]',
		'["code"]', '["https://a.example/cb"]', '["company"]', 'sandbox', 'gold', 'suspended', 'rotating',
		3600000000000, 0, 900000000000, 'opaque', '', 1, '{"k":"v"}', 1700000000123, 1700000000456,
		'https://hooks.example/c1', X'0A0B', 86400000000000, 172800000000000, 'unpaid', 1700000001000,
		'{"time_zone":"UTC","weekly":{"mon":["09:00-17:00"]}}', 1, 1, 42, 1700000002000, 0,
		X'0C0D', 1700086400000, X'0E0F', 'PS256', 1,
		'{"allowed_resources":["https://api.example.com/"],"require_pushed_authorization_requests":true}')`,
	`INSERT INTO ledger VALUES (5, 'led_1', 'c1', 'topup', 42, 42, 'prepaid', 'order-1', '', 1700000002000)`,
	`INSERT INTO signing_keys (id, algorithm, encrypted_key, created_at, activates_at, keep_until, seq)
		VALUES ('k2', 'PS256', X'02', 1700000000000, 1700000180000, 1700090000000, 1)`,
	`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '["company"]',
		'chal', 'S256', 'csrf', 'u1', 1700000000000, 4102444800000, 'cust', 'Acme', 'gusto', 1, '203.0.113.7',
		'jkt-r1', '["https://api.example.com/","https://files.example.com/v1"]')`,
	`INSERT INTO events VALUES (7, 'evt_1', 'c1', 'conn1', 'connection.created', CAST('{"id":"evt_1"}' AS BLOB),
		1700000000000, 2, 1700000060000, 'HTTP 500', 0, 0)`,
	`INSERT INTO connections VALUES ('conn1', 'c1', 'cust', 'Acme', 'gusto', 'u1', '["company"]', 'null',
		'provider', 'sandbox', 'active', 1700000000000, 1731536000000, 1734560000000, 0)`,
	`INSERT INTO auth_codes VALUES (X'CC', 'code', 'c1', 'https://a.example/cb', '["company"]', 'u1',
		'conn1', 'chal', 'S256', 'grant1', 1700000000000, 4102444800000, 0, 'jkt-c1',
		'["https://api.example.com/","https://files.example.com/v1"]')`,
	`INSERT INTO refresh_families VALUES ('fam1', 'c1', 'u1', 'conn1', '["company"]', 'rotating', 0,
		1700000000000, 0, 1700000000000, 0, 'jkt-f1', '["https://api.example.com/","https://files.example.com/v1"]')`,
	`INSERT INTO refresh_tokens VALUES (X'AA', 'fam1', 1700000000000, 0)`,
	`INSERT INTO access_tokens VALUES ('at1', 'c1', 'u1', 'fam1', 'conn1', '["company"]', 'opaque',
		1700000000000, 4102444800000, 0, 'jkt-a1', '["https://api.example.com/","https://files.example.com/v1"]',
		'x5t-a1')`,
	`INSERT INTO dpop_proofs VALUES (X'DD', 4102444800000)`,
	`INSERT INTO pushed_requests VALUES (X'EE', 'c1',
		'{"resource":["https://api.example.com/","https://files.example.com/v1"],"scope":["company"]}',
		1700000000000, 4102444800000)`,
}

// rows0007 are rows0006 as version 7 stores them: families have a
// certificate thumbprint (x5t).
var rows0007 = slices.Concat(rows0006[:7], []string{
	`INSERT INTO refresh_families VALUES ('fam1', 'c1', 'u1', 'conn1', '["company"]', 'rotating', 0,
		1700000000000, 0, 1700000000000, 0, 'jkt-f1', '["https://api.example.com/","https://files.example.com/v1"]',
		'x5t-f1')`,
}, rows0006[8:])

// rows0008 are rows0007 as version 8 stores them: refresh tokens have a
// retry answer (NULL = none); AA was rotated, with the answer 52E7.
var rows0008 = slices.Concat(rows0007[:8], []string{
	`INSERT INTO refresh_tokens VALUES (X'AA', 'fam1', 1700000000000, 1700000060000, X'52E7')`,
}, rows0007[9:])

// rows0009 are rows0008 as version 9 stores them: auth requests name the
// device request they approve (NULL = none); r1 names DE, a pending
// device request polled 5 s after its creation.
var rows0009 = slices.Concat(rows0008[:3], []string{
	`INSERT INTO auth_requests VALUES ('r1', 'c1', 'code', 'https://a.example/cb', 'st', '["company"]',
		'chal', 'S256', 'csrf', 'u1', 1700000000000, 4102444800000, 'cust', 'Acme', 'gusto', 1, '203.0.113.7',
		'jkt-r1', '["https://api.example.com/","https://files.example.com/v1"]', X'DE')`,
}, rows0008[4:], []string{
	`INSERT INTO device_requests VALUES (X'DE', X'DF', 'c1', '["company"]',
		'["https://api.example.com/","https://files.example.com/v1"]', 'pending', 5000000000,
		1700000005000, 1700000000000, 4102444800000)`,
})

// TestMigrateUpWithData migrates, for every version v, a database at v
// holding data up to the latest version, and checks the data.
func TestMigrateUpWithData(t *testing.T) {
	for v := 1; v <= LatestVersion(); v++ {
		u, ok := upgrades[v]
		if !ok {
			t.Fatalf("no upgrades[%d]: add seed data for migration %s", v, migrations[v-1].Name)
		}
		t.Run(migrations[v-1].Name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "grantd.db")
			s, err := open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.migrateTo(ctx, v); err != nil {
				t.Fatal(err)
			}
			wantVersion(t, s, v)
			if err := s.writeTx(ctx, func(tx *sql.Tx) error { return u.seed(ctx, tx) }); err != nil {
				t.Fatalf("seed at version %d: %v", v, err)
			}
			// Every table of version v has data to carry over.
			for table, n := range rowCounts(t, s) {
				if n == 0 {
					t.Errorf("upgrades[%d] seeds no row in table %s", v, table)
				}
			}
			s.Close()

			s = openT(t, path)
			wantVersion(t, s, LatestVersion())
			u.check(t, s)
		})
	}
}

// rowCounts returns the number of rows in each table of the schema, but
// SQLite's own and schema_migrations.
func rowCounts(t *testing.T, s *Store) map[string]int {
	t.Helper()
	ctx := t.Context()
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name != 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, table := range tables {
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+table+`"`).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		counts[table] = n
	}
	return counts
}

func TestRefusesNewerDatabase(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "grantd.db")
	s := openT(t, path)
	if _, err := s.writeExec(ctx, `INSERT INTO schema_migrations VALUES (?, 'future.sql', 0)`, LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
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

func TestOpenRefusesMemory(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

// TestPragmas checks the settings each pool's connections run with.
func TestPragmas(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "a dir?#%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := openT(t, filepath.Join(dir, "grantd.db"))
	for _, tc := range []struct {
		db     *sql.DB
		pragma string
		want   int64
	}{
		{s.w, "foreign_keys", 1},
		{s.w, "synchronous", 1}, // NORMAL
		{s.w, "busy_timeout", busyTimeoutMS},
		{s.w, "temp_store", 2}, // MEMORY: savepoints' statement journals
		{s.w, "query_only", 0},
		{s.r, "foreign_keys", 1},
		{s.r, "busy_timeout", busyTimeoutMS},
		{s.r, "query_only", 1},
	} {
		var got int64
		if err := tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil || got != tc.want {
			t.Errorf("PRAGMA %s = %d, %v; want %d", tc.pragma, got, err, tc.want)
		}
	}
	var mode string
	if err := s.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if _, err := s.r.ExecContext(ctx, `DELETE FROM clients`); err == nil {
		t.Errorf("a write on the read pool succeeded")
	}
}

func TestMapErr(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "grantd.db"))
	if err := mapErr(sql.ErrNoRows); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("mapErr(ErrNoRows) = %v", err)
	}
	c := store.Client{ID: "c1"}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("duplicate primary key: %v, want ErrConflict with the cause", err)
	}
	// A record that refers to a missing client.
	err := s.CreateAuthRequest(ctx, store.AuthRequest{ID: "r1", ClientID: "nobody"}, 0)
	if !errors.Is(err, store.ErrMissingParent) || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("missing foreign key: %v, want ErrMissingParent with the cause", err)
	}
	if err := mapErr(errors.New("other")); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		t.Errorf("mapErr(other) = %v", err)
	}
}

// TestFileModes: a new database, and the -wal and -shm files SQLite creates
// next to it, are readable by their owner only; an existing file keeps its
// mode.
func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes on Windows")
	}
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "grantd.db")
	s := openT(t, path)
	if err := s.CreateClient(ctx, store.Client{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), m)
		}
	}

	loose := filepath.Join(dir, "loose.db")
	if err := os.WriteFile(loose, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	openT(t, loose)
	if fi, err := os.Stat(loose); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("an existing file's mode changed: %v, %v; want 0644 kept", fi.Mode(), err)
	}
}
