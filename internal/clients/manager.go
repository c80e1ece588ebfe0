package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// PrefixWebhookSecret starts every webhook signing secret.
const PrefixWebhookSecret = "whsec_"

// Store is what the Manager keeps clients in: the clients and their
// balances.
type Store interface {
	store.Clients
	store.Balances
}

// Manager registers and changes clients in the store, and their balances.
type Manager struct {
	Store Store
	Now   func() time.Time // nil = time.Now
	// Tiers are the tier names a client may have (the policy's tiers);
	// nil accepts any name of tier characters.
	Tiers []string
	// DefaultTier is the tier of a client registered without one (and of
	// one whose tier is reset with null); "" leaves it empty.
	DefaultTier string
	// Seal encrypts a new webhook secret for the client clientID before it is
	// stored (internal/seal under the server's key-encryption key). nil means
	// webhooks are not available: a webhook_url is refused.
	Seal func(secret []byte, clientID string) ([]byte, error)
	// SigningAlgorithms are the algorithms a client's access tokens may be
	// signed with (access_token_signing_alg): the algorithms the server
	// keeps keys for. nil accepts every one grantd supports
	// (SigningAlgorithms).
	SigningAlgorithms []string
	// CheckJWKSURI judges a private_key_jwt client's jwks_uri before it is
	// stored (clientkeys.Fetcher.CheckURL: https, a public host); nil =
	// an https URL with a host.
	CheckJWKSURI func(uri string) error
	// DefaultProfile is the profile of a client registered without one
	// that can be held to it (store.ProfileFAPI2 with --fapi2: a
	// confidential client authenticating with private_key_jwt or mutual
	// TLS); "" = none.
	DefaultProfile string
}

