package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Bulk access for copying a whole store between backends (grantd migrate
// --from … --to …). The copy reads and writes the tables with SQL, as the
// schema in migrations/ defines them; nothing else should.

// resetEventSeq moves the identity sequence of events.seq past the largest
// stored seq, so that new events come after rows loaded with explicit seq
// values.
const resetEventSeq = `SELECT setval(pg_get_serial_sequence('events', 'seq'), COALESCE(MAX(seq), 0) + 1, false) FROM events`

// Snapshot runs fn in a READ ONLY, REPEATABLE READ transaction: every query
// fn makes sees the same consistent state of the whole store.
func (s *Store) Snapshot(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.tx(ctx, pgx.RepeatableRead, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET TRANSACTION READ ONLY`); err != nil {
			return mapErr(err)
		}
		return fn(tx)
	})
}

// Load runs fn in one transaction that writes rows with SQL (e.g.
// tx.CopyFrom); if fn returns nil, it moves the events' sequence past the
// loaded rows and commits. If anything fails, nothing is written.
func (s *Store) Load(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.writeTx(ctx, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		_, err := exec(ctx, tx, resetEventSeq)
		return err
	})
}
