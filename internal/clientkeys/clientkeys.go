// Package clientkeys fetches the JWK Set a client registered by URL
// (jwks_uri, RFC 7591 §2), for private_key_jwt client authentication (RFC
// 7523): cached, fetched again when an assertion names an unknown kid (the
// client rotated its keys), and guarded, since the URL is the client's to
// choose and dynamic registration is open to anyone.
//
// The guard, against server-side request forgery and against grantd being
// made to hammer a URL:
//
//   - CheckURL, before any DNS: https only, a host and no userinfo or
//     fragment, at most 2048 bytes, an IP literal only if public.
//   - At dial time, in the net.Dialer's Control, on the very address being
//     connected to (after DNS, so DNS rebinding cannot slip a private
//     address past a check made earlier): loopback, private, link-local
//     (cloud metadata at 169.254.169.254 among them), CGNAT, multicast,
//     unspecified, reserved, documentation and benchmarking addresses are
//     refused, IPv4-mapped, NAT64 and 6to4 IPv6 forms judged by the IPv4
//     address they carry. The refusal comes before any TLS or byte sent.
//   - No proxy from the environment, and no redirect followed.
//   - Each fetch bounded in time (Options.Timeout) and size
//     (Options.MaxBytes), whoever waits for it.
//   - Per URL, at most one fetch at a time (concurrent callers share it),
//     a refresh at most once per Options.MinRefresh, and after a failed
//     fetch no other one for Options.MinRefresh; a cache bounded in entries
//     (Options.MaxEntries) and in bytes (64 MiB of response bodies).
//
// Options.AllowPrivate lifts the address checks and allows plain http, for
// tests and --dev.
//
// The package logs nothing; its errors (*Error) never quote the response.
package clientkeys

