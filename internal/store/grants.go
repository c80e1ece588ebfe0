package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A grant (code redemption, refresh) is decided in the core and written by
// the store in one transaction: Grants.Decide loads and locks the records
// the grant decides on (Locked), the core's decide function returns what to
// write (Writes), and Writes.Apply writes it through the backend's
// primitives (Writer). RunDecide is that sequence, which every backend runs
// inside its own transaction (GrantTx). No protocol rule (replay, reuse,
// rotation) lives in a backend: a backend only knows how to lock, load and
// write.

// GrantKey names the record a grant decides on: a code (or temp token) by
// its hash, or a refresh token by its hash. The zero key names nothing.
type GrantKey struct {
	CodeHash    []byte
	RefreshHash []byte
}

// Locked is what Decide loaded, under lock, for one decision.
type Locked struct {
	// Code is the code a code key names; nil otherwise.
	Code *AuthCode
	// RefreshToken and Family are the token a refresh key names and its
	// family; nil otherwise.
	RefreshToken *RefreshToken
	Family       *RefreshFamily
	// Connection is the connection behind the code or the family: nil when
	// it has none (ConnectionID "") or its row is gone.
	Connection *Connection
}

// Writes is what one decision writes, in the transaction that loaded its
// Locked records. Every change is stamped At, which must not be zero when
// Writes changes a record (a zero time would read as "never": an unused
// code, a live family). The zero Writes writes nothing.
type Writes struct {
	At time.Time
	// SpendCode marks the locked code used at At.
	SpendCode bool
	// RotateRefreshToken marks the locked refresh token used (rotated) at
	// At.
	RotateRefreshToken bool
	// With RotateRefreshToken: Retry is stored on the locked (rotated)
	// token (RefreshToken.Retry); nil = none.
	Retry []byte
	// RevokeGrant, when not "", revokes the family with this ID (if its row
	// exists) and every access token whose FamilyID it is, keeping first
	// revocation times (as RevokeFamily does).
	RevokeGrant string
	// Family, RefreshToken and AccessToken are inserted when not nil, as
	// they are (an AccessToken with its RevokedAt; one marked Revoked with
	// no RevokedAt is recorded as revoked from its CreatedAt).
	Family       *RefreshFamily
	RefreshToken *RefreshToken
	AccessToken  *AccessToken
	// TouchFamily sets the locked family's LastUsedAt to At.
	TouchFamily bool
	// Charge, when not nil, is a token's charge as the ledger records it
	// (Kind LedgerCharge, Amount < 0): it takes -Charge.Amount from the
	// balance of the metered client Charge.ClientID and appends the entry
	// to its ledger (ID, Seq and Balance are the store's; its CreatedAt,
	// like the client's BalanceUpdatedAt, is At). A balance lower than
	// that is ErrInsufficientBalance and nothing is written: no token
	// without its charge, no charge without its token. Overdraft does not
	// apply to charges. A client that is gone is ErrMissingParent, one no
	// longer metered ErrNotMetered, and then nothing is written either.
	Charge *LedgerEntry
	// FirstTokenOf, when not "", sets that client's FirstTokenAt to At if
	// it is still zero (ErrMissingParent when the client is gone).
	FirstTokenOf string
	// Proof, when not nil, records the single use of a DPoP proof: a proof
	// used before is ErrReplayed, and nothing is written.
	Proof *ProofUse
}

// ProofUse is the use of one DPoP proof (RFC 9449 §11.1): its key, and
// until when a second use must be refused. A record past ExpiresAt may be
// deleted (DeleteExpired).
type ProofUse struct {
	Key       []byte
	ExpiresAt time.Time
}

// Empty reports whether w writes nothing. (A Retry alone is not empty:
// Apply refuses it, and so must not be skipped.)
func (w Writes) Empty() bool {
	return !w.SpendCode && !w.RotateRefreshToken && w.Retry == nil && w.RevokeGrant == "" && w.Family == nil &&
		w.RefreshToken == nil && w.AccessToken == nil && !w.TouchFamily && w.Charge == nil && w.FirstTokenOf == "" &&
		w.Proof == nil
}

// OnlyAccessToken reports whether w inserts an access token and writes
// nothing else: a backend may apply it as one statement.
func (w Writes) OnlyAccessToken() bool {
	a := w.AccessToken
	w.AccessToken = nil
	return a != nil && w.Empty()
}

// Writer is what a backend's transaction offers Writes.Apply (and
// RunAdjustBalance): each method is one primitive statement inside that
// transaction.
type Writer interface {
	SpendCode(ctx context.Context, hash []byte, at time.Time) error
	// RotateRefreshToken marks the token used at at and stores retry on it
	// (RefreshToken.Retry; nil = none), in one statement.
	RotateRefreshToken(ctx context.Context, hash []byte, at time.Time, retry []byte) error
	RevokeGrant(ctx context.Context, familyID string, at time.Time) error
	TouchFamily(ctx context.Context, familyID string, at time.Time) error
	// AddToBalance adds amount to the balance of the metered client
	// clientID and sets its BalanceUpdatedAt to at, unless the balance
	// would end below zero and belowZero is false, and returns the new
	// balance. ok is false, and nothing changed, when no metered client
	// clientID has balance enough (or none exists at all).
	AddToBalance(ctx context.Context, clientID string, amount int64, belowZero bool, at time.Time) (balance int64, ok bool, err error)
	// LockClient loads a client and holds its row against other balance
	// changes until the transaction ends; ErrNotFound when there is none.
	LockClient(ctx context.Context, id string) (Client, error)
	// MarkFirstToken sets the client's FirstTokenAt to at unless it is set
	// already; ErrMissingParent when there is no such client.
	MarkFirstToken(ctx context.Context, clientID string, at time.Time) error
	// UseProof records a DPoP proof's use, kept until until; ErrReplayed
	// when key was recorded before. (A record past its until is no longer
	// needed, but refusing its key again is right: the proof's iat is out
	// of the window by then, and a client never reuses a jti.)
	UseProof(ctx context.Context, key []byte, until time.Time) error
	// Put inserts a new record as it is (Writes puts refresh families,
	// refresh tokens, access tokens and ledger entries). It is the Put of
	// the backend's Loader: one insert path serves Decide, AdjustBalance
	// and Import. A ledger entry with Seq 0 gets the next one; Put sets in
	// the entry its Seq and CreatedAt as stored.
	Put(ctx context.Context, r Record) error
}

