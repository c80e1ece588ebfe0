// Package clients holds client registration: the parameters a client is
// registered with, their validation and defaults, and the Manager that
// creates, patches, lists and deletes clients in the store and rotates their
// secrets. The admin API, the CLI and RFC 7591/7592 dynamic registration
// share it.
package clients

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Params are the registration parameters of a client: the JSON body of
// POST /admin/clients. PATCH uses the same names; only the fields present
// change. A zero value means "the default". A client's balance is not a
// parameter: it starts at 0 and changes only through Manager.AdjustBalance
// (and the token charges of the core).
type Params struct {
	Name                    string          `json:"name"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	RedirectURIs            []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	Scope                   string          `json:"scope"`
	Environment             string          `json:"environment"`
	Tier                    string          `json:"tier"`
	State                   string          `json:"state"`
	StateReason             string          `json:"state_reason"`
	Metered                 bool            `json:"metered"`
	Overdraft               bool            `json:"overdraft"`
	OperatingHours          *store.Schedule `json:"operating_hours"`
	RefreshPolicy           string          `json:"refresh_policy"`
	RefreshIdleTimeout      Duration        `json:"refresh_idle_timeout"`
	RefreshTokenTTL         Duration        `json:"refresh_token_ttl"`
	AccessTokenTTL          Duration        `json:"access_token_ttl"`
	AccessTokenFormat       string          `json:"access_token_format"`
	AccessTokenSigningAlg   string          `json:"access_token_signing_alg"`
	DPoPBoundAccessTokens   bool            `json:"dpop_bound_access_tokens"`
	// AllowedResources are the resource indicators (RFC 8707) the client
	// may ask for besides the server's (--resource).
	AllowedResources []string `json:"allowed_resources"`
	// AllowedCORSOrigins are the web origins a browser-based client calls
	// the token and revocation endpoints from (CORS).
	AllowedCORSOrigins []string `json:"allowed_cors_origins"`
	// RequirePushedAuthorizationRequests is RFC 9126 §6's member: the
	// client's authorization requests must be pushed first.
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests"`
	// JWKS and JWKSURI are a private_key_jwt client's public keys (RFC
	// 7591 §2): a JWK Set, or where to fetch it; exactly one.
	JWKS    json.RawMessage `json:"jwks"`
	JWKSURI string          `json:"jwks_uri"`
	// TokenEndpointAuthSigningAlg is the one algorithm its assertions may
	// use; "" = any accepted.
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg"`
	// A tls_client_auth client's one certificate name (RFC 8705 §2.1.2).
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn"`
	TLSClientAuthSANDNS    string `json:"tls_client_auth_san_dns"`
	TLSClientAuthSANURI    string `json:"tls_client_auth_san_uri"`
	TLSClientAuthSANIP     string `json:"tls_client_auth_san_ip"`
	TLSClientAuthSANEmail  string `json:"tls_client_auth_san_email"`
	// TLSClientCertificateBoundAccessTokens is RFC 8705 §3.4's member.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens"`
	// Profile is the security profile the client is held to: "fapi2" (the
	// FAPI 2.0 Security Profile), "none", or "" for the server's default
	// (--fapi2 makes it fapi2 for clients that can be).
	Profile        string            `json:"profile"`
	ConsentTTL     Duration          `json:"consent_ttl"`
	RetentionTTL   Duration          `json:"retention_ttl"`
	ConsentURL     string            `json:"consent_url"`
	ResourceServer bool              `json:"resource_server"`
	WebhookURL     string            `json:"webhook_url"`
	Metadata       map[string]string `json:"metadata"`
}

// Duration is a time.Duration in JSON: it accepts a Go duration string
// ("720h", "30m") or an integer number of seconds, and marshals as integer
// seconds.
type Duration time.Duration

// MarshalJSON writes whole seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(time.Duration(d)/time.Second), 10), nil
}

// UnmarshalJSON reads a duration string or integer seconds. null leaves d
// unchanged, as for the built-in types.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if len(s) > 32 {
			return errors.New("duration string too long")
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: want a duration such as \"720h\" or integer seconds", s)
		}
		*d = Duration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return errors.New("invalid duration: want a duration string such as \"720h\" or integer seconds")
	}
	if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
		return errors.New("invalid duration: out of range")
	}
	*d = Duration(time.Duration(n) * time.Second)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// paramFields maps each JSON name of Params to its field index.
var paramFields = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Params]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[name] = i
	}
	return m
})

// DecodeParams decodes a JSON object into Params. Field names must match
// exactly (encoding/json alone would also accept "NAME"); unknown fields,
// wrong types and trailing data are refused with a 400 invalid_request
// *oauth.Error.
func DecodeParams(body []byte) (Params, error) {
	var p Params
	err := applyJSON(&p, body)
	return p, err
}

// applyJSON overwrites the fields of p present in body. A field given as
// null is reset to its zero value (the default). Every error is a 400
// invalid_request *oauth.Error whose description is safe to show.
func applyJSON(p *Params, body []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return oauth.InvalidRequest("The body is not a JSON object: %s.", jsonProblem(err))
	}
	if raw == nil {
		return oauth.InvalidRequest("The body must be a JSON object.")
	}
	fields := paramFields()
	var unknown []string
	for k := range raw {
		if _, ok := fields[k]; !ok {
			unknown = append(unknown, strconv.Quote(truncate(k, 64)))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		hint := ""
		if _, ok := raw["balance"]; ok {
			hint = " The balance changes only through POST /admin/clients/{id}/balance."
		}
		return oauth.InvalidRequest("Unknown field(s): %s.%s", strings.Join(unknown, ", "), hint)
	}
	v := reflect.ValueOf(p).Elem()
	for k, msg := range raw {
		f := v.Field(fields[k])
		if string(bytes.TrimSpace(msg)) == "null" {
			f.SetZero()
			continue
		}
		// Decode into a fresh value, so that a map is replaced, not merged.
		// Objects (operating_hours) refuse unknown members, as the body
		// does.
		nv := reflect.New(f.Type())
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(nv.Interface()); err != nil {
			return oauth.InvalidRequest("The field %s is invalid: %s.", k, jsonProblem(err))
		}
		f.Set(nv.Elem())
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return "expected " + te.Type.String() + ", got " + te.Value
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at offset %d", se.Offset)
	}
	return truncate(strings.TrimPrefix(err.Error(), "json: "), 128)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
