package clients

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// View is the JSON a client is shown as by the admin API and the CLI. It
// never holds a secret hash (the current secret's, the previous one's, the
// registration access token's) nor the sealed webhook secret; ClientSecret
// and WebhookSecret are set only in the answers that create them, the one
// time each plaintext exists.
type View struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// PreviousSecretExpiresAt is until when the secret a rotation replaced
	// still authenticates; left out when there is none.
	PreviousSecretExpiresAt            string          `json:"previous_secret_expires_at,omitempty"`
	Name                               string          `json:"name"`
	GrantTypes                         []string        `json:"grant_types"`
	ResponseTypes                      []string        `json:"response_types"`
	RedirectURIs                       []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod            string          `json:"token_endpoint_auth_method"`
	Scope                              string          `json:"scope"`
	Environment                        string          `json:"environment"`
	Tier                               string          `json:"tier"`
	State                              string          `json:"state"`
	StateReason                        string          `json:"state_reason"`
	StateChangedAt                     string          `json:"state_changed_at,omitempty"`
	Metered                            bool            `json:"metered"`
	Balance                            int64           `json:"balance"`
	Overdraft                          bool            `json:"overdraft"`
	OperatingHours                     *store.Schedule `json:"operating_hours"`
	RefreshPolicy                      string          `json:"refresh_policy"`
	RefreshIdleTimeout                 Duration        `json:"refresh_idle_timeout"`
	RefreshTokenTTL                    Duration        `json:"refresh_token_ttl"`
	AccessTokenTTL                     Duration        `json:"access_token_ttl"`
	AccessTokenFormat                  string          `json:"access_token_format"`
	AccessTokenSigningAlg              string          `json:"access_token_signing_alg"`
	DPoPBoundAccessTokens              bool            `json:"dpop_bound_access_tokens"`
	AllowedResources                   []string        `json:"allowed_resources"`
	AllowedCORSOrigins                 []string        `json:"allowed_cors_origins"`
	RequirePushedAuthorizationRequests bool            `json:"require_pushed_authorization_requests"`
	// A private_key_jwt client's public keys, or their URL; left out for
	// other clients.
	JWKS                                  json.RawMessage   `json:"jwks,omitempty"`
	JWKSURI                               string            `json:"jwks_uri,omitempty"`
	TokenEndpointAuthSigningAlg           string            `json:"token_endpoint_auth_signing_alg,omitempty"`
	TLSClientAuthSubjectDN                string            `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS                   string            `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI                   string            `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP                    string            `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail                 string            `json:"tls_client_auth_san_email,omitempty"`
	TLSClientCertificateBoundAccessTokens bool              `json:"tls_client_certificate_bound_access_tokens"`
	Profile                               string            `json:"profile"`
	ConsentTTL                            Duration          `json:"consent_ttl"`
	RetentionTTL                          Duration          `json:"retention_ttl"`
	ConsentURL                            string            `json:"consent_url"`
	ResourceServer                        bool              `json:"resource_server"`
	WebhookURL                            string            `json:"webhook_url"`
	WebhookSecret                         string            `json:"webhook_secret,omitempty"`
	Metadata                              map[string]string `json:"metadata"`
	FirstTokenAt                          string            `json:"first_token_at,omitempty"`
	CreatedAt                             string            `json:"created_at"`
	UpdatedAt                             string            `json:"updated_at"`
}

