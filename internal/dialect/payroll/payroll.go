// Package payroll serves the payroll/HRIS connection API's token endpoint
// (Finch's "Create Access Token", POST /auth/token) on grantd's core: an
// authorization code from a connect session or /oauth/authorize is exchanged
// for a long-lived access token and the connection's metadata. It only
// translates; docs/dialects.md (payroll) documents the wire and every decision
// taken where the seed document is silent.
package payroll

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/wire"
)

// Wire constants.
const (
	// VersionHeader selects the API version; absent means DefaultVersion.
	VersionHeader = "Finch-API-Version"
	// DefaultVersion is the version the seed calls current.
	DefaultVersion = "2020-09-17"
	// RequestIDHeader carries the error id (logged as error_id with the
	// private cause) on errors and the request id on success.
	RequestIDHeader = "Finch-Request-ID"
	// TokenType is the token_type of every answer, lowercase as documented.
	TokenType = "bearer"
)

// Error names and codes of the Finch error schema.
const (
	NameBadRequest         = "bad_request"
	NameInvalidGrant       = "invalid_grant_error"
	NameInvalidClient      = "invalid_client_error"
	NamePaymentRequired    = "payment_required"
	NameConflict           = "conflict_error"
	NameRateLimit          = "rate_limit_error"
	NameServiceUnavailable = "service_unavailable_error"
	NameServerError        = "server_error"

	FinchCodeInvalidRequest  = "invalid_request"
	FinchCodePaymentRequired = "payment_required"

	msgValidation    = "Failed to validate request."
	msgInvalidClient = "The provided application credentials were incorrect."
	msgServerError   = "An unexpected error occurred on the server."
)

// Dialect is the payroll token endpoint.
type Dialect struct{}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns the payroll dialect.
func New() *Dialect { return &Dialect{} }

// Name implements dialect.Dialect.
func (*Dialect) Name() string { return "payroll" }

// Path implements dialect.Dialect.
func (*Dialect) Path() string { return "/auth/token" }

// versionPattern is the seed's pattern for Finch-API-Version, anchored.
var versionPattern = regexp.MustCompile(`^[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$`)

// uuidPattern is the canonical 8-4-4-4-12 form (format: uuid).
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func validation(reason, param, format string, args ...any) *oauth.Error {
	return oauth.InvalidRequest(format, args...).With(reason, param)
}

// Profile implements dialect.Dialect: a code is exchanged for an access
// token that lives until the consent ends (the response has no refresh
// token); redirect_uri is on the wire, code_verifier is not.
func (*Dialect) Profile() oauth.Profile {
	return oauth.Profile{
		Grants:          []string{oauth.GrantAuthorizationCode},
		CodeKind:        oauth.CodeKindCode,
		UntilConsentEnd: true,
		RedirectURI:     true,
		Clients:         oauth.ClientsConfidential,
	}
}

// Decode implements dialect.Dialect. The request is the seed's
// CreateAccessTokenRequest in JSON (or form) encoding: client_id (a UUID),
// client_secret and code are required, redirect_uri is optional; other
// fields are ignored. A Basic header may carry the same credentials; see
// credentials.
func (*Dialect) Decode(r *http.Request) (oauth.TokenRequest, error) {
	if err := checkVersion(r.Header); err != nil {
		return oauth.TokenRequest{}, err
	}
	// The seed's Content-Type parameter defaults to application/json.
	p, _, perr := wire.Decode(r, wire.Options{DefaultType: "application/json"})
	if perr != nil {
		return oauth.TokenRequest{}, perr
	}
	cred, refused := credentials(r.Header, p)
	switch {
	case cred.ID == "":
		return oauth.TokenRequest{}, validation(oauth.ReasonMissingParam, "client_id", "The client_id field is required.")
	case cred.Secret == "":
		return oauth.TokenRequest{}, validation(oauth.ReasonMissingParam, "client_secret", "The client_secret field is required.")
	case p["code"] == "":
		return oauth.TokenRequest{}, validation(oauth.ReasonMissingParam, "code", "The code field is required.")
	case !uuidPattern.MatchString(cred.ID):
		return oauth.TokenRequest{}, validation(oauth.ReasonMalformedParam, "client_id", "The client_id field must be a UUID.")
	}
	if refused != nil {
		return oauth.TokenRequest{}, refused
	}
	// UUIDs are case-insensitive on input (RFC 9562 §4); grantd stores them
	// in lowercase.
	cred.ID = strings.ToLower(cred.ID)
	return oauth.TokenRequest{
		GrantType:   oauth.GrantAuthorizationCode,
		Client:      cred,
		Code:        p["code"],
		RedirectURI: p["redirect_uri"],
	}, nil
}

