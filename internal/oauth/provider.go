// Package oauth is grantd's protocol core: client authentication, the token
// pipeline and its grants, PKCE, authorization requests, consent decisions,
// connect sessions, introspection and revocation. It decides; it imports no
// HTTP server, HTML or SQL package (internal/walls checks it): the dialects
// and the server translate the wire into its requests and its results back
// into the wire, and the store writes what it decided, atomically.
package oauth

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"log/slog"
	"time"

	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/store"
)

// Store is the part of store.Store the core uses.
type Store interface {
	store.Clients
	store.AuthRequests
	store.Grants
	store.Connections
	store.Balances
}

// Signer signs and verifies JWT access tokens (package signer).
type Signer interface {
	// Sign signs claims (a JSON object with an exp) with the current key
	// of alg ("" = the server's default algorithm). The key stays
	// published at least until the claims' exp.
	Sign(ctx context.Context, alg string, claims any) (string, error)
	// SignWait reports how long until Sign can sign with alg ("" = the
	// default): 0 when it can now, and false when alg is not enabled. The
	// core asks before a grant writes anything, so that a token the signer
	// cannot sign consumes no code and rotates no refresh token.
	SignWait(alg string) (time.Duration, bool)
	Verify(token string, claims any) error
}

// Defaults for lifetimes a client does not set.
const (
	DefaultAccessTokenTTL     = time.Hour
	DefaultRefreshIdleTimeout = 30 * 24 * time.Hour
	DefaultCodeTTL            = 60 * time.Second
	DefaultAuthRequestTTL     = 30 * time.Minute
)

// Provider is the OAuth core. Its fields are set once at start-up.
type Provider struct {
	Store  Store
	Signer Signer
	// LegacySecrets issues secrets without their issue time, in the shape
	// releases before time-ordered secrets look up (secret.go).
	LegacySecrets bool
	// Issuer is the issuer identifier (RFC 8414): the iss of every JWT and of
	// authorization responses (RFC 9207).
	Issuer string
	// ConsentURL is the server-wide external consent app; "" = the hosted
	// pages at HostedConsentPath.
	ConsentURL string
	// HostedConsentPath is where the hosted pages live, relative to Issuer.
	HostedConsentPath string

	// Catalogue lists the data providers end users can connect (see
	// SandboxCatalogue).
	Catalogue []DataProvider

	// Policy runs after client authentication and before every grant,
	// connect session and authorization request; nil means StatePolicy.
	Policy Policy
	// Guard protects client authentication against brute force; nil =
	// none.
	Guard AuthGuard
	// MaxPendingAuthRequests caps a client's pending authorization requests
	// from one browser address; 0 = no cap.
	MaxPendingAuthRequests int
	// MaxPendingConnectSessions caps a client's pending connect sessions
	// (its backend authenticated to create them); 0 = no cap.
	MaxPendingConnectSessions int

	CodeTTL        time.Duration
	AuthRequestTTL time.Duration

	// DPoP checks DPoP proofs (RFC 9449); nil = the defaults, no nonces.
	DPoP *dpop.Checker

	// Resources are the resource indicators (RFC 8707) every client may ask
	// for, besides its own (store.ClientSecurity.AllowedResources).
	Resources []string
	// DefaultAudience is the aud of access tokens issued without a
	// resource; nil = the issuer.
	DefaultAudience []string

	// RefreshRetryWindow is how long after a rotation the rotated refresh
	// token, presented again while its successor was never used, gets the
	// same answer again instead of revoking its family (retry.go); 0 = off.
	RefreshRetryWindow time.Duration
	// DeviceCodeTTL is how long a device code (RFC 8628) waits for its
	// user; 0 = DefaultDeviceCodeTTL.
	DeviceCodeTTL time.Duration
	// RetryKey is the server's secret (at least 32 bytes, derived from the
	// key-encryption key so that every instance has it) mixed into the key
	// of each answer kept for a retry; without it retries are off.
	RetryKey []byte

	// Replays judges single-use keys (DPoP proofs, client assertions)
	// outside the store: in memory when only this process issues from the
	// store (embedded SQLite, *Replays), or in a Redis every instance
	// shares; nil = every use is a store write.
	Replays SingleUse

	// ClientCAs are the CAs whose certificates authenticate tls_client_auth
	// clients (RFC 8705 §2.1); nil = such clients cannot authenticate.
	ClientCAs *x509.CertPool

	// ClientKeys fetches private_key_jwt clients' keys registered by URL;
	// nil = such clients cannot authenticate.
	ClientKeys ClientKeys

	// RequirePAR makes every client push its authorization requests (RFC
	// 9126 §5's require_pushed_authorization_requests); a client may be
	// required to alone (store.ClientSecurity.RequirePAR).
	RequirePAR bool
	// PARTTL is how long a pushed request lives; 0 = DefaultPARTTL, at
	// most MaxPARTTL.
	PARTTL time.Duration

	Now    func() time.Time
	Logger *slog.Logger
}

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Provider) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func (p *Provider) codeTTL() time.Duration {
	if p.CodeTTL > 0 {
		return p.CodeTTL
	}
	return DefaultCodeTTL
}

func (p *Provider) authRequestTTL() time.Duration {
	if p.AuthRequestTTL > 0 {
		return p.AuthRequestTTL
	}
	return DefaultAuthRequestTTL
}

// RandomToken returns n random bytes, base64url without padding. Every code,
// refresh token, opaque access token, challenge and client secret comes from
// here with n >= 32 (256 bits).
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Prefixes of the secrets grantd issues, so that secret scanners and humans
// can tell them apart.
const (
	PrefixRefreshToken = "grt_"
	PrefixAccessToken  = "gat_" // opaque access tokens
	PrefixCode         = "gac_"
	PrefixTempToken    = "gtt_"
	PrefixClientSecret = "gcs_"
)

// IssuerURL is the issuer identifier (for consumers that take the core as an
// interface).
func (p *Provider) IssuerURL() string { return p.Issuer }

// DataProviders is the catalogue of data providers end users can connect.
func (p *Provider) DataProviders() []DataProvider { return p.Catalogue }

func (p *Provider) policy() Policy {
	if p.Policy != nil {
		return p.Policy
	}
	return StatePolicy{}
}
