package clients

import (
	"context"
	"errors"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Bounds of a client-secret rotation's grace: how long the replaced secret
// still authenticates.
const (
	DefaultSecretGrace = 24 * time.Hour
	MaxSecretGrace     = 30 * 24 * time.Hour
)

// ErrPublicClient refuses to rotate the secret of a public client, which
// has none.
var ErrPublicClient = errors.New("clients: the client has no secret (public, or private_key_jwt)")

// SecretRotation is the JSON body of POST /admin/clients/{id}/secret (every
// member optional).
type SecretRotation struct {
	// Grace is how long the secret being replaced still authenticates: a
	// duration string or integer seconds, at most MaxSecretGrace; nil =
	// DefaultSecretGrace, 0 = it stops at once.
	Grace *Duration `json:"grace"`
}

// grace is r's grace, checked: a 400 invalid_request *oauth.Error when it
// is out of bounds.
func (r SecretRotation) grace() (time.Duration, error) {
	if r.Grace == nil {
		return DefaultSecretGrace, nil
	}
	switch g := r.Grace.D(); {
	case g < 0:
		return 0, oauth.InvalidRequest("grace must not be negative (0 ends the current secret at once).")
	case g%time.Second != 0:
		return 0, oauth.InvalidRequest("grace must be a whole number of seconds.")
	case g > MaxSecretGrace:
		return 0, oauth.InvalidRequest("grace must be at most %s (%d seconds).", formatDuration(MaxSecretGrace), int64(MaxSecretGrace/time.Second))
	default:
		return g, nil
	}
}

// RotatedSecret is the outcome of RotateSecret.
type RotatedSecret struct {
	Client store.Client
	// Secret is the new client secret's plaintext, which exists nowhere
	// else: shown this once.
	Secret string
}

// RotateSecret gives the confidential client id a new secret, in one
// store.UpdateClient transaction, and returns its plaintext. The secret it
// replaces still authenticates for the grace of r (until
// Client.PreviousSecretExpiresAt), then no more; with a grace of 0 it stops
// at once. Only one replaced secret is ever kept: a rotation during a grace
// replaces the previous secret too, which stops at once. Errors: a 400
// invalid_request *oauth.Error for a grace out of bounds, ErrPublicClient,
// store.ErrNotFound.
func (m *Manager) RotateSecret(ctx context.Context, id string, r SecretRotation) (RotatedSecret, error) {
	grace, err := r.grace()
	if err != nil {
		return RotatedSecret{}, err
	}
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	c, err := m.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		if !c.HasSecret() {
			return ErrPublicClient
		}
		now := m.now()
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = nil, time.Time{}
		if grace > 0 && len(c.SecretHash) > 0 {
			c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, now.Add(grace)
		}
		c.SecretHash, c.UpdatedAt = store.Hash(secret), now
		return nil
	})
	if err != nil {
		return RotatedSecret{}, err
	}
	return RotatedSecret{Client: c, Secret: secret}, nil
}

// SecretView is the answer of a secret rotation (POST
// /admin/clients/{id}/secret, `grantd client rotate-secret --output json`):
// the new secret, shown this once, and until when the replaced one still
// authenticates (null when it stopped at once).
type SecretView struct {
	ClientID                string  `json:"client_id"`
	ClientSecret            string  `json:"client_secret"`
	PreviousSecretExpiresAt *string `json:"previous_secret_expires_at"`
}

// NewSecretView shows a rotation.
func NewSecretView(r RotatedSecret) SecretView {
	v := SecretView{ClientID: r.Client.ID, ClientSecret: r.Secret}
	if len(r.Client.PreviousSecretHash) > 0 {
		at := FormatTime(r.Client.PreviousSecretExpiresAt)
		v.PreviousSecretExpiresAt = &at
	}
	return v
}
