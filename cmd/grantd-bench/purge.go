package main

import (
	"context"
	"path/filepath"
	"time"
)

// The purge measurement: client credentials (opaque: a write per token,
// as the janitor's deletes are) at a fixed rate, so that its latency shows
// the janitor's and not the machine's saturation.
const (
	purgeConns = 16
	purgeRate  = 1000
	// purgeBound ends the purge window even when rows are left.
	purgeBound = 3 * time.Minute
)

// purgeReport is the janitor's purge of expired rows under load: the
// same load on the seeded store before the rows were added (idle), and
// from the restart with them until none is left (purge).
type purgeReport struct {
	Rows     int           `json:"rows"`
	SeedTime time.Duration `json:"seed_ns"`
	Idle     result        `json:"idle"`
	Purge    result        `json:"purge"`
	// Took is from ready to no expired row left (the bound when Left).
	Took time.Duration `json:"took_ns"`
	Left bool          `json:"left"`
}

// measurePurge measures idle on the running grantd g (the seeded store),
// stops it, adds rows expired access-token rows, starts grantd again with
// a janitor pass every second (a pass deletes up to 100 batches of 1000
// rows a kind), and measures the same load until the janitor has purged
// them all.
func measurePurge(ctx context.Context, bin, dir string, o options, g *process, t *grantdTarget) (*purgeReport, error) {
	f := clientCredentials("opaque", "")
	l := load{conns: purgeConns, rate: purgeRate, warmup: o.warmup, duration: max(o.duration, 5*time.Second)}
	w, err := f.prepare(ctx, t, l.conns)
	if err != nil {
		return nil, err
	}
	rep := &purgeReport{Rows: o.expired}
	if rep.Idle, err = run(ctx, "idle", "grantd-seeded", l, w, nil); err != nil {
		return nil, err
	}
	g.stop()
	data := filepath.Join(dir, "data")
	if rep.SeedTime, err = seed(ctx, data, o.store, scale{Expired: o.expired}); err != nil {
		return nil, err
	}
	g3, adm3, err := startGrantd(ctx, bin, dir, o.store, o.logLevel, "--janitor-interval", "1s")
	if err != nil {
		return nil, err
	}
	defer g3.stop()
	start := time.Now()
	if w, err = f.prepare(ctx, &grantdTarget{url: g3.url, admin: adm3, codes: o.codes}, l.conns); err != nil {
		return nil, err
	}
	l.warmup, l.duration = 0, purgeBound
	rep.Left = true
	l.done = func() bool {
		left, err := expiredLeft(ctx, data, o.store)
		if err == nil && !left {
			rep.Left = false
			return true
		}
		return false
	}
	if rep.Purge, err = run(ctx, "purge", "grantd-seeded", l, w, nil); err != nil {
		return nil, err
	}
	rep.Took = time.Since(start)
	return rep, nil
}
