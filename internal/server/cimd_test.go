package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/clientkeys"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/web"
)

// documentHost serves client metadata documents over TLS (httptest's
// certificate), each path's as docs says, with a Cache-Control max-age.
type documentHost struct {
	srv     *httptest.Server
	docs    map[string]func(url string) (int, string, string) // path → status, body, Location
	fetches atomic.Int32
}

func newDocumentHost(t *testing.T) *documentHost {
	h := &documentHost{docs: map[string]func(string) (int, string, string){}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fetches.Add(1)
		doc, ok := h.docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		status, body, loc := doc(h.srv.URL + r.URL.Path)
		if loc != "" {
			w.Header().Set("Location", loc)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=120")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// doc is a valid public client's document at its URL.
func doc(redirect string) func(string) (int, string, string) {
	return func(u string) (int, string, string) {
		b, _ := json.Marshal(map[string]any{"client_id": u, "client_name": "Agent from a document", "redirect_uris": []string{redirect},
			"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
		return http.StatusOK, string(b), ""
	}
}

// withDocuments serves e with Client ID Metadata Documents on, fetched from
// h (its certificate trusted; loopback allowed, as --client-keys-allow-
// private does) from hosts hostOK allows.
func (e *env) withDocuments(h *documentHost, hostOK func(string) bool) {
	f := clientkeys.New(clientkeys.Options{AllowPrivate: true, Transport: h.srv.Client().Transport, Now: e.clock.Now})
	reg := &clients.Registration{Manager: &clients.Manager{Store: e.store, Now: e.clock.Now}, Catalogue: e.provider.Catalogue,
		Documents: f, DocumentHost: hostOK}
	pages, err := web.New(web.Options{Provider: e.provider})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv.Config.Handler = server.New(server.Options{Provider: e.provider, Keys: e.signer, Store: e.store, Pages: pages,
		ClientDocuments: reg}).Handler()
}

// TestClientIDMetadataDocument: a client_id that is the https URL of a
// metadata document (draft-ietf-oauth-client-id-metadata-document, MCP):
// grantd fetches it, stores the client under that id, the hosted consent
// page calls it unverified, and the code flow with PKCE completes; the
// document is used for its max-age, then fetched again (a changed
// redirect URI then applies). The metadata says so.
func TestClientIDMetadataDocument(t *testing.T) {
	e := newEnv(t)
	h := newDocumentHost(t)
	e.withDocuments(h, nil)
	redirect := "http://127.0.0.1:7777/callback"
	h.docs["/agent.json"] = doc(redirect)
	id := h.srv.URL + "/agent.json"
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirect}, "scope": {"accounts"},
		"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}

	b := newBrowser(e)
	loc := b.get("/oauth/authorize?" + q.Encode())
	if !strings.HasPrefix(loc.Path, web.Path) {
		t.Fatalf("authorize with a document's client_id: to %s", loc)
	}
	page := b.page(loc.String())
	page = b.choose(page, loc.String())
	b.submit(page, url.Values{"action": {"login"}, "username": {"ada"}, "password": {"x"}})
	page = b.page(web.Path + "?" + url.Values{"challenge": {loc.Query().Get("challenge")}}.Encode())
	host := strings.TrimPrefix(h.srv.URL, "https://")
	if !strings.Contains(page.body, "Unverified") || !strings.Contains(page.body, "Agent from a document") ||
		!strings.Contains(page.body, `id="document-host">`+host+`<`) {
		t.Errorf("the consent page of a document's client does not call it unverified:\n%s", page.body)
	}
	back := b.submit(page, url.Values{"action": {"approve"}})
	code := back.Query().Get("code")
	r := e.form("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {id}, "code": {code},
		"redirect_uri": {redirect}, "code_verifier": {verifier}})
	if r.Status != http.StatusOK || r.str("refresh_token") == "" {
		t.Fatalf("the code exchange of a document's client: %d %s", r.Status, r.Body)
	}
	if c, err := e.store.GetClient(t.Context(), id); err != nil || c.Metadata[clients.MetadataRegistration] != clients.MetadataDocument || !c.IsPublic() {
		t.Errorf("the stored client: %+v, %v", c, err)
	}

	// Within its max-age the document is not fetched again; past it, it is.
	n := h.fetches.Load()
	newRedirect := "http://127.0.0.1:7777/other-callback" // loopback ports do not count (RFC 8252 §7.3): another path
	h.docs["/agent.json"] = doc(newRedirect)
	q.Set("redirect_uri", newRedirect)
	r = e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+q.Encode(), nil)))
	if r.Status != http.StatusBadRequest || h.fetches.Load() != n {
		t.Errorf("within the max-age: %d after %d fetches, want the old document (the new redirect refused)", r.Status, h.fetches.Load()-n)
	}
	e.clock.Advance(3 * time.Minute)
	if loc := b.get("/oauth/authorize?" + q.Encode()); !strings.HasPrefix(loc.Path, web.Path) || h.fetches.Load() != n+1 {
		t.Errorf("past the max-age: to %s after %d fetches, want the new document", loc, h.fetches.Load()-n)
	}

	md := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server", nil)))
	if md.JSON["client_id_metadata_document_supported"] != true {
		t.Errorf("client_id_metadata_document_supported %v", md.JSON["client_id_metadata_document_supported"])
	}
}

