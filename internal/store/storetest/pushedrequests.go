package storetest

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// newPushedRequest is a request clientID pushed at now, for a minute, with
// a parameter sent twice (RFC 8707's resource) and one sent empty.
func newPushedRequest(clientID string, now time.Time) store.PushedRequest {
	return store.PushedRequest{
		Hash:     newHash(),
		ClientID: clientID,
		Params: map[string][]string{
			"response_type":         {"code"},
			"redirect_uri":          {"https://app.example/callback"},
			"scope":                 {"company directory"},
			"state":                 {""},
			"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
			"code_challenge_method": {"S256"},
			"resource":              {"https://api.example.com/", "https://files.example.com/v1"},
		},
		CreatedAt: now,
		ExpiresAt: now.Add(time.Minute),
	}
}

func pushRequest(t *testing.T, s store.Store, r store.PushedRequest) {
	t.Helper()
	must(t, "PushRequest", s.PushRequest(t.Context(), r))
}

var pushedRequestTests = []test{
	{"PushTake", func(t *testing.T, s store.Store) {
		// A pushed request comes back once, as pushed (every value of a
		// repeated parameter, in order), then is gone.
		ctx := t.Context()
		c := createClient(t, s)
		r := newPushedRequest(c.ID, t0.In(elsewhere))
		pushRequest(t, s, r)
		got, err := s.TakePushedRequest(ctx, r.Hash, c.ID, at(30*time.Second))
		must(t, "TakePushedRequest", err)
		same(t, "TakePushedRequest", got, r)

		_, err = s.TakePushedRequest(ctx, r.Hash, c.ID, at(30*time.Second))
		wantErr(t, "TakePushedRequest(again)", err, store.ErrNotFound)
		_, err = s.TakePushedRequest(ctx, newHash(), c.ID, at(30*time.Second))
		wantErr(t, "TakePushedRequest(missing)", err, store.ErrNotFound)
		_, err = s.TakePushedRequest(ctx, nil, c.ID, at(30*time.Second))
		wantErr(t, "TakePushedRequest(no hash)", err, store.ErrNotFound)

		// No parameters at all round-trip too.
		empty := newPushedRequest(c.ID, t0)
		empty.Params = map[string][]string{}
		pushRequest(t, s, empty)
		got, err = s.TakePushedRequest(ctx, empty.Hash, c.ID, t0)
		must(t, "TakePushedRequest(no parameters)", err)
		same(t, "TakePushedRequest(no parameters)", got, empty)
	}},
	{"Expired", func(t *testing.T, s store.Store) {
		// Once expired (now not before ExpiresAt), a request is not given.
		ctx := t.Context()
		c := createClient(t, s)
		for _, late := range []time.Duration{0, time.Millisecond, time.Hour} {
			r := newPushedRequest(c.ID, t0)
			pushRequest(t, s, r)
			_, err := s.TakePushedRequest(ctx, r.Hash, c.ID, r.ExpiresAt.Add(late))
			wantErr(t, "TakePushedRequest(expired)", err, store.ErrNotFound)
		}
		// Just before: given.
		r := newPushedRequest(c.ID, t0)
		pushRequest(t, s, r)
		_, err := s.TakePushedRequest(ctx, r.Hash, c.ID, r.ExpiresAt.Add(-time.Millisecond))
		must(t, "TakePushedRequest(a millisecond before its expiry)", err)
	}},
	{"TakenOnce", func(t *testing.T, s store.Store) {
		// Racing uses of one request_uri: one gets the request.
		ctx := t.Context()
		c := createClient(t, s)
		r := newPushedRequest(c.ID, t0)
		pushRequest(t, s, r)
		errs := race(goroutines, func(int) error {
			got, err := s.TakePushedRequest(ctx, r.Hash, c.ID, at(time.Second))
			if err == nil {
				same(t, "the racing TakePushedRequest that won", got, r)
			}
			return err
		})
		tally(t, "TakePushedRequest(one request_uri)", errs, store.ErrNotFound)
	}},
	{"OtherClient", func(t *testing.T, s store.Store) {
		// A request_uri presented by another client (a guess, or a leak) is
		// not given, nor destroyed: its own client still takes it, once.
		ctx := t.Context()
		c, other := createClient(t, s), createClient(t, s)
		r := newPushedRequest(c.ID, t0)
		pushRequest(t, s, r)
		for _, id := range []string{other.ID, newUUID(), ""} {
			_, err := s.TakePushedRequest(ctx, r.Hash, id, at(time.Second))
			wantErr(t, "TakePushedRequest(another client)", err, store.ErrNotFound)
		}
		got, err := s.TakePushedRequest(ctx, r.Hash, c.ID, at(time.Second))
		must(t, "TakePushedRequest(its client, after another's)", err)
		same(t, "TakePushedRequest(its client, after another's)", got, r)
		_, err = s.TakePushedRequest(ctx, r.Hash, c.ID, at(time.Second))
		wantErr(t, "TakePushedRequest(again)", err, store.ErrNotFound)
	}},
	{"MissingClient", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		r := newPushedRequest(newUUID(), t0)
		wantErr(t, "PushRequest(no client)", s.PushRequest(ctx, r), store.ErrMissingParent)
		_, err := s.TakePushedRequest(ctx, r.Hash, r.ClientID, t0)
		wantErr(t, "TakePushedRequest(refused)", err, store.ErrNotFound)
	}},
	{"Duplicate", func(t *testing.T, s store.Store) {
		// A hash stored already is a conflict, whichever client pushes it,
		// and the stored request stays as it was.
		ctx := t.Context()
		c, other := createClient(t, s), createClient(t, s)
		r := newPushedRequest(c.ID, t0)
		pushRequest(t, s, r)
		again := newPushedRequest(other.ID, at(time.Second))
		again.Hash = r.Hash
		wantErr(t, "PushRequest(duplicate)", s.PushRequest(ctx, again), store.ErrConflict)
		got, err := s.TakePushedRequest(ctx, r.Hash, c.ID, at(time.Second))
		must(t, "TakePushedRequest", err)
		same(t, "TakePushedRequest after a conflict", got, r)
	}},
	{"DeleteClient", func(t *testing.T, s store.Store) {
		// Deleting a client deletes its pushed requests, and only its.
		ctx := t.Context()
		gone, kept := createClient(t, s), createClient(t, s)
		r, o := newPushedRequest(gone.ID, t0), newPushedRequest(kept.ID, t0)
		pushRequest(t, s, r)
		pushRequest(t, s, o)
		must(t, "DeleteClient", s.DeleteClient(ctx, gone.ID))
		_, err := s.TakePushedRequest(ctx, r.Hash, gone.ID, t0)
		wantErr(t, "TakePushedRequest(of a deleted client)", err, store.ErrNotFound)
		got, err := s.TakePushedRequest(ctx, o.Hash, kept.ID, t0)
		must(t, "TakePushedRequest(of another client)", err)
		same(t, "TakePushedRequest(of another client)", got, o)
	}},
}

func init() {
	deleteExpiredTests = append(deleteExpiredTests, test{"PushedRequests", func(t *testing.T, s store.Store) {
		// Expired pushed requests go, at most limit a call; the others
		// stay and are still given.
		ctx := t.Context()
		c := createClient(t, s)
		now := at(time.Hour)
		var gone, kept []store.PushedRequest
		for i := range 5 {
			r := newPushedRequest(c.ID, now.Add(-2*time.Minute)) // expired a minute ago
			if i >= 3 {
				r.ExpiresAt = now.Add(time.Minute)
				kept = append(kept, r)
			} else {
				gone = append(gone, r)
			}
			pushRequest(t, s, r)
		}
		// At its expiry, a request is expired.
		r := newPushedRequest(c.ID, now.Add(-time.Minute))
		pushRequest(t, s, r)
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
			_, err := s.TakePushedRequest(ctx, r.Hash, c.ID, r.CreatedAt)
			wantErr(t, "TakePushedRequest(deleted)", err, store.ErrNotFound)
		}
		for _, r := range kept {
			got, err := s.TakePushedRequest(ctx, r.Hash, c.ID, now)
			must(t, "TakePushedRequest(kept)", err)
			same(t, "TakePushedRequest(kept)", got, r)
		}
	}})
}
