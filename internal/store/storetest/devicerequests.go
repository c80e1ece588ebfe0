package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// newDeviceRequest is a pending request of clientID made at now, for ten
// minutes, with a polling interval of five seconds, polled once a second
// after it was made (so that every field is set: a request's first poll
// sees LastPolledAt zero, see fresh).
func newDeviceRequest(clientID string, now time.Time) store.DeviceRequest {
	return store.DeviceRequest{
		DeviceHash:   newHash(),
		UserHash:     newHash(),
		ClientID:     clientID,
		Scopes:       []string{"company", "directory"},
		Resources:    []string{"https://api.example.com/", "https://files.example.com/v1"},
		Status:       store.DevicePending,
		Interval:     5 * time.Second,
		LastPolledAt: now.Add(time.Second),
		CreatedAt:    now,
		ExpiresAt:    now.Add(10 * time.Minute),
	}
}

// fresh is r never polled.
func fresh(r store.DeviceRequest) store.DeviceRequest {
	r.LastPolledAt = time.Time{}
	return r
}

func createDeviceRequest(t *testing.T, s store.Store, r store.DeviceRequest) {
	t.Helper()
	must(t, "CreateDeviceRequest", s.CreateDeviceRequest(t.Context(), r))
}

// slowDown is what the suite's polls add to the interval of a request
// polled too soon.
const slowDown = 5 * time.Second

// poll polls r at now and checks that the poll returns want (the request
// as it was before).
func poll(t *testing.T, s store.Store, what string, r store.DeviceRequest, now time.Time, want store.DeviceRequest) {
	t.Helper()
	got, err := s.PollDeviceRequest(t.Context(), r.DeviceHash, now, slowDown)
	must(t, what, err)
	same(t, what, got, want)
}

// wantDevice checks the request stored under r's user hash (while it is
// pending).
func wantDevice(t *testing.T, s store.Store, what string, now time.Time, want store.DeviceRequest) {
	t.Helper()
	got, err := s.GetDeviceRequestByUser(t.Context(), want.UserHash, now)
	must(t, what, err)
	same(t, what, got, want)
}

