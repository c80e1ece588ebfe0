package oauth

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Introspection is an RFC 7662 §2.2 response. Inactive tokens carry only
// Active=false.
type Introspection struct {
	Active       bool     `json:"active"`
	Scope        string   `json:"scope,omitempty"`
	ClientID     string   `json:"client_id,omitempty"`
	TokenType    string   `json:"token_type,omitempty"`
	ExpiresAt    int64    `json:"exp,omitempty"`
	IssuedAt     int64    `json:"iat,omitempty"`
	Subject      string   `json:"sub,omitempty"`
	Audience     Audience `json:"aud,omitempty"`
	Issuer       string   `json:"iss,omitempty"`
	ID           string   `json:"jti,omitempty"`
	ConnectionID string   `json:"connection_id,omitempty"`
	// Confirmation is the key a sender-constrained token is bound to (RFC
	// 9449 §6.2: cnf.jkt, with token_type DPoP).
	Confirmation *Confirmation `json:"cnf,omitempty"`
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
		rt, fam, err := p.Store.GetRefreshToken(ctx, SecretKey(token))
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
			if c.Confirmation != nil {
				rec.JKT, rec.X5T = c.Confirmation.JKT, c.Confirmation.X5TS256
			}
			rec.Audience = c.Audience
		case err != nil:
			return nil, err
		}
		return &tokenRef{access: rec, claims: &c}, nil
	}
	return nil, nil
}

// Introspect answers RFC 7662 §2 for the client that presents cr. Only
// confidential clients may introspect: a public client's id is no
// credential (§2.1). Tokens that are unknown, expired, revoked, of a
// deleted or suspended client, or issued to another client (unless the
// caller is a resource server) are inactive. A DPoP proof, if the request
// has one, is checked and spent (spendProof); none is needed.
func (p *Provider) Introspect(ctx context.Context, cr ClientCredentials, token string, proof *DPoPRequest) (*Introspection, error) {
	caller, err := p.AuthenticateClient(ctx, cr)
	if err != nil {
		return nil, err
	}
	if caller.IsPublic() {
		e := InvalidClient(errors.New("public client may not introspect"))
		e.Basic = cr.Presented == PresentedBasic
		return nil, e
	}
	if token == "" {
		return nil, InvalidRequest("The token parameter is missing.").With(ReasonMissingParam, "token")
	}
	if _, err := p.spendProof(ctx, proof); err != nil {
		return nil, err
	}
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
	ownerClient := caller
	if owner != caller.ID {
		if !caller.ResourceServer {
			return inactive, nil
		}
		// The owner may have been deleted or suspended since.
		if ownerClient, err = p.Store.GetClient(ctx, owner); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return inactive, nil
			}
			return nil, ServerError(err)
		}
	}
	// A suspended (or pending) client's tokens are inactive while it is so:
	// a resource server that introspects stops honouring them at once.
	if !clientActive(&ownerClient) {
		return inactive, nil
	}
	if ref.refresh {
		if familyLive(&ref.fam, now) != nil || (ref.fam.Policy != store.RefreshFixed && !ref.rt.UsedAt.IsZero()) {
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
		if ref.fam.JKT != "" || ref.fam.X5T != "" {
			// A public client's family bound to its DPoP key or certificate.
			out.Confirmation = &Confirmation{JKT: ref.fam.JKT, X5TS256: ref.fam.X5T}
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
		Active: true, Scope: JoinScope(a.Scopes), ClientID: a.ClientID, TokenType: TokenTypeBearer,
		ExpiresAt: a.ExpiresAt.Unix(), IssuedAt: a.CreatedAt.Unix(), Subject: a.Subject,
		Issuer: p.Issuer, ConnectionID: a.ConnectionID,
	}
	if a.JKT != "" || a.X5T != "" {
		out.Confirmation = &Confirmation{JKT: a.JKT, X5TS256: a.X5T}
	}
	if a.JKT != "" {
		out.TokenType = TokenTypeDPoP
	}
	out.Audience = p.audience(a.Audience)
	if ref.claims != nil {
		out.Audience, out.ID = ref.claims.Audience, ref.claims.ID
	}
	return out, nil
}

// Revoke implements RFC 7009 for the client that presents cr (public
// clients too: they may revoke their own tokens, §2.1). Unknown and
// malformed tokens succeed silently (§2.2). A refresh token revokes its
// whole family and the access tokens issued from it; an access token
// revokes itself. A token issued to another client is refused with
// unauthorized_client (§2.1), and nothing is revoked. The hint is optional
// help (§2.1): grantd finds a token by its shape, so any hint, known or
// not, is ignored. A DPoP proof, if the request has one, is checked and
// spent (spendProof); a public client revokes a DPoP-bound token only with
// a proof of its key (proofOf).
func (p *Provider) Revoke(ctx context.Context, cr ClientCredentials, token, _ string, proof *DPoPRequest) error {
	caller, err := p.AuthenticateClient(ctx, cr)
	if err != nil {
		return err
	}
	if token == "" {
		return InvalidRequest("The token parameter is missing.").With(ReasonMissingParam, "token")
	}
	used, err := p.spendProof(ctx, proof)
	if err != nil {
		return err
	}
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
		if err := proofOf(&caller, ref.fam.JKT, used); err != nil {
			return err
		}
		if err := certOf(&caller, ref.fam.X5T, cr.Certificates); err != nil {
			return err
		}
		if err := p.Store.RevokeFamily(ctx, ref.fam.ID, now); err != nil {
			return ServerError(err)
		}
		return nil
	}
	if ref.access.ClientID != caller.ID {
		return UnauthorizedClient("The token was not issued to this client.")
	}
	if err := proofOf(&caller, ref.access.JKT, used); err != nil {
		return err
	}
	if err := certOf(&caller, ref.access.X5T, cr.Certificates); err != nil {
		return err
	}
	if ref.access.Revoked {
		return nil
	}
	if err := p.Store.RevokeAccessToken(ctx, ref.access, now); err != nil {
		if errors.Is(err, store.ErrMissingParent) {
			return clientGone(err) // deleted meanwhile: its tokens went with it
		}
		return ServerError(err)
	}
	return nil
}

