package web

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
)

const redirectURI = "http://127.0.0.1:9876/callback"

// env is the pages in front of the real core on a real SQLite file.
type env struct {
	t        *testing.T
	store    *sqlite.Store
	provider *oauth.Provider
	srv      *httptest.Server
}

type envOption func(*oauth.Provider, *Options)

func noCatalogue(p *oauth.Provider, _ *Options) { p.Catalogue = nil }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &oauth.Provider{Store: st, Issuer: "http://grantd.test", HostedConsentPath: Path, Catalogue: oauth.SandboxCatalogue()}
	o := Options{Provider: p}
	for _, opt := range opts {
		opt(p, &o)
	}
	pages, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(pages)
	t.Cleanup(srv.Close)
	return &env{t: t, store: st, provider: p, srv: srv}
}

var clientSeq atomic.Int64

func (e *env) client() store.Client {
	e.t.Helper()
	now := time.Now().UTC()
	c := store.Client{
		ID:            fmt.Sprintf("00000000-0000-4000-8000-%012d", clientSeq.Add(1)),
		Name:          "Ledgerly",
		SecretHash:    store.Hash("secret"),
		AuthMethod:    store.AuthMethodBasic,
		GrantTypes:    []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		ResponseTypes: []string{"code"},
		RedirectURIs:  []string{redirectURI},
		Scopes:        []string{"accounts", "transactions", "balances", "pay_statement"},
		Environment:   "sandbox",
		State:         store.ClientActive,
		RefreshPolicy: store.RefreshRotating,
		TokenFormat:   store.TokenFormatJWT,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// connect starts a connect session and returns its challenge.
func (e *env) connect(c store.Client, providerID string, products ...string) string {
	e.t.Helper()
	cred := oauth.ClientCredentials{ID: c.ID, Secret: "secret", Presented: oauth.PresentedBasic}
	cs, err := e.provider.CreateConnectSession(context.Background(), cred, oauth.ConnectSessionRequest{
		CustomerID: "cust-1", CustomerName: "Acme Inc", Products: products, ProviderID: providerID, State: "st-1",
	})
	if err != nil {
		e.t.Fatalf("connect session: %v", err)
	}
	return cs.ID
}

// authorize runs a plain /oauth/authorize request through the core.
func (e *env) authorize(c store.Client, scope string) string {
	e.t.Helper()
	res, err := e.provider.Authorize(context.Background(), url.Values{"response_type": {"code"}, "client_id": {c.ID},
		"redirect_uri": {redirectURI}, "scope": {scope}, "state": {"st-2"}})
	if err != nil {
		e.t.Fatalf("authorize: %v", err)
	}
	return res.Request.ID
}

func (e *env) request(challenge string) store.AuthRequest {
	e.t.Helper()
	ar, _, err := e.provider.GetAuthorization(context.Background(), challenge)
	if err != nil {
		e.t.Fatalf("request %s: %v", challenge, err)
	}
	return ar
}

// browser keeps the CSRF cookie and does not follow redirects.
type browser struct {
	e          *env
	cookie     string
	cookieName string
	page       page // the last page shown
}

type page struct {
	status    int
	header    http.Header
	body      string
	challenge string
	csrf      string
}

func (e *env) browser() *browser { return &browser{e: e} }

var (
	reChallenge = regexp.MustCompile(`name="challenge" value="([^"]+)"`)
	reCSRF      = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	if b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: b.cookieName, Value: b.cookie})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "grantd_csrf_") {
			b.cookieName, b.cookie = c.Name, c.Value
		}
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if m := reChallenge.FindStringSubmatch(p.body); m != nil {
		p.challenge = m[1]
	}
	if m := reCSRF.FindStringSubmatch(p.body); m != nil {
		p.csrf = m[1]
	}
	if p.csrf != "" {
		b.page = p
	}
	return p
}

