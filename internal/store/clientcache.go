package store

import (
	"bytes"
	"maps"
	"slices"
	"sync"
	"time"
)

// Client cache defaults (see ClientCache).
const (
	// DefaultClientCacheTTL is how long a backend answers GetClient from
	// memory: the bound on how late a change made by another process (a
	// CLI command beside a running server, another instance) is seen.
	DefaultClientCacheTTL = time.Second
	// ClientCacheSize bounds the clients kept: about 1 KiB each.
	ClientCacheSize = 4096
)

// ClientCache keeps recently read clients in memory for a backend's
// GetClient, so that the token endpoint's client lookup is not a store
// read per request. The backend, the one place that writes clients, calls
// Forget (or ForgetAll) after every write that changes one, so the
// process that wrote sees its change at once; other processes see it
// within the TTL.
//
// Only clients whose every field is settled are cached: a metered client
// (its balance changes with every token) and one that has not yet
// obtained its first token (the first token sets FirstTokenAt) are read
// from the store each time, so Writes.Charge and Writes.FirstTokenOf need
// not forget anything. Misses are not cached: a client created anywhere is
// found at once.
//
// The zero value is ready, with DefaultClientCacheTTL; a TTL of zero or
// less turns the cache off.
type ClientCache struct {
	mu  sync.RWMutex
	ttl time.Duration
	set bool // ttl was set
	// gen counts ForgetAlls and forgets[id] the Forgets of id: a read that
	// began before one is not kept, so a load racing a write cannot put
	// the old row back. Per id, so that forgetting one client (a wrong
	// secret, a notice) does not throw away the loads of all the others.
	gen     uint64
	forgets map[string]uint64
	m       map[string]cachedClient
	now     func() time.Time // nil = time.Now
}

type cachedClient struct {
	c       Client
	expires time.Time
}

// SetTTL sets how long a client is kept; <= 0 turns the cache off and
// empties it.
func (cc *ClientCache) SetTTL(ttl time.Duration) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.ttl, cc.set = ttl, true
	cc.gen++
	clear(cc.m)
	clear(cc.forgets)
}

// TTL is how long a client is kept (<= 0: not at all).
func (cc *ClientCache) TTL() time.Duration {
	cc.mu.RLock()
	defer cc.mu.RUnlock()
	return cc.ttlLocked()
}

func (cc *ClientCache) ttlLocked() time.Duration {
	if !cc.set {
		return DefaultClientCacheTTL
	}
	return cc.ttl
}

func (cc *ClientCache) clock() time.Time {
	if cc.now != nil {
		return cc.now()
	}
	return time.Now()
}

// Get returns the client id from memory when a copy younger than the TTL
// is there, else load's answer, which it keeps when the client may be
// cached and nothing was forgotten while load ran. The caller gets a copy
// of its own: changing it changes nothing kept.
func (cc *ClientCache) Get(id string, load func() (Client, error)) (Client, error) {
	cc.mu.RLock()
	ttl := cc.ttlLocked()
	e, hit := cc.m[id]
	gen, idGen := cc.gen, cc.forgets[id]
	cc.mu.RUnlock()
	if ttl <= 0 {
		return load()
	}
	now := cc.clock()
	if hit && now.Before(e.expires) {
		return e.c.clone(), nil
	}
	c, err := load()
	if err != nil || c.Metered || c.FirstTokenAt.IsZero() {
		return c, err
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.gen != gen || cc.forgets[id] != idGen {
		return c, nil
	}
	if cc.m == nil {
		cc.m = make(map[string]cachedClient)
	}
	if _, ok := cc.m[id]; !ok && len(cc.m) >= ClientCacheSize {
		cc.evictLocked(now)
	}
	cc.m[id] = cachedClient{c: c.clone(), expires: now.Add(ttl)}
	return c, nil
}

// evictLocked makes room: every expired entry goes, and when none had
// expired, one entry (the map's iteration order picks which).
func (cc *ClientCache) evictLocked(now time.Time) {
	n := len(cc.m)
	maps.DeleteFunc(cc.m, func(_ string, e cachedClient) bool { return !now.Before(e.expires) })
	if len(cc.m) < n {
		return
	}
	for id := range cc.m {
		delete(cc.m, id)
		return
	}
}

// Forget drops the client id, after a write that changed it (or may
// have); a load under way when Forget is called is not kept.
func (cc *ClientCache) Forget(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.forgets) >= 4*ClientCacheSize {
		// Bounded: starting the counts over is a ForgetAll's worth of
		// caution for the loads under way.
		cc.gen++
		clear(cc.forgets)
	}
	if cc.forgets == nil {
		cc.forgets = make(map[string]uint64)
	}
	cc.forgets[id]++
	delete(cc.m, id)
}

// ForgetAll drops every client, after a write whose clients are not known
// one by one (a bulk delete, an import, a re-seal of every client).
func (cc *ClientCache) ForgetAll() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	clear(cc.m)
	clear(cc.forgets)
}

// clone is a deep copy of c: nothing of it shares memory with c.
func (c Client) clone() Client {
	c.SecretHash = bytes.Clone(c.SecretHash)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.ResponseTypes = slices.Clone(c.ResponseTypes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.Scopes = slices.Clone(c.Scopes)
	c.WebhookSecret = bytes.Clone(c.WebhookSecret)
	c.Metadata = maps.Clone(c.Metadata)
	c.PreviousSecretHash = bytes.Clone(c.PreviousSecretHash)
	c.RegistrationTokenHash = bytes.Clone(c.RegistrationTokenHash)
	if c.OperatingHours != nil {
		h := *c.OperatingHours
		h.Weekly = maps.Clone(h.Weekly)
		for day, spans := range h.Weekly {
			h.Weekly[day] = slices.Clone(spans)
		}
		h.ClosedDates = slices.Clone(h.ClosedDates)
		c.OperatingHours = &h
	}
	return c
}
