package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// fill fills s through its interface, as a server does, with records of
// every kind that among them set every field (checked by exportAll's
// callers with everyFieldSet): what a copy must carry.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	c := createClient(t, s) // with a webhook URL: its connections have events; metered
	bare := store.Client{ID: newUUID(), Name: "public", AuthMethod: store.AuthMethodNone, State: store.ClientPending,
		CreatedAt: at(time.Second)}
	must(t, "CreateClient", s.CreateClient(ctx, bare))
	// Ledger entries: a top-up with its key, a token's charge.
	adjust(t, s, c.ID, topUp(20, "order-1", at(time.Minute)))
	decide(t, s, store.GrantKey{}, store.Writes{At: at(2 * time.Minute), Charge: newCharge(c.ID, 3)})
	r := newAuthRequest(c.ID)
	r.Subject = "user-1"
	must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))

	conn := newConnection(c.ID, t0)
	g := issueGrant(t, s, c.ID, &conn, store.RefreshRotating)
	decide(t, s, refreshKey(g.RefreshToken.Hash), rotate(g, at(time.Hour)))
	unused := newCode(c.ID, conn.ID)
	unused.ExpiresAt = at(48 * time.Hour)
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, unused, nil))
	live := newConnection(bare.ID, at(time.Minute)) // no events: bare has no webhook URL
	issueGrant(t, s, bare.ID, &live, store.RefreshFixed)
	_, err := s.RevokeConnection(ctx, conn.ID, at(2*time.Hour))
	must(t, "RevokeConnection", err)
	must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, newCCToken(c.ID, t0), at(3*time.Hour)))

	// Three rotations of one algorithm, and a key of another created at
	// the same time as the last: the copy keeps the order of both.
	var since time.Time
	for i := range 3 {
		k := newSigningKey(at(time.Duration(i) * time.Hour))
		addKey(t, s, k, since, true)
		since = k.CreatedAt
	}
	addKey(t, s, keyOf("EdDSA", since), time.Time{}, true)

	es := wantTypes(t, s, "events", conn.ID, store.EventConnectionCreated, store.EventConnectionRevoked)
	if len(es) == 2 {
		must(t, "MarkEventDelivered", s.MarkEventDelivered(ctx, es[0].Seq, at(3*time.Hour), true))
		must(t, "RetryEvent", s.RetryEvent(ctx, es[1].Seq, 3, at(4*time.Hour), "HTTP 503"))
	}
}

// records is what Export yields, kind by kind: the records' values
// (store.Client, …).
type records map[string][]any

// exportAll exports s and checks what Export promises of the order: kinds
// in the order of store.Kinds, signing keys oldest first, events by seq;
// and that its counts match the records.
func exportAll(t *testing.T, s store.Store) records {
	t.Helper()
	recs := records{}
	last := 0
	counts, err := s.Export(t.Context(), func(r store.Record) error {
		k := slices.Index(store.Kinds, r.Kind())
		if k < last {
			t.Errorf("Export: %s after %s", r.Kind(), store.Kinds[last])
		}
		last = max(k, 0)
		v := reflect.ValueOf(r)
		for i := range v.NumField() {
			if f := v.Field(i); !f.IsNil() {
				recs[r.Kind()] = append(recs[r.Kind()], f.Elem().Interface())
			}
		}
		return nil
	})
	must(t, "Export", err)
	for _, k := range store.Kinds {
		if counts[k] != int64(len(recs[k])) {
			t.Errorf("Export: counts[%s] = %d, %d records", k, counts[k], len(recs[k]))
		}
	}
	var seqs []int64
	for _, e := range recs["events"] {
		seqs = append(seqs, e.(store.Event).Seq)
	}
	if !slices.IsSorted(seqs) {
		t.Errorf("Export: events in the order %v, want by seq", seqs)
	}
	return recs
}