func (b *browser) get(challenge string, extra ...string) page {
	b.e.t.Helper()
	q := url.Values{"challenge": {challenge}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+Path+"?"+q.Encode(), nil)
	return b.do(req)
}

// post submits the last page's form with v added.
func (b *browser) post(v url.Values, header ...string) page {
	b.e.t.Helper()
	if !v.Has("challenge") {
		v.Set("challenge", b.page.challenge)
	}
	if !v.Has("csrf_token") {
		v.Set("csrf_token", b.page.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+Path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func wantStatus(t *testing.T, p page, status int, what string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, p.status, status, p.body)
	}
}

func wantText(t *testing.T, p page, what string, texts ...string) {
	t.Helper()
	body := html.UnescapeString(p.body)
	for _, s := range texts {
		if !strings.Contains(body, s) {
			t.Errorf("%s: page lacks %q", what, s)
		}
	}
}

func noText(t *testing.T, p page, what string, texts ...string) {
	t.Helper()
	body := html.UnescapeString(p.body)
	for _, s := range texts {
		if strings.Contains(body, s) {
			t.Errorf("%s: page has %q", what, s)
		}
	}
}

var reNonce = regexp.MustCompile(`<style nonce="([^"]+)">`)

// wantHeaders checks the security headers of a page.
func wantHeaders(t *testing.T, p page, what string) {
	t.Helper()
	h := p.header
	csp := h.Get("Content-Security-Policy")
	m := reNonce.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(csp, "style-src 'nonce-"+m[1]+"'") {
		t.Errorf("%s: CSP %q does not allow the page's style nonce", what, csp)
	}
	for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP %q lacks %s", what, csp, d)
		}
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
		if h.Get(k) != v {
			t.Errorf("%s: %s = %q, want %q", what, k, h.Get(k), v)
		}
	}
	for _, s := range []string{"<script", "http://", "https://", `lang="en"`, "<main", "<h1"} {
		has := strings.Contains(p.body, s)
		if want := strings.HasPrefix(s, "<m") || strings.HasPrefix(s, "<h") || strings.HasPrefix(s, "lang"); has != want {
			t.Errorf("%s: page contains %q = %v", what, s, has)
		}
	}
}