func (m *Manager) signingAlgorithms() []string {
	if m.SigningAlgorithms != nil {
		return m.SigningAlgorithms
	}
	return SigningAlgorithms
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// Create is Register for callers that show only the client secret: it
// refuses a webhook_url, whose secret it could not show.
func (m *Manager) Create(ctx context.Context, p Params) (store.Client, string, error) {
	if p.WebhookURL != "" {
		_, err := m.toClient(p)
		return store.Client{}, "", addProblem(err, "webhook_url cannot be set here, where the webhook secret cannot be shown; set it through the admin API")
	}
	c, secret, _, err := m.Register(ctx, p)
	return c, secret, err
}

// Register validates p, fills in defaults and stores a new client under a
// fresh UUID. For a confidential client it returns the plaintext client
// secret, which exists nowhere else (the store keeps only store.Hash of it);
// for a public client clientSecret is "". With a webhook_url it also returns
// the new webhook secret, which the store keeps only sealed. The client
// enters its state now (StateChangedAt), with a balance of 0.
func (m *Manager) Register(ctx context.Context, p Params) (c store.Client, clientSecret, webhookSecret string, err error) {
	return m.register(ctx, p, nil)
}

// register is Register; prepare, when not nil, completes the client (its id
// set) before it is stored.
func (m *Manager) register(ctx context.Context, p Params, prepare func(*store.Client)) (c store.Client, clientSecret, webhookSecret string, err error) {
	c, err = m.toClient(p)
	if p.WebhookURL != "" && m.Seal == nil {
		err = addProblem(err, errNoWebhooks)
	}
	if err != nil {
		return store.Client{}, "", "", err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return store.Client{}, "", "", fmt.Errorf("clients: new id: %w", err)
	}
	c.ID = id.String()
	if c.HasSecret() {
		clientSecret = oauth.PrefixClientSecret + oauth.RandomToken(32)
		c.SecretHash = store.Hash(clientSecret)
	}
	if c.WebhookURL != "" {
		if webhookSecret, c.WebhookSecret, err = m.newWebhookSecret(c.ID); err != nil {
			return store.Client{}, "", "", err
		}
	}
	if prepare != nil {
		prepare(&c)
	}
	now := m.now()
	c.CreatedAt, c.UpdatedAt, c.StateChangedAt = now, now, now
	if err := m.Store.CreateClient(ctx, c); err != nil {
		return store.Client{}, "", "", err
	}
	return c, clientSecret, webhookSecret, nil
}

// Patched is the outcome of Change.
type Patched struct {
	Client store.Client
	// PreviousState is the client's state before the patch; it differs
	// from Client.State when the patch changed the state.
	PreviousState string
	// WebhookSecret is the plaintext of a webhook secret the patch made,
	// shown this once; "" when it made none.
	WebhookSecret string
}

// StateChanged reports whether the patch changed the client's state.
func (p Patched) StateChanged() bool { return p.PreviousState != p.Client.State }

// Patch changes the fields present in body, a JSON object with the names of
// Params; a field given as null returns to its default. The whole result is
// validated again, and the change is one store.UpdateClient transaction.
// Errors: a 400 invalid_request *oauth.Error for a malformed body or unknown
// fields, *ValidationError, store.ErrNotFound.
//
// A client cannot change between public (none) and confidential through
// Patch: a public client has no secret to authenticate with, and a
// confidential one would silently lose its secret.
//
// A change of state sets StateChangedAt to now. The state_reason given
// with it is kept; when none is given, a client that becomes active loses
// its reason (the reason was for the state it left), and one that becomes
// suspended or pending keeps it. The balance, its time and FirstTokenAt are
// kept: only AdjustBalance and the core's charges change them.
//
// A client that gets a webhook_url and has no webhook secret gets one:
// webhookSecret is then its plaintext, shown this once. A changed URL keeps
// the secret; a removed URL drops it.
func (m *Manager) Patch(ctx context.Context, id string, body []byte) (c store.Client, webhookSecret string, err error) {
	p, err := m.Change(ctx, id, body)
	return p.Client, p.WebhookSecret, err
}

// Change is Patch that also reports the state the client had before, for
// the callers that audit changes of state (the admin API).
func (m *Manager) Change(ctx context.Context, id string, body []byte) (Patched, error) {
	// Refuse a malformed body before opening a transaction.
	if _, err := DecodeParams(body); err != nil {
		return Patched{}, err
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(body, &fields) // DecodeParams checked it
	_, reasonGiven := fields["state_reason"]
	// A webhook secret is made (and sealed) outside the transaction, in case
	// the patch gives the client its first webhook URL.
	var (
		webhookSecret string
		sealed        []byte
		err           error
	)
	if m.Seal != nil {
		if webhookSecret, sealed, err = m.newWebhookSecret(id); err != nil {
			return Patched{}, err
		}
	}
	var (
		newSecret bool
		previous  string
	)
	c, err := m.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		newSecret, previous = false, c.State
		p := ParamsOf(*c)
		if err := applyJSON(&p, body); err != nil {
			return err
		}
		next, err := m.lenient(fields).toClient(p)
		if p.WebhookURL != "" && len(c.WebhookSecret) == 0 && sealed == nil {
			err = addProblem(err, errNoWebhooks)
		}
		if err != nil {
			return err
		}
		if next.IsPublic() != c.IsPublic() || next.HasSecret() != c.HasSecret() {
			return &ValidationError{Problems: []string{
				"token_endpoint_auth_method cannot change between none (public), a secret method (client_secret_basic, client_secret_post) and private_key_jwt; register a new client instead",
			}}
		}
		now := m.now()
		keepStored(&next, c)
		if next.State != c.State {
			next.StateChangedAt = now
			if next.State == store.ClientActive && !reasonGiven {
				next.StateReason = ""
			}
		}
		switch {
		case next.WebhookURL == "":
			next.WebhookSecret = nil
		case len(c.WebhookSecret) == 0:
			next.WebhookSecret, newSecret = sealed, true
		}
		next.UpdatedAt = now
		*c = next
		return nil
	})
	if err != nil {
		return Patched{}, err
	}
	out := Patched{Client: c, PreviousState: previous}
	if newSecret {
		out.WebhookSecret = webhookSecret
	}
	return out, nil
}

// lenient is m for validating a change that sets the given fields: a tier
// and a signing algorithm are checked against the configured ones only when
// the change sets them, so that a client whose tier or algorithm the
// configuration no longer has (the policy serves it the default tier, the
// signer its default algorithm) stays changeable — it can still be
// suspended.
func (m *Manager) lenient(fields map[string]json.RawMessage) *Manager {
	l := *m
	if _, ok := fields["tier"]; !ok {
		l.Tiers = nil
	}
	if _, ok := fields["access_token_signing_alg"]; !ok {
		l.SigningAlgorithms = SigningAlgorithms
	}
	return &l
}

// keepStored copies into next, a client built from parameters, what only
// the store and the operations of their own keep: the id, the secrets (the
// current, the previous one and its grace, the registration access token,
// the sealed webhook secret), the balance, and the times.
func keepStored(next *store.Client, c *store.Client) {
	next.ID, next.CreatedAt, next.StateChangedAt, next.FirstTokenAt = c.ID, c.CreatedAt, c.StateChangedAt, c.FirstTokenAt
	next.SecretHash, next.PreviousSecretHash, next.PreviousSecretExpiresAt = c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpiresAt
	next.RegistrationTokenHash, next.WebhookSecret = c.RegistrationTokenHash, c.WebhookSecret
	next.Balance, next.BalanceUpdatedAt = c.Balance, c.BalanceUpdatedAt
}

