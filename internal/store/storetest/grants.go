package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// wantOnly fails unless l holds only what want holds (each pointer set or
// nil alike), with the same records.
func wantOnly(t *testing.T, what string, l, want store.Locked) {
	t.Helper()
	pairs := []struct {
		name      string
		got, want any
		gotNil    bool
		wantNil   bool
	}{
		{"Code", l.Code, want.Code, l.Code == nil, want.Code == nil},
		{"RefreshToken", l.RefreshToken, want.RefreshToken, l.RefreshToken == nil, want.RefreshToken == nil},
		{"Family", l.Family, want.Family, l.Family == nil, want.Family == nil},
	}
	for _, p := range pairs {
		switch {
		case p.gotNil != p.wantNil:
			t.Errorf("%s: Locked.%s is %v, want %v", what, p.name, p.got, p.want)
		case !p.gotNil:
			same(t, what+": Locked."+p.name, deref(p.got), deref(p.want))
		}
	}
	sameConn(t, what+": Locked.Connection", l.Connection, want.Connection)
}

func deref(p any) any {
	switch p := p.(type) {
	case *store.AuthCode:
		return *p
	case *store.RefreshToken:
		return *p
	case *store.RefreshFamily:
		return *p
	}
	return p
}

var codeTests = []test{
	{"CreateWithoutConnection", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		code.Kind = "temp_token"
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		wantOnly(t, "Decide(code)", peek(t, s, codeKey(code)), store.Locked{Code: &code})
		if conns := listConnections(t, s, ""); len(conns) != 0 {
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
		wantOnly(t, "Decide(code)", peek(t, s, codeKey(code)), store.Locked{Code: &code, Connection: &conn})
	}},
	{"DecideSeesTheCurrentConnection", func(t *testing.T, s store.Store) {
		// The connection is loaded when the code is decided on, not when it
		// was created: a revocation in between shows.
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		code := newCode(c.ID, conn.ID)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
		revokedAt := at(time.Second)
		_, err := s.RevokeConnection(ctx, conn.ID, revokedAt)
		must(t, "RevokeConnection", err)
		want := revokedConn(conn, revokedAt)
		sameConn(t, "the connection Decide showed", peek(t, s, codeKey(code)).Connection, &want)
	}},
	{"DecideWithConnectionGone", func(t *testing.T, s store.Store) {
		// A code pointing at a connection whose row is gone (purged):
		// Decide shows none, for the code and for the grant it issues.
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
		wantOnly(t, "Decide(code)", decide(t, s, codeKey(code), g), store.Locked{Code: &code})
		l := decide(t, s, refreshKey(g.RefreshToken.Hash), rotate(grant{code: code, Writes: g}, at(time.Hour)))
		sameConn(t, "the connection Decide showed for the refresh token", l.Connection, nil)
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
	{"DecideMissing", func(t *testing.T, s store.Store) {
		err := s.Decide(t.Context(), codeKey(newCode(newUUID(), "")), notCalled(t))
		wantErr(t, "Decide(missing code)", err, store.ErrNotFound)
	}},
	{"RefusalWithoutWrites", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		err := s.Decide(ctx, codeKey(code), func(store.Locked) (store.Writes, error) { return store.Writes{}, errCheck })
		if err != errCheck {
			t.Errorf("Decide(decide refuses) = %v, want errCheck as it is", err)
		}
		wantOnly(t, "Decide after a refusal", peek(t, s, codeKey(code)), store.Locked{Code: &code})
	}},
	{"RefusalKeepsItsWrites", func(t *testing.T, s store.Store) {
		// A refusal may write (a replay revokes the grant): its Writes are
		// committed, and its error returned as it is.
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		now := at(time.Minute)
		err := s.Decide(ctx, codeKey(code), func(store.Locked) (store.Writes, error) {
			return store.Writes{At: now, SpendCode: true, RevokeGrant: g.code.GrantID}, errCheck
		})
		if err != errCheck {
			t.Errorf("Decide(decide refuses with writes) = %v, want errCheck as it is", err)
		}
		sameTime(t, "UsedAt of the code a refusal spent", peek(t, s, codeKey(code)).Code.UsedAt, now)
		sameTime(t, "RevokedAt of the family a refusal revoked", familyOf(t, s, g.RefreshToken.Hash).RevokedAt, now)
		wantRevokedAt(t, s, "the grant a refusal revoked", g.AccessToken.ID, now)
	}},
	{"Spend", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		code := newCode(c.ID, conn.ID)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
		now := at(5 * time.Second).In(elsewhere)
		g := newCodeGrant(code, now, store.RefreshRotating)
		wantOnly(t, "Decide(code)", decide(t, s, codeKey(code), g), store.Locked{Code: &code, Connection: &conn})
		spent := code
		spent.UsedAt = now
		wantOnly(t, "Decide after the code was spent", peek(t, s, codeKey(code)), store.Locked{Code: &spent, Connection: &conn})

		tok, fam, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		must(t, "GetRefreshToken", err)
		same(t, "refresh token", tok, *g.RefreshToken)
		same(t, "refresh family", fam, *g.Family)
		atok, err := s.GetAccessToken(ctx, g.AccessToken.ID)
		must(t, "GetAccessToken", err)
		same(t, "access token", atok, *g.AccessToken)
	}},
	{"SpendOnly", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		decide(t, s, codeKey(code), store.Writes{At: at(time.Second), SpendCode: true})
		sameTime(t, "code UsedAt", peek(t, s, codeKey(code)).Code.UsedAt, at(time.Second))
	}},
	{"RevokeGrant", func(t *testing.T, s store.Store) {
		// What a replayed code writes: its grant revoked, the family and
		// every access token, each keeping its first revocation time.
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		g := issueGrant(t, s, c.ID, &conn, store.RefreshRotating)
		// An access token of the same grant issued later (by a refresh).
		later := newAccessToken(g.code, at(time.Minute))
		createAccessToken(t, s, later)
		// Records that must stay live: another grant of the same client,
		// and a client-credentials token.
		other := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		cc := newCCToken(c.ID, t0)
		createAccessToken(t, s, cc)

		now := at(2 * time.Minute)
		l := decide(t, s, codeKey(g.code), store.Writes{At: now, RevokeGrant: g.code.GrantID})
		sameTime(t, "UsedAt of the spent code Decide showed", l.Code.UsedAt, g.At)

		sameTime(t, "family RevokedAt", familyOf(t, s, g.RefreshToken.Hash).RevokedAt, now)
		sameTime(t, "Decide(refresh token)'s family RevokedAt", peek(t, s, refreshKey(g.RefreshToken.Hash)).Family.RevokedAt, now)
		wantRevokedAt(t, s, "grant's first access token", g.AccessToken.ID, now)
		wantRevokedAt(t, s, "grant's later access token", later.ID, now)

		if f := familyOf(t, s, other.RefreshToken.Hash); !f.RevokedAt.IsZero() {
			t.Errorf("another grant's family was revoked")
		}
		wantRevoked(t, s, "another grant's access token", other.AccessToken.ID, false)
		wantRevoked(t, s, "client-credentials token", cc.ID, false)
		if cn, err := s.GetConnection(ctx, conn.ID); err != nil || cn.Status != store.ConnectionActive {
			t.Errorf("connection after revoking a grant: %+v, %v; want it active", cn, err)
		}

		// Revoking again (a second replay) keeps the first times.
		decide(t, s, codeKey(g.code), store.Writes{At: at(time.Hour), RevokeGrant: g.code.GrantID})
		sameTime(t, "family RevokedAt after a second revocation", familyOf(t, s, g.RefreshToken.Hash).RevokedAt, now)
		wantRevokedAt(t, s, "access token after a second revocation", g.AccessToken.ID, now)
	}},
	{"RevokeGrantWithoutFamily", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		tok := newAccessToken(code, at(time.Second))
		decide(t, s, codeKey(code), store.Writes{At: at(time.Second), SpendCode: true, AccessToken: &tok})
		wantRevoked(t, s, "before the revocation", tok.ID, false)
		decide(t, s, codeKey(code), store.Writes{At: at(time.Minute), RevokeGrant: code.GrantID})
		wantRevokedAt(t, s, "after the revocation", tok.ID, at(time.Minute))
	}},
	{"FailedWriteWritesNothing", func(t *testing.T, s store.Store) {
		// The last write refers to a client deleted meanwhile: none of the
		// writes before it is kept, and the write's error wins over
		// decide's.
		ctx := t.Context()
		c, gone := createClient(t, s), createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		must(t, "DeleteClient", s.DeleteClient(ctx, gone.ID))
		g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
		tok := newCCToken(gone.ID, at(time.Second))
		g.AccessToken = &tok
		for _, refusal := range []error{nil, errCheck} {
			err := s.Decide(ctx, codeKey(code), func(store.Locked) (store.Writes, error) { return g, refusal })
			wantErr(t, "Decide(writes for a deleted client)", err, store.ErrMissingParent)
			if errors.Is(err, errCheck) {
				t.Errorf("Decide: %v, want the write's error, not the refusal", err)
			}
			wantOnly(t, "Decide after a failed write", peek(t, s, codeKey(code)), store.Locked{Code: &code})
			_, _, err = s.GetRefreshToken(ctx, g.RefreshToken.Hash)
			wantErr(t, "GetRefreshToken after a failed write", err, store.ErrNotFound)
			_, err = s.GetAccessToken(ctx, tok.ID)
			wantErr(t, "GetAccessToken after a failed write", err, store.ErrNotFound)
		}
	}},
	{"ConflictWritesNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		cc := newCCToken(c.ID, t0)
		createAccessToken(t, s, cc)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
		dup := newAccessToken(code, at(time.Second))
		dup.ID = cc.ID
		g.AccessToken = &dup
		err := s.Decide(ctx, codeKey(code), func(store.Locked) (store.Writes, error) { return g, nil })
		wantErr(t, "Decide(duplicate access token)", err, store.ErrConflict)
		wantOnly(t, "Decide after a conflict", peek(t, s, codeKey(code)), store.Locked{Code: &code})
		_, _, err = s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		wantErr(t, "GetRefreshToken after a conflict", err, store.ErrNotFound)
		got, err := s.GetAccessToken(ctx, cc.ID)
		must(t, "GetAccessToken", err)
		same(t, "the access token a conflict met", got, cc)
		wantErr(t, "record the same access token twice", putAccessToken(ctx, s, cc), store.ErrConflict)
	}},
	{"ProofUsedOnce", func(t *testing.T, s store.Store) {
		// A DPoP proof's use is recorded once: its second use is
		// ErrReplayed and writes nothing, with a grant or without.
		ctx := t.Context()
		c := createClient(t, s)
		proof := &store.ProofUse{Key: newHash(), ExpiresAt: at(5 * time.Minute)}
		tok := newCCToken(c.ID, t0)
		decide(t, s, store.GrantKey{}, store.Writes{At: t0, Proof: proof, AccessToken: &tok})
		again := newCCToken(c.ID, t0)
		err := s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
			return store.Writes{At: t0, Proof: proof, AccessToken: &again}, nil
		})
		wantErr(t, "Decide(a proof used before)", err, store.ErrReplayed)
		_, err = s.GetAccessToken(ctx, again.ID)
		wantErr(t, "the access token of a replayed proof", err, store.ErrNotFound)

		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
		g.Proof = proof
		err = s.Decide(ctx, codeKey(code), func(store.Locked) (store.Writes, error) { return g, nil })
		wantErr(t, "Decide(a code with a proof used before)", err, store.ErrReplayed)
		wantOnly(t, "the code after a replayed proof", peek(t, s, codeKey(code)), store.Locked{Code: &code})
		g.Proof = &store.ProofUse{Key: newHash(), ExpiresAt: at(5 * time.Minute)}
		decide(t, s, codeKey(code), g)

		// Racing uses of one proof: one wins.
		use := &store.ProofUse{Key: newHash(), ExpiresAt: at(5 * time.Minute)}
		errs := race(goroutines, func(int) error {
			return s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
				return store.Writes{At: t0, Proof: use}, nil
			})
		})
		tally(t, "Decide(one proof)", errs, store.ErrReplayed)
	}},
	{"ZeroKey", func(t *testing.T, s store.Store) {
		// A grant that locks nothing: decide runs once with an empty
		// Locked, and its writes are kept also when it refuses.
		ctx := t.Context()
		c := createClient(t, s)
		tok := newCCToken(c.ID, t0)
		calls := 0
		err := s.Decide(ctx, store.GrantKey{}, func(l store.Locked) (store.Writes, error) {
			calls++
			wantOnly(t, "Decide(zero key)", l, store.Locked{})
			return store.Writes{AccessToken: &tok}, errCheck
		})
		if err != errCheck || calls != 1 {
			t.Errorf("Decide(zero key): %v after %d calls, want errCheck after 1", err, calls)
		}
		got, err := s.GetAccessToken(ctx, tok.ID)
		must(t, "GetAccessToken", err)
		same(t, "the access token a zero-key decision wrote", got, tok)
	}},
	{"RefusesWhatIsNotLocked", func(t *testing.T, s store.Store) {
		// Writes that change a record the key did not lock, stamp a
		// change at the zero time, or store a retry answer without a
		// rotation, are refused, and nothing is written.
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		tok := newCCToken(c.ID, t0)
		for _, tc := range []struct {
			name string
			key  store.GrantKey
			w    store.Writes
		}{
			{"spend, zero key", store.GrantKey{}, store.Writes{At: t0, SpendCode: true, AccessToken: &tok}},
			{"rotate, zero key", store.GrantKey{}, store.Writes{At: t0, RotateRefreshToken: true, AccessToken: &tok}},
			{"touch, zero key", store.GrantKey{}, store.Writes{At: t0, TouchFamily: true, AccessToken: &tok}},
			{"rotate, code key", codeKey(code), store.Writes{At: t0, SpendCode: true, RotateRefreshToken: true}},
			{"spend, refresh key", refreshKey(g.RefreshToken.Hash), store.Writes{At: t0, SpendCode: true, TouchFamily: true}},
			{"spend at the zero time", codeKey(code), store.Writes{SpendCode: true}},
			{"revoke at the zero time", store.GrantKey{}, store.Writes{RevokeGrant: g.code.GrantID, AccessToken: &tok}},
			{"retry, no rotation", refreshKey(g.RefreshToken.Hash), store.Writes{At: t0, TouchFamily: true, Retry: newRetry()}},
			// Not taken for a lone access token (a backend's shortcut).
			{"retry, zero key", store.GrantKey{}, store.Writes{At: t0, Retry: newRetry(), AccessToken: &tok}},
		} {
			err := s.Decide(ctx, tc.key, func(store.Locked) (store.Writes, error) { return tc.w, nil })
			if err == nil {
				t.Errorf("Decide(%s) succeeded, want an error", tc.name)
			}
		}
		wantOnly(t, "the code", peek(t, s, codeKey(code)), store.Locked{Code: &code})
		l := peek(t, s, refreshKey(g.RefreshToken.Hash))
		same(t, "the refresh token", *l.RefreshToken, *g.RefreshToken)
		same(t, "the family", *l.Family, *g.Family)
		_, err := s.GetAccessToken(ctx, tok.ID)
		wantErr(t, "GetAccessToken", err, store.ErrNotFound)
	}},
	{"BothKeys", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		key := store.GrantKey{CodeHash: g.code.Hash, RefreshHash: g.RefreshToken.Hash}
		if err := s.Decide(ctx, key, notCalled(t)); err == nil {
			t.Errorf("Decide with a code and a refresh token: no error")
		}
	}},
}

