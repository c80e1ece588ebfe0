package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/grantd/grantd/internal/oauth/assertion"
	"github.com/grantd/grantd/internal/store"
)

// How a client presented its credentials.
const (
	PresentedNone  = ""      // no credentials at all
	PresentedBasic = "basic" // Authorization: Basic
	PresentedPost  = "post"  // client_id + client_secret in the body
	PresentedID    = "id"    // client_id alone (public client)
	PresentedJWT   = "jwt"   // client_assertion, a JWT (private_key_jwt)
)

// ClientCredentials are what the wire carried to authenticate the client.
type ClientCredentials struct {
	ID        string
	Secret    string
	Presented string // Presented*
	// Address is where the request came from (set by the server, not the
	// wire): brute-force protection counts failures per address.
	Address string
	// Assertion is a private_key_jwt client's client_assertion (RFC 7523
	// §2.2), Presented PresentedJWT; ID is then the client_id sent, or "".
	Assertion string
	// Endpoint is the URL of the endpoint called (set by the server): an
	// assertion's aud may name it.
	Endpoint string
	// Certificates is the TLS client certificate chain of the request,
	// leaf first (set by the server, from a mutual-TLS connection); nil =
	// none.
	Certificates []*x509.Certificate
	// Origin is the web origin of a browser's cross-origin request (set by
	// the server, at the endpoints that answer CORS); "" = none. The client
	// must allow it (allowed_cors_origins).
	Origin string
}

// Policy is the commercial policy: run after client authentication and
// before every grant, connect session and authorization request, so that no
// endpoint and no dialect can skip it. Each rule is one check with its own
// refusal Reason (ReasonClientState, ReasonRateLimited,
// ReasonInsufficientFunds, ReasonOutsideHours), which every dialect maps to
// its shape. internal/policy implements it; StatePolicy is the default.
type Policy interface {
	// Check judges r. It returns an *Error to refuse (409, 402, 429, 503,
	// with RetryAfter and RateLimit where they apply), else what the
	// request may do.
	Check(ctx context.Context, r PolicyRequest) (PolicyResult, error)
}

// Actions a policy judges besides the grant types.
const (
	ActionConnectSession = "connect_session"
	ActionAuthorize      = "authorize"
)

// RefusalObserver is an optional interface of a Policy: it is told of the
// refusals the core makes itself beside the policy stage (a provider's
// operating hours, a charge that lost the last credit, the cap on pending
// requests), so that every refusal is counted and logged in one place.
type RefusalObserver interface {
	Refused(ctx context.Context, r PolicyRequest, e *Error)
}

// refused tells the policy, when it observes, of a refusal of the core's.
func (p *Provider) refused(ctx context.Context, r PolicyRequest, err error) {
	var e *Error
	if o, ok := p.policy().(RefusalObserver); ok && errors.As(err, &e) {
		o.Refused(ctx, r, e)
	}
}

// PolicyRequest is one request of an authenticated client.
type PolicyRequest struct {
	Client *store.Client
	// Action is the grant type of a token request, or ActionAuthorize or
	// ActionConnectSession.
	Action string
	// Address is where the request came from (the peer, or the client
	// address trusted proxies forwarded); "" when unknown.
	Address string
	Now     time.Time
}

// PolicyResult is what the policy lets a request do.
type PolicyResult struct {
	// RateLimit is the client's rate limit after this request, for the
	// RateLimit-* headers of the answer; nil when the client has none.
	RateLimit *RateLimit
	// Cost is what the grant costs a metered client, charged in the
	// transaction that issues; 0 = free.
	Cost int64
}

// RateLimit is a client's rate-limit window as the answer shows it
// (draft-ietf-httpapi-ratelimit-headers): the quota, what is left of it,
// and when it is whole again.
type RateLimit struct {
	Limit     int64
	Remaining int64
	Reset     time.Duration
}

// StatePolicy refuses clients that are not active (suspended, pending) with
// 409; it is the default policy, and the first rule of internal/policy.
type StatePolicy struct{}

// Check implements Policy.
func (StatePolicy) Check(_ context.Context, r PolicyRequest) (PolicyResult, error) {
	return PolicyResult{}, ClientStateError(r.Client)
}

