package clients

import (
	"maps"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// View is the JSON a client is shown as by the admin API and the CLI. It
// never holds the secret hash nor the sealed webhook secret; ClientSecret
// and WebhookSecret are set only in the answers that create them, the one
// time each plaintext exists.
type View struct {
	ClientID                string            `json:"client_id"`
	ClientSecret            string            `json:"client_secret,omitempty"`
	Name                    string            `json:"name"`
	GrantTypes              []string          `json:"grant_types"`
	ResponseTypes           []string          `json:"response_types"`
	RedirectURIs            []string          `json:"redirect_uris"`
	TokenEndpointAuthMethod string            `json:"token_endpoint_auth_method"`
	Scope                   string            `json:"scope"`
	Environment             string            `json:"environment"`
	Tier                    string            `json:"tier"`
	State                   string            `json:"state"`
	RefreshPolicy           string            `json:"refresh_policy"`
	RefreshIdleTimeout      Duration          `json:"refresh_idle_timeout"`
	RefreshTokenTTL         Duration          `json:"refresh_token_ttl"`
	AccessTokenTTL          Duration          `json:"access_token_ttl"`
	AccessTokenFormat       string            `json:"access_token_format"`
	ConsentTTL              Duration          `json:"consent_ttl"`
	RetentionTTL            Duration          `json:"retention_ttl"`
	ConsentURL              string            `json:"consent_url"`
	ResourceServer          bool              `json:"resource_server"`
	WebhookURL              string            `json:"webhook_url"`
	WebhookSecret           string            `json:"webhook_secret,omitempty"`
	Metadata                map[string]string `json:"metadata"`
	CreatedAt               string            `json:"created_at"`
	UpdatedAt               string            `json:"updated_at"`
}

// NewView shows a stored client. Lists are never null in the JSON.
func NewView(c store.Client) View {
	md := maps.Clone(c.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	return View{
		ClientID:                c.ID,
		Name:                    c.Name,
		GrantTypes:              nonNil(c.GrantTypes),
		ResponseTypes:           nonNil(c.ResponseTypes),
		RedirectURIs:            nonNil(c.RedirectURIs),
		TokenEndpointAuthMethod: c.AuthMethod,
		Scope:                   oauth.JoinScope(c.Scopes),
		Environment:             c.Environment,
		Tier:                    c.Tier,
		State:                   c.State,
		RefreshPolicy:           c.RefreshPolicy,
		RefreshIdleTimeout:      Duration(c.RefreshIdleTimeout),
		RefreshTokenTTL:         Duration(c.RefreshTTL),
		AccessTokenTTL:          Duration(c.AccessTokenTTL),
		AccessTokenFormat:       c.TokenFormat,
		ConsentTTL:              Duration(c.ConsentTTL),
		RetentionTTL:            Duration(c.RetentionTTL),
		ConsentURL:              c.ConsentURL,
		ResourceServer:          c.ResourceServer,
		WebhookURL:              c.WebhookURL,
		Metadata:                md,
		CreatedAt:               FormatTime(c.CreatedAt),
		UpdatedAt:               FormatTime(c.UpdatedAt),
	}
}

// FormatTime is how the admin API shows a time: RFC 3339 in UTC, whole
// seconds; "" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
