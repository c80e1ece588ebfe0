package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/store"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// TokenRequest is a token request, decoded from any dialect's wire. An
// empty string is an absent parameter (RFC 6749 §3.1).
type TokenRequest struct {
	GrantType    string
	Client       ClientCredentials
	Code         string // the code, or the temp token
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	DeviceCode   string // RFC 8628 §3.4
	Scope        string // space-delimited (RFC 6749 §3.3)
	// Resources are the request's resource indicators (RFC 8707); nil =
	// none.
	Resources []string
	// DPoP is the request's DPoP proof and what it must match (set by the
	// server, not the wire); nil when the request has no DPoP header.
	DPoP *DPoPRequest

	// proof is the DPoP proof once checked; nil for none.
	proof *dpop.Proof
	// x5t is the thumbprint of the TLS client certificate what the request
	// issues is bound to (RFC 8705 §3); "" = not bound.
	x5t string
}

// TokenResult is the core's answer to a token request: what a dialect may
// encode. It holds nothing secret but the tokens it issues.
type TokenResult struct {
	AccessToken string
	TokenType   string // "Bearer", or "DPoP" for a token bound to a DPoP key
	ExpiresIn   int64  // seconds
	ExpiresAt   time.Time
	// RefreshToken is a new refresh token; "" when none was issued or the
	// presented one stays valid (RefreshTokenUnchanged).
	RefreshToken          string
	RefreshTokenUnchanged bool
	Scopes                []string
	GrantType             string
	Subject               string
	ClientID              string
	// ClientEnvironment is the client's environment (development,
	// production, sandbox).
	ClientEnvironment string
	// Connection is the connection behind a code or refresh grant; nil for
	// client_credentials.
	Connection *ConnectionInfo
	// RateLimit is the client's rate-limit window after this request, for
	// the RateLimit-* headers; nil when the policy set none.
	RateLimit *RateLimit
	// DPoPNonce is the server's current DPoP nonce, for the DPoP-Nonce
	// header; "" when nonces are not asked for.
	DPoPNonce string
}

// ConnectionInfo is what a token endpoint may show of a connection.
type ConnectionInfo struct {
	ID                 string
	CustomerID         string
	CustomerName       string
	ProviderID         string
	ConnectionType     string
	Products           []string
	EntityIDs          []string
	ConsentExpiresAt   time.Time // zero = none
	DataRetentionUntil time.Time // zero = none
}

func connectionInfo(c *store.Connection) *ConnectionInfo {
	if c == nil {
		return nil
	}
	return &ConnectionInfo{
		ID: c.ID, CustomerID: c.CustomerID, CustomerName: c.CustomerName, ProviderID: c.ProviderID,
		ConnectionType: c.ConnectionType, Products: slices.Clone(c.Products), EntityIDs: slices.Clone(c.EntityIDs),
		ConsentExpiresAt: c.ConsentExpiresAt, DataRetentionUntil: c.DataRetentionUntil,
	}
}

