// Package web renders grantd's hosted connect pages: choose a data provider,
// sign in at it (sandbox rules), and consent to the products the client asks
// for. Connect sessions (connect_url) and plain /oauth/authorize requests
// without an external consent app both end here. The pages are
// server-rendered, need no JavaScript, load no external asset, and are
// protected against framing and cross-site request forgery.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Path is where the pages are mounted; a connect session's connect_url
// points here.
const Path = "/oauth/consent"

// csrfCookie names the cookie that carries a request's CSRF token: one per
// authorization request, so that two flows in one browser do not overwrite
// each other's token.
func csrfCookie(challenge string) string {
	sum := sha256.Sum256([]byte(challenge))
	return "grantd_csrf_" + hex.EncodeToString(sum[:8])
}

// Form field names and actions. internal/server's tests post them too.
const (
	fieldChallenge = "challenge"
	fieldCSRF      = "csrf_token"
	fieldAction    = "action"
	fieldProvider  = "provider_id"
	fieldUsername  = "username"
	fieldPassword  = "password"

	actionChoose  = "choose"
	actionLogin   = "login"
	actionApprove = "approve"
	actionDeny    = "deny"
)

// Core is the part of the OAuth core the pages use (*oauth.Provider).
type Core interface {
	GetAuthorization(ctx context.Context, challenge string) (store.AuthRequest, store.Client, error)
	ChooseDataProvider(ctx context.Context, challenge, providerID string) (store.AuthRequest, error)
	SignIn(ctx context.Context, challenge, username, password string) (store.AuthRequest, error)
	Accept(ctx context.Context, challenge string, c oauth.Consent) (string, error)
	Reject(ctx context.Context, challenge, description string) (string, error)
	DataProviders() []oauth.DataProvider
	EnterUserCode(ctx context.Context, code, address string) (string, error)
}

var _ Core = (*oauth.Provider)(nil)

// Options configure the pages.
type Options struct {
	Provider Core
	Logger   *slog.Logger
	// Catalogue lists the providers the chooser offers; nil = the core's
	// (Core.DataProviders). With an empty catalogue the chooser is skipped.
	Catalogue []oauth.DataProvider
	// ProviderID is recorded on connections made without a provider, which
	// happens only when the catalogue is empty; "" = "sandbox".
	ProviderID string
}

// Pages serves the hosted pages. It implements server.Pages.
type Pages struct {
	o       Options
	pages   map[string]*template.Template
	handler http.Handler
}

// New parses every template at start-up: a missing or broken one fails here,
// not at the first request.
func New(o Options) (*Pages, error) { return newPages(o, templateFS) }

// pageNames are the templates, each with templates/layout.html.
var pageNames = []string{"choose", "login", "consent", "error", "device"}

