package storetest

import (
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
		ctx := t.Context()
		a, b := createClient(t, s), createClient(t, s)
		a1 := newConnection(a.ID, at(time.Second))
		b1 := newConnection(b.ID, at(time.Minute))
		a2 := newConnection(a.ID, at(time.Hour))
		for _, conn := range []store.Connection{a1, b1, a2} {
			createConnection(t, s, conn)
		}
		all, err := s.ListConnections(ctx, "")
		must(t, "ListConnections(all)", err)
		same(t, "ListConnections(all)", all, []store.Connection{a2, b1, a1})
		ofA, err := s.ListConnections(ctx, a.ID)
		must(t, "ListConnections(a)", err)
		same(t, "ListConnections(a) IDs", connectionIDs(ofA), []string{a2.ID, a1.ID})
		ofB, err := s.ListConnections(ctx, b.ID)
		must(t, "ListConnections(b)", err)
		same(t, "ListConnections(b) IDs", connectionIDs(ofB), []string{b1.ID})
		none, err := s.ListConnections(ctx, newUUID())
		must(t, "ListConnections(unknown client)", err)
		if len(none) != 0 {
			t.Errorf("ListConnections(unknown client): %d connections", len(none))
		}
	}},
	{"Revoke", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		connA, connB := newConnection(c.ID, t0), newConnection(c.ID, t0)
		ga := issueGrant(t, s, c.ID, &connA, store.RefreshRotating)
		gb := issueGrant(t, s, c.ID, &connB, store.RefreshRotating)
		onA := newAccessToken(newCode(c.ID, connA.ID), at(time.Minute)) // no family
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, onA))

		now := at(time.Hour).In(elsewhere)
		got, err := s.RevokeConnection(ctx, connA.ID, now)
		must(t, "RevokeConnection", err)
		want := connA
		want.Status, want.RevokedAt = store.ConnectionRevoked, now
		same(t, "RevokeConnection", got, want)
		got, err = s.GetConnection(ctx, connA.ID)
		must(t, "GetConnection", err)
		same(t, "GetConnection after RevokeConnection", got, want)

		if f := familyOf(t, s, ga.RefreshToken.Hash); f.RevokedAt.IsZero() {
			t.Errorf("family of a revoked connection not revoked")
		}
		_, err = s.Refresh(ctx, ga.RefreshToken.Hash, now, noRefreshCheck(t))
		wantErr(t, "Refresh on a revoked connection", err, store.ErrRevoked)
		wantRevoked(t, s, "grant's access token", ga.AccessToken.ID, true)
		wantRevoked(t, s, "connection's access token without family", onA.ID, true)

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
		_, err = s.RevokeConnection(ctx, newUUID(), now)
		wantErr(t, "RevokeConnection(missing)", err, store.ErrNotFound)
	}},
}
