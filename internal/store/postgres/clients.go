package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
)

const clientCols = `id, name, secret_hash, auth_method, grant_types, response_types, redirect_uris,
	scopes, environment, tier, state, refresh_policy, refresh_idle_timeout, refresh_ttl,
	access_token_ttl, token_format, consent_url, resource_server, metadata, created_at, updated_at,
	webhook_url, webhook_secret, consent_ttl, retention_ttl`

func clientArgs(c *store.Client) []any {
	return []any{c.ID, c.Name, c.SecretHash, c.AuthMethod, list(c.GrantTypes), list(c.ResponseTypes),
		list(c.RedirectURIs), list(c.Scopes), c.Environment, c.Tier, c.State, c.RefreshPolicy,
		ns(c.RefreshIdleTimeout), ns(c.RefreshTTL), ns(c.AccessTokenTTL), c.TokenFormat,
		c.ConsentURL, c.ResourceServer, toJSON(c.Metadata), ts(c.CreatedAt), ts(c.UpdatedAt),
		c.WebhookURL, c.WebhookSecret, ns(c.ConsentTTL), ns(c.RetentionTTL)}
}

func scanClient(row scanner) (store.Client, error) {
	var (
		c                        store.Client
		metadata                 []byte
		idle, ttl, accessTTL     int64
		consentTTL, retentionTTL int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.AuthMethod, &c.GrantTypes, &c.ResponseTypes, &c.RedirectURIs,
		&c.Scopes, &c.Environment, &c.Tier, &c.State, &c.RefreshPolicy, &idle, &ttl,
		&accessTTL, &c.TokenFormat, &c.ConsentURL, &c.ResourceServer, &metadata, tm(&c.CreatedAt), tm(&c.UpdatedAt),
		&c.WebhookURL, &c.WebhookSecret, &consentTTL, &retentionTTL)
	if err != nil {
		return store.Client{}, mapErr(err)
	}
	c.RefreshIdleTimeout, c.RefreshTTL, c.AccessTokenTTL = time.Duration(idle), time.Duration(ttl), time.Duration(accessTTL)
	c.ConsentTTL, c.RetentionTTL = time.Duration(consentTTL), time.Duration(retentionTTL)
	return c, fromJSON(metadata, &c.Metadata)
}

const insertClient = `INSERT INTO clients (` + clientCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
	$21, $22, $23, $24, $25)`

// CreateClient stores a new client; ErrConflict if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.exec(ctx, insertClient, clientArgs(&c)...)
	return err
}

// GetClient returns a client by ID.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	return scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
}

// ListClients returns every client, oldest first.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// UpdateClient locks the client's row (FOR UPDATE), calls fn and stores the
// result, in one transaction: concurrent updates queue and none is lost.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*store.Client) error) (store.Client, error) {
	var c store.Client
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanClient(tx.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("postgres: UpdateClient: fn changed the ID from %q to %q", id, c.ID)
		}
		// Return what is stored (times in UTC, to the microsecond).
		c, err = scanClient(tx.QueryRow(ctx, `UPDATE clients SET name = $2, secret_hash = $3, auth_method = $4,
			grant_types = $5, response_types = $6, redirect_uris = $7, scopes = $8, environment = $9, tier = $10,
			state = $11, refresh_policy = $12, refresh_idle_timeout = $13, refresh_ttl = $14,
			access_token_ttl = $15, token_format = $16, consent_url = $17, resource_server = $18,
			metadata = $19, created_at = $20, updated_at = $21, webhook_url = $22, webhook_secret = $23,
			consent_ttl = $24, retention_ttl = $25
			WHERE id = $1 RETURNING `+clientCols, clientArgs(&c)...))
		return err
	})
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// DeleteClient removes the client; the foreign keys' ON DELETE CASCADE
// removes its auth requests, codes, connections, refresh families (and so
// their tokens), access-token records and events in the same statement.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	n, err := s.exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
