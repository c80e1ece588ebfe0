// Package store defines grantd's persistence interface in domain words: the
// records every backend keeps (clients, authorization requests, codes,
// refresh-token families, access-token records, connections, signing keys)
// and the atomic operations on them.
//
// A backend never holds grant logic. Where an operation must be atomic (code
// redemption, refresh rotation), the store offers a read-modify-write in one
// transaction: it loads the record under a lock, calls the caller's decide
// function, and writes what it returns (Grants.Decide, Writes). The
// function runs inside the transaction, so it must be cheap and do no I/O.
//
// Secrets never reach the store: codes, refresh tokens, opaque access tokens
// and client secrets are stored as SHA-256 digests (see Hash; the first
// three behind their issue time, internal/oauth.SecretKey).
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Backends map their driver errors to these in one place.
var (
	// ErrNotFound: no record with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with that key exists already.
	ErrConflict = errors.New("store: conflict")
	// ErrMissingParent: a write refers to a record that does not exist (or
	// no longer does): a client deleted while one of its requests was under
	// way. Nothing of the write is kept.
	ErrMissingParent = errors.New("store: the record a write refers to does not exist")
	// ErrNotEmpty: Import was asked to load into a store that holds records.
	ErrNotEmpty = errors.New("store: not empty")
	// ErrInsufficientBalance: a charge or debit would take a metered
	// client's balance below what it allows; nothing was written.
	ErrInsufficientBalance = errors.New("store: insufficient balance")
	// ErrNotMetered: a balance operation on a client that is not metered.
	ErrNotMetered = errors.New("store: client is not metered")
	// ErrTooMany: a bounded collection (a client's pending authorization
	// requests) is full; nothing was written.
	ErrTooMany = errors.New("store: too many")
	// ErrInvalidCursor: a Page's After is no cursor the list gave.
	ErrInvalidCursor = errors.New("store: invalid page cursor")
	// ErrReplayed: a DPoP proof used before (Writes.Proof); nothing was
	// written.
	ErrReplayed = errors.New("store: proof used before")
)

// Hash is the digest under which a secret (code, refresh token, opaque access
// token, client secret) is stored. Every such secret carries at least 256 bits
// of randomness, so a fast hash is safe: nobody can brute-force the input.
func Hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// Client auth methods.
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
	AuthMethodNone  = "none"
	// AuthMethodPrivateKeyJWT: the client signs a JWT assertion with a key
	// of its own (RFC 7523 §2.2); its public keys are its JWKS or
	// JWKSURI (ClientSecurity).
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	// AuthMethodTLS and AuthMethodSelfSignedTLS: the client authenticates
	// with its TLS client certificate (RFC 8705 §2): one a trusted CA
	// issued, matching the registered subject DN or SAN
	// (ClientSecurity.TLSClientAuth*), or a self-signed one in its JWKS
	// (x5c).
	AuthMethodTLS           = "tls_client_auth"
	AuthMethodSelfSignedTLS = "self_signed_tls_client_auth"
)

// Refresh policies.
const (
	RefreshRotating = "rotating"
	RefreshFixed    = "fixed"
)

// Access token formats.
const (
	TokenFormatJWT    = "jwt"
	TokenFormatOpaque = "opaque"
)

// Client states.
const (
	ClientActive    = "active"
	ClientSuspended = "suspended"
	ClientPending   = "pending"
)

