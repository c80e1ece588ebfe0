package storetest

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

var authRequestTests = []test{
	{"CreateGet", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
		got, err := s.GetAuthRequest(ctx, r.ID, at(time.Minute))
		must(t, "GetAuthRequest", err)
		same(t, "GetAuthRequest", got, r)

		_, err = s.GetAuthRequest(ctx, newID(), at(time.Minute))
		wantErr(t, "GetAuthRequest(missing)", err, store.ErrNotFound)
		_, err = s.GetAuthRequest(ctx, r.ID, r.ExpiresAt.Add(time.Second))
		wantErr(t, "GetAuthRequest(expired)", err, store.ErrNotFound)
	}},
	{"CreateDuplicate", func(t *testing.T, s store.Store) {
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(t.Context(), r))
		wantErr(t, "CreateAuthRequest(duplicate)", s.CreateAuthRequest(t.Context(), r), store.ErrConflict)
	}},
	{"Update", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
		want := r
		want.Subject = "user-1"
		got, err := s.UpdateAuthRequest(ctx, r.ID, at(time.Minute), func(cur *store.AuthRequest) error {
			same(t, "UpdateAuthRequest's fn argument", *cur, r)
			cur.Subject = "user-1"
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
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
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
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
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
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
		_, err := s.ConsumeAuthRequest(ctx, r.ID, r.ExpiresAt.Add(time.Second))
		wantErr(t, "ConsumeAuthRequest(expired)", err, store.ErrNotFound)
		_, err = s.ConsumeAuthRequest(ctx, newID(), at(time.Minute))
		wantErr(t, "ConsumeAuthRequest(missing)", err, store.ErrNotFound)
	}},
}
