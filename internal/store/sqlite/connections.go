package sqlite

import (
	"context"
	"database/sql"
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

// ListConnections lists a client's connections (all when clientID is ""),
// newest first.
func (s *Store) ListConnections(ctx context.Context, clientID string) ([]store.Connection, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+connectionCols+` FROM connections
		WHERE ? = '' OR client_id = ? ORDER BY created_at DESC, id DESC`, clientID, clientID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// RevokeConnection marks a connection revoked and revokes its families and
// access tokens, in one write transaction. A connection revoked before is
// returned as it is.
func (s *Store) RevokeConnection(ctx context.Context, id string, now time.Time) (store.Connection, error) {
	var c store.Connection
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanConnection(tx.QueryRowContext(ctx, `SELECT `+connectionCols+` FROM connections WHERE id = ?`, id))
		if err != nil || c.Status == store.ConnectionRevoked {
			return err
		}
		c.Status, c.RevokedAt = store.ConnectionRevoked, stored(now)
		ms := toMS(now)
		for _, q := range []string{
			`UPDATE connections SET status = 'revoked', revoked_at = ? WHERE id = ?`,
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
