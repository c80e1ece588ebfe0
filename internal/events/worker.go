package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Store is the part of the store the Worker uses.
type Store interface {
	ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Event, error)
	MarkEventDelivered(ctx context.Context, seq int64, now time.Time, failed bool) error
	RetryEvent(ctx context.Context, seq int64, attempts int, next time.Time, lastError string) error
	GetClient(ctx context.Context, id string) (store.Client, error)
}

var _ Store = (store.Store)(nil)

// Defaults of the Worker's fields.
const (
	DefaultBatch = 100
	// DefaultMaxAttempts: with DefaultBackoff, the last attempt comes about
	// 21 hours after the first (10 s, 20 s, … 1 h, then hourly).
	DefaultMaxAttempts = 30
	// RequestTimeout bounds one delivery attempt, whatever the Client's own
	// timeout.
	RequestTimeout = 10 * time.Second
	// MinBackoff and MaxBackoff bound DefaultBackoff.
	MinBackoff = 10 * time.Second
	MaxBackoff = time.Hour
	// DefaultLease is how long a claimed event is withheld from the other
	// workers: two attempts' worth, plus leaseMargin.
	DefaultLease = 2*RequestTimeout + leaseMargin
)

const (
	// parallel bounds the deliveries in flight in one pass. They are always
	// to different connections: a pass holds at most one event of each.
	parallel = 8
	// maxDrain is how much of an answer's body is read (and thrown away) so
	// that the connection can be reused.
	maxDrain  = 64 << 10
	userAgent = "grantd-webhooks/1"
	// leaseMargin is the time, beyond RequestTimeout, an attempt may need
	// from its start to the record of its outcome (the store's writes, some
	// clock skew between instances).
	leaseMargin = 5 * time.Second
	// attemptSpan is how much of its event's lease must be left for an
	// attempt to start.
	attemptSpan = RequestTimeout + leaseMargin
	// minLease is the shortest lease: the first attempts of a pass start
	// with attemptSpan left and a margin for the claim itself.
	minLease = attemptSpan + leaseMargin
)

// DefaultBackoff is the wait after the attempt-th failed attempt (from 1):
// 10 s, doubling, capped at 1 h, each less up to 20 % random jitter, so that
// the retries of many events spread out.
func DefaultBackoff(attempt int) time.Duration {
	d := MaxBackoff
	if attempt < 20 {
		d = min(MinBackoff<<max(attempt-1, 0), MaxBackoff)
	}
	return d - rand.N(d/5)
}

