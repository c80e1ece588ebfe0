package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// The device authorization grant (RFC 8628), for CLIs and devices without
// a browser: the client asks for a device code and a user code, shows the
// user the code and the verification page, and polls the token endpoint;
// the user enters the code on grantd's page (DevicePath), which starts an
// authorization request for the client, decided as every other one — on
// the hosted pages, or by the external consent app through the admin API.
// Accepting it makes a code whose hash is the device code's key, which the
// device's next poll redeems through the authorization-code path: one
// store round trip once approved, one small write per poll before.

// GrantDeviceCode is RFC 8628 §3.4's grant type.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// CodeKindDevice is the kind of an authorization request a user approves
// for a device, and of the code it makes.
const CodeKindDevice = "device_code"

// PrefixDeviceCode starts every device_code grantd issues.
const PrefixDeviceCode = "gdc_"

// DevicePath is the verification page, under the issuer.
const DevicePath = "/device"

// Device flow defaults (RFC 8628 §3.2: interval 5 s when absent; §3.5:
// slow_down adds 5 s).
const (
	DefaultDeviceCodeTTL  = 10 * time.Minute
	DefaultDeviceInterval = 5 * time.Second
	DeviceSlowDown        = 5 * time.Second
)

// The token endpoint's answers while a device waits (RFC 8628 §3.5).
const (
	ErrCodeAuthorizationPending = "authorization_pending"
	ErrCodeSlowDown             = "slow_down"
	ErrCodeExpiredToken         = "expired_token"
)

// userCodeAlphabet are the letters of user codes: consonants only, so that
// no code spells a word and none is confused with a digit (RFC 8628 §6.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// userCodeLen is a user code's length: 20^8, about 2^34.6 codes, guessed
// against per-address rate limits within the code's ten minutes.
const userCodeLen = 8

