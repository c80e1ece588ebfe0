// Package storetest is the conformance suite every store.Store backend runs
// from its own _test.go:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { … a fresh, empty store … })
//	}
//
// It tests only what the store package documents, through the interface.
// What it asks of a backend beyond the method comments:
//
//   - Times keep at least millisecond precision and come back in UTC
//     (Location() == time.UTC); the suite compares them with time.Equal
//     after truncating both sides to the millisecond. The zero time comes
//     back as the zero time.
//   - Durations keep at least millisecond precision.
//   - Slices, maps and byte slices round-trip, where nil and empty are
//     equal.
//   - The store holds no protocol rule: Decide shows a spent code, a
//     rotated refresh token or a revoked family as it is, and writes what
//     decide returns. The races decide with functions that model the grant
//     core (Redeem, Refresh in models.go): exactly one of many concurrent
//     decisions on one code or token sees it unused.
//   - Concurrent callers never see an error other than the documented ones
//     (for SQLite: never "database is locked").
//
// newStore must return a new, empty, migrated store and close it when the
// test ends (t.Cleanup).
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/store"
)

// Run runs the conformance suite against the backend newStore makes.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []test
	}{
		{"Clients", clientTests},
		{"Balances", balanceTests},
		{"AuthRequests", authRequestTests},
		{"PushedRequests", pushedRequestTests},
		{"DeviceRequests", deviceRequestTests},
		{"Codes", codeTests},
		{"Refresh", refreshTests},
		{"RevokeFamily", revokeFamilyTests},
		{"AccessTokens", accessTokenTests},
		{"Connections", connectionTests},
		{"ConnectionLifecycle", connectionLifecycleTests},
		{"Events", eventTests},
		{"SigningKeys", signingKeyTests},
		{"DeleteExpired", deleteExpiredTests},
		{"Ping", pingTests},
		{"Bulk", bulkTests},
		{"Concurrency", concurrencyTests},
		{"KeyConcurrency", keyConcurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
			}
		})
	}
	t.Run("Copy", func(t *testing.T) {
		for _, tc := range copyTests {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore) })
		}
	})
}

// test is one subtest, on a fresh store.
type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// storesTest is a subtest that makes its own fresh stores (a copy needs
// two).
type storesTest struct {
	name string
	fn   func(t *testing.T, newStore func(t *testing.T) store.Store)
}

var pingTests = []test{
	{"Ping", func(t *testing.T, s store.Store) {
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}},
}

// t0 is the suite's clock: every "now" is t0 plus an offset. It has
// microseconds, which a backend may drop (it must keep milliseconds).
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 891_234_000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// elsewhere is a zone some "now" values are given in: they come back in UTC.
var elsewhere = time.FixedZone("UTC-7", -7*60*60)

var errCheck = errors.New("storetest: check refused")

func newID() string { return rand.Text() }

// newUUID is for the IDs the store documents as UUIDs (clients,
// connections): a backend may keep them in a UUID column.
func newUUID() string { return uuid.NewString() }

func newHash() []byte { return store.Hash(rand.Text()) }

// ---- comparison ----

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

// same reports a difference between got and want after normalizing both:
// times and durations truncated to the millisecond (times in UTC), nil
// slices and maps made empty. It also checks that got's times are in UTC.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	checkUTC(t, what, reflect.ValueOf(got))
	g, w := normalize(reflect.ValueOf(got)).Interface(), normalize(reflect.ValueOf(want)).Interface()
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// sameTime compares two times as same does.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	same(t, what, got, want)
}

// normalize returns a normalized deep copy of v (pointers are kept as they
// are).
func normalize(v reflect.Value) reflect.Value {
	switch v.Type() {
	case timeType:
		return reflect.ValueOf(v.Interface().(time.Time).Truncate(time.Millisecond).UTC())
	case durationType:
		return reflect.ValueOf(v.Interface().(time.Duration).Truncate(time.Millisecond))
	}
	switch v.Kind() {
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(normalize(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(normalize(v.Index(i)))
		}
		return out
	case reflect.Map:
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), normalize(it.Value()))
		}
		return out
	}
	return v
}

func checkUTC(t *testing.T, what string, v reflect.Value) {
	t.Helper()
	if v.Type() == timeType {
		if tm := v.Interface().(time.Time); !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				checkUTC(t, what+"."+v.Type().Field(i).Name, v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkUTC(t, what, v.Index(i))
		}
	}
}

// wantErr fails unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// ---- fixtures ----

