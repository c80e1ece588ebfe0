package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/grantd/grantd/internal/store"
)

const clientCols = `id, name, secret_hash, auth_method, grant_types, response_types, redirect_uris,
	scopes, environment, tier, state, refresh_policy, refresh_idle_timeout, refresh_ttl,
	access_token_ttl, token_format, consent_url, resource_server, metadata, created_at, updated_at,
	webhook_url, webhook_secret, consent_ttl, retention_ttl`

func clientArgs(c *store.Client) []any {
	return []any{c.ID, c.Name, c.SecretHash, c.AuthMethod, toJSON(c.GrantTypes), toJSON(c.ResponseTypes),
		toJSON(c.RedirectURIs), toJSON(c.Scopes), c.Environment, c.Tier, c.State, c.RefreshPolicy,
		toNS(c.RefreshIdleTimeout), toNS(c.RefreshTTL), toNS(c.AccessTokenTTL), c.TokenFormat,
		c.ConsentURL, c.ResourceServer, toJSON(c.Metadata), toMS(c.CreatedAt), toMS(c.UpdatedAt),
		c.WebhookURL, c.WebhookSecret, toNS(c.ConsentTTL), toNS(c.RetentionTTL)}
}

func scanClient(row scanner) (store.Client, error) {
	var (
		c                                    store.Client
		grantTypes, responseTypes, redirects string
		scopes, metadata                     string
		idle, ttl, accessTTL                 int64
		consentTTL, retentionTTL             int64
		created, updated                     int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.AuthMethod, &grantTypes, &responseTypes, &redirects,
		&scopes, &c.Environment, &c.Tier, &c.State, &c.RefreshPolicy, &idle, &ttl,
		&accessTTL, &c.TokenFormat, &c.ConsentURL, &c.ResourceServer, &metadata, &created, &updated,
		&c.WebhookURL, &c.WebhookSecret, &consentTTL, &retentionTTL)
	if err != nil {
		return store.Client{}, mapErr(err)
	}
	c.RefreshIdleTimeout, c.RefreshTTL, c.AccessTokenTTL = fromNS(idle), fromNS(ttl), fromNS(accessTTL)
	c.ConsentTTL, c.RetentionTTL = fromNS(consentTTL), fromNS(retentionTTL)
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	err = errors.Join(fromJSON(grantTypes, &c.GrantTypes), fromJSON(responseTypes, &c.ResponseTypes),
		fromJSON(redirects, &c.RedirectURIs), fromJSON(scopes, &c.Scopes), fromJSON(metadata, &c.Metadata))
	return c, err
}

const insertClient = `INSERT INTO clients (` + clientCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// CreateClient stores a new client; ErrConflict if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.writeExec(ctx, insertClient, clientArgs(&c)...)
	return err
}

// GetClient returns a client by ID.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	return scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
}

// ListClients returns every client, oldest first.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
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

// UpdateClient loads, changes and stores a client in one write transaction.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*store.Client) error) (store.Client, error) {
	var c store.Client
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanClient(tx.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("sqlite: UpdateClient: fn changed the ID from %q to %q", id, c.ID)
		}
		args := clientArgs(&c)
		_, err = exec(ctx, tx, `UPDATE clients SET name = ?, secret_hash = ?, auth_method = ?, grant_types = ?,
			response_types = ?, redirect_uris = ?, scopes = ?, environment = ?, tier = ?, state = ?,
			refresh_policy = ?, refresh_idle_timeout = ?, refresh_ttl = ?, access_token_ttl = ?,
			token_format = ?, consent_url = ?, resource_server = ?, metadata = ?, created_at = ?, updated_at = ?,
			webhook_url = ?, webhook_secret = ?, consent_ttl = ?, retention_ttl = ?
			WHERE id = ?`, append(args[1:], id)...)
		if err != nil {
			return err
		}
		// Return what is stored (times in UTC, to the millisecond).
		c, err = scanClient(tx.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// DeleteClient removes the client; the foreign keys' ON DELETE CASCADE
// removes its auth requests, codes, connections, refresh families (and so
// their tokens) and access-token records in the same statement.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	n, err := s.writeExec(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
