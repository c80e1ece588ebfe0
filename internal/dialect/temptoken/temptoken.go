// Package temptoken serves the consent temp-token exchange (seed
// 000_7b3fd0ddf46ab75a): POST /v1/tokens with client_id, client_secret and
// temp_token in the body, answered with the consent (credentials_id), an
// access token and the consent's two deadlines. Errors are
// {id, type, http, code, message}. docs/dialects.md (temptoken) is the user's
// reference; this package only translates.
package temptoken

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/wire"
)

// Name and default path of the dialect.
const (
	Name = "temptoken"
	Path = "/v1/tokens"
)

// TimeFormat is the UTC layout of consent_exp and max_data_retention.
const TimeFormat = "2006-01-02T15:04:05Z"

// Error types (the generic class of an error).
const (
	TypeInvalidRequest = "invalid_request" // 400, 413: the request itself is wrong
	TypeUnauthorized   = "unauthorized"    // 401: a credential or the consent is not accepted
	TypePayment        = "payment_required"
	TypeRateLimited    = "rate_limited"
	TypeUnavailable    = "unavailable"
	TypeInternal       = "internal_error"
)

// Error codes (the specific cause). docs/dialects.md (temptoken) lists when
// each is sent.
const (
	CodeInvalidHeaders        = "invalid_headers"
	CodeInvalidBody           = "invalid_body"
	CodeUnknownFields         = "unknown_fields"
	CodeMissingFields         = "missing_fields"
	CodeInvalidInput          = "invalid_input"
	CodeInvalidClientID       = "invalid_client_id"
	CodeInvalidClientSecret   = "invalid_client_secret"
	CodeUnauthorizedTenant    = "unauthorized_tenant"
	CodeInvalidTempToken      = "invalid_temp_token"
	CodeExpiredTempToken      = "expired_temp_token"
	CodeTempTokenUsed         = "temp_token_already_used"
	CodeInactiveCredentials   = "inactive_credentials"
	CodeInsufficientBalance   = "insufficient_balance"
	CodeTooManyRequests       = "too_many_requests"
	CodeOutsideOperatingHours = "outside_operating_hours"
	CodeTemporarilyUnavail    = "temporarily_unavailable"
	CodeInternal              = "internal_error"
)

// Reasons that only this package sets (in Decode) and reads (in
// EncodeError); the core's reasons are oauth.Reason*.
const (
	reasonHeaderConflict = "temptoken_header_conflict"
	reasonUnknownFields  = "temptoken_unknown_fields"
)

// The request's fields, in the seed's order.
var fields = []string{"client_id", "client_secret", "temp_token"}

// Dialect is the temp-token exchange wire.
type Dialect struct{}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns the dialect.
func New() *Dialect { return &Dialect{} }

// Name implements dialect.Dialect.
func (*Dialect) Name() string { return Name }

// Path implements dialect.Dialect.
func (*Dialect) Path() string { return Path }

// Profile implements dialect.Dialect: a temp token is exchanged for an
// access token that lives until the consent ends; the wire has no
// redirect_uri, code_verifier or refresh token.
func (*Dialect) Profile() oauth.Profile {
	return oauth.Profile{
		Grants:          []string{oauth.GrantAuthorizationCode},
		CodeKind:        oauth.CodeKindTempToken,
		UntilConsentEnd: true,
		Clients:         oauth.ClientsConfidential,
	}
}

