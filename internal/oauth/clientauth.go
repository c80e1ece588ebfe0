package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/grantd/grantd/internal/store"
)

// How a client presented its credentials.
const (
	PresentedNone  = ""      // no credentials at all
	PresentedBasic = "basic" // Authorization: Basic
	PresentedPost  = "post"  // client_id + client_secret in the body
	PresentedID    = "id"    // client_id alone (public client)
)

// ClientCredentials are what the wire carried to authenticate the client.
type ClientCredentials struct {
	ID        string
	Secret    string
	Presented string // Presented*
}

// Policy is the commercial-policy hook run after client authentication and
// before any grant: client states, operating hours, balances, rate limits. It
// returns an *Error (e.g. 409, 402, 429, 503) to refuse the request.
type Policy interface {
	Check(ctx context.Context, c *store.Client, grantType string) error
}

// StatePolicy refuses clients that are not active (suspended, pending) with
// 409; it is the default policy. Balances (402), rate limits (429) and
// operating hours (503) come with the commercial policy.
type StatePolicy struct{}

// Check implements Policy.
func (StatePolicy) Check(_ context.Context, c *store.Client, _ string) error {
	if clientActive(c) {
		return nil
	}
	// 409: the client's state conflicts with the request (PRODUCT.md's
	// "suspended clients (409)").
	return &Error{Code: ErrCodeUnauthorizedClient, Status: http.StatusConflict, Reason: ReasonClientState,
		Description: "The client is " + c.State + " and may not obtain tokens."}
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
	if pr.Clients == ClientsConfidential && cr.ID != "" && cr.Secret == "" {
		e := InvalidClient(errors.New("client_id without a client secret at an endpoint for confidential clients"))
		e.Basic, e.Reason, e.Param = cr.Presented == PresentedBasic, ReasonSecretRequired, "client_secret"
		return store.Client{}, e
	}
	return p.AuthenticateClient(ctx, cr)
}

// AuthenticateClient checks the presented credentials against the stored
// client. Confidential clients may present their secret with either
// client_secret_basic or client_secret_post; public clients present their id
// alone. Every failure is the same 401 invalid_client to the caller; the
// reason is only in the private cause.
func (p *Provider) AuthenticateClient(ctx context.Context, cr ClientCredentials) (store.Client, error) {
	basic := cr.Presented == PresentedBasic
	fail := func(reason, why string) (store.Client, error) {
		e := InvalidClient(errors.New(why))
		e.Basic, e.Reason = basic, reason
		return store.Client{}, e
	}
	if cr.ID == "" {
		return fail(ReasonNoCredentials, "no client credentials")
	}
	if len(cr.ID) > 255 || len(cr.Secret) > 512 {
		return fail(ReasonUnknownClient, "client credentials too long")
	}
	c, err := p.Store.GetClient(ctx, cr.ID)
	if errors.Is(err, store.ErrNotFound) {
		return fail(ReasonUnknownClient, "unknown client")
	}
	if err != nil {
		return store.Client{}, ServerError(err)
	}
	if c.IsPublic() {
		if cr.Secret != "" || cr.Presented == PresentedBasic {
			return fail(ReasonWrongSecret, "public client presented a secret")
		}
		return c, nil
	}
	if cr.Presented != PresentedBasic && cr.Presented != PresentedPost {
		return fail(ReasonNoCredentials, "confidential client presented no secret")
	}
	if len(c.SecretHash) == 0 || subtle.ConstantTimeCompare(store.Hash(cr.Secret), c.SecretHash) != 1 {
		return fail(ReasonWrongSecret, "wrong client secret")
	}
	return c, nil
}
