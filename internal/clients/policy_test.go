package clients_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var ve *clients.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	return ve.Problems
}

func TestTiers(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newManager(t)

	// No tiers configured: any name of tier characters.
	gold, _, err := m.Create(ctx, clients.Params{Name: "x", Tier: "gold"})
	if err != nil || gold.Tier != "gold" {
		t.Fatalf("free-form tier: %+v, %v", gold.Tier, err)
	}
	if c, _, err := m.Create(ctx, clients.Params{Name: "x"}); err != nil || c.Tier != "" {
		t.Fatalf("no tier, no default: %q, %v", c.Tier, err)
	}

	m.Tiers, m.DefaultTier = []string{"free", "pro", "enterprise"}, "free"
	c, _, err := m.Create(ctx, clients.Params{Name: "x"})
	if err != nil || c.Tier != "free" {
		t.Fatalf("absent tier: %q, %v; want the default free", c.Tier, err)
	}
	if c, _, err := m.Create(ctx, clients.Params{Name: "x", Tier: "pro"}); err != nil || c.Tier != "pro" {
		t.Fatalf("known tier: %q, %v", c.Tier, err)
	}
	_, _, err = m.Create(ctx, clients.Params{Name: "", Tier: "gold"})
	if ps := problemsOf(t, err); len(ps) != 2 || ps[1] != `tier "gold" is not one of free, pro, enterprise` {
		t.Errorf("unknown tier: %q", ps)
	}
	_, _, err = m.Create(ctx, clients.Params{Name: "x", Tier: "gold tier"})
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0], "tier may only hold") {
		t.Errorf("bad tier characters: %q", ps)
	}

	// PATCH: validated the same way; null returns to the default.
	pd, err := m.Change(ctx, c.ID, []byte(`{"tier":"enterprise"}`))
	if err != nil || pd.Client.Tier != "enterprise" {
		t.Fatalf("patch tier: %q, %v", pd.Client.Tier, err)
	}
	if _, err := m.Change(ctx, c.ID, []byte(`{"tier":"platinum"}`)); !strings.Contains(fmt.Sprint(err), `tier "platinum" is not one of`) {
		t.Errorf("patch to an unknown tier: %v", err)
	}
	if pd, err := m.Change(ctx, c.ID, []byte(`{"tier":null}`)); err != nil || pd.Client.Tier != "free" {
		t.Errorf("tier null: %q, %v; want free", pd.Client.Tier, err)
	}
	// A client whose tier the configuration no longer has can still be
	// changed (suspended) without naming a tier; naming it is checked.
	if pd, err := m.Change(ctx, gold.ID, []byte(`{"state":"suspended"}`)); err != nil || pd.Client.Tier != "gold" || pd.Client.State != "suspended" {
		t.Errorf("suspend a client of a retired tier: %+v, %v", pd.Client, err)
	}
	if _, err := m.Change(ctx, gold.ID, []byte(`{"tier":"gold"}`)); !strings.Contains(fmt.Sprint(err), `tier "gold" is not one of`) {
		t.Errorf("naming the retired tier: %v", err)
	}
}