// TestConnectFlow walks a connect session without a fixed provider through
// every step: choose, a wrong password and a retry, consent, allow.
func TestConnectFlow(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ch := e.connect(c, "", "accounts", "balances")
	b := e.browser()

	p := b.get(ch)
	wantStatus(t, p, 200, "chooser")
	wantHeaders(t, p, "chooser")
	if b.cookie != e.request(ch).CSRFToken || p.csrf != b.cookie {
		t.Fatalf("CSRF cookie %q and form token %q, want the request's", b.cookie, p.csrf)
	}
	wantText(t, p, "chooser", "Step 1 of 3", "Choose your provider", "Sandbox Bank", "Ledgerly asks for",
		"Accounts and Balances", `value="sandbox-bank" aria-labelledby="provider-0" aria-describedby="provider-0-note">`,
		`value="sandbox-markets" aria-labelledby="provider-2" aria-describedby="provider-2-note" disabled>`,
		"Unavailable: does not offer Balances.", "Unavailable: does not offer Accounts and Balances.")
	if strings.Contains(p.header.Get("Content-Security-Policy"), "127.0.0.1") {
		t.Error("the chooser allows form posts to the client")
	}

	p = b.post(form("action", "choose", "provider_id", "sandbox-bank"))
	wantStatus(t, p, http.StatusSeeOther, "choose")
	if loc := p.header.Get("Location"); loc != Path+"?challenge="+ch {
		t.Fatalf("choose redirects to %q", loc)
	}
	if ar := e.request(ch); ar.ProviderID != "sandbox-bank" || ar.Subject != "" {
		t.Fatalf("after choose: provider %q subject %q", ar.ProviderID, ar.Subject)
	}

	p = b.get(ch)
	wantStatus(t, p, 200, "sign-in")
	wantHeaders(t, p, "sign-in")
	wantText(t, p, "sign-in", "Step 2 of 3", "Sign in to Sandbox Bank", `<label for="username">`, `<label for="password">`,
		`autocomplete="username"`, `autocomplete="current-password"`, "the password <code>wrong</code> shows the error path")
	noText(t, p, "sign-in", `role="alert"`)
	wantText(t, p, "sign-in", "Choose another provider") // the user chose it: they may change their mind

	// A wrong password: the same page, 401, the error announced and tied to
	// the fields, the user name kept, the request still pending.
	p = b.post(form("action", "login", "username", "ada@example.com", "password", oauth.SandboxWrongPassword))
	wantStatus(t, p, http.StatusUnauthorized, "wrong password")
	wantHeaders(t, p, "wrong password")
	wantText(t, p, "wrong password", `role="alert"`, `id="signin-error"`, `aria-describedby="signin-error"`,
		`aria-invalid="true"`, `value="ada@example.com"`, "Sign in to Sandbox Bank", "incorrect")
	if ar := e.request(ch); ar.Subject != "" || ar.ProviderID != "sandbox-bank" {
		t.Fatalf("after a wrong password: subject %q provider %q", ar.Subject, ar.ProviderID)
	}
	p = b.post(form("action", "login", "username", "ada@example.com", "password", "correct horse"))
	wantStatus(t, p, http.StatusSeeOther, "retry")
	if ar := e.request(ch); ar.Subject != "ada@example.com" {
		t.Fatalf("subject %q after the retry", ar.Subject)
	}

	p = b.get(ch)
	wantStatus(t, p, 200, "consent")
	wantHeaders(t, p, "consent")
	wantText(t, p, "consent", "Step 3 of 3", "Allow Ledgerly to access your Sandbox Bank data?", "Acme Inc",
		"ada@example.com", ">Accounts<", ">Balances<", `value="approve"`, `value="deny"`)
	noText(t, p, "consent", ">Transactions<")
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:9876;") {
		t.Errorf("consent CSP %q does not allow the redirect to the client", csp)
	}

	p = b.post(form("action", "approve"))
	wantStatus(t, p, http.StatusSeeOther, "approve")
	to, _ := url.Parse(p.header.Get("Location"))
	if !strings.HasPrefix(to.String(), redirectURI+"?") || to.Query().Get("code") == "" || to.Query().Get("state") != "st-1" {
		t.Fatalf("approve redirects to %s", to)
	}
	// The request is spent: the page now shows an error.
	p = b.get(ch)
	wantStatus(t, p, http.StatusNotFound, "after approve")
	wantHeaders(t, p, "error page")
	wantText(t, p, "after approve", "This request cannot continue", `role="alert"`)
}

// TestFixedProviderSkipsChooser: a connect session that fixes the provider
// starts at the sign-in, shows step 1 as done, and offers no other provider.
func TestFixedProviderSkipsChooser(t *testing.T) {
	e := newEnv(t)
	ch := e.connect(e.client(), "sandbox-payroll", "pay_statement")
	b := e.browser()
	p := b.get(ch)
	wantStatus(t, p, 200, "first page")
	wantText(t, p, "first page", "Step 2 of 3", "Sign in to Sandbox Payroll", `class="done">Sandbox Payroll`)
	noText(t, p, "first page", "Choose your provider", "Choose another provider")
	// Asking for the chooser, or choosing another provider, changes nothing.
	p = b.get(ch, "step", "provider")
	wantText(t, p, "step=provider", "Sign in to Sandbox Payroll")
	p = b.post(form("action", "choose", "provider_id", "sandbox-bank"))
	wantStatus(t, p, http.StatusBadRequest, "choose another")
	wantText(t, p, "choose another", `role="alert"`, "fixed")
	if ar := e.request(ch); ar.ProviderID != "sandbox-payroll" {
		t.Fatalf("provider %q", ar.ProviderID)
	}
	if p := b.post(form("action", "login", "username", "u", "password", "p")); p.status != http.StatusSeeOther {
		t.Fatalf("login: %d", p.status)
	}
	p = b.get(ch)
	wantText(t, p, "consent", "Pay statements", "Earnings, taxes and deductions", "Sandbox Payroll")
}