// checkVersion accepts an absent Finch-API-Version (the default version) or
// one well-formed calendar date; anything else is a validation error.
func checkVersion(h http.Header) *oauth.Error {
	vals := h.Values(VersionHeader)
	if len(vals) == 0 {
		return nil
	}
	bad := validation(oauth.ReasonMalformedParam, VersionHeader, "The %s header must be a date (YYYY-MM-DD).", VersionHeader)
	if len(vals) > 1 {
		return bad
	}
	v := strings.TrimSpace(vals[0])
	if !versionPattern.MatchString(v) {
		return bad
	}
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return bad // e.g. 2021-02-30
	}
	return nil
}

// credentials takes the client's credentials from the body, where the SDKs
// put them. A Basic header may also be sent: where the body lacks the id or
// the secret, the header supplies it; where both carry one, they must agree
// (as sent or form-decoded, since SDKs differ; ids case-insensitively, being
// UUIDs). A conflicting or malformed header is refused with invalid_client,
// returned apart so that the body's validation errors are reported first.
// Other Authorization schemes are ignored: the token endpoint takes no
// bearer token.
func credentials(h http.Header, p wire.Params) (cred oauth.ClientCredentials, refused *oauth.Error) {
	cred = oauth.ClientCredentials{ID: p["client_id"], Secret: p["client_secret"], Presented: oauth.PresentedPost}
	b := wire.ParseBasic(h)
	if !b.Present {
		return cred, nil
	}
	refuse := func(reason, why string) *oauth.Error {
		e := oauth.InvalidClient(errors.New(why))
		e.Basic, e.Reason = true, reason
		return e
	}
	if !b.OK {
		return cred, refuse(oauth.ReasonNoCredentials, "malformed Basic header")
	}
	if cred.ID != "" && !strings.EqualFold(cred.ID, b.RawID) && !strings.EqualFold(cred.ID, b.ID) ||
		cred.Secret != "" && cred.Secret != b.RawSecret && cred.Secret != b.Secret {
		return cred, refuse(oauth.ReasonWrongSecret, "Basic header credentials differ from the body's")
	}
	if cred.ID == "" {
		cred.ID = b.ID
	}
	if cred.Secret == "" {
		cred.Secret, cred.Presented = b.Secret, oauth.PresentedBasic
	}
	return cred, nil
}

// Response is the seed's CreateAccessTokenResponse. Nullable fields are
// pointers; arrays are never null.
type Response struct {
	AccessToken    string   `json:"access_token"`
	TokenType      string   `json:"token_type"`
	ConnectionID   string   `json:"connection_id"`
	CustomerID     *string  `json:"customer_id"`
	CustomerName   *string  `json:"customer_name"`
	AccountID      string   `json:"account_id"`
	ClientType     string   `json:"client_type"`
	CompanyID      string   `json:"company_id"`
	ConnectionType string   `json:"connection_type"`
	Products       []string `json:"products"`
	ProviderID     string   `json:"provider_id"`
	EntityIDs      []string `json:"entity_ids"`
}

// Encode implements dialect.Dialect.
func (*Dialect) Encode(w http.ResponseWriter, r *http.Request, resp *oauth.TokenResult) {
	if id := w.Header().Get("X-Request-Id"); id != "" {
		w.Header().Set(RequestIDHeader, id)
	}
	wire.WriteJSON(w, http.StatusOK, response(resp))
}

