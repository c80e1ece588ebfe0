package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// ---- device authorization requests (RFC 8628) ----

const deviceRequestCols = `device_hash, user_hash, client_id, scopes, resources, status, poll_interval,
	last_polled_at, created_at, expires_at`

func scanDeviceRequest(row scanner) (store.DeviceRequest, error) {
	var (
		r                        store.DeviceRequest
		scopes, resources        string
		interval                 int64
		polled, created, expires int64
	)
	if err := row.Scan(&r.DeviceHash, &r.UserHash, &r.ClientID, &scopes, &resources, &r.Status, &interval,
		&polled, &created, &expires); err != nil {
		return store.DeviceRequest{}, mapErr(err)
	}
	r.Interval = fromNS(interval)
	r.LastPolledAt, r.CreatedAt, r.ExpiresAt = fromMS(polled), fromMS(created), fromMS(expires)
	return r, errors.Join(fromJSON(scopes, &r.Scopes), fromJSON(resources, &r.Resources))
}

// CreateDeviceRequest stores a device request: ErrConflict for a device or
// user hash stored already, ErrMissingParent for no client, as the insert
// says.
func (s *Store) CreateDeviceRequest(ctx context.Context, r store.DeviceRequest) error {
	_, err := s.writeExec(ctx, `INSERT INTO device_requests (`+deviceRequestCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.DeviceHash, r.UserHash, r.ClientID, toJSON(r.Scopes), toJSON(r.Resources), r.Status, toNS(r.Interval),
		toMS(r.LastPolledAt), toMS(r.CreatedAt), toMS(r.ExpiresAt))
	return err
}

// GetDeviceRequestByUser returns the pending request of a user code not
// yet expired at now (the unique index on user_hash finds it).
func (s *Store) GetDeviceRequestByUser(ctx context.Context, userHash []byte, now time.Time) (store.DeviceRequest, error) {
	return scanDeviceRequest(s.r.QueryRowContext(ctx, `SELECT `+deviceRequestCols+` FROM device_requests
		WHERE user_hash = ? AND status = ? AND expires_at > ?`, userHash, store.DevicePending, toMS(now)))
}

// PollDeviceRequest reads a request not yet expired at now and records the
// poll, in one write transaction: concurrent polls queue for the writer,
// and each reads what the one before wrote.
func (s *Store) PollDeviceRequest(ctx context.Context, deviceHash []byte, now time.Time, slowDown time.Duration) (store.DeviceRequest, error) {
	var r store.DeviceRequest
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanDeviceRequest(tx.QueryRowContext(ctx, `SELECT `+deviceRequestCols+` FROM device_requests
			WHERE device_hash = ? AND expires_at > ?`, deviceHash, toMS(now)))
		if err != nil {
			return err
		}
		interval := r.Interval
		if !r.LastPolledAt.IsZero() && now.Sub(r.LastPolledAt) < r.Interval {
			interval += slowDown
		}
		_, err = exec(ctx, tx, `UPDATE device_requests SET last_polled_at = ?, poll_interval = ? WHERE device_hash = ?`,
			toMS(now), toNS(interval), deviceHash)
		return err
	})
	if err != nil {
		return store.DeviceRequest{}, err
	}
	return r, nil
}

// DecideDeviceRequest sets the status of a pending request not yet expired
// at now, in one statement on the writer: of concurrent decisions, one
// changes the row and the others find it decided.
func (s *Store) DecideDeviceRequest(ctx context.Context, deviceHash []byte, status string, now time.Time) error {
	if status != store.DeviceApproved && status != store.DeviceDenied {
		return fmt.Errorf("sqlite: DecideDeviceRequest: status %q, want %q or %q", status, store.DeviceApproved, store.DeviceDenied)
	}
	n, err := s.writeExec(ctx, `UPDATE device_requests SET status = ?
		WHERE device_hash = ? AND status = ? AND expires_at > ?`, status, deviceHash, store.DevicePending, toMS(now))
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
