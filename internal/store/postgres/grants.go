package postgres

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/grantd/grantd/internal/store"
)

// ---- codes ----

const authCodeCols = `hash, kind, client_id, redirect_uri, scopes, subject, connection_id, code_challenge,
	code_challenge_method, grant_id, created_at, expires_at, used_at, dpop_jkt, resources`

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var c store.AuthCode
	err := row.Scan(&c.Hash, &c.Kind, &c.ClientID, &c.RedirectURI, &c.Scopes, &c.Subject, &c.ConnectionID,
		&c.CodeChallenge, &c.CodeChallengeMethod, &c.GrantID, tm(&c.CreatedAt), tm(&c.ExpiresAt), tm(&c.UsedAt), &c.DPoPJKT,
		&c.Resources)
	if err != nil {
		return store.AuthCode{}, mapErr(err)
	}
	return c, nil
}

func insertAuthCode(ctx context.Context, tx querier, c *store.AuthCode) error {
	_, err := exec(ctx, tx, `INSERT INTO auth_codes (`+authCodeCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.Hash, c.Kind, c.ClientID, c.RedirectURI, list(c.Scopes), c.Subject, c.ConnectionID,
		c.CodeChallenge, c.CodeChallengeMethod, c.GrantID, ts(c.CreatedAt), ts(c.ExpiresAt), ts(c.UsedAt), c.DPoPJKT,
		list(c.Resources))
	return err
}

// CreateAuthCode stores a code and, when conn is not nil, its connection and
// a connection.created event, in one transaction.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode, conn *store.Connection) error {
	return s.writeTx(ctx, func(tx pgx.Tx) error {
		if conn != nil {
			if err := insertConnection(ctx, tx, conn); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, store.NewEvent(store.EventConnectionCreated, *conn, conn.CreatedAt)); err != nil {
				return err
			}
		}
		return insertAuthCode(ctx, tx, &c)
	})
}

// ---- decisions ----

// Decide runs one decision in a READ COMMITTED transaction that locks what
// the key names before decide reads it (see lockTx.Lock); store.RunDecide
// does the rest. Concurrent decisions on one code or token queue on its row
// lock; once the winner commits, PostgreSQL re-reads the row for each
// waiter, whose decide then sees the code spent or the token rotated. The
// transaction is two round trips (decideOnce) and is retried as writeTx
// does; decide runs again then.
func (s *Store) Decide(ctx context.Context, key store.GrantKey, decide func(store.Locked) (store.Writes, error)) error {
	if key.CodeHash == nil && key.RefreshHash == nil {
		// Nothing to lock: decide reads nothing, and may run first. A
		// decision that writes one access token and nothing else (an
		// opaque client-credentials token) is that INSERT alone, batched
		// with the others waiting (groupinsert.go): one statement is its
		// own transaction, with no BEGIN and COMMIT round trips.
		w, refusal := decide(store.Locked{})
		if w.OnlyAccessToken() {
			return cmp.Or(s.inserts.insert(ctx, w.AccessToken), refusal)
		}
		decide = func(store.Locked) (store.Writes, error) { return w, refusal }
	}
	var refusal error
	err := retry(ctx, func() (err error) {
		refusal, err = s.decideOnce(ctx, key, decide)
		return err
	})
	return cmp.Or(err, refusal)
}

// decideOnce runs one decision in one transaction of two pipelines: BEGIN
// and the locks (lockTx.Lock), then the writes and COMMIT. A write whose
// result the backend reads (a charge, the first-token mark) sends what is
// queued before it and costs a round trip of its own; every other write's
// only failure is the server's error, which aborts the transaction and the
// COMMIT queued after it. The statements run in the order they were queued,
// so the lock order of the package doc holds. A refresh was nine round
// trips before (docs/storage.md).
func (s *Store) decideOnce(ctx context.Context, key store.GrantKey, decide func(store.Locked) (store.Writes, error)) (refusal, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	defer func() {
		// Anything but a COMMIT that went through leaves the transaction
		// open or failed: roll it back before the connection goes back (the
		// pool would close a connection still in a transaction). This also
		// runs if decide panics.
		if conn.Conn().PgConn().TxStatus() != txIdle {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			_, _ = conn.Exec(rctx, `ROLLBACK`)
			cancel()
		}
		conn.Release()
	}()
	tx := lockTx{q: conn, pending: &pgx.Batch{}}
	tx.pending.Queue(`BEGIN ISOLATION LEVEL READ COMMITTED`)
	if refusal, err = store.RunDecide(ctx, tx, key, decide); err != nil {
		return nil, err
	}
	tx.pending.Queue(`COMMIT`).Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" { // PostgreSQL answers ROLLBACK to the COMMIT of a failed transaction
			return errors.New("postgres: the decision's transaction was rolled back")
		}
		return nil
	})
	// The last pipeline holds the writes and the COMMIT: once sent, the
	// server runs them all unless one fails, and a cancellation (which
	// PostgreSQL ignores between statements) could not stop the COMMIT,
	// only the reading of its answer: Decide would report an error for a
	// decision that committed (a refresh token spent, its successor lost).
	// So a caller gone before it is sent writes nothing, and once sent its
	// answers are read whatever happens to ctx, for at most commitTimeout.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	return refusal, tx.send(wctx, tx.pending)
}