// ClientStateError is the refusal of a client whose state forbids tokens
// (nil for an active client): 409, the client's state conflicts with the
// request (PRODUCT.md's "suspended clients (409)").
func ClientStateError(c *store.Client) error {
	if clientActive(c) {
		return nil
	}
	return &Error{Code: ErrCodeUnauthorizedClient, Status: http.StatusConflict, Reason: ReasonClientState,
		Description: "The client is " + c.State + " and may not obtain tokens."}
}

// AuthGuard protects client authentication against brute force: Attempt
// is asked before the secret is checked (an *Error, 429 with RetryAfter,
// refuses; it may also delay), and the attempt it returns is told whether
// the authentication failed or succeeded.
type AuthGuard interface {
	Attempt(ctx context.Context, clientID, address string) (AuthAttempt, error)
}

// AuthAttempt is one client authentication under a guard.
type AuthAttempt interface {
	Failed(ctx context.Context)
	Succeeded(ctx context.Context)
}

// clientActive reports whether a client's state lets it obtain and use
// tokens: active (or unset), not suspended or pending.
func clientActive(c *store.Client) bool {
	return c.State == "" || c.State == store.ClientActive
}

// authenticate is the pipeline's client authentication for an endpoint with
// profile pr: an endpoint for confidential clients refuses a client_id
// without a secret before looking the client up.
func (p *Provider) authenticate(ctx context.Context, pr Profile, cr ClientCredentials) (store.Client, error) {
	if pr.Clients == ClientsConfidential && cr.ID != "" && cr.Secret == "" && cr.Presented != PresentedJWT && len(cr.Certificates) == 0 {
		e := InvalidClient(errors.New("client_id without a client secret at an endpoint for confidential clients"))
		e.Basic, e.Reason, e.Param = cr.Presented == PresentedBasic, ReasonSecretRequired, "client_secret"
		return store.Client{}, e
	}
	c, err := p.AuthenticateClient(ctx, cr)
	if err == nil && pr.Clients == ClientsConfidential && c.IsPublic() {
		// Reached with a client_id alone and a TLS certificate (which is
		// no credential of a public client).
		e := InvalidClient(errors.New("public client at an endpoint for confidential clients"))
		e.Reason, e.Param = ReasonSecretRequired, "client_secret"
		return store.Client{}, e
	}
	return c, err
}

