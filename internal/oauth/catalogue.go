package oauth

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Defaults for connections whose provider and client set no lifetimes.
const (
	DefaultConsentTTL   = 90 * 24 * time.Hour
	DefaultRetentionTTL = 30 * 24 * time.Hour
	// ConnectSessionTTL is how long a connect session's link stays valid.
	ConnectSessionTTL = 24 * time.Hour
)

// Connection types, as the payroll seed names them.
const (
	ConnectionTypeProvider = "provider" // a connection to an external provider
	ConnectionTypeFinch    = "finch"    // synthetic (sandbox) data
)

// DataProvider is an entry of the provider catalogue: a bank, payroll system
// or data source an end user can connect.
type DataProvider struct {
	ID       string
	Name     string
	Products []string // products (scopes) it offers
	// EntityIDs are the entities a sandbox sign-in gets access to.
	EntityIDs []string
	// ConnectionType of connections made through it: "provider" (default)
	// or "finch" (synthetic sandbox data).
	ConnectionType string
	// ConsentTTL and RetentionTTL: the consent lifetime and the data
	// retention period after consent ends; 0 = the defaults.
	ConsentTTL   time.Duration
	RetentionTTL time.Duration
	// OperatingHours, when set, is when grants on its connections may be
	// made; a client's own OperatingHours win.
	OperatingHours *store.Schedule
}

// Offers reports whether the provider offers every product in products.
func (d DataProvider) Offers(products []string) bool { return subset(products, d.Products) }

// SandboxCatalogue is the catalogue grantd ships, so that the connect flow
// works out of the box. Entity ids are fixed, so tests and demos can rely on
// them.
func SandboxCatalogue() []DataProvider {
	return []DataProvider{
		{
			ID: "sandbox-bank", Name: "Sandbox Bank",
			Products:       []string{"accounts", "transactions", "balances", "identity"},
			EntityIDs:      []string{"2f1c1b7e-5d0a-4c57-9a61-0c1c9f3b1a01", "2f1c1b7e-5d0a-4c57-9a61-0c1c9f3b1a02"},
			ConnectionType: ConnectionTypeFinch,
		},
		{
			ID: "sandbox-payroll", Name: "Sandbox Payroll",
			Products: []string{"company", "directory", "individual", "employment", "payment", "pay_statement", "benefits"},
			EntityIDs: []string{"550e8400-e29b-41d4-a716-446655440000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
				"6ba7b811-9dad-11d1-80b4-00c04fd430c8"},
			ConnectionType: ConnectionTypeFinch,
		},
		{
			ID: "sandbox-markets", Name: "Sandbox Markets",
			Products:       []string{"quotes", "positions", "accounts"},
			EntityIDs:      []string{"9b2e4c1a-7f3d-4e8b-a0c5-1d2e3f4a5b61"},
			ConnectionType: ConnectionTypeFinch,
			ConsentTTL:     365 * 24 * time.Hour,
		},
	}
}

// Scopes are every product of the catalogue, in the catalogue's order, each
// once: the scopes a client may be granted (the metadata's
// scopes_supported).
func (p *Provider) Scopes() []string {
	var out []string
	for _, d := range p.Catalogue {
		for _, s := range d.Products {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// DataProvider looks a provider up in the catalogue.
func (p *Provider) DataProvider(id string) (DataProvider, bool) {
	for _, d := range p.Catalogue {
		if d.ID == id {
			return d, true
		}
	}
	return DataProvider{}, false
}

// providerOpen checks the operating hours of the provider behind a grant's
// connection, for a client that has none of its own (the policy checks
// those): 503 with Retry-After until it opens.
func (p *Provider) providerOpen(c *store.Client, conn *store.Connection, now time.Time) error {
	if c.OperatingHours != nil || conn == nil {
		return nil
	}
	d, ok := p.DataProvider(conn.ProviderID)
	if !ok || d.OperatingHours == nil {
		return nil
	}
	return Closed(d.OperatingHours, now)
}

// Schedule is what the hours rule asks of a store.Schedule.
type Schedule interface {
	OpenAt(t time.Time) (open bool, next time.Time)
}

// Closed is the refusal outside operating hours at now (503 with
// Retry-After until the next opening), nil while s is open. The policy's
// rule for a client's own hours and the core's for a provider's are this
// one.
func Closed(s Schedule, now time.Time) *Error {
	open, next := s.OpenAt(now)
	if open {
		return nil
	}
	var wait time.Duration
	if !next.IsZero() {
		wait = next.Sub(now)
	}
	return OutsideHours(wait)
}

// lifetimes returns the consent lifetime and the retention period of a new
// connection: the client's override, else the provider's, else the defaults.
func (p *Provider) lifetimes(c *store.Client, providerID string) (consent, retention time.Duration) {
	consent, retention = DefaultConsentTTL, DefaultRetentionTTL
	if d, ok := p.DataProvider(providerID); ok {
		if d.ConsentTTL > 0 {
			consent = d.ConsentTTL
		}
		if d.RetentionTTL > 0 {
			retention = d.RetentionTTL
		}
	}
	if c.ConsentTTL > 0 {
		consent = c.ConsentTTL
	}
	if c.RetentionTTL > 0 {
		retention = c.RetentionTTL
	}
	return consent, retention
}

// ChooseDataProvider records the provider the user picked on the hosted
// pages. It must be in the catalogue and offer every requested product, and
// the request must not have a provider fixed already.
func (p *Provider) ChooseDataProvider(ctx context.Context, challenge, providerID string) (store.AuthRequest, error) {
	d, ok := p.DataProvider(providerID)
	if !ok {
		return store.AuthRequest{}, InvalidRequest("Choose a provider from the list.")
	}
	var outcome error
	ar, err := p.Store.UpdateAuthRequest(ctx, challenge, p.now(), func(r *store.AuthRequest) error {
		switch {
		case r.ProviderFixed && r.ProviderID != providerID:
			outcome = InvalidRequest("The provider of this request is fixed.")
		case !d.Offers(r.Scopes):
			outcome = InvalidRequest("%s does not offer every product asked for.", d.Name)
		default:
			r.ProviderID = providerID
			r.Subject = "" // a new provider needs a new sign-in
		}
		return outcome
	})
	if outcome != nil {
		return store.AuthRequest{}, outcome
	}
	if err != nil {
		return ar, notFoundOr(err, "The authorization request is unknown or has expired.")
	}
	return ar, nil
}

// SandboxWrongPassword is the password that fails a sandbox sign-in, so
// that the error-and-retry path of the connect flow can be exercised. Every
// other password signs in.
const SandboxWrongPassword = "wrong"

// ErrCodeInvalidCredentials is the hosted sign-in's error code.
const ErrCodeInvalidCredentials = "invalid_credentials"

// SignIn signs the user in at the request's provider (sandbox rules: any
// user name, any password but SandboxWrongPassword) and records the subject.
// A wrong password leaves the request as it was, so the user can retry.
func (p *Provider) SignIn(ctx context.Context, challenge, username, password string) (store.AuthRequest, error) {
	if username == "" || len(username) > 255 || len(password) > 1024 {
		return store.AuthRequest{}, &Error{Code: ErrCodeInvalidCredentials, Status: http.StatusUnprocessableEntity,
			Description: "Enter your user name and password."}
	}
	if password == SandboxWrongPassword {
		return store.AuthRequest{}, &Error{Code: ErrCodeInvalidCredentials, Status: http.StatusUnauthorized,
			Description: "The user name or password is incorrect. Try again."}
	}
	return p.SetSubject(ctx, challenge, username)
}
