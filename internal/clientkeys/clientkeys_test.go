package clientkeys

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keys are generated once: an EC, an RSA and an Ed25519 key pair.
type testKeys struct {
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
	ed  ed25519.PrivateKey
}

var genKeys = sync.OnceValue(func() testKeys {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{ec: ec, rsa: rk, ed: ed}
})

// publicKeys are the public halves, as JWKs with kids "ec", "rsa", "ed".
func publicKeys() []jose.JSONWebKey {
	k := genKeys()
	return []jose.JSONWebKey{
		{Key: k.ec.Public(), KeyID: "ec", Algorithm: "ES256", Use: "sig"},
		{Key: k.rsa.Public(), KeyID: "rsa", Algorithm: "PS256"},
		{Key: k.ed.Public(), KeyID: "ed", Algorithm: "EdDSA", Use: "sig"},
	}
}

// setJSON marshals keys as a JWK Set with go-jose.
func setJSON(t testing.TB, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keyJSON marshals one key as a JWK object.
func keyJSON(t testing.TB, k jose.JSONWebKey) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawSet is a JWK Set of the given JWK objects, as is.
func rawSet(keys ...json.RawMessage) []byte {
	b, err := json.Marshal(map[string][]json.RawMessage{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// server is a plain-http test server counting requests, whose handler can
// be swapped.
type server struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	h      http.HandlerFunc
	accept atomic.Value // the last request's Accept header
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{h: h}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.accept.Store(r.Header.Get("Accept"))
		s.mu.Lock()
		h := s.h
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) handle(h http.HandlerFunc) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

func serve(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}
}

func failWith(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "MARKER failure body", code)
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newFetcher is a Fetcher that may reach the test servers, on clk.
func newFetcher(o Options, clk *clock) *Fetcher {
	o.AllowPrivate = true
	if clk != nil {
		o.Now = clk.Now
	}
	return New(o)
}

func kids(set *jose.JSONWebKeySet) string {
	var ks []string
	for _, k := range set.Keys {
		ks = append(ks, k.KeyID)
	}
	return strings.Join(ks, ",")
}

func mustKeys(t *testing.T, f *Fetcher, uri string, refresh bool) *jose.JSONWebKeySet {
	t.Helper()
	set, err := f.Keys(context.Background(), uri, refresh)
	if err != nil {
		t.Fatalf("Keys(%s, %v): %v", uri, refresh, err)
	}
	return set
}

func wantKind(t *testing.T, err error, k Kind) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want a *Error of kind %q", err, err, k)
	}
	if e.Kind != k {
		t.Fatalf("error %q is of kind %q, want %q", err, e.Kind, k)
	}
	return e
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDefaults(t *testing.T) {
	f := New(Options{})
	if f.timeout != 5*time.Second || f.maxBytes != 256<<10 || f.ttl != 5*time.Minute ||
		f.minRefresh != 30*time.Second || f.maxEntries != 10000 || f.allowPrivate || f.now == nil {
		t.Fatalf("defaults: %+v", f)
	}
	tr, ok := f.client.Transport.(*http.Transport)
	if !ok || tr.Proxy != nil {
		t.Fatalf("transport %T: want an *http.Transport without a proxy", f.client.Transport)
	}
}

func TestFetchAndCache(t *testing.T) {
	clk := newClock()
	enc := jose.JSONWebKey{Key: genKeys().ec.Public(), KeyID: "enc", Use: "enc"}
	s := newServer(t, serve(setJSON(t, append(publicKeys(), enc)...)))
	f := newFetcher(Options{}, clk)

	set := mustKeys(t, f, s.URL+"/jwks", false)
	if got := kids(set); got != "ec,rsa,ed" {
		t.Fatalf("kids %q, want the signing keys ec,rsa,ed (enc dropped)", got)
	}
	if _, ok := set.Keys[0].Key.(*ecdsa.PublicKey); !ok {
		t.Errorf("key ec is %T", set.Keys[0].Key)
	}
	if _, ok := set.Keys[1].Key.(*rsa.PublicKey); !ok {
		t.Errorf("key rsa is %T", set.Keys[1].Key)
	}
	if _, ok := set.Keys[2].Key.(ed25519.PublicKey); !ok {
		t.Errorf("key ed is %T", set.Keys[2].Key)
	}
	if got := s.accept.Load(); got != "application/jwk-set+json, application/json" {
		t.Errorf("Accept %q", got)
	}

	// The caller's slice is its own.
	set.Keys[0] = jose.JSONWebKey{}
	clk.Advance(4 * time.Minute)
	if got := kids(mustKeys(t, f, s.URL+"/jwks", false)); got != "ec,rsa,ed" {
		t.Fatalf("second call: kids %q", got)
	}
	if n := s.hits.Load(); n != 1 {
		t.Fatalf("%d requests, want 1 (the second call served from the cache)", n)
	}
}

func TestTTLExpiry(t *testing.T) {
	clk := newClock()
	s := newServer(t, serve(setJSON(t, publicKeys()...)))
	f := newFetcher(Options{TTL: time.Minute}, clk)

	mustKeys(t, f, s.URL, false)
	clk.Advance(59 * time.Second)
	mustKeys(t, f, s.URL, false)
	if n := s.hits.Load(); n != 1 {
		t.Fatalf("%d requests before the TTL, want 1", n)
	}
	s.handle(serve(setJSON(t, publicKeys()[1])))
	clk.Advance(time.Second)
	if got := kids(mustKeys(t, f, s.URL, false)); got != "rsa" {
		t.Fatalf("after the TTL: kids %q, want the new set", got)
	}
	if n := s.hits.Load(); n != 2 {
		t.Fatalf("%d requests after the TTL, want 2", n)
	}
}

func TestRefresh(t *testing.T) {
	clk := newClock()
	keys := publicKeys()
	s := newServer(t, serve(setJSON(t, keys[0])))
	f := newFetcher(Options{MinRefresh: 30 * time.Second}, clk)

	mustKeys(t, f, s.URL, false)
	// The client rotates its key.
	s.handle(serve(setJSON(t, keys[1])))

	// Just fetched: a refresh is not honoured yet.
	clk.Advance(10 * time.Second)
	if got := kids(mustKeys(t, f, s.URL, true)); got != "ec" {
		t.Fatalf("refresh within MinRefresh: kids %q, want the cached ec", got)
	}
	if n := s.hits.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}

	clk.Advance(20 * time.Second)
	if got := kids(mustKeys(t, f, s.URL, true)); got != "rsa" {
		t.Fatalf("refresh after MinRefresh: kids %q, want the rotated rsa", got)
	}
	for range 5 {
		mustKeys(t, f, s.URL, true)
		clk.Advance(time.Second)
	}
	mustKeys(t, f, s.URL, false)
	if n := s.hits.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (one refresh per MinRefresh)", n)
	}
	clk.Advance(25 * time.Second)
	mustKeys(t, f, s.URL, true)
	if n := s.hits.Load(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
}