func response(resp *oauth.TokenResult) Response {
	conn := resp.Connection
	if conn == nil {
		conn = &oauth.ConnectionInfo{}
	}
	out := Response{
		AccessToken:  resp.AccessToken,
		TokenType:    TokenType,
		ConnectionID: conn.ID,
		CustomerID:   nullable(conn.CustomerID),
		CustomerName: nullable(conn.CustomerName),
		// Both deprecated ids carry the connection id, so that code that
		// still keys on either keeps one record per connection.
		AccountID:      conn.ID,
		CompanyID:      conn.ID,
		ClientType:     resp.ClientEnvironment,
		ConnectionType: conn.ConnectionType,
		Products:       nonNil(resp.Scopes),
		ProviderID:     conn.ProviderID,
		EntityIDs:      nonNil(conn.EntityIDs),
	}
	if out.ConnectionType == "" {
		out.ConnectionType = oauth.ConnectionTypeProvider
	}
	if out.ClientType == "" {
		out.ClientType = "sandbox" // the clients manager's default
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ErrorResponse is Finch's error schema.
type ErrorResponse struct {
	Code      int    `json:"code"`
	Name      string `json:"name"`
	FinchCode string `json:"finch_code,omitempty"`
	Message   string `json:"message"`
}

// EncodeError implements dialect.Dialect. The error id goes in the
// Finch-Request-ID header: the schema has no id field.
func (*Dialect) EncodeError(w http.ResponseWriter, r *http.Request, e *oauth.Error, id string) {
	body := errorResponse(e)
	if id != "" {
		w.Header().Set(RequestIDHeader, id)
	}
	if body.Code == http.StatusUnauthorized && e.Basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="grantd"`)
	}
	wire.WriteJSON(w, body.Code, body)
}

// errorResponse maps a core error to Finch's schema (the table in
// docs/dialects.md (payroll)). Descriptions of the core are public and never
// hold a secret; invalid_client and server errors get fixed messages.
func errorResponse(e *oauth.Error) ErrorResponse {
	switch {
	case e.Status >= 500 && e.Status != http.StatusServiceUnavailable:
		return ErrorResponse{Code: http.StatusInternalServerError, Name: NameServerError, Message: msgServerError}
	case e.Status == http.StatusServiceUnavailable:
		return ErrorResponse{Code: e.Status, Name: NameServiceUnavailable, FinchCode: e.Reason, Message: e.Description}
	case e.Status == http.StatusTooManyRequests:
		return ErrorResponse{Code: e.Status, Name: NameRateLimit, Message: e.Description}
	case e.Status == http.StatusPaymentRequired:
		return ErrorResponse{Code: e.Status, Name: NamePaymentRequired, FinchCode: FinchCodePaymentRequired, Message: e.Description}
	case e.Status == http.StatusConflict:
		return ErrorResponse{Code: e.Status, Name: NameConflict, FinchCode: e.Reason, Message: e.Description}
	case e.Code == oauth.ErrCodeInvalidClient:
		return ErrorResponse{Code: http.StatusUnauthorized, Name: NameInvalidClient, Message: msgInvalidClient}
	case e.Code == oauth.ErrCodeInvalidGrant && e.Reason == oauth.ReasonPKCE:
		// The wire has no code_verifier: name the cause, not the field.
		return ErrorResponse{Code: http.StatusBadRequest, Name: NameInvalidGrant,
			Message: "The authorization code was issued with a PKCE challenge, which this endpoint cannot verify."}
	case e.Code == oauth.ErrCodeInvalidGrant:
		return ErrorResponse{Code: http.StatusBadRequest, Name: NameInvalidGrant, Message: e.Description}
	case e.Code == oauth.ErrCodeInvalidRequest:
		status := e.Status
		if status < 400 || status > 499 {
			status = http.StatusBadRequest
		}
		return ErrorResponse{Code: status, Name: NameBadRequest, FinchCode: FinchCodeInvalidRequest, Message: msgValidation + " " + e.Description}
	default:
		// unauthorized_client (grant not allowed, client not active),
		// invalid_scope, unsupported_grant_type: a 400 whose finch_code is
		// the core's code.
		status := e.Status
		if status < 400 || status > 499 {
			status = http.StatusBadRequest
		}
		return ErrorResponse{Code: status, Name: NameBadRequest, FinchCode: e.Code, Message: e.Description}
	}
}
