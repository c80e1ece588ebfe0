package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

const clientCols = `id, name, secret_hash, auth_method, grant_types, response_types, redirect_uris,
	scopes, environment, tier, state, refresh_policy, refresh_idle_timeout, refresh_ttl,
	access_token_ttl, token_format, consent_url, resource_server, metadata, created_at, updated_at,
	webhook_url, webhook_secret, consent_ttl, retention_ttl, state_reason, state_changed_at, operating_hours,
	metered, overdraft, previous_secret_hash, previous_secret_expires_at, registration_token_hash,
	access_token_signing_alg, dpop_bound_access_tokens, security, balance, balance_updated_at, first_token_at`

// storeKept is how many of clientCols, the last ones, only the store
// changes (balance, balance_updated_at, first_token_at): UpdateClient
// leaves them as they are.
const storeKept = 3

func clientArgs(c *store.Client) []any {
	return []any{c.ID, c.Name, c.SecretHash, c.AuthMethod, toJSON(c.GrantTypes), toJSON(c.ResponseTypes),
		toJSON(c.RedirectURIs), toJSON(c.Scopes), c.Environment, c.Tier, c.State, c.RefreshPolicy,
		toNS(c.RefreshIdleTimeout), toNS(c.RefreshTTL), toNS(c.AccessTokenTTL), c.TokenFormat,
		c.ConsentURL, c.ResourceServer, toJSON(c.Metadata), toMS(c.CreatedAt), toMS(c.UpdatedAt),
		c.WebhookURL, c.WebhookSecret, toNS(c.ConsentTTL), toNS(c.RetentionTTL), c.StateReason,
		toMS(c.StateChangedAt), scheduleJSON(c.OperatingHours), c.Metered, c.Overdraft,
		c.PreviousSecretHash, toMS(c.PreviousSecretExpiresAt), c.RegistrationTokenHash, c.AccessTokenSigningAlg,
		c.DPoPBoundAccessTokens, toJSON(c.Security), c.Balance, toMS(c.BalanceUpdatedAt), toMS(c.FirstTokenAt)}
}

func scanClient(row scanner) (store.Client, error) {
	var (
		c                                    store.Client
		grantTypes, responseTypes, redirects string
		scopes, metadata, security           string
		hours                                *string
		idle, ttl, accessTTL                 int64
		consentTTL, retentionTTL             int64
		created, updated, stateChanged       int64
		balanceUpdated, firstToken           int64
		previousExpires                      int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.AuthMethod, &grantTypes, &responseTypes, &redirects,
		&scopes, &c.Environment, &c.Tier, &c.State, &c.RefreshPolicy, &idle, &ttl,
		&accessTTL, &c.TokenFormat, &c.ConsentURL, &c.ResourceServer, &metadata, &created, &updated,
		&c.WebhookURL, &c.WebhookSecret, &consentTTL, &retentionTTL, &c.StateReason, &stateChanged, &hours,
		&c.Metered, &c.Overdraft, &c.PreviousSecretHash, &previousExpires, &c.RegistrationTokenHash,
		&c.AccessTokenSigningAlg, &c.DPoPBoundAccessTokens, &security, &c.Balance, &balanceUpdated, &firstToken)
	if err != nil {
		return store.Client{}, mapErr(err)
	}
	c.RefreshIdleTimeout, c.RefreshTTL, c.AccessTokenTTL = fromNS(idle), fromNS(ttl), fromNS(accessTTL)
	c.ConsentTTL, c.RetentionTTL = fromNS(consentTTL), fromNS(retentionTTL)
	c.CreatedAt, c.UpdatedAt, c.StateChangedAt = fromMS(created), fromMS(updated), fromMS(stateChanged)
	c.BalanceUpdatedAt, c.FirstTokenAt = fromMS(balanceUpdated), fromMS(firstToken)
	c.PreviousSecretExpiresAt = fromMS(previousExpires)
	c.OperatingHours, err = scheduleOf(hours)
	err = errors.Join(err, fromJSON(grantTypes, &c.GrantTypes), fromJSON(responseTypes, &c.ResponseTypes),
		fromJSON(redirects, &c.RedirectURIs), fromJSON(scopes, &c.Scopes), fromJSON(metadata, &c.Metadata),
		fromJSON(security, &c.Security))
	return c, err
}