// Decode reads the three body fields (JSON or form) into an
// authorization_code request for a temp token, with the credentials
// presented in the body.
func (*Dialect) Decode(r *http.Request) (oauth.TokenRequest, error) {
	p, perr := wire.DecodeBody(r)
	if perr != nil {
		return oauth.TokenRequest{}, perr
	}
	var known []string
	others := 0
	for k := range p {
		switch {
		case slices.Contains(fields, k):
		case oauth.KnownParam(k):
			known = append(known, k)
		default:
			// The client's own text (it could be a secret sent as a field
			// name): counted, never echoed.
			others++
		}
	}
	if len(known)+others > 0 {
		slices.Sort(known)
		var msg string
		switch {
		case len(known) == 0:
			msg = "The body has unknown fields."
		case others > 0 || len(known) > 5:
			msg = "Unknown fields: " + strings.Join(known[:min(5, len(known))], ", ") + " and others."
		default:
			msg = "Unknown fields: " + strings.Join(known, ", ") + "."
		}
		return oauth.TokenRequest{}, reqError(reasonUnknownFields, "", "%s The accepted fields are client_id, client_secret and temp_token.", msg)
	}
	var missing []string
	for _, f := range fields {
		if p[f] == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return oauth.TokenRequest{}, reqError(oauth.ReasonMissingParam, missing[0],
			"Missing required fields: %s.", strings.Join(missing, ", "))
	}
	id, secret := p["client_id"], p["client_secret"]
	if !basicAgrees(r, id, secret) {
		return oauth.TokenRequest{}, reqError(reasonHeaderConflict, "Authorization",
			"The Authorization header does not carry the client_id and client_secret of the body; send the credentials in the body only.")
	}
	return oauth.TokenRequest{
		GrantType: oauth.GrantAuthorizationCode,
		Code:      p["temp_token"],
		Client:    oauth.ClientCredentials{ID: id, Secret: secret, Presented: oauth.PresentedPost},
	}, nil
}

// basicAgrees reports whether the request has no Basic header, or one that
// carries exactly the body's credentials (as sent or form-decoded, RFC 6749
// §2.3.1). The body is authoritative; a header that says otherwise is
// refused rather than silently ignored.
func basicAgrees(r *http.Request, id, secret string) bool {
	b := wire.ParseBasic(r.Header)
	if !b.Present {
		return true // no header, or another scheme: not credentials for us
	}
	if !b.OK {
		return false
	}
	same := func(i, s string) bool {
		return i == id && subtle.ConstantTimeCompare([]byte(s), []byte(secret)) == 1
	}
	return same(b.RawID, b.RawSecret) || b.Decoded && same(b.ID, b.Secret)
}

func reqError(reason, param, format string, args ...any) *oauth.Error {
	return &oauth.Error{Code: oauth.ErrCodeInvalidRequest, Status: http.StatusBadRequest,
		Description: fmt.Sprintf(format, args...), Reason: reason, Param: param}
}

// response is the seed's 200 answer, exactly.
type response struct {
	CredentialsID    string  `json:"credentials_id"`
	AccessToken      string  `json:"access_token"`
	ConsentExp       *string `json:"consent_exp"`
	MaxDataRetention *string `json:"max_data_retention"`
}

// Encode implements dialect.Dialect.
func (*Dialect) Encode(w http.ResponseWriter, _ *http.Request, resp *oauth.TokenResult) {
	out := response{AccessToken: resp.AccessToken}
	if c := resp.Connection; c != nil {
		out.CredentialsID = c.ID
		out.ConsentExp = timestamp(c.ConsentExpiresAt)
		out.MaxDataRetention = timestamp(c.DataRetentionUntil)
	}
	wire.WriteJSON(w, http.StatusOK, out)
}

// timestamp formats a deadline; a consent without one gives null.
func timestamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(TimeFormat)
	return &s
}

