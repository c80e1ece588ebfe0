package oauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/store"
)

// Access token types (RFC 6749 §7.1, RFC 9449 §7.1).
const (
	TokenTypeBearer = "Bearer"
	TokenTypeDPoP   = "DPoP"
)

// DPoPRequest is what the server hands the core of a request's DPoP proof:
// the DPoP header's values as they came, and the request they must match.
type DPoPRequest struct {
	Proofs []string
	Method string
	// URL is the endpoint's URL as clients address it: the issuer and the
	// path.
	URL string
}

// InvalidDPoPProof is a 400 invalid_dpop_proof (RFC 9449 §5).
func InvalidDPoPProof(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, ErrCodeInvalidDPoPProof, format, args...)
}

func (p *Provider) dpopChecker() *dpop.Checker {
	if p.DPoP != nil {
		return p.DPoP
	}
	return &dpop.Checker{}
}

// dpopNonce is the nonce the answers carry, "" when none is asked for.
func (p *Provider) dpopNonce(now time.Time) string {
	if p.DPoP == nil || p.DPoP.Nonces == nil {
		return ""
	}
	return p.DPoP.Nonces.Current(now)
}

// checkProof applies the rules of DPoP to a token request of client c at
// an endpoint with profile pr, whose proof (nil for none) verifyProof
// checked before the client authenticated (so that a use_dpop_nonce retry
// may carry the same client assertion): a client whose tokens must be
// bound (DPoPBoundAccessTokens) needs one. The proof's single use is
// recorded with the grant's writes (bindTo).
func (p *Provider) checkProof(pr Profile, c *store.Client, proof *dpop.Proof, now time.Time) (*dpop.Proof, error) {
	switch {
	case !pr.DPoP && c.DPoPBoundAccessTokens:
		return nil, InvalidRequest("The client's tokens are DPoP-bound; this endpoint issues none.")
	case !pr.DPoP:
		return nil, nil
	case proof == nil && c.DPoPBoundAccessTokens:
		e := InvalidDPoPProof("The client's access tokens must be DPoP-bound: send a DPoP proof.")
		e.DPoPNonce = p.dpopNonce(now)
		return nil, e
	}
	return proof, nil
}

// verifyProof checks a request's proof, if it has one, without recording
// its use: the stateless checks of §4.3, the nonce's too.
func (p *Provider) verifyProof(r *DPoPRequest) (*dpop.Proof, error) {
	if r == nil || len(r.Proofs) == 0 {
		return nil, nil
	}
	now := p.now()
	proof, err := p.dpopChecker().Check(r.Proofs, dpop.Request{Method: r.Method, URL: r.URL}, now)
	if err != nil {
		return nil, p.proofError(err, now)
	}
	return &proof, nil
}

// spendProof checks the proof of a request to an endpoint that issues no
// token (introspection, revocation), if it has one, and records its single
// use at once: a proof sent anywhere is checked as it would be at the token
// endpoint, replay included. nil when the request has none.
func (p *Provider) spendProof(ctx context.Context, r *DPoPRequest) (*dpop.Proof, error) {
	checked, err := p.verifyProof(r)
	if checked == nil || err != nil {
		return nil, err
	}
	proof, now := *checked, p.now()
	err = p.useOnce(ctx, proof.Replay, proof.Earliest, proof.Until, now)
	switch {
	case errors.Is(err, store.ErrReplayed):
		e := InvalidDPoPProof("The DPoP proof was used before.").WithCause(err)
		e.DPoPNonce = p.dpopNonce(now)
		return nil, e
	case err != nil:
		return nil, AsError(err)
	}
	return &proof, nil
}

// proofOf checks that a public client presents a token bound to key jkt
// with a proof of that key: its client id is no credential, so only the
// key shows the token is its own (RFC 9449 §5 binds a public client's
// refresh token to it). A confidential client's authentication suffices.
func proofOf(c *store.Client, jkt string, proof *dpop.Proof) error {
	if jkt == "" || !c.IsPublic() || (proof != nil && proof.JKT == jkt) {
		return nil
	}
	return InvalidDPoPProof("The token is DPoP-bound: send a DPoP proof of its key.")
}