func TestConcurrentCallsShareOneFetch(t *testing.T) {
	release := make(chan struct{})
	body := setJSON(t, publicKeys()...)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write(body)
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	f := newFetcher(Options{Timeout: 30 * time.Second}, nil)

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			set, err := f.Keys(context.Background(), s.URL, false)
			if err == nil && kids(set) != "ec,rsa,ed" {
				err = fmt.Errorf("kids %q", kids(set))
			}
			errs <- err
		})
	}
	eventually(t, "all callers to join the fetch, and it to reach the server", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		c := f.inflight[s.URL]
		return c != nil && c.waiters == n && s.hits.Load() >= 1
	})
	if got := s.hits.Load(); got != 1 {
		t.Fatalf("%d requests while the fetch blocks, want 1", got)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := s.hits.Load(); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
}

func TestStaleIfError(t *testing.T) {
	clk := newClock()
	s := newServer(t, serve(setJSON(t, publicKeys()...)))
	f := newFetcher(Options{TTL: time.Minute, MinRefresh: 30 * time.Second}, clk)
	mustKeys(t, f, s.URL, false)

	for _, h := range []http.HandlerFunc{failWith(http.StatusInternalServerError), serve([]byte("MARKER not json"))} {
		s.handle(h)
		before := s.hits.Load()
		clk.Advance(2 * time.Minute)
		if got := kids(mustKeys(t, f, s.URL, false)); got != "ec,rsa,ed" {
			t.Fatalf("after a failed refetch: kids %q, want the cached set", got)
		}
		if n := s.hits.Load(); n != before+1 {
			t.Fatalf("%d requests, want %d", n, before+1)
		}
		// Failed a moment ago: no other fetch for MinRefresh, refresh or not.
		clk.Advance(10 * time.Second)
		mustKeys(t, f, s.URL, false)
		mustKeys(t, f, s.URL, true)
		if n := s.hits.Load(); n != before+1 {
			t.Fatalf("%d requests right after a failure, want %d", n, before+1)
		}
		clk.Advance(20 * time.Second)
		mustKeys(t, f, s.URL, false)
		if n := s.hits.Load(); n != before+2 {
			t.Fatalf("%d requests MinRefresh after a failure, want %d", n, before+2)
		}
	}
}

