package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// recorder is a GrantTx (and a BalanceTx) that records the calls made to
// it.
type recorder struct {
	calls   []string
	fail    string // the call that fails
	locked  Locked
	lockErr error
	// The client LockClient loads (ErrNotFound when nil), the balance
	// AddToBalance starts from, the ledger LedgerEntryByKey reads.
	client  *Client
	balance int64
	ledger  []LedgerEntry
}

var errWrite = errors.New("write failed")

func (r *recorder) call(c string) error {
	r.calls = append(r.calls, c)
	if c == r.fail {
		return errWrite
	}
	return nil
}

func (r *recorder) SpendCode(_ context.Context, hash []byte, _ time.Time) error {
	return r.call("SpendCode " + string(hash))
}

func (r *recorder) RotateRefreshToken(_ context.Context, hash []byte, _ time.Time, retry []byte) error {
	c := "RotateRefreshToken " + string(hash)
	if retry != nil {
		c += " retry " + string(retry)
	}
	return r.call(c)
}

func (r *recorder) RevokeGrant(_ context.Context, id string, _ time.Time) error {
	return r.call("RevokeGrant " + id)
}

func (r *recorder) TouchFamily(_ context.Context, id string, _ time.Time) error {
	return r.call("TouchFamily " + id)
}

func (r *recorder) AddToBalance(_ context.Context, id string, amount int64, belowZero bool, _ time.Time) (int64, bool, error) {
	if err := r.call(fmt.Sprintf("AddToBalance %s %+d", id, amount)); err != nil {
		return 0, false, err
	}
	if r.client == nil || r.client.ID != id || !r.client.Metered || (!belowZero && r.balance+amount < 0) {
		return 0, false, nil
	}
	r.balance += amount
	return r.balance, true, nil
}

func (r *recorder) LockClient(_ context.Context, id string) (Client, error) {
	if err := r.call("LockClient " + id); err != nil {
		return Client{}, err
	}
	if r.client == nil || r.client.ID != id {
		return Client{}, ErrNotFound
	}
	c := *r.client
	c.Balance = r.balance
	return c, nil
}

func (r *recorder) MarkFirstToken(_ context.Context, id string, _ time.Time) error {
	return r.call("MarkFirstToken " + id)
}

func (r *recorder) UseProof(_ context.Context, key []byte, _ time.Time) error {
	return r.call("UseProof " + string(key))
}

func (r *recorder) LedgerEntryByKey(_ context.Context, clientID, key string) (LedgerEntry, error) {
	r.calls = append(r.calls, "LedgerEntryByKey "+key)
	for _, e := range r.ledger {
		if e.ClientID == clientID && e.IdempotencyKey == key {
			return e, nil
		}
	}
	return LedgerEntry{}, ErrNotFound
}

func (r *recorder) Put(_ context.Context, rec Record) error {
	if err := r.call("Put " + rec.Kind()); err != nil {
		return err
	}
	if e := rec.LedgerEntry; e != nil {
		e.Seq = int64(len(r.ledger) + 1)
		r.ledger = append(r.ledger, *e)
	}
	return nil
}

func (r *recorder) Lock(_ context.Context, key GrantKey) (Locked, error) {
	r.calls = append(r.calls, fmt.Sprintf("Lock %s%s", key.CodeHash, key.RefreshHash))
	return r.locked, r.lockErr
}

var (
	t0     = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	locked = Locked{Code: &AuthCode{Hash: []byte("c")}, RefreshToken: &RefreshToken{Hash: []byte("t")},
		Family: &RefreshFamily{ID: "f"}}
	everything = Writes{At: t0, SpendCode: true, RotateRefreshToken: true, Retry: []byte("r"), RevokeGrant: "g", TouchFamily: true,
		Family: &RefreshFamily{}, RefreshToken: &RefreshToken{}, AccessToken: &AccessToken{},
		Charge: &LedgerEntry{ClientID: "m", Kind: LedgerCharge, Amount: -2}, FirstTokenOf: "m",
		Proof: &ProofUse{Key: []byte("p"), ExpiresAt: t0.Add(time.Minute)}}
	metered = Client{ID: "m", Metered: true}
)

