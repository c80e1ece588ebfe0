package storetest

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// eventsOf returns the events of connection id, oldest first.
func eventsOf(t *testing.T, s store.Store, id string) []store.Event {
	t.Helper()
	es, err := s.ListEvents(t.Context(), id)
	must(t, "ListEvents", err)
	return es
}

func eventTypes(es []store.Event) []string {
	types := make([]string, len(es))
	for i, e := range es {
		types[i] = e.Type
	}
	return types
}

func eventIDs(es []store.Event) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// wantTypes checks the types of connection id's events, oldest first.
func wantTypes(t *testing.T, s store.Store, what, id string, want ...string) []store.Event {
	t.Helper()
	es := eventsOf(t, s, id)
	if got := eventTypes(es); !slices.Equal(got, want) {
		t.Errorf("%s: events %q, want %q", what, got, want)
	}
	return es
}

// lease is the suite's claim lease.
const lease = time.Minute

// claim returns the events ClaimEvents claims at now for lease.
func claim(t *testing.T, s store.Store, now time.Time, limit int) []store.Event {
	t.Helper()
	es, err := s.ClaimEvents(t.Context(), now, lease, limit)
	must(t, "ClaimEvents", err)
	return es
}

// wantClaimed claims at now and checks the IDs claimed, and that each came
// back with NextAttemptAt at the lease's end.
func wantClaimed(t *testing.T, s store.Store, what string, now time.Time, limit int, want ...store.Event) []store.Event {
	t.Helper()
	es := claim(t, s, now, limit)
	if got := eventIDs(es); !slices.Equal(got, eventIDs(want)) {
		t.Errorf("%s: ClaimEvents = %q, want %q (%q)", what, got, eventIDs(want), eventTypes(want))
	}
	for _, e := range es {
		sameTime(t, what+": NextAttemptAt of a claimed event", e.NextAttemptAt, now.Add(lease))
	}
	return es
}

// claimed is e as ClaimEvents at now returns it and stores it.
func claimed(e store.Event, now time.Time) store.Event {
	e.NextAttemptAt = now.Add(lease)
	return e
}

// eventPayload is the part of an event's JSON body the suite reads by name.
type eventPayload struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	CreatedAt string `json:"created_at"`
	Data      struct {
		ConnectionID string `json:"connection_id"`
		ClientID     string `json:"client_id"`
		Status       string `json:"status"`
	} `json:"data"`
}

// wantEvent checks that e is a pending, never attempted event of type typ
// about conn (as conn is after the change), created at when.
func wantEvent(t *testing.T, what string, e store.Event, typ string, conn store.Connection, when time.Time) {
	t.Helper()
	if e.Seq <= 0 || e.ID == "" {
		t.Errorf("%s: Seq %d, ID %q: want both set", what, e.Seq, e.ID)
	}
	same(t, what, e, store.Event{
		Seq: e.Seq, ID: e.ID, ClientID: conn.ClientID, ConnectionID: conn.ID, Type: typ,
		Payload: e.Payload, CreatedAt: when, NextAttemptAt: when,
	})

	var p eventPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		t.Fatalf("%s: payload %s: %v", what, e.Payload, err)
	}
	if p.ID != e.ID || p.Type != typ || p.Data.ConnectionID != conn.ID || p.Data.ClientID != conn.ClientID ||
		p.Data.Status != conn.Status {
		t.Errorf("%s: payload %s: want id %q, type %q, data.connection_id %q, data.client_id %q, data.status %q",
			what, e.Payload, e.ID, typ, conn.ID, conn.ClientID, conn.Status)
	}
	// The whole body is what store.NewEvent builds for conn.
	var got, want map[string]any
	must(t, "unmarshal payload", json.Unmarshal(e.Payload, &got))
	must(t, "unmarshal NewEvent payload", json.Unmarshal(store.NewEvent(typ, conn, when).Payload, &want))
	want["id"] = e.ID
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: payload\n got %s\nwant %v", what, e.Payload, want)
	}
}

// createClientWithoutWebhook stores a client with no webhook URL: its
// connections have no events.
func createClientWithoutWebhook(t *testing.T, s store.Store) store.Client {
	t.Helper()
	c := newClient()
	c.WebhookURL, c.WebhookSecret = "", nil
	must(t, "CreateClient", s.CreateClient(t.Context(), c))
	return c
}