// Claims are the claims of a JWT access token (RFC 9068 §2.2).
type Claims struct {
	Issuer       string   `json:"iss"`
	Subject      string   `json:"sub"`
	Audience     Audience `json:"aud"`
	ExpiresAt    int64    `json:"exp"`
	IssuedAt     int64    `json:"iat"`
	NotBefore    int64    `json:"nbf,omitempty"`
	ID           string   `json:"jti"`
	ClientID     string   `json:"client_id"`
	Scope        string   `json:"scope,omitempty"`
	ConnectionID string   `json:"connection_id,omitempty"`
	Products     []string `json:"products,omitempty"`
	EntityIDs    []string `json:"entity_ids,omitempty"`
	// Confirmation binds the token to a key (RFC 7800, RFC 9449 §6.1).
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim of a sender-constrained token: the
// thumbprint of the DPoP key it is bound to.
type Confirmation struct {
	JKT string `json:"jkt,omitempty"`
	// X5TS256 is the SHA-256 thumbprint of the TLS client certificate the
	// token is bound to (RFC 8705 §3.1).
	X5TS256 string `json:"x5t#S256,omitempty"`
}

// Expiry is the exp claim as a time (the zero time for none): the signer
// reads it here rather than from the JSON (signer.Expirer).
func (c Claims) Expiry() time.Time {
	if c.ExpiresAt == 0 {
		return time.Time{}
	}
	return time.Unix(c.ExpiresAt, 0)
}

// A grant turns a token request of an authenticated client into a plan: the
// one record it decides on and the function that decides. It reads the
// request's own parameters, and nothing else: no I/O, no writes, no
// signatures. The pipeline runs the plan in one store operation, then signs.
type grant func(p *Provider, c *store.Client, pr Profile, req TokenRequest, now time.Time) (plan, error)

// grants are the grant types the core knows. A new grant is one more entry.
var grants = map[string]grant{
	GrantClientCredentials: clientCredentials,
	GrantAuthorizationCode: authorizationCode,
	GrantRefreshToken:      refreshToken,
	GrantDeviceCode:        deviceCode,
}

// plan is a grant's decision, to be run in one store operation.
type plan struct {
	// key names the record decided on; zero for none.
	key store.GrantKey
	// decide decides on the locked records. It runs inside the store's
	// transaction: no I/O, and it may run more than once.
	decide func(store.Locked) (decision, error)
	// missing is the answer when the record key names does not exist.
	missing error
}

// decision is what a grant decided: what to write and, once written, what
// to issue. A refusal may write too (a replayed code revokes its grant).
type decision struct {
	writes           store.Writes
	access           access
	refresh          string // a new refresh token, "" for none
	refreshUnchanged bool   // the presented refresh token stays valid
	conn             *store.Connection
	// warn, with warnArgs, is logged when the decision refuses: a replay
	// or a reuse, which an operator should know of.
	warn     string
	warnArgs []any
	// retry, for the answer to an idempotent refresh retry, is the key of
	// the successor refresh token, which must still be unused
	// (confirmRetry); nil otherwise.
	retry []byte
}

// Token runs the fixed token pipeline for an endpoint with profile pr:
// authenticate the client, apply the policy, check the client may use the
// grant, let the grant decide, write the decision in one store operation,
// then sign. No grant and no dialect can skip a step.
func (p *Provider) Token(ctx context.Context, pr Profile, req TokenRequest) (*TokenResult, error) {
	res, err := p.token(ctx, pr, req)
	// With server nonces on, every answer of an endpoint that takes proofs
	// carries the current one (RFC 9449 §8.2), errors too: a client learns
	// it from its first request, whatever went wrong with it.
	if e, ok := err.(*Error); ok && pr.DPoP && e.DPoPNonce == "" {
		e.DPoPNonce = p.dpopNonce(p.now())
	}
	return res, err
}

func (p *Provider) token(ctx context.Context, pr Profile, req TokenRequest) (_ *TokenResult, err error) {
	if req.GrantType == "" {
		return nil, InvalidRequest("The grant_type parameter is missing.").With(ReasonMissingParam, "grant_type")
	}
	g, known := grants[req.GrantType]
	if !known || !pr.serves(req.GrantType) {
		return nil, UnsupportedGrantType()
	}
	var proof *dpop.Proof
	if pr.DPoP {
		// Before the client's authentication, which may spend an
		// assertion's jti: a use_dpop_nonce answer costs the client none.
		var err error
		if proof, err = p.verifyProof(req.DPoP); err != nil {
			return nil, err
		}
	}
	client, err := p.authenticate(ctx, pr, req.Client)
	if err != nil {
		return nil, err
	}
	// A grant the client may not use is refused before the policy: it
	// costs no rate and no round trip to a shared limiter.
	if !slices.Contains(client.GrantTypes, req.GrantType) {
		return nil, UnauthorizedClient("The client is not allowed to use the %s grant.", req.GrantType).With(ReasonGrantNotAllowed, "grant_type")
	}
	now := p.now()
	if req.proof, err = p.checkProof(pr, &client, proof, now); err != nil {
		return nil, err
	}
	// A proof Replays judges (in memory or in Redis) is reserved here and
	// released if the request is refused; any other is recorded with the
	// grant's writes (bindTo).
	// Once the grant's decision is committed the proof is spent, even if
	// the answer then fails: committed keeps it reserved.
	inMemory, committed := false, false
	if req.proof != nil {
		res, rerr := p.reserve(ctx, req.proof.Replay, req.proof.Earliest, req.proof.Until, now)
		if rerr != nil {
			return nil, rerr
		}
		if res.Covered && !res.Fresh {
			e := InvalidDPoPProof("The DPoP proof was used before.")
			e.DPoPNonce = p.dpopNonce(now)
			return nil, e
		}
		if inMemory = res.Covered; inMemory {
			defer func() {
				if err != nil && !committed {
					p.release(ctx, req.proof.Replay, res)
				}
			}()
		}
	}
	x5t, err := certBinding(pr, &client, req.Client.Certificates)
	if err != nil {
		return nil, err
	}
	if x5t, err = fapi2Token(pr, &client, req.proof, x5t, req.Client.Certificates); err != nil {
		return nil, err
	}
	req.x5t = x5t
	// A token the signer cannot sign is refused before anything is taken
	// or written: no rate, no code, no rotated refresh token.
	if client.TokenFormat != store.TokenFormatOpaque {
		if wait, ok := p.Signer.SignWait(client.AccessTokenSigningAlg); !ok || wait > 0 {
			p.logger().WarnContext(ctx, "no key signs the client's access token algorithm", "client_id", client.ID,
				"alg", client.AccessTokenSigningAlg, "enabled", ok)
			return nil, signingUnavailable(client.AccessTokenSigningAlg, wait)
		}
	}
	// A device waiting for its user is answered before the policy: its
	// polls, paced by slow_down, cost none of the client's rate.
	if req.GrantType == GrantDeviceCode {
		if err := p.devicePoll(ctx, &client, req.DeviceCode, now); err != nil {
			return nil, err
		}
	}
	verdict, err := p.policy().Check(ctx, PolicyRequest{Client: &client, Action: req.GrantType, Address: req.Client.Address, Now: now})
	if err != nil {
		return nil, err
	}
	// From here on the request took from the client's rate: every answer
	// shows the window.
	withWindow := func(err error) error {
		if e, ok := err.(*Error); ok && e.RateLimit == nil && verdict.RateLimit != nil {
			e.RateLimit = verdict.RateLimit
		}
		return err
	}
	pl, err := g(p, &client, pr, req, now)
	if err != nil {
		return nil, withWindow(err)
	}
	pl.decide = p.account(&client, req.GrantType, verdict.Cost, now, p.keepRetry(req.RefreshToken, bindTo(req.proof, inMemory, x5t, now, pl.decide)))
	d, err := p.run(ctx, pl)
	if err == nil && d.retry != nil {
		d, err = p.confirmRetry(ctx, &client, d)
	}
	committed = err == nil
	if err != nil {
		if e, ok := err.(*Error); ok && (e.Reason == ReasonOutsideHours || e.Reason == ReasonInsufficientFunds) {
			p.refused(ctx, PolicyRequest{Client: &client, Action: req.GrantType, Address: req.Client.Address, Now: now}, e)
		}
		return nil, withWindow(err)
	}
	res, err := p.issue(ctx, &client, req.GrantType, d)
	if err != nil {
		return nil, withWindow(err)
	}
	res.RateLimit = verdict.RateLimit
	res.DPoPNonce = p.dpopNonce(now)
	return res, nil
}

// account adds to a grant's decision what every issued token writes beside
// the grant's own records: a metered client's charge for it, in the same
// transaction (no token without its charge), and the client's first-token
// mark. A refusal writes neither.
func (p *Provider) account(c *store.Client, grantType string, cost int64, now time.Time, decide func(store.Locked) (decision, error)) func(store.Locked) (decision, error) {
	return func(l store.Locked) (decision, error) {
		d, err := decide(l)
		if err != nil || d.retry != nil {
			// A retry gives again what was charged for once.
			return d, err
		}
		if c.Metered && cost > 0 {
			d.writes.Charge = &store.LedgerEntry{ClientID: c.ID, Kind: store.LedgerCharge, Amount: -cost,
				GrantType: grantType, Reason: grantType + " token", CreatedAt: now}
		}
		if c.FirstTokenAt.IsZero() {
			d.writes.FirstTokenOf = c.ID
		}
		if !d.writes.Empty() {
			d.writes.At = now
		}
		return d, nil
	}
}

// run writes a plan's decision in one store operation. A plan with no key
// and nothing to write (a client-credentials JWT) touches no store.
func (p *Provider) run(ctx context.Context, pl plan) (decision, error) {
	var d decision
	var err error
	if pl.key.CodeHash == nil && pl.key.RefreshHash == nil {
		if d, err = pl.decide(store.Locked{}); err == nil && !d.writes.Empty() {
			err = p.Store.Decide(ctx, pl.key, func(store.Locked) (store.Writes, error) { return d.writes, nil })
		}
	} else {
		err = p.Store.Decide(ctx, pl.key, func(l store.Locked) (store.Writes, error) {
			var derr error
			d, derr = pl.decide(l)
			return d.writes, derr
		})
	}
	var e *Error
	switch {
	case err == nil:
		return d, nil
	case errors.As(err, &e):
		if d.warn != "" {
			p.logger().WarnContext(ctx, d.warn, d.warnArgs...)
		}
		return d, e
	case errors.Is(err, store.ErrNotFound) && pl.missing != nil:
		return d, pl.missing
	case errors.Is(err, store.ErrMissingParent):
		// The client was deleted while its request was under way.
		return d, clientGone(err)
	case errors.Is(err, store.ErrReplayed):
		return d, InvalidDPoPProof("The DPoP proof was used before.").WithCause(err)
	case errors.Is(err, store.ErrInsufficientBalance):
		// The last credits went to a concurrent request.
		return d, InsufficientBalance().WithCause(err)
	case errors.Is(err, store.ErrNotMetered):
		// The client stopped being metered while its request was under way:
		// nothing was issued; the retry is judged afresh.
		e := newError(http.StatusServiceUnavailable, ErrCodeTemporarilyUnavailable, "The client's billing changed during the request; retry it.")
		e.RetryAfter, e.Cause = 1, err
		return d, e
	}
	return d, ServerError(err)
}

// refund gives back the charge of a token whose signature failed after the
// charge committed (no charge without its token), once: the refund's
// idempotency key is the token's id. A refund that fails is logged: the
// ledger then shows a charge for a token that was never delivered.
func (p *Provider) refund(ctx context.Context, d decision) {
	ch := d.writes.Charge
	if ch == nil {
		return
	}
	_, _, err := p.Store.AdjustBalance(context.WithoutCancel(ctx), ch.ClientID, store.LedgerEntry{Kind: store.LedgerTopUp,
		Amount: -ch.Amount, Reason: "refund: " + ch.GrantType + " token not issued", IdempotencyKey: "refund:" + d.access.rec.ID,
		CreatedAt: p.now()})
	if err != nil {
		p.logger().ErrorContext(ctx, "refund of a token not issued failed", "client_id", ch.ClientID, "amount", -ch.Amount, "cause", err.Error())
	}
}

// clientGone is the answer to a request whose client was deleted after it
// authenticated: the same 401 as for an unknown client.
func clientGone(cause error) *Error {
	e := InvalidClient(cause)
	e.Reason = ReasonUnknownClient
	return e
}

// issue signs what a decision issues, now that it is written, and builds
// the result. No lock is held while signing.
func (p *Provider) issue(ctx context.Context, c *store.Client, grantType string, d decision) (*TokenResult, error) {
	tok := d.access.opaque
	if d.access.claims != nil {
		jwt, err := p.Signer.Sign(ctx, c.AccessTokenSigningAlg, *d.access.claims)
		if err != nil {
			p.refund(ctx, d)
			return nil, ServerError(err)
		}
		tok = jwt
	}
	a := d.access.rec
	typ := TokenTypeBearer
	if a.JKT != "" {
		typ = TokenTypeDPoP
	}
	return &TokenResult{
		AccessToken:           tok,
		TokenType:             typ,
		ExpiresIn:             int64((d.access.ttl + time.Second - 1) / time.Second),
		ExpiresAt:             a.ExpiresAt,
		RefreshToken:          d.refresh,
		RefreshTokenUnchanged: d.refreshUnchanged,
		Scopes:                a.Scopes,
		GrantType:             grantType,
		Subject:               a.Subject,
		ClientID:              c.ID,
		ClientEnvironment:     c.Environment,
		Connection:            connectionInfo(d.conn),
	}, nil
}
