package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

const authRequestCols = `id, client_id, response_type, redirect_uri, state, scopes, code_challenge,
	code_challenge_method, csrf_token, subject, created_at, expires_at, customer_id, customer_name, provider_id, provider_fixed, source_address,
	dpop_jkt, resources, device_hash`

func scanAuthRequest(row scanner) (store.AuthRequest, error) {
	var (
		r                 store.AuthRequest
		scopes, resources string
		created, expires  int64
	)
	err := row.Scan(&r.ID, &r.ClientID, &r.ResponseType, &r.RedirectURI, &r.State, &scopes, &r.CodeChallenge,
		&r.CodeChallengeMethod, &r.CSRFToken, &r.Subject, &created, &expires,
		&r.CustomerID, &r.CustomerName, &r.ProviderID, &r.ProviderFixed, &r.SourceAddress, &r.DPoPJKT, &resources, &r.DeviceHash)
	if err != nil {
		return store.AuthRequest{}, mapErr(err)
	}
	r.CreatedAt, r.ExpiresAt = fromMS(created), fromMS(expires)
	return r, errors.Join(fromJSON(scopes, &r.Scopes), fromJSON(resources, &r.Resources))
}

const insertAuthRequest = `INSERT INTO auth_requests (` + authRequestCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func authRequestArgs(r *store.AuthRequest) []any {
	return []any{r.ID, r.ClientID, r.ResponseType, r.RedirectURI, r.State, toJSON(r.Scopes), r.CodeChallenge,
		r.CodeChallengeMethod, r.CSRFToken, r.Subject, toMS(r.CreatedAt), toMS(r.ExpiresAt),
		r.CustomerID, r.CustomerName, r.ProviderID, r.ProviderFixed, r.SourceAddress, r.DPoPJKT, toJSON(r.Resources), r.DeviceHash}
}

// CreateAuthRequest stores a pending authorization request. With
// maxPending > 0 the same write transaction first counts the client's
// pending requests from r.SourceAddress unexpired at r.CreatedAt (at most
// maxPending of them):
// the write lock it holds from its start keeps the count true until the
// insert commits.
func (s *Store) CreateAuthRequest(ctx context.Context, r store.AuthRequest, maxPending int) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if maxPending > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM auth_requests
				WHERE client_id = ? AND source_address = ? AND expires_at > ? LIMIT ?)`,
				r.ClientID, r.SourceAddress, toMS(r.CreatedAt), maxPending).Scan(&n); err != nil {
				return mapErr(err)
			}
			if n >= maxPending {
				return fmt.Errorf("%w: client %s has %d pending authorization requests", store.ErrTooMany, r.ClientID, n)
			}
		}
		_, err := exec(ctx, tx, insertAuthRequest, authRequestArgs(&r)...)
		return err
	})
}

// GetAuthRequest returns a pending request not yet expired at now.
func (s *Store) GetAuthRequest(ctx context.Context, id string, now time.Time) (store.AuthRequest, error) {
	return scanAuthRequest(s.r.QueryRowContext(ctx,
		`SELECT `+authRequestCols+` FROM auth_requests WHERE id = ? AND expires_at > ?`, id, toMS(now)))
}

// UpdateAuthRequest changes a pending request in one write transaction.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, now time.Time, fn func(*store.AuthRequest) error) (store.AuthRequest, error) {
	var r store.AuthRequest
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanAuthRequest(tx.QueryRowContext(ctx,
			`SELECT `+authRequestCols+` FROM auth_requests WHERE id = ? AND expires_at > ?`, id, toMS(now)))
		if err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		if r.ID != id {
			return fmt.Errorf("sqlite: UpdateAuthRequest: fn changed the ID from %q to %q", id, r.ID)
		}
		_, err = exec(ctx, tx, `UPDATE auth_requests SET client_id = ?, response_type = ?, redirect_uri = ?,
			state = ?, scopes = ?, code_challenge = ?, code_challenge_method = ?, csrf_token = ?, subject = ?,
			created_at = ?, expires_at = ?, customer_id = ?, customer_name = ?, provider_id = ?, provider_fixed = ?,
			source_address = ?, dpop_jkt = ?, resources = ?, device_hash = ? WHERE id = ?`,
			r.ClientID, r.ResponseType, r.RedirectURI, r.State, toJSON(r.Scopes), r.CodeChallenge,
			r.CodeChallengeMethod, r.CSRFToken, r.Subject, toMS(r.CreatedAt), toMS(r.ExpiresAt),
			r.CustomerID, r.CustomerName, r.ProviderID, r.ProviderFixed, r.SourceAddress, r.DPoPJKT,
			toJSON(r.Resources), r.DeviceHash, id)
		if err != nil {
			return err
		}
		// Return what is stored (times in UTC, to the millisecond).
		r, err = scanAuthRequest(tx.QueryRowContext(ctx, `SELECT `+authRequestCols+` FROM auth_requests WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return store.AuthRequest{}, err
	}
	return r, nil
}

// ConsumeAuthRequest deletes a pending request and returns it, in one
// write transaction: of concurrent callers, exactly one gets the row.
func (s *Store) ConsumeAuthRequest(ctx context.Context, id string, now time.Time) (store.AuthRequest, error) {
	var r store.AuthRequest
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanAuthRequest(tx.QueryRowContext(ctx,
			`DELETE FROM auth_requests WHERE id = ? AND expires_at > ? RETURNING `+authRequestCols, id, toMS(now)))
		return err
	})
	return r, err
}

// ---- pushed authorization requests ----

const pushedRequestCols = `hash, client_id, params, created_at, expires_at`

func scanPushedRequest(row scanner) (store.PushedRequest, error) {
	var (
		r                store.PushedRequest
		params           string
		created, expires int64
	)
	if err := row.Scan(&r.Hash, &r.ClientID, &params, &created, &expires); err != nil {
		return store.PushedRequest{}, mapErr(err)
	}
	r.CreatedAt, r.ExpiresAt = fromMS(created), fromMS(expires)
	return r, fromJSON(params, &r.Params)
}

// PushRequest stores a pushed authorization request: ErrConflict for a
// hash stored already, ErrMissingParent for no client, as the insert says.
func (s *Store) PushRequest(ctx context.Context, r store.PushedRequest) error {
	_, err := s.writeExec(ctx, `INSERT INTO pushed_requests (`+pushedRequestCols+`) VALUES (?, ?, ?, ?, ?)`,
		r.Hash, r.ClientID, toJSON(r.Params), toMS(r.CreatedAt), toMS(r.ExpiresAt))
	return err
}

// TakePushedRequest deletes a pushed request of clientID not yet expired
// at now and returns it, in one statement on the writer: of concurrent
// callers, exactly one gets the row. One of another client, or expired, is
// not matched and stays (an expired one is left to DeleteExpired).
func (s *Store) TakePushedRequest(ctx context.Context, hash []byte, clientID string, now time.Time) (store.PushedRequest, error) {
	var r store.PushedRequest
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanPushedRequest(tx.QueryRowContext(ctx,
			`DELETE FROM pushed_requests WHERE hash = ? AND client_id = ? AND expires_at > ? RETURNING `+pushedRequestCols,
			hash, clientID, toMS(now)))
		return err
	})
	return r, err
}
