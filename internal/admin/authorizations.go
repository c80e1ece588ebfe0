package admin

import (
	"net/http"
	"slices"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
)

// Bounds on the accept body beyond what the core checks.
const (
	maxIDLen       = 255
	maxEntityIDs   = 1000
	maxChallengeID = 512
)

type authorizationView struct {
	Challenge    string `json:"challenge"`
	ClientID     string `json:"client_id"`
	ClientName   string `json:"client_name"`
	ResponseType string `json:"response_type"`
	RedirectURI  string `json:"redirect_uri"`
	Scope        string `json:"scope"`
	State        string `json:"state,omitempty"`
	RequestedAt  string `json:"requested_at"`
	ExpiresAt    string `json:"expires_at"`
}

type redirectBody struct {
	RedirectTo string `json:"redirect_to"`
}

func challenge(r *http.Request) (string, error) {
	c := r.PathValue("challenge")
	if c == "" || len(c) > maxChallengeID {
		return "", notFound("The authorization request is unknown or has expired.")
	}
	return c, nil
}

// getAuthorization: GET /admin/authorizations/{challenge}, the pending
// request an external consent app decides on.
func (a *api) getAuthorization(w http.ResponseWriter, r *http.Request) error {
	ch, err := challenge(r)
	if err != nil {
		return err
	}
	ar, c, err := a.provider.GetAuthorization(r.Context(), ch)
	if err != nil {
		return err
	}
	redirect, _ := oauth.EffectiveRedirect(&c, ar.RedirectURI)
	if ar.DeviceHash != nil {
		redirect = "" // a device's request: decided back to /device, no redirect
	}
	writeJSON(w, http.StatusOK, authorizationView{
		Challenge:    ar.ID,
		ClientID:     c.ID,
		ClientName:   c.Name,
		ResponseType: ar.ResponseType,
		RedirectURI:  redirect,
		Scope:        oauth.JoinScope(ar.Scopes),
		State:        ar.State,
		RequestedAt:  clients.FormatTime(ar.CreatedAt),
		ExpiresAt:    clients.FormatTime(ar.ExpiresAt),
	})
	return nil
}

// acceptBody is the consent app's decision. Scope (a space-delimited
// string) and Products (an array) are two spellings of the same thing; at
// most one may be given, and leaving both out grants what was requested.
type acceptBody struct {
	Subject        string   `json:"subject"`
	Scope          *string  `json:"scope"`
	Products       []string `json:"products"`
	ProviderID     string   `json:"provider_id"`
	CustomerID     string   `json:"customer_id"`
	CustomerName   string   `json:"customer_name"`
	EntityIDs      []string `json:"entity_ids"`
	ConnectionType string   `json:"connection_type"`
}

func (b *acceptBody) consent() (oauth.Consent, error) {
	c := oauth.Consent{
		Subject:        b.Subject,
		ProviderID:     b.ProviderID,
		CustomerID:     b.CustomerID,
		CustomerName:   b.CustomerName,
		EntityIDs:      b.EntityIDs,
		ConnectionType: b.ConnectionType,
	}
	switch {
	case b.Scope != nil && b.Products != nil:
		return c, oauth.InvalidRequest("Give scope or products, not both.")
	case b.Scope != nil:
		s, ok := oauth.ParseScope(*b.Scope)
		if !ok {
			return c, oauth.InvalidScope("The scope is malformed.")
		}
		c.Scopes = s
	case b.Products != nil:
		if len(b.Products) > oauth.MaxScopes {
			return c, oauth.InvalidScope("Too many products.")
		}
		c.Scopes = []string{}
		for _, p := range b.Products {
			s, ok := oauth.ParseScope(p)
			if !ok || len(s) != 1 {
				return c, oauth.InvalidScope("The products are malformed.")
			}
			if !slices.Contains(c.Scopes, s[0]) {
				c.Scopes = append(c.Scopes, s[0])
			}
		}
	}
	if c.Scopes != nil && len(c.Scopes) == 0 {
		return c, oauth.InvalidScope("Grant at least one scope, or leave scope and products out to grant what was requested.")
	}
	for _, f := range [...]struct{ name, v string }{
		{"provider_id", b.ProviderID}, {"customer_id", b.CustomerID}, {"customer_name", b.CustomerName},
	} {
		if len(f.v) > maxIDLen {
			return c, oauth.InvalidRequest("The %s is longer than %d bytes.", f.name, maxIDLen)
		}
	}
	if len(b.EntityIDs) > maxEntityIDs {
		return c, oauth.InvalidRequest("Too many entity_ids (at most %d).", maxEntityIDs)
	}
	for _, e := range b.EntityIDs {
		if e == "" || len(e) > maxIDLen {
			return c, oauth.InvalidRequest("Every entity_id must be 1 to %d bytes.", maxIDLen)
		}
	}
	switch b.ConnectionType {
	case "", "provider", "finch":
	default:
		return c, oauth.InvalidRequest("The connection_type must be provider or finch.")
	}
	return c, nil
}

// acceptAuthorization: POST /admin/authorizations/{challenge}/accept.
func (a *api) acceptAuthorization(w http.ResponseWriter, r *http.Request) error {
	ch, err := challenge(r)
	if err != nil {
		return err
	}
	var b acceptBody
	if err := decodeBody(w, r, &b, true); err != nil {
		return err
	}
	consent, err := b.consent()
	if err != nil {
		return err
	}
	to, err := a.provider.Accept(r.Context(), ch, consent)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, redirectBody{RedirectTo: to})
	return nil
}

// rejectAuthorization: POST /admin/authorizations/{challenge}/reject, with
// an optional body {"error_description": "…"}.
func (a *api) rejectAuthorization(w http.ResponseWriter, r *http.Request) error {
	ch, err := challenge(r)
	if err != nil {
		return err
	}
	var b struct {
		Description string `json:"error_description"`
	}
	if err := decodeBody(w, r, &b, false); err != nil {
		return err
	}
	if !printableASCII(b.Description) {
		return oauth.InvalidRequest("The error_description must be printable ASCII (RFC 6749 §4.1.2.1).")
	}
	to, err := a.provider.Reject(r.Context(), ch, b.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, redirectBody{RedirectTo: to})
	return nil
}

// printableASCII: the characters RFC 6749 allows in error_description
// (%x20-21 / %x23-5B / %x5D-7E).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}
