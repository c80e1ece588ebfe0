package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// ListSigningKeys returns every stored key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return queryRows(ctx, s.r, scanSigningKey, `SELECT `+signingKeyCols+`
		FROM signing_keys ORDER BY created_at DESC, seq DESC`)
}

const signingKeyCols = `id, algorithm, encrypted_key, created_at, activates_at, keep_until`

func scanSigningKey(row scanner) (store.SigningKey, error) {
	var (
		k                          store.SigningKey
		created, activates, keepTo int64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.EncryptedKey, &created, &activates, &keepTo); err != nil {
		return store.SigningKey{}, mapErr(err)
	}
	k.CreatedAt, k.ActivatesAt, k.KeepUntil = fromMS(created), fromMS(activates), fromMS(keepTo)
	return k, nil
}

// insertSigningKey inserts k after every stored key (seq), unless cond (a
// condition on the table, or "1") is false. It reports whether it did.
func insertSigningKey(ctx context.Context, tx *sql.Tx, k *store.SigningKey, cond string, args ...any) (bool, error) {
	n, err := exec(ctx, tx, `INSERT INTO signing_keys (`+signingKeyCols+`, seq)
		SELECT ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys) WHERE `+cond,
		append([]any{k.ID, k.Algorithm, k.EncryptedKey, toMS(k.CreatedAt), toMS(k.ActivatesAt), toMS(k.KeepUntil)}, args...)...)
	return n == 1, err
}

// AddSigningKey inserts k unless a key of its algorithm was created after
// since (any key of it, for the zero since), in one write transaction:
// writers are serialised, so of concurrent callers with one since, one
// adds. ErrConflict if the ID exists.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey, since time.Time) (bool, error) {
	var added bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if since.IsZero() {
			added, err = insertSigningKey(ctx, tx, &k,
				`NOT EXISTS (SELECT 1 FROM signing_keys WHERE algorithm = ?)`, k.Algorithm)
		} else {
			added, err = insertSigningKey(ctx, tx, &k,
				`NOT EXISTS (SELECT 1 FROM signing_keys WHERE algorithm = ? AND created_at > ?)`, k.Algorithm, toMS(since))
		}
		return err
	})
	return added, err
}

// ReserveSigningKey raises keep_until to until, in one statement.
func (s *Store) ReserveSigningKey(ctx context.Context, kid string, until time.Time) error {
	n, err := s.writeExec(ctx, `UPDATE signing_keys SET keep_until = MAX(keep_until, ?) WHERE id = ?`, toMS(until), kid)
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

// DeleteSigningKey deletes the key if keep_until is before before, in one
// statement: a reservation committed first keeps it.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string, before time.Time) (bool, error) {
	n, err := s.writeExec(ctx, `DELETE FROM signing_keys WHERE id = ? AND keep_until < ?`, kid, toMS(before))
	return n == 1, err
}

// Reseal re-encrypts every signing key and every client's webhook secret
// in one write transaction; an error from fn rolls it all back.
func (s *Store) Reseal(ctx context.Context, fn func(kind, owner string, sealed []byte) ([]byte, error)) (int, error) {
	defer s.clients.ForgetAll()
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, t := range []struct{ kind, read, write string }{
			{store.SealedSigningKey, `SELECT id, encrypted_key FROM signing_keys ORDER BY id`,
				`UPDATE signing_keys SET encrypted_key = ? WHERE id = ?`},
			{store.SealedWebhookSecret, `SELECT id, webhook_secret FROM clients WHERE length(webhook_secret) > 0 ORDER BY id`,
				`UPDATE clients SET webhook_secret = ? WHERE id = ?`},
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
				if _, err := exec(ctx, tx, t.write, out, v.owner); err != nil {
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