var deviceRequestTests = []test{
	{"CreateGet", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newDeviceRequest(c.ID, t0.In(elsewhere))
		createDeviceRequest(t, s, r)
		wantDevice(t, s, "GetDeviceRequestByUser", at(time.Minute).In(elsewhere), r)
		for _, hash := range [][]byte{newHash(), r.DeviceHash, nil} {
			_, err := s.GetDeviceRequestByUser(ctx, hash, at(time.Minute))
			wantErr(t, "GetDeviceRequestByUser(another hash)", err, store.ErrNotFound)
		}
		// No scopes, no resources, never polled: round-trip too.
		bare := fresh(newDeviceRequest(c.ID, t0))
		bare.Scopes, bare.Resources = nil, nil
		createDeviceRequest(t, s, bare)
		wantDevice(t, s, "GetDeviceRequestByUser(a bare request)", t0, bare)
	}},
	{"Conflict", func(t *testing.T, s store.Store) {
		// A user hash or a device hash taken, by whichever client, is a
		// conflict, and the stored request stays as it was.
		ctx := t.Context()
		c, other := createClient(t, s), createClient(t, s)
		r := newDeviceRequest(c.ID, t0)
		createDeviceRequest(t, s, r)
		sameUser := newDeviceRequest(other.ID, at(time.Second))
		sameUser.UserHash = r.UserHash
		wantErr(t, "CreateDeviceRequest(user hash taken)", s.CreateDeviceRequest(ctx, sameUser), store.ErrConflict)
		sameDevice := newDeviceRequest(c.ID, at(time.Second))
		sameDevice.DeviceHash = r.DeviceHash
		wantErr(t, "CreateDeviceRequest(device hash taken)", s.CreateDeviceRequest(ctx, sameDevice), store.ErrConflict)
		wantDevice(t, s, "GetDeviceRequestByUser after conflicts", at(time.Second), r)
		_, err := s.GetDeviceRequestByUser(ctx, sameDevice.UserHash, at(time.Second))
		wantErr(t, "GetDeviceRequestByUser(refused)", err, store.ErrNotFound)
		// Another user code for the same client is fine.
		sameUser.UserHash = newHash()
		must(t, "CreateDeviceRequest(another user code)", s.CreateDeviceRequest(ctx, sameUser))
	}},
	{"MissingClient", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		r := newDeviceRequest(newUUID(), t0)
		wantErr(t, "CreateDeviceRequest(no client)", s.CreateDeviceRequest(ctx, r), store.ErrMissingParent)
		_, err := s.GetDeviceRequestByUser(ctx, r.UserHash, t0)
		wantErr(t, "GetDeviceRequestByUser(refused)", err, store.ErrNotFound)
		_, err = s.PollDeviceRequest(ctx, r.DeviceHash, t0, slowDown)
		wantErr(t, "PollDeviceRequest(refused)", err, store.ErrNotFound)
	}},
	{"Expired", func(t *testing.T, s store.Store) {
		// Once expired (now not before ExpiresAt), a request is neither
		// found, polled nor decided, and those attempts change nothing.
		ctx := t.Context()
		c := createClient(t, s)
		r := newDeviceRequest(c.ID, t0)
		createDeviceRequest(t, s, r)
		for _, late := range []time.Duration{0, time.Millisecond, time.Hour} {
			now := r.ExpiresAt.Add(late)
			_, err := s.GetDeviceRequestByUser(ctx, r.UserHash, now)
			wantErr(t, "GetDeviceRequestByUser(expired)", err, store.ErrNotFound)
			_, err = s.PollDeviceRequest(ctx, r.DeviceHash, now, slowDown)
			wantErr(t, "PollDeviceRequest(expired)", err, store.ErrNotFound)
			err = s.DecideDeviceRequest(ctx, r.DeviceHash, store.DeviceApproved, now)
			wantErr(t, "DecideDeviceRequest(expired)", err, store.ErrNotFound)
		}
		// Just before: as stored (no poll recorded, still pending).
		before := r.ExpiresAt.Add(-time.Millisecond)
		wantDevice(t, s, "GetDeviceRequestByUser(a millisecond before its expiry)", before, r)
		poll(t, s, "PollDeviceRequest(a millisecond before its expiry)", r, before, r)
		must(t, "DecideDeviceRequest(a millisecond before its expiry)",
			s.DecideDeviceRequest(ctx, r.DeviceHash, store.DeviceDenied, before))
	}},
	{"Poll", func(t *testing.T, s store.Store) {
		// Each poll returns the request as the poll before left it and
		// records its own time; one less than the interval after the one
		// before adds slowDown to the interval, one at or past it does
		// not. The first poll (no previous one) never slows down.
		ctx := t.Context()
		c := createClient(t, s)
		r := fresh(newDeviceRequest(c.ID, t0))
		createDeviceRequest(t, s, r)
		want := r
		step := func(what string, now time.Time, grown bool) {
			t.Helper()
			poll(t, s, what, r, now, want)
			if grown {
				want.Interval += slowDown
			}
			want.LastPolledAt = now
			wantDevice(t, s, what+": then stored", now, want)
		}
		step("the first poll, at once", t0, false)
		step("a poll after the interval", at(10*time.Second), false)
		step("a poll 2 s after (interval 5 s)", at(12*time.Second), true)
		step("a poll 8 s after (interval 10 s)", at(20*time.Second), true)
		step("a poll the interval after (15 s)", at(35*time.Second), false)
		step("a poll long after", at(2*time.Minute), false)
		step("a poll at the same time", at(2*time.Minute), true)
		step("a poll before the one before (a clock step back)", at(time.Minute), true)
		if want.Interval != r.Interval+4*slowDown {
			t.Errorf("interval after four slow-downs: %v, want %v", want.Interval, r.Interval+4*slowDown)
		}
		// A poll with no slow-down to add changes only LastPolledAt.
		got, err := s.PollDeviceRequest(ctx, r.DeviceHash, at(time.Minute+time.Second), 0)
		must(t, "PollDeviceRequest(slowDown 0)", err)
		same(t, "PollDeviceRequest(slowDown 0)", got, want)
		want.LastPolledAt = at(time.Minute + time.Second)
		wantDevice(t, s, "after a poll with slowDown 0", t0, want)

		_, err = s.PollDeviceRequest(ctx, newHash(), at(time.Minute), slowDown)
		wantErr(t, "PollDeviceRequest(missing)", err, store.ErrNotFound)
		_, err = s.PollDeviceRequest(ctx, r.UserHash, at(time.Minute), slowDown)
		wantErr(t, "PollDeviceRequest(the user hash)", err, store.ErrNotFound)
		_, err = s.PollDeviceRequest(ctx, nil, at(time.Minute), slowDown)
		wantErr(t, "PollDeviceRequest(no hash)", err, store.ErrNotFound)
	}},
	{"Decide", func(t *testing.T, s store.Store) {
		// A pending request is decided once: then it is no longer found by
		// its user code, not decided again, and its polls show the
		// decision.
		ctx := t.Context()
		c := createClient(t, s)
		for _, status := range []string{store.DeviceApproved, store.DeviceDenied} {
			r := newDeviceRequest(c.ID, t0)
			createDeviceRequest(t, s, r)
			must(t, "DecideDeviceRequest("+status+")", s.DecideDeviceRequest(ctx, r.DeviceHash, status, at(time.Minute)))
			_, err := s.GetDeviceRequestByUser(ctx, r.UserHash, at(time.Minute))
			wantErr(t, "GetDeviceRequestByUser(decided)", err, store.ErrNotFound)
			for _, again := range []string{store.DeviceApproved, store.DeviceDenied} {
				err := s.DecideDeviceRequest(ctx, r.DeviceHash, again, at(time.Minute))
				wantErr(t, "DecideDeviceRequest("+status+", then "+again+")", err, store.ErrNotFound)
			}
			want := r
			want.Status = status
			poll(t, s, "PollDeviceRequest(decided "+status+")", r, at(time.Minute), want)
		}
		err := s.DecideDeviceRequest(ctx, newHash(), store.DeviceApproved, at(time.Minute))
		wantErr(t, "DecideDeviceRequest(missing)", err, store.ErrNotFound)

		// A status that is no decision is refused, and changes nothing.
		r := newDeviceRequest(c.ID, t0)
		createDeviceRequest(t, s, r)
		for _, status := range []string{store.DevicePending, "", "approve"} {
			err := s.DecideDeviceRequest(ctx, r.DeviceHash, status, at(time.Minute))
			if err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("DecideDeviceRequest(status %q): %v, want an error", status, err)
			}
		}
		wantDevice(t, s, "GetDeviceRequestByUser after refused decisions", at(time.Minute), r)
	}},
	{"DecidedOnce", func(t *testing.T, s store.Store) {
		// Racing approvals and denials: one decides, and its decision is
		// the one stored.
		ctx := t.Context()
		c := createClient(t, s)
		r := newDeviceRequest(c.ID, t0)
		createDeviceRequest(t, s, r)
		status := func(i int) string {
			if i%2 == 0 {
				return store.DeviceApproved
			}
			return store.DeviceDenied
		}
		errs := race(20, func(i int) error {
			return s.DecideDeviceRequest(ctx, r.DeviceHash, status(i), at(time.Minute))
		})
		tally(t, "DecideDeviceRequest(one request)", errs, store.ErrNotFound)
		want := r
		for i, err := range errs {
			if err == nil {
				want.Status = status(i)
			}
		}
		poll(t, s, "PollDeviceRequest after racing decisions", r, at(time.Minute), want)
	}},
	{"ConcurrentPolls", func(t *testing.T, s store.Store) {
		// Racing polls, each at its own time, are serialized: each returns
		// what the one before it recorded. So exactly one sees no previous
		// poll, the others each see another poll's time, the last poll's
		// time is what stays stored, and every poll but the first (all
		// within the interval of the one before, or before it) adds
		// slowDown once.
		const n = 20
		ctx := t.Context()
		c := createClient(t, s)
		r := fresh(newDeviceRequest(c.ID, t0))
		r.Interval = time.Minute
		createDeviceRequest(t, s, r)
		times := make([]time.Time, n)
		for i := range times {
			times[i] = at(time.Duration(i+1) * time.Second)
		}
		seen := make([]store.DeviceRequest, n)
		errs := race(n, func(i int) error {
			var err error
			seen[i], err = s.PollDeviceRequest(ctx, r.DeviceHash, times[i], slowDown)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("PollDeviceRequest #%d: %v", i, err)
			}
		}
		stored, err := s.GetDeviceRequestByUser(ctx, r.UserHash, t0)
		must(t, "GetDeviceRequestByUser", err)
		if want := r.Interval + (n-1)*slowDown; stored.Interval != want {
			t.Errorf("interval after %d racing polls: %v, want %v", n, stored.Interval, want)
		}
		// The previous polls seen, with the last one stored, are the zero
		// time and every poll's time, each once.
		var got, want []int64
		intervals := make([]time.Duration, 0, n)
		for _, d := range seen {
			got = append(got, d.LastPolledAt.UnixMilli())
			intervals = append(intervals, d.Interval)
		}
		got = append(got, stored.LastPolledAt.UnixMilli())
		want = append(want, time.Time{}.UnixMilli())
		for _, tm := range times {
			want = append(want, tm.UnixMilli())
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("previous polls seen and the last stored (Unix ms):\n got %v\nwant %v", got, want)
		}
		// The intervals seen grew one slowDown a poll, from the second on.
		slices.Sort(intervals)
		for i, d := range intervals {
			if want := r.Interval + time.Duration(max(i-1, 0))*slowDown; d != want {
				t.Errorf("intervals seen, sorted: %v; #%d is %v, want %v", intervals, i, d, want)
				break
			}
		}
	}},
	{"DeleteClient", func(t *testing.T, s store.Store) {
		// Deleting a client deletes its device requests, and only its.
		ctx := t.Context()
		gone, kept := createClient(t, s), createClient(t, s)
		r, o := newDeviceRequest(gone.ID, t0), newDeviceRequest(kept.ID, t0)
		createDeviceRequest(t, s, r)
		createDeviceRequest(t, s, o)
		must(t, "DeleteClient", s.DeleteClient(ctx, gone.ID))
		_, err := s.GetDeviceRequestByUser(ctx, r.UserHash, t0)
		wantErr(t, "GetDeviceRequestByUser(of a deleted client)", err, store.ErrNotFound)
		_, err = s.PollDeviceRequest(ctx, r.DeviceHash, t0, slowDown)
		wantErr(t, "PollDeviceRequest(of a deleted client)", err, store.ErrNotFound)
		wantDevice(t, s, "GetDeviceRequestByUser(of another client)", t0, o)
	}},
}