// Client is a registered OAuth client.
type Client struct {
	ID                 string // UUID
	Name               string
	SecretHash         []byte // Hash(secret); nil for public clients
	AuthMethod         string // AuthMethod*
	GrantTypes         []string
	ResponseTypes      []string // "code" (default) or "temp_token"
	RedirectURIs       []string
	Scopes             []string // scopes (products) the client may ask for
	Environment        string   // development | production | sandbox
	Tier               string
	State              string // Client* state
	RefreshPolicy      string // RefreshRotating | RefreshFixed
	RefreshIdleTimeout time.Duration
	RefreshTTL         time.Duration // absolute lifetime of a rotating family; 0 = none
	AccessTokenTTL     time.Duration
	TokenFormat        string // TokenFormatJWT | TokenFormatOpaque
	ConsentURL         string // per-client external consent app; "" = server default
	// ResourceServer clients may introspect tokens issued to any client;
	// others only their own.
	ResourceServer bool
	// WebhookURL receives the client's connection events; "" = none.
	WebhookURL string
	// WebhookSecret signs the events; sealed by the caller, opaque here.
	WebhookSecret []byte
	// ConsentTTL and RetentionTTL override the provider catalogue's consent
	// lifetime and data-retention period for this client; 0 = catalogue.
	ConsentTTL   time.Duration
	RetentionTTL time.Duration
	Metadata     map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time

	// StateReason says why the client is in its State (an operator's words,
	// shown in the admin API); StateChangedAt is when it got there.
	StateReason    string
	StateChangedAt time.Time
	// OperatingHours, when set, is when the client may obtain tokens; nil =
	// always (or its provider's hours, for grants with a connection).
	OperatingHours *Schedule
	// Metered clients have a prepaid balance of credits that token grants
	// are charged against. Balance and BalanceUpdatedAt are kept by the
	// store: only AdjustBalance and Writes.Charge change them, and
	// UpdateClient keeps them whatever its fn sets. Overdraft lets debits
	// reported through AdjustBalance take the balance below zero (token
	// charges never do).
	Metered          bool
	Balance          int64
	BalanceUpdatedAt time.Time
	Overdraft        bool
	// FirstTokenAt is when the client first obtained a token; zero = never.
	// Set once, by Writes.FirstTokenOf.
	FirstTokenAt time.Time

	// PreviousSecretHash is the client secret a rotation replaced, which
	// still authenticates until PreviousSecretExpiresAt; nil = none.
	PreviousSecretHash      []byte
	PreviousSecretExpiresAt time.Time
	// RegistrationTokenHash is Hash of the RFC 7592 registration access
	// token of a dynamically registered client; nil = none.
	RegistrationTokenHash []byte
	// AccessTokenSigningAlg is the algorithm of the client's JWT access
	// tokens (RS256, PS256, ES256, EdDSA); "" = the server's default.
	AccessTokenSigningAlg string
	// DPoPBoundAccessTokens: every token request of the client must carry a
	// DPoP proof, and its access tokens are bound to the proof's key (RFC
	// 9449 §5.2's dpop_bound_access_tokens).
	DPoPBoundAccessTokens bool
	// Security is the client's financial-grade settings (resource
	// indicators, PAR, its own keys, its profile), kept together: new ones
	// need no new column.
	Security ClientSecurity
}

// ClientSecurity is a client's financial-grade settings (docs/fapi.md).
// Backends store it as one JSON document, under these names; a member a
// release does not know is dropped on its next write, so members are only
// ever added. The zero value asks for nothing.
type ClientSecurity struct {
	// AllowedResources are the resource indicators (RFC 8707) the client
	// may ask for, besides the server's own: absolute URIs without
	// fragment. Empty = only the server's.
	AllowedResources []string `json:"allowed_resources,omitempty"`
	// RequirePAR: the client's authorization requests must be pushed
	// first (RFC 9126 §6's require_pushed_authorization_requests).
	RequirePAR bool `json:"require_pushed_authorization_requests,omitempty"`
	// JWKS is the client's public keys as a JWK Set (RFC 7591 §2's jwks),
	// and JWKSURI where to fetch them instead (jwks_uri): at most one is
	// set. A private_key_jwt client's assertions are verified with them.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// TokenEndpointAuthSigningAlg is the one algorithm the client's
	// assertions may be signed with (RFC 7591 §2); "" = any grantd
	// accepts.
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
	// The one name a tls_client_auth client's certificate must carry (RFC
	// 8705 §2.1.2): its subject DN (RFC 4514), or a SAN of one kind.
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS    string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI    string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP     string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail  string `json:"tls_client_auth_san_email,omitempty"`
	// TLSCertBoundAccessTokens: the client's access tokens are bound to
	// the TLS client certificate of their request (RFC 8705 §3.4's
	// tls_client_certificate_bound_access_tokens).
	TLSCertBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// Profile is the security profile the client is held to: ProfileFAPI2,
	// or "" for none beyond grantd's own rules.
	Profile string `json:"profile,omitempty"`
	// AllowedCORSOrigins are the web origins (scheme://host[:port]) a
	// browser-based client calls the token and revocation endpoints from
	// (CORS); empty = no browser origin may.
	AllowedCORSOrigins []string `json:"allowed_cors_origins,omitempty"`
}

