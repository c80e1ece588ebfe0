package storetest

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

func okCode(g store.CodeGrant) func(store.AuthCode, *store.Connection) (store.CodeGrant, error) {
	return func(store.AuthCode, *store.Connection) (store.CodeGrant, error) { return g, nil }
}

// seeCode returns a check that records what it is given and writes g.
func seeCode(g store.CodeGrant, code *store.AuthCode, conn **store.Connection) func(store.AuthCode, *store.Connection) (store.CodeGrant, error) {
	return func(c store.AuthCode, cn *store.Connection) (store.CodeGrant, error) {
		*code, *conn = c, cn
		return g, nil
	}
}

var codeTests = []test{
	{"CreateWithoutConnection", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		code.Kind = "temp_token"
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		var seen store.AuthCode
		seenConn := &store.Connection{}
		_, err := s.RedeemAuthCode(ctx, code.Hash, at(time.Second), seeCode(store.CodeGrant{}, &seen, &seenConn))
		must(t, "RedeemAuthCode", err)
		same(t, "the code check saw", seen, code)
		sameConn(t, "the connection the check saw", seenConn, nil)
		conns, err := s.ListConnections(ctx, "")
		must(t, "ListConnections", err)
		if len(conns) != 0 {
			t.Errorf("ListConnections after CreateAuthCode without connection: %d connections", len(conns))
		}
	}},
	{"CreateWithConnection", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		code := newCode(c.ID, conn.ID)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
		got, err := s.GetConnection(ctx, conn.ID)
		must(t, "GetConnection", err)
		same(t, "GetConnection", got, conn)
		var seen store.AuthCode
		var seenConn *store.Connection
		_, err = s.RedeemAuthCode(ctx, code.Hash, at(time.Second), seeCode(store.CodeGrant{}, &seen, &seenConn))
		must(t, "RedeemAuthCode", err)
		same(t, "the code check saw", seen, code)
		sameConn(t, "the connection the check saw", seenConn, &conn)
	}},
	{"CheckSeesTheCurrentConnection", func(t *testing.T, s store.Store) {
		// The connection is loaded when the code is redeemed, not when it
		// was created: a revocation in between shows.
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		code := newCode(c.ID, conn.ID)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
		revokedAt := at(time.Second)
		_, err := s.RevokeConnection(ctx, conn.ID, revokedAt)
		must(t, "RevokeConnection", err)
		var seen store.AuthCode
		var seenConn *store.Connection
		_, err = s.RedeemAuthCode(ctx, code.Hash, at(2*time.Second), seeCode(store.CodeGrant{}, &seen, &seenConn))
		must(t, "RedeemAuthCode", err)
		want := revokedConn(conn, revokedAt)
		sameConn(t, "the connection the check saw", seenConn, &want)
	}},
	{"CheckWithConnectionGone", func(t *testing.T, s store.Store) {
		// A code pointing at a connection whose row is gone (purged): the
		// check gets nil, and so does a refresh of the grant it issues.
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		conn.DataRetentionUntil = at(time.Minute)
		createConnection(t, s, conn)
		n, err := s.PurgeConnections(ctx, at(time.Minute), 10)
		must(t, "PurgeConnections", err)
		if n != 1 {
			t.Fatalf("PurgeConnections purged %d connections, want 1", n)
		}
		code := newCode(c.ID, conn.ID)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		g := newCodeGrant(code, at(2*time.Minute), store.RefreshRotating)
		var seen store.AuthCode
		seenConn := &store.Connection{}
		_, err = s.RedeemAuthCode(ctx, code.Hash, at(2*time.Minute), seeCode(g, &seen, &seenConn))
		must(t, "RedeemAuthCode", err)
		same(t, "the code check saw", seen, code)
		sameConn(t, "the connection the code check saw", seenConn, nil)

		seenConn = &store.Connection{}
		_, check := rotate(grant{code: code, CodeGrant: g}, at(time.Hour), nil, nil, &seenConn)
		_, err = s.Refresh(ctx, g.RefreshToken.Hash, at(time.Hour), check)
		must(t, "Refresh", err)
		sameConn(t, "the connection the refresh check saw", seenConn, nil)
	}},
	{"CreateIsAtomic", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		code := newCode(c.ID, conn.ID)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
		// Same code hash again, with a new connection: neither is stored.
		conn2 := newConnection(c.ID, t0)
		wantErr(t, "CreateAuthCode(duplicate hash)", s.CreateAuthCode(ctx, code, &conn2), store.ErrConflict)
		_, err := s.GetConnection(ctx, conn2.ID)
		wantErr(t, "GetConnection of a failed CreateAuthCode", err, store.ErrNotFound)
	}},
	{"RedeemMissing", func(t *testing.T, s store.Store) {
		_, err := s.RedeemAuthCode(t.Context(), newHash(), t0, noCodeCheck(t))
		wantErr(t, "RedeemAuthCode", err, store.ErrNotFound)
	}},
	{"RedeemCheckFails", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
		_, err := s.RedeemAuthCode(ctx, code.Hash, at(time.Second), func(store.AuthCode, *store.Connection) (store.CodeGrant, error) {
			return g, errCheck
		})
		wantErr(t, "RedeemAuthCode(check fails)", err, errCheck)
		// Nothing was written and the code is still unused.
		_, _, err = s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		wantErr(t, "GetRefreshToken after a failed check", err, store.ErrNotFound)
		_, err = s.GetAccessToken(ctx, g.AccessToken.ID)
		wantErr(t, "GetAccessToken after a failed check", err, store.ErrNotFound)
		var seen store.AuthCode
		var seenConn *store.Connection
		_, err = s.RedeemAuthCode(ctx, code.Hash, at(2*time.Second), seeCode(g, &seen, &seenConn))
		must(t, "RedeemAuthCode after a failed check", err)
		if !seen.UsedAt.IsZero() {
			t.Errorf("code UsedAt = %v after a failed check, want zero", seen.UsedAt)
		}
	}},
	{"Redeem", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		code := newCode(c.ID, conn.ID)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
		now := at(5 * time.Second).In(elsewhere)
		g := newCodeGrant(code, now, store.RefreshRotating)
		var seen store.AuthCode
		var seenConn *store.Connection
		got, err := s.RedeemAuthCode(ctx, code.Hash, now, seeCode(g, &seen, &seenConn))
		must(t, "RedeemAuthCode", err)
		same(t, "the code check saw", seen, code)
		sameConn(t, "the connection the check saw", seenConn, &conn)
		want := code
		want.UsedAt = now
		same(t, "RedeemAuthCode", got, want)

		tok, fam, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		must(t, "GetRefreshToken", err)
		same(t, "refresh token", tok, *g.RefreshToken)
		same(t, "refresh family", fam, *g.Family)
		atok, err := s.GetAccessToken(ctx, g.AccessToken.ID)
		must(t, "GetAccessToken", err)
		same(t, "access token", atok, *g.AccessToken)
	}},
	{"RedeemNothingToWrite", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		_, err := s.RedeemAuthCode(ctx, code.Hash, at(time.Second), okCode(store.CodeGrant{}))
		must(t, "RedeemAuthCode", err)
		_, err = s.RedeemAuthCode(ctx, code.Hash, at(2*time.Second), noCodeCheck(t))
		wantErr(t, "RedeemAuthCode(again)", err, store.ErrAlreadyUsed)
	}},
	{"RedeemTwiceRevokesTheGrant", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		g := issueGrant(t, s, c.ID, &conn, store.RefreshRotating)
		// An access token of the same grant issued later (by a refresh).
		later := newAccessToken(g.code, at(time.Minute))
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, later))
		// Records that must stay live: another grant of the same client and
		// connection, and a client-credentials token.
		other := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		cc := newCCToken(c.ID, t0)
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, cc))

		now := at(2 * time.Minute)
		got, err := s.RedeemAuthCode(ctx, g.code.Hash, now, noCodeCheck(t))
		wantErr(t, "RedeemAuthCode(replay)", err, store.ErrAlreadyUsed)
		if string(got.Hash) != string(g.code.Hash) || got.GrantID != g.code.GrantID || got.UsedAt.IsZero() {
			t.Errorf("RedeemAuthCode(replay) returned %+v, want the used code", got)
		}

		fam := familyOf(t, s, g.RefreshToken.Hash)
		sameTime(t, "family RevokedAt", fam.RevokedAt, now)
		wantRevoked(t, s, "grant's first access token", g.AccessToken.ID, true)
		wantRevoked(t, s, "grant's later access token", later.ID, true)
		_, err = s.Refresh(ctx, g.RefreshToken.Hash, now, noRefreshCheck(t))
		wantErr(t, "Refresh in a revoked grant", err, store.ErrRevoked)

		if f := familyOf(t, s, other.RefreshToken.Hash); !f.RevokedAt.IsZero() {
			t.Errorf("another grant's family was revoked")
		}
		wantRevoked(t, s, "another grant's access token", other.AccessToken.ID, false)
		wantRevoked(t, s, "client-credentials token", cc.ID, false)
		if cn, err := s.GetConnection(ctx, conn.ID); err != nil || cn.Status != store.ConnectionActive {
			t.Errorf("connection after a code replay: %+v, %v; want it active", cn, err)
		}
	}},
	{"ReplayRevokesAGrantWithoutFamily", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		tok := newAccessToken(code, at(time.Second))
		_, err := s.RedeemAuthCode(ctx, code.Hash, at(time.Second), okCode(store.CodeGrant{AccessToken: &tok}))
		must(t, "RedeemAuthCode", err)
		wantRevoked(t, s, "before the replay", tok.ID, false)
		_, err = s.RedeemAuthCode(ctx, code.Hash, at(time.Minute), noCodeCheck(t))
		wantErr(t, "RedeemAuthCode(replay)", err, store.ErrAlreadyUsed)
		wantRevoked(t, s, "after the replay", tok.ID, true)
	}},
}

