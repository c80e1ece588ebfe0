package main

// grantd migrate --from DSN --to DSN: copy every record of one store into
// another, empty one (SQLite to PostgreSQL, and back).
//
// The copy goes through the store interface (store.Copy): the source
// exports its records, in domain types, from one consistent snapshot; the
// target imports them in one transaction that first checks it is empty and
// last checks its counts against the source's, so a failed copy writes
// nothing. Each backend reads and writes its own rows; this command holds
// no SQL.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/store"
)

// copyStores copies every record of the store fromDSN names into the empty
// store toDSN names, and prints what it copied.
func (c *cli) copyStores(ctx context.Context, cfg config.Config, fromDSN, toDSN string) error {
	fromSpec, err := config.ParseStore(fromDSN, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	toSpec, err := config.ParseStore(toDSN, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if sameStore(fromSpec, toSpec) {
		return errors.New("--from and --to name the same store")
	}
	from, fromWhere, err := openSpec(ctx, fromSpec, cfg.Postgres, nil) // migrates
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer from.Close()
	to, toWhere, err := openSpec(ctx, toSpec, cfg.Postgres, nil)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer to.Close()

	counts, err := store.Copy(ctx, from, to)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w (nothing was written)", fromWhere, toWhere, err)
	}
	out := c.stdout
	fmt.Fprintf(out, "copied %s to %s:\n", fromWhere, toWhere)
	var total int64
	for _, k := range store.Kinds {
		fmt.Fprintf(out, "  %-17s %d\n", k, counts[k])
		total += counts[k]
	}
	fmt.Fprintf(out, "%d rows, counts verified.\n"+
		"Signing keys are copied sealed: run grantd on the target with the same key-encryption key\n"+
		"(GRANTD_KEY_ENCRYPTION_KEY, or the source's DATA_DIR/kek).\n", total)
	return nil
}

// sameStore reports whether two specs name the same store.
func sameStore(a, b config.StoreSpec) bool {
	if a.Backend != b.Backend {
		return false
	}
	if a.Backend == config.BackendSQLite {
		pa, errA := filepath.Abs(a.Path)
		pb, errB := filepath.Abs(b.Path)
		return errA == nil && errB == nil && pa == pb
	}
	return a.DSN == b.DSN
}
