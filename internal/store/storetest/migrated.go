package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// What the backends' migration tests (migrate_test.go, which seed a
// database at each schema version with raw SQL) check through the Store
// after migrating, where both backends' seeds hold the same records.

// CheckMigratedBalance checks client c1 and its ledger as the seed of a
// version with 0003 (SQLite) or 0002 (PostgreSQL) stores them: a suspended,
// metered client with overdraft, operating hours, a balance of 42 from one
// top-up (ledger seq ledgerSeq, key order-1) and no first token; then that
// the data works: a replayed key, a new entry after the stored one, and
// the janitor's cleanup.
func CheckMigratedBalance(t *testing.T, s store.Store, stateChangedMS, balanceMS, ledgerSeq int64) {
	t.Helper()
	ctx := t.Context()
	c, err := s.GetClient(ctx, "c1")
	if err != nil || c.StateReason != "unpaid" || c.StateChangedAt.UnixMilli() != stateChangedMS || !c.Metered ||
		!c.Overdraft || c.Balance != 42 || c.BalanceUpdatedAt.UnixMilli() != balanceMS || !c.FirstTokenAt.IsZero() ||
		!reflect.DeepEqual(c.OperatingHours, &store.Schedule{TimeZone: "UTC", Weekly: map[string][]string{"mon": {"09:00-17:00"}}}) {
		t.Errorf("client: %+v, %v", c, err)
	}
	es, _, err := s.ListLedger(ctx, "c1", store.Page{})
	want := []store.LedgerEntry{{Seq: ledgerSeq, ID: "led_1", ClientID: "c1", Kind: store.LedgerTopUp, Amount: 42, Balance: 42,
		Reason: "prepaid", IdempotencyKey: "order-1", CreatedAt: time.UnixMilli(balanceMS).UTC()}}
	if err != nil || !reflect.DeepEqual(es, want) {
		t.Errorf("ledger:\n got %+v, %v\nwant %+v", es, err, want)
	}
	at := time.UnixMilli(balanceMS + 1000).UTC()
	if e, replayed, err := s.AdjustBalance(ctx, "c1", store.LedgerEntry{Kind: store.LedgerTopUp, Amount: 42,
		IdempotencyKey: "order-1", CreatedAt: at}); err != nil || !replayed || e != want[0] {
		t.Errorf("a stored key again: %+v, %v, %v", e, replayed, err)
	}
	if e, _, err := s.AdjustBalance(ctx, "c1", store.LedgerEntry{Kind: store.LedgerDebit, Amount: -50, CreatedAt: at}); err != nil ||
		e.Seq <= ledgerSeq || e.Balance != -8 {
		t.Errorf("a new entry: %+v, %v; want seq > %d, balance -8 (overdraft)", e, err, ledgerSeq)
	}
	// Metered, c1 is kept by the cleanup of unused clients (its
	// balance and ledger are an operator's); once not metered, it goes.
	if n, err := s.DeleteUnusedClients(ctx, "k", "v", at, 10); err != nil || n != 0 {
		t.Errorf("DeleteUnusedClients: %d, %v; want the metered c1 kept", n, err)
	}
	if _, err := s.UpdateClient(ctx, "c1", func(c *store.Client) error { c.Metered = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteUnusedClients(ctx, "k", "v", at, 10); err != nil || n != 1 {
		t.Errorf("DeleteUnusedClients: %d, %v; want c1 (no first token) deleted", n, err)
	}
}

// CheckClientBeforeBalances checks a client stored before the migration
// that added balances (SQLite's 0003, PostgreSQL's 0002): the fields it
// added take their defaults, but the client counts as having obtained a
// token at firstTokenMS (its earliest token, else its creation), so that
// the janitor does not delete it, and it has no ledger.
func CheckClientBeforeBalances(t *testing.T, s store.Store, c store.Client, firstTokenMS int64) {
	t.Helper()
	if c.StateReason != "" || !c.StateChangedAt.IsZero() || c.OperatingHours != nil || c.Metered || c.Overdraft ||
		c.Balance != 0 || !c.BalanceUpdatedAt.IsZero() || c.FirstTokenAt.UnixMilli() != firstTokenMS {
		t.Errorf("client %s: the balances migration's fields %q %v %v %v %v %d %v %v; want defaults, first token at %d",
			c.ID, c.StateReason, c.StateChangedAt, c.OperatingHours, c.Metered, c.Overdraft, c.Balance, c.BalanceUpdatedAt,
			c.FirstTokenAt, firstTokenMS)
	}
	if es, _, err := s.ListLedger(t.Context(), c.ID, store.Page{}); err != nil || len(es) != 0 {
		t.Errorf("ledger of client %s: %+v, %v", c.ID, es, err)
	}
	if n, err := s.DeleteUnusedClients(t.Context(), "k", "v", time.UnixMilli(1<<50), 10); err != nil || n != 0 {
		t.Errorf("DeleteUnusedClients of clients from before the balances migration: %d, %v; want none", n, err)
	}
}

// CheckMigratedKeys checks the signing keys of a seed from before keys
// had times (SQLite's 0004, PostgreSQL's 0003): k1 current, k0 previous
// and kr retired, all ES256, created at createdMS, an hour and two hours
// before, and a JWT access token expiring 500 days from now. After the
// migration the retired key is gone; the others signed from their creation
// (k1 last, so that it stays current) and, since what they signed is not
// known, are kept a day past the latest JWT's exp (at least 400 days). Then the keys
// work with what the migration added: a rotation after k1, a reservation,
// and the deletion of a key no longer kept.
func CheckMigratedKeys(t *testing.T, s store.Store, createdMS int64) {
	t.Helper()
	ctx := t.Context()
	keys, err := s.ListSigningKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "k1" || keys[1].ID != "k0" {
		t.Fatalf("signing keys: %+v, %v; want k1 and k0", keys, err)
	}
	low, high := time.Now().Add(501*24*time.Hour-time.Hour), time.Now().Add(501*24*time.Hour+time.Hour)
	for i, k := range keys {
		created := time.UnixMilli(createdMS - int64(i)*3600_000).UTC()
		if k.Algorithm != "ES256" || !k.CreatedAt.Equal(created) || !k.ActivatesAt.Equal(created) ||
			k.KeepUntil.Before(low) || k.KeepUntil.After(high) {
			t.Errorf("key %s: %+v; want created and activated at %v, kept until about 501 days from now", k.ID, k, created)
		}
	}
	// One rotation after k1, and none with the same since again.
	k2 := store.SigningKey{ID: "k2", Algorithm: "ES256", EncryptedKey: []byte{2}, CreatedAt: time.UnixMilli(createdMS + 1000).UTC(),
		ActivatesAt: time.UnixMilli(createdMS + 181_000).UTC()}
	for _, want := range []bool{true, false} {
		if added, err := s.AddSigningKey(ctx, k2, keys[0].CreatedAt); err != nil || added != want {
			t.Errorf("AddSigningKey(%s) after k1: %v, %v; want %v", k2.ID, added, err, want)
		}
		k2.ID = "k3"
	}
	if err := s.ReserveSigningKey(ctx, "k2", high.Add(time.Hour)); err != nil {
		t.Errorf("ReserveSigningKey(k2): %v", err)
	}
	if ok, err := s.DeleteSigningKey(ctx, "k0", high); err != nil || !ok {
		t.Errorf("DeleteSigningKey(k0) past its keep_until: %v, %v", ok, err)
	}
	keys, err = s.ListSigningKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "k2" || keys[1].ID != "k1" ||
		!keys[0].KeepUntil.Truncate(time.Millisecond).Equal(high.Add(time.Hour).Truncate(time.Millisecond)) {
		t.Errorf("keys after a rotation and a deletion: %+v, %v", keys, err)
	}
}

// CheckMigratedLifecycle checks the records of a seed at the version with
// key lifecycles (SQLite's 0004, PostgreSQL's 0003): keys k2 (PS256, kept
// until keepMS) and k3 (EdDSA, nothing reserved), created at createdMS and
// a second later, each signing three minutes after its creation; and
// client c1's rotated secret (hash 0C0D, until prevMS), registration token
// (hash 0E0F) and algorithm PS256.
func CheckMigratedLifecycle(t *testing.T, s store.Store, createdMS, keepMS, prevMS int64) {
	t.Helper()
	ctx := t.Context()
	ms := func(v int64) time.Time { return time.UnixMilli(v).UTC() }
	keys, err := s.ListSigningKeys(ctx)
	want := []store.SigningKey{
		{ID: "k3", Algorithm: "EdDSA", EncryptedKey: []byte{3}, CreatedAt: ms(createdMS + 1000), ActivatesAt: ms(createdMS + 181_000)},
		{ID: "k2", Algorithm: "PS256", EncryptedKey: []byte{2}, CreatedAt: ms(createdMS), ActivatesAt: ms(createdMS + 180_000),
			KeepUntil: ms(keepMS)},
	}
	if err != nil || !reflect.DeepEqual(keys, want) {
		t.Errorf("signing keys:\n got %+v, %v\nwant %+v", keys, err, want)
	}
	c, err := s.GetClient(ctx, "c1")
	if err != nil || string(c.PreviousSecretHash) != "\x0c\x0d" || !c.PreviousSecretExpiresAt.Equal(ms(prevMS)) ||
		string(c.RegistrationTokenHash) != "\x0e\x0f" || c.AccessTokenSigningAlg != "PS256" {
		t.Errorf("client: %+v, %v", c, err)
	}
}

// CheckClientBeforeLifecycle checks a client stored before the migration
// that added secret rotation, registration tokens and per-client
// algorithms: those fields are empty.
func CheckClientBeforeLifecycle(t *testing.T, c store.Client) {
	t.Helper()
	if c.PreviousSecretHash != nil || !c.PreviousSecretExpiresAt.IsZero() || c.RegistrationTokenHash != nil || c.AccessTokenSigningAlg != "" {
		t.Errorf("client %s: %x %v %x %q; want the new fields empty", c.ID, c.PreviousSecretHash, c.PreviousSecretExpiresAt,
			c.RegistrationTokenHash, c.AccessTokenSigningAlg)
	}
}

// The records of client c1 the migration seeds of both backends hold from
// version 5 on: auth request r1, code CC, refresh token AA (of family
// fam1) and access token at1.

// CheckBeforeFAPI checks c1's records as a seed from before the migration
// that added resource indicators and client security settings (0006 in
// both backends) stores them: no security settings, no resources, no
// audience (nil or empty), no certificate thumbprint; and an access token
// written after the migration keeps its thumbprint.
func CheckBeforeFAPI(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	none := normalize(reflect.ValueOf(store.ClientSecurity{})).Interface()
	if c, err := s.GetClient(ctx, "c1"); err != nil || !reflect.DeepEqual(normalize(reflect.ValueOf(c.Security)).Interface(), none) {
		t.Errorf("client c1 from before 0006: security %+v, %v; want none", c.Security, err)
	}
	r, err := s.GetAuthRequest(ctx, "r1", time.UnixMilli(1700000000000))
	if err != nil || len(r.Resources) != 0 {
		t.Errorf("auth request from before 0006: %+v, %v; want no resources", r, err)
	}
	if l, err := Peek(ctx, s, store.GrantKey{CodeHash: []byte{0xCC}}); err != nil || len(l.Code.Resources) != 0 {
		t.Errorf("code from before 0006: %+v, %v; want no resources", l, err)
	}
	if _, f, err := s.GetRefreshToken(ctx, []byte{0xAA}); err != nil || len(f.Resources) != 0 {
		t.Errorf("family from before 0006: %+v, %v; want no resources", f, err)
	}
	if a, err := s.GetAccessToken(ctx, "at1"); err != nil || len(a.Audience) != 0 || a.X5T != "" {
		t.Errorf("access token from before 0006: %+v, %v; want no audience and no x5t", a, err)
	}
	checkX5TWritten(t, s)
}

// checkX5TWritten writes a revoked access token of c1 bound to a client
// certificate and checks that it reads back with the thumbprint.
func checkX5TWritten(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	now := time.UnixMilli(1700000000000).UTC()
	tok := store.AccessToken{ID: "at-x5t", ClientID: "c1", Subject: "c1", Scopes: []string{"company"},
		Format: store.TokenFormatOpaque, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		X5T: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
	if err := s.RevokeAccessToken(ctx, tok, now); err != nil {
		t.Fatalf("RevokeAccessToken of a certificate-bound token: %v", err)
	}
	if a, err := s.GetAccessToken(ctx, tok.ID); err != nil || a.X5T != tok.X5T {
		t.Errorf("access token written after 0006: %+v, %v; want x5t %q", a, err, tok.X5T)
	}
}

// CheckMigratedFAPI checks c1's records as a seed at the version with
// resource indicators (0006) stores them: c1 may ask for
// https://api.example.com/ and must push its requests; r1, CC and fam1
// have the resources https://api.example.com/ and
// https://files.example.com/v1, at1 them as its audience and the
// certificate thumbprint x5t-a1; the request pushed with hash EE (until
// 2100), with those resources and the scope company, is given once; and
// an access token written keeps its thumbprint.
func CheckMigratedFAPI(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	resources := []string{"https://api.example.com/", "https://files.example.com/v1"}
	if c, err := s.GetClient(ctx, "c1"); err != nil || !reflect.DeepEqual(c.Security,
		store.ClientSecurity{AllowedResources: []string{"https://api.example.com/"}, RequirePAR: true}) {
		t.Errorf("client c1: security %+v, %v", c.Security, err)
	}
	if r, err := s.GetAuthRequest(ctx, "r1", time.UnixMilli(1700000000000)); err != nil || !reflect.DeepEqual(r.Resources, resources) {
		t.Errorf("auth request: %+v, %v; want resources %v", r, err, resources)
	}
	if l, err := Peek(ctx, s, store.GrantKey{CodeHash: []byte{0xCC}}); err != nil || !reflect.DeepEqual(l.Code.Resources, resources) {
		t.Errorf("code: %+v, %v; want resources %v", l, err, resources)
	}
	if _, f, err := s.GetRefreshToken(ctx, []byte{0xAA}); err != nil || !reflect.DeepEqual(f.Resources, resources) {
		t.Errorf("family: %+v, %v; want resources %v", f, err, resources)
	}
	if a, err := s.GetAccessToken(ctx, "at1"); err != nil || !reflect.DeepEqual(a.Audience, resources) || a.X5T != "x5t-a1" {
		t.Errorf("access token: %+v, %v; want audience %v, x5t x5t-a1", a, err, resources)
	}
	checkX5TWritten(t, s)
	now := time.UnixMilli(1700000000000).UTC()
	want := store.PushedRequest{Hash: []byte{0xEE}, ClientID: "c1",
		Params:    map[string][]string{"resource": resources, "scope": {"company"}},
		CreatedAt: now, ExpiresAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	if p, err := s.TakePushedRequest(ctx, []byte{0xEE}, "c1", now); err != nil || !reflect.DeepEqual(p, want) {
		t.Errorf("pushed request:\n got %+v, %v\nwant %+v", p, err, want)
	}
	if _, err := s.TakePushedRequest(ctx, []byte{0xEE}, "c1", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pushed request taken again: %v, want ErrNotFound", err)
	}
}

// CheckFamilyBeforeX5T checks family fam1 (of refresh token AA) as a seed
// from before the migration that bound refresh families to client
// certificates (0007 in both backends) stores it: no thumbprint, through
// GetRefreshToken and Decide; and that a family written after the
// migration keeps its thumbprint.
func CheckFamilyBeforeX5T(t *testing.T, s store.Store) {
	t.Helper()
	checkFamilyX5T(t, s, "family from before 0007", []byte{0xAA}, "")
	checkFamilyX5TWritten(t, s)
}

// CheckMigratedFamilyX5T checks family fam1 (of refresh token AA) as a
// seed at the version with certificate-bound families (0007) stores it:
// bound to the thumbprint x5t-f1; and that a family written keeps its
// thumbprint.
func CheckMigratedFamilyX5T(t *testing.T, s store.Store) {
	t.Helper()
	checkFamilyX5T(t, s, "family", []byte{0xAA}, "x5t-f1")
	checkFamilyX5TWritten(t, s)
}

// checkFamilyX5T checks that the family of refresh token hash reads back
// with thumbprint want through GetRefreshToken and as Decide locks it.
func checkFamilyX5T(t *testing.T, s store.Store, what string, hash []byte, want string) {
	t.Helper()
	ctx := t.Context()
	if _, f, err := s.GetRefreshToken(ctx, hash); err != nil || f.X5T != want {
		t.Errorf("%s: GetRefreshToken: %+v, %v; want x5t %q", what, f, err, want)
	}
	if l, err := Peek(ctx, s, store.GrantKey{RefreshHash: hash}); err != nil || l.Family == nil || l.Family.X5T != want {
		t.Errorf("%s: Decide locked %+v, %v; want a family with x5t %q", what, l.Family, err, want)
	}
}

// checkFamilyX5TWritten writes, through Decide, a family of c1 bound to a
// client certificate, with its refresh token AB, and checks that it reads
// back with the thumbprint.
func checkFamilyX5TWritten(t *testing.T, s store.Store) {
	t.Helper()
	now := time.UnixMilli(1700000000000).UTC()
	fam := store.RefreshFamily{ID: "fam-x5t", ClientID: "c1", Subject: "c1", Scopes: []string{"company"},
		Policy: store.RefreshRotating, CreatedAt: now, LastUsedAt: now,
		X5T: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
	tok := store.RefreshToken{Hash: []byte{0xAB}, FamilyID: fam.ID, CreatedAt: now}
	if err := s.Decide(t.Context(), store.GrantKey{}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now, Family: &fam, RefreshToken: &tok}, nil
	}); err != nil {
		t.Fatalf("Decide writing a certificate-bound family: %v", err)
	}
	checkFamilyX5T(t, s, "family written after the migration", tok.Hash, fam.X5T)
}

// CheckTokenBeforeRetry checks refresh token AA (of family fam1) as a seed
// from before the migration that gave rotated tokens a retry answer (0008
// in both backends) stores it: none (Retry nil), through GetRefreshToken
// and Decide; and that a token rotated after the migration keeps its
// answer.
func CheckTokenBeforeRetry(t *testing.T, s store.Store) {
	t.Helper()
	checkTokenRetry(t, s, "token from before 0008", []byte{0xAA}, nil)
	checkRetryWritten(t, s)
}

// CheckMigratedRetry checks refresh token AA (of family fam1) as a seed at
// the version with retry answers (0008) stores it: rotated with the answer
// 52E7; and that a token rotated keeps its answer.
func CheckMigratedRetry(t *testing.T, s store.Store) {
	t.Helper()
	checkTokenRetry(t, s, "token", []byte{0xAA}, []byte{0x52, 0xE7})
	checkRetryWritten(t, s)
}

// checkTokenRetry checks that refresh token hash reads back with retry
// answer want (nil: none) through GetRefreshToken and as Decide locks it.
func checkTokenRetry(t *testing.T, s store.Store, what string, hash, want []byte) {
	t.Helper()
	ctx := t.Context()
	if tok, _, err := s.GetRefreshToken(ctx, hash); err != nil || !bytes.Equal(tok.Retry, want) || (want == nil) != (tok.Retry == nil) {
		t.Errorf("%s: GetRefreshToken: %+v, %v; want retry %x", what, tok, err, want)
	}
	if l, err := Peek(ctx, s, store.GrantKey{RefreshHash: hash}); err != nil || l.RefreshToken == nil ||
		!bytes.Equal(l.RefreshToken.Retry, want) || (want == nil) != (l.RefreshToken.Retry == nil) {
		t.Errorf("%s: Decide locked %+v, %v; want a token with retry %x", what, l.RefreshToken, err, want)
	}
}

// checkRetryWritten writes, through Decide, refresh token AC of family
// fam1, which reads back with no retry answer, then rotates it with one,
// which it reads back with.
func checkRetryWritten(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	now := time.UnixMilli(1700000000000).UTC()
	tok := store.RefreshToken{Hash: []byte{0xAC}, FamilyID: "fam1", CreatedAt: now}
	if err := s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now, RefreshToken: &tok}, nil
	}); err != nil {
		t.Fatalf("Decide writing a refresh token: %v", err)
	}
	checkTokenRetry(t, s, "token written after the migration", tok.Hash, nil)
	retry := []byte("sealed retry answer")
	if err := s.Decide(ctx, store.GrantKey{RefreshHash: tok.Hash}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now.Add(time.Minute), RotateRefreshToken: true, Retry: retry}, nil
	}); err != nil {
		t.Fatalf("Decide rotating a refresh token with a retry answer: %v", err)
	}
	checkTokenRetry(t, s, "token rotated after the migration", tok.Hash, retry)
}