func newClient() store.Client {
	id := newUUID()
	return store.Client{
		ID:                 id,
		Name:               "client " + id,
		SecretHash:         store.Hash("secret " + id),
		AuthMethod:         store.AuthMethodBasic,
		GrantTypes:         []string{"authorization_code", "refresh_token"},
		ResponseTypes:      []string{"code", "temp_token"},
		RedirectURIs:       []string{"https://app.example/callback", "http://127.0.0.1:8080/cb"},
		Scopes:             []string{"company", "directory", "payment"},
		Environment:        "sandbox",
		Tier:               "gold",
		State:              store.ClientActive,
		RefreshPolicy:      store.RefreshRotating,
		RefreshIdleTimeout: 30 * 24 * time.Hour,
		RefreshTTL:         90*24*time.Hour + 1500*time.Millisecond,
		AccessTokenTTL:     time.Hour,
		TokenFormat:        store.TokenFormatOpaque,
		ConsentURL:         "https://consent.example/" + id,
		ResourceServer:     true,
		// A webhook URL: the client's connections have events.
		WebhookURL:    "https://hooks.example/" + id,
		WebhookSecret: newHash(), // opaque bytes to the store
		ConsentTTL:    180*24*time.Hour + 250*time.Millisecond,
		RetentionTTL:  7 * 365 * 24 * time.Hour,
		Metadata:      map[string]string{"team": "payroll", "contact": "ops@example.com"},
		// Not in UTC on the way in: it comes back in UTC.
		CreatedAt:      t0.In(elsewhere),
		UpdatedAt:      t0.Add(time.Minute),
		StateReason:    "contract signed",
		StateChangedAt: t0.Add(30 * time.Second),
		OperatingHours: &store.Schedule{TimeZone: "Europe/Bucharest",
			Weekly:      map[string][]string{"mon": {"09:00-17:00"}, "sat": {"22:00-02:00", "10:00-12:00"}},
			ClosedDates: []string{"2031-12-25"}},
		Metered:          true,
		Balance:          1000,
		BalanceUpdatedAt: t0.Add(20 * time.Second),
		Overdraft:        true,
		FirstTokenAt:     t0.Add(40 * time.Second),
		// A rotated secret in its grace period, an RFC 7592 registration
		// token and a per-client algorithm: opaque to the store.
		PreviousSecretHash:      store.Hash("previous secret " + id),
		PreviousSecretExpiresAt: t0.Add(24 * time.Hour),
		RegistrationTokenHash:   store.Hash("registration token " + id),
		AccessTokenSigningAlg:   "PS256",
		DPoPBoundAccessTokens:   true,
		// Financial-grade settings: one JSON document to the backends.
		Security: store.ClientSecurity{AllowedResources: []string{"https://api.example.com/"}, RequirePAR: true},
	}
}

// newMetered is a metered client with balance and no overdraft, that never
// obtained a token.
func newMetered(balance int64) store.Client {
	c := newClient()
	c.Metered, c.Balance, c.Overdraft, c.FirstTokenAt = true, balance, false, time.Time{}
	return c
}

// listAll lists everything list lists: one page, with no limit (and no
// next cursor).
func listAll[T any](t *testing.T, what string, list func(store.Page) ([]T, string, error)) []T {
	t.Helper()
	items, next, err := list(store.Page{})
	must(t, what, err)
	if next != "" {
		t.Errorf("%s with no limit: next cursor %q, want none", what, next)
	}
	return items
}

// listClients lists every client.
func listClients(t *testing.T, s store.Store) []store.Client {
	t.Helper()
	return listAll(t, "ListClients", func(p store.Page) ([]store.Client, string, error) { return s.ListClients(t.Context(), p) })
}

// listConnections lists every connection of clientID ("" = all).
func listConnections(t *testing.T, s store.Store, clientID string) []store.Connection {
	t.Helper()
	return listAll(t, "ListConnections", func(p store.Page) ([]store.Connection, string, error) {
		return s.ListConnections(t.Context(), clientID, p)
	})
}

// listLedger lists a client's whole ledger.
func listLedger(t *testing.T, s store.Store, clientID string) []store.LedgerEntry {
	t.Helper()
	return listAll(t, "ListLedger", func(p store.Page) ([]store.LedgerEntry, string, error) {
		return s.ListLedger(t.Context(), clientID, p)
	})
}

// walk lists every page of list with at most limit items each, and
// returns the pages. Every page but the last is full and has a cursor.
func walk[T any](t *testing.T, what string, limit int, list func(store.Page) ([]T, string, error)) [][]T {
	t.Helper()
	var pages [][]T
	p := store.Page{Limit: limit}
	for {
		items, next, err := list(p)
		must(t, what, err)
		if len(items) > limit || (next != "" && len(items) != limit) {
			t.Fatalf("%s(%+v): %d items, next %q; want at most %d, and %d when a page follows", what, p, len(items), next,
				limit, limit)
		}
		pages = append(pages, items)
		if next == "" {
			return pages
		}
		if len(pages) > 100 {
			t.Fatalf("%s: more than 100 pages", what)
		}
		p.After = next
	}
}