// txIdle is the transaction status of a connection outside a transaction.
const txIdle = 'I'

// commitTimeout bounds a decision's last pipeline (its writes may wait for
// a row lock: a client being deleted); rollbackTimeout the ROLLBACK of a
// decision that did not commit.
const (
	commitTimeout   = 10 * time.Second
	rollbackTimeout = 5 * time.Second
)

// lockTx is a transaction as a decision (store.GrantTx), a balance
// adjustment (store.BalanceTx) and an import (store.Loader) use it: q is
// the transaction, or the connection that runs one (decideOnce). With
// pending not nil, statements whose only failure is the server's error are
// queued there (exec) and sent with the next statement that reads a result
// (now, Lock) or with the COMMIT.
type lockTx struct {
	q       querier
	pending *pgx.Batch
}

var (
	_ store.GrantTx = lockTx{}
	_ store.Loader  = lockTx{}
)

// exec runs, or queues, one statement whose only failure is the server's
// error, and drops its row count.
func (l lockTx) exec(ctx context.Context, query string, args ...any) error {
	if l.pending != nil {
		l.pending.Queue(query, args...)
		return nil
	}
	_, err := exec(ctx, l.q, query, args...)
	return err
}

// now sends what is queued and returns the querier, for a statement whose
// result the caller reads.
func (l lockTx) now(ctx context.Context) (querier, error) {
	if l.pending != nil {
		if err := l.send(ctx, l.pending); err != nil {
			return nil, err
		}
	}
	return l.q, nil
}

// send sends b in one round trip, reads every result (running b's
// callbacks), and empties it.
func (l lockTx) send(ctx context.Context, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	err := l.q.SendBatch(ctx, b).Close()
	*b = pgx.Batch{}
	return mapErr(err)
}

// Lock takes the locks in the order of the package doc: the connection
// FOR SHARE (a revocation of it waits for this transaction, or this one for
// the revocation), then the code FOR UPDATE, or the family FOR UPDATE and
// then its token FOR UPDATE. The family goes before its token because the
// janitor deletes families (SKIP LOCKED) and the delete cascades to their
// tokens: taking the token first could deadlock with it.
// The client's row comes next, with the decision's first write (a charge,
// or the first-token mark: store.Writes.Apply puts them first).
// The statements go in one round trip, after what is queued (BEGIN); they
// run one after the other, in that order.
func (l lockTx) Lock(ctx context.Context, key store.GrantKey) (store.Locked, error) {
	b := l.pending
	if b == nil {
		b = &pgx.Batch{}
	}
	var (
		locked  store.Locked
		missing bool
	)
	// found keeps a miss (no such code or token: no row) out of the batch's
	// error, which would make pgx drop the connection's prepared
	// statements: a guessed token would cost every later decision on it a
	// prepare.
	found := func(err error) error {
		var pe *pgconn.PgError
		if errors.Is(err, store.ErrNotFound) && !errors.As(err, &pe) {
			missing = true
			return nil
		}
		return err
	}
	if len(key.CodeHash) > 0 {
		queueLockConnection(b, &locked, `(SELECT connection_id FROM auth_codes WHERE hash = $1)`, key.CodeHash)
		b.Queue(`SELECT `+authCodeCols+` FROM auth_codes WHERE hash = $1 FOR UPDATE`, key.CodeHash).QueryRow(func(row pgx.Row) error {
			c, err := scanAuthCode(row)
			locked.Code = &c
			return found(err)
		})
	} else {
		queueLockConnection(b, &locked, `(SELECT f.connection_id FROM refresh_tokens t
			JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1)`, key.RefreshHash)
		b.Queue(`SELECT 1 FROM refresh_families
			WHERE id = (SELECT family_id FROM refresh_tokens WHERE hash = $1) FOR UPDATE`, key.RefreshHash)
		b.Queue(tokenFamilyQuery+` FOR UPDATE`, key.RefreshHash).QueryRow(func(row pgx.Row) error {
			t, f, err := scanTokenFamily(row)
			locked.RefreshToken, locked.Family = &t, &f
			return found(err)
		})
	}
	if err := l.send(ctx, b); err != nil {
		return store.Locked{}, err
	}
	if missing {
		return store.Locked{}, store.ErrNotFound
	}
	return locked, nil
}

