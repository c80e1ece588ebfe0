package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// ---- codes ----

const authCodeCols = `hash, kind, client_id, redirect_uri, scopes, subject, connection_id, code_challenge,
	code_challenge_method, grant_id, created_at, expires_at, used_at`

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var (
		c                      store.AuthCode
		scopes                 string
		created, expires, used int64
	)
	err := row.Scan(&c.Hash, &c.Kind, &c.ClientID, &c.RedirectURI, &scopes, &c.Subject, &c.ConnectionID,
		&c.CodeChallenge, &c.CodeChallengeMethod, &c.GrantID, &created, &expires, &used)
	if err != nil {
		return store.AuthCode{}, mapErr(err)
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMS(created), fromMS(expires), fromMS(used)
	return c, fromJSON(scopes, &c.Scopes)
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
		_, err := exec(ctx, tx, `INSERT INTO auth_codes (`+authCodeCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash, c.Kind, c.ClientID, c.RedirectURI, toJSON(c.Scopes), c.Subject, c.ConnectionID,
			c.CodeChallenge, c.CodeChallengeMethod, c.GrantID, toMS(c.CreatedAt), toMS(c.ExpiresAt), toMS(c.UsedAt))
		return err
	})
}

// RedeemAuthCode loads, checks and spends a code in one BEGIN IMMEDIATE
// transaction. A replay revokes the grant and commits that revocation.
func (s *Store) RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, check func(store.AuthCode, *store.Connection) (store.CodeGrant, error)) (store.AuthCode, error) {
	var (
		code   store.AuthCode
		replay bool
	)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		code, err = scanAuthCode(tx.QueryRowContext(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = ?`, hash))
		if err != nil {
			return err
		}
		if !code.UsedAt.IsZero() {
			replay = true
			return revokeFamily(ctx, tx, code.GrantID, now)
		}
		conn, err := connectionOf(ctx, tx, code.ConnectionID)
		if err != nil {
			return err
		}
		g, err := check(code, conn)
		if err != nil {
			return err
		}
		if _, err := exec(ctx, tx, `UPDATE auth_codes SET used_at = ? WHERE hash = ?`, toMS(now), hash); err != nil {
			return err
		}
		code.UsedAt = stored(now)
		if g.Family != nil {
			if err := insertFamily(ctx, tx, g.Family); err != nil {
				return err
			}
		}
		if g.RefreshToken != nil {
			if err := insertRefreshToken(ctx, tx, g.RefreshToken); err != nil {
				return err
			}
		}
		if g.AccessToken != nil {
			return insertAccessToken(ctx, tx, g.AccessToken)
		}
		return nil
	})
	if err == nil && replay {
		err = store.ErrAlreadyUsed
	}
	return code, err
}

// ---- refresh families and tokens ----

const familyCols = `f.id, f.client_id, f.subject, f.connection_id, f.scopes, f.policy, f.idle_timeout,
	f.created_at, f.expires_at, f.last_used_at, f.revoked_at`

const tokenFamilyQuery = `SELECT t.hash, t.family_id, t.created_at, t.used_at, ` + familyCols + `
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`

func scanTokenFamily(row scanner) (store.RefreshToken, store.RefreshFamily, error) {
	var (
		t                                     store.RefreshToken
		f                                     store.RefreshFamily
		tCreated, tUsed                       int64
		scopes                                string
		idle, created, expires, used, revoked int64
	)
	err := row.Scan(&t.Hash, &t.FamilyID, &tCreated, &tUsed,
		&f.ID, &f.ClientID, &f.Subject, &f.ConnectionID, &scopes, &f.Policy, &idle,
		&created, &expires, &used, &revoked)
	if err != nil {
		return store.RefreshToken{}, store.RefreshFamily{}, mapErr(err)
	}
	t.CreatedAt, t.UsedAt = fromMS(tCreated), fromMS(tUsed)
	f.IdleTimeout = fromNS(idle)
	f.CreatedAt, f.ExpiresAt, f.LastUsedAt, f.RevokedAt = fromMS(created), fromMS(expires), fromMS(used), fromMS(revoked)
	return t, f, fromJSON(scopes, &f.Scopes)
}

func insertFamily(ctx context.Context, tx *sql.Tx, f *store.RefreshFamily) error {
	_, err := exec(ctx, tx, `INSERT INTO refresh_families (id, client_id, subject, connection_id, scopes, policy,
		idle_timeout, created_at, expires_at, last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.ClientID, f.Subject, f.ConnectionID, toJSON(f.Scopes), f.Policy, toNS(f.IdleTimeout),
		toMS(f.CreatedAt), toMS(f.ExpiresAt), toMS(f.LastUsedAt), toMS(f.RevokedAt))
	return err
}

func insertRefreshToken(ctx context.Context, tx *sql.Tx, t *store.RefreshToken) error {
	_, err := exec(ctx, tx, `INSERT INTO refresh_tokens (hash, family_id, created_at, used_at) VALUES (?, ?, ?, ?)`,
		t.Hash, t.FamilyID, toMS(t.CreatedAt), toMS(t.UsedAt))
	return err
}

// Refresh loads a token and its family, checks and rotates it in one BEGIN
// IMMEDIATE transaction.
//
// A token already rotated is a reuse whatever the family's state: the
// family is revoked (if it was not) and the answer is ErrRefreshReused, so
// that every replay of a stolen token is reported as one. A current token of
// a revoked family gives ErrRevoked.
func (s *Store) Refresh(ctx context.Context, hash []byte, now time.Time, check func(store.RefreshFamily, store.RefreshToken, *store.Connection) (store.RefreshGrant, error)) (store.RefreshFamily, error) {
	var (
		fam   store.RefreshFamily
		reuse bool
	)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		tok, f, err := scanTokenFamily(tx.QueryRowContext(ctx, tokenFamilyQuery, hash))
		if err != nil {
			return err
		}
		fam = f
		if !tok.UsedAt.IsZero() {
			reuse = true
			if fam.RevokedAt.IsZero() {
				fam.RevokedAt = stored(now)
			}
			return revokeFamily(ctx, tx, fam.ID, now)
		}
		if !fam.RevokedAt.IsZero() {
			return store.ErrRevoked
		}
		conn, err := connectionOf(ctx, tx, fam.ConnectionID)
		if err != nil {
			return err
		}
		g, err := check(fam, tok, conn)
		if err != nil {
			return err
		}
		if g.NewToken != nil {
			if _, err := exec(ctx, tx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ?`, toMS(now), hash); err != nil {
				return err
			}
			if err := insertRefreshToken(ctx, tx, g.NewToken); err != nil {
				return err
			}
		}
		if g.AccessToken != nil {
			if err := insertAccessToken(ctx, tx, g.AccessToken); err != nil {
				return err
			}
		}
		fam.LastUsedAt = stored(now)
		_, err = exec(ctx, tx, `UPDATE refresh_families SET last_used_at = ? WHERE id = ?`, toMS(now), fam.ID)
		return err
	})
	if err == nil && reuse {
		err = store.ErrRefreshReused
	}
	return fam, err
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
	if _, err := exec(ctx, tx, `UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at = 0`,
		toMS(now), familyID); err != nil {
		return err
	}
	_, err := exec(ctx, tx, `UPDATE access_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at = 0`,
		toMS(now), familyID)
	return err
}

// ---- access tokens ----

const accessTokenCols = `id, client_id, subject, family_id, connection_id, scopes, format, created_at, expires_at`

func insertAccessToken(ctx context.Context, tx *sql.Tx, t *store.AccessToken) error {
	var revoked int64
	if t.Revoked { // recorded as revoked from the start
		revoked = max(toMS(t.CreatedAt), 1)
	}
	_, err := exec(ctx, tx, `INSERT INTO access_tokens (`+accessTokenCols+`, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.ClientID, t.Subject, t.FamilyID, t.ConnectionID, toJSON(t.Scopes), t.Format,
		toMS(t.CreatedAt), toMS(t.ExpiresAt), revoked)
	return err
}

// CreateAccessToken records an issued access token.
func (s *Store) CreateAccessToken(ctx context.Context, t store.AccessToken) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error { return insertAccessToken(ctx, tx, &t) })
}

// GetAccessToken returns a record with Revoked computed: its own revocation,
// its family's (when the family row exists), or its connection's status
// (when the connection row exists) other than active.
func (s *Store) GetAccessToken(ctx context.Context, id string) (store.AccessToken, error) {
	var (
		t                store.AccessToken
		scopes           string
		created, expires int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT a.id, a.client_id, a.subject, a.family_id, a.connection_id,
			a.scopes, a.format, a.created_at, a.expires_at,
			a.revoked_at != 0
			OR COALESCE(f.revoked_at, 0) != 0
			OR COALESCE(c.status, 'active') != 'active'
		FROM access_tokens a
		LEFT JOIN refresh_families f ON a.family_id != '' AND f.id = a.family_id
		LEFT JOIN connections c ON a.connection_id != '' AND c.id = a.connection_id
		WHERE a.id = ?`, id).
		Scan(&t.ID, &t.ClientID, &t.Subject, &t.FamilyID, &t.ConnectionID, &scopes, &t.Format,
			&created, &expires, &t.Revoked)
	if err != nil {
		return store.AccessToken{}, mapErr(err)
	}
	t.CreatedAt, t.ExpiresAt = fromMS(created), fromMS(expires)
	return t, fromJSON(scopes, &t.Scopes)
}

// RevokeAccessToken marks a record revoked, inserting t first when there is
// none, in one upsert. A record revoked before keeps its first time.
func (s *Store) RevokeAccessToken(ctx context.Context, t store.AccessToken, now time.Time) error {
	created := t.CreatedAt
	if created.IsZero() {
		created = now
	}
	_, err := s.writeExec(ctx, `INSERT INTO access_tokens (`+accessTokenCols+`, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at WHERE access_tokens.revoked_at = 0`,
		t.ID, t.ClientID, t.Subject, t.FamilyID, t.ConnectionID, toJSON(t.Scopes), t.Format,
		toMS(created), toMS(t.ExpiresAt), max(toMS(now), 1))
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
// past their timeout or revoked for 24 h (with their refresh tokens), and
// events delivered a week ago. An access-token record with no expiry is
// kept: a revocation record must outlive the token it revokes.
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
	for _, d := range []struct {
		q    string
		args []any
	}{
		{`DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes
			WHERE expires_at <= ? AND (used_at = 0 OR used_at <= ?) LIMIT ?)`, []any{ms, usedBefore, limit}},
		{`DELETE FROM auth_requests WHERE id IN (SELECT id FROM auth_requests WHERE expires_at <= ? LIMIT ?)`, []any{ms, limit}},
		{`DELETE FROM access_tokens WHERE id IN (SELECT id FROM access_tokens WHERE expires_at != 0 AND expires_at <= ? LIMIT ?)`, []any{ms, limit}},
		// Families past their absolute expiry, idle past their timeout, or
		// revoked more than usedCodeKeep ago (their access tokens carry their
		// own revocation, so nothing comes back to life).
		{`DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families
			WHERE (expires_at != 0 AND expires_at <= ?)
			   OR (idle_timeout != 0 AND last_used_at + idle_timeout / 1000000 <= ?)
			   OR (revoked_at != 0 AND revoked_at <= ?) LIMIT ?)`, []any{ms, ms, usedBefore, limit}},
		{`DELETE FROM events WHERE seq IN
			(SELECT seq FROM events WHERE delivered_at != 0 AND delivered_at <= ? LIMIT ?)`, []any{toMS(now.Add(-eventKeep)), limit}},
	} {
		n, err := s.writeExec(ctx, d.q, d.args...)
		total += n
		errs = append(errs, err)
	}
	return int(total), errors.Join(errs...)
}
