package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/store"
)

// Times are timestamptz (microseconds); the zero time is NULL, and every
// time reads back in UTC.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// stored is t as it reads back: UTC, to the microsecond.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// nullTime scans a nullable timestamptz into *t: NULL is the zero time.
type nullTime struct{ t *time.Time }

func (n nullTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*n.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("postgres: infinite timestamp")
	default:
		*n.t = v.Time.UTC()
	}
	return nil
}

// tm is the scan destination of a timestamptz column into *t.
func tm(t *time.Time) *nullTime { return &nullTime{t} }

// Durations are bigint nanoseconds: exact, and Go's own unit.
func ns(d time.Duration) int64 { return int64(d) }

// Lists are text[] NOT NULL: a nil slice is stored as the empty array (and
// reads back empty, which the store treats as equal to nil).
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// Maps are jsonb: a nil map is the JSON null and reads back nil.
func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// map[string]string always marshals.
		panic(fmt.Sprintf("postgres: marshal %T: %v", v, err))
	}
	return string(b)
}

func fromJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("postgres: decode stored JSON %q: %w", b, err)
	}
	return nil
}

// Schedules (operating hours) are jsonb; nil is NULL.
func scheduleJSON(s *store.Schedule) any {
	if s == nil {
		return nil
	}
	return toJSON(s)
}

func scheduleOf(b []byte) (*store.Schedule, error) {
	if b == nil {
		return nil, nil
	}
	var s store.Schedule
	return &s, fromJSON(b, &s)
}

// limit is the LIMIT of a query that reads rows rows (0 = all: NULL,
// none).
func limit(rows int) any {
	if rows > 0 {
		return rows
	}
	return nil
}

// queryRows runs query and scans every row with scan. (The driver's
// errors come from Query and the rows' Err, and are mapped; scan's are
// mapped already, and mapErr leaves them as they are.)
func queryRows[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.AppendRows([]T(nil), rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	return out, mapErr(err)
}

// scanner is what pgx.Row and pgx.Rows share.
type scanner interface {
	Scan(dest ...any) error
}
