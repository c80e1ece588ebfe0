package oauth

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/store"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// TokenRequest is a token request, decoded from any dialect's wire.
type TokenRequest struct {
	GrantType    string
	Client       ClientCredentials
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	// Scope is the raw scope parameter; HasScope tells an empty one from an
	// absent one.
	Scope    string
	HasScope bool
	// CodeKind is the kind of one-time code the grant accepts: "code" (the
	// default) or "temp_token".
	CodeKind string
	// RefreshPolicy, when set, is the policy of a refresh family this
	// request creates, instead of the client's: a dialect's default (the
	// bank-data dialect's refresh tokens never rotate).
	RefreshPolicy string
	// NoRefreshToken asks the grant not to issue a refresh token (a dialect
	// whose wire has none).
	NoRefreshToken bool
	// UntilConsentEnd makes an access token from a grant with a connection
	// live until the consent ends, instead of the client's access-token
	// lifetime: the token is the consent's key (the temp-token and payroll
	// wires, which carry no refresh token). Revocation still ends it at once.
	UntilConsentEnd bool
}

// TokenResponse is the core's result; dialects pick the fields they send.
type TokenResponse struct {
	AccessToken  string
	TokenType    string // "Bearer"
	ExpiresIn    int64  // seconds
	ExpiresAt    time.Time
	RefreshToken string // "" when none was issued or it did not change
	Scopes       []string
	GrantType    string
	Subject      string
	Client       store.Client
	ConnectionID string
	// Connection is the connection behind a code or refresh grant (nil for
	// client_credentials), for dialects that return its metadata.
	Connection *store.Connection
	// RefreshTokenUnchanged is set on a fixed-policy refresh: the presented
	// refresh token stays valid and is not returned again.
	RefreshTokenUnchanged bool

	pending *Claims // a JWT still to be signed once the store committed
}

// Claims are the claims of a JWT access token (RFC 9068 §2.2).
type Claims struct {
	Issuer       string   `json:"iss"`
	Subject      string   `json:"sub"`
	Audience     string   `json:"aud"`
	ExpiresAt    int64    `json:"exp"`
	IssuedAt     int64    `json:"iat"`
	NotBefore    int64    `json:"nbf,omitempty"`
	ID           string   `json:"jti"`
	ClientID     string   `json:"client_id"`
	Scope        string   `json:"scope,omitempty"`
	ConnectionID string   `json:"connection_id,omitempty"`
	Products     []string `json:"products,omitempty"`
	EntityIDs    []string `json:"entity_ids,omitempty"`
}

// Token runs the fixed token pipeline: authenticate the client, apply the
// policy, check the client may use the grant, run the grant, issue. No grant
// can skip a step.
func (p *Provider) Token(ctx context.Context, req TokenRequest) (*TokenResponse, error) {
	if req.GrantType == "" {
		return nil, InvalidRequest("The grant_type parameter is missing.").With(ReasonMissingParam, "grant_type")
	}
	var grant func(context.Context, *store.Client, TokenRequest) (*TokenResponse, error)
	switch req.GrantType {
	case GrantClientCredentials:
		grant = p.clientCredentials
	case GrantAuthorizationCode:
		grant = p.authorizationCode
	case GrantRefreshToken:
		grant = p.refresh
	default:
		return nil, UnsupportedGrantType()
	}
	client, err := p.AuthenticateClient(ctx, req.Client)
	if err != nil {
		return nil, err
	}
	if err := p.policy().Check(ctx, &client, req.GrantType); err != nil {
		return nil, err
	}
	if !slices.Contains(client.GrantTypes, req.GrantType) {
		return nil, UnauthorizedClient("The client is not allowed to use the %s grant.", req.GrantType).With(ReasonGrantNotAllowed, "grant_type")
	}
	resp, err := grant(ctx, &client, req)
	if err != nil {
		return nil, err
	}
	resp.GrantType = req.GrantType
	resp.Client = client
	return resp, nil
}

func (p *Provider) clientCredentials(ctx context.Context, c *store.Client, req TokenRequest) (*TokenResponse, error) {
	if c.IsPublic() {
		return nil, UnauthorizedClient("Public clients may not use the client_credentials grant.").With(ReasonGrantNotAllowed, "grant_type")
	}
	scopes := c.Scopes
	if req.HasScope {
		asked, ok := ParseScope(req.Scope)
		if !ok {
			return nil, InvalidScope("The scope parameter is malformed.").With(ReasonMalformedParam, "scope")
		}
		if !subset(asked, c.Scopes) {
			return nil, InvalidScope("The requested scope exceeds what the client may ask for.").With(ReasonScopeNotAllowed, "scope")
		}
		if len(asked) > 0 {
			scopes = asked
		}
	}
	now := p.now()
	tok, rec, err := p.newAccessToken(c, c.ID, nil, "", scopes, false, now)
	if err != nil {
		return nil, err
	}
	// A client-credentials JWT needs no record: nothing can cascade to it,
	// and revocation inserts one. Opaque tokens are only known by record.
	if rec.Format == store.TokenFormatOpaque {
		if err := p.Store.CreateAccessToken(ctx, rec); err != nil {
			return nil, ServerError(err)
		}
	}
	return tok, nil
}

