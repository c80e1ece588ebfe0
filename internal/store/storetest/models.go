package storetest

import (
	"context"
	"errors"

	"github.com/grantd/grantd/internal/store"
)

// Decide functions that model the grant core's rules (internal/oauth holds
// the real ones), for tests that race decisions on one code or one refresh
// token: the store must show each decision the state the one before it
// committed, so that exactly one wins.

var (
	// ErrReplayed is Redeem's refusal of a spent code.
	ErrReplayed = errors.New("storetest: code already used")
	// ErrReused is Refresh's refusal of a rotated refresh token.
	ErrReused = errors.New("storetest: refresh token reused")
	// ErrFamilyRevoked is Refresh's refusal of a token of a revoked family.
	ErrFamilyRevoked = errors.New("storetest: refresh family revoked")
)

// Redeem models a code redemption writing w: an unused code is spent (and
// w written); a spent one revokes its grant, at w.At, and is refused with
// ErrReplayed.
func Redeem(w store.Writes) func(store.Locked) (store.Writes, error) {
	return func(l store.Locked) (store.Writes, error) {
		if !l.Code.UsedAt.IsZero() {
			return store.Writes{At: w.At, RevokeGrant: l.Code.GrantID}, ErrReplayed
		}
		w.SpendCode = true
		return w, nil
	}
}

// Refresh models a refresh writing w: a rotated token revokes its family,
// at w.At, and is refused with ErrReused (whatever the family's state: every
// replay of a stolen token is one); a token of a revoked family is refused
// with ErrFamilyRevoked; otherwise the token is rotated when w has a new
// one, the family touched, and w written.
func Refresh(w store.Writes) func(store.Locked) (store.Writes, error) {
	return func(l store.Locked) (store.Writes, error) {
		switch {
		case !l.RefreshToken.UsedAt.IsZero():
			return store.Writes{At: w.At, RevokeGrant: l.Family.ID}, ErrReused
		case !l.Family.RevokedAt.IsZero():
			return store.Writes{}, ErrFamilyRevoked
		}
		w.RotateRefreshToken = w.RefreshToken != nil
		w.TouchFamily = true
		return w, nil
	}
}

// Peek returns what g.Decide loads for key (the code, or the refresh token
// and its family, and the connection), writing nothing.
func Peek(ctx context.Context, g store.Grants, key store.GrantKey) (store.Locked, error) {
	var seen store.Locked
	err := g.Decide(ctx, key, func(l store.Locked) (store.Writes, error) {
		seen = l
		return store.Writes{}, nil
	})
	return seen, err
}