func TestFailureWithNothingCached(t *testing.T) {
	clk := newClock()
	s := newServer(t, failWith(http.StatusServiceUnavailable))
	f := newFetcher(Options{MinRefresh: 30 * time.Second}, clk)

	_, err := f.Keys(context.Background(), s.URL, false)
	if e := wantKind(t, err, KindStatus); e.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d", e.Status)
	}
	// The failure is remembered for MinRefresh.
	clk.Advance(10 * time.Second)
	_, err = f.Keys(context.Background(), s.URL, true)
	wantKind(t, err, KindStatus)
	if n := s.hits.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	s.handle(serve(setJSON(t, publicKeys()...)))
	clk.Advance(20 * time.Second)
	mustKeys(t, f, s.URL, false)
	if n := s.hits.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestEviction(t *testing.T) {
	clk := newClock()
	var mu sync.Mutex
	hits := map[string]int{}
	body := setJSON(t, publicKeys()...)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		w.Write(body)
	})
	f := newFetcher(Options{MaxEntries: 2}, clk)
	hitsOf := func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		return hits[p]
	}

	mustKeys(t, f, s.URL+"/a", false)
	mustKeys(t, f, s.URL+"/b", false)
	mustKeys(t, f, s.URL+"/c", false) // evicts a
	f.mu.Lock()
	n := len(f.entries)
	f.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	mustKeys(t, f, s.URL+"/b", false) // cached: does not make b recent
	if hitsOf("/b") != 1 {
		t.Fatalf("b fetched %d times, want 1", hitsOf("/b"))
	}
	mustKeys(t, f, s.URL+"/a", false) // fetched again; evicts b
	if hitsOf("/a") != 2 {
		t.Fatalf("a fetched %d times, want 2", hitsOf("/a"))
	}
	mustKeys(t, f, s.URL+"/c", false)
	mustKeys(t, f, s.URL+"/b", false)
	if hitsOf("/c") != 1 || hitsOf("/b") != 2 {
		t.Fatalf("c fetched %d times (want 1), b %d (want 2)", hitsOf("/c"), hitsOf("/b"))
	}
}

func TestEvictionBySize(t *testing.T) {
	body := setJSON(t, publicKeys()...)
	s := newServer(t, serve(body))
	f := newFetcher(Options{}, nil)
	f.maxCacheBytes = 2*len(body) + len(body)/2
	for _, p := range []string{"/a", "/b", "/c", "/d"} {
		mustKeys(t, f, s.URL+p, false)
	}
	f.mu.Lock()
	n, size := len(f.entries), f.bytes
	_, hasC := f.entries[s.URL+"/c"]
	_, hasD := f.entries[s.URL+"/d"]
	f.mu.Unlock()
	if n != 2 || size != 2*len(body) || !hasC || !hasD {
		t.Fatalf("%d entries of %d bytes (c %v, d %v); want the last 2, of %d bytes", n, size, hasC, hasD, 2*len(body))
	}
}