// errorBody is the seed's error shape.
type errorBody struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	HTTP    int    `json:"http"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// EncodeError implements dialect.Dialect.
func (*Dialect) EncodeError(w http.ResponseWriter, _ *http.Request, e *oauth.Error, id string) {
	status, typ, code, msg := classify(e)
	wire.WriteJSON(w, status, errorBody{ID: id, Type: typ, HTTP: status, Code: code, Message: msg})
}

// classify maps a core or decode error to the dialect's status, type, code
// and message. Messages are the dialect's own, or the core's public
// description, which never holds a secret.
func classify(e *oauth.Error) (status int, typ, code, msg string) {
	const tt = "The temp_token is invalid"
	switch e.Reason {
	case wire.ReasonMediaType:
		return http.StatusBadRequest, TypeInvalidRequest, CodeInvalidHeaders,
			"The Content-Type header must be application/json or application/x-www-form-urlencoded."
	case reasonHeaderConflict:
		return http.StatusBadRequest, TypeInvalidRequest, CodeInvalidHeaders, e.Description
	case wire.ReasonTooLarge:
		return http.StatusRequestEntityTooLarge, TypeInvalidRequest, CodeInvalidBody, e.Description
	case wire.ReasonMalformed, wire.ReasonRepeated, wire.ReasonTooMany, wire.ReasonText:
		return http.StatusBadRequest, TypeInvalidRequest, CodeInvalidBody, e.Description
	case reasonUnknownFields:
		return http.StatusBadRequest, TypeInvalidRequest, CodeUnknownFields, e.Description
	case oauth.ReasonMissingParam:
		return http.StatusBadRequest, TypeInvalidRequest, CodeMissingFields, e.Description
	case oauth.ReasonUnknownClient:
		return http.StatusBadRequest, TypeInvalidRequest, CodeInvalidClientID, "The client_id does not identify a registered app."
	case oauth.ReasonWrongSecret:
		return http.StatusUnauthorized, TypeUnauthorized, CodeInvalidClientSecret, "The client_secret is not valid for this client_id."
	case oauth.ReasonClientState:
		return http.StatusUnauthorized, TypeUnauthorized, CodeUnauthorizedTenant, e.Description
	case oauth.ReasonGrantNotAllowed:
		return http.StatusUnauthorized, TypeUnauthorized, CodeUnauthorizedTenant, "The app may not exchange temp tokens."
	case oauth.ReasonCodeInvalid:
		return http.StatusUnauthorized, TypeUnauthorized, CodeInvalidTempToken, tt + " or was not issued to this app."
	case oauth.ReasonCodeExpired:
		return http.StatusUnauthorized, TypeUnauthorized, CodeExpiredTempToken, "The temp_token has expired; start the consent flow again."
	case oauth.ReasonCodeUsed:
		return http.StatusUnauthorized, TypeUnauthorized, CodeTempTokenUsed, "The temp_token has already been exchanged; the access token issued for it has been revoked."
	case oauth.ReasonConsentEnded:
		return http.StatusUnauthorized, TypeUnauthorized, CodeInactiveCredentials, e.Description
	case oauth.ReasonInsufficientFunds:
		return http.StatusPaymentRequired, TypePayment, CodeInsufficientBalance, orDefault(e.Description, "The app's balance is insufficient.")
	case oauth.ReasonRateLimited:
		return http.StatusTooManyRequests, TypeRateLimited, CodeTooManyRequests, orDefault(e.Description, "Too many requests; retry after the time in Retry-After.")
	case oauth.ReasonOutsideHours:
		return http.StatusServiceUnavailable, TypeUnavailable, CodeOutsideOperatingHours, orDefault(e.Description, "The service is closed outside operating hours; retry after the time in Retry-After.")
	}
	// No reason this dialect knows: classify by status (a policy may refuse
	// with any status).
	switch st := e.Status; {
	case st == http.StatusUnauthorized, st == http.StatusForbidden, st == http.StatusConflict:
		return st, TypeUnauthorized, CodeUnauthorizedTenant, orDefault(e.Description, "The app may not obtain tokens now.")
	case st == http.StatusPaymentRequired:
		return st, TypePayment, CodeInsufficientBalance, orDefault(e.Description, "The app's balance is insufficient.")
	case st == http.StatusTooManyRequests:
		return st, TypeRateLimited, CodeTooManyRequests, orDefault(e.Description, "Too many requests; retry later.")
	case st == http.StatusServiceUnavailable:
		return st, TypeUnavailable, CodeTemporarilyUnavail, orDefault(e.Description, "The service is temporarily unavailable; retry later.")
	case st >= 400 && st < 500:
		return st, TypeInvalidRequest, CodeInvalidInput, orDefault(e.Description, "The request is invalid.")
	}
	return http.StatusInternalServerError, TypeInternal, CodeInternal,
		"An unexpected error occurred; quote the id when reporting it."
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