// everyFieldSet fails unless each kind has records and each field of a
// record type is set (not zero) in at least one of them: a field added to
// a record type must be set by fill, or a backend that forgets to copy it
// would pass.
func everyFieldSet(t *testing.T, recs records) {
	t.Helper()
	computed := map[string]bool{"AccessToken.Revoked": true} // computed on read, not copied
	for _, k := range store.Kinds {
		if len(recs[k]) == 0 {
			t.Errorf("fill leaves no %s", k)
			continue
		}
		typ := reflect.TypeOf(recs[k][0])
		for i := range typ.NumField() {
			name := typ.Name() + "." + typ.Field(i).Name
			if computed[name] {
				continue
			}
			set := slices.ContainsFunc(recs[k], func(r any) bool { return !reflect.ValueOf(r).Field(i).IsZero() })
			if !set {
				t.Errorf("fill leaves %s zero in every record: set it so that its copy is tested", name)
			}
		}
	}
}

// sameRecords compares two exports record by record.
func sameRecords(t *testing.T, what string, got, want records) {
	t.Helper()
	for _, k := range store.Kinds {
		if len(got[k]) != len(want[k]) {
			t.Errorf("%s: %d %s, want %d", what, len(got[k]), k, len(want[k]))
			continue
		}
		for i := range want[k] {
			same(t, what+": "+k, got[k][i], want[k][i])
		}
	}
}

// views is what the store's getters show of the records of an export of s,
// in an order that depends on the records only.
func views(t *testing.T, s store.Store, recs records) []any {
	t.Helper()
	ctx := t.Context()
	var out []any
	add := func(v any, err error) {
		t.Helper()
		must(t, "read a copied record", err)
		out = append(out, v)
	}
	out = append(out, listClients(t, s), listConnections(t, s, ""))
	for _, r := range recs["clients"] {
		out = append(out, listLedger(t, s, r.(store.Client).ID))
	}
	add(s.ListSigningKeys(ctx))
	for _, r := range recs["auth_requests"] {
		add(s.GetAuthRequest(ctx, r.(store.AuthRequest).ID, t0))
	}
	for _, r := range recs["connections"] {
		add(s.ListEvents(ctx, r.(store.Connection).ID))
	}
	for _, r := range recs["auth_codes"] {
		l, err := Peek(ctx, s, codeKey(r.(store.AuthCode)))
		must(t, "Decide(copied code)", err)
		add(*l.Code, nil)
		add(l.Connection != nil, nil)
	}
	for _, r := range recs["refresh_tokens"] {
		tok, fam, err := s.GetRefreshToken(ctx, r.(store.RefreshToken).Hash)
		add([]any{tok, fam}, err)
	}
	for _, r := range recs["access_tokens"] {
		add(s.GetAccessToken(ctx, r.(store.AccessToken).ID))
	}
	return out
}

