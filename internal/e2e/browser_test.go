package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/web"
)

// stepTimeout bounds every browser step; the whole test stays well under a
// minute.
const stepTimeout = 15 * time.Second

// grantd is a full server: a real SQLite file, real keys, the hosted pages
// and the sandbox catalogue, listening on 127.0.0.1.
type grantd struct {
	url      string
	store    *sqlite.Store
	provider *oauth.Provider
}

func startGrantd(t *testing.T) *grantd {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	sg, err := signer.New(ctx, signer.Options{Store: st, KEK: make([]byte, 32)})
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	provider := &oauth.Provider{
		Store: st, Signer: sg, Issuer: issuer, Logger: logger,
		HostedConsentPath: web.Path, Catalogue: oauth.SandboxCatalogue(),
	}
	pages, err := web.New(web.Options{Provider: provider, Logger: logger})
	if err != nil {
		t.Fatalf("pages: %v", err)
	}
	srv := httptest.NewUnstartedServer(server.New(server.Options{
		Provider: provider, Keys: sg, Store: st, Pages: pages, Logger: logger,
	}).Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &grantd{url: issuer, store: st, provider: provider}
}

// client is a registered client and its secret ("" for a public one).
type client struct {
	store.Client
	Secret string
}

var clients atomic.Int64

func (g *grantd) client(t *testing.T, redirectURI string, public bool) client {
	t.Helper()
	now := time.Now().UTC()
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	c := store.Client{
		ID:            fmt.Sprintf("00000000-0000-4000-8000-%012d", clients.Add(1)),
		Name:          "Ledgerly",
		SecretHash:    store.Hash(secret),
		AuthMethod:    store.AuthMethodBasic,
		GrantTypes:    []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		ResponseTypes: []string{"code"},
		RedirectURIs:  []string{redirectURI},
		Scopes:        []string{"accounts", "transactions", "balances", "directory", "pay_statement"},
		Environment:   "sandbox",
		State:         store.ClientActive,
		RefreshPolicy: store.RefreshRotating,
		TokenFormat:   store.TokenFormatJWT,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if public {
		c.Name, c.AuthMethod, c.SecretHash, secret = "Budget CLI", store.AuthMethodNone, nil, ""
	}
	if err := g.store.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("create client: %v", err)
	}
	return client{Client: c, Secret: secret}
}

// app is the client's redirect target: it records what each redirect
// brings.
type app struct {
	url       string
	callbacks chan url.Values
}

func startApp(t *testing.T) *app {
	t.Helper()
	a := &app{callbacks: make(chan url.Values, 8)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		a.callbacks <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Ledgerly</title><h1 id="app-done">Back in Ledgerly</h1></html>`)
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *app) redirectURI() string { return a.url + "/callback" }

// next returns what the next redirect brought.
func (a *app) next(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-a.callbacks:
		return q
	case <-time.After(stepTimeout):
		t.Fatal("the client never received the redirect")
		return nil
	}
}

// startBrowser starts Debian's chromium, headless, with a fresh profile.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/chromium"); serr == nil {
			path, err = "/usr/bin/chromium", nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; .ci/run installs Debian's chromium package")
		}
		t.Skip("chromium is not installed (apt-get install chromium); skipping the browser tests")
	}
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1000, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// Start the browser with a context that has no timeout, so that it lives
	// as long as ctx. Every later step has its own timeout.
	if err := withWatchdog(cancel, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// withWatchdog runs f, cancelling its context if it takes too long.
func withWatchdog(cancel context.CancelFunc, f func() error) error {
	timer := time.AfterFunc(30*time.Second, cancel)
	defer timer.Stop()
	return f()
}

// tab is one browser tab with its own cookie jar, and the screenshots it
// takes.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string
	dir  string
	n    int
}

func newTab(t *testing.T, browser context.Context, dir, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action opens the tab and binds its life to the context it
	// gets: open it with ctx itself, bounded by a watchdog.
	if err := withWatchdog(cancel, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	b := &tab{t: t, ctx: ctx, name: name, dir: dir}
	b.do("set the viewport", chromedp.EmulateViewport(900, 800))
	return b
}

// screenshotDir is GRANTD_SCREENSHOT_DIR, or the test's temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GRANTD_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// do runs steps with a timeout.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		// Say where the browser is, to make the failure readable.
		dctx, dcancel := context.WithTimeout(b.ctx, 3*time.Second)
		defer dcancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("%s: %s: %v\nat %s, showing:\n%s", b.name, what, err, loc, text)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	return v
}

// text is the visible text of the page.
func (b *tab) text() string {
	return eval[string](b, `document.body.textContent.replace(/\s+/g, " ")`)
}

func (b *tab) wantText(what string, texts ...string) {
	b.t.Helper()
	body := b.text()
	for _, s := range texts {
		if !strings.Contains(body, s) {
			b.t.Errorf("%s: %s: the page does not show %q; it shows:\n%s", b.name, what, s, body)
		}
	}
}

// shot writes a full-page screenshot and logs its path.
func (b *tab) shot(page string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot %s: %v", b.name, page, err)
	}
	b.n++
	path := filepath.Join(b.dir, fmt.Sprintf("%s-%d-%s.png", b.name, b.n, page))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// focused describes the element that has the keyboard focus.
func (b *tab) focused() string {
	return eval[string](b, `(e => e ? (e.id || e.value || e.textContent.trim()) : "")(document.activeElement)`)
}

// tabTo presses Tab until want has the focus and returns the elements the
// focus passed through.
func (b *tab) tabTo(want string) []string {
	b.t.Helper()
	var seen []string
	for range 12 {
		b.do("press Tab", chromedp.KeyEvent(kb.Tab))
		f := b.focused()
		seen = append(seen, f)
		if f == want {
			return seen
		}
	}
	b.t.Fatalf("%s: Tab never reached %q; the focus went through %q", b.name, want, seen)
	return nil
}

// signIn types the credentials into the sign-in page and submits it.
func (b *tab) signIn(user, password string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.Clear(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	)
}

const (
	selChooser = `button[name="provider_id"]`
	selApprove = `button[value="approve"]`
	selDeny    = `button[value="deny"]`
)

// TestConnectFlowInBrowser drives the hosted pages in Chromium: a connect
// session where the user chooses the provider, mistypes the password and
// retries, and allows (using only the keyboard on the way); a plain
// /oauth/authorize with PKCE that the user denies; and a connect session
// with a fixed provider, which skips the chooser.
func TestConnectFlowInBrowser(t *testing.T) {
	browser := startBrowser(t)
	dir := screenshotDir(t)
	g := startGrantd(t)
	a := startApp(t)

	t.Run("connect", func(t *testing.T) {
		c := g.client(t, a.redirectURI(), false)
		cs, err := g.provider.CreateConnectSession(context.Background(), oauth.ClientCredentials{ID: c.ID, Secret: c.Secret, Presented: oauth.PresentedBasic}, oauth.ConnectSessionRequest{
			CustomerID: "cust-42", CustomerName: "Acme Inc", Products: []string{"accounts", "balances"},
			RedirectURI: a.redirectURI(), State: "state-connect",
		})
		if err != nil {
			t.Fatalf("connect session: %v", err)
		}
		b := newTab(t, browser, dir, "connect")

		// Step 1: the chooser; providers without every product are disabled.
		b.do("open connect_url", chromedp.Navigate(cs.ConnectURL), chromedp.WaitVisible(chromedp.CSS(selChooser)))
		b.wantText("chooser", "Step 1 of 3", "Connect Ledgerly to your data", "Sandbox Bank", "Sandbox Markets",
			"Unavailable: does not offer Balances.")
		if n := eval[int](b, `document.querySelectorAll('button[name="provider_id"]:disabled').length`); n != 2 {
			t.Errorf("%d providers disabled, want 2 (markets and payroll)", n)
		}
		b.shot("chooser")
		b.do("choose Sandbox Bank", chromedp.Click(chromedp.CSS(`button[value="sandbox-bank"]`)),
			chromedp.WaitVisible(chromedp.ID("username")))

		// Step 2: sign in, with the wrong password first.
		b.wantText("sign-in", "Step 2 of 3", "Sign in to Sandbox Bank", "any user name works")
		b.shot("signin")
		b.signIn("ada@acme.example", oauth.SandboxWrongPassword)
		b.do("see the error", chromedp.WaitVisible(chromedp.ID("signin-error")))
		b.wantText("wrong password", "The user name or password is incorrect.", "Sign in to Sandbox Bank")
		if got := eval[string](b, `document.getElementById("username").value`); got != "ada@acme.example" {
			t.Errorf("user name after the error %q, want it kept", got)
		}
		if got := eval[string](b, `document.getElementById("password").getAttribute("aria-describedby")`); got != "signin-error" {
			t.Errorf("password aria-describedby %q", got)
		}
		if got := eval[string](b, `document.getElementById("signin-error").getAttribute("role")`); got != "alert" {
			t.Errorf("error role %q", got)
		}
		b.shot("signin-error")

		// The retry with the keyboard only: the focus is on the password.
		if f := b.focused(); f != "password" {
			t.Errorf("focus after the error on %q, want the password field", f)
		}
		b.do("retry by keyboard", chromedp.KeyEvent("correct horse battery"), chromedp.KeyEvent(kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(selApprove)))

		// Step 3: consent, the products in words.
		b.wantText("consent", "Step 3 of 3", "Allow Ledgerly to access your Sandbox Bank data?", "Acme Inc",
			"ada@acme.example", "Accounts", "Balances")
		b.shot("consent")
		path := b.tabTo("approve")
		if i := slices.Index(path, "deny"); i < 0 || i > len(path)-2 {
			t.Errorf("Tab order %q: want Deny before Allow", path)
		}
		if outline := eval[string](b, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" {
			t.Error("the focused Allow button has no visible outline")
		}
		b.shot("consent-focus-allow")
		b.do("allow by keyboard", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("app-done")))

		q := a.next(t)
		if q.Get("state") != "state-connect" || q.Get("code") == "" || q.Get("iss") != g.url {
			t.Fatalf("callback %v", q)
		}
		claims := exchange(t, g, c, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"redirect_uri": {a.redirectURI()}})
		if id, _ := claims["connection_id"].(string); id == "" {
			t.Errorf("no connection_id claim: %v", claims)
		}
		if got := fmt.Sprint(claims["products"]); got != "[accounts balances]" {
			t.Errorf("products claim %s", got)
		}
		bank, _ := g.provider.DataProvider("sandbox-bank")
		if got, want := fmt.Sprint(claims["entity_ids"]), fmt.Sprint(bank.EntityIDs); got != want {
			t.Errorf("entity_ids claim %s, want %s", got, want)
		}

		// The link is spent: opening it again shows the error page.
		b.do("open connect_url again", chromedp.Navigate(cs.ConnectURL), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
		b.wantText("spent link", "This request cannot continue")
		b.shot("spent")
	})

	t.Run("authorize-deny", func(t *testing.T) {
		c := g.client(t, a.redirectURI(), true)
		verifier := oauth.RandomToken(32)
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {a.redirectURI()},
			"scope": {"accounts"}, "state": {"state-deny"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		b := newTab(t, browser, dir, "deny")
		b.do("open /oauth/authorize", chromedp.Navigate(g.url+"/oauth/authorize?"+q.Encode()),
			chromedp.WaitVisible(chromedp.CSS(selChooser)))
		b.wantText("chooser", "Step 1 of 3", "Budget CLI asks for Accounts")
		b.shot("chooser")
		b.do("choose Sandbox Markets", chromedp.Click(chromedp.CSS(`button[value="sandbox-markets"]`)),
			chromedp.WaitVisible(chromedp.ID("username")))
		b.wantText("sign-in", "Sign in to Sandbox Markets")
		b.shot("signin")
		b.signIn("bo", "hunter2")
		b.do("consent", chromedp.WaitVisible(chromedp.CSS(selDeny)))
		b.wantText("consent", "Allow Budget CLI to access your Sandbox Markets data?", "Accounts")
		b.shot("consent")
		b.do("deny", chromedp.Click(chromedp.CSS(selDeny)), chromedp.WaitVisible(chromedp.ID("app-done")))
		got := a.next(t)
		if got.Get("error") != "access_denied" || got.Get("state") != "state-deny" || got.Get("code") != "" {
			t.Fatalf("callback after deny %v", got)
		}
	})

	t.Run("fixed-provider", func(t *testing.T) {
		c := g.client(t, a.redirectURI(), false)
		cs, err := g.provider.CreateConnectSession(context.Background(), oauth.ClientCredentials{ID: c.ID, Secret: c.Secret, Presented: oauth.PresentedBasic}, oauth.ConnectSessionRequest{
			CustomerID: "cust-7", CustomerName: "Globex", Products: []string{"directory", "pay_statement"},
			ProviderID: "sandbox-payroll", State: "state-fixed",
		})
		if err != nil {
			t.Fatalf("connect session: %v", err)
		}
		b := newTab(t, browser, dir, "fixed")
		b.do("open connect_url", chromedp.Navigate(cs.ConnectURL), chromedp.WaitVisible(chromedp.ID("username")))
		b.wantText("sign-in", "Step 2 of 3", "Sign in to Sandbox Payroll")
		if n := eval[int](b, `document.querySelectorAll('button[name="provider_id"]').length`); n != 0 {
			t.Errorf("the chooser is shown for a fixed provider")
		}
		if strings.Contains(b.text(), "Choose another provider") {
			t.Error("a fixed provider offers another one")
		}
		b.shot("signin")
		b.signIn("hr-admin", "pw")
		b.do("consent", chromedp.WaitVisible(chromedp.CSS(selApprove)))
		b.wantText("consent", "Sandbox Payroll", "Globex", "Directory", "Pay statements")
		b.shot("consent")
		b.do("allow", chromedp.Click(chromedp.CSS(selApprove)), chromedp.WaitVisible(chromedp.ID("app-done")))
		if got := a.next(t); got.Get("code") == "" || got.Get("state") != "state-fixed" {
			t.Fatalf("callback %v", got)
		}
	})
}

// exchange redeems a code at /oauth/token with HTTP Basic and returns the
// access token's claims.
func exchange(t *testing.T, g *grantd, c client, form url.Values) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.url+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := (&http.Client{Timeout: stepTimeout}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token exchange: %d %s", resp.StatusCode, body)
	}
	return jwtClaims(t, tok.AccessToken)
}

// jwtClaims are the claims of a JWT access token, read without checking
// its signature (other tests do).
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