// DeviceAuthorization is the answer of the device authorization endpoint
// (RFC 8628 §3.2).
type DeviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// AuthorizeDevice is RFC 8628 §3.1: the client presenting cr (a public
// client by its client_id) asks for a device code for scope and resources.
func (p *Provider) AuthorizeDevice(ctx context.Context, cr ClientCredentials, scope string, resources []string) (*DeviceAuthorization, error) {
	client, err := p.AuthenticateClient(ctx, cr)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(client.GrantTypes, GrantDeviceCode) {
		return nil, UnauthorizedClient("The client is not allowed to use the device authorization grant.").With(ReasonGrantNotAllowed, "grant_type")
	}
	now := p.now()
	if _, err := p.policy().Check(ctx, PolicyRequest{Client: &client, Action: ActionAuthorize, Address: cr.Address, Now: now}); err != nil {
		return nil, err
	}
	if err := p.hostedPagesAllowed(&client); err != nil {
		return nil, err
	}
	scopes, err := requestedScope(scope, client.Scopes, "The requested scope exceeds what the client may ask for.")
	if err != nil {
		return nil, err
	}
	asked, err := p.checkResources(&client, resources, nil, false)
	if err != nil {
		return nil, err
	}
	ttl := p.deviceCodeTTL()
	deviceCode := p.newSecret(PrefixDeviceCode, now)
	r := store.DeviceRequest{DeviceHash: SecretKey(deviceCode), ClientID: client.ID, Scopes: scopes, Resources: asked,
		Status: store.DevicePending, Interval: DefaultDeviceInterval, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	var user string
	for range 5 { // a user code taken already: another one
		user = newUserCode()
		r.UserHash = userCodeHash(user)
		if err = p.Store.CreateDeviceRequest(ctx, r); !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	switch {
	case errors.Is(err, store.ErrMissingParent):
		return nil, clientGone(err)
	case err != nil:
		return nil, ServerError(err)
	}
	shown := user[:4] + "-" + user[4:]
	page := p.Issuer + DevicePath
	return &DeviceAuthorization{DeviceCode: deviceCode, UserCode: shown, VerificationURI: page,
		VerificationURIComplete: page + "?user_code=" + shown, ExpiresIn: int64(ttl / time.Second),
		Interval: int64(DefaultDeviceInterval / time.Second)}, nil
}

func (p *Provider) deviceCodeTTL() time.Duration {
	if p.DeviceCodeTTL > 0 {
		return p.DeviceCodeTTL
	}
	return DefaultDeviceCodeTTL
}

// newUserCode is a random user code, userCodeLen letters of
// userCodeAlphabet, each uniform (rejection sampling).
func newUserCode() string {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < userCodeLen {
		if _, err := rand.Read(buf); err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		if v := int(buf[0]); v < 240 { // 240 = 12 × 20: no bias
			b.WriteByte(userCodeAlphabet[v%len(userCodeAlphabet)])
		}
	}
	return b.String()
}

// NormalizeUserCode is a user code as typed (any case, with or without the
// dash or spaces) in its stored form; ok is false for anything that is no
// user code.
func NormalizeUserCode(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

// userCodeHash is how a user code is stored: a SHA-256, domain-separated.
func userCodeHash(normalized string) []byte {
	sum := sha256.Sum256([]byte("grantd user code\x00" + normalized))
	return sum[:]
}

// EnterUserCode is the verification page's step (RFC 8628 §3.3): the user
// entered code; a pending device request's client gets an authorization
// request, decided like any other, and the browser goes to its consent
// step (the returned location). address is the browser's.
func (p *Provider) EnterUserCode(ctx context.Context, code, address string) (string, error) {
	unknown := &Error{Code: ErrCodeInvalidRequest, Status: http.StatusBadRequest,
		Description: "The code is unknown or has expired. Check it on your device, or start again there."}
	norm, ok := NormalizeUserCode(code)
	if !ok {
		return "", unknown
	}
	now := p.now()
	dr, err := p.Store.GetDeviceRequestByUser(ctx, userCodeHash(norm), now)
	if errors.Is(err, store.ErrNotFound) {
		return "", unknown
	}
	if err != nil {
		return "", ServerError(err)
	}
	client, err := p.Store.GetClient(ctx, dr.ClientID)
	if err != nil {
		return "", notFoundOr(err, "The client of this code no longer exists.")
	}
	if !clientActive(&client) || !slices.Contains(client.GrantTypes, GrantDeviceCode) {
		return "", unknown // suspended, or no longer allowed the grant, since
	}
	if err := p.hostedPagesAllowed(&client); err != nil {
		return "", err
	}
	expires := now.Add(p.authRequestTTL())
	if dr.ExpiresAt.Before(expires) {
		expires = dr.ExpiresAt
	}
	ar := store.AuthRequest{ID: RandomToken(32), ClientID: client.ID, ResponseType: CodeKindDevice, Scopes: dr.Scopes,
		Resources: dr.Resources, DeviceHash: dr.DeviceHash, CSRFToken: RandomToken(32), SourceAddress: address,
		CreatedAt: now, ExpiresAt: expires}
	if err := p.Store.CreateAuthRequest(ctx, ar, p.MaxPendingAuthRequests); err != nil {
		switch {
		case errors.Is(err, store.ErrTooMany):
			return "", tooManyPending(err)
		case errors.Is(err, store.ErrMissingParent):
			return "", unknown // the client was deleted meanwhile
		}
		return "", ServerError(err)
	}
	return p.consentLocation(&client, ar.ID), nil
}

// deviceDone is where the browser goes once the user decided a device's
// request: the verification page, saying so.
func (p *Provider) deviceDone(approved bool) string {
	result := "denied"
	if approved {
		result = "approved"
	}
	return p.Issuer + DevicePath + "?result=" + result
}

// deviceCode is RFC 8628 §3.4: once the user approved (devicePoll, run
// before the policy), the device code redeems the code its approval made,
// as an authorization code (one use, its grant revoked if used again).
func deviceCode(p *Provider, c *store.Client, pr Profile, req TokenRequest, now time.Time) (plan, error) {
	if req.DeviceCode == "" {
		return plan{}, InvalidRequest("The device_code parameter is missing.").With(ReasonMissingParam, "device_code")
	}
	if len(req.DeviceCode) > 512 || !strings.HasPrefix(req.DeviceCode, PrefixDeviceCode) {
		return plan{}, InvalidGrant("The device code is invalid.").With(ReasonCodeInvalid, "device_code")
	}
	dpr := pr
	dpr.CodeKind, dpr.RedirectURI = CodeKindDevice, false
	r := req
	r.Code, r.RedirectURI, r.CodeVerifier = req.DeviceCode, "", ""
	pl, err := authorizationCode(p, c, dpr, r, now)
	// Approved a moment ago, its code being made: poll again.
	pl.missing = authorizationPending()
	return pl, err
}

// authorizationPending is RFC 8628 §3.5's authorization_pending.
func authorizationPending() *Error {
	return newError(http.StatusBadRequest, ErrCodeAuthorizationPending, "The user has not decided yet: poll again after the interval.")
}

// devicePoll records a poll of a device code (RFC 8628 §3.5) and answers
// it while the user has not approved: slow_down when it came sooner than
// the interval after the last one (the interval then grows by 5 s),
// authorization_pending, access_denied, expired_token. nil once approved:
// the grant then redeems the code.
func (p *Provider) devicePoll(ctx context.Context, c *store.Client, deviceCode string, now time.Time) error {
	if req := deviceCode; req == "" || len(req) > 512 || !strings.HasPrefix(req, PrefixDeviceCode) {
		return nil // the grant refuses it, as it says
	}
	dr, err := p.Store.PollDeviceRequest(ctx, SecretKey(deviceCode), now, DeviceSlowDown)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusBadRequest, ErrCodeExpiredToken, "The device code has expired: start again.").With(ReasonCodeExpired, "device_code")
	case err != nil:
		return ServerError(err)
	case dr.ClientID != c.ID:
		return InvalidGrant("The device code is invalid.").With(ReasonCodeInvalid, "device_code")
	case dr.Status == store.DeviceDenied:
		return newError(http.StatusBadRequest, ErrCodeAccessDenied, "The user denied the request.")
	case !dr.LastPolledAt.IsZero() && now.Sub(dr.LastPolledAt) < dr.Interval:
		return newError(http.StatusBadRequest, ErrCodeSlowDown, "Polling too fast: wait %d seconds between polls.",
			int64((dr.Interval+DeviceSlowDown)/time.Second))
	case dr.Status == store.DeviceApproved:
		return nil
	}
	return authorizationPending()
}

type addressKey struct{}

// WithClientAddress carries the browser's address, as the server knows it
// (through trusted proxies), to the hosted pages: the pending-request cap
// counts per address.
func WithClientAddress(ctx context.Context, address string) context.Context {
	return context.WithValue(ctx, addressKey{}, address)
}

// ClientAddressFrom is what WithClientAddress carried, or "".
func ClientAddressFrom(ctx context.Context) string {
	a, _ := ctx.Value(addressKey{}).(string)
	return a
}
