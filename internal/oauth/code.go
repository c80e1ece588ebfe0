package oauth

import (
	"slices"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// authorizationCode is RFC 6749 §4.1.3 with PKCE (RFC 7636): a one-time code
// (or temp token, as the endpoint's profile says) is spent for an access
// token and, where the profile issues one, a refresh token.
func authorizationCode(p *Provider, c *store.Client, pr Profile, req TokenRequest, now time.Time) (plan, error) {
	if req.Code == "" {
		return plan{}, InvalidRequest("The code parameter is missing.").With(ReasonMissingParam, "code")
	}
	invalid := InvalidGrant("The authorization code is invalid.").With(ReasonCodeInvalid, "code")
	if len(req.Code) > 512 {
		return plan{}, invalid
	}
	kind := pr.codeKind()
	decide := func(l store.Locked) (decision, error) {
		code := l.Code
		if !code.UsedAt.IsZero() {
			// RFC 6749 §4.1.2: a code used twice revokes every token it
			// issued. The revocation is written; the answer is a refusal.
			return decision{
				writes:   store.Writes{At: now, RevokeGrant: code.GrantID},
				warn:     "authorization code replayed; grant revoked",
				warnArgs: []any{"client_id", c.ID, "grant_id", code.GrantID},
			}, InvalidGrant("The authorization code has already been used.").With(ReasonCodeUsed, "code")
		}
		if code.Kind != kind || code.ClientID != c.ID {
			return decision{}, invalid
		}
		if !now.Before(code.ExpiresAt) {
			return decision{}, InvalidGrant("The authorization code has expired.").With(ReasonCodeExpired, "code")
		}
		if pr.RedirectURI {
			if err := redirectBound(c, code, req.RedirectURI); err != nil {
				return decision{}, err
			}
		}
		if err := pkceBound(code, pr.PKCE, req.CodeVerifier); err != nil {
			return decision{}, err
		}
		if err := proofBound(code.DPoPJKT, req.proof, "authorization code", "code"); err != nil {
			return decision{}, err
		}
		if err := connectionLive(l.Connection, code.ConnectionID, now); err != nil {
			return decision{}, err
		}
		if err := p.providerOpen(c, l.Connection, now); err != nil {
			return decision{}, err
		}
		asked, err := p.checkResources(c, req.Resources, code.Resources, true)
		if err != nil {
			return decision{}, err
		}
		d := decision{access: p.newAccessToken(c, code.Subject, l.Connection, code.GrantID, code.Scopes,
			audienceOf(asked, code.Resources), pr.UntilConsentEnd, now), conn: l.Connection}
		d.writes = store.Writes{At: now, SpendCode: true, AccessToken: &d.access.rec}
		if pr.RefreshTokens && slices.Contains(c.GrantTypes, GrantRefreshToken) {
			fam := newFamily(c, code, l.Connection, pr.RefreshPolicy, now)
			if c.IsPublic() && req.proof != nil {
				// RFC 9449 §5: a public client's refresh tokens are bound
				// to the key of the proof they were issued with.
				fam.JKT = req.proof.JKT
			}
			if c.IsPublic() {
				// RFC 8705 §4: a public client's refresh tokens are bound
				// to the certificate its access tokens are bound to.
				fam.X5T = req.x5t
			}
			var tok store.RefreshToken
			d.refresh, tok = p.newRefreshToken(fam.ID, now)
			d.writes.Family, d.writes.RefreshToken = &fam, &tok
		}
		return d, nil
	}
	return plan{key: store.GrantKey{CodeHash: SecretKey(req.Code)}, decide: decide, missing: invalid}, nil
}

// redirectBound checks the redirect_uri of the token request against the
// code (RFC 6749 §4.1.3): the one of the authorization request, if it had
// one; else none, or the one the code was delivered to (the client's only
// registered one).
func redirectBound(c *store.Client, code *store.AuthCode, given string) error {
	if code.RedirectURI != "" && given != code.RedirectURI {
		return InvalidGrant("The redirect_uri does not match the authorization request.").With(ReasonRedirectMismatch, "redirect_uri")
	}
	if only, _ := EffectiveRedirect(c, ""); code.RedirectURI == "" && given != "" && given != only {
		return InvalidGrant("The redirect_uri was not part of the authorization request.").With(ReasonRedirectMismatch, "redirect_uri")
	}
	return nil
}

// pkceBound checks the code_verifier against the code's challenge (RFC 7636
// §4.6). An endpoint whose wire has no code_verifier (wire false) cannot
// redeem a code issued with a challenge.
func pkceBound(code *store.AuthCode, wire bool, verifier string) error {
	switch {
	case code.CodeChallenge != "" && !wire:
		return InvalidGrant("The authorization code was issued with a PKCE challenge, which this endpoint cannot verify.").With(ReasonPKCE, "code_verifier")
	case code.CodeChallenge != "" && verifier == "":
		return InvalidGrant("The code_verifier parameter is missing.").With(ReasonPKCE, "code_verifier")
	case code.CodeChallenge != "" && !VerifyPKCE(code.CodeChallenge, code.CodeChallengeMethod, verifier):
		return InvalidGrant("The code_verifier does not match the code_challenge.").With(ReasonPKCE, "code_verifier")
	case code.CodeChallenge == "" && verifier != "":
		return InvalidGrant("A code_verifier was sent but the authorization request had no code_challenge.").With(ReasonPKCE, "code_verifier")
	}
	return nil
}