// The store.Writer primitives: one statement each, on rows Lock holds (or
// new ones).

func (l lockTx) SpendCode(ctx context.Context, hash []byte, at time.Time) error {
	return l.exec(ctx, `UPDATE auth_codes SET used_at = $2 WHERE hash = $1`, hash, at.UTC())
}

func (l lockTx) RotateRefreshToken(ctx context.Context, hash []byte, at time.Time, retry []byte) error {
	return l.exec(ctx, `UPDATE refresh_tokens SET used_at = $2, retry = $3 WHERE hash = $1`, hash, at.UTC(), retry)
}

func (l lockTx) TouchFamily(ctx context.Context, id string, at time.Time) error {
	return l.exec(ctx, `UPDATE refresh_families SET last_used_at = $2 WHERE id = $1`, id, at.UTC())
}

// RevokeGrant marks the family (if there is a row) and every access token
// with that FamilyID revoked, keeping the first revocation time. The empty
// ID is no grant (client-credentials tokens have FamilyID ""), so it
// revokes nothing.
func (l lockTx) RevokeGrant(ctx context.Context, familyID string, at time.Time) error {
	if familyID == "" {
		return nil
	}
	if err := l.exec(ctx, `UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`,
		familyID, revokedAt(at)); err != nil {
		return err
	}
	return l.exec(ctx, `UPDATE access_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`,
		familyID, revokedAt(at))
}

// UseProof inserts the proof's use, queued with the other writes: a key
// stored already fails the insert and the transaction (mapErr tells
// ErrReplayed by the constraint), and nothing is written.
func (l lockTx) UseProof(ctx context.Context, key []byte, until time.Time) error {
	return l.exec(ctx, `INSERT INTO dpop_proofs (key, expires_at) VALUES ($1, $2)`, key, until.UTC())
}

// (Put, and Count, are in bulk.go: Import's Loader is the same type.)

// ---- refresh families and tokens ----

const familyCols = `f.id, f.client_id, f.subject, f.connection_id, f.scopes, f.policy, f.idle_timeout,
	f.created_at, f.expires_at, f.last_used_at, f.revoked_at, f.jkt, f.resources, f.x5t`

// tokenCols are the columns of refresh_tokens as tokenDest scans them;
// retry is NULL for none (a nil Retry).
const tokenCols = `t.hash, t.family_id, t.created_at, t.used_at, t.retry`

const tokenFamilyQuery = `SELECT ` + tokenCols + `, ` + familyCols + `
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1`

// familyDest is where the columns of familyCols scan into; *idle holds the
// idle timeout's nanoseconds.
func familyDest(f *store.RefreshFamily, idle *int64) []any {
	return []any{&f.ID, &f.ClientID, &f.Subject, &f.ConnectionID, &f.Scopes, &f.Policy, idle,
		tm(&f.CreatedAt), tm(&f.ExpiresAt), tm(&f.LastUsedAt), tm(&f.RevokedAt), &f.JKT, &f.Resources, &f.X5T}
}

func tokenDest(t *store.RefreshToken) []any {
	return []any{&t.Hash, &t.FamilyID, tm(&t.CreatedAt), tm(&t.UsedAt), &t.Retry}
}

func scanFamily(row scanner) (f store.RefreshFamily, err error) {
	var idle int64
	if err := row.Scan(familyDest(&f, &idle)...); err != nil {
		return store.RefreshFamily{}, mapErr(err)
	}
	f.IdleTimeout = time.Duration(idle)
	return f, nil
}