var copyTests = []storesTest{
	{"RoundTrip", func(t *testing.T, newStore func(t *testing.T) store.Store) {
		// Copy a store filled with every field into a fresh one: the copy
		// exports the same records, every getter shows the same, and it
		// goes on where the source stopped.
		ctx := t.Context()
		src, dst := newStore(t), newStore(t)
		fill(t, src)
		want := exportAll(t, src)
		everyFieldSet(t, want)
		var exported []store.SigningKey
		for _, k := range want["signing_keys"] {
			exported = append(exported, k.(store.SigningKey))
		}
		listed := listKeys(t, src)
		slices.Reverse(listed)
		same(t, "the keys Export yields (oldest first)", exported, listed)

		copied, err := store.Copy(ctx, src, dst)
		must(t, "Copy", err)
		for _, k := range store.Kinds {
			if copied[k] != int64(len(want[k])) {
				t.Errorf("Copy copied %d %s, want %d", copied[k], k, len(want[k]))
			}
		}
		sameRecords(t, "the copy's export", exportAll(t, dst), want)
		wantViews, gotViews := views(t, src, want), views(t, dst, want)
		for i := range wantViews {
			same(t, "a getter on the copy", gotViews[i], wantViews[i])
		}

		// New events and ledger entries come after the copied ones; a new
		// key after the copied keys, in their order.
		var maxSeq, maxLedger int64
		for _, e := range want["events"] {
			maxSeq = max(maxSeq, e.(store.Event).Seq)
		}
		for _, e := range want["ledger"] {
			maxLedger = max(maxLedger, e.(store.LedgerEntry).Seq)
		}
		c := want["clients"][slices.IndexFunc(want["clients"], func(c any) bool { return c.(store.Client).WebhookURL != "" })].(store.Client)
		if e, _ := adjust(t, dst, c.ID, topUp(1, "after the copy", at(5*time.Hour))); e.Seq <= maxLedger {
			t.Errorf("a new ledger entry on the copy: seq %d, want > %d", e.Seq, maxLedger)
		}
		if e, replayed := adjust(t, dst, c.ID, topUp(20, "order-1", at(5*time.Hour))); !replayed || e.Seq > maxLedger {
			t.Errorf("a copied idempotency key on the copy: %+v, replayed %v; want the copied entry", e, replayed)
		}
		conn := newConnection(c.ID, at(5*time.Hour))
		createConnection(t, dst, conn)
		if es := eventsOf(t, dst, conn.ID); len(es) != 1 || es[0].Seq <= maxSeq {
			t.Errorf("a new event on the copy: %+v, want one with seq > %d", es, maxSeq)
		}
		last := exported[len(exported)-1]
		k := keyOf(last.Algorithm, at(5*time.Hour))
		addKey(t, dst, keyOf(last.Algorithm, at(5*time.Hour)), last.CreatedAt.Add(-time.Millisecond), false)
		addKey(t, dst, k, last.CreatedAt, true)
		if ids := keyIDs(listKeys(t, dst)); len(ids) != len(exported)+1 || ids[0] != k.ID || ids[1] != last.ID {
			t.Errorf("keys after a rotation on the copy: %v; want %s, then the copied ones from %s", ids, k.ID, last.ID)
		}
	}},
	{"IntoNonEmpty", func(t *testing.T, newStore func(t *testing.T) store.Store) {
		ctx := t.Context()
		src := newStore(t)
		fill(t, src)
		for name, seed := range map[string]func(s store.Store){
			"a client":      func(s store.Store) { createClient(t, s) },
			"a signing key": func(s store.Store) { addKey(t, s, newSigningKey(t0), time.Time{}, true) },
		} {
			dst := newStore(t)
			seed(dst)
			before := exportAll(t, dst)
			_, err := store.Copy(ctx, src, dst)
			wantErr(t, "Copy into a store with "+name, err, store.ErrNotEmpty)
			sameRecords(t, "a store with "+name+" after a refused copy", exportAll(t, dst), before)
		}
	}},
	{"Empty", func(t *testing.T, newStore func(t *testing.T) store.Store) {
		copied, err := store.Copy(t.Context(), newStore(t), newStore(t))
		must(t, "Copy(empty)", err)
		for _, k := range store.Kinds {
			if copied[k] != 0 {
				t.Errorf("Copy(empty) copied %d %s", copied[k], k)
			}
		}
	}},
}

