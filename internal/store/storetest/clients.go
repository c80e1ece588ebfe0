package storetest

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

var clientTests = []test{
	{"CreateGetList", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		clients, err := s.ListClients(ctx)
		must(t, "ListClients", err)
		if len(clients) != 0 {
			t.Fatalf("ListClients on an empty store: %d clients", len(clients))
		}

		c := createClient(t, s)
		got, err := s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		same(t, "GetClient", got, c)

		// A public client with every optional field empty.
		p := store.Client{ID: newUUID(), Name: "public", AuthMethod: store.AuthMethodNone,
			State: store.ClientPending, CreatedAt: at(time.Second)}
		must(t, "CreateClient", s.CreateClient(ctx, p))
		got, err = s.GetClient(ctx, p.ID)
		must(t, "GetClient", err)
		same(t, "GetClient(public)", got, p)
		if len(got.SecretHash) != 0 {
			t.Errorf("public client SecretHash = %x, want none", got.SecretHash)
		}

		clients, err = s.ListClients(ctx)
		must(t, "ListClients", err)
		byID := map[string]store.Client{}
		for _, c := range clients {
			byID[c.ID] = c
		}
		if len(clients) != 2 || len(byID) != 2 {
			t.Fatalf("ListClients: %d clients, want 2", len(clients))
		}
		same(t, "ListClients[c]", byID[c.ID], c)
		same(t, "ListClients[p]", byID[p.ID], p)
	}},
	{"GetMissing", func(t *testing.T, s store.Store) {
		_, err := s.GetClient(t.Context(), newUUID())
		wantErr(t, "GetClient", err, store.ErrNotFound)
	}},
	{"CreateDuplicate", func(t *testing.T, s store.Store) {
		c := createClient(t, s)
		dup := newClient()
		dup.ID = c.ID
		wantErr(t, "CreateClient(duplicate)", s.CreateClient(t.Context(), dup), store.ErrConflict)
		got, err := s.GetClient(t.Context(), c.ID)
		must(t, "GetClient", err)
		same(t, "GetClient", got, c)
	}},
	{"Update", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		want := c
		want.Name = "renamed"
		want.Scopes = []string{"company"}
		want.RedirectURIs = nil
		want.Metadata = map[string]string{"team": "benefits"}
		want.State = store.ClientSuspended
		want.RefreshPolicy = store.RefreshFixed
		want.ResourceServer = false
		want.AccessTokenTTL = 15 * time.Minute
		want.WebhookURL = "https://hooks.example/new"
		want.WebhookSecret = nil
		want.ConsentTTL = 0
		want.RetentionTTL = 30 * 24 * time.Hour
		want.UpdatedAt = at(time.Hour)
		got, err := s.UpdateClient(ctx, c.ID, func(cur *store.Client) error {
			same(t, "UpdateClient's fn argument", *cur, c)
			*cur = want
			return nil
		})
		must(t, "UpdateClient", err)
		same(t, "UpdateClient", got, want)
		got, err = s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		same(t, "GetClient after UpdateClient", got, want)
	}},
	{"UpdateMissing", func(t *testing.T, s store.Store) {
		_, err := s.UpdateClient(t.Context(), newUUID(), func(*store.Client) error {
			t.Error("fn called for a missing client")
			return nil
		})
		wantErr(t, "UpdateClient", err, store.ErrNotFound)
	}},
	{"UpdateError", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		_, err := s.UpdateClient(ctx, c.ID, func(cur *store.Client) error {
			cur.Name = "not stored"
			return errCheck
		})
		wantErr(t, "UpdateClient", err, errCheck)
		got, err := s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		same(t, "GetClient after a failed UpdateClient", got, c)
	}},
	{"Delete", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		other := createClient(t, s)
		must(t, "DeleteClient", s.DeleteClient(ctx, c.ID))
		_, err := s.GetClient(ctx, c.ID)
		wantErr(t, "GetClient after DeleteClient", err, store.ErrNotFound)
		wantErr(t, "DeleteClient again", s.DeleteClient(ctx, c.ID), store.ErrNotFound)
		clients, err := s.ListClients(ctx)
		must(t, "ListClients", err)
		if len(clients) != 1 || clients[0].ID != other.ID {
			t.Errorf("ListClients after DeleteClient: %v, want only %s", clients, other.ID)
		}
	}},
	{"DeleteRemovesEverythingIssued", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		type issued struct {
			client  store.Client
			req     store.AuthRequest
			code    store.AuthCode // unused
			conn    store.Connection
			grant   grant
			ccToken store.AccessToken
		}
		issue := func() issued {
			var is issued
			is.client = createClient(t, s)
			is.req = newAuthRequest(is.client.ID)
			must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, is.req))
			is.conn = newConnection(is.client.ID, t0)
			is.grant = issueGrant(t, s, is.client.ID, &is.conn, store.RefreshRotating)
			is.code = newCode(is.client.ID, is.conn.ID)
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, is.code, nil))
			is.ccToken = newCCToken(is.client.ID, t0)
			createAccessToken(t, s, is.ccToken)
			return is
		}
		gone, kept := issue(), issue()

		must(t, "DeleteClient", s.DeleteClient(ctx, gone.client.ID))

		now := at(time.Minute)
		_, err := s.GetAuthRequest(ctx, gone.req.ID, now)
		wantErr(t, "GetAuthRequest", err, store.ErrNotFound)
		_, err = s.GetConnection(ctx, gone.conn.ID)
		wantErr(t, "GetConnection", err, store.ErrNotFound)
		conns, err := s.ListConnections(ctx, gone.client.ID)
		must(t, "ListConnections", err)
		if len(conns) != 0 {
			t.Errorf("ListConnections of a deleted client: %d connections", len(conns))
		}
		_, _, err = s.GetRefreshToken(ctx, gone.grant.RefreshToken.Hash)
		wantErr(t, "GetRefreshToken", err, store.ErrNotFound)
		_, err = s.GetAccessToken(ctx, gone.grant.AccessToken.ID)
		wantErr(t, "GetAccessToken(grant)", err, store.ErrNotFound)
		_, err = s.GetAccessToken(ctx, gone.ccToken.ID)
		wantErr(t, "GetAccessToken(client credentials)", err, store.ErrNotFound)
		wantErr(t, "Decide(code)", s.Decide(ctx, codeKey(gone.code), notCalled(t)), store.ErrNotFound)
		wantErr(t, "Decide(refresh token)", s.Decide(ctx, refreshKey(gone.grant.RefreshToken.Hash), notCalled(t)), store.ErrNotFound)

		// The other client's records are untouched.
		_, err = s.GetAuthRequest(ctx, kept.req.ID, now)
		must(t, "GetAuthRequest(kept)", err)
		_, err = s.GetConnection(ctx, kept.conn.ID)
		must(t, "GetConnection(kept)", err)
		_, _, err = s.GetRefreshToken(ctx, kept.grant.RefreshToken.Hash)
		must(t, "GetRefreshToken(kept)", err)
		wantRevoked(t, s, "kept grant", kept.grant.AccessToken.ID, false)
		wantRevoked(t, s, "kept client credentials", kept.ccToken.ID, false)
		wantOnly(t, "Decide(kept code)", peek(t, s, codeKey(kept.code)), store.Locked{Code: &kept.code, Connection: &kept.conn})
	}},
	{"WritesForADeletedClient", func(t *testing.T, s store.Store) {
		// A request of a client deleted meanwhile: every write that refers
		// to it fails with ErrMissingParent and leaves nothing behind.
		ctx := t.Context()
		c := createClient(t, s)
		must(t, "DeleteClient", s.DeleteClient(ctx, c.ID))

		conn := newConnection(c.ID, t0)
		code := newCode(c.ID, conn.ID)
		wantErr(t, "CreateAuthCode(with connection)", s.CreateAuthCode(ctx, code, &conn), store.ErrMissingParent)
		wantErr(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil), store.ErrMissingParent)
		_, err := s.GetConnection(ctx, conn.ID)
		wantErr(t, "GetConnection", err, store.ErrNotFound)
		wantErr(t, "Decide(code)", s.Decide(ctx, codeKey(code), notCalled(t)), store.ErrNotFound)
		if es := eventsOf(t, s, conn.ID); len(es) != 0 {
			t.Errorf("events of a connection never created: %+v", es)
		}

		r := newAuthRequest(c.ID)
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), store.ErrMissingParent)
		_, err = s.GetAuthRequest(ctx, r.ID, t0)
		wantErr(t, "GetAuthRequest", err, store.ErrNotFound)

		tok := newCCToken(c.ID, t0)
		wantErr(t, "Decide(record an access token)", putAccessToken(ctx, s, tok), store.ErrMissingParent)
		_, err = s.GetAccessToken(ctx, tok.ID)
		wantErr(t, "GetAccessToken", err, store.ErrNotFound)

		g := newCodeGrant(code, t0, store.RefreshRotating)
		g.SpendCode = false
		err = s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) { return g, nil })
		wantErr(t, "Decide(a grant of a deleted client)", err, store.ErrMissingParent)
		_, _, err = s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		wantErr(t, "GetRefreshToken", err, store.ErrNotFound)
		_, err = s.GetAccessToken(ctx, g.AccessToken.ID)
		wantErr(t, "GetAccessToken", err, store.ErrNotFound)
	}},
}