func newPages(o Options, fsys fs.FS) (*Pages, error) {
	if o.Provider == nil {
		return nil, errors.New("web: Options.Provider is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ProviderID == "" {
		o.ProviderID = "sandbox"
	}
	if o.Catalogue == nil {
		o.Catalogue = o.Provider.DataProviders()
	}
	p := &Pages{o: o, pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.ParseFS(fsys, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		if t.Lookup("layout") == nil || t.Lookup("content") == nil {
			return nil, fmt.Errorf("web: template %s lacks layout or content", name)
		}
		p.pages[name] = t
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, p.show)
	mux.HandleFunc("POST "+Path, p.submit)
	mux.HandleFunc("GET "+oauth.DevicePath, p.device)
	mux.HandleFunc("POST "+oauth.DevicePath, p.enterCode)
	// Refuse cross-origin POSTs (Sec-Fetch-Site / Origin), on top of the
	// per-request CSRF token.
	p.handler = http.NewCrossOriginProtection().Handler(mux)
	return p, nil
}

func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// step is one entry of the progress indicator.
type step struct {
	Name    string
	Done    bool
	Current bool
}

// view is what a template sees.
type view struct {
	Title     string
	Nonce     string
	Action    string // the form target, Path
	Sandbox   bool
	Steps     []step
	StepNo    int
	Challenge string
	CSRF      string

	Client         string
	ClientInitials string
	// Unverified: the client registered itself (RFC 7591); its name is its
	// own claim, which the page says.
	Unverified bool
	// DocumentHost is the host of a client's metadata document (its
	// client_id), shown beside its claimed name; "" for other clients.
	DocumentHost string
	// Device: the request is a device's (RFC 8628): the page warns that
	// only a device the user holds should be allowed (§5.4).
	Device    bool
	Provider  providerView // the chosen or fixed provider
	Providers []providerView
	ChangeURL string // "" = the provider cannot be changed
	Username  string
	Subject   string
	Customer  string
	Products  []product
	Asked     string // the products as words: "Accounts and Balances"
	Error     string // an alert on the page
	Code      string // the error page's code

	// formTargets are the CSP form-action sources beyond 'self';
	// anyFormTarget drops the directive.
	formTargets   string
	anyFormTarget bool
}

// render writes a page into a buffer first, so that a template error never
// leaves half a page, then sends it with the security headers.
func (p *Pages) render(w http.ResponseWriter, status int, name string, v view) {
	p.renderAt(w, status, name, v, Path)
}

// renderAt is render with the form posting to action.
func (p *Pages) renderAt(w http.ResponseWriter, status int, name string, v view, action string) {
	v.Nonce = oauth.RandomToken(16)
	v.Action = action
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.o.Logger.Error("render page", "page", name, "cause", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// Browsers apply form-action to the redirect that follows a form post,
	// so the consent step also allows the client's redirect origin.
	formAction := "form-action 'self'" + v.formTargets + "; "
	if v.anyFormTarget {
		formAction = ""
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+v.Nonce+"'; "+
		formAction+"frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Error renders an error page (server.Pages).
func (p *Pages) Error(w http.ResponseWriter, r *http.Request, status int, code, description string) {
	p.render(w, status, "error", view{Title: "This request cannot continue", Code: code, Error: description})
}

func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	if e.Status >= 500 {
		p.o.Logger.ErrorContext(r.Context(), "hosted page failed", "cause", e.Error())
	}
	p.Error(w, r, e.Status, e.Code, e.Description)
}

func validChallenge(c string) bool { return c != "" && len(c) <= 128 }

func (p *Pages) show(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	challenge := q.Get(fieldChallenge)
	if !validChallenge(challenge) {
		p.Error(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "The authorization request is missing.")
		return
	}
	ar, c, err := p.o.Provider.GetAuthorization(r.Context(), challenge)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	s := state{ar: ar, c: c, choose: q.Get("step") == "provider"}
	p.page(w, r, http.StatusOK, s)
}

// state is what a page is rendered from: the request, its client, and the
// outcome of the last form post.
type state struct {
	ar       store.AuthRequest
	c        store.Client
	choose   bool   // the user asked to change the provider
	msg      string // an error to show
	username string // the user name to keep after a failed sign-in
}

// needsProvider reports whether the user must still choose a provider.
func (p *Pages) needsProvider(ar store.AuthRequest) bool {
	return ar.ProviderID == "" && len(p.o.Catalogue) > 0
}

// changeable reports whether the user may go back and choose another
// provider: only when the connect session did not fix it.
func (p *Pages) changeable(ar store.AuthRequest) bool {
	return ar.ProviderID != "" && !ar.ProviderFixed
}

// page shows the step the request is at: choose a provider, sign in, then
// consent. With a catalogue the progress always has three steps; a provider
// fixed by the connect session shows step 1 as done.
func (p *Pages) page(w http.ResponseWriter, r *http.Request, status int, s state) {
	ar, c := s.ar, s.c
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie(ar.ID), Value: ar.CSRFToken, Path: Path,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
		MaxAge: int(ar.ExpiresAt.Sub(ar.CreatedAt).Seconds()),
	})
	catalogue := len(p.o.Catalogue) > 0
	v := view{
		Sandbox:        c.Environment == "" || c.Environment == "sandbox",
		Challenge:      ar.ID,
		CSRF:           ar.CSRFToken,
		Client:         c.Name,
		ClientInitials: initials(c.Name),
		Unverified:     clients.IsUnverified(&c),
		Device:         ar.DeviceHash != nil,
		DocumentHost:   documentHost(&c),
		Subject:        ar.Subject,
		Customer:       ar.CustomerName,
		Products:       products(ar.Scopes),
		Asked:          askedWords(ar.Scopes),
		Error:          s.msg,
		Username:       s.username,
	}
	switch {
	case ar.ProviderID != "":
		v.Provider = p.providerView(ar.ProviderID, ar.Scopes)
	case !catalogue:
		v.Provider = providerView{ID: p.o.ProviderID, Name: "Sandbox", Initials: "SB", Color: 0}
	}
	changeable := catalogue && p.changeable(ar)
	if changeable {
		v.ChangeURL = Path + "?" + url.Values{fieldChallenge: {ar.ID}, "step": {"provider"}}.Encode()
	}
	var name string
	switch {
	case p.needsProvider(ar) || (s.choose && changeable):
		name, v.Title = "choose", "Choose your provider"
		for _, d := range p.o.Catalogue {
			pv := p.providerView(d.ID, ar.Scopes)
			pv.Current = d.ID == ar.ProviderID
			v.Providers = append(v.Providers, pv)
		}
	case ar.Subject == "":
		name, v.Title = "login", "Sign in to "+v.Provider.Name
	default:
		name, v.Title = "consent", "Allow "+c.Name+" access"
		// Allow and Deny end with a redirect to the client (a device's,
		// back to the verification page: 'self').
		switch src := redirectSource(&c, ar.RedirectURI); {
		case ar.DeviceHash != nil:
		case src != "":
			v.formTargets = " " + src
		default:
			v.anyFormTarget = true
		}
	}
	names := []string{"Sign in", "Allow access"}
	current := map[string]int{"login": 0, "consent": 1}[name]
	if catalogue {
		names = []string{"Provider", "Sign in", "Allow access"}
		current = map[string]int{"choose": 0, "login": 1, "consent": 2}[name]
	}
	for i, n := range names {
		st := step{Name: n, Done: i < current, Current: i == current}
		if i == 0 && catalogue && v.Provider.Name != "" && name != "choose" {
			st.Name = v.Provider.Name
		}
		v.Steps = append(v.Steps, st)
	}
	v.StepNo = current + 1
	p.render(w, status, name, v)
}

func (p *Pages) submit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.Error(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "The form could not be read.")
		return
	}
	f := r.PostForm
	challenge := f.Get(fieldChallenge)
	if !validChallenge(challenge) {
		p.Error(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "The authorization request is missing.")
		return
	}
	ar, c, err := p.o.Provider.GetAuthorization(r.Context(), challenge)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	// The token must be in the form and in the cookie, and be the one bound
	// to this authorization request.
	cookie, _ := r.Cookie(csrfCookie(ar.ID))
	if cookie == nil || !equal(f.Get(fieldCSRF), ar.CSRFToken) || !equal(cookie.Value, ar.CSRFToken) {
		p.Error(w, r, http.StatusForbidden, "invalid_csrf_token", "The form has expired or was not sent from this page. Start again from the application.")
		return
	}
	s := state{ar: ar, c: c}
	ctx := r.Context()
	switch f.Get(fieldAction) {
	case actionChoose:
		id := f.Get(fieldProvider)
		if len(id) > 128 {
			id = ""
		}
		if _, err := p.o.Provider.ChooseDataProvider(ctx, challenge, id); err != nil {
			if e := oauth.AsError(err); e.Status < 500 && e.Code != "not_found" {
				s.msg, s.choose = e.Description, true
				p.page(w, r, e.Status, s)
				return
			}
			p.fail(w, r, err)
			return
		}
		p.again(w, r, challenge)
	case actionLogin:
		if p.needsProvider(ar) {
			s.msg = "Choose a provider first."
			p.page(w, r, http.StatusUnprocessableEntity, s)
			return
		}
		name := strings.TrimSpace(f.Get(fieldUsername))
		s.username = name
		if name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) {
			s.msg = "Enter a user name of at most 100 characters."
			p.page(w, r, http.StatusUnprocessableEntity, s)
			return
		}
		if _, err := p.o.Provider.SignIn(ctx, challenge, name, f.Get(fieldPassword)); err != nil {
			if e := oauth.AsError(err); e.Code == oauth.ErrCodeInvalidCredentials {
				// The request stays pending: the same page, the user name
				// kept, the error announced.
				s.msg = e.Description
				p.page(w, r, e.Status, s)
				return
			}
			p.fail(w, r, err)
			return
		}
		p.again(w, r, challenge)
	case actionApprove:
		if p.needsProvider(ar) {
			s.msg = "Choose a provider first."
			p.page(w, r, http.StatusUnprocessableEntity, s)
			return
		}
		if ar.Subject == "" {
			s.msg = "Sign in first."
			p.page(w, r, http.StatusUnprocessableEntity, s)
			return
		}
		consent := oauth.Consent{Subject: ar.Subject}
		if ar.ProviderID == "" {
			consent.ProviderID = p.o.ProviderID
		}
		to, err := p.o.Provider.Accept(ctx, challenge, consent)
		p.finish(w, r, to, err)
	case actionDeny:
		to, err := p.o.Provider.Reject(ctx, challenge, "")
		p.finish(w, r, to, err)
	default:
		p.Error(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "Unknown action.")
	}
}