// ProfileFAPI2 holds a client to the FAPI 2.0 Security Profile
// (docs/fapi.md).
const ProfileFAPI2 = "fapi2"

// IsPublic reports whether the client authenticates with no secret.
func (c *Client) IsPublic() bool { return c.AuthMethod == AuthMethodNone }

// HasSecret reports whether the client authenticates with a client secret
// (client_secret_basic or client_secret_post); a public client has none,
// nor does a private_key_jwt one, whose keys are its credential.
func (c *Client) HasSecret() bool {
	return c.AuthMethod == AuthMethodBasic || c.AuthMethod == AuthMethodPost
}

// AuthRequest is a validated /oauth/authorize request waiting for the end
// user's (or the external consent app's) decision. Its ID is the challenge.
type AuthRequest struct {
	ID                  string // the challenge: 256-bit random, URL-safe
	ClientID            string
	ResponseType        string // "code" or "temp_token"
	RedirectURI         string
	State               string
	Scopes              []string
	CodeChallenge       string
	CodeChallengeMethod string
	CSRFToken           string // bound to this request; checked on the hosted page's POST
	Subject             string // set when the user signs in on the hosted page
	// From a connect session: the integrator's customer, and the provider
	// when it is fixed. ProviderID is also set when the user chooses one.
	CustomerID   string
	CustomerName string
	ProviderID   string
	// ProviderFixed: the connect session fixed the provider; the user may
	// not choose another.
	ProviderFixed bool
	// SourceAddress is where the request came from: the browser's address
	// for /oauth/authorize; "" for a connect session (its creator
	// authenticated). The pending-request cap counts per client and
	// source address.
	SourceAddress string
	// DPoPJKT is the dpop_jkt the client sent (RFC 9449 §10): the code is
	// bound to that key; "" = none.
	DPoPJKT string
	// Resources are the resource indicators asked for (RFC 8707), checked;
	// nil = none.
	Resources []string
	// DeviceHash names the device request (RFC 8628) this authorization
	// request asks the user to approve: the code made when it is accepted
	// has this hash, and the device redeems it by polling; nil = a
	// browser's request, answered by redirect.
	DeviceHash []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// AuthCode is a one-time authorization code or temp token, stored by hash.
type AuthCode struct {
	Hash                []byte
	Kind                string // "code" or "temp_token"
	ClientID            string
	RedirectURI         string
	Scopes              []string
	Subject             string
	ConnectionID        string
	CodeChallenge       string
	CodeChallengeMethod string
	// GrantID groups every token issued from this code (the refresh family
	// and its access tokens), so that a replay can revoke them all. It is
	// chosen when the code is created.
	GrantID string
	// DPoPJKT binds the code to a DPoP key (its request's dpop_jkt): only a
	// proof of that key redeems it; "" = not bound.
	DPoPJKT string
	// Resources are the resource indicators of its authorization request
	// (RFC 8707): what its tokens may be issued for; nil = none.
	Resources []string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}

// RefreshFamily is the lineage of refresh tokens from one grant. Revoking the
// family revokes every refresh token and access token in it.
type RefreshFamily struct {
	ID           string // equals the GrantID of the code it came from
	ClientID     string
	Subject      string
	ConnectionID string
	Scopes       []string
	Policy       string        // RefreshRotating | RefreshFixed
	IdleTimeout  time.Duration // 0 = none
	CreatedAt    time.Time
	ExpiresAt    time.Time // absolute expiry; zero = none
	LastUsedAt   time.Time
	RevokedAt    time.Time // zero while live
	// JKT binds the family's refresh tokens to a DPoP key (a public
	// client's, RFC 9449 §5): every refresh proves that key; "" = not
	// bound.
	JKT string
	// X5T binds the family's refresh tokens to a TLS client certificate (a
	// public client's over mutual TLS, RFC 8705 §4): the certificate's
	// SHA-256 thumbprint (base64url, as cnf.x5t#S256); every refresh comes
	// over mutual TLS with that certificate; "" = not bound.
	X5T string
	// Resources are the grant's resource indicators (RFC 8707), from its
	// code: a refresh may ask for any of them; nil = none.
	Resources []string
}

// RefreshToken is one member of a family, stored by hash.
type RefreshToken struct {
	Hash      []byte
	FamilyID  string
	CreatedAt time.Time
	UsedAt    time.Time // rotating policy: when it was exchanged; zero while current
	// Retry is the sealed answer to an idempotent retry of the rotation
	// that spent this token (set when it is rotated, opaque to the store);
	// nil = none.
	Retry []byte
}

// AccessToken is the record of an issued access token. Opaque tokens always
// have one (ID = hex of the token's hash); JWT tokens have one when they
// belong to a grant (ID = jti), and client-credentials JWTs get one only when
// revoked.
type AccessToken struct {
	ID           string
	ClientID     string
	Subject      string
	FamilyID     string // "" for client_credentials
	ConnectionID string
	Scopes       []string
	Format       string // TokenFormat*
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// RevokedAt is when this record itself was revoked; zero while not.
	RevokedAt time.Time
	// Revoked is computed by the store on read: the token itself, its family,
	// or its connection was revoked.
	Revoked bool
	// JKT is the thumbprint of the DPoP key the token is bound to (its
	// cnf.jkt); "" = a Bearer token.
	JKT string
	// Audience is the token's aud (RFC 8707 §2: its resources); nil = the
	// issuer's default.
	Audience []string
	// X5T is the SHA-256 thumbprint (base64url) of the client certificate
	// the token is bound to (RFC 8705 §3: its cnf.x5t#S256); "" = none.
	X5T string
}

// Connection statuses.
const (
	ConnectionActive  = "active"
	ConnectionRevoked = "revoked"
	ConnectionExpired = "expired"
)

// Connection is an end customer's consent to share one provider's data with
// one client. Every token from an authorization grant points at one.
type Connection struct {
	ID                 string // UUID
	ClientID           string
	CustomerID         string
	CustomerName       string
	ProviderID         string
	Subject            string
	Products           []string
	EntityIDs          []string
	ConnectionType     string // provider | finch
	Environment        string
	Status             string
	CreatedAt          time.Time
	ConsentExpiresAt   time.Time // zero = none
	DataRetentionUntil time.Time // zero = none
	RevokedAt          time.Time
}

// Signing key states, as the signer derives them from a key's times (the
// store keeps the times, not the state): a key is published from its
// creation; it is next until ActivatesAt, then current (the newest
// activated key of its algorithm signs), then retired once a newer key of
// its algorithm activated, and it is deleted once KeepUntil has passed.
const (
	KeyNext    = "next"    // published, not signing yet
	KeyCurrent = "current" // signs new tokens of its algorithm
	KeyRetired = "retired" // published, verifies, no longer signs
)

// SigningKey is a private key, encrypted at rest by the signer.
type SigningKey struct {
	ID           string // kid
	Algorithm    string // RS256, PS256, ES256, EdDSA
	EncryptedKey []byte // sealed PKCS#8, opaque to the store
	CreatedAt    time.Time
	// ActivatesAt is when the key starts signing: the publication delay
	// after its creation, so that every instance and every cache publishes
	// it before any token carries its kid.
	ActivatesAt time.Time
	// KeepUntil is how long the key must stay published: at least the
	// latest exp of any token it signed (signers reserve it ahead, before
	// they sign past it). Zero = not yet reserved.
	KeepUntil time.Time
}

// Event types of the connection lifecycle.
const (
	EventConnectionCreated          = "connection.created"
	EventConnectionRevoked          = "connection.revoked"
	EventConnectionConsentExpired   = "connection.consent_expired"
	EventConnectionRetentionReached = "connection.retention_reached"
)

// Event is a connection event in the outbox. Backends insert one in the
// transaction that changes the connection, when the client has a webhook
// URL; the delivery worker sends them in order per connection.
type Event struct {
	Seq           int64 // order of insertion
	ID            string
	ClientID      string
	ConnectionID  string
	Type          string
	Payload       []byte // the JSON body delivered, built by NewEvent
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time // when it is due: the next attempt, or the end of a claim's lease
	LastError     string
	DeliveredAt   time.Time // zero while pending
	Failed        bool      // given up after the last attempt
}

// NewEvent builds the event for a change of connection c, with its payload:
// {"id", "type", "created_at", "data": {the connection}}.
func NewEvent(typ string, c Connection, at time.Time) Event {
	id := newEventID()
	body, _ := json.Marshal(struct {
		ID        string         `json:"id"`
		Type      string         `json:"type"`
		CreatedAt string         `json:"created_at"`
		Data      connectionJSON `json:"data"`
	}{id, typ, at.UTC().Format(time.RFC3339), connectionView(c)})
	return Event{ID: id, ClientID: c.ClientID, ConnectionID: c.ID, Type: typ, Payload: body, CreatedAt: at, NextAttemptAt: at}
}

type connectionJSON struct {
	ID                 string   `json:"connection_id"`
	ClientID           string   `json:"client_id"`
	CustomerID         *string  `json:"customer_id"`
	CustomerName       *string  `json:"customer_name"`
	ProviderID         string   `json:"provider_id"`
	Subject            string   `json:"subject"`
	Products           []string `json:"products"`
	EntityIDs          []string `json:"entity_ids"`
	ConnectionType     string   `json:"connection_type"`
	Environment        string   `json:"environment"`
	Status             string   `json:"status"`
	CreatedAt          string   `json:"created_at"`
	ConsentExpiresAt   *string  `json:"consent_expires_at"`
	DataRetentionUntil *string  `json:"data_retention_until"`
	RevokedAt          *string  `json:"revoked_at"`
}

func connectionView(c Connection) connectionJSON {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	ts := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		return str(t.UTC().Format(time.RFC3339))
	}
	list := func(l []string) []string { return append([]string{}, l...) }
	return connectionJSON{
		ID: c.ID, ClientID: c.ClientID, CustomerID: str(c.CustomerID), CustomerName: str(c.CustomerName),
		ProviderID: c.ProviderID, Subject: c.Subject, Products: list(c.Products), EntityIDs: list(c.EntityIDs),
		ConnectionType: c.ConnectionType, Environment: c.Environment, Status: c.Status,
		CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339), ConsentExpiresAt: ts(c.ConsentExpiresAt),
		DataRetentionUntil: ts(c.DataRetentionUntil), RevokedAt: ts(c.RevokedAt),
	}
}

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}

