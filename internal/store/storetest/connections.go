package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// createConnection stores conn with a code, the only way the interface
// creates one.
func createConnection(t *testing.T, s store.Store, conn store.Connection) {
	t.Helper()
	must(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), newCode(conn.ClientID, conn.ID), &conn))
}

func connectionIDs(cs []store.Connection) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

var connectionTests = []test{
	{"Get", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		createConnection(t, s, conn)
		got, err := s.GetConnection(ctx, conn.ID)
		must(t, "GetConnection", err)
		same(t, "GetConnection", got, conn)

		bare := store.Connection{ID: newUUID(), ClientID: c.ID, Status: store.ConnectionActive, CreatedAt: t0}
		createConnection(t, s, bare)
		got, err = s.GetConnection(ctx, bare.ID)
		must(t, "GetConnection", err)
		same(t, "GetConnection(no optional fields)", got, bare)

		_, err = s.GetConnection(ctx, newUUID())
		wantErr(t, "GetConnection(missing)", err, store.ErrNotFound)
	}},
	{"ListNewestFirst", func(t *testing.T, s store.Store) {
		a, b := createClient(t, s), createClient(t, s)
		a1 := newConnection(a.ID, at(time.Second))
		b1 := newConnection(b.ID, at(time.Minute))
		a2 := newConnection(a.ID, at(time.Hour))
		for _, conn := range []store.Connection{a1, b1, a2} {
			createConnection(t, s, conn)
		}
		same(t, "ListConnections(all)", listConnections(t, s, ""), []store.Connection{a2, b1, a1})
		same(t, "ListConnections(a) IDs", connectionIDs(listConnections(t, s, a.ID)), []string{a2.ID, a1.ID})
		same(t, "ListConnections(b) IDs", connectionIDs(listConnections(t, s, b.ID)), []string{b1.ID})
		if none := listConnections(t, s, newUUID()); len(none) != 0 {
			t.Errorf("ListConnections(unknown client): %d connections", len(none))
		}
	}},
	{"ListPages", func(t *testing.T, s store.Store) {
		// Newest first, limit at a time, for one client and for all; ties
		// in time are ordered by ID. The cursor is opaque and refused when
		// it is not one the list gave.
		ctx := t.Context()
		a, b := createClient(t, s), createClient(t, s)
		var conns []store.Connection
		for i, d := range []time.Duration{time.Second, time.Minute, time.Minute, time.Minute, time.Hour, 2 * time.Hour, 0} {
			client := a
			if i%3 == 2 {
				client = b
			}
			conn := newConnection(client.ID, at(d))
			createConnection(t, s, conn)
			conns = append(conns, conn)
		}
		// Two with no creation time (a client with no webhook: no event,
		// which would need a time): the oldest.
		quiet := newClient()
		quiet.WebhookURL = ""
		must(t, "CreateClient", s.CreateClient(ctx, quiet))
		for range 2 {
			conn := store.Connection{ID: newUUID(), ClientID: quiet.ID, Status: store.ConnectionActive}
			createConnection(t, s, conn)
			conns = append(conns, conn)
		}
		newestFirst := func(clientID string) []string {
			var want []store.Connection
			for _, c := range conns {
				if clientID == "" || c.ClientID == clientID {
					want = append(want, c)
				}
			}
			slices.SortFunc(want, func(x, y store.Connection) int {
				if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
					return c
				}
				return strings.Compare(y.ID, x.ID)
			})
			return connectionIDs(want)
		}
		for _, clientID := range []string{"", a.ID, b.ID, quiet.ID} {
			want := newestFirst(clientID)
			same(t, "ListConnections IDs", connectionIDs(listConnections(t, s, clientID)), want)
			list := func(p store.Page) ([]store.Connection, string, error) { return s.ListConnections(ctx, clientID, p) }
			for _, limit := range []int{1, 2, 3, len(want), len(want) + 1} {
				var got []string
				for _, page := range walk(t, "ListConnections", limit, list) {
					got = append(got, connectionIDs(page)...)
				}
				same(t, fmt.Sprintf("ListConnections(%q) in pages of %d", clientID, limit), got, want)
			}
		}
		for _, bad := range []string{"not a cursor", "!!!"} {
			_, _, err := s.ListConnections(ctx, "", store.Page{After: bad, Limit: 2})
			wantErr(t, "ListConnections(a bad cursor)", err, store.ErrInvalidCursor)
		}
	}},
	{"Revoke", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		connA, connB := newConnection(c.ID, t0), newConnection(c.ID, t0)
		ga := issueGrant(t, s, c.ID, &connA, store.RefreshRotating)
		gb := issueGrant(t, s, c.ID, &connB, store.RefreshRotating)
		onA := newAccessToken(newCode(c.ID, connA.ID), at(time.Minute)) // no family
		createAccessToken(t, s, onA)

		now := at(time.Hour).In(elsewhere)
		got, err := s.RevokeConnection(ctx, connA.ID, now)
		must(t, "RevokeConnection", err)
		want := revokedConn(connA, now)
		if !want.DataRetentionUntil.Before(connA.DataRetentionUntil) {
			t.Fatalf("fixture: revoking connA does not move its data retention")
		}
		same(t, "RevokeConnection", got, want)
		got, err = s.GetConnection(ctx, connA.ID)
		must(t, "GetConnection", err)
		same(t, "GetConnection after RevokeConnection", got, want)

		l := peek(t, s, refreshKey(ga.RefreshToken.Hash))
		sameTime(t, "RevokedAt of the family of a revoked connection", l.Family.RevokedAt, now)
		sameConn(t, "the connection Decide showed for its refresh token", l.Connection, &want)
		wantRevokedAt(t, s, "grant's access token", ga.AccessToken.ID, now)
		wantRevokedAt(t, s, "connection's access token without family", onA.ID, now)

		if f := familyOf(t, s, gb.RefreshToken.Hash); !f.RevokedAt.IsZero() {
			t.Errorf("family of another connection revoked")
		}
		wantRevoked(t, s, "another connection's access token", gb.AccessToken.ID, false)
		if cb, err := s.GetConnection(ctx, connB.ID); err != nil || cb.Status != store.ConnectionActive {
			t.Errorf("another connection: %+v, %v; want it active", cb, err)
		}

		got, err = s.RevokeConnection(ctx, connA.ID, at(2*time.Hour))
		must(t, "RevokeConnection(again)", err)
		if got.Status != store.ConnectionRevoked {
			t.Errorf("RevokeConnection(again): status %q, want %q", got.Status, store.ConnectionRevoked)
		}
		same(t, "RevokeConnection(again)", got, want)
		got, err = s.GetConnection(ctx, connA.ID)
		must(t, "GetConnection", err)
		same(t, "GetConnection after revoking twice", got, want)
		_, err = s.RevokeConnection(ctx, newUUID(), now)
		wantErr(t, "RevokeConnection(missing)", err, store.ErrNotFound)
	}},
	{"RevokeShortensRetention", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		now := at(30 * 24 * time.Hour)
		const period = 35 * 24 * time.Hour // retention after the consent
		for _, tc := range []struct {
			name              string
			consent, retained time.Time
			wantRetained      time.Time
		}{
			{"consent running", now.Add(300 * 24 * time.Hour), now.Add(300*24*time.Hour + period), now.Add(period)},
			{"consent ended", now.Add(-24 * time.Hour), now.Add(-24*time.Hour + period), now.Add(-24*time.Hour + period)},
			{"no consent expiry", time.Time{}, now.Add(period), now.Add(period)},
			{"no retention limit", now.Add(24 * time.Hour), time.Time{}, time.Time{}},
		} {
			conn := newConnection(c.ID, t0)
			conn.ConsentExpiresAt, conn.DataRetentionUntil = tc.consent, tc.retained
			createConnection(t, s, conn)
			got, err := s.RevokeConnection(ctx, conn.ID, now)
			must(t, "RevokeConnection", err)
			want := conn
			want.Status, want.RevokedAt, want.DataRetentionUntil = store.ConnectionRevoked, now, tc.wantRetained
			same(t, tc.name+": RevokeConnection", got, want)
			got, err = s.GetConnection(ctx, conn.ID)
			must(t, "GetConnection", err)
			same(t, tc.name+": GetConnection", got, want)
		}
	}},
}