func TestApplyOrder(t *testing.T) {
	r := recorder{client: &metered, balance: 5}
	if err := everything.Apply(t.Context(), &r, locked); err != nil {
		t.Fatal(err)
	}
	// The proof's use first (a replay writes nothing), then the client's
	// row: the charge, then the first-token mark.
	want := []string{"UseProof p", "AddToBalance m -2", "Put ledger", "MarkFirstToken m", "SpendCode c", "RotateRefreshToken t retry r",
		"RevokeGrant g", "TouchFamily f", "Put refresh_families", "Put refresh_tokens", "Put access_tokens"}
	if !slices.Equal(r.calls, want) {
		t.Errorf("Apply called\n %q\nwant\n %q", r.calls, want)
	}
	if len(r.ledger) != 1 || r.ledger[0].Balance != 3 || r.ledger[0].ID == "" || !r.ledger[0].CreatedAt.Equal(t0) ||
		r.ledger[0].Kind != LedgerCharge || r.ledger[0].Amount != -2 {
		t.Errorf("the charge's ledger entry: %+v, want balance 3, an ID, stamped At", r.ledger)
	}

	r = recorder{}
	if err := (Writes{}).Apply(t.Context(), &r, locked); err != nil || len(r.calls) != 0 || !(Writes{}).Empty() {
		t.Errorf("the zero Writes: %v, calls %q", err, r.calls)
	}
	if everything.Empty() {
		t.Errorf("Empty() of a Writes that writes")
	}

	// A failed write stops the ones after it.
	r = recorder{fail: "Put refresh_families", client: &metered, balance: 5}
	if err := everything.Apply(t.Context(), &r, locked); !errors.Is(err, errWrite) || len(r.calls) != 9 {
		t.Errorf("Apply with a failing write: %v after %q", err, r.calls)
	}

	// A charge the balance does not cover: nothing else is written, and
	// the error says why.
	for name, tc := range map[string]struct {
		client  *Client
		balance int64
		want    error
	}{
		"insufficient": {&metered, 1, ErrInsufficientBalance},
		"not metered":  {&Client{ID: "m"}, 5, ErrNotMetered},
		"client gone":  {nil, 0, ErrMissingParent},
	} {
		r = recorder{client: tc.client, balance: tc.balance}
		err := everything.Apply(t.Context(), &r, locked)
		if !errors.Is(err, tc.want) || !slices.Equal(r.calls, []string{"UseProof p", "AddToBalance m -2", "LockClient m"}) {
			t.Errorf("%s: Apply = %v after %q, want %v after the charge", name, err, r.calls, tc.want)
		}
	}
}

func TestApplyRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		w Writes
		l Locked
	}{
		"spend, no code":         {Writes{At: t0, SpendCode: true}, Locked{RefreshToken: locked.RefreshToken, Family: locked.Family}},
		"rotate, no token":       {Writes{At: t0, RotateRefreshToken: true}, Locked{Code: locked.Code}},
		"touch, no family":       {Writes{At: t0, TouchFamily: true}, Locked{Code: locked.Code}},
		"spend at the zero time": {Writes{SpendCode: true}, locked},
		"revoke at zero time":    {Writes{RevokeGrant: "g"}, locked},
		"touch at zero time":     {Writes{TouchFamily: true}, locked},
		"rotate at zero time":    {Writes{RotateRefreshToken: true}, locked},
		"retry, no rotation":     {Writes{At: t0, Retry: []byte("r"), TouchFamily: true}, locked},
		"empty retry, no rotate": {Writes{At: t0, Retry: []byte{}, AccessToken: &AccessToken{}}, locked},
		"a later write unlocked": {Writes{At: t0, SpendCode: true, TouchFamily: true, AccessToken: &AccessToken{}}, Locked{Code: locked.Code}},
		"charge at zero time":    {Writes{Charge: &LedgerEntry{ClientID: "m", Kind: LedgerCharge, Amount: -1}}, locked},
		"first token, zero time": {Writes{FirstTokenOf: "m"}, locked},
		"a charge that adds":     {Writes{At: t0, Charge: &LedgerEntry{ClientID: "m", Kind: LedgerCharge, Amount: 1}}, locked},
		"a charge of nothing":    {Writes{At: t0, Charge: &LedgerEntry{ClientID: "m", Kind: LedgerCharge}}, locked},
		"a top-up as a charge":   {Writes{At: t0, Charge: &LedgerEntry{ClientID: "m", Kind: LedgerTopUp, Amount: -1}}, locked},
		"a charge of no client":  {Writes{At: t0, Charge: &LedgerEntry{Kind: LedgerCharge, Amount: -1}}, locked},
	} {
		var r recorder
		if err := tc.w.Apply(t.Context(), &r, tc.l); err == nil || len(r.calls) != 0 {
			t.Errorf("%s: Apply = %v after %q, want an error before any write", name, err, r.calls)
		}
	}
	// A retry without a rotation is not skipped as writing nothing, nor
	// taken for a lone access token (which a backend may insert without
	// Apply): Apply sees it, and refuses it.
	if (Writes{Retry: []byte("r")}).Empty() || (Writes{Retry: []byte("r"), AccessToken: &AccessToken{}}).OnlyAccessToken() {
		t.Errorf("a Writes with a retry counts as empty")
	}
	// Inserting needs no lock and no time.
	var r recorder
	if err := (Writes{AccessToken: &AccessToken{}}).Apply(t.Context(), &r, Locked{}); err != nil {
		t.Errorf("an insert with the zero key: %v", err)
	}
}

func TestRunDecide(t *testing.T) {
	ctx := t.Context()
	errRefused := errors.New("refused")
	code := GrantKey{CodeHash: []byte("c")}

	// The zero key locks nothing; decide gets an empty Locked.
	var r recorder
	calls := 0
	refusal, err := RunDecide(ctx, &r, GrantKey{}, func(l Locked) (Writes, error) {
		calls++
		if l != (Locked{}) {
			t.Errorf("zero key: decide got %+v", l)
		}
		return Writes{AccessToken: &AccessToken{}}, errRefused
	})
	if refusal != errRefused || err != nil || calls != 1 || !slices.Equal(r.calls, []string{"Put access_tokens"}) {
		t.Errorf("zero key: %v, %v, %d calls, %q", refusal, err, calls, r.calls)
	}

	// A refusal's writes are applied, and the refusal comes back apart.
	r = recorder{locked: locked}
	refusal, err = RunDecide(ctx, &r, code, func(l Locked) (Writes, error) {
		return Writes{At: t0, RevokeGrant: "g"}, errRefused
	})
	if refusal != errRefused || err != nil || !slices.Equal(r.calls, []string{"Lock c", "RevokeGrant g"}) {
		t.Errorf("refusal with writes: %v, %v, %q", refusal, err, r.calls)
	}

	// A failed write wins over the refusal.
	r = recorder{locked: locked, fail: "RevokeGrant g"}
	refusal, err = RunDecide(ctx, &r, code, func(l Locked) (Writes, error) {
		return Writes{At: t0, RevokeGrant: "g"}, errRefused
	})
	if refusal != nil || !errors.Is(err, errWrite) {
		t.Errorf("failed write: %v, %v", refusal, err)
	}

	// Nothing to lock: decide is not called.
	r = recorder{lockErr: ErrNotFound}
	refusal, err = RunDecide(ctx, &r, GrantKey{RefreshHash: []byte("t")}, func(Locked) (Writes, error) {
		t.Error("decide called for a missing record")
		return Writes{}, nil
	})
	if refusal != nil || !errors.Is(err, ErrNotFound) || !slices.Equal(r.calls, []string{"Lock t"}) {
		t.Errorf("missing record: %v, %v, %q", refusal, err, r.calls)
	}

	// Both hashes: an error, nothing locked.
	r = recorder{}
	_, err = RunDecide(ctx, &r, GrantKey{CodeHash: []byte("c"), RefreshHash: []byte("t")}, func(Locked) (Writes, error) {
		t.Error("decide called for a key with both hashes")
		return Writes{}, nil
	})
	if err == nil || len(r.calls) != 0 {
		t.Errorf("both hashes: %v, %q", err, r.calls)
	}
}

