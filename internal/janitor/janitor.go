// Package janitor runs the lifecycle chores of grantd's store in bounded
// batches: it marks connections whose consent ended as expired, purges
// connections (and every token record of theirs) whose data-retention
// deadline passed, deletes spent codes and expired records, and deletes
// dynamically registered clients that never obtained a token.
package janitor

import (
	"context"
	"log/slog"
	"time"

	"github.com/grantd/grantd/internal/clients"
)

// Store is the part of the store the janitor uses.
type Store interface {
	ExpireConsents(ctx context.Context, now time.Time, limit int) (int, error)
	PurgeConnections(ctx context.Context, now time.Time, limit int) (int, error)
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
	DeleteUnusedClients(ctx context.Context, key, value string, createdBefore time.Time, limit int) (int, error)
}

// Janitor does one kind of chore per batch, so that no write transaction
// holds the store for long, and after each batch waits as long as the
// batch took: token requests queued behind a batch go first, and a large
// backlog takes at most about half of the store's writer.
type Janitor struct {
	Store  Store
	Now    func() time.Time // nil = time.Now
	Batch  int              // rows per batch (per kind for DeleteExpired); 0 = DefaultBatch
	Logger *slog.Logger
	// MaxBatches bounds one pass per chore, so that a larger backlog is
	// worked off over several passes; 0 = DefaultMaxBatches.
	MaxBatches int
	// UnusedDynamicClientTTL is how long a client registered through RFC
	// 7591 may go without obtaining a token before it is deleted; 0 =
	// never deleted.
	UnusedDynamicClientTTL time.Duration
}

// Defaults of Batch and MaxBatches: one pass deletes up to a million rows
// a kind, fifty at a time (a millisecond or two of SQLite's writer each).
const (
	DefaultBatch      = 50
	DefaultMaxBatches = 20000
)

// Result counts what one pass did.
type Result struct {
	Expired, Purged, Deleted, UnusedClients int
}

// RunOnce does every chore until each has nothing left (or MaxBatches).
func (j *Janitor) RunOnce(ctx context.Context) (Result, error) {
	now := time.Now().UTC()
	if j.Now != nil {
		now = j.Now().UTC()
	}
	batch := j.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	maxBatches := j.MaxBatches
	if maxBatches <= 0 {
		maxBatches = DefaultMaxBatches
	}
	var res Result
	for _, chore := range []struct {
		fn    func(context.Context, time.Time, int) (int, error)
		count *int
	}{
		// Expire before purging, so that a connection whose consent and
		// retention both passed still reports consent_expired first.
		{j.Store.ExpireConsents, &res.Expired},
		{j.Store.PurgeConnections, &res.Purged},
		{j.Store.DeleteExpired, &res.Deleted},
		{j.deleteUnusedClients, &res.UnusedClients},
	} {
		for range maxBatches {
			t0 := time.Now()
			n, err := chore.fn(ctx, now, batch)
			*chore.count += n
			if err != nil {
				return res, err
			}
			// DeleteExpired counts rows over several kinds; stop when a
			// batch did not fill.
			if n < batch {
				break
			}
			// Yield the store for as long as the batch held it.
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(time.Since(t0)):
			}
		}
	}
	return res, nil
}

// deleteUnusedClients deletes dynamically registered clients older than
// UnusedDynamicClientTTL that never obtained a token: open registration
// must not grow the client table for ever.
func (j *Janitor) deleteUnusedClients(ctx context.Context, now time.Time, limit int) (int, error) {
	if j.UnusedDynamicClientTTL <= 0 {
		return 0, nil
	}
	n, err := j.Store.DeleteUnusedClients(ctx, clients.MetadataRegistration, clients.MetadataDynamic, now.Add(-j.UnusedDynamicClientTTL), limit)
	if err != nil || n >= limit {
		return n, err
	}
	// Clients made from metadata documents, which any request naming a URL
	// makes, likewise.
	m, err := j.Store.DeleteUnusedClients(ctx, clients.MetadataRegistration, clients.MetadataDocument, now.Add(-j.UnusedDynamicClientTTL), limit-n)
	return n + m, err
}

// Run calls RunOnce every interval until ctx is done.
func (j *Janitor) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := j.RunOnce(ctx)
		if err != nil && ctx.Err() == nil && j.Logger != nil {
			j.Logger.Error("janitor pass failed", "cause", err.Error())
		}
		if j.Logger != nil && (res.Expired > 0 || res.Purged > 0 || res.Deleted > 0 || res.UnusedClients > 0) {
			j.Logger.Info("janitor pass", "consents_expired", res.Expired, "connections_purged", res.Purged,
				"records_deleted", res.Deleted, "unused_clients_deleted", res.UnusedClients)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
