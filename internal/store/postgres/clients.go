package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	return []any{c.ID, c.Name, c.SecretHash, c.AuthMethod, list(c.GrantTypes), list(c.ResponseTypes),
		list(c.RedirectURIs), list(c.Scopes), c.Environment, c.Tier, c.State, c.RefreshPolicy,
		ns(c.RefreshIdleTimeout), ns(c.RefreshTTL), ns(c.AccessTokenTTL), c.TokenFormat,
		c.ConsentURL, c.ResourceServer, toJSON(c.Metadata), ts(c.CreatedAt), ts(c.UpdatedAt),
		c.WebhookURL, c.WebhookSecret, ns(c.ConsentTTL), ns(c.RetentionTTL), c.StateReason,
		ts(c.StateChangedAt), scheduleJSON(c.OperatingHours), c.Metered, c.Overdraft,
		c.PreviousSecretHash, ts(c.PreviousSecretExpiresAt), c.RegistrationTokenHash, c.AccessTokenSigningAlg,
		c.DPoPBoundAccessTokens, toJSON(c.Security), c.Balance, ts(c.BalanceUpdatedAt), ts(c.FirstTokenAt)}
}

func scanClient(row scanner) (store.Client, error) {
	var (
		c                        store.Client
		metadata, hours, sec     []byte
		idle, ttl, accessTTL     int64
		consentTTL, retentionTTL int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.AuthMethod, &c.GrantTypes, &c.ResponseTypes, &c.RedirectURIs,
		&c.Scopes, &c.Environment, &c.Tier, &c.State, &c.RefreshPolicy, &idle, &ttl,
		&accessTTL, &c.TokenFormat, &c.ConsentURL, &c.ResourceServer, &metadata, tm(&c.CreatedAt), tm(&c.UpdatedAt),
		&c.WebhookURL, &c.WebhookSecret, &consentTTL, &retentionTTL, &c.StateReason, tm(&c.StateChangedAt), &hours,
		&c.Metered, &c.Overdraft, &c.PreviousSecretHash, tm(&c.PreviousSecretExpiresAt), &c.RegistrationTokenHash,
		&c.AccessTokenSigningAlg, &c.DPoPBoundAccessTokens, &sec, &c.Balance, tm(&c.BalanceUpdatedAt), tm(&c.FirstTokenAt))
	if err != nil {
		return store.Client{}, mapErr(err)
	}
	c.RefreshIdleTimeout, c.RefreshTTL, c.AccessTokenTTL = time.Duration(idle), time.Duration(ttl), time.Duration(accessTTL)
	c.ConsentTTL, c.RetentionTTL = time.Duration(consentTTL), time.Duration(retentionTTL)
	c.OperatingHours, err = scheduleOf(hours)
	return c, errors.Join(err, fromJSON(metadata, &c.Metadata), fromJSON(sec, &c.Security))
}

const insertClient = `INSERT INTO clients (` + clientCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
	$21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39)`

const selectClient = `SELECT ` + clientCols + ` FROM clients WHERE id = $1`

// CreateClient stores a new client, with its balance as given; ErrConflict
// if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	defer s.clients.Forget(c.ID)
	_, err := s.exec(ctx, insertClient, clientArgs(&c)...)
	return err
}

// GetClient returns a client by ID, from the client cache when it holds
// it (store.ClientCache); another instance's change of a client is
// forgotten there when its notification arrives (clientchanges.go).
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	if s.clients.TTL() > 0 {
		s.listenForClientChanges()
	}
	return s.clients.Get(id, func() (store.Client, error) {
		return scanClient(s.pool.QueryRow(ctx, selectClient, id))
	})
}

// ForgetClient drops the client cache's copy of the client.
func (s *Store) ForgetClient(id string) { s.clients.Forget(id) }

// SetClientCacheTTL sets how long GetClient answers a client from memory;
// <= 0 turns the cache off. The default is store.DefaultClientCacheTTL.
func (s *Store) SetClientCacheTTL(ttl time.Duration) { s.clients.SetTTL(ttl) }

// ListClients returns a page of clients in ID order (the column's
// collation); the cursor is the last ID.
func (s *Store) ListClients(ctx context.Context, p store.Page) ([]store.Client, string, error) {
	return store.ReadClientPage(p, func(after string, rows int) ([]store.Client, error) {
		// An index range from after, without after itself unless it is
		// the first page's "" (every ID is >= "").
		return queryRows(ctx, s.pool, scanClient, `SELECT `+clientCols+` FROM clients
			WHERE id >= $1 AND ($2 OR id != $1) ORDER BY id LIMIT $3`, after, after == "", limit(rows))
	})
}

// UpdateClient locks the client's row (FOR NO KEY UPDATE: the id does not
// change, so inserts that refer to the client, which take FOR KEY SHARE,
// do not wait for it), calls fn and stores the
// result, in one transaction: concurrent updates queue and none is lost.
// The columns only the store changes (storeKept) are not written.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*store.Client) error) (store.Client, error) {
	defer s.clients.Forget(id)
	var c store.Client
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanClient(tx.QueryRow(ctx, selectClient+` FOR NO KEY UPDATE`, id))
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("postgres: UpdateClient: fn changed the ID from %q to %q", id, c.ID)
		}
		// Return what is stored (times in UTC, to the microsecond; the
		// balance and first-token time as they were).
		args := clientArgs(&c)
		c, err = scanClient(tx.QueryRow(ctx, `UPDATE clients SET name = $2, secret_hash = $3, auth_method = $4,
			grant_types = $5, response_types = $6, redirect_uris = $7, scopes = $8, environment = $9, tier = $10,
			state = $11, refresh_policy = $12, refresh_idle_timeout = $13, refresh_ttl = $14,
			access_token_ttl = $15, token_format = $16, consent_url = $17, resource_server = $18,
			metadata = $19, created_at = $20, updated_at = $21, webhook_url = $22, webhook_secret = $23,
			consent_ttl = $24, retention_ttl = $25, state_reason = $26, state_changed_at = $27,
			operating_hours = $28, metered = $29, overdraft = $30, previous_secret_hash = $31,
			previous_secret_expires_at = $32, registration_token_hash = $33, access_token_signing_alg = $34,
			dpop_bound_access_tokens = $35, security = $36 WHERE id = $1 RETURNING `+clientCols, args[:len(args)-storeKept]...))
		return err
	})
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// DeleteClient removes the client; the foreign keys' ON DELETE CASCADE
// removes its auth requests, pushed requests, codes, connections, refresh
// families (and so their tokens), access-token records and events in the
// same statement.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.clients.Forget(id)
	n, err := s.exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
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
// first. The clients are locked FOR UPDATE SKIP LOCKED, as the janitor's
// other work is: the janitors of several instances take disjoint batches,
// and a client whose row a token request holds (its first token being
// marked) is skipped. A token request that finds its client deleted gets
// ErrMissingParent. The foreign keys cascade as in DeleteClient, and as
// there no event is written.
func (s *Store) DeleteUnusedClients(ctx context.Context, key, value string, createdBefore time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.exec(ctx, `DELETE FROM clients WHERE id IN (SELECT id FROM clients
		WHERE first_token_at IS NULL AND NOT metered AND created_at < $3 AND metadata ->> $1::text = $2::text
		ORDER BY created_at LIMIT $4 FOR UPDATE SKIP LOCKED)`, key, value, createdBefore.UTC(), limit)
	return int(n), err
}
