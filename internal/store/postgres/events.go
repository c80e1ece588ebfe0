package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
)

// eventKeep is how long delivered events stay before DeleteExpired removes
// them.
const eventKeep = 7 * 24 * time.Hour

const eventCols = `seq, id, client_id, connection_id, type, payload, created_at, attempts,
	next_attempt_at, last_error, delivered_at, failed`

// insertEvent adds e to the outbox inside tx, only when the client has a
// webhook URL: events nobody will receive are not kept. The caller holds
// the connection's row (new, or locked FOR UPDATE), so one connection's
// events commit in the order of their seq.
func insertEvent(ctx context.Context, tx querier, e store.Event) error {
	_, err := exec(ctx, tx, `INSERT INTO events (id, client_id, connection_id, type, payload, created_at, next_attempt_at)
		SELECT $1::text, $2::text, $3::text, $4::text, $5::bytea, $6::timestamptz, $7::timestamptz
		WHERE EXISTS (SELECT 1 FROM clients WHERE id = $2::text AND webhook_url != '')`,
		e.ID, e.ClientID, e.ConnectionID, e.Type, e.Payload, ts(e.CreatedAt), ts(e.NextAttemptAt))
	return err
}

func scanEvent(row scanner) (store.Event, error) {
	var e store.Event
	err := row.Scan(&e.Seq, &e.ID, &e.ClientID, &e.ConnectionID, &e.Type, &e.Payload, tm(&e.CreatedAt), &e.Attempts,
		tm(&e.NextAttemptAt), &e.LastError, tm(&e.DeliveredAt), &e.Failed)
	if err != nil {
		return store.Event{}, mapErr(err)
	}
	return e, nil
}

func (s *Store) queryEvents(ctx context.Context, q string, args ...any) ([]store.Event, error) {
	return queryEvents(ctx, s.pool, q, args...)
}

func queryEvents(ctx context.Context, db querier, q string, args ...any) ([]store.Event, error) {
	return queryRows(ctx, db, scanEvent, q, args...)
}

// ClaimEvents claims the due head of each connection's queue: an event is
// only offered when no earlier event of its connection is still pending.
//
// One UPDATE moves the chosen events' next_attempt_at to the lease's end.
// Its subquery locks them FOR UPDATE SKIP LOCKED, so concurrent claimers
// (other instances) take disjoint sets without waiting for each other. A
// row another claimer has just committed is re-read under READ COMMITTED
// (EvalPlanQual) and no longer due, so it is not taken twice. The head-of-
// line test reads the statement's snapshot: an earlier event claimed but not
// yet delivered is still pending there, so its successor waits.
func (s *Store) ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Event, error) {
	if lease <= 0 {
		return nil, errors.New("postgres: ClaimEvents: the lease must be positive")
	}
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Event
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = queryEvents(ctx, tx, `WITH claimed AS (
			UPDATE events SET next_attempt_at = $3
			WHERE seq IN (SELECT e.seq FROM events e
				WHERE e.delivered_at IS NULL AND e.next_attempt_at <= $1
				AND NOT EXISTS (SELECT 1 FROM events p
					WHERE p.connection_id = e.connection_id AND p.delivered_at IS NULL AND p.seq < e.seq)
				ORDER BY e.seq LIMIT $2
				FOR UPDATE SKIP LOCKED)
			RETURNING `+eventCols+`)
		SELECT `+eventCols+` FROM claimed ORDER BY seq`, now.UTC(), limit, now.Add(lease).UTC())
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkEventDelivered records a delivery (or, with failed, that delivery was
// given up).
func (s *Store) MarkEventDelivered(ctx context.Context, seq int64, now time.Time, failed bool) error {
	n, err := s.exec(ctx, `UPDATE events SET delivered_at = $2, failed = $3 WHERE seq = $1 AND delivered_at IS NULL`,
		seq, revokedAt(now), failed)
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

// RetryEvent records a failed attempt.
func (s *Store) RetryEvent(ctx context.Context, seq int64, attempts int, next time.Time, lastError string) error {
	if len(lastError) > 500 {
		lastError = lastError[:500]
	}
	// PostgreSQL's text holds neither invalid UTF-8 nor NUL.
	lastError = strings.ReplaceAll(strings.ToValidUTF8(lastError, ""), "\x00", "")
	n, err := s.exec(ctx, `UPDATE events SET attempts = $2, next_attempt_at = $3, last_error = $4
		WHERE seq = $1 AND delivered_at IS NULL`, seq, attempts, next.UTC(), lastError)
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

// ListEvents lists a connection's events, oldest first.
func (s *Store) ListEvents(ctx context.Context, connectionID string) ([]store.Event, error) {
	return s.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE connection_id = $1 ORDER BY seq`, connectionID)
}
