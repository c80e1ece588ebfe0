package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/store"
)

const connectionCols = `id, client_id, customer_id, customer_name, provider_id, subject, products, entity_ids,
	connection_type, environment, status, created_at, consent_expires_at, data_retention_until, revoked_at`

func scanConnection(row scanner) (store.Connection, error) {
	var c store.Connection
	err := row.Scan(&c.ID, &c.ClientID, &c.CustomerID, &c.CustomerName, &c.ProviderID, &c.Subject, &c.Products,
		&c.EntityIDs, &c.ConnectionType, &c.Environment, &c.Status, tm(&c.CreatedAt), tm(&c.ConsentExpiresAt),
		tm(&c.DataRetentionUntil), tm(&c.RevokedAt))
	if err != nil {
		return store.Connection{}, mapErr(err)
	}
	return c, nil
}

func insertConnection(ctx context.Context, tx querier, c *store.Connection) error {
	_, err := exec(ctx, tx, `INSERT INTO connections (`+connectionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.ID, c.ClientID, c.CustomerID, c.CustomerName, c.ProviderID, c.Subject, list(c.Products),
		list(c.EntityIDs), c.ConnectionType, c.Environment, c.Status, ts(c.CreatedAt),
		ts(c.ConsentExpiresAt), ts(c.DataRetentionUntil), ts(c.RevokedAt))
	return err
}

// GetConnection returns a connection by ID.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	return scanConnection(s.pool.QueryRow(ctx, `SELECT `+connectionCols+` FROM connections WHERE id = $1`, id))
}

// ListConnections lists a page of a client's connections (all clients'
// when clientID is ""), newest first (by creation time, then ID); the
// cursor is the last one's time and ID (store.TimeIDCursor). A connection
// with no creation time (NULL) sorts as the oldest, as SQLite's 0 does.
func (s *Store) ListConnections(ctx context.Context, clientID string, p store.Page) ([]store.Connection, string, error) {
	return store.ReadConnectionPage(p, func(first bool, before time.Time, id string, rows int) ([]store.Connection, error) {
		bound := pgtype.Timestamptz{Time: before, Valid: true}
		switch {
		case first: // before every time
			bound = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
		case before.IsZero(): // NULL sorts as -infinity
			bound = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
		}
		return queryConnections(ctx, s.pool, `SELECT `+connectionCols+` FROM connections
			WHERE ($1 = '' OR client_id = $1) AND (COALESCE(created_at, '-infinity'), id) < ($2, $3::text)
			ORDER BY COALESCE(created_at, '-infinity') DESC, id DESC LIMIT $4`, clientID, bound, id, limit(rows))
	})
}

// queueLockConnection queues in b the statement that loads, into
// locked.Connection, the connection whose ID the SQL expression idExpr
// yields, and locks it FOR SHARE: a revocation, expiry or purge of it waits
// for the transaction, and the transaction waits for one already running.
// Connection stays nil when the expression yields "" or no row. It is the
// first lock a code redemption or a refresh takes (see the package doc for
// the order).
func queueLockConnection(b *pgx.Batch, locked *store.Locked, idExpr string, args ...any) {
	b.Queue(`SELECT `+connectionCols+` FROM connections WHERE id = `+idExpr+` AND id != '' FOR SHARE`, args...).
		QueryRow(func(row pgx.Row) error {
			c, err := scanConnection(row)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return nil
			case err != nil:
				return err
			}
			locked.Connection = &c
			return nil
		})
}

// RevokeConnection locks the connection FOR UPDATE, marks it revoked and
// revokes its families and access tokens, with a connection.revoked event,
// in one transaction. A connection revoked before is returned as it is (a
// second caller waits for the first and then finds it revoked: one event).
func (s *Store) RevokeConnection(ctx context.Context, id string, now time.Time) (store.Connection, error) {
	var c store.Connection
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanConnection(tx.QueryRow(ctx, `SELECT `+connectionCols+` FROM connections WHERE id = $1 FOR UPDATE`, id))
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
		at := revokedAt(now)
		if _, err := exec(ctx, tx, `UPDATE connections SET status = 'revoked', revoked_at = $2, data_retention_until = $3
			WHERE id = $1`, id, at, ts(c.DataRetentionUntil)); err != nil {
			return err
		}
		for _, q := range []string{
			`UPDATE refresh_families SET revoked_at = $2 WHERE connection_id = $1 AND revoked_at IS NULL`,
			`UPDATE access_tokens SET revoked_at = $2 WHERE connection_id = $1 AND revoked_at IS NULL`,
		} {
			if _, err := exec(ctx, tx, q, id, at); err != nil {
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

// ExpireConsents marks, in one transaction, at most limit active
// connections whose consent ended at or before now as expired, each with a
// connection.consent_expired event. It locks them FOR UPDATE SKIP LOCKED:
// the janitors of several instances take disjoint batches, and a connection
// that a redemption or refresh holds is left for the next run. Their tokens
// become inactive through the connection's status (GetAccessToken), and
// refresh fails in the core.
func (s *Store) ExpireConsents(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		n = 0
		conns, err := queryConnections(ctx, tx, `SELECT `+connectionCols+` FROM connections
			WHERE status = 'active' AND consent_expires_at <= $1
			ORDER BY consent_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now.UTC(), limit)
		if err != nil {
			return err
		}
		for _, c := range conns {
			if _, err := exec(ctx, tx, `UPDATE connections SET status = 'expired' WHERE id = $1`, c.ID); err != nil {
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

// PurgeConnections deletes, in one transaction, at most limit connections
// whose data retention ended at or before now, with their codes, families
// (and so refresh tokens) and access-token records, each with a
// connection.retention_reached event. Like ExpireConsents, it locks the
// connections FOR UPDATE SKIP LOCKED.
func (s *Store) PurgeConnections(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		n = 0
		conns, err := queryConnections(ctx, tx, `SELECT `+connectionCols+` FROM connections
			WHERE data_retention_until <= $1
			ORDER BY data_retention_until LIMIT $2 FOR UPDATE SKIP LOCKED`, now.UTC(), limit)
		if err != nil {
			return err
		}
		for _, c := range conns {
			for _, q := range []string{
				`DELETE FROM auth_codes WHERE connection_id = $1`,
				`DELETE FROM access_tokens WHERE connection_id = $1`,
				`DELETE FROM refresh_families WHERE connection_id = $1`,
				`DELETE FROM connections WHERE id = $1`,
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

func queryConnections(ctx context.Context, q querier, query string, args ...any) ([]store.Connection, error) {
	return queryRows(ctx, q, scanConnection, query, args...)
}
