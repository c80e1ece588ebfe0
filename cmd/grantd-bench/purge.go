package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
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
// same load on the seeded store before the rows are added (idle) and
// while the janitor purges them (purge), both with the info log.
type purgeReport struct {
	Rows     int           `json:"rows"`
	SeedTime time.Duration `json:"seed_ns"`
	Purge    result        `json:"purge"`
	Idle     result        `json:"idle"`
	// Took is from ready to the janitor's pass that deleted them all (the
	// bound when Left).
	Took time.Duration `json:"took_ns"`
	Left bool          `json:"left"`
}

// measurePurge restarts g with its info log (where each janitor pass says
// what it deleted) and measures the load (idle); stops it, adds o.expired
// expired access-token rows to its store, starts grantd again with a
// janitor pass every second (a pass deletes up to a million rows a kind)
// and measures the same load until the janitor reports them deleted.
// Both runs pay for the info log's line a request. (Idle is not measured
// after the purge: the checkpoints of a million deletes are still running
// then.)
func measurePurge(ctx context.Context, bin, dir string, o options, g *process) (*purgeReport, error) {
	g.stop()
	rep := &purgeReport{Rows: o.expired}
	f := clientCredentials("opaque", "")
	gi, admi, err := startGrantd(ctx, bin, dir, o.store, "info")
	if err != nil {
		return nil, err
	}
	w, err := f.prepare(ctx, &grantdTarget{url: gi.url, admin: admi, codes: o.codes}, purgeConns)
	if err == nil {
		rep.Idle, err = run(ctx, "idle", "grantd-seeded", load{conns: purgeConns, rate: purgeRate, warmup: o.warmup,
			duration: max(o.duration, 5*time.Second)}, w, nil)
	}
	gi.stop()
	if err != nil {
		return nil, err
	}
	if rep.SeedTime, err = seed(ctx, filepath.Join(dir, "data"), o.store, scale{Expired: o.expired}); err != nil {
		return nil, err
	}
	g3, adm3, err := startGrantd(ctx, bin, dir, o.store, "info", "--janitor-interval", "1s")
	if err != nil {
		return nil, err
	}
	defer g3.stop()
	start := time.Now()
	w, err = f.prepare(ctx, &grantdTarget{url: g3.url, admin: adm3, codes: o.codes}, purgeConns)
	if err != nil {
		return nil, err
	}
	l := load{conns: purgeConns, rate: purgeRate, duration: purgeBound}
	rep.Left = true
	jl := &janitorLog{path: filepath.Join(dir, "grantd.log")}
	l.done = func() bool {
		if jl.read() >= o.expired {
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

// janitorLog follows grantd's JSON log and sums the records the
// janitor's passes say they deleted; each call reads only what was
// written since the last.
type janitorLog struct {
	path    string
	off     int64
	deleted int
}

func (j *janitorLog) read() int {
	f, err := os.Open(j.path)
	if err != nil {
		return j.deleted
	}
	defer f.Close()
	if _, err := f.Seek(j.off, io.SeekStart); err != nil {
		return j.deleted
	}
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return j.deleted // a partial line is read again next time
		}
		j.off += int64(len(line))
		if !bytes.Contains(line, []byte(`"janitor pass"`)) {
			continue
		}
		var pass struct {
			Deleted int `json:"records_deleted"`
		}
		if json.Unmarshal(line, &pass) == nil {
			j.deleted += pass.Deleted
		}
	}
}