func (p *Provider) authorizationCode(ctx context.Context, c *store.Client, req TokenRequest) (*TokenResponse, error) {
	kind := req.CodeKind
	if kind == "" {
		kind = CodeKindCode
	}
	if req.Code == "" {
		return nil, InvalidRequest("The code parameter is missing.").With(ReasonMissingParam, "code")
	}
	if len(req.Code) > 512 {
		return nil, InvalidGrant("The authorization code is invalid.").With(ReasonCodeInvalid, "code")
	}
	now := p.now()
	var (
		resp    *TokenResponse
		rt      string
		connOut *store.Connection
	)
	code, err := p.Store.RedeemAuthCode(ctx, store.Hash(req.Code), now, func(code store.AuthCode, conn *store.Connection) (store.CodeGrant, error) {
		if code.Kind != kind || code.ClientID != c.ID {
			return store.CodeGrant{}, InvalidGrant("The authorization code is invalid.").With(ReasonCodeInvalid, "code")
		}
		if !now.Before(code.ExpiresAt) {
			return store.CodeGrant{}, InvalidGrant("The authorization code has expired.").With(ReasonCodeExpired, "code")
		}
		// A temp token is exchanged on a wire with no redirect_uri field
		// (the temp-token dialect); it stays bound to its client.
		tempTokenWire := kind == CodeKindTempToken && req.RedirectURI == ""
		if code.RedirectURI != "" && req.RedirectURI != code.RedirectURI && !tempTokenWire {
			return store.CodeGrant{}, InvalidGrant("The redirect_uri does not match the authorization request.").With(ReasonRedirectMismatch, "redirect_uri")
		}
		// A redirect_uri omitted at authorization may still be sent here if
		// it is the one the code was delivered to (the client's only one).
		if only, _ := EffectiveRedirect(c, ""); code.RedirectURI == "" && req.RedirectURI != "" && req.RedirectURI != only {
			return store.CodeGrant{}, InvalidGrant("The redirect_uri was not part of the authorization request.").With(ReasonRedirectMismatch, "redirect_uri")
		}
		switch {
		case code.CodeChallenge != "" && req.CodeVerifier == "":
			return store.CodeGrant{}, InvalidGrant("The code_verifier parameter is missing.").With(ReasonPKCE, "code_verifier")
		case code.CodeChallenge != "" && !VerifyPKCE(code.CodeChallenge, code.CodeChallengeMethod, req.CodeVerifier):
			return store.CodeGrant{}, InvalidGrant("The code_verifier does not match the code_challenge.").With(ReasonPKCE, "code_verifier")
		case code.CodeChallenge == "" && req.CodeVerifier != "":
			return store.CodeGrant{}, InvalidGrant("A code_verifier was sent but the authorization request had no code_challenge.").With(ReasonPKCE, "code_verifier")
		}
		if err := connectionLive(conn, code.ConnectionID, now); err != nil {
			return store.CodeGrant{}, err
		}
		connOut = conn
		var g store.CodeGrant
		var rec store.AccessToken
		var err error
		resp, rec, err = p.newAccessToken(c, code.Subject, conn, code.GrantID, code.Scopes, req.UntilConsentEnd, now)
		if err != nil {
			return store.CodeGrant{}, err
		}
		g.AccessToken = &rec
		if slices.Contains(c.GrantTypes, GrantRefreshToken) && !req.NoRefreshToken {
			fam := p.newFamily(c, code, conn, req.RefreshPolicy, now)
			var tok store.RefreshToken
			rt, tok = newRefreshToken(fam.ID, now)
			g.Family, g.RefreshToken = &fam, &tok
		}
		return g, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, InvalidGrant("The authorization code is invalid.").With(ReasonCodeInvalid, "code")
	case errors.Is(err, store.ErrAlreadyUsed):
		p.logger().WarnContext(ctx, "authorization code replayed; grant revoked",
			"client_id", c.ID, "grant_id", code.GrantID)
		return nil, InvalidGrant("The authorization code has already been used.").With(ReasonCodeUsed, "code")
	case err != nil:
		return nil, AsError(err)
	}
	resp.RefreshToken = rt
	resp.ConnectionID = code.ConnectionID
	resp.Connection = connOut
	// The token was recorded above; the JWT is signed outside the store
	// transaction so that no lock is held while signing.
	if err := p.finish(resp, c); err != nil {
		return nil, err
	}
	return resp, nil
}

func (p *Provider) refresh(ctx context.Context, c *store.Client, req TokenRequest) (*TokenResponse, error) {
	if req.RefreshToken == "" {
		return nil, InvalidRequest("The refresh_token parameter is missing.").With(ReasonMissingParam, "refresh_token")
	}
	if len(req.RefreshToken) > 512 || !strings.HasPrefix(req.RefreshToken, PrefixRefreshToken) {
		return nil, InvalidGrant("The refresh token is invalid.").With(ReasonRefreshInvalid, "refresh_token")
	}
	var asked []string
	if req.HasScope {
		var ok bool
		if asked, ok = ParseScope(req.Scope); !ok {
			return nil, InvalidScope("The scope parameter is malformed.").With(ReasonMalformedParam, "scope")
		}
	}
	now := p.now()
	var (
		resp    *TokenResponse
		rt      string
		connOut *store.Connection
	)
	fam, err := p.Store.Refresh(ctx, store.Hash(req.RefreshToken), now, func(fam store.RefreshFamily, tok store.RefreshToken, conn *store.Connection) (store.RefreshGrant, error) {
		if fam.ClientID != c.ID {
			return store.RefreshGrant{}, InvalidGrant("The refresh token is invalid.").With(ReasonRefreshInvalid, "refresh_token")
		}
		if err := familyLive(fam, now); err != nil {
			return store.RefreshGrant{}, err
		}
		if err := connectionLive(conn, fam.ConnectionID, now); err != nil {
			return store.RefreshGrant{}, err
		}
		connOut = conn
		scopes := fam.Scopes
		if len(asked) > 0 {
			// RFC 6749 §6: narrowing is allowed, widening is not; the
			// family keeps its original scope.
			if !subset(asked, fam.Scopes) {
				return store.RefreshGrant{}, InvalidScope("The requested scope exceeds the scope originally granted.").With(ReasonScopeNotAllowed, "scope")
			}
			scopes = asked
		}
		var g store.RefreshGrant
		var rec store.AccessToken
		var err error
		resp, rec, err = p.newAccessToken(c, fam.Subject, conn, fam.ID, scopes, false, now)
		if err != nil {
			return store.RefreshGrant{}, err
		}
		g.AccessToken = &rec
		if fam.Policy != store.RefreshFixed {
			var nt store.RefreshToken
			rt, nt = newRefreshToken(fam.ID, now)
			g.NewToken = &nt
		}
		return g, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked):
		return nil, InvalidGrant("The refresh token is invalid.").With(ReasonRefreshInvalid, "refresh_token")
	case errors.Is(err, store.ErrRefreshReused):
		p.logger().WarnContext(ctx, "rotated refresh token reused; family revoked",
			"client_id", c.ID, "family_id", fam.ID)
		return nil, InvalidGrant("The refresh token has already been used.").With(ReasonRefreshReused, "refresh_token")
	case err != nil:
		return nil, AsError(err)
	}
	resp.RefreshToken = rt
	resp.RefreshTokenUnchanged = rt == ""
	resp.ConnectionID = fam.ConnectionID
	resp.Connection = connOut
	if err := p.finish(resp, c); err != nil {
		return nil, err
	}
	return resp, nil
}

// connectionLive checks that the connection behind a grant is active and its
// consent has not ended. A grant with no connection (id "") passes; one whose
// connection row is gone does not.
func connectionLive(conn *store.Connection, id string, now time.Time) error {
	if id == "" {
		return nil
	}
	if conn == nil || conn.Status != store.ConnectionActive {
		return InvalidGrant("The connection behind this grant is no longer active.").With(ReasonConsentEnded, "")
	}
	if !conn.ConsentExpiresAt.IsZero() && !now.Before(conn.ConsentExpiresAt) {
		return InvalidGrant("The consent behind this grant has expired.").With(ReasonConsentEnded, "")
	}
	return nil
}

// familyLive checks a family's absolute and idle expiry.
func familyLive(fam store.RefreshFamily, now time.Time) error {
	if !fam.RevokedAt.IsZero() {
		return InvalidGrant("The refresh token is invalid.").With(ReasonRefreshInvalid, "refresh_token")
	}
	if !fam.ExpiresAt.IsZero() && !now.Before(fam.ExpiresAt) {
		return InvalidGrant("The refresh token has expired.").With(ReasonRefreshExpired, "refresh_token")
	}
	if fam.IdleTimeout > 0 && !now.Before(fam.LastUsedAt.Add(fam.IdleTimeout)) {
		return InvalidGrant("The refresh token has expired after being idle.").With(ReasonRefreshExpired, "refresh_token")
	}
	return nil
}

func (p *Provider) newFamily(c *store.Client, code store.AuthCode, conn *store.Connection, policy string, now time.Time) store.RefreshFamily {
	fam := store.RefreshFamily{
		ID:           code.GrantID,
		ClientID:     c.ID,
		Subject:      code.Subject,
		ConnectionID: code.ConnectionID,
		Scopes:       code.Scopes,
		Policy:       c.RefreshPolicy,
		IdleTimeout:  c.RefreshIdleTimeout,
		CreatedAt:    now,
		LastUsedAt:   now,
	}
	if policy != "" {
		fam.Policy = policy
	}
	// OAuth 2.1 §4.3.1: a public client's refresh tokens must rotate.
	if fam.Policy == "" || c.IsPublic() {
		fam.Policy = store.RefreshRotating
	}
	if fam.IdleTimeout <= 0 {
		fam.IdleTimeout = DefaultRefreshIdleTimeout
	}
	// Fixed refresh tokens have no absolute expiry; rotating families end
	// at the client's RefreshTTL when one is set.
	if fam.Policy == store.RefreshRotating && c.RefreshTTL > 0 {
		fam.ExpiresAt = now.Add(c.RefreshTTL)
	}
	// No refresh token outlives its consent.
	if conn != nil && !conn.ConsentExpiresAt.IsZero() && (fam.ExpiresAt.IsZero() || conn.ConsentExpiresAt.Before(fam.ExpiresAt)) {
		fam.ExpiresAt = conn.ConsentExpiresAt
	}
	return fam
}

func newRefreshToken(familyID string, now time.Time) (string, store.RefreshToken) {
	t := PrefixRefreshToken + RandomToken(32)
	return t, store.RefreshToken{Hash: store.Hash(t), FamilyID: familyID, CreatedAt: now}
}

// newAccessToken prepares an access token and its record. An opaque token is
// complete on return; a JWT is signed by finish, after the store has
// committed, using the record's ID as jti. The token never outlives the
// consent of its connection.
func (p *Provider) newAccessToken(c *store.Client, subject string, conn *store.Connection, familyID string, scopes []string, untilConsentEnd bool, now time.Time) (*TokenResponse, store.AccessToken, error) {
	ttl := c.AccessTokenTTL
	if ttl <= 0 {
		ttl = DefaultAccessTokenTTL
	}
	var connectionID string
	var entityIDs []string
	if conn != nil {
		connectionID, entityIDs = conn.ID, conn.EntityIDs
		if !conn.ConsentExpiresAt.IsZero() {
			if untilConsentEnd {
				ttl = conn.ConsentExpiresAt.Sub(now)
			}
			ttl = min(ttl, conn.ConsentExpiresAt.Sub(now))
		}
	}
	rec := store.AccessToken{
		ClientID:     c.ID,
		Subject:      subject,
		FamilyID:     familyID,
		ConnectionID: connectionID,
		Scopes:       scopes,
		Format:       c.TokenFormat,
		CreatedAt:    now,
		ExpiresAt:    now.Add(ttl),
	}
	resp := &TokenResponse{
		TokenType: "Bearer",
		ExpiresIn: int64((ttl + time.Second - 1) / time.Second),
		ExpiresAt: rec.ExpiresAt,
		Scopes:    scopes,
		Subject:   subject,
	}
	if rec.Format == store.TokenFormatOpaque {
		resp.AccessToken = PrefixAccessToken + RandomToken(32)
		rec.ID = opaqueID(resp.AccessToken)
		return resp, rec, nil
	}
	rec.Format = store.TokenFormatJWT
	rec.ID = uuid.NewString()
	claims := Claims{
		Issuer:       p.Issuer,
		Subject:      subject,
		Audience:     p.audience(),
		ExpiresAt:    rec.ExpiresAt.Unix(),
		IssuedAt:     now.Unix(),
		ID:           rec.ID,
		ClientID:     c.ID,
		Scope:        JoinScope(scopes),
		ConnectionID: connectionID,
	}
	if conn != nil {
		claims.Products = scopes
		claims.EntityIDs = append([]string{}, entityIDs...)
	}
	if familyID == "" {
		// Nothing is committed first: sign now.
		jwt, err := p.Signer.Sign(claims)
		if err != nil {
			return nil, rec, ServerError(err)
		}
		resp.AccessToken = jwt
	} else {
		resp.pending = &claims
	}
	return resp, rec, nil
}

// finish signs a JWT whose record was committed with the grant.
func (p *Provider) finish(resp *TokenResponse, _ *store.Client) error {
	if resp.pending == nil {
		return nil
	}
	jwt, err := p.Signer.Sign(*resp.pending)
	if err != nil {
		return ServerError(err)
	}
	resp.AccessToken, resp.pending = jwt, nil
	return nil
}

// opaqueID is the record ID of an opaque access token: the hex of its hash.
func opaqueID(token string) string { return hex.EncodeToString(store.Hash(token)) }