var bulkTests = []test{
	{"ExportIsOneSnapshot", func(t *testing.T, s store.Store) {
		// A client created while the export runs is not in it, nor in its
		// counts.
		ctx := t.Context()
		for range 3 {
			createClient(t, s)
		}
		n := 0
		counts, err := s.Export(ctx, func(r store.Record) error {
			if r.Client != nil {
				if n++; n == 1 {
					createClient(t, s)
				}
			}
			return nil
		})
		must(t, "Export", err)
		if n != 3 || counts["clients"] != 3 {
			t.Errorf("Export during a write: %d clients, counted %d; want 3", n, counts["clients"])
		}
		if clients := listClients(t, s); len(clients) != 4 {
			t.Errorf("ListClients after the export: %d, want 4", len(clients))
		}
	}},
	{"ExportStops", func(t *testing.T, s store.Store) {
		createClient(t, s)
		createClient(t, s)
		n := 0
		_, err := s.Export(t.Context(), func(store.Record) error { n++; return errCheck })
		wantErr(t, "Export(fn fails)", err, errCheck)
		if n != 1 {
			t.Errorf("Export went on after an error: fn called %d times", n)
		}
	}},
	{"ImportIsAtomic", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := newClient()
		for _, tc := range []struct {
			name string
			fn   func(l store.Loader) error
			want error
		}{
			{"fn fails", func(l store.Loader) error {
				must(t, "Put", l.Put(ctx, store.Record{Client: &c}))
				r := newAuthRequest(c.ID)
				must(t, "Put", l.Put(ctx, store.Record{AuthRequest: &r}))
				return errCheck
			}, errCheck},
			{"a record of a missing client", func(l store.Loader) error {
				must(t, "Put", l.Put(ctx, store.Record{Client: &c}))
				tok := newCCToken(newUUID(), t0)
				return l.Put(ctx, store.Record{AccessToken: &tok})
			}, store.ErrMissingParent},
		} {
			wantErr(t, "Import("+tc.name+")", s.Import(ctx, tc.fn), tc.want)
			sameRecords(t, "the store after Import("+tc.name+")", exportAll(t, s), records{})
		}
		err := s.Import(ctx, func(l store.Loader) error { return l.Put(ctx, store.Record{}) })
		if err == nil {
			t.Errorf("Import of an empty record: no error")
		}
	}},
	{"ImportWritesAsIs", func(t *testing.T, s store.Store) {
		// Records as they are: a connection with no connection.created
		// event, an event with its seq, keys in their states and order, a
		// revoked access token, a ledger entry with its seq and a client
		// with its balance (which the entry does not change).
		ctx := t.Context()
		c := newClient()
		entry := store.LedgerEntry{Seq: 42, ID: "led_1", ClientID: c.ID, Kind: store.LedgerTopUp, Amount: 7, Balance: 7,
			Reason: "prepaid", IdempotencyKey: "order-1", CreatedAt: at(time.Minute)}
		conn := newConnection(c.ID, t0)
		e := store.NewEvent(store.EventConnectionRevoked, conn, at(time.Minute))
		e.Seq, e.Attempts, e.LastError = 42, 2, "HTTP 500"
		// Two keys created at once: the later imported lists first.
		old, cur := newSigningKey(t0), keyOf("RS256", t0)
		tok := newCCToken(c.ID, t0)
		tok.RevokedAt = at(time.Minute)
		err := s.Import(ctx, func(l store.Loader) error {
			counts, err := l.Count(ctx)
			must(t, "Count", err)
			for _, r := range []store.Record{{Client: &c}, {LedgerEntry: &entry}, {Connection: &conn}, {AccessToken: &tok}, {SigningKey: &old},
				{SigningKey: &cur}, {Event: &e}} {
				must(t, "Put("+r.Kind()+")", l.Put(ctx, r))
				counts[r.Kind()]--
			}
			after, err := l.Count(ctx)
			must(t, "Count", err)
			for _, k := range store.Kinds {
				if after[k]+counts[k] != 0 {
					t.Errorf("Count in the import: %d %s, want %d", after[k], k, -counts[k])
				}
			}
			return nil
		})
		must(t, "Import", err)
		es := eventsOf(t, s, conn.ID)
		if len(es) != 1 {
			t.Fatalf("events after Import: %+v, want only the imported one", es)
		}
		same(t, "the imported event", es[0], e)
		got, err := s.GetAccessToken(ctx, tok.ID)
		must(t, "GetAccessToken", err)
		tok.Revoked = true
		same(t, "the imported access token", got, tok)
		same(t, "the imported keys", listKeys(t, s), []store.SigningKey{cur, old})
		k := newSigningKey(at(2 * time.Hour))
		addKey(t, s, k, old.CreatedAt, true)
		same(t, "keys after a rotation", listKeys(t, s), []store.SigningKey{k, cur, old})
		conn2 := newConnection(c.ID, at(time.Hour))
		createConnection(t, s, conn2)
		if es := eventsOf(t, s, conn2.ID); len(es) != 1 || es[0].Seq <= 42 {
			t.Errorf("a new event after the import: %+v, want one with seq > 42", es)
		}
		wantBalance(t, s, "the imported client", c.ID, c.Balance, c.BalanceUpdatedAt)
		same(t, "the imported ledger", listLedger(t, s, c.ID), []store.LedgerEntry{entry})
		if e, _ := adjust(t, s, c.ID, topUp(1, "order-2", at(time.Hour))); e.Seq <= 42 || e.Balance != c.Balance+1 {
			t.Errorf("a new ledger entry after the import: %+v, want seq > 42 and balance %d", e, c.Balance+1)
		}
	}},
}