var eventTests = []test{
	{"NoWebhookNoEvents", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClientWithoutWebhook(t, s)
		now := at(time.Hour)
		revoked, expired, purged := newConnection(c.ID, t0), newConnection(c.ID, t0), newConnection(c.ID, t0)
		expired.ConsentExpiresAt = now
		purged.DataRetentionUntil = now
		for _, conn := range []store.Connection{revoked, expired, purged} {
			createConnection(t, s, conn)
		}
		_, err := s.RevokeConnection(ctx, revoked.ID, now)
		must(t, "RevokeConnection", err)
		n, err := s.ExpireConsents(ctx, now, 10)
		must(t, "ExpireConsents", err)
		if n != 1 {
			t.Errorf("ExpireConsents expired %d connections, want 1", n)
		}
		n, err = s.PurgeConnections(ctx, now, 10)
		must(t, "PurgeConnections", err)
		if n != 1 {
			t.Errorf("PurgeConnections purged %d connections, want 1", n)
		}
		for _, conn := range []store.Connection{revoked, expired, purged} {
			wantTypes(t, s, "a connection of a client without webhook", conn.ID)
		}

		// A client whose webhook URL is removed: no more events.
		w := createClient(t, s)
		conn := newConnection(w.ID, t0)
		createConnection(t, s, conn)
		created := wantTypes(t, s, "connection of a client with a webhook", conn.ID, store.EventConnectionCreated)
		_, err = s.UpdateClient(ctx, w.ID, func(c *store.Client) error {
			c.WebhookURL = ""
			return nil
		})
		must(t, "UpdateClient", err)
		_, err = s.RevokeConnection(ctx, conn.ID, now)
		must(t, "RevokeConnection", err)
		wantTypes(t, s, "after the webhook URL was removed", conn.ID, store.EventConnectionCreated)
		wantClaimed(t, s, "ClaimEvents", at(24*time.Hour), 100, created...)
	}},
	{"Created", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, at(time.Second).In(elsewhere))
		code := newCode(c.ID, conn.ID)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
		es := wantTypes(t, s, "after CreateAuthCode", conn.ID, store.EventConnectionCreated)
		if len(es) == 1 {
			wantEvent(t, "connection.created", es[0], store.EventConnectionCreated, conn, conn.CreatedAt)
		}

		// A code for the same connection without conn: no new event.
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, newCode(c.ID, conn.ID), nil))
		wantTypes(t, s, "after CreateAuthCode without connection", conn.ID, store.EventConnectionCreated)

		// A failed CreateAuthCode leaves no event.
		conn2 := newConnection(c.ID, t0)
		wantErr(t, "CreateAuthCode(duplicate hash)", s.CreateAuthCode(ctx, code, &conn2), store.ErrConflict)
		wantTypes(t, s, "after a failed CreateAuthCode", conn2.ID)
	}},
	{"RevokedOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		createConnection(t, s, conn)
		now := at(time.Hour).In(elsewhere)
		_, err := s.RevokeConnection(ctx, conn.ID, now)
		must(t, "RevokeConnection", err)
		_, err = s.RevokeConnection(ctx, conn.ID, at(2*time.Hour))
		must(t, "RevokeConnection(again)", err)
		es := wantTypes(t, s, "after revoking twice", conn.ID, store.EventConnectionCreated, store.EventConnectionRevoked)
		if len(es) == 2 {
			wantEvent(t, "connection.revoked", es[1], store.EventConnectionRevoked, revokedConn(conn, now), now)
		}
	}},
	{"ClaimInOrderPerConnection", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		a, b := newConnection(c.ID, t0), newConnection(c.ID, at(time.Second))
		createConnection(t, s, a)
		createConnection(t, s, b)
		for i, conn := range []store.Connection{a, b} {
			_, err := s.RevokeConnection(ctx, conn.ID, at(time.Duration(i+1)*time.Minute))
			must(t, "RevokeConnection", err)
		}
		ea := wantTypes(t, s, "a", a.ID, store.EventConnectionCreated, store.EventConnectionRevoked)
		eb := wantTypes(t, s, "b", b.ID, store.EventConnectionCreated, store.EventConnectionRevoked)
		if len(ea) != 2 || len(eb) != 2 {
			t.FailNow()
		}
		if !(ea[0].Seq < eb[0].Seq && eb[0].Seq < ea[1].Seq && ea[1].Seq < eb[1].Seq) {
			t.Errorf("Seq not in insertion order: a %d, %d; b %d, %d", ea[0].Seq, ea[1].Seq, eb[0].Seq, eb[1].Seq)
		}

		now := at(time.Hour)
		// NextAttemptAt is the creation time: nothing is due before it.
		wantClaimed(t, s, "ClaimEvents before any is due", t0.Add(-time.Second), 10)
		wantClaimed(t, s, "ClaimEvents when a's is due", t0, 10, ea[0])
		// Its lease ended long before now: the head of each connection's
		// queue, oldest first.
		wantClaimed(t, s, "ClaimEvents(limit 1)", now, 1, ea[0])
		got := wantClaimed(t, s, "ClaimEvents after a's head was claimed", now, 10, eb[0])
		same(t, "the claimed event", got, []store.Event{claimed(eb[0], now)})
		// Both heads are claimed: a's and b's next events wait behind them.
		wantClaimed(t, s, "ClaimEvents while both heads are claimed", now.Add(lease-time.Millisecond), 10)

		// Delivering a's head offers its next event.
		must(t, "MarkEventDelivered", s.MarkEventDelivered(ctx, ea[0].Seq, now, false))
		wantClaimed(t, s, "after delivering a's first", now, 10, ea[1])
		wantErr(t, "MarkEventDelivered(again)", s.MarkEventDelivered(ctx, ea[0].Seq, now, false), store.ErrNotFound)
		// Giving up on b's head also unblocks b.
		must(t, "MarkEventDelivered(failed)", s.MarkEventDelivered(ctx, eb[0].Seq, now.In(elsewhere), true))
		wantClaimed(t, s, "after giving up b's first", now, 10, eb[1])
		wantErr(t, "MarkEventDelivered(failed, again)", s.MarkEventDelivered(ctx, eb[0].Seq, now, true), store.ErrNotFound)

		delivered := claimed(ea[0], now)
		delivered.DeliveredAt = now
		same(t, "a's delivered event", eventsOf(t, s, a.ID)[0], delivered)
		failed := claimed(eb[0], now)
		failed.DeliveredAt, failed.Failed = now, true
		same(t, "b's given-up event", eventsOf(t, s, b.ID)[0], failed)

		must(t, "MarkEventDelivered", s.MarkEventDelivered(ctx, ea[1].Seq, now, false))
		must(t, "MarkEventDelivered", s.MarkEventDelivered(ctx, eb[1].Seq, now, false))
		wantClaimed(t, s, "after delivering everything", at(24*time.Hour), 10)
	}},
	{"ClaimLease", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		createConnection(t, s, conn)
		other := newConnection(c.ID, t0)
		createConnection(t, s, other)
		es := wantTypes(t, s, "events", conn.ID, store.EventConnectionCreated)
		eo := wantTypes(t, s, "events of the other", other.ID, store.EventConnectionCreated)
		if len(es) != 1 || len(eo) != 1 {
			t.FailNow()
		}
		now := at(time.Hour).In(elsewhere)

		// A limit <= 0 claims nothing, and takes nothing away.
		for _, limit := range []int{0, -1} {
			got, err := s.ClaimEvents(ctx, now, lease, limit)
			must(t, "ClaimEvents(limit <= 0)", err)
			if len(got) != 0 {
				t.Errorf("ClaimEvents(limit %d) = %q, want nothing", limit, eventIDs(got))
			}
		}
		// So does a lease <= 0, with an error.
		for _, l := range []time.Duration{0, -time.Second} {
			if got, err := s.ClaimEvents(ctx, now, l, 10); err == nil || len(got) != 0 {
				t.Errorf("ClaimEvents(lease %v) = %q, %v: want an error and nothing", l, eventIDs(got), err)
			}
		}

		got := wantClaimed(t, s, "ClaimEvents(limit 1)", now, 1, es[0])
		same(t, "the claimed event", got, []store.Event{claimed(es[0], now)})
		same(t, "ListEvents after the claim", eventsOf(t, s, conn.ID), []store.Event{claimed(es[0], now)})
		// During the lease no one gets it; the other connection's event is
		// still there to claim.
		wantClaimed(t, s, "ClaimEvents during the lease", now, 10, eo[0])
		wantClaimed(t, s, "ClaimEvents just before the lease ends", now.Add(lease-time.Millisecond), 10)
		// When the lease ends (a claimer that died), it is claimed again,
		// unchanged but for the new lease.
		end := now.Add(lease)
		got = wantClaimed(t, s, "ClaimEvents when the lease ends", end, 10, es[0], eo[0])
		same(t, "the event claimed again", got, []store.Event{claimed(es[0], end), claimed(eo[0], end)})
		wantClaimed(t, s, "ClaimEvents during the new lease", end.Add(time.Second), 10)

		// The claimer's outcome is recorded as usual.
		must(t, "MarkEventDelivered", s.MarkEventDelivered(ctx, es[0].Seq, end, false))
		must(t, "MarkEventDelivered", s.MarkEventDelivered(ctx, eo[0].Seq, end, false))
		wantClaimed(t, s, "after delivering", at(24*time.Hour), 10)
		delivered := claimed(es[0], end)
		delivered.DeliveredAt = end
		same(t, "the delivered event", eventsOf(t, s, conn.ID), []store.Event{delivered})
	}},
	{"Retry", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		createConnection(t, s, conn)
		_, err := s.RevokeConnection(ctx, conn.ID, at(time.Minute))
		must(t, "RevokeConnection", err)
		es := wantTypes(t, s, "events", conn.ID, store.EventConnectionCreated, store.EventConnectionRevoked)
		if len(es) != 2 {
			t.FailNow()
		}
		now := at(time.Hour)
		wantClaimed(t, s, "ClaimEvents", now, 10, es[0])

		// A failed attempt of the claimed event: its retry time replaces the
		// lease.
		next := at(2 * time.Hour).In(elsewhere)
		must(t, "RetryEvent", s.RetryEvent(ctx, es[0].Seq, 1, next, "connection refused"))
		retried := es[0]
		retried.Attempts, retried.NextAttemptAt, retried.LastError = 1, next, "connection refused"
		same(t, "ListEvents after RetryEvent", eventsOf(t, s, conn.ID), []store.Event{retried, es[1]})
		// The head is not due, and the next event waits behind it.
		wantClaimed(t, s, "ClaimEvents before the retry is due", now.Add(lease), 10)
		wantClaimed(t, s, "ClaimEvents just before the retry is due", next.Add(-time.Millisecond), 10)
		got := wantClaimed(t, s, "ClaimEvents when the retry is due", next, 10, es[0])
		same(t, "ClaimEvents when the retry is due", got, []store.Event{claimed(retried, next)})

		next2 := at(3 * time.Hour)
		must(t, "RetryEvent(again)", s.RetryEvent(ctx, es[0].Seq, 2, next2, "HTTP 500"))
		must(t, "MarkEventDelivered(failed)", s.MarkEventDelivered(ctx, es[0].Seq, next2, true))
		wantClaimed(t, s, "after giving up", next2, 10, es[1])
		retried.Attempts, retried.NextAttemptAt, retried.LastError = 2, next2, "HTTP 500"
		retried.DeliveredAt, retried.Failed = next2, true
		same(t, "ListEvents", eventsOf(t, s, conn.ID), []store.Event{retried, claimed(es[1], next2)})
	}},
	{"ListOldestFirst", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		conn.ConsentExpiresAt, conn.DataRetentionUntil = at(time.Hour), at(3*time.Hour)
		createConnection(t, s, conn)
		other := newConnection(c.ID, t0)
		createConnection(t, s, other) // an event in between, of another connection
		n, err := s.ExpireConsents(ctx, at(time.Hour), 10)
		must(t, "ExpireConsents", err)
		if n != 1 {
			t.Errorf("ExpireConsents expired %d connections, want 1", n)
		}
		_, err = s.RevokeConnection(ctx, conn.ID, at(2*time.Hour))
		must(t, "RevokeConnection", err)
		n, err = s.PurgeConnections(ctx, at(3*time.Hour), 10)
		must(t, "PurgeConnections", err)
		if n != 1 {
			t.Errorf("PurgeConnections purged %d connections, want 1", n)
		}
		es := wantTypes(t, s, "ListEvents", conn.ID, store.EventConnectionCreated, store.EventConnectionConsentExpired,
			store.EventConnectionRevoked, store.EventConnectionRetentionReached)
		for i := 1; i < len(es); i++ {
			if es[i].Seq <= es[i-1].Seq {
				t.Errorf("ListEvents: Seq %d after %d, want increasing", es[i].Seq, es[i-1].Seq)
			}
		}
		if len(es) == 4 {
			want := revokedConn(conn, at(2*time.Hour))
			wantEvent(t, "connection.retention_reached", es[3], store.EventConnectionRetentionReached, want, at(3*time.Hour))
		}
		wantTypes(t, s, "ListEvents(other)", other.ID, store.EventConnectionCreated)
		wantTypes(t, s, "ListEvents(unknown)", newUUID())
	}},
	{"DeleteClientRemovesEvents", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		gone, kept := createClient(t, s), createClient(t, s)
		goneConn, keptConn := newConnection(gone.ID, t0), newConnection(kept.ID, t0)
		createConnection(t, s, goneConn)
		createConnection(t, s, keptConn)
		_, err := s.RevokeConnection(ctx, goneConn.ID, at(time.Minute))
		must(t, "RevokeConnection", err)
		must(t, "DeleteClient", s.DeleteClient(ctx, gone.ID))
		wantTypes(t, s, "events of a deleted client's connection", goneConn.ID)
		es := wantTypes(t, s, "events of another client's connection", keptConn.ID, store.EventConnectionCreated)
		wantClaimed(t, s, "ClaimEvents", at(time.Hour), 10, es...)
	}},
}
