package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/events"
	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/testenv"
)

// The fake clock and the log buffer come from testenv.
type (
	clock      = testenv.Clock
	syncBuffer = testenv.SyncBuffer
)

// call is one request the receiver got.
type call struct {
	path, eventID, eventType, connectionID string
	status                                 int
	header                                 http.Header
	body                                   []byte
}

// receiver is an integrator's webhook endpoint: it verifies every request
// with events.Verify against the secret registered for its path, and
// answers what respond says (200 by default).
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	now func() time.Time

	mu      sync.Mutex
	secrets map[string][]byte // path -> webhook secret
	respond func(n int, eventType string) int
	calls   []call
}

func newReceiver(t *testing.T, now func() time.Time) *receiver {
	r := &receiver{t: t, now: now, secrets: map[string][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	r.mu.Lock()
	secret, respond, n := r.secrets[req.URL.Path], r.respond, len(r.calls)
	r.mu.Unlock()
	c := call{path: req.URL.Path, eventID: req.Header.Get("Grantd-Event-Id"), eventType: req.Header.Get("Grantd-Event-Type"),
		header: req.Header.Clone(), body: body, status: 200}
	if err := events.Verify(secret, req.Header, body, r.now(), time.Minute); err != nil {
		r.t.Errorf("delivery %s: %v", c.eventID, err)
		c.status = 401
	} else if respond != nil {
		c.status = respond(n, c.eventType)
	}
	var payload struct {
		Data struct {
			ConnectionID string `json:"connection_id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &payload)
	c.connectionID = payload.Data.ConnectionID
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	w.WriteHeader(c.status)
}

func (r *receiver) setRespond(f func(n int, eventType string) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = f
}

func (r *receiver) got() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// delivered lists the event types a connection received with a 2xx, in
// order.
func (r *receiver) delivered(connectionID string) []string {
	var out []string
	for _, c := range r.got() {
		if c.connectionID == connectionID && c.status/100 == 2 {
			out = append(out, c.eventType)
		}
	}
	return out
}

// env is the delivery path on real parts: a SQLite file (or a PostgreSQL
// schema), the clients manager with a real sealer, an httptest receiver.
type env struct {
	t       *testing.T
	path    string // of the SQLite file; "" on PostgreSQL
	st      store.Store
	kek     []byte
	clk     *clock
	recv    *receiver
	logs    *syncBuffer
	secrets []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := newEnvOn(t, nil)
	e.path = filepath.Join(t.TempDir(), "grantd.db")
	e.open()
	t.Cleanup(func() { e.st.Close() })
	return e
}

// newEnvOn is an env on st, which the caller closes.
func newEnvOn(t *testing.T, st store.Store) *env {
	clk := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return &env{t: t, st: st, kek: bytes.Repeat([]byte{9}, seal.KeySize),
		clk: clk, recv: newReceiver(t, clk.Now), logs: &syncBuffer{}}
}

func (e *env) open() {
	e.t.Helper()
	st, err := sqlite.Open(context.Background(), e.path)
	if err != nil {
		e.t.Fatalf("open store: %v", err)
	}
	e.st = st
}

// restart closes the store and opens the file again, as a new process would.
func (e *env) restart() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *env) sealer() *seal.Sealer {
	s, err := seal.New(e.kek, "webhook-secret")
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) manager() *clients.Manager {
	return &clients.Manager{Store: e.st, Now: e.clk.Now, Seal: e.sealer().Seal}
}

// worker is a new Worker on the current store, as cmd/grantd builds it, with
// a deterministic back-off.
func (e *env) worker() *events.Worker {
	return &events.Worker{
		Store:   e.st,
		Open:    e.sealer().Open,
		Now:     e.clk.Now,
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute },
	}
}

// client registers a client whose webhook is the receiver at path.
func (e *env) client(path string) string {
	e.t.Helper()
	c, _, secret, err := e.manager().Register(context.Background(), clients.Params{Name: "Acme", WebhookURL: e.recv.srv.URL + path})
	if err != nil {
		e.t.Fatal(err)
	}
	e.recv.mu.Lock()
	e.recv.secrets[path] = []byte(secret)
	e.recv.mu.Unlock()
	e.secrets = append(e.secrets, secret)
	return c.ID
}

// connect creates a connection of clientID the way the core does: with its
// authorization code, which inserts connection.created.
func (e *env) connect(clientID string) string {
	e.t.Helper()
	return e.connectWith(clientID, nil)
}

// connectWith is connect with the connection changed by edit first.
func (e *env) connectWith(clientID string, edit func(*store.Connection)) string {
	e.t.Helper()
	now := e.clk.Now()
	conn := store.Connection{ID: uuid.NewString(), ClientID: clientID, CustomerID: "cust_1", CustomerName: "Ada Lovelace-7431",
		ProviderID: "gusto", Subject: "user-1", Products: []string{"company", "directory"}, ConnectionType: "provider",
		Environment: "sandbox", Status: store.ConnectionActive, CreatedAt: now}
	if edit != nil {
		edit(&conn)
	}
	code := store.AuthCode{Hash: store.Hash(uuid.NewString()), Kind: "code", ClientID: clientID, RedirectURI: "https://acme.example/cb",
		Scopes: conn.Products, Subject: conn.Subject, ConnectionID: conn.ID, GrantID: uuid.NewString(),
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := e.st.CreateAuthCode(context.Background(), code, &conn); err != nil {
		e.t.Fatal(err)
	}
	return conn.ID
}

func (e *env) revoke(connectionID string) {
	e.t.Helper()
	if _, err := e.st.RevokeConnection(context.Background(), connectionID, e.clk.Now()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) events(connectionID string) []store.Event {
	e.t.Helper()
	evs, err := e.st.ListEvents(context.Background(), connectionID)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// runOnce makes one pass and returns how many were delivered.
func runOnce(t *testing.T, w *events.Worker) int {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

// drain makes passes until one delivers nothing, without moving the clock.
func drain(t *testing.T, w *events.Worker) int {
	t.Helper()
	total := 0
	for range 20 {
		n := runOnce(t, w)
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatal("the outbox never drains")
	return 0
}

// checkLogs: no webhook secret and no body in the logs.
func (e *env) checkLogs() {
	e.t.Helper()
	logs := e.logs.String()
	for _, s := range e.secrets {
		if strings.Contains(logs, s) || strings.Contains(logs, s[6:]) {
			e.t.Error("a webhook secret was logged")
		}
	}
	if strings.Contains(logs, "Ada Lovelace") || strings.Contains(logs, `"data"`) {
		e.t.Error("an event body was logged")
	}
}

func TestDeliveryInOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := e.client("/hook")
	a, b := e.connect(client), e.connect(client)
	e.clk.Advance(time.Minute)
	e.revoke(a)
	e.revoke(b)
	w := e.worker()

	// One event per connection per pass: the created ones, then the revoked.
	if n := runOnce(t, w); n != 2 {
		t.Fatalf("first pass delivered %d, want 2", n)
	}
	if n := runOnce(t, w); n != 2 {
		t.Fatalf("second pass delivered %d, want 2", n)
	}
	if n := runOnce(t, w); n != 0 {
		t.Fatalf("third pass delivered %d, want 0", n)
	}
	want := []string{store.EventConnectionCreated, store.EventConnectionRevoked}
	for _, conn := range []string{a, b} {
		if got := e.recv.delivered(conn); !slices.Equal(got, want) {
			t.Errorf("connection %s received %q, want %q", conn, got, want)
		}
	}

	// Each request is the stored event: same id, type and body, signed.
	byID := map[string]call{}
	for _, c := range e.recv.got() {
		byID[c.eventID] = c
	}
	for _, conn := range []string{a, b} {
		for _, ev := range e.events(conn) {
			c, ok := byID[ev.ID]
			if !ok {
				t.Fatalf("event %s never received", ev.ID)
			}
			if ev.DeliveredAt.IsZero() || ev.Failed || ev.Attempts != 0 {
				t.Errorf("event %s recorded as delivered %v failed %v attempts %d", ev.ID, ev.DeliveredAt, ev.Failed, ev.Attempts)
			}
			if !bytes.Equal(c.body, ev.Payload) || c.eventType != ev.Type || c.path != "/hook" {
				t.Errorf("request %s: type %s path %s body %s", ev.ID, c.eventType, c.path, c.body)
			}
			var p struct {
				ID, Type string
				Data     struct {
					ConnectionID string `json:"connection_id"`
					Status       string
				}
			}
			if err := json.Unmarshal(c.body, &p); err != nil || p.ID != ev.ID || p.Type != ev.Type || p.Data.ConnectionID != conn {
				t.Errorf("payload %s: %+v, %v", c.body, p, err)
			}
			if ev.Type == store.EventConnectionRevoked && p.Data.Status != store.ConnectionRevoked {
				t.Errorf("revoked event shows status %q", p.Data.Status)
			}
			h := c.header
			if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") == "" ||
				h.Get("Grantd-Timestamp") != strconv.FormatInt(e.clk.Now().Unix(), 10) ||
				!strings.HasPrefix(h.Get("Grantd-Signature"), "v1=") {
				t.Errorf("headers %v", h)
			}
			// Independently of Verify: the documented scheme.
			ts, _ := strconv.ParseInt(h.Get("Grantd-Timestamp"), 10, 64)
			if h.Get("Grantd-Signature") != hmacHex(e.secrets[0], ts, c.body) {
				t.Errorf("signature %s is not v1=HMAC(secret, ts.body)", h.Get("Grantd-Signature"))
			}
		}
	}
	if _, err := e.st.RevokeConnection(ctx, a, e.clk.Now()); err != nil { // no second event
		t.Fatal(err)
	}
	if n := runOnce(t, w); n != 0 {
		t.Errorf("a second revocation delivered %d", n)
	}
	e.checkLogs()
}

func TestRetryWithBackoff(t *testing.T) {
	e := newEnv(t)
	conn := e.connect(e.client("/hook"))
	start := e.clk.Now()
	e.revoke(conn)
	// The first three attempts fail.
	e.recv.setRespond(func(n int, _ string) int {
		if n < 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	w := e.worker() // back-off: n minutes after the n-th failure

	calls := func() int { return len(e.recv.got()) }
	wantCalls := func(n int) {
		t.Helper()
		if got := calls(); got != n {
			t.Fatalf("receiver called %d times, want %d", got, n)
		}
	}
	runOnce(t, w)
	wantCalls(1)
	evs := e.events(conn)
	if evs[0].Attempts != 1 || !evs[0].NextAttemptAt.Equal(start.Add(time.Minute)) || evs[0].LastError != "HTTP 500" ||
		!evs[0].DeliveredAt.IsZero() {
		t.Fatalf("after a failure: %+v", evs[0])
	}
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		// Not before the back-off: and the revoked event, though due, waits
		// for the created one.
		e.clk.Advance(wait - time.Second)
		if n := runOnce(t, w); n != 0 {
			t.Fatalf("delivered %d before the back-off ended", n)
		}
		wantCalls(i + 1)
		e.clk.Advance(time.Second)
		runOnce(t, w)
		wantCalls(i + 2)
	}
	var types []string
	for _, c := range e.recv.got() {
		types = append(types, c.eventType+" "+strconv.Itoa(c.status))
	}
	want := []string{"connection.created 500", "connection.created 500", "connection.created 500", "connection.created 200"}
	if !slices.Equal(types, want) {
		t.Fatalf("calls %q, want %q", types, want)
	}
	if n := drain(t, w); n != 1 {
		t.Fatalf("then %d delivered, want the revoked event", n)
	}
	if got := e.recv.delivered(conn); !slices.Equal(got, []string{store.EventConnectionCreated, store.EventConnectionRevoked}) {
		t.Errorf("delivered %q", got)
	}
	if ev := e.events(conn)[0]; ev.Attempts != 3 || ev.Failed || ev.DeliveredAt.IsZero() {
		t.Errorf("created event %+v", ev)
	}
	e.checkLogs()
}

func TestGiveUpUnblocksNext(t *testing.T) {
	e := newEnv(t)
	conn := e.connect(e.client("/hook"))
	e.revoke(conn)
	e.recv.setRespond(func(_ int, typ string) int {
		if typ == store.EventConnectionCreated {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	w := e.worker()
	w.MaxAttempts = 3
	for i := range 3 {
		if n := runOnce(t, w); n != 0 {
			t.Fatalf("pass %d delivered %d", i, n)
		}
		e.clk.Advance(time.Duration(i+1) * time.Minute)
	}
	evs := e.events(conn)
	if !evs[0].Failed || evs[0].DeliveredAt.IsZero() || evs[0].Attempts != 3 || evs[0].LastError != "HTTP 503" {
		t.Fatalf("after MaxAttempts: %+v", evs[0])
	}
	if n := runOnce(t, w); n != 1 {
		t.Fatalf("the next event: %d delivered", n)
	}
	if got := e.recv.delivered(conn); !slices.Equal(got, []string{store.EventConnectionRevoked}) {
		t.Errorf("delivered %q", got)
	}
	if len(e.recv.got()) != 4 {
		t.Errorf("%d calls, want 3 failed and 1 delivered", len(e.recv.got()))
	}
	if logs := e.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, evs[0].ID) {
		t.Errorf("no warning names the given-up event:\n%s", logs)
	}
	e.checkLogs()
}

func TestSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	client := e.client("/hook")
	a, b := e.connect(client), e.connect(client)
	e.revoke(a)
	e.revoke(b)
	before := map[string][]store.Event{a: e.events(a), b: e.events(b)}

	// The first process gets one failed attempt in, then stops.
	e.recv.setRespond(func(int, string) int { return http.StatusBadGateway })
	ctx, cancel := context.WithCancel(context.Background())
	w := e.worker()
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if n := len(e.recv.got()); n != 2 {
		t.Fatalf("%d calls before the restart", n)
	}

	// A new process: the store reopened from the file, a new Worker.
	e.restart()
	e.recv.setRespond(nil)
	w2 := e.worker()
	if n := runOnce(t, w2); n != 0 {
		t.Fatalf("delivered %d before the back-off", n)
	}
	e.clk.Advance(time.Minute)
	if n := drain(t, w2); n != 4 {
		t.Fatalf("after the restart, %d delivered, want 4", n)
	}
	for _, conn := range []string{a, b} {
		var ids []string
		for _, c := range e.recv.got() {
			if c.connectionID == conn && c.status == 200 {
				ids = append(ids, c.eventID)
			}
		}
		want := []string{before[conn][0].ID, before[conn][1].ID}
		if !slices.Equal(ids, want) {
			t.Errorf("connection %s: delivered %q, want %q", conn, ids, want)
		}
		for i, ev := range e.events(conn) {
			if !bytes.Equal(ev.Payload, before[conn][i].Payload) || ev.DeliveredAt.IsZero() || ev.Failed {
				t.Errorf("event %s after restart: %+v", ev.ID, ev)
			}
		}
	}
}

// lossyStore loses the record of the first delivery, as a crash between the
// answer and the write would.
type lossyStore struct {
	events.Store
	mu   sync.Mutex
	lost bool
}

func (l *lossyStore) MarkEventDelivered(ctx context.Context, seq int64, now time.Time, failed bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lost {
		l.lost = true
		return errors.New("disk on fire")
	}
	return l.Store.MarkEventDelivered(ctx, seq, now, failed)
}

func TestAtLeastOnce(t *testing.T) {
	e := newEnv(t)
	conn := e.connect(e.client("/hook"))
	e.revoke(conn)
	w := e.worker()
	w.Store = &lossyStore{Store: e.st}
	if _, err := w.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("RunOnce: %v, want the store error", err)
	}
	// The event stays claimed until its lease ends; then it is sent again.
	e.clk.Advance(events.DefaultLease - time.Second)
	if n := runOnce(t, w); n != 0 || len(e.recv.got()) != 1 {
		t.Fatalf("during the lease: %d delivered, %d calls", n, len(e.recv.got()))
	}
	e.clk.Advance(time.Second)
	drain(t, w)
	var ids []string
	for _, c := range e.recv.got() {
		ids = append(ids, c.eventType)
	}
	want := []string{store.EventConnectionCreated, store.EventConnectionCreated, store.EventConnectionRevoked}
	if !slices.Equal(ids, want) {
		t.Fatalf("received %q, want %q (the created event again, then the next)", ids, want)
	}
	if got := e.recv.got(); got[0].eventID != got[1].eventID {
		t.Errorf("a redelivery has another Grantd-Event-Id")
	}
}

// TestLeaseAfterACrash: an instance that stops during an attempt records
// nothing; its claim keeps the event from the other instances until the
// lease ends, and then one of them delivers it.
func TestLeaseAfterACrash(t *testing.T) {
	e := newEnv(t)
	conn := e.connect(e.client("/hook"))
	e.revoke(conn)
	ctx, crash := context.WithCancel(context.Background())
	e.recv.setRespond(func(int, string) int {
		crash() // the first instance stops while the receiver handles its request
		return http.StatusOK
	})
	a := e.worker()
	a.Lease = time.Minute
	if n, err := a.RunOnce(ctx); n != 0 || err != nil {
		t.Fatalf("the crashing pass: %d, %v", n, err)
	}
	if ev := e.events(conn)[0]; !ev.DeliveredAt.IsZero() || ev.Attempts != 0 ||
		!ev.NextAttemptAt.Equal(e.clk.Now().Add(time.Minute)) {
		t.Fatalf("after the crash: %+v, want undelivered, claimed for a minute", ev)
	}

	// Another instance, on its own handle of the file.
	st, err := sqlite.Open(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e.recv.setRespond(nil)
	b := e.worker()
	b.Store = st
	e.clk.Advance(time.Minute - time.Millisecond)
	if n := runOnce(t, b); n != 0 || len(e.recv.got()) != 1 {
		t.Fatalf("during the lease: %d delivered, %d calls", n, len(e.recv.got()))
	}
	e.clk.Advance(time.Millisecond)
	if n := drain(t, b); n != 2 {
		t.Fatalf("after the lease: %d delivered, want 2", n)
	}
	got := e.recv.got()
	if len(got) != 3 || got[0].eventID != got[1].eventID || got[2].eventType != store.EventConnectionRevoked {
		t.Errorf("calls %+v: want the created event twice (the crash), then the revoked one", got)
	}
}

// slowClaimStore lets time pass between the claim and the deliveries, as a
// pass slowed by many slow receivers would.
type slowClaimStore struct {
	events.Store
	clk  *clock
	wait time.Duration
}

func (s slowClaimStore) ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Event, error) {
	evs, err := s.Store.ClaimEvents(ctx, now, lease, limit)
	s.clk.Advance(s.wait)
	return evs, err
}

// TestNoAttemptOnAShortLease: an attempt that could outlast its event's
// lease is not started; the event waits for the next claim.
func TestNoAttemptOnAShortLease(t *testing.T) {
	e := newEnv(t)
	conn := e.connect(e.client("/hook"))
	w := e.worker()
	w.Store = slowClaimStore{Store: e.st, clk: e.clk, wait: events.DefaultLease - events.RequestTimeout}
	if n := runOnce(t, w); n != 0 || len(e.recv.got()) != 0 {
		t.Fatalf("%d delivered, %d calls: want no attempt", n, len(e.recv.got()))
	}
	if ev := e.events(conn)[0]; ev.Attempts != 0 || !ev.DeliveredAt.IsZero() {
		t.Fatalf("event %+v: want untouched", ev)
	}
	if !strings.Contains(e.logs.String(), "lease too short") {
		t.Errorf("no log of the skipped attempt:\n%s", e.logs.String())
	}
	// Not claimable until the lease ends, then delivered.
	w = e.worker()
	if n := runOnce(t, w); n != 0 {
		t.Fatalf("during the lease: %d delivered", n)
	}
	e.clk.Advance(events.RequestTimeout)
	if n := runOnce(t, w); n != 1 {
		t.Fatalf("after the lease: %d delivered, want 1", n)
	}
}

// TestTwoWorkersDeliverOnce runs two Workers, as two instances, on one
// store (two handles of one SQLite file; two pools on one PostgreSQL
// schema) with one receiver: every event is delivered exactly once, in
// order per connection.
func TestTwoWorkersDeliverOnce(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		e := newEnv(t)
		other, err := sqlite.Open(context.Background(), e.path)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		testTwoWorkers(t, e, other)
	})
	t.Run("postgres", func(t *testing.T) {
		ctx := context.Background()
		name, _ := pgtest.Schema(t) // skips without GRANTD_TEST_POSTGRES

		var sts [2]*postgres.Store
		for i := range sts {
			st, err := postgres.Open(ctx, pgtest.BaseDSN(t), postgres.Options{Schema: name})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			sts[i] = st
		}
		testTwoWorkers(t, newEnvOn(t, sts[0]), sts[1])
	})
}

func testTwoWorkers(t *testing.T, e *env, other store.Store) {
	ctx := context.Background()
	const perClient = 8
	// Each connection gets four events: created, consent_expired, revoked,
	// retention_reached.
	start := e.clk.Now()
	var conns []string
	for _, path := range []string{"/a", "/b"} {
		client := e.client(path)
		for range perClient {
			conns = append(conns, e.connectWith(client, func(c *store.Connection) {
				c.ConsentExpiresAt, c.DataRetentionUntil = start.Add(time.Minute), start.Add(2*time.Minute)
			}))
		}
	}
	e.clk.Advance(time.Minute)
	if n, err := e.st.ExpireConsents(ctx, e.clk.Now(), 100); err != nil || n != len(conns) {
		t.Fatalf("ExpireConsents: %d, %v", n, err)
	}
	for _, c := range conns {
		e.revoke(c)
	}
	e.clk.Advance(time.Minute)
	if n, err := e.st.PurgeConnections(ctx, e.clk.Now(), 100); err != nil || n != len(conns) {
		t.Fatalf("PurgeConnections: %d, %v", n, err)
	}
	want := map[string][]string{} // connection -> event IDs, in order
	total := 0
	for _, c := range conns {
		for _, ev := range e.events(c) {
			want[c] = append(want[c], ev.ID)
		}
		if len(want[c]) != 4 {
			t.Fatalf("connection %s has %d events, want 4", c, len(want[c]))
		}
		total += len(want[c])
	}

	// Passes of a few events, often, and answers that take a moment: the
	// two Workers' passes overlap. The clock stands still, so no lease ends.
	e.recv.setRespond(func(int, string) int {
		time.Sleep(time.Millisecond)
		return http.StatusOK
	})
	ws := []*events.Worker{e.worker(), e.worker()}
	ws[1].Store = other
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, w := range ws {
		w.Batch = 3
		wg.Go(func() { w.Run(runCtx, time.Millisecond) })
	}
	// Until every delivery is recorded, then some passes with nothing left.
	recorded := func() int {
		n := 0
		for _, c := range conns {
			for _, ev := range e.events(c) {
				if !ev.DeliveredAt.IsZero() {
					n++
				}
			}
		}
		return n
	}
	deadline := time.After(30 * time.Second)
	for recorded() < total {
		select {
		case <-deadline:
			stop()
			wg.Wait()
			t.Fatalf("after 30 s, %d calls, %d of %d recorded as delivered", len(e.recv.got()), recorded(), total)
		case <-time.After(5 * time.Millisecond):
		}
	}
	time.Sleep(50 * time.Millisecond)
	stop()
	wg.Wait()

	got := map[string][]string{}
	seen := map[string]int{}
	for _, c := range e.recv.got() {
		if c.status != http.StatusOK {
			t.Errorf("call %s answered %d", c.eventID, c.status)
		}
		seen[c.eventID]++
		got[c.connectionID] = append(got[c.connectionID], c.eventID)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	for _, c := range conns {
		if !slices.Equal(got[c], want[c]) {
			t.Errorf("connection %s: delivered %q, want %q", c, got[c], want[c])
		}
		for _, ev := range e.events(c) {
			if ev.DeliveredAt.IsZero() || ev.Failed || ev.Attempts != 0 {
				t.Errorf("event %s recorded as delivered %v failed %v attempts %d", ev.ID, ev.DeliveredAt, ev.Failed, ev.Attempts)
			}
		}
	}
	e.checkLogs()
}

func TestTimeoutIsFailure(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	c, _, _, err := e.manager().Register(context.Background(), clients.Params{Name: "Slow", WebhookURL: slow.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	conn := e.connect(c.ID)
	w := e.worker()
	w.Client = &http.Client{Timeout: 50 * time.Millisecond}
	if n := runOnce(t, w); n != 0 {
		t.Fatalf("delivered %d", n)
	}
	ev := e.events(conn)[0]
	if ev.Attempts != 1 || ev.LastError != "timeout" || !ev.DeliveredAt.IsZero() ||
		!ev.NextAttemptAt.Equal(e.clk.Now().Add(time.Minute)) {
		t.Errorf("after a timeout: %+v", ev)
	}
}

func TestNoRedirects(t *testing.T) {
	e := newEnv(t)
	var followed bool
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			mu.Lock()
			followed = true
			mu.Unlock()
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, _, _, err := e.manager().Register(context.Background(), clients.Params{Name: "R", WebhookURL: srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	conn := e.connect(c.ID)
	w := e.worker()
	w.Client = &http.Client{} // its CheckRedirect (the default: follow) is overridden
	if n := runOnce(t, w); n != 0 {
		t.Fatalf("delivered %d", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if ev := e.events(conn)[0]; followed || ev.Attempts != 1 || !strings.Contains(ev.LastError, "307") {
		t.Errorf("followed %v; event %+v", followed, ev)
	}
}

// goneStore reports every client deleted, as when a client is deleted
// between reading the outbox and delivering.
type goneStore struct{ events.Store }

func (goneStore) GetClient(context.Context, string) (store.Client, error) {
	return store.Client{}, store.ErrNotFound
}

func TestClientGone(t *testing.T) {
	ctx := context.Background()
	t.Run("deleted", func(t *testing.T) {
		e := newEnv(t)
		client := e.client("/hook")
		conn := e.connect(client)
		if err := e.manager().Delete(ctx, client); err != nil {
			t.Fatal(err)
		}
		if n := drain(t, e.worker()); n != 0 || len(e.recv.got()) != 0 {
			t.Errorf("a deleted client's events: %d delivered, %d calls", n, len(e.recv.got()))
		}
		if evs := e.events(conn); len(evs) != 0 {
			t.Errorf("events outlive their client: %+v", evs)
		}
	})
	t.Run("deleted during a pass", func(t *testing.T) {
		e := newEnv(t)
		conn := e.connect(e.client("/hook"))
		e.revoke(conn)
		w := e.worker()
		w.Store = goneStore{e.st}
		drain(t, w)
		runOnce(t, w)
		if len(e.recv.got()) != 0 {
			t.Errorf("%d calls", len(e.recv.got()))
		}
		for _, ev := range e.events(conn) {
			if !ev.Failed || ev.DeliveredAt.IsZero() {
				t.Errorf("event %+v not given up", ev)
			}
		}
	})
	t.Run("webhook removed", func(t *testing.T) {
		e := newEnv(t)
		client := e.client("/hook")
		conn := e.connect(client)
		e.revoke(conn)
		if _, _, err := e.manager().Patch(ctx, client, []byte(`{"webhook_url":null}`)); err != nil {
			t.Fatal(err)
		}
		w := e.worker()
		runOnce(t, w)
		runOnce(t, w)
		if len(e.recv.got()) != 0 {
			t.Errorf("%d calls", len(e.recv.got()))
		}
		for _, ev := range e.events(conn) {
			if !ev.Failed || ev.DeliveredAt.IsZero() {
				t.Errorf("event %+v not given up", ev)
			}
		}
		// New events are not even queued.
		e.connect(client)
		if n := runOnce(t, w); n != 0 || len(e.recv.got()) != 0 {
			t.Errorf("a client without webhook got %d", n)
		}
	})
	t.Run("not http", func(t *testing.T) {
		e := newEnv(t)
		client := e.client("/hook")
		conn := e.connect(client)
		if _, err := e.st.UpdateClient(ctx, client, func(c *store.Client) error {
			c.WebhookURL = "file:///etc/passwd"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		runOnce(t, e.worker())
		if ev := e.events(conn)[0]; !ev.Failed || len(e.recv.got()) != 0 {
			t.Errorf("event %+v, %d calls", ev, len(e.recv.got()))
		}
	})
}

func TestRotatedSecret(t *testing.T) {
	e := newEnv(t)
	client := e.client("/hook")
	conn := e.connect(client)
	_, secret, err := e.manager().RotateWebhookSecret(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	e.recv.mu.Lock()
	e.recv.secrets["/hook"] = []byte(secret) // the receiver verifies with the new one only
	e.recv.mu.Unlock()
	if n := runOnce(t, e.worker()); n != 1 || len(e.recv.delivered(conn)) != 1 {
		t.Fatalf("delivered %d", n)
	}
}

func TestWrongKEK(t *testing.T) {
	e := newEnv(t)
	conn := e.connect(e.client("/hook"))
	w := e.worker()
	other, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize), "webhook-secret")
	w.Open = other.Open
	runOnce(t, w)
	if ev := e.events(conn)[0]; len(e.recv.got()) != 0 || ev.Attempts != 1 || !strings.Contains(ev.LastError, "cannot open") {
		t.Errorf("event %+v, %d calls", ev, len(e.recv.got()))
	}
}

// TestRun checks the loop: with a batch of one and a long interval, a full
// batch makes the next pass come at once, so every connection's event is
// delivered without waiting for the interval; Run returns when ctx ends.
func TestRun(t *testing.T) {
	e := newEnv(t)
	client := e.client("/hook")
	conns := []string{e.connect(client), e.connect(client), e.connect(client)}
	w := e.worker()
	w.Batch = 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, time.Hour)
	}()
	deadline := time.After(10 * time.Second)
	for len(e.recv.got()) < len(conns) {
		select {
		case <-deadline:
			t.Fatalf("after 10 s, %d of %d delivered", len(e.recv.got()), len(conns))
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	for _, c := range conns {
		if got := e.recv.delivered(c); !slices.Equal(got, []string{store.EventConnectionCreated}) {
			t.Errorf("connection %s: %q", c, got)
		}
	}
}

func TestDefaultBackoff(t *testing.T) {
	for _, tt := range []struct {
		attempt int
		max     time.Duration
	}{
		{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {9, 2560 * time.Second},
		{10, time.Hour}, {29, time.Hour}, {1000, time.Hour},
	} {
		for range 50 {
			if d := events.DefaultBackoff(tt.attempt); d > tt.max || d < tt.max*4/5 {
				t.Fatalf("DefaultBackoff(%d) = %v, want in [%v, %v]", tt.attempt, d, tt.max*4/5, tt.max)
			}
		}
	}
	var total time.Duration
	for n := 1; n < events.DefaultMaxAttempts; n++ {
		total += events.DefaultBackoff(n)
	}
	if total < 16*time.Hour || total > 22*time.Hour {
		t.Errorf("the default schedule spans %v", total)
	}
}
