package policy

import (
	"context"
	"sync"
	"time"
)

// DefaultMaxKeys bounds an in-process limiter or attempts store when its
// constructor is given 0.
const DefaultMaxKeys = 100_000

// MemoryLimiter is the in-process Limiter: GCRA cells in a bounded map,
// safe for concurrent use. A cell is forgotten once it is rested (what a
// rested cell and an unknown key allow is the same), expired cells are
// swept at most once a minute, and at maxKeys a new key evicts, of a sample
// of eight, the cell that rests first: that key then starts rested, a
// little early. It runs on the caller's clock.
type MemoryLimiter struct {
	cells table[tats]
}

// tats are a key's theoretical arrival times (µs): the rate window's and
// the day's.
type tats struct{ r, d int64 }

var _ Limiter = (*MemoryLimiter)(nil)

// NewMemoryLimiter returns an empty in-process limiter that keeps at most
// maxKeys keys (0 = DefaultMaxKeys).
func NewMemoryLimiter(maxKeys int) *MemoryLimiter {
	return &MemoryLimiter{cells: newTable[tats](maxKeys)}
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, key string, t Tier, now time.Time) (Decision, error) {
	rate, day := t.windows()
	if rate.t == 0 && day.t == 0 {
		return Decision{Allowed: true}, nil
	}
	us := now.UnixMicro()
	l.cells.mu.Lock()
	defer l.cells.mu.Unlock()
	s := l.cells.get(key, us)
	r, ro := rate.take(s.r, us)
	d, do := day.take(s.d, us)
	if ro.ok && do.ok {
		l.cells.put(key, tats{r, d}, max(r, d), us)
	}
	return decide(rate, day, ro, do), nil
}

// MemoryAttempts is the in-process Attempts: the guard's counts in a
// bounded map, as MemoryLimiter keeps its cells; safe for concurrent use.
type MemoryAttempts struct {
	counts table[record]
}

var _ Attempts = (*MemoryAttempts)(nil)

// NewMemoryAttempts returns an empty in-process attempts store that keeps
// at most maxKeys keys (0 = DefaultMaxKeys).
func NewMemoryAttempts(maxKeys int) *MemoryAttempts {
	return &MemoryAttempts{counts: newTable[record](maxKeys)}
}

// Standing implements Attempts.
func (m *MemoryAttempts) Standing(_ context.Context, clientID, address string, now time.Time) (Standing, error) {
	us := now.UnixMicro()
	k := keysOf(clientID, address)
	m.counts.mu.Lock()
	defer m.counts.mu.Unlock()
	return Standing{
		Address: m.counts.get(k.address, us).count(),
		Client:  m.counts.get(k.client, us).count(),
		Failed:  m.counts.get(k.pair, us).expires > us,
	}, nil
}

// Fail implements Attempts.
func (m *MemoryAttempts) Fail(_ context.Context, clientID, address string, now time.Time, addr, client Lockout) error {
	us := now.UnixMicro()
	k := keysOf(clientID, address)
	m.counts.mu.Lock()
	defer m.counts.mu.Unlock()
	a := addr.micros().fail(m.counts.get(k.address, us), us)
	m.counts.put(k.address, a, a.expires, us)
	c := client.micros().fail(m.counts.get(k.client, us), us)
	m.counts.put(k.client, c, c.expires, us)
	p := record{expires: c.expires}
	m.counts.put(k.pair, p, p.expires, us)
	return nil
}

// Clear implements Attempts.
func (m *MemoryAttempts) Clear(_ context.Context, clientID, address string) error {
	m.counts.mu.Lock()
	defer m.counts.mu.Unlock()
	delete(m.counts.m, keysOf(clientID, address).pair)
	return nil
}

// table is a bounded map of values that expire on the caller's clock (µs),
// for the in-process stores. Callers hold mu around get and put.
type table[V any] struct {
	mu      sync.Mutex
	m       map[string]entry[V]
	max     int
	sweepAt int64
}

type entry[V any] struct {
	v       V
	expires int64
}

// sweepEvery is how often (µs) a table drops its expired entries.
const sweepEvery = 60e6

// evictionSample is how many entries a full table compares to choose the
// one to evict.
const evictionSample = 8

func newTable[V any](maxKeys int) table[V] {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return table[V]{m: make(map[string]entry[V]), max: maxKeys}
}

// get returns the value of key, or the zero value when it is absent or
// expired at now.
func (t *table[V]) get(key string, now int64) V {
	e, ok := t.m[key]
	if !ok || e.expires <= now {
		var zero V
		return zero
	}
	return e.v
}

// put stores v under key until expires. Once a minute it drops the expired
// entries; a new key in a full table evicts the sampled entry that expires
// first (map iteration starts at a random place).
func (t *table[V]) put(key string, v V, expires, now int64) {
	if now >= t.sweepAt {
		for k, e := range t.m {
			if e.expires <= now {
				delete(t.m, k)
			}
		}
		t.sweepAt = now + sweepEvery
	}
	if _, ok := t.m[key]; !ok && len(t.m) >= t.max {
		victim, first, n := "", int64(0), 0
		for k, e := range t.m {
			if n == 0 || e.expires < first {
				victim, first = k, e.expires
			}
			if n++; n == evictionSample {
				break
			}
		}
		delete(t.m, victim)
	}
	t.m[key] = entry[V]{v: v, expires: expires}
}