// rotate is what rotating g's refresh token at now writes: the token
// rotated, with the answer to a retry of the rotation, a new one, an
// access token, the family touched.
func rotate(g grant, now time.Time) store.Writes {
	tok := newAccessToken(g.code, now)
	return store.Writes{
		At:                 now,
		RotateRefreshToken: true,
		Retry:              newRetry(),
		TouchFamily:        true,
		RefreshToken:       &store.RefreshToken{Hash: newHash(), FamilyID: g.code.GrantID, CreatedAt: now},
		AccessToken:        &tok,
	}
}

// newRetry is a retry answer as the core seals it: opaque bytes, new each
// time.
func newRetry() []byte { return []byte("sealed:" + newID()) }

// rotated is tok as the rotation w leaves it: used at w.At, with w's retry
// answer.
func rotated(tok store.RefreshToken, w store.Writes) store.RefreshToken {
	tok.UsedAt, tok.Retry = w.At, w.Retry
	return tok
}

var refreshTests = []test{
	{"Lock", func(t *testing.T, s store.Store) {
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		wantOnly(t, "Decide(refresh token)", peek(t, s, refreshKey(g.RefreshToken.Hash)),
			store.Locked{RefreshToken: g.RefreshToken, Family: g.Family})
	}},
	{"Rotate", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		now := at(time.Hour).In(elsewhere)
		w := rotate(g, now)
		decide(t, s, refreshKey(g.RefreshToken.Hash), w)
		wantFam := *g.Family
		wantFam.LastUsedAt = now

		// The rotated token carries the rotation's retry answer, as
		// GetRefreshToken reads it and as a retry's Decide locks it.
		old := rotated(*g.RefreshToken, w)
		got, oldFam, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		must(t, "GetRefreshToken(old)", err)
		same(t, "old token", got, old)
		same(t, "old token's family", oldFam, wantFam)
		nt, ntFam, err := s.GetRefreshToken(ctx, w.RefreshToken.Hash)
		must(t, "GetRefreshToken(new)", err)
		same(t, "new token", nt, *w.RefreshToken)
		if nt.Retry != nil {
			t.Errorf("new token Retry = %q, want nil (none until it is rotated)", nt.Retry)
		}
		same(t, "new token's family", ntFam, wantFam)
		tok, err := s.GetAccessToken(ctx, w.AccessToken.ID)
		must(t, "GetAccessToken", err)
		same(t, "new access token", tok, *w.AccessToken)
		wantOnly(t, "Decide(rotated token)", peek(t, s, refreshKey(g.RefreshToken.Hash)),
			store.Locked{RefreshToken: &old, Family: &wantFam})

		// The new token rotates in turn; no access token this time.
		now2 := at(2 * time.Hour)
		w2 := rotate(g, now2)
		w2.AccessToken = nil
		decide(t, s, refreshKey(w.RefreshToken.Hash), w2)
		sameTime(t, "family LastUsedAt", familyOf(t, s, w2.RefreshToken.Hash).LastUsedAt, now2)
		same(t, "second token", *peek(t, s, refreshKey(w.RefreshToken.Hash)).RefreshToken, rotated(*w.RefreshToken, w2))
		if got, _, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash); err != nil || !bytes.Equal(got.Retry, w.Retry) {
			t.Errorf("first token after the second rotation: Retry %q, %v; want %q kept", got.Retry, err, w.Retry)
		}
	}},
	{"RotateWithoutRetry", func(t *testing.T, s store.Store) {
		// A rotation with no retry answer leaves none.
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		w := rotate(g, at(time.Hour))
		w.Retry = nil
		decide(t, s, refreshKey(g.RefreshToken.Hash), w)
		got, _, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		must(t, "GetRefreshToken", err)
		same(t, "rotated token", got, rotated(*g.RefreshToken, w))
		if got.Retry != nil {
			t.Errorf("GetRefreshToken: Retry = %q, want nil", got.Retry)
		}
		if l := peek(t, s, refreshKey(g.RefreshToken.Hash)); l.RefreshToken.UsedAt.IsZero() || l.RefreshToken.Retry != nil {
			t.Errorf("Decide(rotated token): %+v, want used with Retry nil", *l.RefreshToken)
		}
	}},
	{"DecideSeesTheConnection", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		conn := newConnection(c.ID, t0)
		conn.ConsentExpiresAt = at(time.Hour)
		g := issueGrant(t, s, c.ID, &conn, store.RefreshRotating)
		w := rotate(g, at(time.Minute))
		sameConn(t, "the connection Decide showed", decide(t, s, refreshKey(g.RefreshToken.Hash), w).Connection, &conn)

		// The connection as it is at the refresh: its consent expired in
		// between. The store does not refuse (the core does).
		n, err := s.ExpireConsents(ctx, at(time.Hour), 10)
		must(t, "ExpireConsents", err)
		if n != 1 {
			t.Fatalf("ExpireConsents expired %d connections, want 1", n)
		}
		want := conn
		want.Status = store.ConnectionExpired
		l := decide(t, s, refreshKey(w.RefreshToken.Hash), rotate(g, at(2*time.Hour)))
		sameConn(t, "the connection Decide showed after ExpireConsents", l.Connection, &want)
	}},
	{"RefusalWithoutWrites", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		err := s.Decide(ctx, refreshKey(g.RefreshToken.Hash), func(store.Locked) (store.Writes, error) {
			return store.Writes{}, errCheck
		})
		if err != errCheck {
			t.Errorf("Decide(decide refuses) = %v, want errCheck as it is", err)
		}
		wantOnly(t, "Decide after a refusal", peek(t, s, refreshKey(g.RefreshToken.Hash)),
			store.Locked{RefreshToken: g.RefreshToken, Family: g.Family})
	}},
	{"RefusalKeepsItsWrites", func(t *testing.T, s store.Store) {
		// What a reused token writes: its family revoked, with its access
		// tokens, and the refusal returned.
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		other := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		w := rotate(g, at(time.Hour))
		decide(t, s, refreshKey(g.RefreshToken.Hash), w)
		now := at(2 * time.Hour).In(elsewhere)
		err := s.Decide(ctx, refreshKey(g.RefreshToken.Hash), func(l store.Locked) (store.Writes, error) {
			return store.Writes{At: now, RevokeGrant: l.Family.ID}, errCheck
		})
		if err != errCheck {
			t.Errorf("Decide(decide refuses with writes) = %v, want errCheck as it is", err)
		}
		for _, h := range [][]byte{g.RefreshToken.Hash, w.RefreshToken.Hash} {
			sameTime(t, "family RevokedAt", peek(t, s, refreshKey(h)).Family.RevokedAt, now)
		}
		wantRevokedAt(t, s, "the code's access token", g.AccessToken.ID, now)
		wantRevokedAt(t, s, "the refresh's access token", w.AccessToken.ID, now)
		if f := familyOf(t, s, other.RefreshToken.Hash); !f.RevokedAt.IsZero() {
			t.Errorf("another grant's family was revoked")
		}
		wantRevoked(t, s, "another grant's access token", other.AccessToken.ID, false)
	}},
	{"RevokedFamilyShows", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		must(t, "RevokeFamily", s.RevokeFamily(ctx, g.Family.ID, at(time.Minute)))
		want := *g.Family
		want.RevokedAt = at(time.Minute)
		wantOnly(t, "Decide(token of a revoked family)", peek(t, s, refreshKey(g.RefreshToken.Hash)),
			store.Locked{RefreshToken: g.RefreshToken, Family: &want})
	}},
	{"Fixed", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshFixed)
		var last time.Time
		for i := 1; i <= 3; i++ {
			now := at(time.Duration(i) * time.Hour)
			tok := newAccessToken(g.code, now)
			decide(t, s, refreshKey(g.RefreshToken.Hash), store.Writes{At: now, TouchFamily: true, AccessToken: &tok})
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
		err := s.Decide(t.Context(), refreshKey(newHash()), notCalled(t))
		wantErr(t, "Decide(missing refresh token)", err, store.ErrNotFound)
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
		createAccessToken(t, s, later)
		other := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		cc := newCCToken(c.ID, t0)
		createAccessToken(t, s, cc)

		now := at(time.Hour)
		must(t, "RevokeFamily", s.RevokeFamily(ctx, g.Family.ID, now))
		sameTime(t, "family RevokedAt", familyOf(t, s, g.RefreshToken.Hash).RevokedAt, now)
		wantRevokedAt(t, s, "first access token", g.AccessToken.ID, now)
		wantRevokedAt(t, s, "later access token", later.ID, now)
		wantRevoked(t, s, "another grant's access token", other.AccessToken.ID, false)
		wantRevoked(t, s, "client-credentials token", cc.ID, false)
		if f := familyOf(t, s, other.RefreshToken.Hash); !f.RevokedAt.IsZero() {
			t.Errorf("another grant's family was revoked")
		}

		must(t, "RevokeFamily(again)", s.RevokeFamily(ctx, g.Family.ID, at(2*time.Hour)))
		sameTime(t, "family RevokedAt after revoking twice", familyOf(t, s, g.RefreshToken.Hash).RevokedAt, now)
		wantRevokedAt(t, s, "access token after revoking twice", g.AccessToken.ID, now)
	}},
	{"NoFamilyRow", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		a, b := newAccessToken(code, t0), newAccessToken(code, at(time.Minute))
		cc := newCCToken(c.ID, t0)
		for _, tok := range []store.AccessToken{a, b, cc} {
			createAccessToken(t, s, tok)
		}
		must(t, "RevokeFamily", s.RevokeFamily(ctx, code.GrantID, at(time.Hour)))
		wantRevokedAt(t, s, "first token of the grant", a.ID, at(time.Hour))
		wantRevokedAt(t, s, "second token of the grant", b.ID, at(time.Hour))
		wantRevoked(t, s, "client-credentials token", cc.ID, false)
		must(t, "RevokeFamily(unknown ID)", s.RevokeFamily(ctx, newID(), at(time.Hour)))
	}},
}