func scanRefreshToken(row scanner) (t store.RefreshToken, err error) {
	if err := row.Scan(tokenDest(&t)...); err != nil {
		return store.RefreshToken{}, mapErr(err)
	}
	return t, nil
}

func scanTokenFamily(row scanner) (t store.RefreshToken, f store.RefreshFamily, err error) {
	var idle int64
	if err := row.Scan(append(tokenDest(&t), familyDest(&f, &idle)...)...); err != nil {
		return store.RefreshToken{}, store.RefreshFamily{}, mapErr(err)
	}
	f.IdleTimeout = time.Duration(idle)
	return t, f, nil
}

const insertFamilySQL = `INSERT INTO refresh_families (id, client_id, subject, connection_id, scopes, policy,
	idle_timeout, created_at, expires_at, last_used_at, revoked_at, jkt, resources, x5t)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

func familyArgs(f *store.RefreshFamily) []any {
	return []any{f.ID, f.ClientID, f.Subject, f.ConnectionID, list(f.Scopes), f.Policy, ns(f.IdleTimeout),
		ts(f.CreatedAt), ts(f.ExpiresAt), ts(f.LastUsedAt), ts(f.RevokedAt), f.JKT, list(f.Resources), f.X5T}
}

const insertRefreshTokenSQL = `INSERT INTO refresh_tokens (hash, family_id, created_at, used_at, retry)
	VALUES ($1, $2, $3, $4, $5)`

func refreshTokenArgs(t *store.RefreshToken) []any {
	return []any{t.Hash, t.FamilyID, ts(t.CreatedAt), ts(t.UsedAt), t.Retry}
}

// GetRefreshToken returns a token and its family.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, store.RefreshFamily, error) {
	return scanTokenFamily(s.pool.QueryRow(ctx, tokenFamilyQuery, hash))
}

// RevokeFamily revokes a family and the access tokens of its grant.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) error {
	return s.writeTx(ctx, func(tx pgx.Tx) error { return lockTx{q: tx}.RevokeGrant(ctx, familyID, now) })
}

// revokedAt is the revocation time stored for now: never NULL, which would
// read as "not revoked".
func revokedAt(now time.Time) time.Time {
	if now.IsZero() {
		return time.UnixMilli(1).UTC()
	}
	return now.UTC()
}

// ---- access tokens ----

const accessTokenCols = `id, client_id, subject, family_id, connection_id, scopes, format, created_at, expires_at,
	revoked_at, jkt, audience, x5t`

// scanAccessToken scans accessTokenCols, then more.
func scanAccessToken(row scanner, more ...any) (t store.AccessToken, err error) {
	err = row.Scan(append([]any{&t.ID, &t.ClientID, &t.Subject, &t.FamilyID, &t.ConnectionID, &t.Scopes, &t.Format,
		tm(&t.CreatedAt), tm(&t.ExpiresAt), tm(&t.RevokedAt), &t.JKT, &t.Audience, &t.X5T}, more...)...)
	if err != nil {
		return store.AccessToken{}, mapErr(err)
	}
	return t, nil
}

// insertAccessToken stores t with its RevokedAt; a t marked Revoked with no
// RevokedAt is recorded as revoked from its creation.
func insertAccessToken(ctx context.Context, q querier, t *store.AccessToken) error {
	_, err := exec(ctx, q, insertAccessTokenSQL, accessTokenArgs(t)...)
	return err
}

const insertAccessTokenSQL = `INSERT INTO access_tokens (` + accessTokenCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// accessTokenArgs are t's values in the order of accessTokenCols.
func accessTokenArgs(t *store.AccessToken) []any {
	revoked := ts(t.RevokedAt)
	if t.Revoked && t.RevokedAt.IsZero() {
		revoked = revokedAt(t.CreatedAt)
	}
	return []any{t.ID, t.ClientID, t.Subject, t.FamilyID, t.ConnectionID, list(t.Scopes), t.Format,
		ts(t.CreatedAt), ts(t.ExpiresAt), revoked, t.JKT, list(t.Audience), t.X5T}
}

// GetAccessToken returns a record with Revoked computed: its own revocation,
// its family's (when the family row exists), or its connection's status
// (when the connection row exists) other than active.
func (s *Store) GetAccessToken(ctx context.Context, id string) (store.AccessToken, error) {
	var revoked bool
	t, err := scanAccessToken(s.pool.QueryRow(ctx, `SELECT a.id, a.client_id, a.subject, a.family_id,
			a.connection_id, a.scopes, a.format, a.created_at, a.expires_at, a.revoked_at, a.jkt, a.audience, a.x5t,
			a.revoked_at IS NOT NULL
			OR f.revoked_at IS NOT NULL
			OR COALESCE(c.status, 'active') != 'active'
		FROM access_tokens a
		LEFT JOIN refresh_families f ON a.family_id != '' AND f.id = a.family_id
		LEFT JOIN connections c ON a.connection_id != '' AND c.id = a.connection_id
		WHERE a.id = $1`, id), &revoked)
	t.Revoked = revoked
	return t, err
}

// RevokeAccessToken marks a record revoked, inserting t first when there is
// none, in one upsert. A record revoked before keeps its first time.
func (s *Store) RevokeAccessToken(ctx context.Context, t store.AccessToken, now time.Time) error {
	created := t.CreatedAt
	if created.IsZero() {
		created = now
	}
	_, err := s.exec(ctx, `INSERT INTO access_tokens (`+accessTokenCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at WHERE access_tokens.revoked_at IS NULL`,
		t.ID, t.ClientID, t.Subject, t.FamilyID, t.ConnectionID, list(t.Scopes), t.Format,
		ts(created), ts(t.ExpiresAt), revokedAt(now), t.JKT, list(t.Audience), t.X5T)
	return err
}