// Store is the persistence interface every backend implements. Every method
// takes a context and passes it to the driver.
type Store interface {
	Clients
	AuthRequests
	Grants
	Connections
	SigningKeys
	Events
	Balances
	Bulk

	// Ping checks the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Page asks for one page of a list: at most Limit items after the cursor
// After ("" = from the start), which is what the list returned with the
// page before (ErrInvalidCursor for anything else that cannot be read).
type Page struct {
	After string
	Limit int
}

// Ledger entry kinds.
const (
	LedgerTopUp  = "topup"  // credits added by the operator
	LedgerDebit  = "debit"  // credits taken by a resource server's metering
	LedgerCharge = "charge" // a token grant's cost
)

// LedgerEntry is one change of a metered client's balance.
type LedgerEntry struct {
	Seq      int64 // order of insertion, also the list cursor
	ID       string
	ClientID string
	Kind     string // Ledger*
	Amount   int64  // > 0 adds, < 0 takes
	Balance  int64  // the balance after the change
	Reason   string
	// IdempotencyKey makes a top-up or debit apply once: AdjustBalance
	// with a key seen before for the client changes nothing and returns
	// the first entry. Empty for charges.
	IdempotencyKey string
	GrantType      string // for charges
	CreatedAt      time.Time
}

// Balances keeps metered clients' balances and their ledger.
type Balances interface {
	// AdjustBalance applies e.Amount (e.Kind LedgerTopUp or LedgerDebit)
	// to the client's balance and appends e to its ledger, in one
	// transaction, and returns the entry as stored (Seq, ID, Balance set).
	// A key seen before for the client returns that first entry with
	// replayed true and changes nothing (ErrConflict when its amount or
	// kind differs). A debit that would take the balance below zero is
	// ErrInsufficientBalance unless the client allows overdraft.
	// ErrNotFound for no client, ErrNotMetered for one not metered.
	AdjustBalance(ctx context.Context, clientID string, e LedgerEntry) (stored LedgerEntry, replayed bool, err error)
	// ListLedger lists a client's ledger, newest first, at most p.Limit
	// entries (all when <= 0) older than the cursor p.After; it returns the
	// next cursor ("" when none).
	ListLedger(ctx context.Context, clientID string, p Page) ([]LedgerEntry, string, error)
}

type Clients interface {
	CreateClient(ctx context.Context, c Client) error // ErrConflict on duplicate ID
	// GetClient returns the client id. A backend may answer it from its
	// ClientCache: a change this store made is seen at once, one made by
	// another process (another instance, a CLI command) within the
	// cache's TTL.
	GetClient(ctx context.Context, id string) (Client, error)
	// ForgetClient drops any copy of the client kept in memory, so that the
	// next GetClient reads the store (a secret that does not match the
	// kept copy may be one rotated by another process).
	ForgetClient(id string)
	// ListClients lists clients in ID order (UUIDv7: creation order), at
	// most p.Limit of them (all when p.Limit <= 0) after the cursor p.After,
	// and returns the cursor of the next page ("" when there is none).
	ListClients(ctx context.Context, p Page) ([]Client, string, error)
	// DeleteUnusedClients deletes at most limit clients whose Metadata[key]
	// is value, that never obtained a token (FirstTokenAt zero), are not
	// metered (a prepaid balance and its ledger are never thrown away) and
	// were created before createdBefore, with everything issued to them, and
	// returns how many it deleted (the janitor's cleanup of dynamically
	// registered clients).
	DeleteUnusedClients(ctx context.Context, key, value string, createdBefore time.Time, limit int) (int, error)
	// UpdateClient loads the client, calls fn, and stores the result, in one
	// transaction. fn may not change the ID.
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) (Client, error)
	// DeleteClient removes the client and everything issued to it.
	DeleteClient(ctx context.Context, id string) error
}

