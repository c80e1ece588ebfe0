package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// fakeClock is a settable clock for a ClientCache.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

func cachedTestClient(id string) Client {
	return Client{ID: id, Name: "n", SecretHash: Hash("s"), GrantTypes: []string{"client_credentials"},
		Scopes: []string{"a", "b"}, Metadata: map[string]string{"k": "v"},
		OperatingHours: &Schedule{TimeZone: "UTC", Weekly: map[string][]string{"mon": {"09:00-17:00"}}},
		FirstTokenAt:   time.Unix(1, 0)}
}

// loader counts the loads of a client whose name it returns.
type loader struct {
	n    int
	c    Client
	err  error
	hook func() // runs inside the load
}

func (l *loader) load() (Client, error) {
	l.n++
	if l.hook != nil {
		l.hook()
	}
	return l.c, l.err
}

func TestClientCache(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	newCache := func() *ClientCache { return &ClientCache{now: clock.now} }

	t.Run("HitWithinTTL", func(t *testing.T) {
		cc := newCache()
		l := &loader{c: cachedTestClient("a")}
		for range 3 {
			if _, err := cc.Get("a", l.load); err != nil {
				t.Fatal(err)
			}
		}
		if l.n != 1 {
			t.Errorf("3 gets within the TTL loaded %d times, want 1", l.n)
		}
		clock.t = clock.t.Add(DefaultClientCacheTTL)
		if _, err := cc.Get("a", l.load); err != nil || l.n != 2 {
			t.Errorf("a get at the TTL: loads %d (want 2), %v", l.n, err)
		}
	})
	t.Run("Forget", func(t *testing.T) {
		cc := newCache()
		l := &loader{c: cachedTestClient("a")}
		cc.Get("a", l.load)
		cc.Forget("a")
		l.c.Name = "changed"
		got, _ := cc.Get("a", l.load)
		if got.Name != "changed" || l.n != 2 {
			t.Errorf("after Forget: %q, %d loads; want the stored client, 2 loads", got.Name, l.n)
		}
		cc.ForgetAll()
		cc.Get("a", l.load)
		if l.n != 3 {
			t.Errorf("after ForgetAll: %d loads, want 3", l.n)
		}
	})
	t.Run("ForgetsDuringALoad", func(t *testing.T) {
		// Each case forgets while client a's row is being read, then gets a
		// again: a load raced by a forget of a (a write committing) or by
		// ForgetAll is not kept; one raced by another client's forget (a
		// wrong secret for it) is.
		for _, tc := range []struct {
			name   string
			forget func(*ClientCache)
			loads  int
		}{
			{"Forget(a)", func(cc *ClientCache) { cc.Forget("a") }, 2},
			{"Forget(b)", func(cc *ClientCache) { cc.Forget("b") }, 1},
			{"ForgetAll", func(cc *ClientCache) { cc.ForgetAll() }, 2},
		} {
			cc := newCache()
			l := &loader{c: cachedTestClient("a")}
			l.hook = func() { tc.forget(cc) }
			cc.Get("a", l.load)
			l.hook = nil
			cc.Get("a", l.load)
			if l.n != tc.loads {
				t.Errorf("a load raced by %s: %d loads for 2 gets, want %d", tc.name, l.n, tc.loads)
			}
		}
	})
	t.Run("ForgetsAreBounded", func(t *testing.T) {
		cc := newCache()
		for i := range 5 * ClientCacheSize {
			cc.Forget(fmt.Sprint(i))
		}
		if n := len(cc.forgets); n > 4*ClientCacheSize {
			t.Errorf("%d forget counts kept, want at most %d", n, 4*ClientCacheSize)
		}
	})
	t.Run("Unsettled", func(t *testing.T) {
		cc := newCache()
		for name, c := range map[string]Client{
			"metered":        func() Client { c := cachedTestClient("m"); c.Metered = true; return c }(),
			"no first token": func() Client { c := cachedTestClient("f"); c.FirstTokenAt = time.Time{}; return c }(),
		} {
			l := &loader{c: c}
			cc.Get(c.ID, l.load)
			cc.Get(c.ID, l.load)
			if l.n != 2 {
				t.Errorf("%s client: %d loads for 2 gets, want 2 (not cached)", name, l.n)
			}
		}
	})
	t.Run("ErrorsAreNotKept", func(t *testing.T) {
		cc := newCache()
		l := &loader{err: ErrNotFound}
		for range 2 {
			if _, err := cc.Get("x", l.load); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get: %v, want ErrNotFound", err)
			}
		}
		if l.n != 2 {
			t.Errorf("a miss was cached: %d loads for 2 gets", l.n)
		}
	})
	t.Run("CopiesAreTheCallers", func(t *testing.T) {
		cc := newCache()
		l := &loader{c: cachedTestClient("a")}
		first, _ := cc.Get("a", l.load)
		first.Scopes[0] = "x"
		first.SecretHash[0] ^= 1
		first.Metadata["k"] = "x"
		first.OperatingHours.Weekly["mon"][0] = "x"
		got, _ := cc.Get("a", l.load)
		want := cachedTestClient("a")
		if got.Scopes[0] != "a" || got.SecretHash[0] != want.SecretHash[0] || got.Metadata["k"] != "v" ||
			got.OperatingHours.Weekly["mon"][0] != "09:00-17:00" {
			t.Errorf("a caller's change reached the cache: %+v", got)
		}
		// The loader's own value is not kept either.
		l.c.Scopes[1] = "y"
		if got, _ := cc.Get("a", l.load); got.Scopes[1] != "b" {
			t.Errorf("the loaded value is shared with the cache: %v", got.Scopes)
		}
	})
	t.Run("Off", func(t *testing.T) {
		cc := newCache()
		cc.SetTTL(0)
		l := &loader{c: cachedTestClient("a")}
		cc.Get("a", l.load)
		cc.Get("a", l.load)
		if l.n != 2 || cc.TTL() != 0 {
			t.Errorf("TTL 0: %d loads for 2 gets (TTL %s), want 2", l.n, cc.TTL())
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		cc := newCache()
		for i := range ClientCacheSize + 10 {
			id := fmt.Sprint(i)
			l := &loader{c: cachedTestClient(id)}
			cc.Get(id, l.load)
		}
		if n := len(cc.m); n > ClientCacheSize {
			t.Errorf("%d clients kept, want at most %d", n, ClientCacheSize)
		}
		// Expired entries go first.
		clock.t = clock.t.Add(time.Hour)
		l := &loader{c: cachedTestClient("new")}
		cc.Get("new", l.load)
		if n := len(cc.m); n != 1 {
			t.Errorf("after the TTL, a new client left %d kept, want 1 (every expired one evicted)", n)
		}
	})
}

func BenchmarkClientCacheHit(b *testing.B) {
	cc := &ClientCache{}
	l := &loader{c: cachedTestClient("a")}
	cc.Get("a", l.load)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cc.Get("a", l.load); err != nil {
			b.Fatal(err)
		}
	}
}