// ---- expiry ----

// usedCodeKeep is how long a spent code, and a revoked family, are kept: at
// least the longest access-token lifetime (24 h), so that a replay still
// revokes every token the code issued.
const usedCodeKeep = 24 * time.Hour

// DeleteExpired deletes, for each kind, at most limit rows that are done
// with, each kind in one statement: expired codes (spent ones only 24 h
// after their use), expired auth requests and access-token records,
// families expired, idle past their timeout or revoked for 24 h (with their
// refresh tokens), events delivered a week ago, DPoP proof uses past their
// expiry, expired pushed authorization requests and expired device
// requests. Rows another transaction holds (a code being redeemed, a
// device request being polled) are skipped (SKIP LOCKED), so the janitors
// of several instances neither wait for the hot paths nor for each other.
// An access-token record with no expiry is kept: a revocation record must
// outlive the token it revokes.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	now = now.UTC()
	usedBefore := now.Add(-usedCodeKeep)
	var total int64
	var errs []error
	for _, d := range []struct {
		q    string
		args []any
	}{
		{`DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes
			WHERE expires_at <= $1 AND (used_at IS NULL OR used_at <= $2) LIMIT $3 FOR UPDATE SKIP LOCKED)`,
			[]any{now, usedBefore, limit}},
		{`DELETE FROM auth_requests WHERE id IN (SELECT id FROM auth_requests
			WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, []any{now, limit}},
		{`DELETE FROM access_tokens WHERE id IN (SELECT id FROM access_tokens
			WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, []any{now, limit}},
		// Families past their absolute expiry, idle past their timeout, or
		// revoked more than usedCodeKeep ago (their access tokens carry their
		// own revocation, so nothing comes back to life).
		{`DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families
			WHERE expires_at <= $1
			   OR (idle_timeout != 0
			       AND COALESCE(last_used_at, created_at) + (idle_timeout / 1000) * INTERVAL '1 microsecond' <= $1)
			   OR revoked_at <= $2
			LIMIT $3 FOR UPDATE SKIP LOCKED)`, []any{now, usedBefore, limit}},
		{`DELETE FROM events WHERE seq IN (SELECT seq FROM events
			WHERE delivered_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, []any{now.Add(-eventKeep), limit}},
		{`DELETE FROM dpop_proofs WHERE key IN (SELECT key FROM dpop_proofs
			WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, []any{now, limit}},
		{`DELETE FROM pushed_requests WHERE hash IN (SELECT hash FROM pushed_requests
			WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, []any{now, limit}},
		{`DELETE FROM device_requests WHERE device_hash IN (SELECT device_hash FROM device_requests
			WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, []any{now, limit}},
	} {
		n, err := s.exec(ctx, d.q, d.args...)
		total += n
		errs = append(errs, err)
	}
	return int(total), errors.Join(errs...)
}
