package sqlite

import (
	"context"
	"database/sql"

	"github.com/grantd/grantd/internal/store"
)

// ListSigningKeys returns the current and previous keys, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return queryRows(ctx, s.r, scanSigningKey, `SELECT `+signingKeyCols+`
		FROM signing_keys WHERE state != 'retired' ORDER BY seq DESC`)
}

const signingKeyCols = `id, algorithm, encrypted_key, state, created_at`

func scanSigningKey(row scanner) (store.SigningKey, error) {
	var (
		k       store.SigningKey
		created int64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.EncryptedKey, &k.State, &created); err != nil {
		return store.SigningKey{}, mapErr(err)
	}
	k.CreatedAt = fromMS(created)
	return k, nil
}

// AddSigningKey makes k the current key in one write transaction: the
// previous key is retired, the current one becomes previous. k.State is
// ignored. ErrConflict if the ID exists, and then nothing changes.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`UPDATE signing_keys SET state = 'retired' WHERE state = 'previous'`,
			`UPDATE signing_keys SET state = 'previous' WHERE state = 'current'`,
		} {
			if _, err := exec(ctx, tx, q); err != nil {
				return err
			}
		}
		_, err := exec(ctx, tx, `INSERT INTO signing_keys (id, algorithm, encrypted_key, state, created_at, seq)
			VALUES (?, ?, ?, 'current', ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys))`,
			k.ID, k.Algorithm, k.EncryptedKey, toMS(k.CreatedAt))
		return err
	})
}

// AddFirstSigningKey inserts k as current when no key is current, in one
// write transaction.
func (s *Store) AddFirstSigningKey(ctx context.Context, k store.SigningKey) (bool, error) {
	var added bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		n, err := exec(ctx, tx, `INSERT INTO signing_keys (id, algorithm, encrypted_key, state, created_at, seq)
			SELECT ?, ?, ?, 'current', ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys)
			WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE state = 'current')`,
			k.ID, k.Algorithm, k.EncryptedKey, toMS(k.CreatedAt))
		added = n == 1
		return err
	})
	return added, err
}