// AuthenticateClient checks the presented credentials against the stored
// client. Confidential clients may present their secret with either
// client_secret_basic or client_secret_post: the current secret, or the one
// a rotation replaced until its grace ends (PreviousSecretExpiresAt); public
// clients present their id alone. Every failure is the same 401 invalid_client to the caller; the
// reason is only in the private cause.
func (p *Provider) AuthenticateClient(ctx context.Context, cr ClientCredentials) (store.Client, error) {
	basic := cr.Presented == PresentedBasic
	fail := func(reason, why string) (store.Client, error) {
		e := InvalidClient(errors.New(why))
		e.Basic, e.Reason = basic, reason
		return store.Client{}, e
	}
	if cr.Presented == PresentedJWT {
		// The assertion says whose it is (RFC 7523 §3: sub); a client_id
		// sent as well must be the same (checked with the assertion).
		sub, ok := assertion.Peek(cr.Assertion)
		switch {
		case !ok:
			return fail(ReasonBadAssertion, "client assertion is not a JWT with a sub")
		case cr.ID != "" && cr.ID != sub:
			return fail(ReasonBadAssertion, "client_id differs from the client assertion's sub")
		}
		cr.ID = sub
	}
	if cr.ID == "" {
		return fail(ReasonNoCredentials, "no client credentials")
	}
	if len(cr.ID) > 255 || len(cr.Secret) > 512 {
		return fail(ReasonUnknownClient, "client credentials too long")
	}
	var attempt AuthAttempt
	if p.Guard != nil {
		var err error
		if attempt, err = p.Guard.Attempt(ctx, cr.ID, cr.Address); err != nil {
			return store.Client{}, err
		}
	}
	failed := func(reason, why string) (store.Client, error) {
		if attempt != nil {
			attempt.Failed(ctx)
		}
		return fail(reason, why)
	}
	c, err := p.Store.GetClient(ctx, cr.ID)
	if errors.Is(err, store.ErrNotFound) {
		return failed(ReasonUnknownClient, "unknown client")
	}
	if err != nil {
		return store.Client{}, ServerError(err)
	}
	switch {
	case isFAPI2(&c) && !slices.Contains(FAPI2AuthMethods, c.AuthMethod):
		// Registration refuses such a client; one changed in the store is
		// refused here.
		return failed(ReasonWrongMethod, "a FAPI 2.0 client with an authentication method outside the profile")
	case (c.AuthMethod == store.AuthMethodPrivateKeyJWT) != (cr.Presented == PresentedJWT):
		// A key-holding client authenticates only with its keys, and an
		// assertion authenticates only such a client.
		return failed(ReasonWrongMethod, "client authenticated with another method than its registered one")
	case c.AuthMethod == store.AuthMethodTLS || c.AuthMethod == store.AuthMethodSelfSignedTLS:
		// RFC 8705 §2: the client_id alone, over mutual TLS.
		if cr.Presented != PresentedID {
			return failed(ReasonWrongMethod, "a mutual-TLS client presented a secret")
		}
		if err := p.checkTLSClient(ctx, &c, cr.Certificates); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Status >= 500 {
				return store.Client{}, err
			}
			return failed(ReasonBadCertificate, err.Error())
		}
	case cr.Presented == PresentedJWT:
		if err := p.checkAssertion(ctx, &c, cr); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Status >= 500 {
				return store.Client{}, err
			}
			return failed(ReasonBadAssertion, err.Error())
		}
	case c.IsPublic() && (cr.Secret != "" || cr.Presented == PresentedBasic):
		return failed(ReasonWrongSecret, "public client presented a secret")
	case c.IsPublic():
	case cr.Presented != PresentedBasic && cr.Presented != PresentedPost:
		return fail(ReasonNoCredentials, "confidential client presented no secret")
	default:
		which := matchSecret(&c, cr.Secret, p.now())
		if which == "" {
			// The client may come from the store's cache while another
			// process rotated its secret: a mismatch is judged on the
			// stored client.
			p.Store.ForgetClient(cr.ID)
			c, err = p.Store.GetClient(ctx, cr.ID)
			if errors.Is(err, store.ErrNotFound) {
				return failed(ReasonUnknownClient, "unknown client")
			}
			if err != nil {
				return store.Client{}, ServerError(err)
			}
			if c.IsPublic() {
				return failed(ReasonWrongSecret, "public client presented a secret")
			}
			which = matchSecret(&c, cr.Secret, p.now())
		}
		if which == "" {
			return failed(ReasonWrongSecret, "wrong client secret")
		}
		// Which secret, never the secret: operators watch the previous
		// one go out of use before its grace ends.
		p.logger().DebugContext(ctx, "client authenticated", "client_id", c.ID, "secret", which)
	}
	if attempt != nil {
		attempt.Succeeded(ctx)
	}
	if cr.Origin != "" && !originAllowed(&c, cr.Origin) {
		return store.Client{}, originRefused()
	}
	return c, nil
}

// The secrets a confidential client may authenticate with.
const (
	secretCurrent  = "current"
	secretPrevious = "previous" // replaced by a rotation, within its grace
)

// matchSecret says which of c's secrets secret is: the current one, the
// previous one while now is before PreviousSecretExpiresAt, or neither
// (""). Both hashes are always compared, in constant time, so that the time
// taken tells neither whether the client has a previous secret nor which
// one matched.
func matchSecret(c *store.Client, secret string, now time.Time) string {
	h := store.Hash(secret)
	current := subtle.ConstantTimeCompare(h, hashOrZero(c.SecretHash))
	previous := subtle.ConstantTimeCompare(h, hashOrZero(c.PreviousSecretHash))
	switch {
	case current == 1 && len(c.SecretHash) > 0:
		return secretCurrent
	case previous == 1 && len(c.PreviousSecretHash) > 0 && now.Before(c.PreviousSecretExpiresAt):
		return secretPrevious
	}
	return ""
}

// hashOrZero is h, or a zero hash of the same length when h is not a
// stored hash (none), which no secret hashes to.
func hashOrZero(h []byte) []byte {
	if len(h) != sha256.Size {
		return make([]byte, sha256.Size)
	}
	return h
}