// count fails unless n, err is want, nil.
func count(t *testing.T, what string, n int, err error, want int) {
	t.Helper()
	must(t, what, err)
	if n != want {
		t.Errorf("%s = %d, want %d", what, n, want)
	}
}

var connectionLifecycleTests = []test{
	{"ExpireConsents", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		now := at(30 * 24 * time.Hour)
		conns := map[string]store.Connection{}
		add := func(name string, consent time.Time, status string) store.Connection {
			conn := newConnection(c.ID, t0)
			conn.ConsentExpiresAt, conn.Status = consent, status
			conns[name] = conn
			return conn
		}
		past := add("past", now.Add(-time.Hour), store.ConnectionActive)
		add("at now", now, store.ConnectionActive)
		future := add("future", now.Add(time.Millisecond), store.ConnectionActive)
		add("no consent expiry", time.Time{}, store.ConnectionActive)
		add("expired before", now.Add(-time.Hour), store.ConnectionExpired)
		revoked := add("revoked", now.Add(-time.Hour), store.ConnectionActive)
		gPast := issueGrant(t, s, c.ID, &past, store.RefreshRotating)
		gFuture := issueGrant(t, s, c.ID, &future, store.RefreshRotating)
		onPast := newAccessToken(newCode(c.ID, past.ID), at(time.Minute)) // no family
		createAccessToken(t, s, onPast)
		for name, conn := range conns {
			if name != "past" && name != "future" {
				createConnection(t, s, conn)
			}
		}
		_, err := s.RevokeConnection(ctx, revoked.ID, at(time.Minute))
		must(t, "RevokeConnection", err)
		conns["revoked"] = revokedConn(revoked, at(time.Minute))

		// Two are due: at most limit per call.
		n, err := s.ExpireConsents(ctx, now, 1)
		count(t, "ExpireConsents(limit 1)", n, err, 1)
		n, err = s.ExpireConsents(ctx, now.In(elsewhere), 10)
		count(t, "ExpireConsents(limit 10)", n, err, 1)
		n, err = s.ExpireConsents(ctx, now, 10)
		count(t, "ExpireConsents(nothing left)", n, err, 0)

		for name, conn := range conns {
			want := conn
			events := []string{store.EventConnectionCreated}
			switch name {
			case "past", "at now":
				want.Status = store.ConnectionExpired
				events = append(events, store.EventConnectionConsentExpired)
			case "revoked":
				events = append(events, store.EventConnectionRevoked)
			}
			got, err := s.GetConnection(ctx, conn.ID)
			must(t, "GetConnection", err)
			same(t, "connection "+name, got, want)
			es := wantTypes(t, s, "events of connection "+name, conn.ID, events...)
			if len(es) == 2 && es[1].Type == store.EventConnectionConsentExpired {
				wantEvent(t, "connection.consent_expired of "+name, es[1], store.EventConnectionConsentExpired, want, now)
			}
		}

		wantRevoked(t, s, "access token of an expired connection", gPast.AccessToken.ID, true)
		wantRevoked(t, s, "access token without family of an expired connection", onPast.ID, true)
		wantRevoked(t, s, "access token of a connection not yet expired", gFuture.AccessToken.ID, false)
	}},
	{"PurgeConnections", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		now := at(time.Hour)
		type issued struct {
			conn    store.Connection
			grant   grant
			rotated store.Writes      // from a refresh of grant
			noFam   store.AccessToken // a token without family
			unused  store.AuthCode
		}
		issue := func(retention time.Time, revoke bool) issued {
			var is issued
			is.conn = newConnection(c.ID, t0)
			is.conn.DataRetentionUntil = retention
			if !retention.IsZero() {
				is.conn.ConsentExpiresAt = retention.Add(-30 * 24 * time.Hour)
			}
			is.grant = issueGrant(t, s, c.ID, &is.conn, store.RefreshRotating)
			is.rotated = rotate(is.grant, at(time.Minute))
			decide(t, s, refreshKey(is.grant.RefreshToken.Hash), is.rotated)
			is.noFam = newAccessToken(newCode(c.ID, is.conn.ID), at(time.Minute))
			createAccessToken(t, s, is.noFam)
			is.unused = newCode(c.ID, is.conn.ID)
			is.unused.ExpiresAt = now.Add(time.Hour)
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, is.unused, nil))
			if revoke {
				_, err := s.RevokeConnection(ctx, is.conn.ID, at(2*time.Minute))
				must(t, "RevokeConnection", err)
				is.conn = revokedConn(is.conn, at(2*time.Minute))
			}
			return is
		}
		purged := []issued{
			issue(now.Add(-time.Minute), false),
			issue(now, false),
			issue(now.Add(-time.Minute), true), // whatever its status
		}
		kept := []issued{
			issue(now.Add(time.Millisecond), false),
			issue(time.Time{}, false),
		}
		other := issueGrant(t, s, c.ID, nil, store.RefreshRotating) // no connection
		cc := newCCToken(c.ID, t0)
		createAccessToken(t, s, cc)

		n, err := s.PurgeConnections(ctx, now, 2)
		count(t, "PurgeConnections(limit 2)", n, err, 2)
		n, err = s.PurgeConnections(ctx, now.In(elsewhere), 2)
		count(t, "PurgeConnections(limit 2, again)", n, err, 1)
		n, err = s.PurgeConnections(ctx, now, 2)
		count(t, "PurgeConnections(nothing left)", n, err, 0)

		for _, is := range purged {
			_, err := s.GetConnection(ctx, is.conn.ID)
			wantErr(t, "GetConnection(purged)", err, store.ErrNotFound)
			for _, h := range [][]byte{is.grant.RefreshToken.Hash, is.rotated.RefreshToken.Hash} {
				_, _, err = s.GetRefreshToken(ctx, h)
				wantErr(t, "GetRefreshToken(purged)", err, store.ErrNotFound)
			}
			for _, id := range []string{is.grant.AccessToken.ID, is.rotated.AccessToken.ID, is.noFam.ID} {
				_, err = s.GetAccessToken(ctx, id)
				wantErr(t, "GetAccessToken(purged)", err, store.ErrNotFound)
			}
			for _, code := range []store.AuthCode{is.grant.code, is.unused} {
				wantErr(t, "Decide(purged code)", s.Decide(ctx, codeKey(code), notCalled(t)), store.ErrNotFound)
			}
			_, err = s.RevokeConnection(ctx, is.conn.ID, now)
			wantErr(t, "RevokeConnection(purged)", err, store.ErrNotFound)
			// The event outlives the connection.
			events := []string{store.EventConnectionCreated}
			if is.conn.Status == store.ConnectionRevoked {
				events = append(events, store.EventConnectionRevoked)
			}
			events = append(events, store.EventConnectionRetentionReached)
			es := wantTypes(t, s, "events of a purged connection", is.conn.ID, events...)
			if len(es) == len(events) {
				wantEvent(t, "connection.retention_reached", es[len(es)-1], store.EventConnectionRetentionReached, is.conn, now)
			}
		}
		var keptIDs []string
		for _, is := range kept {
			keptIDs = append(keptIDs, is.conn.ID)
			got, err := s.GetConnection(ctx, is.conn.ID)
			must(t, "GetConnection(kept)", err)
			same(t, "kept connection", got, is.conn)
			_, _, err = s.GetRefreshToken(ctx, is.rotated.RefreshToken.Hash)
			must(t, "GetRefreshToken(kept)", err)
			wantRevoked(t, s, "kept connection's access token", is.rotated.AccessToken.ID, false)
			wantRevoked(t, s, "kept connection's access token without family", is.noFam.ID, false)
			wantOnly(t, "Decide(kept code)", peek(t, s, codeKey(is.unused)), store.Locked{Code: &is.unused, Connection: &is.conn})
			wantTypes(t, s, "events of a kept connection", is.conn.ID, store.EventConnectionCreated)
		}
		got := connectionIDs(listConnections(t, s, c.ID))
		slices.Sort(got)
		slices.Sort(keptIDs)
		same(t, "ListConnections after PurgeConnections", got, keptIDs)
		_, _, err = s.GetRefreshToken(ctx, other.RefreshToken.Hash)
		must(t, "GetRefreshToken(no connection)", err)
		wantRevoked(t, s, "access token without connection", other.AccessToken.ID, false)
		wantRevoked(t, s, "client-credentials token", cc.ID, false)
	}},
}