var accessTokenTests = []test{
	{"CreateGet", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		cc := newCCToken(c.ID, t0)
		createAccessToken(t, s, cc)
		got, err := s.GetAccessToken(ctx, cc.ID)
		must(t, "GetAccessToken", err)
		same(t, "GetAccessToken", got, cc)

		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		tok := newAccessToken(g.code, at(time.Minute))
		tok.Scopes = nil
		createAccessToken(t, s, tok)
		got, err = s.GetAccessToken(ctx, tok.ID)
		must(t, "GetAccessToken", err)
		same(t, "GetAccessToken", got, tok)

		// A record written revoked (as a copy writes one) reads revoked.
		rv := newCCToken(c.ID, t0)
		rv.RevokedAt = at(time.Minute)
		createAccessToken(t, s, rv)
		got, err = s.GetAccessToken(ctx, rv.ID)
		must(t, "GetAccessToken", err)
		rv.Revoked = true
		same(t, "GetAccessToken(written revoked)", got, rv)

		_, err = s.GetAccessToken(ctx, newID())
		wantErr(t, "GetAccessToken(missing)", err, store.ErrNotFound)
	}},
	{"Revoke", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		a, b := newCCToken(c.ID, t0), newCCToken(c.ID, t0)
		createAccessToken(t, s, a)
		createAccessToken(t, s, b)
		must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, a, at(time.Minute)))
		got, err := s.GetAccessToken(ctx, a.ID)
		must(t, "GetAccessToken", err)
		want := a
		want.Revoked, want.RevokedAt = true, at(time.Minute)
		same(t, "revoked token", got, want)
		wantRevoked(t, s, "the other token", b.ID, false)
		must(t, "RevokeAccessToken(again)", s.RevokeAccessToken(ctx, a, at(2*time.Minute)))
		wantRevokedAt(t, s, "token revoked twice", a.ID, at(time.Minute))
	}},
	{"RevokeInsertsARecord", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		jwt := newCCToken(c.ID, t0) // never recorded: a client-credentials JWT
		must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, jwt, at(time.Minute)))
		got, err := s.GetAccessToken(ctx, jwt.ID)
		must(t, "GetAccessToken", err)
		want := jwt
		want.Revoked, want.RevokedAt = true, at(time.Minute)
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
		createAccessToken(t, s, onExpired)
		createAccessToken(t, s, onActive)
		wantRevoked(t, s, "token of an expired connection", onExpired.ID, true)
		wantRevokedAt(t, s, "token of an expired connection (not revoked itself)", onExpired.ID, time.Time{})
		wantRevoked(t, s, "token of an active connection", onActive.ID, false)
	}},
}