// CheckRequestBeforeDevice checks auth request r1 as a seed from before
// the migration that added device requests (0009 in both backends) stores
// it: a browser's request (DeviceHash nil, not empty); and that device
// requests written after the migration work.
func CheckRequestBeforeDevice(t *testing.T, s store.Store) {
	t.Helper()
	if r, err := s.GetAuthRequest(t.Context(), "r1", time.UnixMilli(1700000000000)); err != nil || r.DeviceHash != nil {
		t.Errorf("auth request from before 0009: %+v, %v; want DeviceHash nil", r, err)
	}
	checkDeviceWritten(t, s)
}

// CheckMigratedDevice checks c1's records as a seed at the version with
// device requests (0009) stores them: r1 asks to approve the device
// request DE, which is pending under the user hash DF with the scope
// company and the resources https://api.example.com/ and
// https://files.example.com/v1, an interval of 5 s, created at
// 1700000000000, polled 5 s later and expiring in 2100; a poll returns it
// and an approval decides it. Then device requests written work.
func CheckMigratedDevice(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	now := time.UnixMilli(1700000000000).UTC()
	if r, err := s.GetAuthRequest(ctx, "r1", now); err != nil || !bytes.Equal(r.DeviceHash, []byte{0xDE}) {
		t.Errorf("auth request: %+v, %v; want DeviceHash DE", r, err)
	}
	want := store.DeviceRequest{DeviceHash: []byte{0xDE}, UserHash: []byte{0xDF}, ClientID: "c1",
		Scopes: []string{"company"}, Resources: []string{"https://api.example.com/", "https://files.example.com/v1"},
		Status: store.DevicePending, Interval: 5 * time.Second, LastPolledAt: now.Add(5 * time.Second),
		CreatedAt: now, ExpiresAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	if r, err := s.GetDeviceRequestByUser(ctx, []byte{0xDF}, now); err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("device request:\n got %+v, %v\nwant %+v", r, err, want)
	}
	if r, err := s.PollDeviceRequest(ctx, []byte{0xDE}, now.Add(10*time.Second), time.Second); err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("device request polled:\n got %+v, %v\nwant %+v", r, err, want)
	}
	if err := s.DecideDeviceRequest(ctx, []byte{0xDE}, store.DeviceApproved, now); err != nil {
		t.Errorf("DecideDeviceRequest of the stored request: %v", err)
	}
	if _, err := s.GetDeviceRequestByUser(ctx, []byte{0xDF}, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("device request approved, by its user code: %v, want ErrNotFound", err)
	}
	checkDeviceWritten(t, s)
}