func TestRefusals(t *testing.T) {
	k := genKeys()
	pub := publicKeys()
	padded := []byte(`{"keys":[],"pad":"MARKER` + strings.Repeat("x", 5000) + `"}`)
	cases := []struct {
		name string
		h    http.HandlerFunc
		kind Kind
	}{
		{"over MaxBytes with a Content-Length", serve(padded), KindTooLarge},
		{"over MaxBytes chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write(padded[:3000])
			w.(http.Flusher).Flush()
			w.Write(padded[3000:])
		}, KindTooLarge},
		{"404", failWith(http.StatusNotFound), KindStatus},
		{"500", failWith(http.StatusInternalServerError), KindStatus},
		{"201 with a good set", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.Write(setJSON(t, pub...))
		}, KindStatus},
		{"not JSON", serve([]byte("MARKER <html>")), KindMalformed},
		{"a JSON array", serve([]byte(`["MARKER"]`)), KindMalformed},
		{"keys not an array", serve([]byte(`{"keys":"MARKER"}`)), KindMalformed},
		{"trailing garbage", serve(append(setJSON(t, pub...), "MARKER"...)), KindMalformed},
		{"empty set", serve([]byte(`{"keys":[]}`)), KindNoKeys},
		{"no keys member", serve([]byte(`{"MARKER":1}`)), KindNoKeys},
		{"only encryption keys", serve(setJSON(t, jose.JSONWebKey{Key: k.ec.Public(), KeyID: "MARKER", Use: "enc"})), KindNoKeys},
		{"only unknown key types", serve([]byte(`{"keys":[{"kty":"MARKER","kid":"MARKER"}]}`)), KindNoKeys},
		{"private EC key", serve(setJSON(t, pub[1], jose.JSONWebKey{Key: k.ec, KeyID: "MARKER"})), KindBadKey},
		{"private RSA key", serve(setJSON(t, jose.JSONWebKey{Key: k.rsa, KeyID: "MARKER"})), KindBadKey},
		{"private Ed25519 key", serve(setJSON(t, jose.JSONWebKey{Key: k.ed, KeyID: "MARKER"})), KindBadKey},
		{"public RSA key with a stray private member", serve(rawSet(
			json.RawMessage(strings.Replace(string(keyJSON(t, pub[1])), `"kty"`, `"p":"MARKER","kty"`, 1)))), KindBadKey},
		{"symmetric key", serve(setJSON(t, pub[0], jose.JSONWebKey{Key: []byte("MARKER-0123456789abcdef"), KeyID: "MARKER"})), KindBadKey},
		{"symmetric key without k", serve([]byte(`{"keys":[{"kty":"oct","kid":"MARKER"}]}`)), KindBadKey},
		{"EC point off the curve", serve(rawSet(json.RawMessage(
			`{"kty":"EC","crv":"P-256","kid":"MARKER","x":"AQ","y":"Ag"}`))), KindBadKey},
		{"no kty", serve([]byte(`{"keys":[{"kid":"MARKER","x":"AQ"}]}`)), KindBadKey},
		{"kty not a string", serve([]byte(`{"keys":[{"kty":7,"kid":"MARKER"}]}`)), KindBadKey},
		{"key not an object", serve([]byte(`{"keys":["MARKER"]}`)), KindBadKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, c.h)
			f := newFetcher(Options{MaxBytes: 4096}, nil)
			set, err := f.Keys(context.Background(), s.URL, false)
			if set != nil {
				t.Fatalf("got a set (%q), want an error", kids(set))
			}
			wantKind(t, err, c.kind)
			if strings.Contains(err.Error(), "MARKER") {
				t.Fatalf("error %q quotes the response", err)
			}
		})
	}
}

func TestUnknownKeyTypeSkipped(t *testing.T) {
	s := newServer(t, serve(rawSet(
		json.RawMessage(`{"kty":"PQ-FUTURE","kid":"future"}`),
		json.RawMessage(`{"kty":"OKP","crv":"X25519","kid":"x","x":"AQ"}`),
		keyJSON(t, publicKeys()[0]),
	)))
	f := newFetcher(Options{}, nil)
	if got := kids(mustKeys(t, f, s.URL, false)); got != "ec" {
		t.Fatalf("kids %q, want ec", got)
	}
}

