package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// maxInsertBatch bounds the access tokens one INSERT carries (13
// parameters each: PostgreSQL allows 65535).
const maxInsertBatch = 64

// batchTimeout bounds one batch's INSERT.
const batchTimeout = 2 * time.Second

// errClosed answers an insert after Close.
var errClosed = errors.New("postgres: store closed")

// tokenInserts batches the access-token inserts of decisions that lock
// nothing and write nothing else (opaque client-credentials tokens):
// the inserts waiting at one moment go to PostgreSQL as one multi-row
// INSERT, one statement and so one transaction and one commit for all of
// them, where each alone costs a round trip and a commit (the WAL flush).
// Each caller is answered after the commit, so a token answered is
// durable as before. When the batch fails (a foreign key: a client
// deleted meanwhile), each of its inserts runs again alone and gets its own
// answer; one the batch may have committed (its reply lost) is found
// there (insertAccessTokenAgain). A few workers (GOMAXPROCS, at least 2)
// send batches at once: while one waits for PostgreSQL, the next fills.
type tokenInserts struct {
	s    *Store
	ch   chan *tokenInsert
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// refused counts the batches (one row or more) run again row by row.
	refused atomic.Int64
	// insertBatch inserts a batch (insertAccessTokens; tests replace it).
	insertBatch func(ctx context.Context, q querier, batch []*tokenInsert) error
}

type tokenInsert struct {
	ctx context.Context
	t   *store.AccessToken
	err chan error // buffered: the worker never waits for the caller
}

func newTokenInserts(s *Store) *tokenInserts {
	b := &tokenInserts{s: s, ch: make(chan *tokenInsert), stop: make(chan struct{}), insertBatch: insertAccessTokens}
	for range max(2, runtime.GOMAXPROCS(0)) {
		b.wg.Go(b.loop)
	}
	return b
}

// insert stores t, batched with the inserts waiting beside it, and
// returns once it is committed (or ctx ends: it may then commit still).
func (b *tokenInserts) insert(ctx context.Context, t *store.AccessToken) error {
	p := &tokenInsert{ctx: ctx, t: t, err: make(chan error, 1)}
	select {
	case b.ch <- p:
	case <-b.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the workers once the batches under way are answered.
func (b *tokenInserts) close() {
	b.once.Do(func() { close(b.stop) })
	b.wg.Wait()
}

func (b *tokenInserts) loop() {
	batch := make([]*tokenInsert, 0, maxInsertBatch)
	for {
		select {
		case p := <-b.ch:
			batch = append(batch[:0], p)
		case <-b.stop:
			return
		}
	more:
		for len(batch) < maxInsertBatch {
			select {
			case p := <-b.ch:
				batch = append(batch, p)
			default:
				break more
			}
		}
		b.run(batch)
	}
}

// run inserts a batch, leaving out the callers that went away (their
// tokens were never delivered), and answers each caller.
func (b *tokenInserts) run(batch []*tokenInsert) {
	live := batch[:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.err <- err
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	// The batch's statement is no caller's: one caller's ctx ending must
	// not roll back the others'. It is bounded all the same: a row lock
	// one client's insert waits for (its client being deleted) must not
	// hold every other client's tokens, nor Close, for long; past the
	// bound the batch runs again row by row, each on its caller's ctx.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), batchTimeout)
	defer cancel()
	err := retry(ctx, func() error { return b.insertBatch(ctx, b.s.pool, live) })
	if err == nil {
		for _, p := range live {
			p.err <- nil
		}
		return
	}
	// Without PostgreSQL's own error (the connection lost, the bound
	// passed) the batch may have committed all the same: a row then
	// already there with this token's values is this insert's, done.
	unknown := !isPgError(err)
	if len(live) == 1 && !unknown {
		live[0].err <- err
		return
	}
	b.refused.Add(1)
	for _, p := range live {
		p.err <- retry(p.ctx, func() error { return insertAccessTokenAgain(p.ctx, b.s.pool, p.t, unknown) })
	}
}

// insertAccessTokenAgain inserts t once more after its batch failed. When
// the batch's outcome is unknown, a row of t's ID (a token's 256-bit hash
// or a UUID: never another token's) with t's client and issue time is t's
// own, committed by the batch.
func insertAccessTokenAgain(ctx context.Context, q querier, t *store.AccessToken, unknown bool) error {
	err := insertAccessToken(ctx, q, t)
	if !unknown || !errors.Is(err, store.ErrConflict) {
		return err
	}
	var client string
	var created time.Time
	if e := q.QueryRow(ctx, `SELECT client_id, created_at FROM access_tokens WHERE id = $1`, t.ID).Scan(&client, nullTime{&created}); e != nil {
		return err // gone meanwhile (its client deleted), or unreadable: the conflict stands
	}
	if client != t.ClientID || !created.Equal(stored(t.CreatedAt)) {
		return err
	}
	return nil
}

// insertAccessTokens inserts the batch's tokens in one statement.
func insertAccessTokens(ctx context.Context, q querier, batch []*tokenInsert) error {
	if len(batch) == 1 {
		return insertAccessToken(ctx, q, batch[0].t)
	}
	var sql strings.Builder
	sql.WriteString(`INSERT INTO access_tokens (` + accessTokenCols + `) VALUES `)
	args := make([]any, 0, 13*len(batch))
	for i, p := range batch {
		if i > 0 {
			sql.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&sql, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)",
			n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11, n+12, n+13)
		args = append(args, accessTokenArgs(p.t)...)
	}
	_, err := exec(ctx, q, sql.String(), args...)
	return err
}