func init() {
	deleteExpiredTests = append(deleteExpiredTests, test{"DeviceRequests", func(t *testing.T, s store.Store) {
		// Expired device requests go, whatever their status, at most limit
		// a call; the others stay. A deleted request's user code is free
		// again.
		ctx := t.Context()
		c := createClient(t, s)
		now := at(time.Hour)
		var gone, kept []store.DeviceRequest
		for i, status := range []string{store.DevicePending, store.DeviceApproved, store.DeviceDenied, store.DevicePending,
			store.DeviceApproved} {
			r := newDeviceRequest(c.ID, now.Add(-11*time.Minute)) // expired a minute ago
			if i >= 3 {
				r.ExpiresAt = now.Add(time.Minute)
			}
			createDeviceRequest(t, s, r)
			if status != store.DevicePending {
				must(t, "DecideDeviceRequest", s.DecideDeviceRequest(ctx, r.DeviceHash, status, r.CreatedAt))
				r.Status = status
			}
			if i >= 3 {
				kept = append(kept, r)
			} else {
				gone = append(gone, r)
			}
		}
		// At its expiry, a request is expired.
		r := newDeviceRequest(c.ID, now.Add(-10*time.Minute))
		createDeviceRequest(t, s, r)
		gone = append(gone, r)
		for i, want := range []int{2, 2, 0} {
			n, err := s.DeleteExpired(ctx, now, 2)
			must(t, "DeleteExpired", err)
			if n != want {
				t.Fatalf("DeleteExpired #%d removed %d rows, want %d", i+1, n, want)
			}
		}
		for _, r := range gone {
			// Before its expiry: only deletion hides it.
			_, err := s.PollDeviceRequest(ctx, r.DeviceHash, r.CreatedAt, slowDown)
			wantErr(t, "PollDeviceRequest(deleted)", err, store.ErrNotFound)
			again := newDeviceRequest(c.ID, now)
			again.UserHash = r.UserHash
			must(t, "CreateDeviceRequest(the user code of a deleted request)", s.CreateDeviceRequest(ctx, again))
		}
		for _, r := range kept {
			poll(t, s, "PollDeviceRequest(kept)", r, now, r)
		}
	}})
}
