package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// ---- codes ----

const authCodeCols = `hash, kind, client_id, redirect_uri, scopes, subject, connection_id, code_challenge,
	code_challenge_method, grant_id, created_at, expires_at, used_at, dpop_jkt, resources`

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var (
		c                      store.AuthCode
		scopes, resources      string
		created, expires, used int64
	)
	err := row.Scan(&c.Hash, &c.Kind, &c.ClientID, &c.RedirectURI, &scopes, &c.Subject, &c.ConnectionID,
		&c.CodeChallenge, &c.CodeChallengeMethod, &c.GrantID, &created, &expires, &used, &c.DPoPJKT, &resources)
	if err != nil {
		return store.AuthCode{}, mapErr(err)
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMS(created), fromMS(expires), fromMS(used)
	return c, errors.Join(fromJSON(scopes, &c.Scopes), fromJSON(resources, &c.Resources))
}

func insertAuthCode(ctx context.Context, tx *sql.Tx, c *store.AuthCode) error {
	_, err := exec(ctx, tx, `INSERT INTO auth_codes (`+authCodeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.Kind, c.ClientID, c.RedirectURI, toJSON(c.Scopes), c.Subject, c.ConnectionID,
		c.CodeChallenge, c.CodeChallengeMethod, c.GrantID, toMS(c.CreatedAt), toMS(c.ExpiresAt), toMS(c.UsedAt), c.DPoPJKT,
		toJSON(c.Resources))
	return err
}

// CreateAuthCode stores a code and, when conn is not nil, its connection and
// a connection.created event, in one write transaction.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode, conn *store.Connection) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
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

// Decide runs one decision in a BEGIN IMMEDIATE transaction on the writer
// (store.RunDecide does the rest). The transaction holds SQLite's write
// lock from its start, so what grantTx.Lock reads stays as read until the
// decision's writes commit: no row lock is needed, and no retry.
func (s *Store) Decide(ctx context.Context, key store.GrantKey, decide func(store.Locked) (store.Writes, error)) error {
	var refusal error
	err := s.writeTx(ctx, func(tx *sql.Tx) (err error) {
		refusal, err = store.RunDecide(ctx, grantTx{tx}, key, decide)
		return err
	})
	return cmp.Or(err, refusal)
}

// grantTx is a write transaction as a decision (store.GrantTx) and an
// import (store.Loader) use it.
type grantTx struct{ tx *sql.Tx }

var (
	_ store.GrantTx = grantTx{}
	_ store.Loader  = grantTx{}
)

