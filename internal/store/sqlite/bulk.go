package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/grantd/grantd/internal/store"
)

// Bulk access (store.Bulk), for copying a whole store: Export reads every
// record in one read transaction, Import writes records in one write
// transaction with the insert statements the methods that create them use.

// exported is how Export reads one kind of record, in the order of
// store.Kinds (TestExportOrder checks it).
type exported struct {
	kind, query string
	scan        func(scanner) (store.Record, error)
}

var exports = []exported{
	{"clients", `SELECT ` + clientCols + ` FROM clients ORDER BY id`, asRecord(scanClient)},
	{"ledger", `SELECT ` + ledgerCols + ` FROM ledger ORDER BY seq`, asRecord(scanLedgerEntry)},
	{"auth_requests", `SELECT ` + authRequestCols + ` FROM auth_requests ORDER BY id`, asRecord(scanAuthRequest)},
	{"connections", `SELECT ` + connectionCols + ` FROM connections ORDER BY id`, asRecord(scanConnection)},
	{"auth_codes", `SELECT ` + authCodeCols + ` FROM auth_codes ORDER BY hash`, asRecord(scanAuthCode)},
	{"refresh_families", `SELECT ` + familyCols + ` FROM refresh_families f ORDER BY f.id`, asRecord(scanFamily)},
	{"refresh_tokens", `SELECT ` + tokenCols + ` FROM refresh_tokens t ORDER BY t.hash`,
		asRecord(func(row scanner) (store.RefreshToken, error) { return scanRefreshToken(row) })},
	{"access_tokens", `SELECT ` + accessTokenCols + ` FROM access_tokens ORDER BY id`,
		asRecord(func(row scanner) (store.AccessToken, error) { return scanAccessToken(row) })},
	// Oldest first: Import gives them increasing seq in this order, so
	// the copy lists them in the same order.
	{"signing_keys", `SELECT ` + signingKeyCols + ` FROM signing_keys ORDER BY created_at, seq`, asRecord(scanSigningKey)},
	{"events", `SELECT ` + eventCols + ` FROM events ORDER BY seq`, asRecord(scanEvent)},
}

// asRecord turns a scanner of one record type into a scanner of Records.
func asRecord[T any](scan func(scanner) (T, error)) func(scanner) (store.Record, error) {
	return func(row scanner) (store.Record, error) {
		v, err := scan(row)
		if err != nil {
			return store.Record{}, err
		}
		return store.RecordOf(&v), nil
	}
}

// Export reads the store in one read transaction on the reader pool: under
// WAL, every read of a transaction sees the state of its first one (the
// counts), whatever the writer commits meanwhile.
func (s *Store) Export(ctx context.Context, fn func(store.Record) error) (map[string]int64, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, mapErr(err)
	}
	defer tx.Rollback()
	counts, err := countKinds(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, e := range exports {
		if err := exportKind(ctx, tx, e, fn); err != nil {
			return nil, err
		}
	}
	return counts, nil
}

func exportKind(ctx context.Context, tx *sql.Tx, e exported, fn func(store.Record) error) error {
	rows, err := tx.QueryContext(ctx, e.query)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := e.scan(rows)
		if err != nil {
			return fmt.Errorf("sqlite: export %s: %w", e.kind, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return mapErr(rows.Err())
}

// countKinds counts the records of each kind. The tables are named after
// the kinds.
func countKinds(ctx context.Context, db execer) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, k := range store.Kinds {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+k).Scan(&n); err != nil {
			return nil, mapErr(err)
		}
		counts[k] = n
	}
	return counts, nil
}

// Import runs fn in one BEGIN IMMEDIATE transaction on the writer. Events
// and ledger entries keep their seq; AUTOINCREMENT then numbers new ones
// after the largest.
func (s *Store) Import(ctx context.Context, fn func(store.Loader) error) error {
	defer s.clients.ForgetAll()
	return s.writeTx(ctx, func(tx *sql.Tx) error { return fn(grantTx{tx}) })
}

func (l grantTx) Count(ctx context.Context) (map[string]int64, error) { return countKinds(ctx, l.tx) }

// Put writes r as it is: no event, no cascade.
func (l grantTx) Put(ctx context.Context, r store.Record) error {
	var err error
	switch {
	case r.Client != nil:
		_, err = exec(ctx, l.tx, insertClient, clientArgs(r.Client)...)
	case r.LedgerEntry != nil:
		err = insertLedgerEntry(ctx, l.tx, r.LedgerEntry)
	case r.AuthRequest != nil:
		_, err = exec(ctx, l.tx, insertAuthRequest, authRequestArgs(r.AuthRequest)...)
	case r.Connection != nil:
		err = insertConnection(ctx, l.tx, r.Connection)
	case r.AuthCode != nil:
		err = insertAuthCode(ctx, l.tx, r.AuthCode)
	case r.RefreshFamily != nil:
		err = insertFamily(ctx, l.tx, r.RefreshFamily)
	case r.RefreshToken != nil:
		err = insertRefreshToken(ctx, l.tx, r.RefreshToken)
	case r.AccessToken != nil:
		err = insertAccessToken(ctx, l.tx, r.AccessToken)
	case r.SigningKey != nil:
		// After the keys imported before it: their order is kept.
		_, err = insertSigningKey(ctx, l.tx, r.SigningKey, "1")
	case r.Event != nil:
		e := r.Event
		_, err = exec(ctx, l.tx, `INSERT INTO events (`+eventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, e.ID, e.ClientID, e.ConnectionID, e.Type, e.Payload, toMS(e.CreatedAt), e.Attempts,
			toMS(e.NextAttemptAt), e.LastError, toMS(e.DeliveredAt), e.Failed)
	default:
		err = fmt.Errorf("sqlite: Put of an empty record")
	}
	return err
}
