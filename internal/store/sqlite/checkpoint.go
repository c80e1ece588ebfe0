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
// writer's checkpoint finds almost every frame copied already: it costs
// little, and the WAL starts over, so it stays within a few times the
// threshold.

// checkpointEvery is how often the checkpointer runs: at the token rates
// of one machine the WAL stays a few megabytes.
const checkpointEvery = 250 * time.Millisecond

// writerCheckpointPages is the writer's automatic checkpoint threshold:
// 4096 pages of 4 KiB, 16 MiB of WAL. A variable for the test, which
// makes it small.
var writerCheckpointPages = 4096

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