// TestProviderMustOfferProducts: a provider that lacks a requested product
// (or one not in the catalogue) cannot be chosen, and nothing changes.
func TestProviderMustOfferProducts(t *testing.T) {
	e := newEnv(t)
	ch := e.connect(e.client(), "", "accounts", "balances")
	b := e.browser()
	b.get(ch)
	for _, id := range []string{"sandbox-markets", "sandbox-payroll", "no-such-provider", "", strings.Repeat("x", 200)} {
		p := b.post(form("action", "choose", "provider_id", id))
		wantStatus(t, p, http.StatusBadRequest, "choose "+id)
		wantText(t, p, "choose "+id, `role="alert"`, "Choose your provider")
		if ar := e.request(ch); ar.ProviderID != "" {
			t.Fatalf("provider %q recorded", ar.ProviderID)
		}
	}
	// Signing in or approving before choosing is refused too.
	p := b.post(form("action", "login", "username", "u", "password", "p"))
	wantStatus(t, p, http.StatusUnprocessableEntity, "login before choosing")
	wantText(t, p, "login before choosing", "Choose a provider first.", "Choose your provider")
	p = b.post(form("action", "approve"))
	wantStatus(t, p, http.StatusUnprocessableEntity, "approve before choosing")
	if ar := e.request(ch); ar.Subject != "" || ar.ProviderID != "" {
		t.Fatalf("request changed: %+v", ar)
	}
}

// TestCSRFRefused: a post needs the token in the form and in the cookie,
// both the one bound to this request, and must not come cross-site.
func TestCSRFRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ch := e.connect(c, "sandbox-bank", "accounts")
	other := e.connect(c, "sandbox-bank", "accounts")
	b := e.browser()
	b.get(ch)
	good := b.page.csrf
	otherToken := e.request(other).CSRFToken
	login := func(kv ...string) url.Values {
		return form(append([]string{"action", "login", "username", "mallory", "password", "p"}, kv...)...)
	}
	cases := []struct {
		name   string
		cookie string
		v      url.Values
		header []string
	}{
		{"no form token", good, login("csrf_token", ""), nil},
		{"wrong form token", good, login("csrf_token", "forged"), nil},
		{"another request's token", good, login("csrf_token", otherToken), nil},
		{"no cookie", "", login(), nil},
		{"wrong cookie", otherToken, login(), nil},
		{"cross-site post", good, login(), []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign origin", good, login(), []string{"Origin", "https://evil.example"}},
	}
	for _, tc := range cases {
		b.cookie = tc.cookie
		p := b.post(tc.v, tc.header...)
		wantStatus(t, p, http.StatusForbidden, tc.name)
	}
	if ar := e.request(ch); ar.Subject != "" {
		t.Fatalf("a refused post signed in %q", ar.Subject)
	}
	// And the real page still works.
	b.cookie = good
	if p := b.post(login("csrf_token", good), "Sec-Fetch-Site", "same-origin"); p.status != http.StatusSeeOther {
		t.Fatalf("same-origin post: %d %s", p.status, p.body)
	}
}

