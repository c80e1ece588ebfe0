package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
)

const authRequestCols = `id, client_id, response_type, redirect_uri, state, scopes, code_challenge,
	code_challenge_method, csrf_token, subject, created_at, expires_at, customer_id, customer_name, provider_id, provider_fixed, source_address,
	dpop_jkt, resources, device_hash`

func scanAuthRequest(row scanner) (store.AuthRequest, error) {
	var r store.AuthRequest
	err := row.Scan(&r.ID, &r.ClientID, &r.ResponseType, &r.RedirectURI, &r.State, &r.Scopes, &r.CodeChallenge,
		&r.CodeChallengeMethod, &r.CSRFToken, &r.Subject, tm(&r.CreatedAt), tm(&r.ExpiresAt),
		&r.CustomerID, &r.CustomerName, &r.ProviderID, &r.ProviderFixed, &r.SourceAddress, &r.DPoPJKT, &r.Resources, &r.DeviceHash)
	if err != nil {
		return store.AuthRequest{}, mapErr(err)
	}
	return r, nil
}

func authRequestArgs(r *store.AuthRequest) []any {
	return []any{r.ID, r.ClientID, r.ResponseType, r.RedirectURI, r.State, list(r.Scopes), r.CodeChallenge,
		r.CodeChallengeMethod, r.CSRFToken, r.Subject, ts(r.CreatedAt), ts(r.ExpiresAt),
		r.CustomerID, r.CustomerName, r.ProviderID, r.ProviderFixed, r.SourceAddress, r.DPoPJKT, list(r.Resources), r.DeviceHash}
}

const insertAuthRequest = `INSERT INTO auth_requests (` + authRequestCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`

// CreateAuthRequest stores a pending authorization request. With
// maxPending > 0 it first takes a transaction-scoped advisory lock on the
// (client, source address) pair, then counts that pair's pending requests
// unexpired at r.CreatedAt (at most maxPending of them) and inserts, in one
// transaction: concurrent creations for one pair, from any instance, queue
// on the advisory lock, and each counts after the one before it committed
// (READ COMMITTED reads anew with each statement). No row is locked, so a
// client's authorizations from different addresses, its token requests and
// its charges never wait for each other. No client: ErrMissingParent, as
// the insert says.
func (s *Store) CreateAuthRequest(ctx context.Context, r store.AuthRequest, maxPending int) error {
	if maxPending <= 0 {
		_, err := s.exec(ctx, insertAuthRequest, authRequestArgs(&r)...)
		return err
	}
	return s.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := exec(ctx, tx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(10) || $2, 0))`,
			r.ClientID, r.SourceAddress); err != nil {
			return err
		}
		var pending int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM auth_requests
			WHERE client_id = $1 AND source_address = $2 AND expires_at > $3 LIMIT $4) p`,
			r.ClientID, r.SourceAddress, r.CreatedAt.UTC(), maxPending).Scan(&pending); err != nil {
			return mapErr(err)
		}
		if pending >= maxPending {
			return fmt.Errorf("%w: client %s has %d pending authorization requests", store.ErrTooMany, r.ClientID, pending)
		}
		_, err := exec(ctx, tx, insertAuthRequest, authRequestArgs(&r)...)
		return err
	})
}

// GetAuthRequest returns a pending request not yet expired at now.
func (s *Store) GetAuthRequest(ctx context.Context, id string, now time.Time) (store.AuthRequest, error) {
	return scanAuthRequest(s.pool.QueryRow(ctx,
		`SELECT `+authRequestCols+` FROM auth_requests WHERE id = $1 AND expires_at > $2`, id, now.UTC()))
}

// UpdateAuthRequest locks a pending request (FOR UPDATE), changes it and
// stores it, in one transaction.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, now time.Time, fn func(*store.AuthRequest) error) (store.AuthRequest, error) {
	var r store.AuthRequest
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanAuthRequest(tx.QueryRow(ctx,
			`SELECT `+authRequestCols+` FROM auth_requests WHERE id = $1 AND expires_at > $2 FOR UPDATE`, id, now.UTC()))
		if err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		if r.ID != id {
			return fmt.Errorf("postgres: UpdateAuthRequest: fn changed the ID from %q to %q", id, r.ID)
		}
		// Return what is stored (times in UTC, to the microsecond).
		r, err = scanAuthRequest(tx.QueryRow(ctx, `UPDATE auth_requests SET client_id = $2, response_type = $3,
			redirect_uri = $4, state = $5, scopes = $6, code_challenge = $7, code_challenge_method = $8,
			csrf_token = $9, subject = $10, created_at = $11, expires_at = $12, customer_id = $13,
			customer_name = $14, provider_id = $15, provider_fixed = $16, source_address = $17, dpop_jkt = $18,
			resources = $19, device_hash = $20 WHERE id = $1 RETURNING `+authRequestCols, authRequestArgs(&r)...))
		return err
	})
	if err != nil {
		return store.AuthRequest{}, err
	}
	return r, nil
}

// ConsumeAuthRequest deletes a pending request and returns it, in one
// statement: of concurrent callers, the first takes the row lock and
// deletes the row; the others wait, find it gone, and get ErrNotFound.
func (s *Store) ConsumeAuthRequest(ctx context.Context, id string, now time.Time) (store.AuthRequest, error) {
	var r store.AuthRequest
	err := retry(ctx, func() error {
		var err error
		r, err = scanAuthRequest(s.pool.QueryRow(ctx,
			`DELETE FROM auth_requests WHERE id = $1 AND expires_at > $2 RETURNING `+authRequestCols, id, now.UTC()))
		return err
	})
	return r, err
}

// ---- pushed authorization requests ----

const pushedRequestCols = `hash, client_id, params, created_at, expires_at`

func scanPushedRequest(row scanner) (store.PushedRequest, error) {
	var (
		r      store.PushedRequest
		params []byte
	)
	if err := row.Scan(&r.Hash, &r.ClientID, &params, tm(&r.CreatedAt), tm(&r.ExpiresAt)); err != nil {
		return store.PushedRequest{}, mapErr(err)
	}
	return r, fromJSON(params, &r.Params)
}

// PushRequest stores a pushed authorization request: ErrConflict for a
// hash stored already, ErrMissingParent for no client, as the insert says.
func (s *Store) PushRequest(ctx context.Context, r store.PushedRequest) error {
	_, err := s.exec(ctx, `INSERT INTO pushed_requests (`+pushedRequestCols+`) VALUES ($1, $2, $3, $4, $5)`,
		r.Hash, r.ClientID, toJSON(r.Params), ts(r.CreatedAt), ts(r.ExpiresAt))
	return err
}

// TakePushedRequest deletes a pushed request of clientID not yet expired
// at now and returns it, in one statement: of concurrent callers, the
// first takes the row lock and deletes the row; the others wait, find it
// gone, and get ErrNotFound. One of another client, or expired, is not
// matched and stays (an expired one is left to DeleteExpired).
func (s *Store) TakePushedRequest(ctx context.Context, hash []byte, clientID string, now time.Time) (store.PushedRequest, error) {
	var r store.PushedRequest
	err := retry(ctx, func() error {
		var err error
		r, err = scanPushedRequest(s.pool.QueryRow(ctx,
			`DELETE FROM pushed_requests WHERE hash = $1 AND client_id = $2 AND expires_at > $3 RETURNING `+pushedRequestCols,
			hash, clientID, now.UTC()))
		return err
	})
	return r, err
}
