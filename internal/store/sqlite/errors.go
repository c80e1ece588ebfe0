package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/grantd/grantd/internal/store"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// mapErr is the one place that turns driver errors into store sentinels. The
// result wraps both the sentinel and the driver's error, so errors.Is works
// for the sentinel and the message keeps the cause.
//
//	sql.ErrNoRows                         -> store.ErrNotFound
//	UNIQUE or PRIMARY KEY constraint      -> store.ErrConflict
//	FOREIGN KEY constraint                -> store.ErrMissingParent (the record referred to is absent)
//
// Anything else (including SQLITE_BUSY, which the design should make
// impossible within one process) is returned as is.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %w", store.ErrMissingParent, err)
	}
	return err
}
