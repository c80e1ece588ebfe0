package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
)

// Bulk access (store.Bulk), for copying a whole store between backends:
// Export reads every record in one REPEATABLE READ, READ ONLY transaction,
// Import writes records in one transaction with the insert statements the
// methods that create them use.

// resetEventSeq moves the identity sequence of events.seq past the largest
// stored seq, so that new events come after rows loaded with explicit seq
// values.
const resetEventSeq = `SELECT setval(pg_get_serial_sequence('events', 'seq'), COALESCE(MAX(seq), 0) + 1, false) FROM events`

// resetLedgerSeq does the same for ledger.seq.
const resetLedgerSeq = `SELECT setval(pg_get_serial_sequence('ledger', 'seq'), COALESCE(MAX(seq), 0) + 1, false) FROM ledger`

// exportQueries reads each kind of record, by kind (the tables are named
// after the kinds); Export runs them in the order of store.Kinds.
var exportQueries = map[string]string{
	"clients":          `SELECT ` + clientCols + ` FROM clients ORDER BY id`,
	"ledger":           `SELECT ` + ledgerCols + ` FROM ledger ORDER BY seq`,
	"auth_requests":    `SELECT ` + authRequestCols + ` FROM auth_requests ORDER BY id`,
	"connections":      `SELECT ` + connectionCols + ` FROM connections ORDER BY id`,
	"auth_codes":       `SELECT ` + authCodeCols + ` FROM auth_codes ORDER BY hash`,
	"refresh_families": `SELECT ` + familyCols + ` FROM refresh_families f ORDER BY f.id`,
	"refresh_tokens":   `SELECT ` + tokenCols + ` FROM refresh_tokens t ORDER BY t.hash`,
	"access_tokens":    `SELECT ` + accessTokenCols + ` FROM access_tokens ORDER BY id`,
	// Oldest first: Import gives them increasing seq in this order, so
	// the copy lists them in the same order.
	"signing_keys": `SELECT ` + signingKeyCols + ` FROM signing_keys ORDER BY created_at NULLS FIRST, seq`,
	"events":       `SELECT ` + eventCols + ` FROM events ORDER BY seq`,
}

// scanRecord scans one row of exportQueries[kind].
func scanRecord(kind string, row scanner) (store.Record, error) {
	var (
		v   any
		err error
	)
	switch kind {
	case "clients":
		v, err = ptr(scanClient(row))
	case "ledger":
		v, err = ptr(scanLedgerEntry(row))
	case "auth_requests":
		v, err = ptr(scanAuthRequest(row))
	case "connections":
		v, err = ptr(scanConnection(row))
	case "auth_codes":
		v, err = ptr(scanAuthCode(row))
	case "refresh_families":
		v, err = ptr(scanFamily(row))
	case "refresh_tokens":
		v, err = ptr(scanRefreshToken(row))
	case "access_tokens":
		v, err = ptr(scanAccessToken(row))
	case "signing_keys":
		v, err = ptr(scanSigningKey(row))
	case "events":
		v, err = ptr(scanEvent(row))
	default:
		return store.Record{}, fmt.Errorf("postgres: no export of %q", kind)
	}
	return store.RecordOf(v), err
}

func ptr[T any](v T, err error) (*T, error) { return &v, err }

// Export reads the store in one REPEATABLE READ, READ ONLY transaction: all
// its queries see the snapshot of the first (the counts). It is not
// retried: fn has seen records by the time a retry could help.
func (s *Store) Export(ctx context.Context, fn func(store.Record) error) (map[string]int64, error) {
	var counts map[string]int64
	err := s.txOnce(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if counts, err = countKinds(ctx, tx); err != nil {
			return err
		}
		for _, k := range store.Kinds {
			if err := exportKind(ctx, tx, k, fn); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

func exportKind(ctx context.Context, tx pgx.Tx, kind string, fn func(store.Record) error) error {
	rows, err := tx.Query(ctx, exportQueries[kind])
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(kind, rows)
		if err != nil {
			return fmt.Errorf("postgres: export %s: %w", kind, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return mapErr(rows.Err())
}

// countKinds counts the records of each kind, in one statement.
func countKinds(ctx context.Context, q querier) (map[string]int64, error) {
	sub := make([]string, len(store.Kinds))
	for i, k := range store.Kinds {
		sub[i] = `(SELECT COUNT(*) FROM ` + pgx.Identifier{k}.Sanitize() + `)`
	}
	n := make([]int64, len(store.Kinds))
	dest := make([]any, len(n))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := q.QueryRow(ctx, `SELECT `+strings.Join(sub, ", ")).Scan(dest...); err != nil {
		return nil, mapErr(err)
	}
	counts := map[string]int64{}
	for i, k := range store.Kinds {
		counts[k] = n[i]
	}
	return counts, nil
}

// Import runs fn in one READ COMMITTED transaction, then moves the events'
// and the ledger's sequences past the loaded rows and commits. It is not
// retried (fn would run again).
func (s *Store) Import(ctx context.Context, fn func(store.Loader) error) error {
	defer s.clients.ForgetAll()
	return s.txOnce(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if err := fn(lockTx{q: tx}); err != nil {
			return err
		}
		for _, q := range []string{resetEventSeq, resetLedgerSeq} {
			if _, err := exec(ctx, tx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

func (l lockTx) Count(ctx context.Context) (map[string]int64, error) {
	q, err := l.now(ctx)
	if err != nil {
		return nil, err
	}
	return countKinds(ctx, q)
}

// Put writes r as it is: no event, no cascade. The kinds a decision
// writes, and those of one statement with no result, are exec'd (queued in
// a decision's pipeline); the others send what is queued first.
func (l lockTx) Put(ctx context.Context, r store.Record) error {
	switch {
	case r.RefreshFamily != nil:
		return l.exec(ctx, insertFamilySQL, familyArgs(r.RefreshFamily)...)
	case r.RefreshToken != nil:
		return l.exec(ctx, insertRefreshTokenSQL, refreshTokenArgs(r.RefreshToken)...)
	case r.AccessToken != nil:
		return l.exec(ctx, insertAccessTokenSQL, accessTokenArgs(r.AccessToken)...)
	case r.Client != nil:
		return l.exec(ctx, insertClient, clientArgs(r.Client)...)
	case r.AuthRequest != nil:
		return l.exec(ctx, insertAuthRequest, authRequestArgs(r.AuthRequest)...)
	case r.Event != nil:
		e := r.Event
		return l.exec(ctx, `INSERT INTO events (`+eventCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			e.Seq, e.ID, e.ClientID, e.ConnectionID, e.Type, e.Payload, ts(e.CreatedAt), e.Attempts,
			ts(e.NextAttemptAt), e.LastError, ts(e.DeliveredAt), e.Failed)
	}
	q, err := l.now(ctx)
	if err != nil {
		return err
	}
	switch {
	case r.LedgerEntry != nil:
		return insertLedgerEntry(ctx, q, r.LedgerEntry)
	case r.Connection != nil:
		return insertConnection(ctx, q, r.Connection)
	case r.AuthCode != nil:
		return insertAuthCode(ctx, q, r.AuthCode)
	case r.SigningKey != nil:
		// After the keys imported before it: their order is kept.
		_, err := insertSigningKey(ctx, q, r.SigningKey, "true")
		return err
	}
	return fmt.Errorf("postgres: Put of an empty record")
}
