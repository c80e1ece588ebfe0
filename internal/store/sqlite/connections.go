package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/grantd/grantd/internal/store"
)

const connectionCols = `id, client_id, customer_id, customer_name, provider_id, subject, products, entity_ids,
	connection_type, environment, status, created_at, consent_expires_at, data_retention_until, revoked_at`

func scanConnection(row scanner) (store.Connection, error) {
	var (
		c                                           store.Connection
		products, entities                          string
		created, consentExpires, retention, revoked int64
	)
	err := row.Scan(&c.ID, &c.ClientID, &c.CustomerID, &c.CustomerName, &c.ProviderID, &c.Subject, &products,
		&entities, &c.ConnectionType, &c.Environment, &c.Status, &created, &consentExpires, &retention, &revoked)
	if err != nil {
		return store.Connection{}, mapErr(err)
	}
	c.CreatedAt, c.ConsentExpiresAt = fromMS(created), fromMS(consentExpires)
	c.DataRetentionUntil, c.RevokedAt = fromMS(retention), fromMS(revoked)
	if err := fromJSON(products, &c.Products); err != nil {
		return c, err
	}
	return c, fromJSON(entities, &c.EntityIDs)
}

func insertConnection(ctx context.Context, tx *sql.Tx, c *store.Connection) error {
	_, err := exec(ctx, tx, `INSERT INTO connections (`+connectionCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.ClientID, c.CustomerID, c.CustomerName, c.ProviderID, c.Subject, toJSON(c.Products),
		toJSON(c.EntityIDs), c.ConnectionType, c.Environment, c.Status, toMS(c.CreatedAt),
		toMS(c.ConsentExpiresAt), toMS(c.DataRetentionUntil), toMS(c.RevokedAt))
	return err
}

// GetConnection returns a connection by ID.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	return scanConnection(s.r.QueryRowContext(ctx, `SELECT `+connectionCols+` FROM connections WHERE id = ?`, id))
}

// ListConnections lists a page of a client's connections (all clients'
// when clientID is ""), newest first (by creation time, then ID); the
// cursor is the last one's time and ID (store.TimeIDCursor).
func (s *Store) ListConnections(ctx context.Context, clientID string, p store.Page) ([]store.Connection, string, error) {
	return store.ReadConnectionPage(p, func(first bool, before time.Time, id string, rows int) ([]store.Connection, error) {
		ms := toMS(before) // the zero time is 0, the oldest
		if first {
			ms = math.MaxInt64 // before every time
		}
		return queryConnections(ctx, s.r, `SELECT `+connectionCols+` FROM connections
			WHERE (? = '' OR client_id = ?) AND (created_at, id) < (?, ?)
			ORDER BY created_at DESC, id DESC LIMIT ?`, clientID, clientID, ms, id, limit(rows))
	})
}

// RevokeConnection marks a connection revoked and revokes its families and
// access tokens, with a connection.revoked event, in one write transaction.
// A connection revoked before is returned as it is.
func (s *Store) RevokeConnection(ctx context.Context, id string, now time.Time) (store.Connection, error) {
	var c store.Connection
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanConnection(tx.QueryRowContext(ctx, `SELECT `+connectionCols+` FROM connections WHERE id = ?`, id))
		if err != nil || c.Status == store.ConnectionRevoked {
			return err
		}
		c.Status, c.RevokedAt = store.ConnectionRevoked, stored(now)
		// Revocation ends the consent: the data-retention deadline moves to
		// the same period after now, if that is earlier.
		if !c.ConsentExpiresAt.IsZero() && !c.DataRetentionUntil.IsZero() && !c.DataRetentionUntil.Before(c.ConsentExpiresAt) {
			if until := stored(now.Add(c.DataRetentionUntil.Sub(c.ConsentExpiresAt))); until.Before(c.DataRetentionUntil) {
				c.DataRetentionUntil = until
			}
		}
		if err := insertEvent(ctx, tx, store.NewEvent(store.EventConnectionRevoked, c, now)); err != nil {
			return err
		}
		ms := toMS(now)
		if _, err := exec(ctx, tx, `UPDATE connections SET status = 'revoked', revoked_at = ?, data_retention_until = ?
			WHERE id = ?`, ms, toMS(c.DataRetentionUntil), id); err != nil {
			return err
		}
		for _, q := range []string{
			`UPDATE refresh_families SET revoked_at = ? WHERE connection_id = ? AND revoked_at = 0`,
			`UPDATE access_tokens SET revoked_at = ? WHERE connection_id = ? AND revoked_at = 0`,
		} {
			if _, err := exec(ctx, tx, q, ms, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Connection{}, err
	}
	return c, nil
}

// connectionOf loads a connection inside a transaction; nil when id is "" or
// the row is gone.
func connectionOf(ctx context.Context, tx *sql.Tx, id string) (*store.Connection, error) {
	if id == "" {
		return nil, nil
	}
	c, err := scanConnection(tx.QueryRowContext(ctx, `SELECT `+connectionCols+` FROM connections WHERE id = ?`, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// ExpireConsents marks, in one write transaction, at most limit active
// connections whose consent ended at or before now as expired, each with a
// connection.consent_expired event. Their tokens become inactive through the
// connection's status (GetAccessToken), and refresh fails in the core.
func (s *Store) ExpireConsents(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		conns, err := queryConnections(ctx, tx, `SELECT `+connectionCols+` FROM connections
			WHERE status = 'active' AND consent_expires_at != 0 AND consent_expires_at <= ?
			ORDER BY consent_expires_at LIMIT ?`, toMS(now), limit)
		if err != nil {
			return err
		}
		for _, c := range conns {
			if _, err := exec(ctx, tx, `UPDATE connections SET status = 'expired' WHERE id = ?`, c.ID); err != nil {
				return err
			}
			c.Status = store.ConnectionExpired
			if err := insertEvent(ctx, tx, store.NewEvent(store.EventConnectionConsentExpired, c, now)); err != nil {
				return err
			}
		}
		n = len(conns)
		return nil
	})
	return n, err
}

// PurgeConnections deletes, in one write transaction, at most limit
// connections whose data retention ended at or before now, with their codes,
// families (and so refresh tokens) and access-token records, each with a
// connection.retention_reached event.
func (s *Store) PurgeConnections(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		conns, err := queryConnections(ctx, tx, `SELECT `+connectionCols+` FROM connections
			WHERE data_retention_until != 0 AND data_retention_until <= ?
			ORDER BY data_retention_until LIMIT ?`, toMS(now), limit)
		if err != nil {
			return err
		}
		for _, c := range conns {
			for _, q := range []string{
				`DELETE FROM auth_codes WHERE connection_id = ?`,
				`DELETE FROM access_tokens WHERE connection_id = ?`,
				`DELETE FROM refresh_families WHERE connection_id = ?`,
				`DELETE FROM connections WHERE id = ?`,
			} {
				if _, err := exec(ctx, tx, q, c.ID); err != nil {
					return err
				}
			}
			if err := insertEvent(ctx, tx, store.NewEvent(store.EventConnectionRetentionReached, c, now)); err != nil {
				return err
			}
		}
		n = len(conns)
		return nil
	})
	return n, err
}

func queryConnections(ctx context.Context, db execer, q string, args ...any) ([]store.Connection, error) {
	return queryRows(ctx, db, scanConnection, q, args...)
}