// NewView shows a stored client. Lists are never null in the JSON; times
// that are unset (state_changed_at of a client older than it, first_token_at
// of a client that never obtained a token) are left out; operating_hours is
// null when the client has none.
func NewView(c store.Client) View {
	md := maps.Clone(c.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	return View{
		ClientID:                              c.ID,
		PreviousSecretExpiresAt:               previousSecretExpiresAt(c),
		Name:                                  c.Name,
		GrantTypes:                            nonNil(c.GrantTypes),
		ResponseTypes:                         nonNil(c.ResponseTypes),
		RedirectURIs:                          nonNil(c.RedirectURIs),
		TokenEndpointAuthMethod:               c.AuthMethod,
		Scope:                                 oauth.JoinScope(c.Scopes),
		Environment:                           c.Environment,
		Tier:                                  c.Tier,
		State:                                 c.State,
		StateReason:                           c.StateReason,
		StateChangedAt:                        FormatTime(c.StateChangedAt),
		Metered:                               c.Metered,
		Balance:                               c.Balance,
		Overdraft:                             c.Overdraft,
		OperatingHours:                        cloneSchedule(c.OperatingHours),
		RefreshPolicy:                         c.RefreshPolicy,
		RefreshIdleTimeout:                    Duration(c.RefreshIdleTimeout),
		RefreshTokenTTL:                       Duration(c.RefreshTTL),
		AccessTokenTTL:                        Duration(c.AccessTokenTTL),
		AccessTokenFormat:                     c.TokenFormat,
		AccessTokenSigningAlg:                 c.AccessTokenSigningAlg,
		DPoPBoundAccessTokens:                 c.DPoPBoundAccessTokens,
		AllowedResources:                      nonNil(c.Security.AllowedResources),
		AllowedCORSOrigins:                    nonNil(c.Security.AllowedCORSOrigins),
		RequirePushedAuthorizationRequests:    c.Security.RequirePAR,
		JWKS:                                  c.Security.JWKS,
		JWKSURI:                               c.Security.JWKSURI,
		TokenEndpointAuthSigningAlg:           c.Security.TokenEndpointAuthSigningAlg,
		TLSClientAuthSubjectDN:                c.Security.TLSClientAuthSubjectDN,
		TLSClientAuthSANDNS:                   c.Security.TLSClientAuthSANDNS,
		TLSClientAuthSANURI:                   c.Security.TLSClientAuthSANURI,
		TLSClientAuthSANIP:                    c.Security.TLSClientAuthSANIP,
		TLSClientAuthSANEmail:                 c.Security.TLSClientAuthSANEmail,
		TLSClientCertificateBoundAccessTokens: c.Security.TLSCertBoundAccessTokens,
		Profile:                               profileName(c.Security.Profile),
		ConsentTTL:                            Duration(c.ConsentTTL),
		RetentionTTL:                          Duration(c.RetentionTTL),
		ConsentURL:                            c.ConsentURL,
		ResourceServer:                        c.ResourceServer,
		WebhookURL:                            c.WebhookURL,
		Metadata:                              md,
		FirstTokenAt:                          FormatTime(c.FirstTokenAt),
		CreatedAt:                             FormatTime(c.CreatedAt),
		UpdatedAt:                             FormatTime(c.UpdatedAt),
	}
}

// previousSecretExpiresAt is until when c's replaced secret authenticates,
// as the view shows it; "" when c has none.
func previousSecretExpiresAt(c store.Client) string {
	if len(c.PreviousSecretHash) == 0 {
		return ""
	}
	return FormatTime(c.PreviousSecretExpiresAt)
}

// FormatTime is how the admin API shows a time: RFC 3339 in UTC, whole
// seconds; "" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ListView is the JSON of GET /admin/clients: one page of clients and the
// cursor of the next page, left out after the last.
type ListView struct {
	Clients    []View `json:"clients"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// NewListView shows a page of clients; Clients is never null.
func NewListView(cs []store.Client, next string) ListView {
	return ListView{Clients: views(cs, NewView), NextCursor: next}
}

// views shows each of xs with view; never nil.
func views[T, V any](xs []T, view func(T) V) []V {
	out := make([]V, 0, len(xs))
	for _, x := range xs {
		out = append(out, view(x))
	}
	return out
}

// profileName is a stored profile as the API shows it: "none" for none.
func profileName(p string) string {
	if p == "" {
		return ProfileNone
	}
	return p
}