func TestStateChanges(t *testing.T) {
	ctx := context.Background()
	m, st, now := newManager(t)
	created := *now
	c, _, err := m.Create(ctx, clients.Params{Name: "x", State: store.ClientPending, StateReason: "KYC review"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetClient(ctx, c.ID); got.State != "pending" || got.StateReason != "KYC review" || !got.StateChangedAt.Equal(created) {
		t.Fatalf("created: state %q reason %q at %v", got.State, got.StateReason, got.StateChangedAt)
	}

	steps := []struct {
		name, body        string
		from, to, reason  string
		changedAtAdvances bool
	}{
		{"other fields keep the state's time", `{"name":"y"}`, "pending", "pending", "KYC review", false},
		{"the reason alone", `{"state_reason":"KYC review, documents received"}`, "pending", "pending", "KYC review, documents received", false},
		{"suspended without a reason keeps it", `{"state":"suspended"}`, "pending", "suspended", "KYC review, documents received", true},
		{"suspended with a reason", `{"state":"suspended","state_reason":"chargebacks"}`, "suspended", "suspended", "chargebacks", false},
		{"active clears the reason", `{"state":"active"}`, "suspended", "active", "", true},
		{"suspended again", `{"state":"suspended","state_reason":"abuse report #12"}`, "active", "suspended", "abuse report #12", true},
		{"active with a reason keeps it", `{"state":"active","state_reason":"cleared by support"}`, "suspended", "active", "cleared by support", true},
		{"pending with a reason", `{"state":"pending","state_reason":"x"}`, "active", "pending", "x", true},
		{"null is the default, active", `{"state":null}`, "pending", "active", "", true},
	}
	changedAt := created
	for _, s := range steps {
		*now = now.Add(time.Minute)
		pd, err := m.Change(ctx, c.ID, []byte(s.body))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.changedAtAdvances {
			changedAt = *now
		}
		got, _ := st.GetClient(ctx, c.ID)
		if pd.PreviousState != s.from || got.State != s.to || got.StateReason != s.reason || !got.StateChangedAt.Equal(changedAt) ||
			pd.StateChanged() != (s.from != s.to) {
			t.Errorf("%s: from %q to %q reason %q at %v (changed %v); want %q %q %q %v", s.name, pd.PreviousState, got.State,
				got.StateReason, got.StateChangedAt, pd.StateChanged(), s.from, s.to, s.reason, changedAt)
		}
	}

	for _, tt := range []struct{ reason, want string }{
		{strings.Repeat("é", 257), "state_reason is longer than 256 characters"},
		{"line\nbreak", "state_reason must be valid UTF-8 without control characters"},
		{"RTL\u202eoverride", "state_reason must be valid UTF-8 without control characters"},
	} {
		_, _, err := m.Create(ctx, clients.Params{Name: "x", State: "suspended", StateReason: tt.reason})
		if ps := problemsOf(t, err); len(ps) != 1 || !strings.HasPrefix(ps[0], tt.want) {
			t.Errorf("reason %q: %q", tt.reason, ps)
		}
	}
	if _, _, err := m.Create(ctx, clients.Params{Name: "x", StateReason: strings.Repeat("é", 256)}); err != nil {
		t.Errorf("a 256-character reason: %v", err)
	}
}

func TestMeteringFields(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newManager(t)
	c, _, err := m.Create(ctx, clients.Params{Name: "x", Metered: true, Overdraft: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetClient(ctx, c.ID); !got.Metered || !got.Overdraft || got.Balance != 0 {
		t.Fatalf("stored metered %v overdraft %v balance %d", got.Metered, got.Overdraft, got.Balance)
	}
	if _, _, err := m.Create(ctx, clients.Params{Name: "x", Overdraft: true}); !strings.Contains(fmt.Sprint(err), "overdraft applies only to metered clients") {
		t.Errorf("overdraft without metering: %v", err)
	}

	// The balance is no parameter.
	for _, body := range []string{`{"name":"x","balance":100}`} {
		_, err := clients.DecodeParams([]byte(body))
		var oe *oauth.Error
		if !errors.As(err, &oe) || !strings.Contains(oe.Description, `Unknown field(s): "balance"`) ||
			!strings.Contains(oe.Description, "POST /admin/clients/{id}/balance") {
			t.Errorf("%s: %v", body, err)
		}
	}

	// PATCH keeps the balance and its time.
	if _, _, err := m.AdjustBalance(ctx, c.ID, clients.BalanceChange{Amount: 100, Reason: "top-up", IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	before, _ := st.GetClient(ctx, c.ID)
	pd, err := m.Change(ctx, c.ID, []byte(`{"name":"y","overdraft":false}`))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := st.GetClient(ctx, c.ID)
	if pd.Client.Balance != 100 || after.Balance != 100 || !after.BalanceUpdatedAt.Equal(before.BalanceUpdatedAt) ||
		after.Overdraft || !after.Metered {
		t.Errorf("after patch: %+v", after)
	}
	// Un-metering keeps the balance too (a later metered true finds it).
	if _, err := m.Change(ctx, c.ID, []byte(`{"metered":false}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetClient(ctx, c.ID); got.Metered || got.Balance != 100 {
		t.Errorf("un-metered: metered %v balance %d", got.Metered, got.Balance)
	}
	v := clients.NewView(after)
	if v.Balance != 100 || !v.Metered || v.Overdraft {
		t.Errorf("view %+v", v)
	}
}

// validSchedule is a schedule Schedule.Validate accepts.
func validSchedule() *store.Schedule {
	return &store.Schedule{TimeZone: "Europe/Bucharest",
		Weekly:      map[string][]string{"mon": {"09:00-17:00"}, "fri": {"22:00-02:00"}},
		ClosedDates: []string{"2026-12-25"}}
}

func TestOperatingHours(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newManager(t)
	good := validSchedule()
	if ps := good.Validate(); len(ps) != 0 {
		t.Fatalf("the test's valid schedule: %q", ps)
	}
	c, _, err := m.Create(ctx, clients.Params{Name: "x", OperatingHours: good})
	if err != nil {
		t.Fatal(err)
	}
	good.Weekly["mon"][0] = "changed" // the client holds its own copy
	got, _ := st.GetClient(ctx, c.ID)
	if got.OperatingHours == nil || got.OperatingHours.TimeZone != "Europe/Bucharest" ||
		!slices.Equal(got.OperatingHours.Weekly["mon"], []string{"09:00-17:00"}) {
		t.Fatalf("stored %+v", got.OperatingHours)
	}
	b, _ := json.Marshal(clients.NewView(got))
	if !strings.Contains(string(b), `"operating_hours":{"time_zone":"Europe/Bucharest","weekly":{"fri":["22:00-02:00"],"mon":["09:00-17:00"]},"closed_dates":["2026-12-25"]}`) {
		t.Errorf("view %s", b)
	}

	// Every problem of the schedule is reported, with the others.
	bad := &store.Schedule{TimeZone: "Mars/Olympus", Weekly: map[string][]string{"mon": {"25:00-26:00"}, "someday": {"09:00-10:00"}},
		ClosedDates: []string{"2026-02-30"}}
	want := bad.Validate()
	if len(want) < 2 {
		t.Fatalf("Schedule.Validate found %q in a schedule with four problems", want)
	}
	_, _, err = m.Create(ctx, clients.Params{Name: "", OperatingHours: bad})
	ps := problemsOf(t, err)
	if len(ps) != 1+len(want) || ps[0] != "name is required" {
		t.Fatalf("problems %q, want the name's and %q", ps, want)
	}
	sorted := slices.Sorted(slices.Values(ps[1:]))
	for i, w := range slices.Sorted(slices.Values(want)) {
		if sorted[i] != "operating_hours: "+w {
			t.Errorf("problem %q, want %q", sorted[i], "operating_hours: "+w)
		}
	}

	// PATCH: replaced as a whole; unknown members refused; null removes.
	pd, err := m.Change(ctx, c.ID, []byte(`{"operating_hours":{"time_zone":"UTC","weekly":{"sat":["10:00-14:00"]}}}`))
	if err != nil || pd.Client.OperatingHours == nil || pd.Client.OperatingHours.TimeZone != "UTC" || len(pd.Client.OperatingHours.Weekly) != 1 ||
		pd.Client.OperatingHours.ClosedDates != nil {
		t.Fatalf("patch hours: %+v, %v", pd.Client.OperatingHours, err)
	}
	_, err = m.Change(ctx, c.ID, []byte(`{"operating_hours":{"time_zone":"UTC","hours":{}}}`))
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_request" || !strings.Contains(oe.Description, "operating_hours") {
		t.Errorf("unknown member: %v", err)
	}
	_, err = m.Change(ctx, c.ID, []byte(`{"operating_hours":{"time_zone":"Nowhere/Never","weekly":{}}}`))
	if ps := problemsOf(t, err); len(ps) == 0 || !strings.HasPrefix(ps[0], "operating_hours: ") {
		t.Errorf("patch with a bad schedule: %q", ps)
	}
	if pd, err := m.Change(ctx, c.ID, []byte(`{"operating_hours":null}`)); err != nil || pd.Client.OperatingHours != nil {
		t.Errorf("null: %+v, %v", pd.Client.OperatingHours, err)
	}
	if got, _ := st.GetClient(ctx, c.ID); got.OperatingHours != nil {
		t.Errorf("stored after null: %+v", got.OperatingHours)
	}
	if b, _ := json.Marshal(clients.NewView(store.Client{})); !strings.Contains(string(b), `"operating_hours":null`) {
		t.Errorf("no hours: %s", b)
	}
}

func TestAdjustBalance(t *testing.T) {
	ctx := context.Background()
	m, st, now := newManager(t)
	c, _, err := m.Create(ctx, clients.Params{Name: "metered", Metered: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, _ := m.Create(ctx, clients.Params{Name: "plain"})
	od, _, _ := m.Create(ctx, clients.Params{Name: "overdraft", Metered: true, Overdraft: true})

	// Every problem at once, as a 400 invalid_request.
	_, _, err = m.AdjustBalance(ctx, c.ID, clients.BalanceChange{Reason: " ", IdempotencyKey: "has space"})
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Status != 400 || oe.Code != "invalid_request" {
		t.Fatalf("invalid change: %v", err)
	}
	for _, w := range []string{"amount is required", "reason is required", "idempotency_key must be printable ASCII"} {
		if !strings.Contains(oe.Description, w) {
			t.Errorf("%q lacks %q", oe.Description, w)
		}
	}
	for _, ch := range []clients.BalanceChange{
		{Amount: clients.MaxBalanceAmount + 1, Reason: "r", IdempotencyKey: "k"},
		{Amount: -clients.MaxBalanceAmount - 1, Reason: "r", IdempotencyKey: "k"},
		{Amount: 1, Reason: strings.Repeat("r", 257), IdempotencyKey: "k"},
		{Amount: 1, Reason: "a\x00b", IdempotencyKey: "k"},
		{Amount: 1, Reason: "r", IdempotencyKey: strings.Repeat("k", 256)},
		{Amount: 1, Reason: "r"},
	} {
		if _, _, err := m.AdjustBalance(ctx, c.ID, ch); !errors.As(err, &oe) || oe.Status != 400 {
			t.Errorf("%+v: %v", ch, err)
		}
	}
	if got, _ := st.GetClient(ctx, c.ID); got.Balance != 0 {
		t.Fatalf("refused changes moved the balance to %d", got.Balance)
	}

	top := clients.BalanceChange{Amount: 100, Reason: "invoice 1", IdempotencyKey: "inv-1"}
	e, replayed, err := m.AdjustBalance(ctx, c.ID, top)
	if err != nil || replayed || e.Kind != store.LedgerTopUp || e.Amount != 100 || e.Balance != 100 || e.ID == "" ||
		e.IdempotencyKey != "inv-1" || !e.CreatedAt.Equal(*now) {
		t.Fatalf("top-up: %+v replayed %v, %v", e, replayed, err)
	}
	*now = now.Add(time.Minute)
	again, replayed, err := m.AdjustBalance(ctx, c.ID, top)
	if err != nil || !replayed || again.ID != e.ID || again.Balance != 100 {
		t.Fatalf("replay: %+v replayed %v, %v", again, replayed, err)
	}
	if _, _, err := m.AdjustBalance(ctx, c.ID, clients.BalanceChange{Amount: 99, Reason: "invoice 1", IdempotencyKey: "inv-1"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same key, other amount: %v", err)
	}
	if _, _, err := m.AdjustBalance(ctx, c.ID, clients.BalanceChange{Amount: -101, Reason: "api calls", IdempotencyKey: "use-1"}); !errors.Is(err, store.ErrInsufficientBalance) {
		t.Errorf("debit below zero: %v", err)
	}
	d, _, err := m.AdjustBalance(ctx, c.ID, clients.BalanceChange{Amount: -100, Reason: "api calls", IdempotencyKey: "use-2"})
	if err != nil || d.Kind != store.LedgerDebit || d.Balance != 0 {
		t.Errorf("debit to zero: %+v, %v", d, err)
	}
	if _, _, err := m.AdjustBalance(ctx, plain.ID, top); !errors.Is(err, store.ErrNotMetered) {
		t.Errorf("not metered: %v", err)
	}
	if _, _, err := m.AdjustBalance(ctx, uuid.NewString(), top); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	if e, _, err := m.AdjustBalance(ctx, od.ID, clients.BalanceChange{Amount: -5, Reason: "api calls", IdempotencyKey: "o-1"}); err != nil || e.Balance != -5 {
		t.Errorf("overdraft: %+v, %v", e, err)
	}
	// The same key on another client is another change.
	if e, replayed, err := m.AdjustBalance(ctx, od.ID, top); err != nil || replayed || e.Balance != 95 {
		t.Errorf("a key of another client: %+v %v, %v", e, replayed, err)
	}

	// The ledger, newest first, a page at a time.
	var all []store.LedgerEntry
	for p := (store.Page{Limit: 1}); ; {
		es, next, err := m.Ledger(ctx, c.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, es...)
		if next == "" {
			break
		}
		if len(all) > 10 {
			t.Fatal("the ledger never ends")
		}
		p.After = next
	}
	if len(all) != 2 || all[0].ID != d.ID || all[1].ID != e.ID {
		t.Errorf("ledger %+v", all)
	}
	if _, _, err := m.Ledger(ctx, uuid.NewString(), store.Page{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ledger of an unknown client: %v", err)
	}
}

// TestAdjustBalanceConcurrent: one key posted by many callers at once
// applies once, on the real SQLite store.
func TestAdjustBalanceConcurrent(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newManager(t)
	c, _, err := m.Create(ctx, clients.Params{Name: "x", Metered: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ids      = map[string]int{}
		applied  int
		failures []error
	)
	for range n {
		wg.Go(func() {
			e, replayed, err := m.AdjustBalance(ctx, c.ID, clients.BalanceChange{Amount: 10, Reason: "r", IdempotencyKey: "same"})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, err)
				return
			}
			ids[e.ID]++
			if !replayed {
				applied++
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 || applied != 1 || len(ids) != 1 {
		t.Errorf("applied %d times, entries %v, errors %v", applied, ids, failures)
	}
	if got, _ := st.GetClient(ctx, c.ID); got.Balance != 10 {
		t.Errorf("balance %d, want 10", got.Balance)
	}
}