// rotate returns a check that rotates to a new token issued at now, with an
// access token, and records what it was given (in each seen* not nil).
func rotate(g grant, now time.Time, seenF *store.RefreshFamily, seenT *store.RefreshToken, seenC **store.Connection) (store.RefreshGrant, func(store.RefreshFamily, store.RefreshToken, *store.Connection) (store.RefreshGrant, error)) {
	tok := newAccessToken(g.code, now)
	rg := store.RefreshGrant{
		NewToken:    &store.RefreshToken{Hash: newHash(), FamilyID: g.code.GrantID, CreatedAt: now},
		AccessToken: &tok,
	}
	return rg, func(f store.RefreshFamily, t store.RefreshToken, c *store.Connection) (store.RefreshGrant, error) {
		if seenF != nil {
			*seenF = f
		}
		if seenT != nil {
			*seenT = t
		}
		if seenC != nil {
			*seenC = c
		}
		return rg, nil
	}
}

var refreshTests = []test{
	{"Rotate", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		now := at(time.Hour).In(elsewhere)
		var seenF store.RefreshFamily
		var seenT store.RefreshToken
		seenC := &store.Connection{}
		rg, check := rotate(g, now, &seenF, &seenT, &seenC)
		fam, err := s.Refresh(ctx, g.RefreshToken.Hash, now, check)
		must(t, "Refresh", err)
		same(t, "the family the check saw", seenF, *g.Family)
		same(t, "the token the check saw", seenT, *g.RefreshToken)
		sameConn(t, "the connection the check saw (grant without one)", seenC, nil)
		wantFam := *g.Family
		wantFam.LastUsedAt = now
		same(t, "Refresh's family", fam, wantFam)

		old, oldFam, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		must(t, "GetRefreshToken(old)", err)
		sameTime(t, "old token UsedAt", old.UsedAt, now)
		same(t, "old token's family", oldFam, wantFam)
		nt, ntFam, err := s.GetRefreshToken(ctx, rg.NewToken.Hash)
		must(t, "GetRefreshToken(new)", err)
		same(t, "new token", nt, *rg.NewToken)
		same(t, "new token's family", ntFam, wantFam)
		tok, err := s.GetAccessToken(ctx, rg.AccessToken.ID)
		must(t, "GetAccessToken", err)
		same(t, "new access token", tok, *rg.AccessToken)

		// The new token rotates in turn; no access token this time.
		now2 := at(2 * time.Hour)
		rg2, _ := rotate(g, now2, nil, nil, nil)
		rg2.AccessToken = nil
		fam, err = s.Refresh(ctx, rg.NewToken.Hash, now2,
			func(store.RefreshFamily, store.RefreshToken, *store.Connection) (store.RefreshGrant, error) {
				return rg2, nil
			})
		must(t, "Refresh(new)", err)
		sameTime(t, "family LastUsedAt", fam.LastUsedAt, now2)
		_, _, err = s.GetRefreshToken(ctx, rg2.NewToken.Hash)
		must(t, "GetRefreshToken(newest)", err)
	}},
	{"CheckSeesTheConnection", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		conn.ConsentExpiresAt = at(time.Hour)
		g := issueGrant(t, s, c.ID, &conn, store.RefreshRotating)
		var seenC *store.Connection
		rg, check := rotate(g, at(time.Minute), nil, nil, &seenC)
		_, err := s.Refresh(ctx, g.RefreshToken.Hash, at(time.Minute), check)
		must(t, "Refresh", err)
		sameConn(t, "the connection the check saw", seenC, &conn)

		// The connection as it is at the refresh: its consent expired in
		// between. The store does not refuse (the check does).
		n, err := s.ExpireConsents(ctx, at(time.Hour), 10)
		must(t, "ExpireConsents", err)
		if n != 1 {
			t.Fatalf("ExpireConsents expired %d connections, want 1", n)
		}
		seenC = nil
		_, check = rotate(g, at(2*time.Hour), nil, nil, &seenC)
		_, err = s.Refresh(ctx, rg.NewToken.Hash, at(2*time.Hour), check)
		must(t, "Refresh after the consent expired", err)
		want := conn
		want.Status = store.ConnectionExpired
		sameConn(t, "the connection the check saw after ExpireConsents", seenC, &want)
	}},
	{"CheckFails", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		rg, _ := rotate(g, at(time.Hour), nil, nil, nil)
		_, err := s.Refresh(ctx, g.RefreshToken.Hash, at(time.Hour),
			func(store.RefreshFamily, store.RefreshToken, *store.Connection) (store.RefreshGrant, error) {
				return rg, errCheck
			})
		wantErr(t, "Refresh(check fails)", err, errCheck)
		tok, fam, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		must(t, "GetRefreshToken", err)
		if !tok.UsedAt.IsZero() {
			t.Errorf("token UsedAt = %v after a failed check, want zero", tok.UsedAt)
		}
		same(t, "family after a failed check", fam, *g.Family)
		_, _, err = s.GetRefreshToken(ctx, rg.NewToken.Hash)
		wantErr(t, "GetRefreshToken(new) after a failed check", err, store.ErrNotFound)
		_, err = s.GetAccessToken(ctx, rg.AccessToken.ID)
		wantErr(t, "GetAccessToken(new) after a failed check", err, store.ErrNotFound)
	}},
	{"ReuseRevokesTheFamily", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		other := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		rg, check := rotate(g, at(time.Hour), nil, nil, nil)
		_, err := s.Refresh(ctx, g.RefreshToken.Hash, at(time.Hour), check)
		must(t, "Refresh", err)

		now := at(2 * time.Hour).In(elsewhere)
		fam, err := s.Refresh(ctx, g.RefreshToken.Hash, now, noRefreshCheck(t))
		wantErr(t, "Refresh(reused token)", err, store.ErrRefreshReused)
		wantFam := *g.Family
		wantFam.LastUsedAt, wantFam.RevokedAt = at(time.Hour), now
		same(t, "Refresh(reused token)'s family", fam, wantFam)
		sameTime(t, "family RevokedAt", familyOf(t, s, rg.NewToken.Hash).RevokedAt, now)
		wantRevoked(t, s, "the code's access token", g.AccessToken.ID, true)
		wantRevoked(t, s, "the refresh's access token", rg.AccessToken.ID, true)
		_, err = s.Refresh(ctx, rg.NewToken.Hash, now, noRefreshCheck(t))
		wantErr(t, "Refresh(current token of a revoked family)", err, store.ErrRevoked)
		// A used token stays a reuse, even once its family is revoked.
		_, err = s.Refresh(ctx, g.RefreshToken.Hash, now, noRefreshCheck(t))
		wantErr(t, "Refresh(reused token, again)", err, store.ErrRefreshReused)

		if f := familyOf(t, s, other.RefreshToken.Hash); !f.RevokedAt.IsZero() {
			t.Errorf("another grant's family was revoked")
		}
		wantRevoked(t, s, "another grant's access token", other.AccessToken.ID, false)
	}},
	{"RevokedFamily", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		must(t, "RevokeFamily", s.RevokeFamily(ctx, g.Family.ID, at(time.Minute)))
		fam, err := s.Refresh(ctx, g.RefreshToken.Hash, at(time.Hour), noRefreshCheck(t))
		wantErr(t, "Refresh", err, store.ErrRevoked)
		if fam.ID != g.Family.ID {
			t.Errorf("Refresh returned family %q, want %q", fam.ID, g.Family.ID)
		}
	}},
	{"Fixed", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshFixed)
		var last time.Time
		for i := 1; i <= 3; i++ {
			now := at(time.Duration(i) * time.Hour)
			tok := newAccessToken(g.code, now)
			fam, err := s.Refresh(ctx, g.RefreshToken.Hash, now,
				func(store.RefreshFamily, store.RefreshToken, *store.Connection) (store.RefreshGrant, error) {
					return store.RefreshGrant{AccessToken: &tok}, nil
				})
			must(t, "Refresh(fixed)", err)
			sameTime(t, "Refresh's family LastUsedAt", fam.LastUsedAt, now)
			wantRevoked(t, s, "new access token", tok.ID, false)
			last = now
		}
		rt, fam, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		must(t, "GetRefreshToken", err)
		if !rt.UsedAt.IsZero() {
			t.Errorf("fixed token UsedAt = %v, want zero", rt.UsedAt)
		}
		sameTime(t, "family LastUsedAt", fam.LastUsedAt, last)
		if !fam.RevokedAt.IsZero() {
			t.Errorf("fixed family revoked")
		}
	}},
	{"Missing", func(t *testing.T, s store.Store) {
		_, err := s.Refresh(t.Context(), newHash(), t0, noRefreshCheck(t))
		wantErr(t, "Refresh", err, store.ErrNotFound)
		_, _, err = s.GetRefreshToken(t.Context(), newHash())
		wantErr(t, "GetRefreshToken", err, store.ErrNotFound)
	}},
}