// proofError is the answer to a refused proof: use_dpop_nonce with the
// current nonce (§8), or invalid_dpop_proof saying what was wrong (a proof
// is the client's own signed statement, never a secret).
func (p *Provider) proofError(err error, now time.Time) *Error {
	var de *dpop.Error
	if !errors.As(err, &de) {
		return ServerError(err)
	}
	e := InvalidDPoPProof("The DPoP proof is invalid: %s.", de.Reason)
	if de.Nonce {
		e = newError(http.StatusBadRequest, ErrCodeUseDPoPNonce, "The DPoP proof must carry the server's nonce.")
	}
	e.DPoPNonce, e.Cause = p.dpopNonce(now), err
	return e
}

// bindTo binds what a decision issues to proof's key and to the TLS
// client certificate x5t ("" for none), and records the proof's use in its
// writes: the access token gets cnf.jkt and cnf.x5t#S256, and the use is
// written in the same transaction, so that a proof issues once. A refusal
// records nothing (its proof may be retried).
//
// recorded: the proof's use is recorded already (Replays), not written.
func bindTo(proof *dpop.Proof, recorded bool, x5t string, now time.Time, decide func(store.Locked) (decision, error)) func(store.Locked) (decision, error) {
	if proof == nil && x5t == "" {
		return decide
	}
	return func(l store.Locked) (decision, error) {
		d, err := decide(l)
		if err != nil {
			return d, err
		}
		cnf := &Confirmation{X5TS256: x5t}
		d.access.rec.X5T = x5t
		if proof != nil {
			cnf.JKT, d.access.rec.JKT = proof.JKT, proof.JKT
			if !recorded {
				d.writes.Proof = &store.ProofUse{Key: proof.Replay, ExpiresAt: proof.Until}
				d.writes.At = now
			}
		}
		if d.writes.AccessToken != nil {
			d.writes.AccessToken.JKT, d.writes.AccessToken.X5T = d.access.rec.JKT, x5t
		}
		if d.access.claims != nil {
			d.access.claims.Confirmation = cnf
		}
		return d, nil
	}
}

// proofBound checks the proof of a request that redeems something bound
// to a DPoP key (a code's dpop_jkt, a public client's refresh family):
// only a proof of that key redeems it (RFC 9449 §5, §10).
func proofBound(jkt string, proof *dpop.Proof, what, param string) error {
	if jkt == "" {
		return nil
	}
	if proof == nil || proof.JKT != jkt {
		return InvalidGrant("The %s is bound to a DPoP key: send a DPoP proof of that key.", what).With(ReasonDPoPBound, param)
	}
	return nil
}

// presentedRight checks how an access token was presented to a protected
// resource (RFC 9449 §7): a token bound to jkt only with the DPoP scheme and
// a proof of that key for this request and this token (ath); an unbound
// token only as a Bearer token. Refusals are 401s with the DPoP challenge
// (ReasonDPoPBound).
func (p *Provider) presentedRight(jkt, token string, r *DPoPRequest) error {
	now := p.now()
	refuse := func(code, desc string) error {
		e := &Error{Code: code, Status: http.StatusUnauthorized, Reason: ReasonDPoPBound, Description: desc,
			DPoPNonce: p.dpopNonce(now)}
		return e
	}
	switch {
	case jkt == "" && r == nil:
		return nil
	case jkt == "":
		return refuse(ErrCodeInvalidToken, "The access token is not DPoP-bound: present it as a Bearer token.")
	case r == nil:
		return refuse(ErrCodeInvalidToken, "The access token is DPoP-bound: present it with the DPoP scheme and a DPoP proof.")
	}
	proof, err := p.dpopChecker().Check(r.Proofs, dpop.Request{Method: r.Method, URL: r.URL, AccessToken: token}, now)
	if err != nil {
		e := p.proofError(err, now)
		e.Status, e.Reason = http.StatusUnauthorized, ReasonDPoPBound
		return e
	}
	if proof.JKT != jkt {
		return refuse(ErrCodeInvalidDPoPProof, "The DPoP proof is not of the key the access token is bound to.")
	}
	return nil
}
