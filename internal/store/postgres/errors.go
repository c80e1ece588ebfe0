package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/grantd/grantd/internal/store"
)

// SQLSTATE codes the backend acts on.
const (
	codeCharacterNotInRepertoire = "22021"
	codeUniqueViolation          = "23505"
	codeForeignKeyViolation      = "23503"
	codeSerializationFailure     = "40001"
	codeDeadlockDetected         = "40P01"
)

// mapErr is the one place that turns driver errors into store sentinels. The
// result wraps both the sentinel and the driver's error, so errors.Is works
// for the sentinel and the message keeps the cause.
//
//	pgx.ErrNoRows                   -> store.ErrNotFound
//	23505 unique_violation          -> store.ErrConflict (store.ErrReplayed for a DPoP proof's use)
//	23503 foreign_key_violation     -> store.ErrMissingParent (the record referred to is absent)
//
// Anything else is returned as is; retryable tells which of those a retry
// can fix (40001, 40P01).
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case codeUniqueViolation:
		if pe.ConstraintName == proofsKey {
			// Queued in a decision's pipeline, the insert's conflict comes
			// back as the batch's error: the constraint tells it apart.
			return fmt.Errorf("%w: %w", store.ErrReplayed, err)
		}
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case codeForeignKeyViolation:
		return fmt.Errorf("%w: %w", store.ErrMissingParent, err)
	case codeCharacterNotInRepertoire:
		// Invalid UTF-8 or NUL in a text value: no row can have it. The
		// wire refuses such input first; this keeps a lookup a miss.
		return fmt.Errorf("%w: invalid text: %w", store.ErrNotFound, err)
	}
	return err
}

// proofsKey is the primary key of dpop_proofs (migration 0005).
const proofsKey = "dpop_proofs_pkey"

// retryable reports whether err is a serialization failure or a deadlock:
// the transaction was rolled back and running it again may succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case codeSerializationFailure, codeDeadlockDetected:
		return true
	}
	return false
}

// isPgError reports whether err carries PostgreSQL's own error: the
// statement reached the server and failed there, so it did not commit.
func isPgError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}