func createClient(t *testing.T, s store.Store) store.Client {
	t.Helper()
	c := newClient()
	must(t, "CreateClient", s.CreateClient(t.Context(), c))
	return c
}

func newAuthRequest(clientID string) store.AuthRequest {
	return store.AuthRequest{
		ID:                  newID(),
		ClientID:            clientID,
		ResponseType:        "code",
		RedirectURI:         "https://app.example/callback",
		State:               "state-" + newID(),
		Scopes:              []string{"company", "directory"},
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		CSRFToken:           newID(),
		CustomerID:          "customer-" + newID(),
		CustomerName:        "Acme Inc.",
		ProviderID:          "gusto",
		ProviderFixed:       true,
		SourceAddress:       "203.0.113.7",
		DPoPJKT:             "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		Resources:           []string{"https://api.example.com/", "https://files.example.com/v1"},
		DeviceHash:          newHash(),
		CreatedAt:           t0,
		ExpiresAt:           at(10 * time.Minute),
	}
}

func newConnection(clientID string, created time.Time) store.Connection {
	return store.Connection{
		ID:                 newUUID(),
		ClientID:           clientID,
		CustomerID:         "customer-" + newID(),
		CustomerName:       "Acme Inc.",
		ProviderID:         "gusto",
		Subject:            "user-1",
		Products:           []string{"company", "directory"},
		EntityIDs:          []string{"entity-1", "entity-2"},
		ConnectionType:     "provider",
		Environment:        "sandbox",
		Status:             store.ConnectionActive,
		CreatedAt:          created,
		ConsentExpiresAt:   created.Add(365 * 24 * time.Hour),
		DataRetentionUntil: created.Add(400 * 24 * time.Hour),
	}
}

func newCode(clientID, connectionID string) store.AuthCode {
	return store.AuthCode{
		Hash:                newHash(),
		Kind:                "code",
		ClientID:            clientID,
		RedirectURI:         "https://app.example/callback",
		Scopes:              []string{"company", "directory"},
		Subject:             "user-1",
		ConnectionID:        connectionID,
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		GrantID:             newID(),
		DPoPJKT:             "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		Resources:           []string{"https://api.example.com/", "https://files.example.com/v1"},
		CreatedAt:           t0,
		ExpiresAt:           at(time.Minute),
	}
}

// newAccessToken is a token of code's grant, issued at now.
func newAccessToken(code store.AuthCode, now time.Time) store.AccessToken {
	return store.AccessToken{
		ID:           newID(),
		ClientID:     code.ClientID,
		Subject:      code.Subject,
		FamilyID:     code.GrantID,
		ConnectionID: code.ConnectionID,
		Scopes:       code.Scopes,
		Format:       store.TokenFormatOpaque,
		CreatedAt:    now,
		ExpiresAt:    now.Add(time.Hour),
		JKT:          "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		Audience:     []string{"https://api.example.com/", "https://files.example.com/v1"},
		X5T:          "x5t-thumbprint-fixture",
	}
}

// newCCToken is a client-credentials token: no grant, no connection.
func newCCToken(clientID string, now time.Time) store.AccessToken {
	return store.AccessToken{
		ID:        newID(),
		ClientID:  clientID,
		Subject:   clientID,
		Scopes:    []string{"company"},
		Format:    store.TokenFormatJWT,
		CreatedAt: now,
		ExpiresAt: now.Add(time.Hour),
	}
}

// revokedConn is conn as RevokeConnection at now leaves it: revoked, and its
// data retention moved to now plus its retention period after the consent
// (DataRetentionUntil - ConsentExpiresAt) when that is earlier.
func revokedConn(conn store.Connection, now time.Time) store.Connection {
	conn.Status, conn.RevokedAt = store.ConnectionRevoked, now
	if !conn.ConsentExpiresAt.IsZero() && !conn.DataRetentionUntil.IsZero() {
		if until := now.Add(conn.DataRetentionUntil.Sub(conn.ConsentExpiresAt)); until.Before(conn.DataRetentionUntil) {
			conn.DataRetentionUntil = until
		}
	}
	return conn
}

