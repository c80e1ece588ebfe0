package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Introspection is an RFC 7662 §2.2 response. Inactive tokens carry only
// Active=false.
type Introspection struct {
	Active       bool   `json:"active"`
	Scope        string `json:"scope,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	TokenType    string `json:"token_type,omitempty"`
	ExpiresAt    int64  `json:"exp,omitempty"`
	IssuedAt     int64  `json:"iat,omitempty"`
	Subject      string `json:"sub,omitempty"`
	Audience     string `json:"aud,omitempty"`
	Issuer       string `json:"iss,omitempty"`
	ID           string `json:"jti,omitempty"`
	ConnectionID string `json:"connection_id,omitempty"`
}

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	HintAccessToken  = "access_token"
	HintRefreshToken = "refresh_token"
)

const maxTokenLen = 8192

// tokenRef is a presented token, resolved to what grantd knows of it.
type tokenRef struct {
	refresh bool
	access  store.AccessToken // for access tokens; ID set
	claims  *Claims           // for JWTs
	rt      store.RefreshToken
	fam     store.RefreshFamily
}

// resolve finds a token. It returns (nil, nil) when the token is not one
// grantd issued or is malformed. The hint only orders nothing here: the
// token's shape tells what it is, so a wrong hint costs nothing.
func (p *Provider) resolve(ctx context.Context, token string) (*tokenRef, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, nil
	}
	switch {
	case strings.HasPrefix(token, PrefixRefreshToken):
		rt, fam, err := p.Store.GetRefreshToken(ctx, store.Hash(token))
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &tokenRef{refresh: true, rt: rt, fam: fam}, nil
	case strings.HasPrefix(token, PrefixAccessToken):
		rec, err := p.Store.GetAccessToken(ctx, opaqueID(token))
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &tokenRef{access: rec}, nil
	case strings.Count(token, ".") == 2:
		var c Claims
		if err := p.Signer.Verify(token, &c); err != nil {
			return nil, nil
		}
		if c.Issuer != p.Issuer || c.ID == "" || c.ClientID == "" {
			return nil, nil
		}
		rec, err := p.Store.GetAccessToken(ctx, c.ID)
		switch {
		case errors.Is(err, store.ErrNotFound) && c.ConnectionID != "":
			// A token of a grant always has a record; none left means its
			// connection was purged (or the record expired): inactive.
			return nil, nil
		case errors.Is(err, store.ErrNotFound):
			// A client-credentials JWT has no record until revoked.
			rec = store.AccessToken{
				ID: c.ID, ClientID: c.ClientID, Subject: c.Subject, ConnectionID: c.ConnectionID,
				Format: store.TokenFormatJWT, Scopes: strings.Fields(c.Scope),
				CreatedAt: time.Unix(c.IssuedAt, 0), ExpiresAt: time.Unix(c.ExpiresAt, 0),
			}
		case err != nil:
			return nil, err
		}
		return &tokenRef{access: rec, claims: &c}, nil
	}
	return nil, nil
}

// Introspect answers RFC 7662 for an authenticated caller. Tokens that are
// unknown, expired, revoked, of a deleted client, or issued to another client
// (unless the caller is a resource server) are inactive.
func (p *Provider) Introspect(ctx context.Context, caller *store.Client, token string) (*Introspection, error) {
	ref, err := p.resolve(ctx, token)
	if err != nil {
		return nil, ServerError(err)
	}
	inactive := &Introspection{Active: false}
	if ref == nil {
		return inactive, nil
	}
	now := p.now()
	owner := ref.access.ClientID
	if ref.refresh {
		owner = ref.fam.ClientID
	}
	if owner != caller.ID && !caller.ResourceServer {
		return inactive, nil
	}
	if owner != caller.ID {
		// The owner may have been deleted since.
		if _, err := p.Store.GetClient(ctx, owner); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return inactive, nil
			}
			return nil, ServerError(err)
		}
	}
	if ref.refresh {
		if familyLive(ref.fam, now) != nil || (ref.fam.Policy != store.RefreshFixed && !ref.rt.UsedAt.IsZero()) {
			return inactive, nil
		}
		if ref.fam.ConnectionID != "" {
			conn, err := p.Store.GetConnection(ctx, ref.fam.ConnectionID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, ServerError(err)
			}
			if err != nil || connectionLive(&conn, conn.ID, now) != nil {
				return inactive, nil
			}
		}
		out := &Introspection{
			Active: true, Scope: JoinScope(ref.fam.Scopes), ClientID: ref.fam.ClientID,
			TokenType: HintRefreshToken, IssuedAt: ref.rt.CreatedAt.Unix(), Subject: ref.fam.Subject,
			Issuer: p.Issuer, ConnectionID: ref.fam.ConnectionID,
		}
		// It expires at the absolute expiry or when idle, whichever is first.
		exp := ref.fam.ExpiresAt
		if ref.fam.IdleTimeout > 0 {
			if idle := ref.fam.LastUsedAt.Add(ref.fam.IdleTimeout); exp.IsZero() || idle.Before(exp) {
				exp = idle
			}
		}
		if !exp.IsZero() {
			out.ExpiresAt = exp.Unix()
		}
		return out, nil
	}
	a := ref.access
	if a.Revoked || !now.Before(a.ExpiresAt) {
		return inactive, nil
	}
	out := &Introspection{
		Active: true, Scope: JoinScope(a.Scopes), ClientID: a.ClientID, TokenType: "Bearer",
		ExpiresAt: a.ExpiresAt.Unix(), IssuedAt: a.CreatedAt.Unix(), Subject: a.Subject,
		Issuer: p.Issuer, ConnectionID: a.ConnectionID,
	}
	if ref.claims != nil {
		out.Audience, out.ID = ref.claims.Audience, ref.claims.ID
	}
	return out, nil
}

// Revoke implements RFC 7009 for an authenticated caller. Unknown and
// malformed tokens succeed silently (§2.2). A refresh token revokes its whole
// family and the access tokens issued from it; an access token revokes
// itself. A token issued to another client is refused with
// unauthorized_client (§2.1), and nothing is revoked. The hint is ignored.
func (p *Provider) Revoke(ctx context.Context, caller *store.Client, token, hint string) error {
	// The hint is optional help (RFC 7009 §2.1): grantd finds a token by its
	// shape, so an unknown hint is ignored rather than refused.
	_ = hint
	ref, err := p.resolve(ctx, token)
	if err != nil {
		return ServerError(err)
	}
	if ref == nil {
		return nil
	}
	now := p.now()
	if ref.refresh {
		if ref.fam.ClientID != caller.ID {
			return UnauthorizedClient("The token was not issued to this client.")
		}
		if err := p.Store.RevokeFamily(ctx, ref.fam.ID, now); err != nil {
			return ServerError(err)
		}
		return nil
	}
	if ref.access.ClientID != caller.ID {
		return UnauthorizedClient("The token was not issued to this client.")
	}
	if ref.access.Revoked {
		return nil
	}
	if err := p.Store.RevokeAccessToken(ctx, ref.access, now); err != nil {
		return ServerError(err)
	}
	return nil
}

// ErrCodeInvalidToken is the bearer-token error of RFC 6750 §3.1.
const ErrCodeInvalidToken = "invalid_token"

// DisconnectByToken revokes the connection behind an access token presented
// as a bearer credential (the client disconnecting its own connection, as
// payroll APIs offer). The token must be an active access token of a grant
// with a connection.
func (p *Provider) DisconnectByToken(ctx context.Context, token string) (store.Connection, error) {
	invalid := &Error{Code: ErrCodeInvalidToken, Status: http.StatusUnauthorized,
		Description: "The access token is missing, invalid, expired or revoked."}
	ref, err := p.resolve(ctx, token)
	if err != nil {
		return store.Connection{}, ServerError(err)
	}
	if ref == nil || ref.refresh || ref.access.Revoked || !p.now().Before(ref.access.ExpiresAt) {
		return store.Connection{}, invalid
	}
	if ref.access.ConnectionID == "" {
		return store.Connection{}, InvalidRequest("The access token does not belong to a connection.")
	}
	conn, err := p.Store.GetConnection(ctx, ref.access.ConnectionID)
	if err != nil || conn.ClientID != ref.access.ClientID {
		return store.Connection{}, invalid.WithCause(err)
	}
	if _, err := p.Store.GetClient(ctx, conn.ClientID); err != nil {
		return store.Connection{}, invalid.WithCause(err)
	}
	conn, err = p.Store.RevokeConnection(ctx, conn.ID, p.now())
	if err != nil {
		return store.Connection{}, ServerError(err)
	}
	return conn, nil
}