import (
	"container/list"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Defaults of Options.
const (
	DefaultTimeout    = 5 * time.Second
	DefaultMaxBytes   = 256 << 10
	DefaultTTL        = 5 * time.Minute
	DefaultMinRefresh = 30 * time.Second
	// MaxStale is how long past its TTL a set is still served while its
	// URL fails (a network error, a timeout, a 5xx): long enough to ride
	// out an outage of the client's key server, short enough that keys it
	// can no longer publish stop working.
	MaxStale          = time.Hour
	DefaultMaxEntries = 10000

	// maxCacheBytes bounds the cache by the size of the bodies its sets
	// were parsed from, whatever MaxEntries says: the sets of a few
	// thousand URLs each serving MaxBytes would otherwise fill the heap.
	// Real sets are a few KiB; at that size MaxEntries binds first.
	maxCacheBytes = 64 << 20
)

// Options configure a Fetcher. The zero value is the production setting.
type Options struct {
	// AllowPrivate lets the fetcher reach loopback, private (RFC 1918, RFC
	// 4193), link-local, CGNAT (100.64/10), unspecified and other
	// non-public addresses, and plain http; off by default. Tests and
	// --dev set it.
	AllowPrivate bool
	// Timeout bounds a whole fetch: DNS, connection, TLS, request and
	// reading the body. 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxBytes bounds a response body. 0 means DefaultMaxBytes.
	MaxBytes int64
	// TTL is how long a fetched set is served from the cache. 0 means
	// DefaultTTL.
	TTL time.Duration
	// MinRefresh is how often, at most, a URL is fetched again on refresh
	// (an unknown kid) while its set is fresh, and after a failed fetch. 0
	// means DefaultMinRefresh.
	MinRefresh time.Duration
	// MaxEntries bounds the cache: past it, the URL fetched least recently
	// is forgotten. 0 means DefaultMaxEntries. (The cache is also bounded
	// to 64 MiB of the response bodies its sets came from.)
	MaxEntries int
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// Transport, for tests only; nil means the guarded one. A Transport
	// given here bypasses the dial-time address guard (CheckURL and the
	// refusal of redirects still apply).
	Transport http.RoundTripper
}

// Fetcher fetches and caches JWK Sets by URL. The zero value is not usable;
// use New. A Fetcher is safe for concurrent use.
type Fetcher struct {
	allowPrivate  bool
	timeout       time.Duration
	maxBytes      int64
	ttl           time.Duration
	minRefresh    time.Duration
	maxEntries    int
	maxCacheBytes int
	now           func() time.Time
	client        *http.Client

	mu       sync.Mutex
	entries  map[string]*entry
	lru      list.List // of *entry, least recently fetched first
	bytes    int       // sum of the entries' sizes
	inflight map[string]*call
}

// entry is what the cache knows of a URL.
type entry struct {
	uri       string
	set       *jose.JSONWebKeySet // last good set; nil if none yet
	fetched   time.Time           // when set's fetch started
	attempted time.Time           // when the last fetch ended, good or not
	err       *Error              // the last fetch's failure; nil if it succeeded
	size      int                 // length of the body set was parsed from
	elem      *list.Element
}

// call is a fetch in flight, shared by whoever asks for its URL meanwhile.
type call struct {
	done    chan struct{} // closed when set and err are
	set     *jose.JSONWebKeySet
	err     *Error
	waiters int // callers that joined (for tests)
}

// New returns a Fetcher configured by o.
func New(o Options) *Fetcher {
	f := &Fetcher{
		allowPrivate:  o.AllowPrivate,
		timeout:       or(o.Timeout, DefaultTimeout),
		maxBytes:      or(o.MaxBytes, DefaultMaxBytes),
		ttl:           or(o.TTL, DefaultTTL),
		minRefresh:    or(o.MinRefresh, DefaultMinRefresh),
		maxEntries:    or(o.MaxEntries, DefaultMaxEntries),
		maxCacheBytes: maxCacheBytes,
		now:           o.Now,
		entries:       make(map[string]*entry),
		inflight:      make(map[string]*call),
	}
	if f.now == nil {
		f.now = time.Now
	}
	rt := o.Transport
	if rt == nil {
		rt = newTransport(f.timeout, f.allowPrivate)
	}
	f.client = &http.Client{
		Transport:     rt,
		Timeout:       f.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
	}
	return f
}

// or is v, or def when v is not positive.
func or[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Keys returns the JWK Set at uri: from the cache while fresh (TTL),
// fetched otherwise. refresh asks for a fetch even when cached (the caller
// met an unknown kid); it is honoured at most once per MinRefresh per URL,
// the cached set returned otherwise. Concurrent calls for one URL share one
// fetch. A fetch that fails while a set is cached returns the cached set
// (stale-if-error, for at most MaxStale past its TTL; a server that answers
// an empty set or a 4xx has withdrawn its keys, and the cached set is
// dropped), and the URL is not fetched again for MinRefresh; a
// failure with nothing cached is an error, and is returned again, without
// a fetch, for MinRefresh.
//
// ctx bounds how long Keys waits: when it ends first, Keys returns the
// cached set if there is one, an error otherwise. The fetch itself is
// bounded by Timeout and runs to its end even when its callers are gone,
// so that its result is cached (a caller hanging up cannot make grantd
// fetch again and again).
//
// The set returned holds only public signing keys; its Keys slice is the
// caller's, the keys themselves are shared and must not be modified.
// Errors are *Error.
func (f *Fetcher) Keys(ctx context.Context, uri string, refresh bool) (*jose.JSONWebKeySet, error) {
	if err := f.CheckURL(uri); err != nil {
		return nil, err
	}
	f.mu.Lock()
	e := f.entries[uri]
	if set, err, ok := f.cached(e, refresh); ok {
		f.mu.Unlock()
		return result(set, err)
	}
	if err := ctx.Err(); err != nil {
		defer f.mu.Unlock()
		return f.staleOr(uri, err)
	}
	c := f.inflight[uri]
	if c == nil {
		c = &call{done: make(chan struct{})}
		f.inflight[uri] = c
		go f.run(context.WithoutCancel(ctx), uri, c)
	}
	c.waiters++
	f.mu.Unlock()

	select {
	case <-c.done:
		return result(c.set, c.err)
	case <-ctx.Done():
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.staleOr(uri, ctx.Err())
	}
}

// staleOr is what Keys returns when ctx ends (with err) before a fetch
// does: the cached set if there is one. f.mu is held.
func (f *Fetcher) staleOr(uri string, err error) (*jose.JSONWebKeySet, error) {
	if e := f.entries[uri]; e != nil && f.usable(e) {
		return copySet(e.set), nil
	}
	return nil, contextError(err)
}

// cached reports whether a call for e's URL is answered without a fetch,
// and with what. f.mu is held.
func (f *Fetcher) cached(e *entry, refresh bool) (*jose.JSONWebKeySet, *Error, bool) {
	if e == nil {
		return nil, nil, false
	}
	now := f.now()
	fresh := e.set != nil && now.Before(e.fetched.Add(f.ttl))
	if fresh && !refresh {
		return e.set, nil, true
	}
	// Fetched a moment ago: a refresh waits, and so does a fetch after a
	// failure (stale-if-error, or the failure again).
	if now.Before(e.attempted.Add(f.minRefresh)) && (fresh || e.err != nil) {
		if f.usable(e) {
			return e.set, nil, true
		}
		if e.err != nil {
			return nil, e.err, true
		}
	}
	return nil, nil, false
}

// run fetches uri for c, records the outcome in the cache and hands it to
// c's waiters.
func (f *Fetcher) run(ctx context.Context, uri string, c *call) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	start := f.now()
	set, size, err := f.fetch(ctx, uri)

	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[uri]
	if e == nil {
		e = &entry{uri: uri}
		e.elem = f.lru.PushBack(e)
		f.entries[uri] = e
	} else {
		f.lru.MoveToBack(e.elem)
	}
	e.attempted = f.now()
	e.err = err
	if authoritative(err) {
		// The client's server answered that it has no keys (an empty set,
		// a 4xx): keys it withdrew stop working now.
		f.bytes -= e.size
		e.set, e.size = nil, 0
	}
	if err == nil {
		f.bytes += size - e.size
		e.set, e.fetched, e.size = set, start, size
	}
	// Evict the least recently fetched, never e itself.
	for len(f.entries) > f.maxEntries || f.bytes > f.maxCacheBytes && len(f.entries) > 1 {
		old := f.lru.Remove(f.lru.Front()).(*entry)
		delete(f.entries, old.uri)
		f.bytes -= old.size
	}
	c.set, c.err = e.set, nil
	if !f.usable(e) {
		c.set, c.err = nil, err
	}
	delete(f.inflight, uri)
	close(c.done)
}

// usable reports whether e's set may be served: fresh, or stale by at most
// MaxStale past its TTL. f.mu is held.
func (f *Fetcher) usable(e *entry) bool {
	return e.set != nil && f.now().Before(e.fetched.Add(f.ttl+MaxStale))
}

// authoritative reports whether a failed fetch is the client's server
// saying it has no keys, rather than failing: then no cached set is served.
func authoritative(err *Error) bool {
	return err != nil && (err.Kind == KindNoKeys || (err.Kind == KindStatus && err.Status >= 400 && err.Status < 500))
}

// result is a call's outcome as Keys returns it.
func result(set *jose.JSONWebKeySet, err *Error) (*jose.JSONWebKeySet, error) {
	if err != nil {
		return nil, err
	}
	return copySet(set), nil
}

func copySet(s *jose.JSONWebKeySet) *jose.JSONWebKeySet {
	return &jose.JSONWebKeySet{Keys: slices.Clone(s.Keys)}
}

func contextError(err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return newError(KindTimeout, "the caller's deadline passed", err)
	}
	return newError(KindCanceled, "", err)
}