// Bearer-token errors of RFC 6750 §3.1.
const (
	ErrCodeInvalidToken      = "invalid_token"
	ErrCodeInsufficientScope = "insufficient_scope"
)

// NoBearerToken is the answer to a request that needs an access token and
// carries none: RFC 6750 §3.1 asks for a challenge without an error code.
func NoBearerToken() *Error {
	return &Error{Code: ErrCodeInvalidToken, Status: http.StatusUnauthorized, Reason: ReasonNoCredentials,
		Description: "The request needs an access token as a Bearer credential."}
}

// DisconnectByToken revokes the connection behind an access token presented
// as a bearer credential (the client disconnecting its own connection, as
// payroll APIs offer). proof is the request's DPoP proof when the token came
// with the DPoP scheme (RFC 9449 §7), nil for the Bearer scheme: a
// DPoP-bound token is accepted only with a proof of its key whose ath is
// the token's hash, and only with that scheme (§7.1); an unbound token only
// with Bearer. The token must be an unexpired, unrevoked access
// token of an existing client (invalid_token otherwise, 401) and belong to a
// connection
// (insufficient_scope otherwise, 403: a client-credentials token is valid
// but grants no connection to end).
func (p *Provider) DisconnectByToken(ctx context.Context, token string, proof *DPoPRequest, cert *x509.Certificate) (*ConnectionInfo, error) {
	invalid := &Error{Code: ErrCodeInvalidToken, Status: http.StatusUnauthorized,
		Description: "The access token is missing, invalid, expired or revoked."}
	ref, err := p.resolve(ctx, token)
	if err != nil {
		return nil, ServerError(err)
	}
	if ref == nil || ref.refresh || ref.access.Revoked || !p.now().Before(ref.access.ExpiresAt) {
		return nil, invalid
	}
	if !p.forUs(ref.access.Audience) {
		return nil, invalid
	}
	if err := p.presentedRight(ref.access.JKT, token, proof); err != nil {
		return nil, err
	}
	if err := p.certPresented(ref.access.X5T, cert); err != nil {
		return nil, err
	}
	// A suspended client may still end its own connections, as it may
	// revoke its tokens: ending a consent is always safe. A deleted one
	// has no connection left to end.
	if _, err := p.Store.GetClient(ctx, ref.access.ClientID); err != nil {
		return nil, invalid.WithCause(err)
	}
	if ref.access.ConnectionID == "" {
		return nil, &Error{Code: ErrCodeInsufficientScope, Status: http.StatusForbidden,
			Description: "The access token does not belong to a connection."}
	}
	conn, err := p.Store.GetConnection(ctx, ref.access.ConnectionID)
	if err != nil || conn.ClientID != ref.access.ClientID {
		return nil, invalid.WithCause(err)
	}
	conn, err = p.Store.RevokeConnection(ctx, conn.ID, p.now())
	if err != nil {
		return nil, ServerError(err)
	}
	return connectionInfo(&conn), nil
}