// newCodeGrant is what redeeming code at now writes: the code spent, a
// family with policy, its first refresh token and an access token.
func newCodeGrant(code store.AuthCode, now time.Time, policy string) store.Writes {
	tok := newAccessToken(code, now)
	return store.Writes{
		At:        now,
		SpendCode: true,
		Family: &store.RefreshFamily{
			ID:           code.GrantID,
			ClientID:     code.ClientID,
			Subject:      code.Subject,
			ConnectionID: code.ConnectionID,
			Scopes:       code.Scopes,
			Policy:       policy,
			IdleTimeout:  24 * time.Hour,
			CreatedAt:    now,
			ExpiresAt:    now.Add(90 * 24 * time.Hour),
			LastUsedAt:   now,
			JKT:          "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
			X5T:          "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2",
			Resources:    code.Resources,
		},
		RefreshToken: &store.RefreshToken{Hash: newHash(), FamilyID: code.GrantID, CreatedAt: now},
		AccessToken:  &tok,
	}
}

// grant is a redeemed code and what redeeming it wrote.
type grant struct {
	code store.AuthCode
	store.Writes
}

// issueGrant creates a code for client (with conn when not nil) and redeems
// it at t0+10s, writing newCodeGrant with policy. Decide must show conn.
func issueGrant(t *testing.T, s store.Store, clientID string, conn *store.Connection, policy string) grant {
	t.Helper()
	var connID string
	if conn != nil {
		connID = conn.ID
	}
	code := newCode(clientID, connID)
	must(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), code, conn))
	g := newCodeGrant(code, at(10*time.Second), policy)
	l := decide(t, s, codeKey(code), g)
	sameConn(t, "the connection Decide showed for the code", l.Connection, conn)
	return grant{code: code, Writes: g}
}

func codeKey(c store.AuthCode) store.GrantKey { return store.GrantKey{CodeHash: c.Hash} }
func refreshKey(hash []byte) store.GrantKey   { return store.GrantKey{RefreshHash: hash} }

// decide runs Decide on key, writing w whatever it is shown, fails the test
// if Decide fails, and returns what decide was shown.
func decide(t *testing.T, s store.Store, key store.GrantKey, w store.Writes) store.Locked {
	t.Helper()
	var seen store.Locked
	must(t, "Decide", s.Decide(t.Context(), key, func(l store.Locked) (store.Writes, error) {
		seen = l
		return w, nil
	}))
	return seen
}

// peek returns what Decide locks for key, writing nothing.
func peek(t *testing.T, s store.Store, key store.GrantKey) store.Locked {
	t.Helper()
	l, err := Peek(t.Context(), s, key)
	must(t, "Decide (peek)", err)
	return l
}

// putAccessToken records tok, as a grant that locks nothing does: Decide
// with the zero key.
func putAccessToken(ctx context.Context, s store.Store, tok store.AccessToken) error {
	return s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: tok.CreatedAt, AccessToken: &tok}, nil
	})
}

func createAccessToken(t *testing.T, s store.Store, tok store.AccessToken) {
	t.Helper()
	must(t, "Decide(record an access token)", putAccessToken(t.Context(), s, tok))
}

// sameConn compares the connection Decide showed with want (nil: none).
func sameConn(t *testing.T, what string, got, want *store.Connection) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s: %+v, want nil", what, *got)
	case want != nil && got == nil:
		t.Errorf("%s: nil, want %+v", what, *want)
	case want != nil:
		same(t, what, *got, *want)
	}
}

// revoked reports the Revoked flag of access token id.
func revoked(t *testing.T, s store.Store, id string) bool {
	t.Helper()
	tok, err := s.GetAccessToken(t.Context(), id)
	must(t, "GetAccessToken", err)
	return tok.Revoked
}

func wantRevoked(t *testing.T, s store.Store, what, id string, want bool) {
	t.Helper()
	if got := revoked(t, s, id); got != want {
		t.Errorf("%s: access token Revoked = %v, want %v", what, got, want)
	}
}

// wantRevokedAt checks that access token id was itself revoked at when
// (and so reads as revoked); the zero when: not revoked itself.
func wantRevokedAt(t *testing.T, s store.Store, what, id string, when time.Time) {
	t.Helper()
	tok, err := s.GetAccessToken(t.Context(), id)
	must(t, "GetAccessToken", err)
	sameTime(t, what+": access token RevokedAt", tok.RevokedAt, when)
	if !when.IsZero() && !tok.Revoked {
		t.Errorf("%s: access token revoked at %v reads as not Revoked", what, tok.RevokedAt)
	}
}

// familyOf returns the family of refresh token hash.
func familyOf(t *testing.T, s store.Store, hash []byte) store.RefreshFamily {
	t.Helper()
	_, f, err := s.GetRefreshToken(t.Context(), hash)
	must(t, "GetRefreshToken", err)
	return f
}

// notCalled is a decide function that must not run.
func notCalled(t *testing.T) func(store.Locked) (store.Writes, error) {
	return func(store.Locked) (store.Writes, error) {
		t.Error("decide called, want not called")
		return store.Writes{}, errCheck
	}
}
