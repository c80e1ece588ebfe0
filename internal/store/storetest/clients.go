package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

var clientTests = []test{
	{"CachedClientSeesWrites", func(t *testing.T, s store.Store) {
		// A client that obtained its first token may be answered from the
		// backend's cache (store.ClientCache): every write of it through
		// the store is seen by the next GetClient all the same.
		ctx := t.Context()
		c := newClient()
		c.Metered, c.Balance, c.FirstTokenAt = false, 0, time.Time{}
		must(t, "CreateClient", s.CreateClient(ctx, c))
		decide(t, s, store.GrantKey{}, store.Writes{At: at(time.Hour), FirstTokenOf: c.ID})
		get := func(what string) store.Client {
			t.Helper()
			got, err := s.GetClient(ctx, c.ID)
			must(t, "GetClient "+what, err)
			return got
		}
		if got := get("after the first token"); got.FirstTokenAt.IsZero() {
			t.Fatalf("FirstTokenAt not set by FirstTokenOf")
		}
		get("again") // now kept, where the backend caches

		_, err := s.UpdateClient(ctx, c.ID, func(c *store.Client) error {
			c.Name, c.SecretHash = "renamed", store.Hash("rotated")
			return nil
		})
		must(t, "UpdateClient", err)
		if got := get("after UpdateClient"); got.Name != "renamed" || !bytes.Equal(got.SecretHash, store.Hash("rotated")) {
			t.Errorf("after UpdateClient: name %q, secret hash %x: the old client", got.Name, got.SecretHash)
		}
		get("again")
		n, err := s.Reseal(ctx, func(kind, owner string, sealed []byte) ([]byte, error) {
			return append([]byte("resealed:"), sealed...), nil
		})
		must(t, "Reseal", err)
		if got := get("after Reseal"); n == 0 || !bytes.HasPrefix(got.WebhookSecret, []byte("resealed:")) {
			t.Errorf("after Reseal (%d values): webhook secret %q: the old one", n, got.WebhookSecret)
		}
		get("again")
		_, err = s.UpdateClient(ctx, c.ID, func(c *store.Client) error { c.Metered = true; return nil })
		must(t, "UpdateClient(metered)", err)
		_, _, err = s.AdjustBalance(ctx, c.ID, store.LedgerEntry{Kind: store.LedgerTopUp, Amount: 5, CreatedAt: at(2 * time.Hour)})
		must(t, "AdjustBalance", err)
		if got := get("after a top-up"); !got.Metered || got.Balance != 5 {
			t.Errorf("after a top-up: metered %v, balance %d; want true, 5", got.Metered, got.Balance)
		}
		_, err = s.UpdateClient(ctx, c.ID, func(c *store.Client) error { c.Metered = false; return nil })
		must(t, "UpdateClient(not metered)", err)
		get("kept")
		s.ForgetClient(c.ID) // drops a copy; changes nothing stored
		get("after ForgetClient")
		must(t, "DeleteClient", s.DeleteClient(ctx, c.ID))
		_, err = s.GetClient(ctx, c.ID)
		wantErr(t, "GetClient after DeleteClient", err, store.ErrNotFound)
	}},
	{"CreateGetList", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		clients := listClients(t, s)
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

		clients = listClients(t, s)
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
		want.State, want.StateReason, want.StateChangedAt = store.ClientSuspended, "unpaid invoice", at(time.Hour)
		want.OperatingHours = nil
		want.Metered, want.Overdraft = false, false
		// As given: a rotation's grace ended, a new registration token,
		// the server's default algorithm.
		want.PreviousSecretHash, want.PreviousSecretExpiresAt = nil, time.Time{}
		want.RegistrationTokenHash, want.AccessTokenSigningAlg = store.Hash("another registration token"), ""
		// No financial-grade settings.
		want.Security = store.ClientSecurity{}
		update := func(what string, from, want store.Client) {
			t.Helper()
			got, err := s.UpdateClient(ctx, c.ID, func(cur *store.Client) error {
				same(t, what+": UpdateClient's fn argument", *cur, from)
				*cur = want
				return nil
			})
			must(t, "UpdateClient", err)
			same(t, what+": UpdateClient", got, want)
			got, err = s.GetClient(ctx, c.ID)
			must(t, "GetClient", err)
			same(t, what+": GetClient after UpdateClient", got, want)
		}
		update("update", c, want)
		// And back: operating hours from none, metered again.
		back := want
		back.OperatingHours = &store.Schedule{TimeZone: "UTC", Weekly: map[string][]string{"sun": {"00:00-23:59"}}}
		back.Metered, back.Overdraft, back.StateReason = true, true, ""
		back.PreviousSecretHash, back.PreviousSecretExpiresAt = store.Hash("rotated"), at(2*time.Hour)
		back.RegistrationTokenHash, back.AccessTokenSigningAlg = nil, "EdDSA"
		back.Security = store.ClientSecurity{AllowedResources: []string{"https://a.example/", "https://b.example/x"}}
		update("back", want, back)
	}},
	{"UpdateKeepsTheStoresFields", func(t *testing.T, s store.Store) {
		// Only AdjustBalance and charges change the balance, only
		// FirstTokenOf the first-token time: whatever fn sets is not kept.
		ctx := t.Context()
		c := createClient(t, s)
		got, err := s.UpdateClient(ctx, c.ID, func(cur *store.Client) error {
			cur.Name = "renamed"
			cur.Balance, cur.BalanceUpdatedAt, cur.FirstTokenAt = 1_000_000, at(time.Hour), time.Time{}
			return nil
		})
		must(t, "UpdateClient", err)
		want := c
		want.Name = "renamed"
		same(t, "UpdateClient", got, want)
		got, err = s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		same(t, "GetClient after UpdateClient", got, want)
	}},
	{"ListPages", func(t *testing.T, s store.Store) {
		// In ID order, limit at a time; the cursor is the last ID. A client
		// created after the page it would fall in shows on a later one only
		// if its ID sorts after the cursor.
		var ids []string
		for range 5 {
			ids = append(ids, createClient(t, s).ID)
		}
		slices.Sort(ids)
		same(t, "ListClients IDs", clientIDs(listClients(t, s)), ids)
		list := func(p store.Page) ([]store.Client, string, error) { return s.ListClients(t.Context(), p) }
		for _, limit := range []int{1, 2, 5, 6} {
			var got []string
			for _, page := range walk(t, "ListClients", limit, list) {
				got = append(got, clientIDs(page)...)
			}
			same(t, fmt.Sprintf("ListClients in pages of %d", limit), got, ids)
		}
		first, next, err := s.ListClients(t.Context(), store.Page{Limit: 2})
		must(t, "ListClients", err)
		if next != ids[1] {
			t.Errorf("ListClients cursor %q, want the last ID %q", next, ids[1])
		}
		same(t, "the first page", clientIDs(first), ids[:2])
		// The cursor is a position: a deleted client does not break it.
		must(t, "DeleteClient", s.DeleteClient(t.Context(), ids[1]))
		rest, _, err := s.ListClients(t.Context(), store.Page{After: next})
		must(t, "ListClients after a deleted cursor", err)
		same(t, "ListClients after a deleted cursor", clientIDs(rest), ids[2:])
	}},
	{"DeleteUnused", func(t *testing.T, s store.Store) {
		// The janitor's cleanup of dynamically registered clients: only
		// those with the metadata, no first token, not metered, created
		// before the cutoff, at most limit, oldest first, with everything
		// issued to them, and no event.
		ctx := t.Context()
		cutoff := at(24 * time.Hour)
		add := func(meta map[string]string, created time.Time, used bool) store.Client {
			c := newClient()
			c.Metadata, c.CreatedAt, c.Metered = meta, created, false
			if !used {
				c.FirstTokenAt = time.Time{}
			}
			must(t, "CreateClient", s.CreateClient(ctx, c))
			return c
		}
		dyn := map[string]string{"registration": "dynamic", "team": "x"}
		oldest := add(dyn, at(time.Second), false)
		old := add(dyn, at(time.Minute), false)
		kept := []store.Client{
			add(dyn, at(time.Second), true),                              // obtained a token
			add(map[string]string{"registration": "admin"}, t0, false),   // another value
			add(map[string]string{"Registration": "dynamic"}, t0, false), // another key
			add(nil, t0, false),                    // no metadata
			add(dyn, cutoff, false),                // not before the cutoff
			add(dyn, cutoff.Add(time.Hour), false), // after it
			add(map[string]string{"x": "registration", "y": "dynamic"}, t0, false),
		}
		// A metered one keeps its balance and ledger: an operator topped
		// it up.
		prepaid := newClient()
		prepaid.Metadata, prepaid.CreatedAt, prepaid.FirstTokenAt = dyn, at(time.Second), time.Time{}
		must(t, "CreateClient", s.CreateClient(ctx, prepaid))
		kept = append(kept, prepaid)
		// One that obtains its first token now is no longer unused.
		marked := add(dyn, at(time.Second), false)
		decide(t, s, store.GrantKey{}, store.Writes{At: at(time.Hour), FirstTokenOf: marked.ID})
		kept = append(kept, marked)

		// Records of the old one: they go with it, events included.
		req := newAuthRequest(old.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, req, 0))
		conn := newConnection(old.ID, t0)
		createConnection(t, s, conn)
		wantTypes(t, s, "events before the cleanup", conn.ID, store.EventConnectionCreated)

		n, err := s.DeleteUnusedClients(ctx, "registration", "dynamic", cutoff, 0)
		count(t, "DeleteUnusedClients(limit 0)", n, err, 0)
		n, err = s.DeleteUnusedClients(ctx, "registration", "dynamic", cutoff.In(elsewhere), 1)
		count(t, "DeleteUnusedClients(limit 1)", n, err, 1)
		if _, err := s.GetClient(ctx, oldest.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the oldest unused client is not the first deleted: %v", err)
		}
		n, err = s.DeleteUnusedClients(ctx, "registration", "dynamic", cutoff, 10)
		count(t, "DeleteUnusedClients(limit 10)", n, err, 1)
		n, err = s.DeleteUnusedClients(ctx, "registration", "dynamic", cutoff, 10)
		count(t, "DeleteUnusedClients(nothing left)", n, err, 0)

		_, err = s.GetClient(ctx, old.ID)
		wantErr(t, "GetClient(deleted)", err, store.ErrNotFound)
		_, err = s.GetAuthRequest(ctx, req.ID, t0)
		wantErr(t, "GetAuthRequest(of a deleted client)", err, store.ErrNotFound)
		_, err = s.GetConnection(ctx, conn.ID)
		wantErr(t, "GetConnection(of a deleted client)", err, store.ErrNotFound)
		wantTypes(t, s, "events of a deleted client", conn.ID)
		for _, c := range kept {
			if _, err := s.GetClient(ctx, c.ID); err != nil {
				t.Errorf("client %+v: %v, want it kept", c.Metadata, err)
			}
		}
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
		clients := listClients(t, s)
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
			must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, is.req, 0))
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
		if conns := listConnections(t, s, gone.client.ID); len(conns) != 0 {
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
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0), store.ErrMissingParent)
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

func clientIDs(cs []store.Client) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}
