package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Times are INTEGER Unix milliseconds UTC; the zero time is 0.
func toMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// stored is t as it reads back: UTC, to the millisecond.
func stored(t time.Time) time.Time { return fromMS(toMS(t)) }

// Durations are INTEGER nanoseconds: exact.
func toNS(d time.Duration) int64    { return int64(d) }
func fromNS(ns int64) time.Duration { return time.Duration(ns) }

// Lists and maps are JSON text. A nil slice or map is stored as 'null' and
// read back as nil; an empty one as '[]' or '{}' and read back empty.
func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// []string and map[string]string always marshal.
		panic(fmt.Sprintf("sqlite: marshal %T: %v", v, err))
	}
	return string(b)
}

func fromJSON(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("sqlite: decode stored JSON %q: %w", s, err)
	}
	return nil
}

// Schedules (operating hours) are JSON text; nil is NULL.
func scheduleJSON(s *store.Schedule) any {
	if s == nil {
		return nil
	}
	return toJSON(s)
}

func scheduleOf(text *string) (*store.Schedule, error) {
	if text == nil {
		return nil, nil
	}
	var s store.Schedule
	return &s, fromJSON(*text, &s)
}

// limit is the LIMIT of a query that reads rows rows (0 = all: -1, none).
func limit(rows int) int {
	if rows > 0 {
		return rows
	}
	return -1
}

// queryRows runs q and scans every row with scan.
func queryRows[T any](ctx context.Context, db execer, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface {
	Scan(dest ...any) error
}