func TestRedirectRefused(t *testing.T) {
	target := newServer(t, serve(setJSON(t, publicKeys()...)))
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/jwks", http.StatusFound)
	})
	f := newFetcher(Options{}, nil)
	_, err := f.Keys(context.Background(), s.URL, false)
	wantKind(t, err, KindRedirect)
	if n := target.hits.Load(); n != 0 {
		t.Fatalf("the redirect was followed: %d requests to its target", n)
	}
}

// blocker is a handler that hangs until the request ends or release is
// called; the test's cleanup releases it.
func blocker(t *testing.T, before func(http.ResponseWriter)) (h http.HandlerFunc, release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			before(w)
		}
		select {
		case <-ch:
		case <-r.Context().Done():
		}
	}, release
}

func TestTimeout(t *testing.T) {
	for _, c := range []struct {
		name   string
		before func(http.ResponseWriter)
	}{
		{"no answer", nil},
		{"a body that stalls", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte(`{"keys":[`))
			w.(http.Flusher).Flush()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _ := blocker(t, c.before)
			s := newServer(t, h)
			const timeout = 300 * time.Millisecond
			f := newFetcher(Options{Timeout: timeout}, nil)
			start := time.Now()
			_, err := f.Keys(context.Background(), s.URL, false)
			wantKind(t, err, KindTimeout)
			if d := time.Since(start); d > timeout+5*time.Second {
				t.Fatalf("took %v, want about %v", d, timeout)
			}
		})
	}
}

func TestCallerContext(t *testing.T) {
	block, release := blocker(t, nil)
	body := setJSON(t, publicKeys()...)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		block(w, r)
		w.Write(body)
	})
	clk := newClock()
	f := newFetcher(Options{Timeout: 30 * time.Second, TTL: time.Minute}, clk)

	// The caller's deadline passes first: Keys returns, the fetch goes on.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.Keys(ctx, s.URL, false)
	if e := wantKind(t, err, KindTimeout); !errors.Is(e, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap context.DeadlineExceeded", err)
	}
	// A canceled context does not start a fetch.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	_, err = f.Keys(cctx, s.URL+"/other", false)
	wantKind(t, err, KindCanceled)

	release()
	eventually(t, "the fetch to end", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.inflight) == 0
	})
	mustKeys(t, f, s.URL, false)
	if n := s.hits.Load(); n != 1 {
		t.Fatalf("%d requests, want 1 (the abandoned fetch's result cached)", n)
	}

	// With a set cached, a caller whose deadline passes during a refetch
	// gets the cached set.
	block2, _ := blocker(t, nil)
	s.handle(block2)
	clk.Advance(2 * time.Minute)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	set, err := f.Keys(ctx2, s.URL, false)
	if err != nil || kids(set) != "ec,rsa,ed" {
		t.Fatalf("Keys: %v, %v; want the cached set", set, err)
	}
}

func TestTLSWithTransport(t *testing.T) {
	s := httptest.NewTLSServer(serve(setJSON(t, publicKeys()...)))
	t.Cleanup(s.Close)
	f := New(Options{AllowPrivate: true, Transport: s.Client().Transport})
	if got := kids(mustKeys(t, f, s.URL, false)); got != "ec,rsa,ed" {
		t.Fatalf("kids %q", got)
	}
}

