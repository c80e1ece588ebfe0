package store

import (
	"context"
	"errors"
	"fmt"
)

// Copying a whole store from one backend to another (grantd migrate --from
// … --to …) goes through the store interface, in domain records: each
// backend knows how to read and write its own rows, and Copy knows the
// order and the checks.

// Kinds of records, in the order Export yields them and Import needs them:
// every record after the records it refers to.
var Kinds = []string{
	"clients", "ledger", "auth_requests", "connections", "auth_codes", "refresh_families",
	"refresh_tokens", "access_tokens", "signing_keys", "events",
}

// Record is one stored record of any kind; exactly one field is set.
type Record struct {
	Client        *Client
	LedgerEntry   *LedgerEntry // Seq is kept
	AuthRequest   *AuthRequest
	Connection    *Connection
	AuthCode      *AuthCode
	RefreshFamily *RefreshFamily
	RefreshToken  *RefreshToken
	AccessToken   *AccessToken // RevokedAt as stored; Revoked is not copied
	SigningKey    *SigningKey
	Event         *Event // Seq is kept
}

// Kind is the kind of the record (one of Kinds), "" when no field is set.
func (r Record) Kind() string {
	switch {
	case r.Client != nil:
		return "clients"
	case r.LedgerEntry != nil:
		return "ledger"
	case r.AuthRequest != nil:
		return "auth_requests"
	case r.Connection != nil:
		return "connections"
	case r.AuthCode != nil:
		return "auth_codes"
	case r.RefreshFamily != nil:
		return "refresh_families"
	case r.RefreshToken != nil:
		return "refresh_tokens"
	case r.AccessToken != nil:
		return "access_tokens"
	case r.SigningKey != nil:
		return "signing_keys"
	case r.Event != nil:
		return "events"
	}
	return ""
}

// RecordOf returns the Record holding v, a pointer to one of the record
// types (*Client, *AuthRequest, …); for anything else, a Record with no
// field set (Kind "").
func RecordOf(v any) Record {
	switch v := v.(type) {
	case *Client:
		return Record{Client: v}
	case *LedgerEntry:
		return Record{LedgerEntry: v}
	case *AuthRequest:
		return Record{AuthRequest: v}
	case *Connection:
		return Record{Connection: v}
	case *AuthCode:
		return Record{AuthCode: v}
	case *RefreshFamily:
		return Record{RefreshFamily: v}
	case *RefreshToken:
		return Record{RefreshToken: v}
	case *AccessToken:
		return Record{AccessToken: v}
	case *SigningKey:
		return Record{SigningKey: v}
	case *Event:
		return Record{Event: v}
	}
	return Record{}
}

// Bulk reads and writes every record of a store, for copying it.
type Bulk interface {
	// Export calls fn with every record of the store, read in one
	// consistent snapshot, kind by kind in the order of Kinds (ledger
	// entries and events in Seq order, signing keys oldest first), each
	// record once. It returns how
	// many records of each kind the snapshot holds, counted in the same
	// snapshot. An error from fn stops the export and is returned.
	Export(ctx context.Context, fn func(Record) error) (map[string]int64, error)
	// Import runs fn, once, in one write transaction and commits it when
	// fn returns nil; if anything fails, nothing is written. Records are
	// written as they are, without events or cascades (an imported
	// connection gets no connection.created event, a client keeps its
	// Balance); events and ledger entries keep their Seq, and those created
	// later come after them.
	Import(ctx context.Context, fn func(Loader) error) error
}

// Loader writes records inside an Import.
type Loader interface {
	// Put writes one record.
	Put(ctx context.Context, r Record) error
	// Count returns how many records of each kind the store holds, as the
	// import sees it.
	Count(ctx context.Context) (map[string]int64, error)
}

// Copy copies every record of from into to, which must be empty
// (ErrNotEmpty otherwise), in one snapshot of from and one transaction on
// to, and checks that to then holds as many records of each kind as from
// did. It returns how many records of each kind it copied. On any error
// nothing is written to to.
func Copy(ctx context.Context, from, to Bulk) (map[string]int64, error) {
	var copied map[string]int64
	err := to.Import(ctx, func(l Loader) error {
		copied = map[string]int64{}
		have, err := l.Count(ctx)
		if err != nil {
			return fmt.Errorf("count the target: %w", err)
		}
		for _, k := range Kinds {
			if have[k] != 0 {
				return fmt.Errorf("%w: %s has %d records: copy only into a new store", ErrNotEmpty, k, have[k])
			}
		}
		want, err := from.Export(ctx, func(r Record) error {
			k := r.Kind()
			if k == "" {
				return errors.New("store: an empty record")
			}
			if err := l.Put(ctx, r); err != nil {
				return fmt.Errorf("write %s: %w", k, err)
			}
			copied[k]++
			return nil
		})
		if err != nil {
			return err
		}
		got, err := l.Count(ctx)
		if err != nil {
			return fmt.Errorf("count the target: %w", err)
		}
		for _, k := range Kinds {
			if got[k] != want[k] || copied[k] != want[k] {
				return fmt.Errorf("%s: the source has %d, %d were copied, the target has %d", k, want[k], copied[k], got[k])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return copied, nil
}
