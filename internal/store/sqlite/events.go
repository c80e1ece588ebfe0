package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// eventKeep is how long delivered events stay before DeleteExpired removes
// them.
const eventKeep = 7 * 24 * time.Hour

const eventCols = `seq, id, client_id, connection_id, type, payload, created_at, attempts,
	next_attempt_at, last_error, delivered_at, failed`

// insertEvent adds e to the outbox inside tx, only when the client has a
// webhook URL: events nobody will receive are not kept.
func insertEvent(ctx context.Context, tx *sql.Tx, e store.Event) error {
	_, err := exec(ctx, tx, `INSERT INTO events (id, client_id, connection_id, type, payload, created_at, next_attempt_at)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM clients WHERE id = ? AND webhook_url != '')`,
		e.ID, e.ClientID, e.ConnectionID, e.Type, e.Payload, toMS(e.CreatedAt), toMS(e.NextAttemptAt), e.ClientID)
	return err
}

func scanEvent(row scanner) (store.Event, error) {
	var (
		e                        store.Event
		created, next, delivered int64
	)
	err := row.Scan(&e.Seq, &e.ID, &e.ClientID, &e.ConnectionID, &e.Type, &e.Payload, &created, &e.Attempts,
		&next, &e.LastError, &delivered, &e.Failed)
	if err != nil {
		return store.Event{}, mapErr(err)
	}
	e.CreatedAt, e.NextAttemptAt, e.DeliveredAt = fromMS(created), fromMS(next), fromMS(delivered)
	return e, nil
}

func (s *Store) queryEvents(ctx context.Context, q string, args ...any) ([]store.Event, error) {
	return queryEvents(ctx, s.r, q, args...)
}

func queryEvents(ctx context.Context, db execer, q string, args ...any) ([]store.Event, error) {
	return queryRows(ctx, db, scanEvent, q, args...)
}

// ClaimEvents claims the due head of each connection's queue: an event is
// only offered when no earlier event of its connection is still pending. One
// write transaction selects the events and moves their next_attempt_at to
// the lease's end, so no other caller, in this process or another on the
// same file, sees them due until then.
func (s *Store) ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Event, error) {
	if lease <= 0 {
		return nil, errors.New("sqlite: ClaimEvents: the lease must be positive")
	}
	if limit <= 0 {
		return nil, nil
	}
	until := toMS(now.Add(lease))
	var out []store.Event
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		es, err := queryEvents(ctx, tx, `SELECT `+eventCols+` FROM events e
			WHERE e.delivered_at = 0 AND e.next_attempt_at <= ?
			AND NOT EXISTS (SELECT 1 FROM events p
				WHERE p.connection_id = e.connection_id AND p.delivered_at = 0 AND p.seq < e.seq)
			ORDER BY e.seq LIMIT ?`, toMS(now), limit)
		if err != nil || len(es) == 0 {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `UPDATE events SET next_attempt_at = ? WHERE seq = ?`)
		if err != nil {
			return mapErr(err)
		}
		defer stmt.Close()
		for i := range es {
			if _, err := stmt.ExecContext(ctx, until, es[i].Seq); err != nil {
				return mapErr(err)
			}
			es[i].NextAttemptAt = fromMS(until)
		}
		out = es
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkEventDelivered records a delivery (or, with failed, that delivery was
// given up).
func (s *Store) MarkEventDelivered(ctx context.Context, seq int64, now time.Time, failed bool) error {
	n, err := s.writeExec(ctx, `UPDATE events SET delivered_at = ?, failed = ? WHERE seq = ? AND delivered_at = 0`,
		max(toMS(now), 1), failed, seq)
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

// RetryEvent records a failed attempt.
func (s *Store) RetryEvent(ctx context.Context, seq int64, attempts int, next time.Time, lastError string) error {
	if len(lastError) > 500 {
		lastError = strings.ToValidUTF8(lastError[:500], "")
	}
	n, err := s.writeExec(ctx, `UPDATE events SET attempts = ?, next_attempt_at = ?, last_error = ?
		WHERE seq = ? AND delivered_at = 0`, attempts, toMS(next), lastError, seq)
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

// ListEvents lists a connection's events, oldest first.
func (s *Store) ListEvents(ctx context.Context, connectionID string) ([]store.Event, error) {
	return s.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE connection_id = ? ORDER BY seq`, connectionID)
}