// TestAuthorizeDeny: a plain /oauth/authorize request goes through the same
// pages; Deny sends access_denied and the state back to the client.
func TestAuthorizeDeny(t *testing.T) {
	e := newEnv(t)
	ch := e.authorize(e.client(), "accounts")
	b := e.browser()
	p := b.get(ch)
	wantText(t, p, "chooser", "Step 1 of 3", "Choose your provider")
	noText(t, p, "chooser", "Customer")
	b.post(form("action", "choose", "provider_id", "sandbox-markets"))
	b.get(ch)
	wantStatus(t, b.post(form("action", "login", "username", "bo", "password", "x")), http.StatusSeeOther, "login")
	p = b.get(ch)
	wantText(t, p, "consent", "Sandbox Markets", "Accounts")
	noText(t, p, "consent", "<dt>Customer</dt>")
	p = b.post(form("action", "deny"))
	wantStatus(t, p, http.StatusSeeOther, "deny")
	to, _ := url.Parse(p.header.Get("Location"))
	if to.Query().Get("error") != "access_denied" || to.Query().Get("state") != "st-2" || to.Query().Get("code") != "" {
		t.Fatalf("deny redirects to %s", to)
	}
	if p := b.post(form("action", "approve")); p.status != http.StatusNotFound {
		t.Fatalf("approve after deny: %d", p.status)
	}
}

// TestChooseAnotherProvider: a provider the user chose (not one the connect
// session fixed) can be changed: the sign-in offers the chooser again,
// marking the current one.
func TestChooseAnotherProvider(t *testing.T) {
	e := newEnv(t)
	ch := e.connect(e.client(), "", "accounts")
	b := e.browser()
	b.get(ch)
	b.post(form("action", "choose", "provider_id", "sandbox-bank"))
	p := b.get(ch)
	wantText(t, p, "sign-in", "Sign in to Sandbox Bank", `<a href="/oauth/consent?challenge=`+ch+`&step=provider">Choose another provider</a>`)
	p = b.get(ch, "step", "provider")
	wantStatus(t, p, 200, "chooser again")
	wantText(t, p, "chooser again", "Step 1 of 3", "Choose your provider", `Sandbox Bank <span class="tag">Current</span>`)
}