// Worker delivers the outbox. Store and Open are required; the other fields
// have defaults. Run (or RunOnce) must not be called concurrently on one
// Worker. Several Workers (several instances) on one store share the work:
// each pass claims its events for Lease (store.ClaimEvents), so no other
// Worker sends them meanwhile. An event is sent twice only when a delivery
// goes unnoticed: its answer is lost (a failed attempt, retried), or its
// outcome is not recorded within the lease (the instance died, or the store
// could not be written) and it is claimed again when the lease ends. Both
// are what at-least-once allows.
type Worker struct {
	Store Store
	// Open unseals a client's webhook secret (store.Client.WebhookSecret,
	// sealed for the client's ID).
	Open func(sealed []byte, clientID string) ([]byte, error)
	// Client sends the deliveries; nil = a plain client. Redirects are never
	// followed, whatever its CheckRedirect, and each attempt is bounded by
	// RequestTimeout as well as by the Client's own Timeout.
	Client      *http.Client
	Now         func() time.Time // nil = time.Now
	Logger      *slog.Logger     // nil = discard
	Batch       int              // events claimed per pass; 0 = DefaultBatch
	MaxAttempts int              // attempts before an event is given up; 0 = DefaultMaxAttempts
	// Backoff is the wait after the attempt-th failed attempt; nil =
	// DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// Lease is how long the events of a pass are claimed for; 0 =
	// DefaultLease, and at least RequestTimeout + 10 s. An attempt starts
	// only while RequestTimeout + 5 s of its event's lease is left, so that
	// its outcome is recorded before another Worker can claim the event; an
	// event whose lease runs too short (a pass slowed by many slow
	// receivers) is left for a later claim.
	Lease time.Duration
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (w *Worker) batch() int {
	if w.Batch > 0 {
		return w.Batch
	}
	return DefaultBatch
}

func (w *Worker) lease() time.Duration {
	if w.Lease > 0 {
		return max(w.Lease, minLease)
	}
	return DefaultLease
}

func (w *Worker) maxAttempts() int {
	if w.MaxAttempts > 0 {
		return w.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (w *Worker) backoff(attempt int) time.Duration {
	f := w.Backoff
	if f == nil {
		f = DefaultBackoff
	}
	return max(f(attempt), 0)
}

// httpClient is a copy of w.Client that follows no redirect: a webhook URL
// is where the events go, and a redirect could send them (signed) elsewhere.
func (w *Worker) httpClient() *http.Client {
	var c http.Client
	if w.Client != nil {
		c = *w.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Run delivers until ctx is done: a pass at once, then one every interval
// (2 s when every <= 0), and the next pass at once when a pass found a full
// batch. Errors are logged; Run returns when ctx is done.
func (w *Worker) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, fetched, err := w.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		next := every
		if err != nil {
			w.log().ErrorContext(ctx, "events: delivery pass failed", "err", err)
		} else if fetched >= w.batch() {
			next = 0 // more are waiting
		}
		t.Reset(next)
	}
}

// RunOnce makes one pass: it claims the due events for Lease (at most
// Batch, at most one per connection), delivers them, at most a few at a
// time, and records each outcome. It returns how many were delivered
// (answered 2xx). Failed attempts are not errors; the error reports a store
// that could not be read or written. An event whose attempt was cut short
// because ctx ended, or that was not attempted (its client could not be
// read, too little of its lease was left), is not recorded: it is claimed
// again when its lease ends.
func (w *Worker) RunOnce(ctx context.Context) (delivered int, err error) {
	delivered, _, err = w.pass(ctx)
	return delivered, err
}

// target is where a client's events go in this pass, or why they go
// nowhere.
type target struct {
	url    string
	secret []byte
	// drop: the events can never be delivered (client deleted, webhook
	// removed): mark them given up.
	drop string
	// fail: this attempt cannot be made (no secret, unsealing failed): a
	// failed attempt, retried later.
	fail string
	// skip: the client could not be read; leave its events untouched
	// (claimed again once their lease ends).
	skip bool
}

func (w *Worker) pass(ctx context.Context) (delivered, fetched int, err error) {
	if w.Store == nil || w.Open == nil {
		return 0, 0, errors.New("events: Worker needs Store and Open")
	}
	evs, err := w.Store.ClaimEvents(ctx, w.now(), w.lease(), w.batch())
	if err != nil {
		return 0, 0, fmt.Errorf("events: claim events: %w", err)
	}
	if len(evs) == 0 {
		return 0, 0, nil
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	record := func(ok bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		if ok {
			delivered++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}

	targets := map[string]*target{}
	for _, e := range evs {
		if _, ok := targets[e.ClientID]; !ok {
			t, err := w.target(ctx, e.ClientID)
			record(false, err)
			targets[e.ClientID] = t
		}
	}
	defer func() {
		for _, t := range targets {
			clear(t.secret)
		}
	}()

	client := w.httpClient()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
loop:
	for _, e := range evs {
		t := targets[e.ClientID]
		if t.skip {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		// e.NextAttemptAt is the end of this pass's claim. Past it, another
		// Worker may claim e: an attempt started too late could duplicate e,
		// or deliver it after its connection's next event.
		if left := e.NextAttemptAt.Sub(w.now()); left < attemptSpan {
			<-sem
			w.log().InfoContext(ctx, "events: lease too short for an attempt; the event waits for the next claim",
				"event_id", e.ID, "connection_id", e.ConnectionID, "lease_left", left)
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			record(w.handle(ctx, client, e, t))
		})
	}
	wg.Wait()
	return delivered, len(evs), errors.Join(errs...)
}

// target looks up where clientID's events go. The error is a store failure
// (the target is then skip).
func (w *Worker) target(ctx context.Context, clientID string) (*target, error) {
	c, err := w.Store.GetClient(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &target{drop: "client deleted"}, nil
	case err != nil:
		return &target{skip: true}, fmt.Errorf("events: client %s: %w", clientID, err)
	case c.WebhookURL == "":
		return &target{drop: "client has no webhook URL any more"}, nil
	}
	if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &target{drop: "webhook URL is not an http(s) URL"}, nil
	}
	if len(c.WebhookSecret) == 0 {
		return &target{fail: "client has no webhook secret"}, nil
	}
	secret, err := w.Open(c.WebhookSecret, c.ID)
	if err != nil {
		w.log().ErrorContext(ctx, "events: cannot open a webhook secret (wrong key-encryption key?)",
			"client_id", c.ID, "err", err)
		return &target{fail: "cannot open the webhook secret"}, nil
	}
	return &target{url: c.WebhookURL, secret: secret}, nil
}

// handle delivers one event and records the outcome. ok reports a delivery;
// err a store failure.
func (w *Worker) handle(ctx context.Context, client *http.Client, e store.Event, t *target) (ok bool, err error) {
	attrs := []any{"event_id", e.ID, "event_type", e.Type, "client_id", e.ClientID, "connection_id", e.ConnectionID}
	if t.drop != "" {
		w.log().InfoContext(ctx, "events: event dropped", append(attrs, "reason", t.drop)...)
		return false, w.mark(ctx, e, true)
	}
	reason := t.fail
	if reason == "" {
		started := w.now()
		derr := w.post(ctx, client, e, t)
		if ctx.Err() != nil {
			return false, nil // shutting down: this attempt does not count
		}
		if derr == nil {
			w.log().DebugContext(ctx, "events: delivered", append(attrs, "attempt", e.Attempts+1,
				"duration", w.now().Sub(started))...)
			return true, w.mark(ctx, e, false)
		}
		reason = derr.Error()
	}
	attempts := e.Attempts + 1
	attrs = append(attrs, "attempt", attempts, "error", reason)
	last := attempts >= w.maxAttempts()
	next := w.now()
	if last {
		w.log().WarnContext(ctx, "events: webhook delivery given up; the connection's next event follows", attrs...)
	} else {
		next = next.Add(w.backoff(attempts))
		w.log().InfoContext(ctx, "events: webhook delivery failed; will retry", append(attrs, "next_attempt_at", next)...)
	}
	// The attempt is recorded even on the last one, so that the event keeps
	// its count and last error once given up.
	if err := w.Store.RetryEvent(ctx, e.Seq, attempts, next, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("events: record attempt of %s: %w", e.ID, err)
	}
	if last {
		return false, w.mark(ctx, e, true)
	}
	return false, nil
}

// mark records a delivery, or with failed that the event was given up. A
// row gone meanwhile (its client deleted) is not an error.
func (w *Worker) mark(ctx context.Context, e store.Event, failed bool) error {
	err := w.Store.MarkEventDelivered(ctx, e.Seq, w.now(), failed)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("events: record delivery of %s: %w", e.ID, err)
	}
	return nil
}

// post makes one attempt. Its error is safe to store and log: it never holds
// the URL (which may carry a token), the secret or the body.
func (w *Worker) post(ctx context.Context, client *http.Client, e store.Event, t *target) error {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(e.Payload))
	if err != nil {
		return errors.New("invalid webhook URL")
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderEventID, e.ID)
	req.Header.Set(HeaderEventType, e.Type)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(t.secret, ts, e.Payload))
	res, err := client.Do(req)
	if err != nil {
		return describe(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
	res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return fmt.Errorf("HTTP %d (redirects are not followed)", res.StatusCode)
	}
	return fmt.Errorf("HTTP %d", res.StatusCode)
}

// describe strips the request URL from a transport error.
func describe(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timeout")
		}
		return ue.Err
	}
	return err
}