const insertClient = `INSERT INTO clients (` + clientCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
	?, ?, ?, ?, ?, ?)`

const selectClient = `SELECT ` + clientCols + ` FROM clients WHERE id = ?`

// CreateClient stores a new client, with its balance as given; ErrConflict
// if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	defer s.clients.Forget(c.ID)
	_, err := s.writeExec(ctx, insertClient, clientArgs(&c)...)
	return err
}

// GetClient returns a client by ID, from the client cache when it holds
// it (store.ClientCache).
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	return s.clients.Get(id, func() (store.Client, error) {
		return scanClient(s.r.QueryRowContext(ctx, selectClient, id))
	})
}

// ForgetClient drops the client cache's copy of the client.
func (s *Store) ForgetClient(id string) { s.clients.Forget(id) }

// SetClientCacheTTL sets how long GetClient answers a client from memory;
// <= 0 turns the cache off. The default is store.DefaultClientCacheTTL.
func (s *Store) SetClientCacheTTL(ttl time.Duration) { s.clients.SetTTL(ttl) }

// ListClients returns a page of clients in ID order; the cursor is the
// last ID.
func (s *Store) ListClients(ctx context.Context, p store.Page) ([]store.Client, string, error) {
	return store.ReadClientPage(p, func(after string, rows int) ([]store.Client, error) {
		// A range from after, without after itself unless it is the
		// first page's "" (every ID is >= "").
		return queryRows(ctx, s.r, scanClient, `SELECT `+clientCols+` FROM clients
			WHERE id >= ? AND (? OR id != ?) ORDER BY id LIMIT ?`, after, after == "", after, limit(rows))
	})
}

// UpdateClient loads, changes and stores a client in one write transaction.
// The columns only the store changes (storeKept) are not written.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*store.Client) error) (store.Client, error) {
	defer s.clients.Forget(id)
	var c store.Client
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanClient(tx.QueryRowContext(ctx, selectClient, id))
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
			webhook_url = ?, webhook_secret = ?, consent_ttl = ?, retention_ttl = ?, state_reason = ?,
			state_changed_at = ?, operating_hours = ?, metered = ?, overdraft = ?, previous_secret_hash = ?,
			previous_secret_expires_at = ?, registration_token_hash = ?, access_token_signing_alg = ?,
			dpop_bound_access_tokens = ?, security = ? WHERE id = ?`, append(args[1:len(args)-storeKept], id)...)
		if err != nil {
			return err
		}
		// Return what is stored (times in UTC, to the millisecond; the
		// balance and first-token time as they were).
		c, err = scanClient(tx.QueryRowContext(ctx, selectClient, id))
		return err
	})
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// DeleteClient removes the client; the foreign keys' ON DELETE CASCADE
// removes its auth requests, pushed requests, codes, connections, refresh
// families (and so their tokens) and access-token records in the same
// statement.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.clients.Forget(id)
	n, err := s.writeExec(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteUnusedClients deletes, in one statement, at most limit clients
// with metadata[key] = value that never obtained a token and were created
// before createdBefore (a client with no creation time is kept), oldest
// first. The foreign keys cascade as in DeleteClient, and as there no event
// is written.
func (s *Store) DeleteUnusedClients(ctx context.Context, key, value string, createdBefore time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.writeExec(ctx, `DELETE FROM clients WHERE id IN (SELECT id FROM clients
		WHERE first_token_at = 0 AND metered = 0 AND created_at != 0 AND created_at < ?
		AND EXISTS (SELECT 1 FROM json_each(clients.metadata) m WHERE m.key = ? AND m.type = 'text' AND m.value = ?)
		ORDER BY created_at LIMIT ?)`, toMS(createdBefore), key, value, limit)
	return int(n), err
}
