package storetest

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

var deleteExpiredTests = []test{
	{"DeleteExpired", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		now := at(48 * time.Hour)
		past, future := now.Add(-time.Hour), now.Add(time.Hour)
		const day = 24 * time.Hour
		// Each kind has three rows to delete and some to keep.

		// Families, redeemed from codes that stay live, with no access token:
		// past their absolute expiry, idle past their timeout, revoked more
		// than a day ago; kept: no expiry, live, idle within the timeout,
		// revoked less than a day ago.
		type family struct {
			expires    time.Time
			idle       time.Duration
			revokedAgo time.Duration // 0: not revoked
			deleted    bool
		}
		families := []family{
			{expires: past, deleted: true},
			{expires: future, idle: time.Hour, deleted: true}, // last used at t0
			{revokedAgo: day + time.Minute, deleted: true},
			{},
			{expires: future},
			{idle: now.Sub(t0) + time.Minute},
			{revokedAgo: day - time.Minute},
		}
		var grants []store.Writes
		for _, f := range families {
			code := newCode(c.ID, "")
			code.ExpiresAt = future
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
			g := newCodeGrant(code, t0, store.RefreshRotating)
			g.Family.ExpiresAt, g.Family.IdleTimeout, g.AccessToken = f.expires, f.idle, nil
			decide(t, s, codeKey(code), g)
			if f.revokedAgo != 0 {
				must(t, "RevokeFamily", s.RevokeFamily(ctx, g.Family.ID, now.Add(-f.revokedAgo)))
			}
			grants = append(grants, g)
		}

		// Codes: expired and unused, or spent more than a day ago; kept: live,
		// or expired but spent less than a day ago (a replay must still find
		// it).
		type code struct {
			expires time.Time
			usedAgo time.Duration // 0: unused
			deleted bool
		}
		codes := []code{
			{expires: past, deleted: true},
			{expires: past, deleted: true},
			{expires: past, usedAgo: day + time.Minute, deleted: true},
			{expires: future},
			{expires: past, usedAgo: day - time.Minute},
		}
		var codeRows []store.AuthCode
		for _, cd := range codes {
			row := newCode(c.ID, "")
			row.ExpiresAt = cd.expires
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, row, nil))
			if cd.usedAgo != 0 {
				decide(t, s, codeKey(row), store.Writes{At: now.Add(-cd.usedAgo), SpendCode: true})
			}
			codeRows = append(codeRows, row)
		}

		// Auth requests and access-token records: three expired, one live.
		const expiredEach = 3
		var reqs []store.AuthRequest
		var toks []store.AccessToken
		for i := range expiredEach + 1 {
			exp := past
			if i == expiredEach {
				exp = future
			}
			r := newAuthRequest(c.ID)
			r.ExpiresAt = exp
			must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))
			reqs = append(reqs, r)
			tok := newCCToken(c.ID, t0)
			tok.ExpiresAt = exp
			createAccessToken(t, s, tok)
			toks = append(toks, tok)
		}
		// A revocation record with no expiry is kept.
		noExpiry := newCCToken(c.ID, t0)
		noExpiry.ExpiresAt = time.Time{}
		must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, noExpiry, t0))

		// Four kinds, three rows each, two at a time.
		for i, want := range []int{8, 4, 0} {
			n, err := s.DeleteExpired(ctx, now, 2)
			must(t, "DeleteExpired", err)
			if n != want {
				t.Fatalf("DeleteExpired #%d removed %d rows, want %d", i+1, n, want)
			}
		}

		for i, cd := range codes {
			l, err := Peek(ctx, s, codeKey(codeRows[i]))
			switch {
			case cd.deleted:
				wantErr(t, "Decide(deleted code)", err, store.ErrNotFound)
			case cd.usedAgo != 0:
				must(t, "Decide(spent code kept)", err)
				sameTime(t, "UsedAt of a spent code kept", l.Code.UsedAt, now.Add(-cd.usedAgo))
			default:
				must(t, "Decide(live code)", err)
				if !l.Code.UsedAt.IsZero() {
					t.Errorf("a live code reads as used at %v", l.Code.UsedAt)
				}
			}
		}
		for i, r := range reqs {
			_, err := s.GetAuthRequest(ctx, r.ID, t0) // before its expiry: only deletion hides it
			if i < expiredEach {
				wantErr(t, "GetAuthRequest(expired request)", err, store.ErrNotFound)
			} else {
				must(t, "GetAuthRequest(live request)", err)
			}
		}
		for i, tok := range toks {
			_, err := s.GetAccessToken(ctx, tok.ID)
			if i < expiredEach {
				wantErr(t, "GetAccessToken(expired token)", err, store.ErrNotFound)
			} else {
				must(t, "GetAccessToken(live token)", err)
			}
		}
		wantRevoked(t, s, "revocation record without expiry", noExpiry.ID, true)
		for i, f := range families {
			_, _, err := s.GetRefreshToken(ctx, grants[i].RefreshToken.Hash)
			if f.deleted {
				wantErr(t, "GetRefreshToken(deleted family)", err, store.ErrNotFound)
			} else {
				must(t, "GetRefreshToken(kept family)", err)
			}
		}
	}},
}