// Lock loads the code, or the refresh token and its family, that key names,
// then the connection behind it (nil when there is none or its row is gone).
func (g grantTx) Lock(ctx context.Context, key store.GrantKey) (store.Locked, error) {
	var (
		l      store.Locked
		connID string
	)
	if len(key.CodeHash) > 0 {
		code, err := scanAuthCode(g.tx.QueryRowContext(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = ?`, key.CodeHash))
		if err != nil {
			return l, err
		}
		l.Code, connID = &code, code.ConnectionID
	} else {
		tok, fam, err := scanTokenFamily(g.tx.QueryRowContext(ctx, tokenFamilyQuery, key.RefreshHash))
		if err != nil {
			return l, err
		}
		l.RefreshToken, l.Family, connID = &tok, &fam, fam.ConnectionID
	}
	conn, err := connectionOf(ctx, g.tx, connID)
	l.Connection = conn
	return l, err
}

// The store.Writer primitives: one statement each.

func (g grantTx) SpendCode(ctx context.Context, hash []byte, at time.Time) error {
	_, err := exec(ctx, g.tx, `UPDATE auth_codes SET used_at = ? WHERE hash = ?`, toMS(at), hash)
	return err
}

func (g grantTx) RotateRefreshToken(ctx context.Context, hash []byte, at time.Time, retry []byte) error {
	_, err := exec(ctx, g.tx, `UPDATE refresh_tokens SET used_at = ?, retry = ? WHERE hash = ?`, toMS(at), retry, hash)
	return err
}

func (g grantTx) TouchFamily(ctx context.Context, id string, at time.Time) error {
	_, err := exec(ctx, g.tx, `UPDATE refresh_families SET last_used_at = ? WHERE id = ?`, toMS(at), id)
	return err
}

func (g grantTx) RevokeGrant(ctx context.Context, familyID string, at time.Time) error {
	return revokeFamily(ctx, g.tx, familyID, at)
}

// UseProof inserts the proof's use; its key stored already is a replay.
func (g grantTx) UseProof(ctx context.Context, key []byte, until time.Time) error {
	_, err := exec(ctx, g.tx, `INSERT INTO dpop_proofs (key, expires_at) VALUES (?, ?)`, key, toMS(until))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %w", store.ErrReplayed, err)
	}
	return err
}

// Put is in bulk.go: Import's Loader is the same type.

// ---- refresh families and tokens ----

const familyCols = `f.id, f.client_id, f.subject, f.connection_id, f.scopes, f.policy, f.idle_timeout,
	f.created_at, f.expires_at, f.last_used_at, f.revoked_at, f.jkt, f.resources, f.x5t`

// tokenCols are the columns of refresh_tokens as scanRefreshToken reads
// them; retry is NULL for none (a nil Retry).
const tokenCols = `t.hash, t.family_id, t.created_at, t.used_at, t.retry`

const tokenFamilyQuery = `SELECT ` + tokenCols + `, ` + familyCols + `
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`

// familyRow holds the scan destinations of familyCols until family
// decodes them.
type familyRow struct {
	f                                     store.RefreshFamily
	scopes, resources                     string
	idle, created, expires, used, revoked int64
}

func (r *familyRow) dest() []any {
	return []any{&r.f.ID, &r.f.ClientID, &r.f.Subject, &r.f.ConnectionID, &r.scopes, &r.f.Policy, &r.idle,
		&r.created, &r.expires, &r.used, &r.revoked, &r.f.JKT, &r.resources, &r.f.X5T}
}

func (r *familyRow) family() (store.RefreshFamily, error) {
	f := r.f
	f.IdleTimeout = fromNS(r.idle)
	f.CreatedAt, f.ExpiresAt, f.LastUsedAt, f.RevokedAt = fromMS(r.created), fromMS(r.expires), fromMS(r.used), fromMS(r.revoked)
	return f, errors.Join(fromJSON(r.scopes, &f.Scopes), fromJSON(r.resources, &f.Resources))
}

func scanFamily(row scanner) (store.RefreshFamily, error) {
	var r familyRow
	if err := row.Scan(r.dest()...); err != nil {
		return store.RefreshFamily{}, mapErr(err)
	}
	return r.family()
}

func scanRefreshToken(row scanner, more ...any) (store.RefreshToken, error) {
	var (
		t             store.RefreshToken
		created, used int64
	)
	if err := row.Scan(append([]any{&t.Hash, &t.FamilyID, &created, &used, &t.Retry}, more...)...); err != nil {
		return store.RefreshToken{}, mapErr(err)
	}
	t.CreatedAt, t.UsedAt = fromMS(created), fromMS(used)
	return t, nil
}

func scanTokenFamily(row scanner) (store.RefreshToken, store.RefreshFamily, error) {
	var r familyRow
	t, err := scanRefreshToken(row, r.dest()...)
	if err != nil {
		return store.RefreshToken{}, store.RefreshFamily{}, err
	}
	f, err := r.family()
	return t, f, err
}

func insertFamily(ctx context.Context, tx *sql.Tx, f *store.RefreshFamily) error {
	_, err := exec(ctx, tx, `INSERT INTO refresh_families (id, client_id, subject, connection_id, scopes, policy,
		idle_timeout, created_at, expires_at, last_used_at, revoked_at, jkt, resources, x5t)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.ClientID, f.Subject, f.ConnectionID, toJSON(f.Scopes), f.Policy, toNS(f.IdleTimeout),
		toMS(f.CreatedAt), toMS(f.ExpiresAt), toMS(f.LastUsedAt), toMS(f.RevokedAt), f.JKT, toJSON(f.Resources), f.X5T)
	return err
}

func insertRefreshToken(ctx context.Context, tx *sql.Tx, t *store.RefreshToken) error {
	_, err := exec(ctx, tx, `INSERT INTO refresh_tokens (hash, family_id, created_at, used_at, retry) VALUES (?, ?, ?, ?, ?)`,
		t.Hash, t.FamilyID, toMS(t.CreatedAt), toMS(t.UsedAt), t.Retry)
	return err
}

// GetRefreshToken returns a token and its family.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, store.RefreshFamily, error) {
	return scanTokenFamily(s.r.QueryRowContext(ctx, tokenFamilyQuery, hash))
}

// RevokeFamily revokes a family and the access tokens of its grant.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error { return revokeFamily(ctx, tx, familyID, now) })
}