func TestDialGuard(t *testing.T) {
	var conns, hits atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(setJSON(t, publicKeys()...))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	port := netip.MustParseAddrPort(s.Listener.Addr().String()).Port()
	f := New(Options{}) // guarded

	// A host name passes CheckURL; it resolves to loopback, refused when
	// dialed.
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Logf("localhost does not resolve here (%v): skipping the by-name case", err)
	} else {
		uri := fmt.Sprintf("https://localhost:%d/jwks", port)
		if err := f.CheckURL(uri); err != nil {
			t.Fatalf("CheckURL(%s): %v", uri, err)
		}
		_, err := f.Keys(context.Background(), uri, false)
		wantKind(t, err, KindNotPublic)
		if !strings.Contains(err.Error(), "not public") {
			t.Fatalf("error %q does not say the address is not public", err)
		}
	}

	// An IP literal is refused before any DNS or dialing, by CheckURL;
	// past CheckURL, the dial guard refuses it too.
	_, err := f.Keys(context.Background(), s.URL, false)
	wantKind(t, err, KindNotPublic)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, ferr := f.fetch(ctx, s.URL); ferr == nil || ferr.Kind != KindNotPublic {
		t.Fatalf("fetch(%s) past CheckURL: %v, want KindNotPublic", s.URL, ferr)
	}

	if c, h := conns.Load(), hits.Load(); c != 0 || h != 0 {
		t.Fatalf("%d connections, %d requests reached the server; want none", c, h)
	}

	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:443", false},
		{"[::1]:443", false},
		{"[::ffff:169.254.169.254]:80", false},
		{"10.0.0.1:443", false},
		{"[fe80::1%eth0]:443", false},
		{"not an address", false},
		{"8.8.8.8:443", true},
		{"[2606:4700::1]:443", true},
	} {
		if err := dialGuard("tcp", c.addr, nil); (err == nil) != c.ok {
			t.Errorf("dialGuard(%s): %v, want allowed %v", c.addr, err, c.ok)
		}
	}
}

func TestCheckURL(t *testing.T) {
	long := "https://keys.example.com/" + strings.Repeat("a", MaxURLLen)
	guarded, open := New(Options{}), New(Options{AllowPrivate: true})
	for _, c := range []struct {
		uri           string
		guarded, open bool
	}{
		{"https://keys.example.com/jwks.json", true, true},
		{"https://keys.example.com:8443/.well-known/jwks.json?client=1", true, true},
		{"https://KEYS.Example.COM./jwks", true, true},
		{"HTTPS://keys.example.com/jwks", true, true},
		{"https://8.8.8.8/jwks", true, true},
		{"https://[2606:4700::1]/jwks", true, true},
		{"https://under_score.example.com/", true, true},
		// Not an IP literal: resolved, and refused, when dialed.
		{"https://localhost/jwks", true, true},

		{"http://keys.example.com/jwks.json", false, true},
		{"http://127.0.0.1:8080/jwks", false, true},
		{"https://[::1]/", false, true},
		{"https://[::ffff:127.0.0.1]/", false, true},
		{"http://169.254.169.254/", false, true},
		{"https://169.254.169.254/latest/meta-data/", false, true},
		{"https://10.0.0.1/", false, true},
		{"https://100.64.0.1/", false, true},
		{"https://0.0.0.0/", false, true},
		{"https://[2001:db8::1]/", false, true},
		{"https://[64:ff9b::a00:1]/", false, true},
		{"https://[fe80::1%25eth0]/", false, true},

		{"https://user:pass@keys.example.com/jwks", false, false},
		{"https://@keys.example.com/jwks", false, false},
		{"https://keys.example.com/jwks#frag", false, false},
		{"https://keys.example.com/jwks#", false, false},
		{long, false, false},
		{"", false, false},
		{"keys.example.com/jwks", false, false},
		{"/jwks", false, false},
		{"https:///jwks", false, false},
		{"https:keys.example.com", false, false},
		{"ftp://keys.example.com/jwks", false, false},
		{"file:///etc/passwd", false, false},
		{"https://keys.example.com:0/", false, false},
		{"https://keys.example.com:99999/", false, false},
		{"https://keys.example.com:/", false, false},
		{"https://exa mple.com/", false, false},
		{"https://keys..example.com/", false, false},
		{"https://keys.example.com/\n", false, false},
		{"https://127.1/", false, false},
		{"https://0x7f000001/", false, false},
		{"https://2130706433/", false, false},
		{"https://1.2.3.04/", false, false},
	} {
		for _, f := range []struct {
			f    *Fetcher
			name string
			want bool
		}{{guarded, "guarded", c.guarded}, {open, "AllowPrivate", c.open}} {
			err := f.f.CheckURL(c.uri)
			if (err == nil) != f.want {
				t.Errorf("%s CheckURL(%.80q): %v, want allowed %v", f.name, c.uri, err, f.want)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || (e.Kind != KindBadURL && e.Kind != KindNotPublic) {
					t.Errorf("CheckURL(%.80q): %v is not a KindBadURL or KindNotPublic *Error", c.uri, err)
				}
			}
		}
	}
}

