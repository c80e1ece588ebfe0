// Package bankapi serves the bank client-credentials API (seed
// 003_9d4d7a633e72d274): POST /v1/oauth/token with {client_id,
// client_secret}, answered with a bearer token. Errors are
// {errorId, code, text, parameter_name, parameter_value}, with 409 for a
// client whose state forbids tokens and 503 outside working hours.
// docs/dialects.md (bankapi) is the user's reference; this package only
// translates.
package bankapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/wire"
)

// Name and default path of the dialect.
const (
	Name = "bankapi"
	Path = "/v1/oauth/token"
)

// Error codes, UPPER_SNAKE_CASE. docs/dialects.md (bankapi) lists when each is
// sent and with which status.
const (
	CodeValidation           = "VALIDATION_ERROR"       // 400 (413 for a body too large)
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE" // 415
	CodeInvalidClient        = "INVALID_CLIENT"         // 401
	CodeInsufficientBalance  = "INSUFFICIENT_BALANCE"   // 402
	CodeUnauthorizedClient   = "UNAUTHORIZED_CLIENT"    // 403
	CodeClientStateConflict  = "CLIENT_STATE_CONFLICT"  // 409
	CodeRateLimited          = "RATE_LIMITED"           // 429
	CodeInternal             = "INTERNAL_ERROR"         // 500
	CodeOutsideWorkingHours  = "OUTSIDE_WORKING_HOURS"  // 503
	CodeServiceUnavailable   = "SERVICE_UNAVAILABLE"    // 503
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"     // 405, another method than POST
)

// SeedOutsideHoursText is the seed's text of its 503 answer.
const SeedOutsideHoursText = "The server is currently unavailable due to non-working hours. Please try again later."

// maxEchoLen bounds a parameter_value echoed back; longer values give null.
const maxEchoLen = 255

// reasonParam is the reason only this package sets (in Decode) and reads
// (in EncodeError): a validation error on one parameter.
const reasonParam = "bankapi_parameter"

// accepted are the body fields read; grant_type is accepted only as
// "client_credentials", for OAuth client libraries that always send it.
var accepted = []string{"client_id", "client_secret", "grant_type"}

// Dialect is the bank client-credentials wire.
type Dialect struct{}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns the dialect.
func New() *Dialect { return &Dialect{} }

// Name implements dialect.Dialect.
func (*Dialect) Name() string { return Name }

// Path implements dialect.Dialect.
func (*Dialect) Path() string { return Path }

// paramValue carries a validation error's parameter value from Decode to
// EncodeError, as the private cause of the *oauth.Error. Its text (which
// the server logs) holds the parameter's name only, never its value.
type paramValue struct {
	name  string
	value *string // nil = JSON null
}

func (p *paramValue) Error() string { return "invalid parameter " + p.name }

// invalid is a 400 validation error on one parameter. value is echoed only
// for parameters that are not secret and at most maxEchoLen bytes long.
func invalid(name string, value *string, format string, args ...any) *oauth.Error {
	if name == "client_secret" || (value != nil && !echoable(*value)) {
		value = nil
	}
	return &oauth.Error{Code: oauth.ErrCodeInvalidRequest, Status: http.StatusBadRequest,
		Description: fmt.Sprintf(format, args...), Reason: reasonParam, Param: name,
		Cause: &paramValue{name: name, value: value}}
}

// echoable reports whether a value may go back in parameter_value: short,
// and not shaped like any secret grantd issues (a client secret pasted into
// the wrong field must not come back).
func echoable(v string) bool {
	if len(v) > maxEchoLen {
		return false
	}
	for _, prefix := range []string{oauth.PrefixClientSecret, oauth.PrefixCode, oauth.PrefixTempToken,
		oauth.PrefixRefreshToken, oauth.PrefixAccessToken, "whsec_", "eyJ"} {
		if strings.Contains(v, prefix) {
			return false
		}
	}
	return true
}

