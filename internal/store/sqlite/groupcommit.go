package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit. Every write transaction goes to one writer goroutine,
// which runs the transactions waiting at that moment in one SQLite
// transaction, each inside its own savepoint, and commits once: the WAL
// is written and synced once per batch instead of once per token. A caller
// is answered only after the batch's commit, so what it was told is on
// disk survives kill -9; a transaction that fails rolls back to its
// savepoint and fails alone; a failed commit fails the whole batch.
//
// A lone transaction (no other waiting) runs as before, without a
// savepoint: group commit costs nothing when there is no concurrency, and
// under load each commit carries every transaction that queued during the
// one before it (measured in docs/benchmarks.md).

// maxBatch bounds a batch: a transaction waits at most for this many
// others' work before its commit.
const maxBatch = 64

type writeReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	err  error
	pan  any // a panic of fn, raised again in the caller
	done chan struct{}
}

type groupWriter struct {
	db   *sql.DB
	reqs chan *writeReq
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// largest is the largest batch run so far (tests).
	largest atomic.Int64
}

func newGroupWriter(db *sql.DB) *groupWriter {
	g := &groupWriter{db: db, reqs: make(chan *writeReq), stop: make(chan struct{})}
	g.wg.Go(g.loop)
	return g
}

// errClosed answers a write after Close.
var errClosed = errors.New("sqlite: store closed")

// do runs fn in a write transaction of the next batch and reports its
// result once the batch is committed (or fn's failure).
func (g *groupWriter) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return mapErr(err)
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return mapErr(ctx.Err())
	case <-g.stop:
		return errClosed
	}
	// Once queued, wait for the answer even if ctx ends: fn may already
	// be committed, and the caller must not be told otherwise.
	<-r.done
	if r.pan != nil {
		panic(r.pan)
	}
	return r.err
}

// close stops the writer after the batch it is running.
func (g *groupWriter) close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}

func (g *groupWriter) loop() {
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		case <-g.stop:
			return
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		if n := int64(len(batch)); n > g.largest.Load() {
			g.largest.Store(n)
		}
		g.run(batch)
		for _, r := range batch {
			close(r.done)
		}
		clear(batch)
	}
}

// run runs a batch in one transaction.
func (g *groupWriter) run(batch []*writeReq) {
	// The batch's transaction is no caller's: one caller going away must
	// not roll back the others'. Each fn's statements use its own ctx.
	tx, err := g.db.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			r.err = mapErr(err)
		}
		return
	}
	if len(batch) == 1 {
		r := batch[0]
		if r.err = g.call(r, tx); r.err != nil || r.pan != nil {
			tx.Rollback()
			return
		}
		r.err = mapErr(tx.Commit())
		return
	}
	ran := false
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = mapErr(err)
			continue
		}
		sp := fmt.Sprintf("g%d", i)
		if _, err := tx.Exec("SAVEPOINT " + sp); err != nil {
			r.err = mapErr(err)
			continue
		}
		if r.err = g.call(r, tx); r.err != nil || r.pan != nil {
			_, err1 := tx.Exec("ROLLBACK TO " + sp)
			_, err2 := tx.Exec("RELEASE " + sp)
			if err1 != nil || err2 != nil {
				// The transaction is in no state to go on: fail everything.
				tx.Rollback()
				for _, o := range batch {
					if o.err == nil && o.pan == nil {
						o.err = mapErr(errors.Join(err1, err2))
					}
				}
				return
			}
			continue
		}
		if _, err := tx.Exec("RELEASE " + sp); err != nil {
			r.err = mapErr(err)
			continue
		}
		ran = true
	}
	if !ran {
		tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		for _, r := range batch {
			if r.err == nil && r.pan == nil {
				r.err = mapErr(err)
			}
		}
	}
}

// call runs r's fn, catching a panic for its caller.
func (g *groupWriter) call(r *writeReq, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.pan = p
			err = nil
		}
	}()
	return r.fn(tx)
}