type AuthRequests interface {
	// CreateAuthRequest stores a pending request. With maxPending > 0 it
	// first counts the client's pending, unexpired requests (at
	// r.CreatedAt) from the same SourceAddress, in the same transaction,
	// and gives ErrTooMany when there are maxPending already: one address
	// cannot fill a client's requests for everyone else.
	CreateAuthRequest(ctx context.Context, r AuthRequest, maxPending int) error
	// GetAuthRequest returns a pending request; ErrNotFound once consumed or
	// expired (now is compared with ExpiresAt).
	GetAuthRequest(ctx context.Context, id string, now time.Time) (AuthRequest, error)
	// UpdateAuthRequest changes a pending request (e.g. sets the Subject).
	UpdateAuthRequest(ctx context.Context, id string, now time.Time, fn func(*AuthRequest) error) (AuthRequest, error)
	// ConsumeAuthRequest deletes a pending request and returns it; exactly one
	// of many concurrent callers succeeds, the others get ErrNotFound.
	ConsumeAuthRequest(ctx context.Context, id string, now time.Time) (AuthRequest, error)
	// PushRequest stores a pushed authorization request (RFC 9126);
	// ErrConflict when its hash is taken, ErrMissingParent when its client
	// is gone.
	PushRequest(ctx context.Context, r PushedRequest) error
	// TakePushedRequest deletes the pushed request whose request_uri hashes
	// to hash and that clientID pushed, and returns it: a request_uri is
	// used once, and only by its client. Exactly one of many concurrent
	// callers gets it; the others, and every caller once it expired (now is
	// compared with ExpiresAt), get ErrNotFound. So does a caller naming
	// another client, and the request stays for its own client: a
	// request_uri presented with the wrong client_id does not destroy it.
	TakePushedRequest(ctx context.Context, hash []byte, clientID string, now time.Time) (PushedRequest, error)
	// CreateDeviceRequest stores a device authorization request (RFC
	// 8628); ErrConflict when its DeviceHash or UserHash is taken (the
	// caller makes another user code), ErrMissingParent when its client is
	// gone.
	CreateDeviceRequest(ctx context.Context, r DeviceRequest) error
	// GetDeviceRequestByUser returns the pending request whose user code
	// hashes to userHash; ErrNotFound when there is none, it expired (now
	// is compared with ExpiresAt) or it was decided.
	GetDeviceRequestByUser(ctx context.Context, userHash []byte, now time.Time) (DeviceRequest, error)
	// PollDeviceRequest returns the request stored under deviceHash as it
	// was before this poll, and records now as its last poll; when its
	// previous poll (LastPolledAt, not zero) is less than its Interval
	// before now, it also adds slowDown to the stored Interval (RFC 8628
	// §3.5's slow_down). Concurrent polls are serialized: each sees the
	// one before. ErrNotFound when there is none or it expired.
	PollDeviceRequest(ctx context.Context, deviceHash []byte, now time.Time, slowDown time.Duration) (DeviceRequest, error)
	// DecideDeviceRequest sets a pending request's Status to status
	// (DeviceApproved or DeviceDenied), once: ErrNotFound when there is
	// none, it expired, or it was decided already.
	DecideDeviceRequest(ctx context.Context, deviceHash []byte, status string, now time.Time) error
}

