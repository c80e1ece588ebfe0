package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
)

// ListSigningKeys returns every stored key, newest first (a key with no
// creation time as the oldest).
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return queryRows(ctx, s.pool, scanSigningKey, `SELECT `+signingKeyCols+`
		FROM signing_keys ORDER BY created_at DESC NULLS LAST, seq DESC`)
}

const signingKeyCols = `id, algorithm, encrypted_key, created_at, activates_at, keep_until`

func scanSigningKey(row scanner) (k store.SigningKey, err error) {
	if err := row.Scan(&k.ID, &k.Algorithm, &k.EncryptedKey, tm(&k.CreatedAt), tm(&k.ActivatesAt), tm(&k.KeepUntil)); err != nil {
		return store.SigningKey{}, mapErr(err)
	}
	return k, nil
}

// insertSigningKey inserts k after every stored key (seq) when cond (a
// condition on the table, its arguments from $7) holds, and reports
// whether it did.
//
// The legacy state column (0003) is what instances of the previous
// version read during a rolling upgrade: 'previous' (published) for the
// algorithms that version knows, 'retired' (skipped) for the others,
// whose keys it cannot parse and which would stop its reloads.
func insertSigningKey(ctx context.Context, tx querier, k *store.SigningKey, cond string, args ...any) (bool, error) {
	n, err := exec(ctx, tx, `INSERT INTO signing_keys (`+signingKeyCols+`, seq, state)
		SELECT $1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys),
			CASE WHEN $2 IN ('RS256', 'ES256') THEN 'previous' ELSE 'retired' END WHERE `+cond,
		append([]any{k.ID, k.Algorithm, k.EncryptedKey, ts(k.CreatedAt), ts(k.ActivatesAt), ts(k.KeepUntil)}, args...)...)
	return n == 1, err
}

// AddSigningKey inserts k unless a key of its algorithm was created after
// since (any key of it, for the zero since). The check spans rows that may
// not exist yet (instances starting at once each add a first key), which no
// row lock covers: the transaction (READ COMMITTED) first takes the
// schema's signing-keys advisory lock, so concurrent additions queue, and
// each checks after the one before it committed. That also gives each key
// its own seq. Additions are rare: the queue costs nothing.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey, since time.Time) (bool, error) {
	var added bool
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		if err := lockSchema(ctx, tx, "signing keys"); err != nil {
			return err
		}
		var err error
		if since.IsZero() {
			added, err = insertSigningKey(ctx, tx, &k, `NOT EXISTS (SELECT 1 FROM signing_keys WHERE algorithm = $2)`)
		} else {
			added, err = insertSigningKey(ctx, tx, &k,
				`NOT EXISTS (SELECT 1 FROM signing_keys WHERE algorithm = $2 AND created_at > $7)`, since.UTC())
		}
		return err
	})
	return added, err
}

// ReserveSigningKey raises keep_until to until, in one statement
// (GREATEST ignores a NULL keep_until).
func (s *Store) ReserveSigningKey(ctx context.Context, kid string, until time.Time) error {
	n, err := s.exec(ctx, `UPDATE signing_keys SET keep_until = GREATEST(keep_until, $2) WHERE id = $1`, kid, until.UTC())
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

// DeleteSigningKey deletes the key if keep_until is before before (or
// NULL), in one statement: a reservation committed first keeps it, one
// that comes after finds no key.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string, before time.Time) (bool, error) {
	n, err := s.exec(ctx, `DELETE FROM signing_keys WHERE id = $1 AND (keep_until IS NULL OR keep_until < $2)`,
		kid, before.UTC())
	return n == 1, err
}

// Reseal re-encrypts every signing key and every client's webhook secret
// in one READ COMMITTED transaction: it locks the rows FOR UPDATE (keys,
// then clients, each in id order) as it reads them, calls fn for each and
// writes the result; an error from fn rolls it all back. A retry (a
// deadlock with a client's update) calls fn again for every value.
func (s *Store) Reseal(ctx context.Context, fn func(kind, owner string, sealed []byte) ([]byte, error)) (int, error) {
	defer s.clients.ForgetAll()
	var n int
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		n = 0
		for _, t := range []struct{ kind, read, write string }{
			{store.SealedSigningKey, `SELECT id, encrypted_key FROM signing_keys ORDER BY id FOR UPDATE`,
				`UPDATE signing_keys SET encrypted_key = $2 WHERE id = $1`},
			{store.SealedWebhookSecret, `SELECT id, webhook_secret FROM clients WHERE length(webhook_secret) > 0
				ORDER BY id FOR NO KEY UPDATE`, `UPDATE clients SET webhook_secret = $2 WHERE id = $1`},
		} {
			type sealed struct {
				owner string
				value []byte
			}
			all, err := queryRows(ctx, tx, func(row scanner) (sealed, error) {
				var v sealed
				return v, mapErr(row.Scan(&v.owner, &v.value))
			}, t.read)
			if err != nil {
				return err
			}
			for _, v := range all {
				out, err := fn(t.kind, v.owner, v.value)
				if err != nil {
					return err
				}
				if _, err := exec(ctx, tx, t.write, v.owner, out); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
