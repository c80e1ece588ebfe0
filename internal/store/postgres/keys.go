package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
)

// ListSigningKeys returns the current and previous keys, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signingKeyCols+`
		FROM signing_keys WHERE state != 'retired' ORDER BY seq DESC`)
	if err != nil {
		return nil, mapErr(err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SigningKey, error) { return scanSigningKey(row) })
	return keys, mapErr(err)
}

const signingKeyCols = `id, algorithm, encrypted_key, state, created_at`

func scanSigningKey(row scanner) (k store.SigningKey, err error) {
	if err := row.Scan(&k.ID, &k.Algorithm, &k.EncryptedKey, &k.State, tm(&k.CreatedAt)); err != nil {
		return store.SigningKey{}, mapErr(err)
	}
	return k, nil
}

// AddSigningKey makes k the current key in one transaction: the previous
// key is retired, the current one becomes previous. k.State is ignored.
// ErrConflict if the ID exists, and then nothing changes.
//
// The invariant (one current, one previous key) spans several rows, and
// two instances starting on an empty database both add a first key, so
// this transaction is SERIALIZABLE: of two concurrent rotations, one fails
// with a serialization failure and runs again after the other, on its
// result. A violation of the one-current-one-previous index is the same
// race seen from the index (PostgreSQL may report it instead of 40001) and
// is retried too (see retryable).
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.tx(ctx, pgx.Serializable, func(tx pgx.Tx) error {
		for _, q := range []string{
			`UPDATE signing_keys SET state = 'retired' WHERE state = 'previous'`,
			`UPDATE signing_keys SET state = 'previous' WHERE state = 'current'`,
		} {
			if _, err := exec(ctx, tx, q); err != nil {
				return err
			}
		}
		_, err := exec(ctx, tx, `INSERT INTO signing_keys (id, algorithm, encrypted_key, state, created_at, seq)
			VALUES ($1, $2, $3, 'current', $4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys))`,
			k.ID, k.Algorithm, k.EncryptedKey, ts(k.CreatedAt))
		return err
	})
}

// AddFirstSigningKey inserts k as current when no key is current. The
// unique index on the live states makes concurrent first inserts collide:
// one wins, the others insert nothing.
func (s *Store) AddFirstSigningKey(ctx context.Context, k store.SigningKey) (bool, error) {
	var added bool
	err := s.tx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		n, err := exec(ctx, tx, `INSERT INTO signing_keys (id, algorithm, encrypted_key, state, created_at, seq)
			SELECT $1, $2, $3, 'current', $4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys)
			WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE state = 'current')
			ON CONFLICT DO NOTHING`,
			k.ID, k.Algorithm, k.EncryptedKey, ts(k.CreatedAt))
		added = n == 1
		return err
	})
	return added, err
}