// DeviceRequest is a device authorization request (RFC 8628 §3.1) waiting
// for its user: stored by the key of its device_code (DeviceHash,
// oauth.SecretKey of it, which is also the hash of the code made when it
// is approved), found by the hash of its user_code, until it expires.
// Device requests are not exported: they live minutes.
type DeviceRequest struct {
	DeviceHash []byte
	UserHash   []byte // SHA-256 of the normalized user_code
	ClientID   string
	Scopes     []string
	Resources  []string // RFC 8707 resource indicators asked for; nil = none
	Status     string   // DevicePending, DeviceApproved, DeviceDenied
	// Interval is the polling interval the client must keep (RFC 8628
	// §3.2), grown by each slow_down.
	Interval     time.Duration
	LastPolledAt time.Time // zero before the first poll
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// The states of a DeviceRequest.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// PushedRequest is an authorization request a client pushed (RFC 9126 §2),
// stored by the hash of the request_uri it was given, until it is used at
// /oauth/authorize or expires. Params are the request's parameters as the
// client sent them (client authentication removed); the authorization
// endpoint validates them as it would its own query. Pushed requests are
// not exported: they live a minute.
type PushedRequest struct {
	Hash      []byte
	ClientID  string
	Params    map[string][]string
	CreatedAt time.Time
	ExpiresAt time.Time
}

type Grants interface {
	// CreateAuthCode stores a code (or temp token) and, when conn is not nil,
	// the connection it points at with a connection.created event, in one
	// transaction.
	CreateAuthCode(ctx context.Context, code AuthCode, conn *Connection) error

	// Decide runs one grant's decision atomically (see Writes). In one
	// transaction it loads and locks what key names, with the connection
	// behind it, calls decide with them, and applies the Writes decide
	// returns. A key that names a record which does not exist gives
	// ErrNotFound, and decide is not called; the zero key names nothing,
	// and decide gets an empty Locked (a grant that only writes, as an
	// opaque client-credentials token does).
	//
	// The Writes are applied also when decide returns an error, and that
	// error is then returned as it is once they are committed: a refusal
	// may have to revoke (a replayed code revokes its grant). A write that
	// refers to a record which is gone (the client, deleted meanwhile)
	// gives ErrMissingParent and nothing is written. When a write fails,
	// nothing is written and that error is returned, even when decide
	// refused: the refusal's writes (a revocation) did not happen. A key
	// with both hashes set is an error.
	//
	// decide must be cheap and do no I/O: it runs inside the transaction.
	// It may run more than once (a backend retries a transaction that lost
	// a serialization race), so it must only set variables it resets;
	// only the last run's Writes are kept.
	Decide(ctx context.Context, key GrantKey, decide func(Locked) (Writes, error)) error

	// GetRefreshToken returns a token and its family (for revocation and
	// introspection).
	GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, RefreshFamily, error)
	// RevokeFamily revokes a family and every access token whose FamilyID
	// is familyID (there may be such tokens and no family row, when a code
	// grant issued no refresh token). Revoking twice is not an error, nor is
	// revoking an ID with no rows.
	RevokeFamily(ctx context.Context, familyID string, now time.Time) error

	// GetAccessToken returns a record with Revoked computed (ErrNotFound if
	// none).
	GetAccessToken(ctx context.Context, id string) (AccessToken, error)
	// RevokeAccessToken marks a token revoked, inserting t when no record
	// exists yet (a client-credentials JWT).
	RevokeAccessToken(ctx context.Context, t AccessToken, now time.Time) error

	// DeleteExpired removes, at most limit rows of each kind: expired codes
	// (a spent code only 24 h after its use, so that a replay still revokes
	// its grant), expired auth requests and access-token records, refresh
	// families past their absolute expiry, idle past their timeout, or
	// revoked 24 h ago, events delivered more than a week ago, DPoP proof
	// uses past their expiry, expired pushed authorization requests, and
	// expired device requests (whatever their Status). It returns how many
	// rows it removed.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

type Connections interface {
	GetConnection(ctx context.Context, id string) (Connection, error)
	// ListConnections lists a client's connections (clientID "" = every
	// client's), newest first, at most p.Limit (all when p.Limit <= 0) after
	// the cursor p.After, and returns the next page's cursor ("" when none).
	// Cursors are opaque text.
	ListConnections(ctx context.Context, clientID string, p Page) ([]Connection, string, error)
	// RevokeConnection marks a connection revoked and revokes its families
	// and access tokens, in one transaction, with a connection.revoked event.
	// Revocation ends the consent, so DataRetentionUntil moves to now plus
	// the retention period (DataRetentionUntil - ConsentExpiresAt) when that
	// is earlier. Revoking twice is not an error (and no second event).
	RevokeConnection(ctx context.Context, id string, now time.Time) (Connection, error)
	// ExpireConsents marks at most limit active connections whose consent
	// ended at or before now as expired, each with a
	// connection.consent_expired event; their tokens become inactive.
	ExpireConsents(ctx context.Context, now time.Time, limit int) (int, error)
	// PurgeConnections deletes at most limit connections whose data
	// retention ended at or before now, with every code, family, refresh
	// token and access-token record of theirs, each with a
	// connection.retention_reached event.
	PurgeConnections(ctx context.Context, now time.Time, limit int) (int, error)
}

type Events interface {
	// ClaimEvents claims at most limit undelivered events due at now (their
	// NextAttemptAt at or before now), only the oldest undelivered one of
	// each connection (delivery is in order per connection), oldest first:
	// in one transaction it selects them, sets their NextAttemptAt to
	// now+lease and returns them as stored after that update. Until the
	// lease ends no other caller gets them, whatever process it runs in; a
	// claimer that records no outcome (RetryEvent, MarkEventDelivered)
	// within the lease loses its claim, and the event is claimed again
	// (at-least-once). Concurrent callers never get the same event. limit
	// <= 0 claims nothing; a lease <= 0 is an error.
	ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Event, error)
	// MarkEventDelivered records a delivery; failed marks it given up.
	MarkEventDelivered(ctx context.Context, seq int64, now time.Time, failed bool) error
	// RetryEvent records a failed attempt and when to try again.
	RetryEvent(ctx context.Context, seq int64, attempts int, next time.Time, lastError string) error
	// ListEvents lists a connection's events, oldest first (for the admin
	// API and tests).
	ListEvents(ctx context.Context, connectionID string) ([]Event, error)
}