// again sends the browser back to the page (post/redirect/get), which then
// shows the next step.
func (p *Pages) again(w http.ResponseWriter, r *http.Request, challenge string) {
	http.Redirect(w, r, Path+"?"+url.Values{fieldChallenge: {challenge}}.Encode(), http.StatusSeeOther)
}

func (p *Pages) finish(w http.ResponseWriter, r *http.Request, to string, err error) {
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie(r.PostForm.Get(fieldChallenge)), Value: "", Path: Path, MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

var (
	reScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	reHost   = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)
)

// redirectSource is the CSP source of the client's redirect URI for this
// request ("https://app.example", "http://127.0.0.1:4711", "com.app:"),
// or "" when it cannot be expressed safely.
func redirectSource(c *store.Client, given string) string {
	to, ok := oauth.EffectiveRedirect(c, given)
	if !ok {
		return ""
	}
	u, err := url.Parse(to)
	if err != nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if !reScheme.MatchString(scheme) {
		return ""
	}
	if u.Host == "" {
		return scheme + ":"
	}
	if !reHost.MatchString(u.Host) {
		return ""
	}
	return scheme + "://" + u.Host
}

// device is the verification page of the device flow (RFC 8628 §3.3): a
// form for the user code (filled in from verification_uri_complete), or
// what became of the request once decided (?result=).
func (p *Pages) device(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Connect a device"}
	if code := r.URL.Query().Get("user_code"); code != "" {
		// Only a code's shape is filled in, no other text (a link could
		// carry words meant to mislead).
		if _, ok := oauth.NormalizeUserCode(code); ok {
			v.Username = code
		}
	}
	switch res := r.URL.Query().Get("result"); res {
	case "approved", "denied":
		v.Code = res
	}
	p.renderDevice(w, http.StatusOK, v)
}

