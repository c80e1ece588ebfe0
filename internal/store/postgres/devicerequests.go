package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// ---- device authorization requests (RFC 8628) ----

const deviceRequestCols = `device_hash, user_hash, client_id, scopes, resources, status, poll_interval,
	last_polled_at, created_at, expires_at`

func scanDeviceRequest(row scanner) (store.DeviceRequest, error) {
	var (
		r        store.DeviceRequest
		interval int64
	)
	if err := row.Scan(&r.DeviceHash, &r.UserHash, &r.ClientID, &r.Scopes, &r.Resources, &r.Status, &interval,
		tm(&r.LastPolledAt), tm(&r.CreatedAt), tm(&r.ExpiresAt)); err != nil {
		return store.DeviceRequest{}, mapErr(err)
	}
	r.Interval = time.Duration(interval)
	return r, nil
}

// CreateDeviceRequest stores a device request: ErrConflict for a device or
// user hash stored already, ErrMissingParent for no client, as the insert
// says.
func (s *Store) CreateDeviceRequest(ctx context.Context, r store.DeviceRequest) error {
	_, err := s.exec(ctx, `INSERT INTO device_requests (`+deviceRequestCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.DeviceHash, r.UserHash, r.ClientID, list(r.Scopes), list(r.Resources), r.Status, ns(r.Interval),
		ts(r.LastPolledAt), ts(r.CreatedAt), ts(r.ExpiresAt))
	return err
}

// GetDeviceRequestByUser returns the pending request of a user code not
// yet expired at now (the unique index on user_hash finds it).
func (s *Store) GetDeviceRequestByUser(ctx context.Context, userHash []byte, now time.Time) (store.DeviceRequest, error) {
	return scanDeviceRequest(s.pool.QueryRow(ctx, `SELECT `+deviceRequestCols+` FROM device_requests
		WHERE user_hash = $1 AND status = $2 AND expires_at > $3`, userHash, store.DevicePending, now.UTC()))
}

// pollDeviceRequest records a poll and returns the row as it was, in one
// statement: the subquery locks the row (FOR UPDATE) and reads it; the
// update writes the poll from what the subquery read, and RETURNING gives
// the subquery's columns, the row before this poll. Concurrent polls
// queue on the row lock; under READ COMMITTED each waiter's lock then
// reads the row as the poll before it committed it. A row deleted
// meanwhile (the janitor, its client's deletion) is no row.
const pollDeviceRequest = `UPDATE device_requests d SET last_polled_at = $2,
	poll_interval = CASE
		WHEN o.last_polled_at + (o.poll_interval / 1000) * INTERVAL '1 microsecond' > $2 THEN o.poll_interval + $3
		ELSE o.poll_interval END
	FROM (SELECT ` + deviceRequestCols + ` FROM device_requests
		WHERE device_hash = $1 AND expires_at > $2 FOR UPDATE) o
	WHERE d.device_hash = o.device_hash
	RETURNING o.device_hash, o.user_hash, o.client_id, o.scopes, o.resources, o.status, o.poll_interval,
		o.last_polled_at, o.created_at, o.expires_at`

// PollDeviceRequest reads a request not yet expired at now and records the
// poll, atomically (pollDeviceRequest): the slow_down is added when the
// previous poll (not NULL) is less than the stored interval before now.
func (s *Store) PollDeviceRequest(ctx context.Context, deviceHash []byte, now time.Time, slowDown time.Duration) (store.DeviceRequest, error) {
	var r store.DeviceRequest
	err := retry(ctx, func() error {
		var err error
		r, err = scanDeviceRequest(s.pool.QueryRow(ctx, pollDeviceRequest, deviceHash, now.UTC(), ns(slowDown)))
		return err
	})
	if err != nil {
		return store.DeviceRequest{}, err
	}
	return r, nil
}

// DecideDeviceRequest sets the status of a pending request not yet expired
// at now, in one statement: of concurrent decisions, the first takes the
// row lock and changes it; the others wait, find it decided, and change
// nothing.
func (s *Store) DecideDeviceRequest(ctx context.Context, deviceHash []byte, status string, now time.Time) error {
	if status != store.DeviceApproved && status != store.DeviceDenied {
		return fmt.Errorf("postgres: DecideDeviceRequest: status %q, want %q or %q", status, store.DeviceApproved, store.DeviceDenied)
	}
	n, err := s.exec(ctx, `UPDATE device_requests SET status = $2
		WHERE device_hash = $1 AND status = $3 AND expires_at > $4`, deviceHash, status, store.DevicePending, now.UTC())
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
