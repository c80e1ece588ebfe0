package postgres

import (
	"context"
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
func insertEvent(ctx context.Context, tx pgx.Tx, e store.Event) error {
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
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

// PendingEvents returns the due head of each connection's queue: an event is
// only offered when no earlier event of its connection is still pending.
func (s *Store) PendingEvents(ctx context.Context, now time.Time, limit int) ([]store.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	return s.queryEvents(ctx, `SELECT `+eventCols+` FROM events e
		WHERE e.delivered_at IS NULL AND e.next_attempt_at <= $1
		AND NOT EXISTS (SELECT 1 FROM events p
			WHERE p.connection_id = e.connection_id AND p.delivered_at IS NULL AND p.seq < e.seq)
		ORDER BY e.seq LIMIT $2`, now.UTC(), limit)
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
