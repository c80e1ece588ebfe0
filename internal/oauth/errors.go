package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// RFC 6749 §5.2 and RFC 6749 §4.1.2.1 error codes, plus the ones grantd's
// dialects reserve.
const (
	ErrCodeInvalidRequest          = "invalid_request"
	ErrCodeInvalidClient           = "invalid_client"
	ErrCodeInvalidGrant            = "invalid_grant"
	ErrCodeUnauthorizedClient      = "unauthorized_client"
	ErrCodeUnsupportedGrantType    = "unsupported_grant_type"
	ErrCodeInvalidScope            = "invalid_scope"
	ErrCodeAccessDenied            = "access_denied"
	ErrCodeUnsupportedResponseType = "unsupported_response_type"
	ErrCodeServerError             = "server_error"
	ErrCodeUnsupportedTokenType    = "unsupported_token_type"
	ErrCodeTemporarilyUnavailable  = "temporarily_unavailable"
	ErrCodeInvalidRedirectURI      = "invalid_redirect_uri"
	ErrCodeInvalidClientMetadata   = "invalid_client_metadata"
	// Reserved for the commercial policy (402 and 429).
	ErrCodeInsufficientBalance = "insufficient_balance"
	ErrCodeRateLimitExceeded   = "rate_limit_exceeded"
	// RFC 9449 §5 and §8.
	ErrCodeInvalidDPoPProof = "invalid_dpop_proof"
	ErrCodeUseDPoPNonce     = "use_dpop_nonce"
	// RFC 8707 §2.
	ErrCodeInvalidTarget = "invalid_target"
)

// Error is a protocol error: a public code and description that may be shown
// to the client, the HTTP status, and a private cause that is only logged.
// Descriptions never contain a secret, code or token.
type Error struct {
	Code        string
	Description string
	Status      int
	// Basic is set when the client tried HTTP Basic authentication, so that
	// an invalid_client answer carries WWW-Authenticate (RFC 6749 §5.2).
	Basic bool
	// RetryAfter, in seconds, for 429 and 503 answers; 0 = none.
	RetryAfter int
	// RateLimit is the client's rate-limit window, for the RateLimit-*
	// headers of a refused token request; nil = none.
	RateLimit *RateLimit
	// Reason is a finer, stable cause (Reason*) that dialects map to their
	// own error codes; "" = none more precise than Code.
	Reason string
	// Param names the request parameter at fault, when there is one.
	Param string
	// DPoPNonce is the nonce for the DPoP-Nonce header (RFC 9449 §8);
	// "" = none.
	DPoPNonce string
	Cause     error
}

// Reasons: finer causes under the RFC 6749 codes, for dialects.
const (
	ReasonMissingParam         = "missing_parameter"
	ReasonMalformedParam       = "malformed_parameter"
	ReasonNoCredentials        = "no_client_credentials"
	ReasonUnknownClient        = "unknown_client"
	ReasonWrongSecret          = "wrong_client_secret"
	ReasonBadAssertion         = "bad_client_assertion"   // a private_key_jwt assertion refused (the cause says which check)
	ReasonWrongMethod          = "wrong_auth_method"      // credentials of another method than the client's registered one
	ReasonBadCertificate       = "bad_client_certificate" // a mutual-TLS client\'s certificate refused (the cause says why)
	ReasonSecretRequired       = "client_secret_required" // a client_id alone, where only confidential clients are served
	ReasonClientState          = "client_state"           // suspended, pending
	ReasonGrantNotAllowed      = "grant_not_allowed"
	ReasonCodeInvalid          = "code_invalid" // unknown, or of another client or kind
	ReasonCodeExpired          = "code_expired"
	ReasonCodeUsed             = "code_used"
	ReasonRedirectMismatch     = "redirect_uri_mismatch"
	ReasonPKCE                 = "pkce_failed"
	ReasonRefreshInvalid       = "refresh_token_invalid"
	ReasonRefreshExpired       = "refresh_token_expired"
	ReasonRefreshReused        = "refresh_token_reused"
	ReasonConsentEnded         = "consent_ended" // connection revoked, expired or gone
	ReasonScopeNotAllowed      = "scope_not_allowed"
	ReasonOutsideHours         = "outside_operating_hours"
	ReasonRateLimited          = "rate_limited"
	ReasonInsufficientFunds    = "insufficient_balance"
	ReasonTooManyAttempts      = "too_many_failed_authentications"
	ReasonTooManyPending       = "too_many_pending_requests"
	ReasonNoSigningKey         = "signing_key_unavailable" // the client's access_token_signing_alg cannot sign (yet)
	ReasonDPoPBound            = "dpop_key_mismatch"       // a code or refresh token bound to another DPoP key, or none sent
	ReasonSingleUseUnavailable = "single_use_unavailable"  // the shared single-use records (Redis) did not answer
	ReasonCertBound            = "certificate_mismatch"    // a refresh token bound to another TLS client certificate, or none sent
	ReasonOriginNotAllowed     = "origin_not_allowed"      // a browser request from an origin the client does not list
)

// With returns a copy of e with a reason and, if not "", the parameter.
func (e *Error) With(reason, param string) *Error {
	c := *e
	c.Reason = reason
	if param != "" {
		c.Param = param
	}
	return &c
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// WithCause returns a copy of e with the private cause set.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.Cause = err
	return &c
}

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...), Status: status}
}

// InvalidRequest is a 400 invalid_request with a public description.
func InvalidRequest(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, ErrCodeInvalidRequest, format, args...)
}

// InvalidGrant is a 400 invalid_grant with a public description.
func InvalidGrant(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, ErrCodeInvalidGrant, format, args...)
}

