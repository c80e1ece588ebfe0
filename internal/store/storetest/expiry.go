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
		now := at(24 * time.Hour)
		past, future := now.Add(-time.Hour), now.Add(time.Hour)
		const expiredEach = 3

		// Families: three past their expiry, one with none, one live. Their
		// codes are live (they are counted below) and they carry no access
		// token.
		var families []store.CodeGrant
		for _, exp := range []time.Time{past, past, past, {}, future} {
			code := newCode(c.ID, "")
			code.ExpiresAt = future
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
			g := newCodeGrant(code, t0, store.RefreshRotating)
			g.Family.ExpiresAt, g.AccessToken = exp, nil
			_, err := s.RedeemAuthCode(ctx, code.Hash, t0, okCode(g))
			must(t, "RedeemAuthCode", err)
			families = append(families, g)
		}

		var codes []store.AuthCode
		var reqs []store.AuthRequest
		var toks []store.AccessToken
		for i := range expiredEach + 1 {
			exp := past
			if i == expiredEach {
				exp = future
			}
			code := newCode(c.ID, "")
			code.ExpiresAt = exp
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
			codes = append(codes, code)
			r := newAuthRequest(c.ID)
			r.ExpiresAt = exp
			must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
			reqs = append(reqs, r)
			tok := newCCToken(c.ID, t0)
			tok.ExpiresAt = exp
			must(t, "CreateAccessToken", s.CreateAccessToken(ctx, tok))
			toks = append(toks, tok)
		}

		// Four kinds, three expired rows each, two at a time.
		for i, want := range []int{8, 4, 0} {
			n, err := s.DeleteExpired(ctx, now, 2)
			must(t, "DeleteExpired", err)
			if n != want {
				t.Fatalf("DeleteExpired #%d removed %d rows, want %d", i+1, n, want)
			}
		}

		for i, code := range codes {
			_, err := s.RedeemAuthCode(ctx, code.Hash, t0, okCode(store.CodeGrant{}))
			if i < expiredEach {
				wantErr(t, "RedeemAuthCode(expired code)", err, store.ErrNotFound)
			} else {
				must(t, "RedeemAuthCode(live code)", err)
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
		for i, g := range families {
			_, _, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
			if i < expiredEach {
				wantErr(t, "GetRefreshToken(expired family)", err, store.ErrNotFound)
			} else {
				must(t, "GetRefreshToken(live family)", err)
			}
		}
	}},
}
