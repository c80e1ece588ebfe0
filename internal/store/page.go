package store

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Lists are paged by keyset: a page's cursor names the last item it holds,
// and the next page starts after it, so that inserts and deletes between
// two pages neither repeat nor skip the items that stay. Each paged list's
// cursor and its cut are written here once (Read…Page); a backend only
// reads the rows after a position, at most a number of them (one more than
// the page, to know whether another follows). Callers treat cursors as
// opaque.

// Rows is how many rows a backend reads for p: p.Limit + 1, or 0 for all.
func (p Page) Rows() int {
	if p.Limit <= 0 || p.Limit == math.MaxInt {
		return 0
	}
	return p.Limit + 1
}

// pageOf cuts rows, read for p (Rows), to the page, and returns it with the
// cursor of the next page: cursor of the page's last item, or "" when no
// item follows.
func pageOf[T any](rows []T, p Page, cursor func(T) string) ([]T, string) {
	if p.Rows() == 0 || len(rows) <= p.Limit {
		return rows, ""
	}
	rows = rows[:p.Limit]
	return rows, cursor(rows[len(rows)-1])
}

func readPage[T any](p Page, cursor func(T) string, rows []T, err error) ([]T, string, error) {
	if err != nil {
		return nil, "", err
	}
	page, next := pageOf(rows, p, cursor)
	return page, next, nil
}

// ReadClientPage is ListClients' page p: read reads, in ID order, at most
// rows clients (0 = all) whose ID is after after ("" = from the first;
// every ID is >= ""). The cursor is the last ID.
func ReadClientPage(p Page, read func(after string, rows int) ([]Client, error)) ([]Client, string, error) {
	rows, err := read(p.After, p.Rows())
	return readPage(p, func(c Client) string { return c.ID }, rows, err)
}

// ReadConnectionPage is ListConnections' page p: read reads, newest first
// (by CreatedAt, then ID, the zero time the oldest), at most rows
// connections (0 = all) before the position (before, beforeID), or from
// the newest when first. The cursor encodes the last one's time and ID.
func ReadConnectionPage(p Page, read func(first bool, before time.Time, beforeID string, rows int) ([]Connection, error)) ([]Connection, string, error) {
	before, id, err := parseTimeIDCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	rows, err := read(p.After == "", before, id, p.Rows())
	return readPage(p, func(c Connection) string { return timeIDCursor(c.CreatedAt, c.ID) }, rows, err)
}

// ReadLedgerPage is ListLedger's page p: read reads, newest first, at most
// rows entries (0 = all) whose Seq is below before (math.MaxInt64 for the
// first page). The cursor is the last Seq, as text.
func ReadLedgerPage(p Page, read func(before int64, rows int) ([]LedgerEntry, error)) ([]LedgerEntry, string, error) {
	before := int64(math.MaxInt64)
	if p.After != "" {
		seq, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil || seq <= 0 {
			return nil, "", fmt.Errorf("%w: %q", ErrInvalidCursor, p.After)
		}
		before = seq
	}
	rows, err := read(before, p.Rows())
	return readPage(p, func(e LedgerEntry) string { return strconv.FormatInt(e.Seq, 10) }, rows, err)
}

// timeIDCursor is the cursor after an item ordered by a time and an ID:
// both, in URL-safe base64 (the time in microseconds, "" for the zero
// time).
func timeIDCursor(t time.Time, id string) string {
	var us string
	if !t.IsZero() {
		us = strconv.FormatInt(t.UnixMicro(), 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(us + "~" + id))
}

// parseTimeIDCursor reads a timeIDCursor; "" is the zero time and ID.
func parseTimeIDCursor(s string) (t time.Time, id string, err error) {
	if s == "" {
		return time.Time{}, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	us, id, found := strings.Cut(string(b), "~")
	if err != nil || !found {
		return time.Time{}, "", fmt.Errorf("%w: %q", ErrInvalidCursor, s)
	}
	if us != "" {
		n, err := strconv.ParseInt(us, 10, 64)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%w: %q", ErrInvalidCursor, s)
		}
		t = time.UnixMicro(n).UTC()
	}
	return t, id, nil
}
