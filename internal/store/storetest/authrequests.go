package storetest

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

var authRequestTests = []test{
	{"DeviceHash", func(t *testing.T, s store.Store) {
		// A browser's request (DeviceHash nil) reads back nil, not empty,
		// through every method; a device's keeps its hash.
		ctx := t.Context()
		c := createClient(t, s)
		wantNil := func(what string, r store.AuthRequest, err error) {
			t.Helper()
			must(t, what, err)
			if r.DeviceHash != nil {
				t.Errorf("%s: DeviceHash %#v, want nil", what, r.DeviceHash)
			}
		}
		r := newAuthRequest(c.ID)
		r.DeviceHash = nil
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))
		got, err := s.GetAuthRequest(ctx, r.ID, at(time.Minute))
		wantNil("GetAuthRequest", got, err)
		got, err = s.UpdateAuthRequest(ctx, r.ID, at(time.Minute), func(cur *store.AuthRequest) error {
			if cur.DeviceHash != nil {
				t.Errorf("UpdateAuthRequest's fn argument: DeviceHash %#v, want nil", cur.DeviceHash)
			}
			cur.Subject = "user-1"
			return nil
		})
		wantNil("UpdateAuthRequest", got, err)
		got, err = s.ConsumeAuthRequest(ctx, r.ID, at(time.Minute))
		wantNil("ConsumeAuthRequest", got, err)

		// Set, then cleared by an update.
		d := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest(a device's)", s.CreateAuthRequest(ctx, d, 0))
		got, err = s.GetAuthRequest(ctx, d.ID, at(time.Minute))
		must(t, "GetAuthRequest(a device's)", err)
		same(t, "GetAuthRequest(a device's)", got, d)
		got, err = s.UpdateAuthRequest(ctx, d.ID, at(time.Minute), func(cur *store.AuthRequest) error {
			cur.DeviceHash = nil
			return nil
		})
		wantNil("UpdateAuthRequest(DeviceHash cleared)", got, err)
		got, err = s.GetAuthRequest(ctx, d.ID, at(time.Minute))
		wantNil("GetAuthRequest(DeviceHash cleared)", got, err)
	}},
	{"CreateGet", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))
		got, err := s.GetAuthRequest(ctx, r.ID, at(time.Minute))
		must(t, "GetAuthRequest", err)
		same(t, "GetAuthRequest", got, r)

		_, err = s.GetAuthRequest(ctx, newID(), at(time.Minute))
		wantErr(t, "GetAuthRequest(missing)", err, store.ErrNotFound)
		_, err = s.GetAuthRequest(ctx, r.ID, r.ExpiresAt.Add(time.Second))
		wantErr(t, "GetAuthRequest(expired)", err, store.ErrNotFound)
	}},
	{"CreateCapped", func(t *testing.T, s store.Store) {
		// With maxPending, a client has at most that many pending requests
		// unexpired when the new one is created; expired, consumed and other
		// clients' requests do not count.
		ctx := t.Context()
		c, other := createClient(t, s), createClient(t, s)
		now := at(time.Hour)
		request := func(clientID string, created, expires time.Time) store.AuthRequest {
			r := newAuthRequest(clientID)
			r.CreatedAt, r.ExpiresAt = created, expires
			return r
		}
		// Expired at now (ExpiresAt not after it): not pending.
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, request(c.ID, t0, now), 2))
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, request(other.ID, now, now.Add(time.Hour)), 2))
		first := request(c.ID, now, now.Add(10*time.Minute))
		must(t, "CreateAuthRequest(1 of 2)", s.CreateAuthRequest(ctx, first, 2))
		must(t, "CreateAuthRequest(2 of 2)", s.CreateAuthRequest(ctx, request(c.ID, now, now.Add(time.Minute)), 2))
		over := request(c.ID, now.In(elsewhere), now.Add(10*time.Minute))
		wantErr(t, "CreateAuthRequest(3 of 2)", s.CreateAuthRequest(ctx, over, 2), store.ErrTooMany)
		_, err := s.GetAuthRequest(ctx, over.ID, now)
		wantErr(t, "GetAuthRequest(refused)", err, store.ErrNotFound)
		must(t, "CreateAuthRequest(3 of 3)", s.CreateAuthRequest(ctx, request(c.ID, now, now.Add(time.Minute)), 3))
		must(t, "CreateAuthRequest(no cap)", s.CreateAuthRequest(ctx, request(c.ID, now, now.Add(time.Minute)), 0))
		wantErr(t, "CreateAuthRequest(5 of 4)", s.CreateAuthRequest(ctx, over, 4), store.ErrTooMany)
		// A minute later two have expired, and a consumed one frees its slot.
		later := now.Add(time.Minute)
		_, err = s.ConsumeAuthRequest(ctx, first.ID, later)
		must(t, "ConsumeAuthRequest", err)
		over.CreatedAt = later
		must(t, "CreateAuthRequest(1 of 1, later)", s.CreateAuthRequest(ctx, over, 1))
		wantErr(t, "CreateAuthRequest(2 of 1, later)", s.CreateAuthRequest(ctx, request(c.ID, later, later.Add(time.Minute)), 1),
			store.ErrTooMany)
		// The cap is per source address: another address (and a connect
		// session, which has none) is not held back by this one's.
		from := request(c.ID, later, later.Add(time.Minute))
		from.SourceAddress = "198.51.100.9"
		must(t, "CreateAuthRequest(another address)", s.CreateAuthRequest(ctx, from, 1))
		session := request(c.ID, later, later.Add(time.Minute))
		session.SourceAddress = ""
		must(t, "CreateAuthRequest(a connect session)", s.CreateAuthRequest(ctx, session, 1))
		// No client: the insert's answer.
		wantErr(t, "CreateAuthRequest(no client, capped)", s.CreateAuthRequest(ctx, newAuthRequest(newUUID()), 1),
			store.ErrMissingParent)
	}},
	{"CreateDuplicate", func(t *testing.T, s store.Store) {
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(t.Context(), r, 0))
		wantErr(t, "CreateAuthRequest(duplicate)", s.CreateAuthRequest(t.Context(), r, 0), store.ErrConflict)
	}},
	{"Update", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))
		want := r
		want.Subject = "user-1"
		want.Resources = []string{"https://api.example.com/"}
		want.DeviceHash = newHash()
		got, err := s.UpdateAuthRequest(ctx, r.ID, at(time.Minute), func(cur *store.AuthRequest) error {
			same(t, "UpdateAuthRequest's fn argument", *cur, r)
			cur.Subject = "user-1"
			cur.Resources = []string{"https://api.example.com/"}
			cur.DeviceHash = want.DeviceHash
			return nil
		})
		must(t, "UpdateAuthRequest", err)
		same(t, "UpdateAuthRequest", got, want)
		got, err = s.GetAuthRequest(ctx, r.ID, at(time.Minute))
		must(t, "GetAuthRequest", err)
		same(t, "GetAuthRequest after UpdateAuthRequest", got, want)

		// An error from fn is returned as is and nothing changes.
		_, err = s.UpdateAuthRequest(ctx, r.ID, at(time.Minute), func(cur *store.AuthRequest) error {
			cur.Subject = "user-2"
			return errCheck
		})
		wantErr(t, "UpdateAuthRequest(fn fails)", err, errCheck)
		got, err = s.GetAuthRequest(ctx, r.ID, at(time.Minute))
		must(t, "GetAuthRequest", err)
		same(t, "GetAuthRequest after a failed UpdateAuthRequest", got, want)
	}},
	{"UpdateMissingOrExpired", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))
		fn := func(*store.AuthRequest) error {
			t.Error("fn called, want not called")
			return nil
		}
		_, err := s.UpdateAuthRequest(ctx, newID(), at(time.Minute), fn)
		wantErr(t, "UpdateAuthRequest(missing)", err, store.ErrNotFound)
		_, err = s.UpdateAuthRequest(ctx, r.ID, r.ExpiresAt.Add(time.Second), fn)
		wantErr(t, "UpdateAuthRequest(expired)", err, store.ErrNotFound)
	}},
	{"Consume", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))
		got, err := s.ConsumeAuthRequest(ctx, r.ID, at(time.Minute))
		must(t, "ConsumeAuthRequest", err)
		same(t, "ConsumeAuthRequest", got, r)

		_, err = s.ConsumeAuthRequest(ctx, r.ID, at(time.Minute))
		wantErr(t, "ConsumeAuthRequest(again)", err, store.ErrNotFound)
		_, err = s.GetAuthRequest(ctx, r.ID, at(time.Minute))
		wantErr(t, "GetAuthRequest(consumed)", err, store.ErrNotFound)
		_, err = s.UpdateAuthRequest(ctx, r.ID, at(time.Minute), func(*store.AuthRequest) error { return nil })
		wantErr(t, "UpdateAuthRequest(consumed)", err, store.ErrNotFound)
	}},
	{"ConsumeExpired", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))
		_, err := s.ConsumeAuthRequest(ctx, r.ID, r.ExpiresAt.Add(time.Second))
		wantErr(t, "ConsumeAuthRequest(expired)", err, store.ErrNotFound)
		_, err = s.ConsumeAuthRequest(ctx, newID(), at(time.Minute))
		wantErr(t, "ConsumeAuthRequest(missing)", err, store.ErrNotFound)
	}},
}
