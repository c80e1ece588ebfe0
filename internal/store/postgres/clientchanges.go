package postgres

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// clientChannel is the channel migration 0004's triggers notify with
// "schema id" when a client changes or goes.
const clientChannel = "grantd_clients"

// listenRetry is how long the listener waits before it connects again;
// listenSteady how long it must have listened for its next failure to be
// a new outage (logged again).
const (
	listenRetry  = time.Second
	listenSteady = time.Minute
)

// clientListener makes the client cache forget what other instances
// change: it LISTENs on its own connection (outside the pool, which it
// would take a connection from) and forgets each client notified. While it
// is not connected, notifications are lost: after each (re)connection it
// forgets every client, and in between the cache's TTL bounds how late a
// change is seen, as without it.
type clientListener struct {
	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{}
}

// listenForClientChanges starts the listener once (at the first GetClient:
// a CLI command that reads no client opens no second connection).
func (s *Store) listenForClientChanges() {
	s.listener.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.listener.cancel, s.listener.done = cancel, make(chan struct{})
		go func() {
			defer close(s.listener.done)
			// One warning an outage, and one line when it ends: an outage
			// ends once the listener has listened for listenSteady, so a
			// connection that something keeps cutting (an idle timeout)
			// does not log twice a cycle.
			var warned, relistened bool
			for {
				var up time.Time
				err := s.listenOnce(ctx, func() {
					up = time.Now()
					if warned && !relistened {
						s.log.Info("postgres: listening for client changes again")
						relistened = true
					}
				})
				if ctx.Err() != nil {
					return
				}
				if !up.IsZero() && time.Since(up) >= listenSteady {
					warned, relistened = false, false
				}
				if !warned {
					s.log.Warn("postgres: not listening for client changes; clients cached here may lag other instances' changes by up to the client cache TTL until it comes back",
						"cause", err.Error(), "retry", listenRetry.String())
					warned = true
				}
				s.clients.ForgetAll() // what was missed while not listening
				select {
				case <-ctx.Done():
					return
				case <-time.After(listenRetry):
				}
			}
		}()
	})
}

// stopListening stops the listener, if it runs, and waits for it.
func (s *Store) stopListening() {
	s.listener.once.Do(func() {}) // never start after Close
	if s.listener.cancel != nil {
		s.listener.cancel()
		<-s.listener.done
	}
}

// listenOnce connects, listens (then calls listening) and forgets the
// clients notified until the connection fails or ctx ends, and says why.
func (s *Store) listenOnce(ctx context.Context, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+clientChannel); err != nil {
		return err
	}
	// What changed before LISTEN took effect.
	s.clients.ForgetAll()
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		// "schema id": the id (a UUID) has no space, a schema name may.
		if i := strings.LastIndexByte(n.Payload, ' '); i >= 0 && n.Payload[:i] == schema {
			s.clients.Forget(n.Payload[i+1:])
		}
	}
}
