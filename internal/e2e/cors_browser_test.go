package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/grantd/grantd/internal/store"
)

// TestBrowserCORS: Chromium, on a page of the client's own origin, calls
// grantd's token endpoint with fetch and Basic credentials (a preflighted
// request: the browser sends its own OPTIONS first), then revocation: the
// answers are readable there. On a page of an origin the client does not
// list, the request is 400 unauthorized_client; introspection, which
// answers no CORS, is blocked by the browser itself; the metadata is
// readable from anywhere.
func TestBrowserCORS(t *testing.T) {
	g := startGrantd(t)
	page := func() string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><html lang="en"><title>SPA</title><p id="ready">ready</p></html>`)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	listed, unlisted := page(), page()
	cl := g.client(t, listed+"/callback", false)
	c, err := g.store.UpdateClient(context.Background(), cl.ID, func(s *store.Client) error {
		s.Security.AllowedCORSOrigins, s.GrantTypes, s.ResourceServer = []string{listed}, []string{"client_credentials"}, true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+cl.Secret))
	ctx := startBrowser(t)
	// call runs fetch in the page at origin and returns what the script
	// saw: the status and body, or the browser's error.
	call := func(origin, path, body string) map[string]any {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.Navigate(origin+"/"), chromedp.WaitVisible(chromedp.ID("ready"))); err != nil {
			t.Fatalf("open %s: %v", origin, err)
		}
		args, _ := json.Marshal(map[string]string{"url": g.url + path, "body": body, "auth": auth})
		js := `(async a => {
			try {
				const o = a.body ? {method: "POST", body: a.body,
					headers: {"Authorization": a.auth, "Content-Type": "application/x-www-form-urlencoded"}} : {};
				const r = await fetch(a.url, o);
				return JSON.stringify({status: r.status, body: await r.text()});
			} catch (e) {
				return JSON.stringify({error: String(e)});
			}
		})(` + string(args) + `)`
		out, err := chromedp.Run(sctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("fetch %s from %s: %v", path, origin, err)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(out), &m)
		return m
	}
	body := func(m map[string]any) map[string]any {
		var b map[string]any
		s, _ := m["body"].(string)
		_ = json.Unmarshal([]byte(s), &b)
		return b
	}

	r := call(listed, "/oauth/token", "grant_type=client_credentials")
	at, _ := body(r)["access_token"].(string)
	if r["status"] != float64(200) || at == "" {
		t.Fatalf("the token from the client's origin: %v", r)
	}
	if r := call(unlisted, "/oauth/token", "grant_type=client_credentials"); r["status"] != float64(400) || body(r)["error"] != "unauthorized_client" {
		t.Errorf("the token from another origin: %v, want 400 unauthorized_client", r)
	}
	if r := call(listed, "/oauth/introspect", "token="+at); r["error"] == nil {
		t.Errorf("introspection from a browser: %v, want blocked by the browser (no CORS)", r)
	}
	if r := call(unlisted, "/.well-known/oauth-authorization-server", ""); r["status"] != float64(200) || body(r)["issuer"] != g.url {
		t.Errorf("the metadata from any origin: %v", r)
	}
	if r := call(listed, "/oauth/revoke", "token="+at); r["status"] != float64(200) {
		t.Errorf("revocation from the client's origin: %v", r)
	}
}