// enterCode takes the user code: a known, pending one sends the browser to
// its consent step; any other shows the form again, saying so. The
// cross-origin protection of every POST here guards it; what follows is
// the consent step's own, with its per-request CSRF token.
func (p *Pages) enterCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderDevice(w, http.StatusBadRequest, view{Title: "Connect a device", Error: "The form could not be read."})
		return
	}
	code := r.PostForm.Get("user_code")
	to, err := p.o.Provider.EnterUserCode(r.Context(), code, remoteHost(r))
	if err != nil {
		e := oauth.AsError(err)
		if e.Status >= 500 {
			p.o.Logger.ErrorContext(r.Context(), "device code entry failed", "cause", err.Error())
		}
		v := view{Title: "Connect a device", Error: oauth.DescriptionText(e.Description)}
		if len(code) <= 32 {
			v.Username = code
		}
		p.renderDevice(w, e.Status, v)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// renderDevice renders the device page, its form posting to itself.
func (p *Pages) renderDevice(w http.ResponseWriter, status int, v view) {
	p.renderAt(w, status, "device", v, oauth.DevicePath)
}

// remoteHost is the browser's address: the server's
// (oauth.WithClientAddress, through trusted proxies), else the peer's
// without its port.
func remoteHost(r *http.Request) string {
	if a := oauth.ClientAddressFrom(r.Context()); a != "" {
		return a
	}
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// documentHost is the host of the URL a metadata document's client is
// named by, "" for any other client.
func documentHost(c *store.Client) string {
	if c.Metadata[clients.MetadataRegistration] != clients.MetadataDocument {
		return ""
	}
	u, err := url.Parse(c.ID)
	if err != nil {
		return ""
	}
	return u.Host
}