func init() {
	deleteExpiredTests = append(deleteExpiredTests, test{"Proofs", func(t *testing.T, s store.Store) {
		// Proof uses past their expiry go; the others stay, and still
		// refuse their proof.
		ctx := t.Context()
		now := at(time.Hour)
		var gone, kept []*store.ProofUse
		for i := range 5 {
			p := &store.ProofUse{Key: newHash(), ExpiresAt: now.Add(-time.Minute)}
			if i >= 3 {
				p.ExpiresAt = now.Add(time.Minute)
				kept = append(kept, p)
			} else {
				gone = append(gone, p)
			}
			decide(t, s, store.GrantKey{}, store.Writes{At: t0, Proof: p})
		}
		for i, want := range []int{2, 1, 0} {
			n, err := s.DeleteExpired(ctx, now, 2)
			must(t, "DeleteExpired", err)
			if n != want {
				t.Fatalf("DeleteExpired #%d removed %d rows, want %d", i+1, n, want)
			}
		}
		use := func(p *store.ProofUse) error {
			return s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
				return store.Writes{At: now, Proof: p}, nil
			})
		}
		for _, p := range kept {
			wantErr(t, "a proof use kept", use(p), store.ErrReplayed)
		}
		for _, p := range gone {
			must(t, "a proof use deleted, recorded again", use(p))
		}
	}})
	deleteExpiredTests = append(deleteExpiredTests, test{"Events", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		now := at(30 * 24 * time.Hour)
		const week = 7 * 24 * time.Hour
		// One connection per event; the codes stay live.
		newEvent := func() (store.Connection, store.Event) {
			conn := newConnection(c.ID, t0)
			code := newCode(c.ID, conn.ID)
			code.ExpiresAt = now.Add(time.Hour)
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
			es := wantTypes(t, s, "events", conn.ID, store.EventConnectionCreated)
			if len(es) != 1 {
				t.FailNow()
			}
			return conn, es[0]
		}
		var old, keptConns []store.Connection
		for i, delivered := range []time.Duration{week + time.Hour, 10 * 24 * time.Hour, 20 * 24 * time.Hour} {
			conn, e := newEvent()
			must(t, "MarkEventDelivered", s.MarkEventDelivered(ctx, e.Seq, now.Add(-delivered), i == 1))
			old = append(old, conn)
		}
		recent, e := newEvent()
		must(t, "MarkEventDelivered", s.MarkEventDelivered(ctx, e.Seq, now.Add(-week+time.Hour), false))
		pendingConn, pendingEvent := newEvent() // created a month ago, never delivered
		keptConns = append(keptConns, recent, pendingConn)

		for i, want := range []int{2, 1, 0} {
			n, err := s.DeleteExpired(ctx, now, 2)
			must(t, "DeleteExpired", err)
			if n != want {
				t.Fatalf("DeleteExpired #%d removed %d rows, want %d", i+1, n, want)
			}
		}
		for _, conn := range old {
			wantTypes(t, s, "events delivered more than a week ago", conn.ID)
		}
		for _, conn := range keptConns {
			wantTypes(t, s, "recent or pending events", conn.ID, store.EventConnectionCreated)
			_, err := s.GetConnection(ctx, conn.ID)
			must(t, "GetConnection", err)
		}
		wantClaimed(t, s, "ClaimEvents", now, 10, pendingEvent)
	}})
}