var revokeFamilyTests = []test{
	{"Revoke", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		later := newAccessToken(g.code, at(time.Minute))
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, later))
		other := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		cc := newCCToken(c.ID, t0)
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, cc))

		now := at(time.Hour)
		must(t, "RevokeFamily", s.RevokeFamily(ctx, g.Family.ID, now))
		sameTime(t, "family RevokedAt", familyOf(t, s, g.RefreshToken.Hash).RevokedAt, now)
		wantRevoked(t, s, "first access token", g.AccessToken.ID, true)
		wantRevoked(t, s, "later access token", later.ID, true)
		wantRevoked(t, s, "another grant's access token", other.AccessToken.ID, false)
		wantRevoked(t, s, "client-credentials token", cc.ID, false)
		if f := familyOf(t, s, other.RefreshToken.Hash); !f.RevokedAt.IsZero() {
			t.Errorf("another grant's family was revoked")
		}

		must(t, "RevokeFamily(again)", s.RevokeFamily(ctx, g.Family.ID, at(2*time.Hour)))
		if f := familyOf(t, s, g.RefreshToken.Hash); f.RevokedAt.IsZero() {
			t.Errorf("family not revoked after revoking twice")
		}
	}},
	{"NoFamilyRow", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		a, b := newAccessToken(code, t0), newAccessToken(code, at(time.Minute))
		cc := newCCToken(c.ID, t0)
		for _, tok := range []store.AccessToken{a, b, cc} {
			must(t, "CreateAccessToken", s.CreateAccessToken(ctx, tok))
		}
		must(t, "RevokeFamily", s.RevokeFamily(ctx, code.GrantID, at(time.Hour)))
		wantRevoked(t, s, "first token of the grant", a.ID, true)
		wantRevoked(t, s, "second token of the grant", b.ID, true)
		wantRevoked(t, s, "client-credentials token", cc.ID, false)
		must(t, "RevokeFamily(unknown ID)", s.RevokeFamily(ctx, newID(), at(time.Hour)))
	}},
}