func TestIsPublic(t *testing.T) {
	public := []string{
		"8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.0",
		"172.15.255.255", "172.32.0.0", "192.0.1.1", "192.169.0.1", "198.17.255.255",
		"198.20.0.0", "223.255.255.255", "11.0.0.1",
		"2606:4700::1", "2a00:1450:4001:82a::200e", "2001:4860:4860::8888",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	}
	nonPublic := []string{
		// IPv4
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255",
		"127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1",
		"172.31.255.255", "192.0.0.1", "192.0.0.170", "192.0.2.1", "192.88.99.1", "192.168.1.1",
		"198.18.0.1", "198.19.255.255", "198.51.100.1", "203.0.113.1", "224.0.0.1",
		"239.255.255.250", "240.0.0.1", "255.255.255.255",
		// IPv4-mapped and other IPv6 forms of those
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
		"::ffff:100.64.0.1", "::ffff:192.168.0.1", "::127.0.0.1", "::ffff:0:127.0.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::808:808",
		"2002:7f00:1::1", "2002:a00:1::", "2002:a9fe:a9fe::1",
		// IPv6
		"::", "::1", "fc00::1", "fd12:3456:789a::1", "fe80::1", "fe80::1%eth0", "febf::1",
		"fec0::1", "ff02::1", "ff05::1:3", "100::1", "2001::1", "2001:2::1", "2001:db8::1",
		"3fff::1", "5f00::1", "4000::1",
	}
	for _, s := range public {
		if !isPublic(netip.MustParseAddr(s)) {
			t.Errorf("isPublic(%s) = false, want true", s)
		}
	}
	for _, s := range nonPublic {
		if isPublic(netip.MustParseAddr(s)) {
			t.Errorf("isPublic(%s) = true, want false", s)
		}
	}
	if isPublic(netip.Addr{}) {
		t.Error("isPublic(zero Addr) = true")
	}
}

// TestWithdrawnKeys: a client's server that answers with an empty set or a
// 4xx has withdrawn its keys: the cached set is no longer served. One that
// keeps failing otherwise is served its cached set for MaxStale past the
// TTL, and no longer.
func TestWithdrawnKeys(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"an empty set": serve([]byte(`{"keys":[]}`)),
		"404":          failWith(http.StatusNotFound),
	} {
		clk := newClock()
		s := newServer(t, serve(setJSON(t, publicKeys()...)))
		f := newFetcher(Options{TTL: time.Minute, MinRefresh: 30 * time.Second}, clk)
		mustKeys(t, f, s.URL, false)
		s.handle(h)
		clk.Advance(2 * time.Minute)
		if set, err := f.Keys(t.Context(), s.URL, false); err == nil {
			t.Errorf("%s after a set: %s served, want an error", name, kids(set))
		}
		if set, err := f.Keys(t.Context(), s.URL, true); err == nil {
			t.Errorf("%s, asked again at once: %s served, want the error again", name, kids(set))
		}
	}

	clk := newClock()
	s := newServer(t, serve(setJSON(t, publicKeys()...)))
	f := newFetcher(Options{TTL: time.Minute, MinRefresh: 30 * time.Second}, clk)
	mustKeys(t, f, s.URL, false)
	s.handle(failWith(http.StatusServiceUnavailable))
	clk.Advance(time.Minute + MaxStale - time.Minute)
	mustKeys(t, f, s.URL, false) // stale, within MaxStale
	clk.Advance(2 * time.Minute)
	if set, err := f.Keys(t.Context(), s.URL, false); err == nil {
		t.Errorf("a set stale beyond MaxStale: %s served, want an error", kids(set))
	}
}