// InvalidScope is a 400 invalid_scope.
func InvalidScope(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, ErrCodeInvalidScope, format, args...)
}

// UnauthorizedClient is a 400 unauthorized_client.
func UnauthorizedClient(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, ErrCodeUnauthorizedClient, format, args...)
}

// UnsupportedGrantType is a 400 unsupported_grant_type.
func UnsupportedGrantType() *Error {
	return newError(http.StatusBadRequest, ErrCodeUnsupportedGrantType,
		"The authorization grant type is not supported by the authorization server.")
}

// InvalidClient is a 401 invalid_client. The description is the same for
// every cause so that an attacker learns nothing; the cause is logged.
func InvalidClient(cause error) *Error {
	e := newError(http.StatusUnauthorized, ErrCodeInvalidClient, "Client authentication failed.")
	e.Cause = cause
	return e
}

// ServerError is a 500 server_error; the cause is logged, never shown.
func ServerError(cause error) *Error {
	e := newError(http.StatusInternalServerError, ErrCodeServerError, "An unexpected error occurred on the server.")
	e.Cause = cause
	return e
}

// RateLimited is a 429 rate_limit_exceeded: the client's tier allows no
// more requests until retryAfter has passed.
func RateLimited(retryAfter time.Duration, rl *RateLimit) *Error {
	e := newError(http.StatusTooManyRequests, ErrCodeRateLimitExceeded, "Rate limit exceeded for your tier; retry after the time in Retry-After.")
	e.Reason, e.RetryAfter, e.RateLimit = ReasonRateLimited, seconds(retryAfter), rl
	return e
}

// TooManyAttempts is a 429 after too many failed client authentications:
// the credentials are not checked until retryAfter has passed.
func TooManyAttempts(retryAfter time.Duration) *Error {
	e := newError(http.StatusTooManyRequests, ErrCodeRateLimitExceeded, "Too many failed authentications; retry after the time in Retry-After.")
	e.Reason, e.RetryAfter = ReasonTooManyAttempts, seconds(retryAfter)
	return e
}

// InsufficientBalance is a 402 insufficient_balance: a metered client's
// balance does not cover the grant.
func InsufficientBalance() *Error {
	e := newError(http.StatusPaymentRequired, ErrCodeInsufficientBalance, "Insufficient token balance for this call; top up the balance.")
	e.Reason = ReasonInsufficientFunds
	return e
}

// OutsideHours is a 503 temporarily_unavailable outside operating hours,
// with Retry-After until the next opening (none when it never opens).
func OutsideHours(retryAfter time.Duration) *Error {
	e := newError(http.StatusServiceUnavailable, ErrCodeTemporarilyUnavailable, "The service is unavailable outside operating hours; retry after the time in Retry-After.")
	e.Reason = ReasonOutsideHours
	if retryAfter > 0 {
		e.RetryAfter = seconds(retryAfter)
	}
	return e
}

// signingUnavailable is the refusal of a token whose algorithm the signer
// cannot sign with: 503 temporarily_unavailable, with Retry-After until
// the algorithm's first key signs (none when the algorithm is not enabled:
// an operator must enable it or change the client's
// access_token_signing_alg).
func signingUnavailable(alg string, retryAfter time.Duration) *Error {
	e := newError(http.StatusServiceUnavailable, ErrCodeTemporarilyUnavailable,
		"The server cannot sign access tokens of the client's signing algorithm now.")
	e.Reason, e.Cause = ReasonNoSigningKey, fmt.Errorf("no key signs %s", alg)
	if retryAfter > 0 {
		e.RetryAfter = seconds(retryAfter)
	}
	return e
}

// singleUseUnavailable is the refusal of a request whose proof's or
// assertion's single use cannot be judged (the shared single-use records,
// Redis, do not answer): 503 temporarily_unavailable with Retry-After, as
// a replay check must never be skipped.
func singleUseUnavailable(cause error) *Error {
	e := newError(http.StatusServiceUnavailable, ErrCodeTemporarilyUnavailable,
		"The server cannot check the single use of the request's proof now; retry after the time in Retry-After.")
	e.Reason, e.RetryAfter, e.Cause = ReasonSingleUseUnavailable, 5, cause
	return e
}

// tooManyPending is the refusal of an authorization request or connect
// session over its cap (Provider.MaxPendingAuthRequests per client and
// address, MaxPendingConnectSessions per client): 429
// temporarily_unavailable, until some are decided or expire.
func tooManyPending(cause error) *Error {
	e := newError(http.StatusTooManyRequests, ErrCodeTemporarilyUnavailable,
		"The client has too many pending authorization requests; retry after the time in Retry-After.")
	e.Reason, e.RetryAfter, e.Cause = ReasonTooManyPending, 60, cause
	return e
}

// seconds rounds a wait up to whole seconds, at least 1 (Retry-After).
func seconds(d time.Duration) int {
	if d <= 0 {
		return 1
	}
	return int((d + time.Second - 1) / time.Second)
}

// AsError converts any error into an *Error; unknown errors become
// server_error.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ServerError(err)
}

// DescriptionText makes s a valid error_description (RFC 6749 §5.2 and
// §4.1.2.1: printable ASCII, %x20-21 / %x23-5B / %x5D-7E), for every wire
// that writes an RFC 6749 error and for error redirects: the ellipsis
// becomes three dots, a double or typographic quote a single quote, a
// backslash a slash, a dash a hyphen, and anything else outside the set a
// question mark.
func DescriptionText(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '…':
			b.WriteString("...")
		case r == '"', r == '‘', r == '’', r == '“', r == '”':
			b.WriteByte('\'')
		case r == '\\':
			b.WriteByte('/')
		case r == '–', r == '—':
			b.WriteByte('-')
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
