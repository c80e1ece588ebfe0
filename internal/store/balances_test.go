package store

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

func TestRunAdjustBalance(t *testing.T) {
	ctx := t.Context()
	topUp := LedgerEntry{Kind: LedgerTopUp, Amount: 10, Reason: "prepaid", IdempotencyKey: "k1", CreatedAt: t0}
	r := recorder{client: &metered}
	got, replayed, err := RunAdjustBalance(ctx, &r, "m", topUp)
	if err != nil || replayed || got.Balance != 10 || got.ClientID != "m" || got.Seq != 1 || got.ID == "" ||
		got.Reason != "prepaid" || r.balance != 10 {
		t.Fatalf("top-up: %+v, %v, %v; balance %d", got, replayed, err, r.balance)
	}
	if want := []string{"LockClient m", "LedgerEntryByKey k1", "AddToBalance m +10", "Put ledger"}; !slices.Equal(r.calls, want) {
		t.Errorf("top-up called %q, want %q", r.calls, want)
	}

	// The same key again: the first entry, nothing written.
	r.calls = nil
	again, replayed, err := RunAdjustBalance(ctx, &r, "m", topUp)
	if err != nil || !replayed || again != got || r.balance != 10 || slices.Contains(r.calls, "Put ledger") {
		t.Errorf("replay: %+v, %v, %v after %q", again, replayed, err, r.calls)
	}
	for name, e := range map[string]LedgerEntry{
		"another amount": {Kind: LedgerTopUp, Amount: 11, IdempotencyKey: "k1", CreatedAt: t0},
		"another kind":   {Kind: LedgerDebit, Amount: -10, IdempotencyKey: "k1", CreatedAt: t0},
	} {
		if _, _, err := RunAdjustBalance(ctx, &r, "m", e); !errors.Is(err, ErrConflict) || r.balance != 10 {
			t.Errorf("replay with %s: %v, balance %d; want ErrConflict", name, err, r.balance)
		}
	}

	// Debits: not below zero, unless the client allows overdraft.
	debit := LedgerEntry{Kind: LedgerDebit, Amount: -11, CreatedAt: t0}
	if _, _, err := RunAdjustBalance(ctx, &r, "m", debit); !errors.Is(err, ErrInsufficientBalance) || r.balance != 10 {
		t.Errorf("debit below zero: %v, balance %d", err, r.balance)
	}
	over := metered
	over.Overdraft = true
	r.client = &over
	if got, _, err := RunAdjustBalance(ctx, &r, "m", debit); err != nil || got.Balance != -1 {
		t.Errorf("debit with overdraft: %+v, %v", got, err)
	}
	// A top-up may leave the balance below zero.
	r.client = &metered
	r.balance = -5
	if got, _, err := RunAdjustBalance(ctx, &r, "m", LedgerEntry{Kind: LedgerTopUp, Amount: 2, CreatedAt: t0}); err != nil || got.Balance != -3 {
		t.Errorf("top-up below zero: %+v, %v", got, err)
	}

	for name, tc := range map[string]struct {
		r    recorder
		e    LedgerEntry
		want error
	}{
		"no client":       {recorder{}, topUp, ErrNotFound},
		"not metered":     {recorder{client: &Client{ID: "m"}}, topUp, ErrNotMetered},
		"zero amount":     {recorder{client: &metered}, LedgerEntry{Kind: LedgerTopUp, CreatedAt: t0}, nil},
		"negative top-up": {recorder{client: &metered}, LedgerEntry{Kind: LedgerTopUp, Amount: -1, CreatedAt: t0}, nil},
		"positive debit":  {recorder{client: &metered}, LedgerEntry{Kind: LedgerDebit, Amount: 1, CreatedAt: t0}, nil},
		"a charge":        {recorder{client: &metered}, LedgerEntry{Kind: LedgerCharge, Amount: -1, CreatedAt: t0}, nil},
		"zero time":       {recorder{client: &metered}, LedgerEntry{Kind: LedgerTopUp, Amount: 1}, nil},
		"overflow":        {recorder{client: &metered, balance: math.MaxInt64 - 1}, LedgerEntry{Kind: LedgerTopUp, Amount: 2, CreatedAt: t0}, nil},
	} {
		_, _, err := RunAdjustBalance(ctx, &tc.r, "m", tc.e)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || slices.Contains(tc.r.calls, "Put ledger") {
			t.Errorf("%s: %v after %q, want an error (%v) and nothing written", name, err, tc.r.calls, tc.want)
		}
	}
}