// TestClientIDMetadataDocumentRefusals: a document whose client_id is not
// its URL, one with a client secret or inline keys, a confidential auth
// method, a redirect, one too large, an unknown path, an http URL, a host
// the server does not allow, and an https redirect for a public client are
// each refused (an error page, nothing stored).
func TestClientIDMetadataDocumentRefusals(t *testing.T) {
	e := newEnv(t)
	h := newDocumentHost(t)
	e.withDocuments(h, func(host string) bool { return host != "127.0.0.2" })
	ok := doc("http://127.0.0.1:7777/callback")
	with := func(edit func(map[string]any)) func(string) (int, string, string) {
		return func(u string) (int, string, string) {
			_, body, _ := ok(u)
			var m map[string]any
			_ = json.Unmarshal([]byte(body), &m)
			edit(m)
			b, _ := json.Marshal(m)
			return http.StatusOK, string(b), ""
		}
	}
	h.docs["/other-id.json"] = with(func(m map[string]any) { m["client_id"] = "https://evil.example/agent.json" })
	h.docs["/secret.json"] = with(func(m map[string]any) { m["client_secret"] = "s3cret" })
	h.docs["/jwks.json"] = with(func(m map[string]any) { m["jwks"] = map[string]any{"keys": []any{}} })
	h.docs["/basic.json"] = with(func(m map[string]any) { m["token_endpoint_auth_method"] = "client_secret_basic" })
	h.docs["/https-redirect.json"] = with(func(m map[string]any) { m["redirect_uris"] = []string{"https://app.example/cb"} })
	h.docs["/moved.json"] = func(string) (int, string, string) { return http.StatusFound, "", h.srv.URL + "/agent.json" }
	h.docs["/huge.json"] = with(func(m map[string]any) { m["client_name"] = strings.Repeat("x", 20<<10) })
	for _, path := range []string{"/other-id.json", "/secret.json", "/jwks.json", "/basic.json", "/https-redirect.json", "/moved.json", "/huge.json", "/missing.json"} {
		id := h.srv.URL + path
		r := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {id},
			"redirect_uri": {"http://127.0.0.1:7777/callback"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"}}.Encode(), nil)))
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "metadata document") {
			t.Errorf("%s: %d %s, want 400 naming the document", path, r.Status, r.Body)
		}
		if _, err := e.store.GetClient(t.Context(), id); err == nil {
			t.Errorf("%s: a client was stored", path)
		}
	}
	denied := strings.Replace(h.srv.URL, "127.0.0.1", "127.0.0.2", 1) + "/agent.json"
	h.docs["/agent.json"] = ok
	r := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {denied}}.Encode(), nil)))
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "not allowed") {
		t.Errorf("a host the server does not allow: %d %s", r.Status, r.Body)
	}
	if !clients.IsDocumentID(h.srv.URL + "/agent.json") {
		t.Error("IsDocumentID refuses a document URL")
	}
	for _, bad := range []string{h.srv.URL, "http://a.example/x", "https://a.example/x?y=1", "https://a.example/x?", "https://a.example/x#",
		"https://u@a.example/x", "https://evil.example./x", "https://a.example/x/../y", "https://a.example/x/..", "https://a.example/%2e%2e/y",
		"https://a.example/a b", "https://A.example/x", "https://a.example/é"} {
		if clients.IsDocumentID(bad) {
			t.Errorf("IsDocumentID(%q) = true", bad)
		}
	}
}