// revokeFamily marks the family (if there is a row) and every access token
// with that FamilyID revoked, keeping the first revocation time. The empty
// ID is no grant (client-credentials tokens have FamilyID ""), so it revokes
// nothing.
func revokeFamily(ctx context.Context, tx *sql.Tx, familyID string, now time.Time) error {
	if familyID == "" {
		return nil
	}
	ms := max(toMS(now), 1) // never 0, which reads as "not revoked"
	if _, err := exec(ctx, tx, `UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at = 0`,
		ms, familyID); err != nil {
		return err
	}
	_, err := exec(ctx, tx, `UPDATE access_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at = 0`,
		ms, familyID)
	return err
}

// ---- access tokens ----

const accessTokenCols = `id, client_id, subject, family_id, connection_id, scopes, format, created_at, expires_at,
	revoked_at, jkt, audience, x5t`

// scanAccessToken scans accessTokenCols, then more.
func scanAccessToken(row scanner, more ...any) (store.AccessToken, error) {
	var (
		t                         store.AccessToken
		scopes, audience          string
		created, expires, revoked int64
	)
	err := row.Scan(append([]any{&t.ID, &t.ClientID, &t.Subject, &t.FamilyID, &t.ConnectionID, &scopes, &t.Format,
		&created, &expires, &revoked, &t.JKT, &audience, &t.X5T}, more...)...)
	if err != nil {
		return store.AccessToken{}, mapErr(err)
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMS(created), fromMS(expires), fromMS(revoked)
	return t, errors.Join(fromJSON(scopes, &t.Scopes), fromJSON(audience, &t.Audience))
}

// insertAccessToken stores t with its RevokedAt; a t marked Revoked with no
// RevokedAt is recorded as revoked from its creation.
func insertAccessToken(ctx context.Context, tx *sql.Tx, t *store.AccessToken) error {
	revoked := toMS(t.RevokedAt)
	if t.Revoked && revoked == 0 {
		revoked = max(toMS(t.CreatedAt), 1)
	}
	_, err := exec(ctx, tx, `INSERT INTO access_tokens (`+accessTokenCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.ClientID, t.Subject, t.FamilyID, t.ConnectionID, toJSON(t.Scopes), t.Format,
		toMS(t.CreatedAt), toMS(t.ExpiresAt), revoked, t.JKT, toJSON(t.Audience), t.X5T)
	return err
}

// GetAccessToken returns a record with Revoked computed: its own revocation,
// its family's (when the family row exists), or its connection's status
// (when the connection row exists) other than active.
func (s *Store) GetAccessToken(ctx context.Context, id string) (store.AccessToken, error) {
	var revoked bool
	t, err := scanAccessToken(s.r.QueryRowContext(ctx, `SELECT a.id, a.client_id, a.subject, a.family_id,
			a.connection_id, a.scopes, a.format, a.created_at, a.expires_at, a.revoked_at, a.jkt, a.audience, a.x5t,
			a.revoked_at != 0
			OR COALESCE(f.revoked_at, 0) != 0
			OR COALESCE(c.status, 'active') != 'active'
		FROM access_tokens a
		LEFT JOIN refresh_families f ON a.family_id != '' AND f.id = a.family_id
		LEFT JOIN connections c ON a.connection_id != '' AND c.id = a.connection_id
		WHERE a.id = ?`, id), &revoked)
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
	_, err := s.writeExec(ctx, `INSERT INTO access_tokens (`+accessTokenCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at WHERE access_tokens.revoked_at = 0`,
		t.ID, t.ClientID, t.Subject, t.FamilyID, t.ConnectionID, toJSON(t.Scopes), t.Format,
		toMS(created), toMS(t.ExpiresAt), max(toMS(now), 1), t.JKT, toJSON(t.Audience), t.X5T)
	return err
}

// ---- expiry ----

// usedCodeKeep is how long a spent code, and a revoked family, are kept: at
// least the longest access-token lifetime (24 h), so that a replay still
// revokes every token the code issued.
const usedCodeKeep = 24 * time.Hour

// DeleteExpired deletes, for each kind, at most limit rows that are done
// with, each kind in its own short write transaction so the writer is never
// held for long: expired codes (spent ones only 24 h after their use),
// expired auth requests and access-token records, families expired, idle
// past their timeout or revoked for 24 h (with their refresh tokens),
// events delivered a week ago, DPoP proof uses past their expiry, expired
// pushed authorization requests and expired device requests. An
// access-token record with no expiry is kept: a revocation record must
// outlive the token it revokes.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ms := toMS(now)
	// A spent code is kept for usedCodeKeep after its use, so that a replay
	// within that window still finds it and revokes what it issued.
	usedBefore := toMS(now.Add(-usedCodeKeep))
	var total int64
	var errs []error
	left := map[string]int{} // per kind: what limit leaves
	for _, d := range expiredDeletes(ms, usedBefore, toMS(now.Add(-eventKeep))) {
		n, ok := left[d.kind]
		if !ok {
			n = limit
		}
		if n == 0 {
			continue
		}
		deleted, err := s.writeExec(ctx, d.q, append(d.args, n)...)
		left[d.kind] = n - int(deleted)
		total += deleted
		errs = append(errs, err)
	}
	return int(total), errors.Join(errs...)
}

// expiredDelete is one statement of DeleteExpired: the rows of a kind it
// deletes, its arguments but the last, the limit.
type expiredDelete struct {
	kind string
	q    string
	args []any
}

// expiredDeletes are DeleteExpired's statements, each over one index
// (TestExpiredDeletesUseIndexes).
func expiredDeletes(ms, usedBefore, eventsBefore int64) []expiredDelete {
	return []expiredDelete{
		{"codes", `DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes
			WHERE expires_at <= ? AND (used_at = 0 OR used_at <= ?) LIMIT ?)`, []any{ms, usedBefore}},
		{"requests", `DELETE FROM auth_requests WHERE id IN (SELECT id FROM auth_requests WHERE expires_at <= ? LIMIT ?)`, []any{ms}},
		{"tokens", `DELETE FROM access_tokens WHERE id IN (SELECT id FROM access_tokens WHERE expires_at != 0 AND expires_at <= ? LIMIT ?)`, []any{ms}},
		// Families past their absolute expiry, idle past their timeout, or
		// revoked more than usedCodeKeep ago (their access tokens carry their
		// own revocation, so nothing comes back to life): one statement per
		// reason, each served by its partial index (an OR of the three
		// scanned the table while holding the writer).
		{"families", `DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families
			WHERE expires_at != 0 AND expires_at <= ? LIMIT ?)`, []any{ms}},
		{"families", `DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families
			WHERE idle_timeout != 0 AND last_used_at + idle_timeout / 1000000 <= ? LIMIT ?)`, []any{ms}},
		{"families", `DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families
			WHERE revoked_at != 0 AND revoked_at <= ? LIMIT ?)`, []any{usedBefore}},
		{"events", `DELETE FROM events WHERE seq IN
			(SELECT seq FROM events WHERE delivered_at != 0 AND delivered_at <= ? LIMIT ?)`, []any{eventsBefore}},
		{"proofs", `DELETE FROM dpop_proofs WHERE key IN (SELECT key FROM dpop_proofs WHERE expires_at <= ? LIMIT ?)`, []any{ms}},
		{"pushed", `DELETE FROM pushed_requests WHERE hash IN
			(SELECT hash FROM pushed_requests WHERE expires_at <= ? LIMIT ?)`, []any{ms}},
		{"device", `DELETE FROM device_requests WHERE device_hash IN
			(SELECT device_hash FROM device_requests WHERE expires_at <= ? LIMIT ?)`, []any{ms}},
	}
}