func TestRecordKind(t *testing.T) {
	values := []any{&Client{}, &LedgerEntry{}, &AuthRequest{}, &Connection{}, &AuthCode{}, &RefreshFamily{},
		&RefreshToken{}, &AccessToken{}, &SigningKey{}, &Event{}}
	if len(values) != len(Kinds) {
		t.Fatalf("%d record types, %d kinds", len(values), len(Kinds))
	}
	for i, v := range values {
		if k := RecordOf(v).Kind(); k != Kinds[i] {
			t.Errorf("RecordOf(%T).Kind() = %q, want %q", v, k, Kinds[i])
		}
	}
	for _, v := range []any{nil, Client{}, "x"} {
		if k := RecordOf(v).Kind(); k != "" {
			t.Errorf("RecordOf(%#v).Kind() = %q, want \"\"", v, k)
		}
	}
}

// memBulk is a Bulk in memory: Import's writes show only once fn returns
// nil. drop makes its loader lose that kind's records.
type memBulk struct {
	recs []Record
	drop string
}

func (m *memBulk) Export(_ context.Context, fn func(Record) error) (map[string]int64, error) {
	counts := m.counts(m.recs)
	for _, r := range m.recs {
		if err := fn(r); err != nil {
			return nil, err
		}
	}
	return counts, nil
}

func (m *memBulk) counts(recs []Record) map[string]int64 {
	c := map[string]int64{}
	for _, r := range recs {
		c[r.Kind()]++
	}
	return c
}

func (m *memBulk) Import(_ context.Context, fn func(Loader) error) error {
	l := &memLoader{m: m, recs: slices.Clone(m.recs)}
	if err := fn(l); err != nil {
		return err
	}
	m.recs = l.recs
	return nil
}

type memLoader struct {
	m    *memBulk
	recs []Record
}

func (l *memLoader) Put(_ context.Context, r Record) error {
	if r.Kind() != l.m.drop {
		l.recs = append(l.recs, r)
	}
	return nil
}

func (l *memLoader) Count(context.Context) (map[string]int64, error) { return l.m.counts(l.recs), nil }

func TestCopy(t *testing.T) {
	ctx := t.Context()
	src := &memBulk{recs: []Record{{Client: &Client{ID: "a"}}, {Client: &Client{ID: "b"}}, {Event: &Event{Seq: 1}}}}
	dst := &memBulk{}
	copied, err := Copy(ctx, src, dst)
	if err != nil || copied["clients"] != 2 || copied["events"] != 1 || len(dst.recs) != 3 {
		t.Fatalf("Copy: %v, %v, %d records", copied, err, len(dst.recs))
	}
	if _, err := Copy(ctx, src, dst); !errors.Is(err, ErrNotEmpty) || len(dst.recs) != 3 {
		t.Errorf("Copy into a non-empty store: %v, %d records", err, len(dst.recs))
	}
	lossy := &memBulk{drop: "events"}
	if _, err := Copy(ctx, src, lossy); err == nil || len(lossy.recs) != 0 {
		t.Errorf("Copy into a store that loses events: %v, %d records", err, len(lossy.recs))
	}
	if _, err := Copy(ctx, &memBulk{recs: []Record{{}}}, &memBulk{}); err == nil {
		t.Errorf("Copy of an empty record: no error")
	}
}
