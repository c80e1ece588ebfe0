package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Checkpoints off the writer. SQLite's automatic checkpoint runs in the
// connection that commits once the WAL passes 1000 pages: the writer then
// copies pages into the database and syncs it while every token request
// waits behind it, the 100-400 ms spikes that were most of the tail under
// load. A connection of its own runs a PASSIVE checkpoint every
// checkpointEvery, which never waits for or blocks the writer or the
// readers (a frame a reader still uses is left to the next one).
//
// The writer keeps an automatic checkpoint, at writerCheckpointPages: only
// a writer can restart the WAL from its beginning, which it does when it
// finds every frame checkpointed, and under writes that never pause the
// background checkpoint never quite catches up (a 1M-row import grew the
// WAL to 4.7 GB with the writer's checkpoint off). Past the threshold the
// writer's checkpoint finds almost every frame copied already, and the WAL
// starts over, so it stays within a few times the threshold. It still
// syncs the database while requests wait: at 4096 pages, the janitor
// purging expired rows under load (grantd-bench --scale) passed it every
// few seconds and the p99 of client credentials went from 4 to 40 ms; at
// 65536 (256 MiB) the same purge kept it at 6-9 ms. The WAL file keeps
// the size it grew to (SQLite reuses it from its start); a
// journal_size_limit that cut it back after each restart was measured and
// left out: its truncations put 80-140 ms maxima into every run.

// checkpointEvery is how often the checkpointer runs: at the token rates
// of one machine the WAL stays a few megabytes.
const checkpointEvery = 250 * time.Millisecond

// writerCheckpointPages is the writer's automatic checkpoint threshold:
// 65536 pages of 4 KiB, 256 MiB of WAL. A variable for the test, which
// makes it small.
var writerCheckpointPages = 65536

type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// startCheckpointer runs checkpoints on a connection of dsn's database.
func startCheckpointer(dsn string) *checkpointer {
	db := openCached(dsn)
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, stop: make(chan struct{})}
	c.wg.Go(func() {
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				// An error (a busy database) leaves the work to the next
				// tick; the WAL is never lost, only longer.
				c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
			case <-c.stop:
				return
			}
		}
	})
	return c
}

// close stops the checkpointer; the writer's close checkpoints what is
// left (the last connection to close does).
func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
	return c.db.Close()
}