// checkDeviceWritten writes a device request of c1 (device hash D1, user
// hash D2) and an auth request r-device that names it, and checks that
// both read back, then polls the device request twice, the second time too
// soon.
func checkDeviceWritten(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	now := time.UnixMilli(1700000000000).UTC()
	d := store.DeviceRequest{DeviceHash: []byte{0xD1}, UserHash: []byte{0xD2}, ClientID: "c1", Scopes: []string{"company"},
		Status: store.DevicePending, Interval: 5 * time.Second, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.CreateDeviceRequest(ctx, d); err != nil {
		t.Fatalf("CreateDeviceRequest: %v", err)
	}
	if r, err := s.GetDeviceRequestByUser(ctx, d.UserHash, now); err != nil || !bytes.Equal(r.DeviceHash, d.DeviceHash) ||
		r.Status != store.DevicePending || r.Interval != d.Interval || !r.LastPolledAt.IsZero() {
		t.Errorf("device request written after the migration: %+v, %v; want %+v", r, err, d)
	}
	if r, err := s.PollDeviceRequest(ctx, d.DeviceHash, now.Add(time.Second), time.Second); err != nil || !r.LastPolledAt.IsZero() {
		t.Errorf("first poll: %+v, %v; want no previous poll", r, err)
	}
	if r, err := s.PollDeviceRequest(ctx, d.DeviceHash, now.Add(2*time.Second), time.Second); err != nil ||
		!r.LastPolledAt.Equal(now.Add(time.Second)) {
		t.Errorf("second poll: %+v, %v; want the first poll's time", r, err)
	}
	if r, err := s.GetDeviceRequestByUser(ctx, d.UserHash, now); err != nil || r.Interval != 6*time.Second {
		t.Errorf("device request polled too soon: %+v, %v; want an interval of 6s", r, err)
	}
	a := store.AuthRequest{ID: "r-device", ClientID: "c1", ResponseType: "code", Scopes: []string{"company"},
		DeviceHash: d.DeviceHash, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.CreateAuthRequest(ctx, a, 0); err != nil {
		t.Fatalf("CreateAuthRequest: %v", err)
	}
	if r, err := s.GetAuthRequest(ctx, a.ID, now); err != nil || !bytes.Equal(r.DeviceHash, d.DeviceHash) {
		t.Errorf("auth request written after the migration: %+v, %v; want DeviceHash %x", r, err, d.DeviceHash)
	}
}