// RotateWebhookSecret replaces a client's webhook secret and returns the new
// one, shown this once. Deliveries are signed with it from the next attempt
// on. Errors: *ValidationError (no webhook_url, or webhooks not available),
// store.ErrNotFound.
func (m *Manager) RotateWebhookSecret(ctx context.Context, id string) (c store.Client, webhookSecret string, err error) {
	if m.Seal == nil {
		return store.Client{}, "", &ValidationError{Problems: []string{errNoWebhooks}}
	}
	webhookSecret, sealed, err := m.newWebhookSecret(id)
	if err != nil {
		return store.Client{}, "", err
	}
	c, err = m.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		if c.WebhookURL == "" {
			return &ValidationError{Problems: []string{"the client has no webhook_url: set one, which also makes its webhook secret"}}
		}
		c.WebhookSecret, c.UpdatedAt = sealed, m.now()
		return nil
	})
	if err != nil {
		return store.Client{}, "", err
	}
	return c, webhookSecret, nil
}

const errNoWebhooks = "webhook_url is not available: this server has no key-encryption key to keep webhook secrets"

// newWebhookSecret makes a webhook secret for the client id: the plaintext,
// and the same sealed for the store.
func (m *Manager) newWebhookSecret(id string) (secret string, sealed []byte, err error) {
	secret = PrefixWebhookSecret + oauth.RandomToken(32)
	sealed, err = m.Seal([]byte(secret), id)
	if err != nil {
		return "", nil, fmt.Errorf("clients: seal webhook secret: %w", err)
	}
	return secret, sealed, nil
}

// addProblem adds msg to the problems of a *ValidationError err, or makes
// one when err is nil. Another error is returned as it is.
func addProblem(err error, msg string) error {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		ve.Problems = append(ve.Problems, msg)
		return ve
	case err != nil:
		return err
	}
	return &ValidationError{Problems: []string{msg}}
}

// Get returns a client; store.ErrNotFound if there is none.
func (m *Manager) Get(ctx context.Context, id string) (store.Client, error) {
	return m.Store.GetClient(ctx, id)
}

// List returns every client, oldest first.
func (m *Manager) List(ctx context.Context) ([]store.Client, error) {
	cs, _, err := m.Store.ListClients(ctx, store.Page{})
	return cs, err
}

// ListPage returns one page of clients, oldest first, and the cursor of the
// next page ("" after the last).
func (m *Manager) ListPage(ctx context.Context, p store.Page) ([]store.Client, string, error) {
	return m.Store.ListClients(ctx, p)
}

// Delete removes a client and everything issued to it; store.ErrNotFound if
// there is none.
func (m *Manager) Delete(ctx context.Context, id string) error {
	return m.Store.DeleteClient(ctx, id)
}

// ParamsOf returns the registration parameters of a stored client: the base
// a PATCH applies to.
func ParamsOf(c store.Client) Params {
	return Params{
		Name:                                  c.Name,
		GrantTypes:                            slices.Clone(c.GrantTypes),
		ResponseTypes:                         slices.Clone(c.ResponseTypes),
		RedirectURIs:                          slices.Clone(c.RedirectURIs),
		TokenEndpointAuthMethod:               c.AuthMethod,
		Scope:                                 oauth.JoinScope(c.Scopes),
		Environment:                           c.Environment,
		Tier:                                  c.Tier,
		State:                                 c.State,
		StateReason:                           c.StateReason,
		Metered:                               c.Metered,
		Overdraft:                             c.Overdraft,
		OperatingHours:                        cloneSchedule(c.OperatingHours),
		RefreshPolicy:                         c.RefreshPolicy,
		RefreshIdleTimeout:                    Duration(c.RefreshIdleTimeout),
		RefreshTokenTTL:                       Duration(c.RefreshTTL),
		AccessTokenTTL:                        Duration(c.AccessTokenTTL),
		AccessTokenFormat:                     c.TokenFormat,
		AccessTokenSigningAlg:                 c.AccessTokenSigningAlg,
		DPoPBoundAccessTokens:                 c.DPoPBoundAccessTokens,
		AllowedResources:                      slices.Clone(c.Security.AllowedResources),
		AllowedCORSOrigins:                    slices.Clone(c.Security.AllowedCORSOrigins),
		RequirePushedAuthorizationRequests:    c.Security.RequirePAR,
		JWKS:                                  slices.Clone(c.Security.JWKS),
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
		Metadata:                              maps.Clone(c.Metadata),
	}
}

func nonNil(s []string) []string {
	return append([]string{}, s...)
}