func TestPageOf(t *testing.T) {
	items := []int{1, 2, 3}
	cursor := func(i int) string { return fmt.Sprint(i) }
	for _, tc := range []struct {
		p    Page
		rows int
		want []int
		next string
	}{
		{Page{}, 0, items, ""},
		{Page{Limit: -1}, 0, items, ""},
		{Page{Limit: 2}, 3, items[:2], "2"},
		{Page{Limit: 3}, 4, items, ""},
		{Page{Limit: math.MaxInt}, 0, items, ""},
	} {
		if got := tc.p.Rows(); got != tc.rows {
			t.Errorf("%+v.Rows() = %d, want %d", tc.p, got, tc.rows)
		}
		got, next := pageOf(items, tc.p, cursor)
		if !slices.Equal(got, tc.want) || next != tc.next {
			t.Errorf("pageOf(%v, %+v) = %v, %q; want %v, %q", items, tc.p, got, next, tc.want, tc.next)
		}
	}
}

func TestReadPages(t *testing.T) {
	// The ledger: the seq as text; the first page before every seq.
	var gotBefore int64
	readLedger := func(before int64, rows int) ([]LedgerEntry, error) {
		gotBefore = before
		return []LedgerEntry{{Seq: 9}, {Seq: 7}, {Seq: 3}}[:rows], nil
	}
	es, next, err := ReadLedgerPage(Page{Limit: 2}, readLedger)
	if err != nil || len(es) != 2 || next != "7" || gotBefore != math.MaxInt64 {
		t.Errorf("ReadLedgerPage(first): %v, %q, %v; read before %d", es, next, err, gotBefore)
	}
	if _, _, err := ReadLedgerPage(Page{After: "7", Limit: 2}, readLedger); err != nil || gotBefore != 7 {
		t.Errorf("ReadLedgerPage(after 7): %v; read before %d", err, gotBefore)
	}
	for _, c := range []string{"x", "0", "-1", "1.5"} {
		if _, _, err := ReadLedgerPage(Page{After: c}, readLedger); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("ReadLedgerPage(%q): %v, want ErrInvalidCursor", c, err)
		}
	}
	errRead := errors.New("read failed")
	if _, _, err := ReadClientPage(Page{}, func(string, int) ([]Client, error) { return nil, errRead }); err != errRead {
		t.Errorf("ReadClientPage(a failed read): %v", err)
	}

	// Connections: the time (any zone, or none) and the ID round-trip.
	when := time.Date(2031, 3, 4, 5, 6, 7, 891_234_000, time.FixedZone("x", 3600))
	for _, c := range []Connection{{CreatedAt: when, ID: "a~b/c"}, {ID: "id"}, {CreatedAt: when}} {
		_, next, err := ReadConnectionPage(Page{Limit: 1}, func(bool, time.Time, string, int) ([]Connection, error) {
			return []Connection{c, {}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var first bool
		var before time.Time
		var id string
		_, _, err = ReadConnectionPage(Page{After: next}, func(f bool, b time.Time, i string, _ int) ([]Connection, error) {
			first, before, id = f, b, i
			return nil, nil
		})
		if err != nil || first || !before.Equal(c.CreatedAt) || id != c.ID || (!before.IsZero() && before.Location() != time.UTC) {
			t.Errorf("the cursor after %+v: %v, %q, first %v, %v", c, before, id, first, err)
		}
	}
	for _, c := range []string{"!!", "bm8tdGlsZGU", "eH5pZA"} { // not base64; "no-tilde"; "x~id"
		_, _, err := ReadConnectionPage(Page{After: c}, func(bool, time.Time, string, int) ([]Connection, error) {
			t.Errorf("read called for the cursor %q", c)
			return nil, nil
		})
		if !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("ReadConnectionPage(%q): %v, want ErrInvalidCursor", c, err)
		}
	}
}