// Profile implements dialect.Dialect: client_credentials for confidential
// clients.
func (*Dialect) Profile() oauth.Profile {
	return oauth.Profile{Grants: []string{oauth.GrantClientCredentials}, Clients: oauth.ClientsConfidential}
}

// Decode reads {client_id, client_secret} (JSON or form; a Basic header is
// accepted instead of the body pair) into a client_credentials request.
func (*Dialect) Decode(r *http.Request) (oauth.TokenRequest, error) {
	p, perr := wire.DecodeBody(r)
	if perr != nil {
		var mt *wire.MediaTypeError
		if perr.Reason == wire.ReasonMediaType && errors.As(perr.Cause, &mt) {
			var v *string
			if mt.MediaType != "" {
				v = &mt.MediaType
			}
			e := invalid("Content-Type", v, "The Content-Type must be application/json or application/x-www-form-urlencoded.")
			e.Status, e.Reason = http.StatusUnsupportedMediaType, wire.ReasonMediaType
			return oauth.TokenRequest{}, e
		}
		return oauth.TokenRequest{}, perr
	}
	var unknown []string
	for k := range p {
		if !slices.Contains(accepted, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		// A name grantd knows may be named back; any other is the client's
		// own text (a secret pasted as a field name) and is not echoed.
		slices.Sort(unknown)
		if k := unknown[0]; oauth.KnownParam(k) {
			return oauth.TokenRequest{}, invalid(k, nil, "The parameter %s is not supported; send client_id and client_secret only.", k)
		}
		e := invalid("", nil, "An unknown parameter was sent; send client_id and client_secret only.")
		return oauth.TokenRequest{}, e
	}
	if p.Has("grant_type") && p["grant_type"] != oauth.GrantClientCredentials {
		v := p["grant_type"]
		return oauth.TokenRequest{}, invalid("grant_type", &v, "The grant_type, when sent, must be client_credentials.")
	}
	cred, cerr := wire.ClientCredentials(r, p)
	if cerr != nil {
		if cerr.Code == oauth.ErrCodeInvalidRequest {
			// A Basic header and a body client_secret at once.
			return oauth.TokenRequest{}, invalid("client_secret", nil, "Send the client credentials either in the body or in a Basic Authorization header, not both.")
		}
		return oauth.TokenRequest{}, cerr
	}
	switch {
	case cred.ID == "":
		return oauth.TokenRequest{}, invalid("client_id", nil, "The client_id is required.")
	case len(cred.ID) > maxEchoLen:
		return oauth.TokenRequest{}, invalid("client_id", nil, "The client_id is too long.")
	case len(cred.Secret) > 512:
		return oauth.TokenRequest{}, invalid("client_secret", nil, "The client_secret is too long.")
	}
	// A client_id without a secret: the core refuses it at this endpoint
	// for confidential clients (oauth.ReasonSecretRequired).
	return oauth.TokenRequest{GrantType: oauth.GrantClientCredentials, Client: cred}, nil
}

// response is the 200 answer (the seed's schema is empty: this is the
// OAuth 2.0 one, documented in docs/dialects.md (bankapi)).
type response struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// Encode implements dialect.Dialect.
func (*Dialect) Encode(w http.ResponseWriter, _ *http.Request, resp *oauth.TokenResult) {
	wire.WriteJSON(w, http.StatusOK, response{
		AccessToken: resp.AccessToken,
		TokenType:   resp.TokenType,
		ExpiresIn:   resp.ExpiresIn,
		Scope:       oauth.JoinScope(resp.Scopes),
	})
}

// errorBody is the seed's error shape; parameter_name and parameter_value
// are always present, null when the error is not about one parameter.
type errorBody struct {
	ErrorID        string  `json:"errorId"`
	Code           string  `json:"code"`
	Text           string  `json:"text"`
	ParameterName  *string `json:"parameter_name"`
	ParameterValue *string `json:"parameter_value"`
}

// EncodeError implements dialect.Dialect.
func (*Dialect) EncodeError(w http.ResponseWriter, _ *http.Request, e *oauth.Error, id string) {
	status, code, text := classify(e)
	out := errorBody{ErrorID: id, Code: code, Text: text}
	if e.Param != "" && (code == CodeValidation || code == CodeUnsupportedMediaType) {
		out.ParameterName = new(e.Param)
		var pv *paramValue
		if errors.As(e.Cause, &pv) && pv.name == e.Param && pv.name != "client_secret" {
			out.ParameterValue = pv.value
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="grantd"`)
	}
	wire.WriteJSON(w, status, out)
}

// classify maps a decode or core error to the dialect's status, code and
// text. Texts are the dialect's own or the core's public description, which
// never holds a secret.
func classify(e *oauth.Error) (status int, code, text string) {
	switch e.Reason {
	case wire.ReasonMediaType:
		return http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, e.Description
	case wire.ReasonTooLarge:
		return http.StatusRequestEntityTooLarge, CodeValidation, e.Description
	case wire.ReasonMalformed, wire.ReasonRepeated, wire.ReasonTooMany, wire.ReasonText:
		return http.StatusBadRequest, CodeValidation, e.Description
	case oauth.ReasonSecretRequired:
		return http.StatusBadRequest, CodeValidation, "The client_secret is required."
	case reasonParam, oauth.ReasonMissingParam, oauth.ReasonMalformedParam, oauth.ReasonScopeNotAllowed:
		return http.StatusBadRequest, CodeValidation, e.Description
	case oauth.ReasonNoCredentials, oauth.ReasonUnknownClient, oauth.ReasonWrongSecret:
		return http.StatusUnauthorized, CodeInvalidClient, "Client authentication failed."
	case oauth.ReasonClientState:
		return http.StatusConflict, CodeClientStateConflict, orDefault(e.Description, "The client's state does not allow it to obtain tokens.")
	case oauth.ReasonGrantNotAllowed:
		return http.StatusForbidden, CodeUnauthorizedClient, "The client may not use the client_credentials grant."
	case oauth.ReasonInsufficientFunds:
		return http.StatusPaymentRequired, CodeInsufficientBalance, orDefault(e.Description, "The client's balance is insufficient.")
	case oauth.ReasonRateLimited:
		return http.StatusTooManyRequests, CodeRateLimited, orDefault(e.Description, "Too many requests; retry after the time in Retry-After.")
	case oauth.ReasonOutsideHours:
		// The seed's own text.
		return http.StatusServiceUnavailable, CodeOutsideWorkingHours, SeedOutsideHoursText
	}
	// No reason this dialect knows: classify by code and status (a policy
	// may refuse with any status).
	switch st := e.Status; {
	case e.Code == oauth.ErrCodeInvalidClient || st == http.StatusUnauthorized:
		return http.StatusUnauthorized, CodeInvalidClient, "Client authentication failed."
	case st == http.StatusPaymentRequired:
		return st, CodeInsufficientBalance, orDefault(e.Description, "The client's balance is insufficient.")
	case st == http.StatusForbidden:
		return st, CodeUnauthorizedClient, orDefault(e.Description, "The client may not obtain tokens.")
	case st == http.StatusConflict:
		return st, CodeClientStateConflict, orDefault(e.Description, "The client's state does not allow it to obtain tokens.")
	case st == http.StatusTooManyRequests:
		return st, CodeRateLimited, orDefault(e.Description, "Too many requests; retry later.")
	case st == http.StatusServiceUnavailable:
		return st, CodeServiceUnavailable, orDefault(e.Description, "The service is temporarily unavailable; retry later.")
	case st == http.StatusMethodNotAllowed:
		return st, CodeMethodNotAllowed, orDefault(e.Description, "Use POST for this endpoint.")
	case st >= 400 && st < 500:
		return http.StatusBadRequest, CodeValidation, orDefault(e.Description, "The request is invalid.")
	}
	return http.StatusInternalServerError, CodeInternal, "An unexpected error occurred; quote the errorId when reporting it."
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
