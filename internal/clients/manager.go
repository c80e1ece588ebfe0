package clients

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Manager registers and changes clients in the store.
type Manager struct {
	Store store.Clients
	Now   func() time.Time // nil = time.Now
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// Create validates p, fills in defaults and stores a new client under a
// fresh UUID. For a confidential client it returns the plaintext secret,
// which exists nowhere else (the store keeps only store.Hash of it); for a
// public client the secret is "".
func (m *Manager) Create(ctx context.Context, p Params) (store.Client, string, error) {
	c, err := toClient(p)
	if err != nil {
		return store.Client{}, "", err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return store.Client{}, "", fmt.Errorf("clients: new id: %w", err)
	}
	c.ID = id.String()
	var secret string
	if !c.IsPublic() {
		secret = oauth.PrefixClientSecret + oauth.RandomToken(32)
		c.SecretHash = store.Hash(secret)
	}
	now := m.now()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := m.Store.CreateClient(ctx, c); err != nil {
		return store.Client{}, "", err
	}
	return c, secret, nil
}

// Patch changes the fields present in body, a JSON object with the names of
// Params; a field given as null returns to its default. The whole result is
// validated again, and the change is one store.UpdateClient transaction.
// Errors: a 400 invalid_request *oauth.Error for a malformed body or unknown
// fields, *ValidationError, store.ErrNotFound.
//
// A client cannot change between public (none) and confidential through
// Patch: a public client has no secret to authenticate with, and a
// confidential one would silently lose its secret.
func (m *Manager) Patch(ctx context.Context, id string, body []byte) (store.Client, error) {
	// Refuse a malformed body before opening a transaction.
	if _, err := DecodeParams(body); err != nil {
		return store.Client{}, err
	}
	return m.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		p := ParamsOf(*c)
		if err := applyJSON(&p, body); err != nil {
			return err
		}
		next, err := toClient(p)
		if err != nil {
			return err
		}
		if next.IsPublic() != c.IsPublic() {
			return &ValidationError{Problems: []string{
				"token_endpoint_auth_method cannot change between none (public) and a secret method (confidential); register a new client instead",
			}}
		}
		next.ID, next.SecretHash, next.CreatedAt = c.ID, c.SecretHash, c.CreatedAt
		next.UpdatedAt = m.now()
		*c = next
		return nil
	})
}

// Get returns a client; store.ErrNotFound if there is none.
func (m *Manager) Get(ctx context.Context, id string) (store.Client, error) {
	return m.Store.GetClient(ctx, id)
}

// List returns every client.
func (m *Manager) List(ctx context.Context) ([]store.Client, error) {
	return m.Store.ListClients(ctx)
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
		Name:                    c.Name,
		GrantTypes:              slices.Clone(c.GrantTypes),
		ResponseTypes:           slices.Clone(c.ResponseTypes),
		RedirectURIs:            slices.Clone(c.RedirectURIs),
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
		ConsentURL:              c.ConsentURL,
		ResourceServer:          c.ResourceServer,
		Metadata:                maps.Clone(c.Metadata),
	}
}

func nonNil(s []string) []string {
	return append([]string{}, s...)
}