var accessTokenTests = []test{
	{"CreateGet", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		cc := newCCToken(c.ID, t0)
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, cc))
		got, err := s.GetAccessToken(ctx, cc.ID)
		must(t, "GetAccessToken", err)
		same(t, "GetAccessToken", got, cc)

		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		tok := newAccessToken(g.code, at(time.Minute))
		tok.Scopes = nil
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, tok))
		got, err = s.GetAccessToken(ctx, tok.ID)
		must(t, "GetAccessToken", err)
		same(t, "GetAccessToken", got, tok)

		_, err = s.GetAccessToken(ctx, newID())
		wantErr(t, "GetAccessToken(missing)", err, store.ErrNotFound)
		wantErr(t, "CreateAccessToken(duplicate)", s.CreateAccessToken(ctx, cc), store.ErrConflict)
	}},
	{"Revoke", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		a, b := newCCToken(c.ID, t0), newCCToken(c.ID, t0)
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, a))
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, b))
		must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, a, at(time.Minute)))
		got, err := s.GetAccessToken(ctx, a.ID)
		must(t, "GetAccessToken", err)
		want := a
		want.Revoked = true
		same(t, "revoked token", got, want)
		wantRevoked(t, s, "the other token", b.ID, false)
		must(t, "RevokeAccessToken(again)", s.RevokeAccessToken(ctx, a, at(2*time.Minute)))
		wantRevoked(t, s, "token revoked twice", a.ID, true)
	}},
	{"RevokeInsertsARecord", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		jwt := newCCToken(c.ID, t0) // never recorded: a client-credentials JWT
		must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, jwt, at(time.Minute)))
		got, err := s.GetAccessToken(ctx, jwt.ID)
		must(t, "GetAccessToken", err)
		want := jwt
		want.Revoked = true
		same(t, "revoked token", got, want)
	}},
	{"RevokedByConnectionStatus", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		expired := newConnection(c.ID, t0)
		expired.Status = store.ConnectionExpired
		active := newConnection(c.ID, t0)
		for _, conn := range []store.Connection{expired, active} {
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, newCode(c.ID, conn.ID), &conn))
		}
		onExpired := newAccessToken(newCode(c.ID, expired.ID), t0)
		onActive := newAccessToken(newCode(c.ID, active.ID), t0)
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, onExpired))
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, onActive))
		wantRevoked(t, s, "token of an expired connection", onExpired.ID, true)
		wantRevoked(t, s, "token of an active connection", onActive.ID, false)
	}},
}
