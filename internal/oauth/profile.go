package oauth

import (
	"slices"

	"github.com/grantd/grantd/internal/store"
)

// Profile is what one token endpoint issues, declared once by its dialect
// (docs/dialects.md has them in one table). The pipeline honours it for
// every request the endpoint serves: a dialect cannot change it per request,
// and a grant reads it instead of asking which endpoint it runs behind.
type Profile struct {
	// Grants are the grant types the endpoint serves; any other is
	// unsupported_grant_type.
	Grants []string
	// CodeKind is the kind of one-time code its authorization_code grant
	// redeems: CodeKindCode (the default) or CodeKindTempToken.
	CodeKind string
	// RefreshTokens: a code grant issues a refresh token (to a client
	// allowed the refresh_token grant).
	RefreshTokens bool
	// RefreshPolicy is the policy of the refresh families the endpoint
	// creates: RefreshRotating, RefreshFixed, or "" for the client's own. A
	// public client's refresh tokens rotate whatever it says (OAuth 2.1
	// §4.3.1).
	RefreshPolicy string
	// UntilConsentEnd: an access token of a grant with a connection lives
	// until the consent ends, not for the client's access-token lifetime.
	// For wires without a refresh token, whose access token is the
	// consent's key; revocation still ends it at once.
	UntilConsentEnd bool
	// RedirectURI: the wire carries redirect_uri, so a code issued for one
	// is redeemed only with it (RFC 6749 §4.1.3). Without it, a code stays
	// bound to its client alone.
	RedirectURI bool
	// PKCE: the wire carries code_verifier (RFC 7636). Without it, a code
	// issued with a code_challenge cannot be redeemed at this endpoint.
	PKCE bool
	// Clients is which clients the endpoint serves: ClientsAll or
	// ClientsConfidential (a client_id without a secret is refused).
	Clients string
	// DPoP: the endpoint takes DPoP proofs (RFC 9449) and binds what it
	// issues to their keys. Without it, a DPoP header is not read, and a
	// client whose tokens must be bound is refused.
	DPoP bool
	// MTLS: the endpoint binds access tokens to the request's TLS client
	// certificate for clients that ask (RFC 8705 §3). Without it, a client
	// whose tokens must be certificate-bound is refused.
	MTLS bool
}

// Which clients an endpoint serves.
const (
	ClientsAll          = "all"
	ClientsConfidential = "confidential"
)

// Refresh policies a profile may set (the store's).
const (
	RefreshRotating = store.RefreshRotating
	RefreshFixed    = store.RefreshFixed
)

// serves reports whether the endpoint serves grant type g.
func (pr Profile) serves(g string) bool { return slices.Contains(pr.Grants, g) }

func (pr Profile) codeKind() string {
	if pr.CodeKind == "" {
		return CodeKindCode
	}
	return pr.CodeKind
}