// TestEmptyCatalogue: without a catalogue the chooser is skipped and the
// flow has two steps.
func TestEmptyCatalogue(t *testing.T) {
	e := newEnv(t, noCatalogue)
	ch := e.authorize(e.client(), "accounts")
	b := e.browser()
	p := b.get(ch)
	wantText(t, p, "sign-in", "Step 1 of 2", "Sign in to Sandbox")
	b.post(form("action", "login", "username", "u", "password", "p"))
	p = b.get(ch)
	wantText(t, p, "consent", "Step 2 of 2")
	p = b.post(form("action", "approve"))
	wantStatus(t, p, http.StatusSeeOther, "approve")
	conns, _, err := e.store.ListConnections(context.Background(), "", store.Page{})
	if err != nil || len(conns) != 1 || conns[0].ProviderID != "sandbox" {
		t.Fatalf("connections %+v %v", conns, err)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, tc := range []struct {
		name   string
		p      page
		status int
	}{
		{"no challenge", b.get(""), http.StatusBadRequest},
		{"long challenge", b.get(strings.Repeat("a", 200)), http.StatusBadRequest},
		{"unknown challenge", b.get("nope"), http.StatusNotFound},
		{"post unknown", b.post(form("challenge", "nope", "csrf_token", "x", "action", "login")), http.StatusNotFound},
	} {
		wantStatus(t, tc.p, tc.status, tc.name)
		wantHeaders(t, tc.p, tc.name)
		wantText(t, tc.p, tc.name, "This request cannot continue", `role="alert"`)
	}
	ch := e.connect(e.client(), "sandbox-bank", "accounts")
	b.get(ch)
	wantStatus(t, b.post(form("action", "launch")), http.StatusBadRequest, "unknown action")
	wantStatus(t, b.post(form("action", "login", "username", " ")), http.StatusUnprocessableEntity, "blank user name")
	wantStatus(t, b.post(form("action", "login", "username", strings.Repeat("é", 101))), http.StatusUnprocessableEntity, "long user name")
	wantStatus(t, b.post(form("action", "approve")), http.StatusUnprocessableEntity, "approve before sign-in")
}

// TestTemplatesParsedAtNew: New fails when a template is missing or broken.
func TestTemplatesParsedAtNew(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without a core succeeded")
	}
	p := &oauth.Provider{}
	pages, err := New(Options{Provider: p})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range pageNames {
		if pages.pages[n] == nil {
			t.Errorf("page %s not parsed", n)
		}
	}
	good := fstest.MapFS{}
	for _, n := range append(pageNames, "layout") {
		b, err := templateFS.ReadFile("templates/" + n + ".html")
		if err != nil {
			t.Fatal(err)
		}
		good["templates/"+n+".html"] = &fstest.MapFile{Data: b}
	}
	if _, err := newPages(Options{Provider: p}, good); err != nil {
		t.Fatalf("copied templates: %v", err)
	}
	missing := fstest.MapFS{}
	for k, v := range good {
		if k != "templates/consent.html" {
			missing[k] = v
		}
	}
	if _, err := newPages(Options{Provider: p}, missing); err == nil || !strings.Contains(err.Error(), "consent") {
		t.Errorf("missing template: %v", err)
	}
	broken := fstest.MapFS{}
	for k, v := range good {
		broken[k] = v
	}
	broken["templates/login.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{.Nope`)}
	if _, err := newPages(Options{Provider: p}, broken); err == nil {
		t.Error("broken template parsed")
	}
}

func TestLabels(t *testing.T) {
	for in, want := range map[string]string{"pay_statement": "Pay statements", "accounts": "Accounts",
		"read:foo_bar": "Read foo bar", "x": "X", "": ""} {
		if got := productLabel(in); got != want {
			t.Errorf("productLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Sandbox Bank": "SB", "ledgerly": "L", "Acme Payroll Co": "AP", "  ": "?", "Émile's app": "ÉA"} {
		if got := initials(in); got != want {
			t.Errorf("initials(%q) = %q, want %q", in, got, want)
		}
	}
	if got := listWords([]string{"a", "b", "c"}); got != "a, b and c" {
		t.Errorf("listWords = %q", got)
	}
	for uri, want := range map[string]string{
		"http://127.0.0.1:4711/cb":       "http://127.0.0.1:4711",
		"https://app.example/cb?x=1":     "https://app.example",
		"com.example.app:/oauth":         "com.example.app:",
		"http://[::1]:8080/cb":           "http://[::1]:8080",
		"https://a.example;script/x":     "",
		"https://a.example%20'unsafe'/x": "",
	} {
		c := &store.Client{RedirectURIs: []string{uri}}
		if got := redirectSource(c, ""); got != want {
			t.Errorf("redirectSource(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestDynamicClientUnverified: a client that registered itself (RFC 7591)
// chose its own name, so the consent page says so; an operator's client is
// shown without the warning.
func TestDynamicClientUnverified(t *testing.T) {
	e := newEnv(t)
	consentPage := func(c store.Client) page {
		t.Helper()
		ch := e.connect(c, "sandbox-payroll", "pay_statement")
		b := e.browser()
		b.get(ch)
		if p := b.post(form("action", "login", "username", "u", "password", "p")); p.status != http.StatusSeeOther {
			t.Fatalf("login: %d", p.status)
		}
		return b.get(ch)
	}
	operator := e.client()
	p := consentPage(operator)
	wantText(t, p, "operator's client", "Allow Ledgerly access")
	noText(t, p, "operator's client", "Unverified")

	dynamic := e.client()
	if _, err := e.store.UpdateClient(context.Background(), dynamic.ID, func(c *store.Client) error {
		c.Metadata = map[string]string{clients.MetadataRegistration: clients.MetadataDynamic}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dynamic.Metadata = map[string]string{clients.MetadataRegistration: clients.MetadataDynamic}
	p = consentPage(dynamic)
	wantText(t, p, "dynamic client", `id="unverified"`, "Unverified application.", "registered itself", `Ledgerly <span class="tag">Unverified</span>`)
}