// Apply writes w through tx, for the records in l. The order is the lock
// order every backend keeps, so that concurrent transactions do not
// deadlock: after the rows Lock holds (connection, code or family and
// token), the proof's use (so that a replay fails before anything is
// written), the client's row (the charge first, then the first-token mark),
// then the locked code or token, then families, then refresh tokens, then
// access tokens. A charge the balance does not cover therefore fails
// before anything else is written. A Writes that asks for a change to a
// record l does not hold, stamps a change at the zero time, stores a retry
// answer without a rotation, or charges something that is no charge, is a
// programming error of the caller and is refused before anything is
// written.
func (w Writes) Apply(ctx context.Context, tx Writer, l Locked) error {
	switch {
	case w.At.IsZero() && (w.SpendCode || w.RotateRefreshToken || w.RevokeGrant != "" || w.TouchFamily ||
		w.Charge != nil || w.FirstTokenOf != ""):
		return errors.New("store: Writes changes a record at the zero time")
	case w.SpendCode && l.Code == nil:
		return errNotLocked("code")
	case w.RotateRefreshToken && l.RefreshToken == nil:
		return errNotLocked("refresh token")
	case w.Retry != nil && !w.RotateRefreshToken:
		return errors.New("store: Writes stores a retry answer without rotating the refresh token")
	case w.TouchFamily && l.Family == nil:
		return errNotLocked("family")
	case w.Charge != nil && (w.Charge.Kind != LedgerCharge || w.Charge.Amount >= 0 || w.Charge.ClientID == ""):
		return fmt.Errorf("store: Writes charges a %q of %d to client %q: want a %q with an amount below 0",
			w.Charge.Kind, w.Charge.Amount, w.Charge.ClientID, LedgerCharge)
	}
	if w.Proof != nil {
		if len(w.Proof.Key) == 0 || w.Proof.ExpiresAt.IsZero() || w.At.IsZero() {
			return errors.New("store: Writes records a proof with no key, expiry or time")
		}
		if err := tx.UseProof(ctx, w.Proof.Key, w.Proof.ExpiresAt); err != nil {
			return err
		}
	}
	if w.Charge != nil {
		e := *w.Charge
		e.CreatedAt = w.At
		if _, err := post(ctx, tx, e, false); err != nil {
			return err
		}
	}
	if w.FirstTokenOf != "" {
		if err := tx.MarkFirstToken(ctx, w.FirstTokenOf, w.At); err != nil {
			return err
		}
	}
	if w.SpendCode {
		if err := tx.SpendCode(ctx, l.Code.Hash, w.At); err != nil {
			return err
		}
	}
	if w.RotateRefreshToken {
		if err := tx.RotateRefreshToken(ctx, l.RefreshToken.Hash, w.At, w.Retry); err != nil {
			return err
		}
	}
	if w.RevokeGrant != "" {
		if err := tx.RevokeGrant(ctx, w.RevokeGrant, w.At); err != nil {
			return err
		}
	}
	if w.TouchFamily {
		if err := tx.TouchFamily(ctx, l.Family.ID, w.At); err != nil {
			return err
		}
	}
	for _, r := range []Record{{RefreshFamily: w.Family}, {RefreshToken: w.RefreshToken}, {AccessToken: w.AccessToken}} {
		if r.Kind() == "" {
			continue
		}
		if err := tx.Put(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// GrantTx is a backend's write transaction as Decide uses it: the Writer
// primitives, and Lock.
type GrantTx interface {
	Writer
	// Lock loads what key (not the zero key) names, with the connection
	// behind it, and holds them against concurrent changes until the
	// transaction ends; ErrNotFound when key names no record.
	Lock(ctx context.Context, key GrantKey) (Locked, error)
}

// RunDecide is the part of Grants.Decide that every backend runs inside its
// write transaction, so that the contract is kept in one place: lock what
// key names (nothing for the zero key; ErrNotFound, and decide is not
// called, when it names no record), call decide, and apply its Writes also
// when decide refuses. It returns decide's error as refusal, which Decide
// returns once the transaction has committed, and err, which must roll the
// transaction back: then nothing is written, and err (a failed write: say
// ErrMissingParent) is what Decide returns, whatever decide said.
func RunDecide(ctx context.Context, tx GrantTx, key GrantKey, decide func(Locked) (Writes, error)) (refusal, err error) {
	var l Locked
	switch {
	case len(key.CodeHash) > 0 && len(key.RefreshHash) > 0:
		return nil, errors.New("store: a GrantKey names a code or a refresh token, not both")
	case len(key.CodeHash) > 0 || len(key.RefreshHash) > 0:
		if l, err = tx.Lock(ctx, key); err != nil {
			return nil, err
		}
	}
	w, refusal := decide(l)
	if err := w.Apply(ctx, tx, l); err != nil {
		return nil, err
	}
	return refusal, nil
}

type errNotLocked string

func (e errNotLocked) Error() string {
	return "store: Writes changes a " + string(e) + " the decision did not lock"
}
