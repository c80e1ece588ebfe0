// Package web renders grantd's hosted authorization pages: the sandbox
// sign-in and the consent screen that end an /oauth/authorize flow when no
// external consent app is configured. The pages are server-rendered, need no
// JavaScript, load no external asset, and are protected against framing and
// cross-site request forgery.
package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Path is where the pages are mounted.
const Path = "/oauth/consent"

const csrfCookie = "grantd_csrf"

// Core is the part of the OAuth core the pages use.
type Core interface {
	GetAuthorization(ctx context.Context, challenge string) (store.AuthRequest, store.Client, error)
	SetSubject(ctx context.Context, challenge, subject string) (store.AuthRequest, error)
	Accept(ctx context.Context, challenge string, c oauth.Consent) (string, error)
	Reject(ctx context.Context, challenge, description string) (string, error)
}

// Options configure the pages.
type Options struct {
	Provider Core
	Logger   *slog.Logger
	// ProviderID is recorded on connections made through the hosted pages;
	// "" = "sandbox".
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
func New(o Options) (*Pages, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ProviderID == "" {
		o.ProviderID = "sandbox"
	}
	p := &Pages{o: o, pages: map[string]*template.Template{}}
	for _, name := range []string{"login", "consent", "error"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		p.pages[name] = t
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, p.show)
	mux.HandleFunc("POST "+Path, p.submit)
	// Refuse cross-origin POSTs (Sec-Fetch-Site / Origin), on top of the
	// per-request CSRF token.
	p.handler = http.NewCrossOriginProtection().Handler(mux)
	return p, nil
}

func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

type view struct {
	Title      string
	Nonce      string
	ClientName string
	Challenge  string
	CSRF       string
	Subject    string
	Scopes     []string
	Message    string
	Code       string
}

// render writes a page into a buffer first, so that a template error never
// leaves half a page, then sends it with the security headers.
func (p *Pages) render(w http.ResponseWriter, status int, name string, v view) {
	v.Nonce = oauth.RandomToken(16)
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.o.Logger.Error("render page", "page", name, "cause", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+v.Nonce+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Error renders an error page (server.Pages).
func (p *Pages) Error(w http.ResponseWriter, r *http.Request, status int, code, description string) {
	p.render(w, status, "error", view{Title: "Error", Code: code, Message: description})
}

func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	if e.Status >= 500 {
		p.o.Logger.Error("hosted page failed", "cause", e.Error())
	}
	p.Error(w, r, e.Status, e.Code, e.Description)
}

func (p *Pages) show(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("challenge")
	if challenge == "" || len(challenge) > 128 {
		p.Error(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "The authorization request is missing.")
		return
	}
	ar, c, err := p.o.Provider.GetAuthorization(r.Context(), challenge)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.page(w, r, http.StatusOK, ar, c, "")
}

// page shows the step the request is at: sign-in, then consent.
func (p *Pages) page(w http.ResponseWriter, r *http.Request, status int, ar store.AuthRequest, c store.Client, msg string) {
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: ar.CSRFToken, Path: Path,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
		MaxAge: int(ar.ExpiresAt.Sub(ar.CreatedAt).Seconds()),
	})
	v := view{ClientName: c.Name, Challenge: ar.ID, CSRF: ar.CSRFToken, Subject: ar.Subject, Scopes: ar.Scopes, Message: msg}
	if ar.Subject == "" {
		v.Title = "Sign in"
		p.render(w, status, "login", v)
		return
	}
	v.Title = "Allow access"
	p.render(w, status, "consent", v)
}

func (p *Pages) submit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.Error(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "The form could not be read.")
		return
	}
	f := r.PostForm
	challenge := f.Get("challenge")
	if challenge == "" || len(challenge) > 128 {
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
	cookie, _ := r.Cookie(csrfCookie)
	if cookie == nil || !equal(f.Get("csrf_token"), ar.CSRFToken) || !equal(cookie.Value, ar.CSRFToken) {
		p.Error(w, r, http.StatusForbidden, "invalid_csrf_token", "The form has expired or was not sent from this page. Start again from the application.")
		return
	}
	switch f.Get("action") {
	case "login":
		name := strings.TrimSpace(f.Get("username"))
		if name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) {
			p.page(w, r, http.StatusUnprocessableEntity, ar, c, "Enter a user name of at most 100 characters.")
			return
		}
		if _, err := p.o.Provider.SetSubject(r.Context(), challenge, name); err != nil {
			p.fail(w, r, err)
			return
		}
		http.Redirect(w, r, Path+"?"+url.Values{"challenge": {challenge}}.Encode(), http.StatusSeeOther)
	case "approve":
		if ar.Subject == "" {
			p.page(w, r, http.StatusUnprocessableEntity, ar, c, "Sign in first.")
			return
		}
		to, err := p.o.Provider.Accept(r.Context(), challenge, oauth.Consent{Subject: ar.Subject, ProviderID: p.o.ProviderID})
		p.finish(w, r, to, err)
	case "deny":
		to, err := p.o.Provider.Reject(r.Context(), challenge, "")
		p.finish(w, r, to, err)
	default:
		p.Error(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "Unknown action.")
	}
}

func (p *Pages) finish(w http.ResponseWriter, r *http.Request, to string, err error) {
	if err != nil {
		var e *oauth.Error
		if !errors.As(err, &e) {
			e = oauth.ServerError(err)
		}
		p.fail(w, r, e)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: "", Path: Path, MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