type SigningKeys interface {
	// ListSigningKeys returns every stored key, newest first (by
	// CreatedAt, then insertion order).
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey adds k only when no key of k.Algorithm was created
	// after since (the zero time: when the store has no key of that
	// algorithm at all), and reports whether it did, atomically: instances
	// starting together on an empty store agree on one first key, and
	// instances on one rotation schedule add one key per period. ErrConflict
	// for a kid stored already.
	AddSigningKey(ctx context.Context, k SigningKey, since time.Time) (bool, error)
	// ReserveSigningKey raises the KeepUntil of key kid to until (it never
	// lowers it); ErrNotFound for no such key.
	ReserveSigningKey(ctx context.Context, kid string, until time.Time) error
	// DeleteSigningKey deletes key kid if its KeepUntil is before before,
	// and reports whether it did (the signer decides which keys are
	// superseded; the store only keeps the promise KeepUntil makes).
	DeleteSigningKey(ctx context.Context, kid string, before time.Time) (bool, error)
	// Reseal re-encrypts, in one transaction, every sealed secret the
	// store holds — each signing key (kind SealedSigningKey, owner its kid)
	// and each client's webhook secret (kind SealedWebhookSecret, owner the
	// client id) — with what fn returns for it (the key-encryption key's
	// rotation). An error from fn writes nothing. It returns how many it
	// re-sealed.
	Reseal(ctx context.Context, fn func(kind, owner string, sealed []byte) ([]byte, error)) (int, error)
}

// Kinds of sealed secrets Reseal hands its fn.
const (
	SealedSigningKey    = "signing_key"
	SealedWebhookSecret = "webhook_secret"
)
