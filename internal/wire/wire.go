// Package wire holds what every token endpoint's HTTP wire shares: body
// decoding (form and JSON) with typed reasons for what is wrong, the one
// parser of HTTP Basic credentials, client credentials from the header and
// the body, and JSON writing. The standard endpoints and every dialect use
// it, so that no dialect parses a body or a header a second time.
package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/oauth"
)

// Params is a decoded request body: every value a non-empty string, none
// repeated. An empty value is an absent parameter (RFC 6749 §3.1), and so
// is a JSON null.
type Params map[string]string

// Has reports whether a parameter was present with a value.
func (p Params) Has(k string) bool { _, ok := p[k]; return ok }

// Reasons of DecodeBody's errors (oauth.Error.Reason), for dialects whose
// error shapes tell them apart.
const (
	// ReasonMediaType: no Content-Type, or not form or JSON. The error's
	// Cause is a *MediaTypeError.
	ReasonMediaType = "body_media_type"
	// ReasonTooLarge: the body is over the server's bound (status 413).
	ReasonTooLarge = "body_too_large"
	// ReasonMalformed: not valid form encoding, not a flat JSON object of
	// strings, or unreadable.
	ReasonMalformed = "body_malformed"
	// ReasonRepeated: a parameter or JSON member appears twice.
	ReasonRepeated = "body_repeated"
	// ReasonTooMany: more parameters than any endpoint reads.
	ReasonTooMany = "body_too_many_parameters"
	// ReasonText: a name or value is not valid UTF-8 text, or holds a NUL.
	ReasonText = "body_invalid_text"
	// ReasonUnknownMember: a JSON member that Options.Members does not
	// name.
	ReasonUnknownMember = "body_unknown_member"
)

// MediaTypeError is the Cause of a ReasonMediaType error: the media type
// sent, "" when there was none or it did not parse.
type MediaTypeError struct{ MediaType string }

func (e *MediaTypeError) Error() string { return "unsupported media type" }

// Options change what Decode accepts.
type Options struct {
	// DefaultType is the media type of a body sent without Content-Type;
	// "" = such a body is refused.
	DefaultType string
	// Lists names the members a JSON body may give as arrays of strings.
	Lists []string
	// Repeated names the parameters that may be given more than once (RFC
	// 8707's resource): in a form body they may repeat, in a JSON body they
	// may be a string or an array of strings; either way they are returned
	// in the lists, never in Params. At most maxRepeats values each.
	Repeated []string
	// Members, when set, makes a JSON body a typed object: its members must
	// be among these (a case variant is another name), and their values
	// strings (or arrays, for Lists) or null. A form body's other fields
	// are ignored, as RFC 6749 §3.2 asks.
	Members []string
}

const (
	maxParams  = 64
	maxRepeats = 16
)

func failure(reason, format string, args ...any) *oauth.Error {
	return oauth.InvalidRequest(format, args...).With(reason, "")
}

// DecodeBody reads a form or JSON body (Decode with no options).
func DecodeBody(r *http.Request) (Params, *oauth.Error) {
	p, _, err := Decode(r, Options{})
	return p, err
}

// Decode reads a form or JSON body into Params, and the JSON arrays of
// o.Lists into lists. Both encodings are accepted by every token endpoint;
// parameters may not repeat (RFC 6749 §3.2), JSON member names are matched
// exactly (a case variant is another, unknown name), JSON values must be
// strings (numbers and booleans are taken as their text), and the body is
// bounded by the middleware. Every error has one of the Reason* reasons.
func Decode(r *http.Request, o Options) (Params, map[string][]string, *oauth.Error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = o.DefaultType
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/x-www-form-urlencoded" && mt != "application/json") {
		e := failure(ReasonMediaType, "The Content-Type must be application/x-www-form-urlencoded or application/json.")
		sent := ""
		if err == nil {
			sent = mt
		}
		e.Cause = &MediaTypeError{MediaType: sent}
		return nil, nil, e
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e := failure(ReasonTooLarge, "The request body is too large.")
			e.Status = http.StatusRequestEntityTooLarge
			return nil, nil, e
		}
		return nil, nil, failure(ReasonMalformed, "The request body could not be read.")
	}
	if mt == "application/json" {
		return decodeJSON(body, o)
	}
	return decodeForm(body, o)
}

func decodeForm(body []byte, o Options) (Params, map[string][]string, *oauth.Error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, failure(ReasonMalformed, "The request body is not valid form encoding.")
	}
	if len(v) > maxParams {
		return nil, nil, failure(ReasonTooMany, "The request has too many parameters.")
	}
	p := make(Params, len(v))
	var lists map[string][]string
	for k, vals := range v {
		if slices.Contains(o.Repeated, k) {
			l, err := repeated(k, vals)
			if err != nil {
				return nil, nil, err
			}
			if len(l) > 0 {
				if lists == nil {
					lists = map[string][]string{}
				}
				lists[k] = l
			}
			continue
		}
		if len(vals) > 1 {
			return nil, nil, failure(ReasonRepeated, "%s is repeated.", oauth.ParamPhrase(k))
		}
		if err := checkText(k, vals[0]); err != nil {
			return nil, nil, err
		}
		if vals[0] != "" {
			p[k] = vals[0]
		}
	}
	return p, lists, nil
}

// repeated checks the values of a parameter that may repeat: valid text, at
// most maxRepeats, empty ones dropped.
func repeated(k string, vals []string) ([]string, *oauth.Error) {
	if len(vals) > maxRepeats {
		return nil, failure(ReasonTooMany, "%s is given more than %d times.", oauth.ParamPhrase(k), maxRepeats)
	}
	var l []string
	for _, v := range vals {
		if err := checkText(k, v); err != nil {
			return nil, err
		}
		if v != "" {
			l = append(l, v)
		}
	}
	return l, nil
}

func decodeJSON(body []byte, o Options) (Params, map[string][]string, *oauth.Error) {
	bad := failure(ReasonMalformed, "The request body is not a flat JSON object of strings.")
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, bad
	}
	p := Params{}
	var lists map[string][]string
	seen := map[string]bool{} // names, including those whose value is null or ""
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, bad
		}
		k, _ := t.(string)
		if seen[k] {
			return nil, nil, failure(ReasonRepeated, "%s is repeated.", oauth.ParamPhrase(k))
		}
		seen[k] = true
		if len(seen) > maxParams {
			return nil, nil, failure(ReasonTooMany, "The request has too many parameters.")
		}
		if err := checkText(k, ""); err != nil {
			return nil, nil, err
		}
		if o.Members != nil && !slices.Contains(o.Members, k) {
			return nil, nil, failure(ReasonUnknownMember, "%s is not a member of this request (they are %s).",
				oauth.ParamPhrase(k), strings.Join(o.Members, ", "))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, bad
		}
		var val any
		if err := json.Unmarshal(raw, &val); err != nil {
			return nil, nil, bad
		}
		switch v := val.(type) {
		case string:
			if err := checkText(k, v); err != nil {
				return nil, nil, err
			}
			if v != "" && slices.Contains(o.Repeated, k) {
				if lists == nil {
					lists = map[string][]string{}
				}
				lists[k] = []string{v}
			} else if v != "" {
				p[k] = v
			}
		case nil:
			// null is the same as absent.
		case bool, float64:
			if o.Members != nil {
				return nil, nil, bad
			}
			p[k] = string(raw)
		case []any:
			if !slices.Contains(o.Lists, k) && !slices.Contains(o.Repeated, k) {
				return nil, nil, bad
			}
			if slices.Contains(o.Repeated, k) && len(v) > maxRepeats {
				return nil, nil, failure(ReasonTooMany, "%s is given more than %d times.", oauth.ParamPhrase(k), maxRepeats)
			}
			l := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, nil, bad
				}
				if err := checkText(k, s); err != nil {
					return nil, nil, err
				}
				l = append(l, s)
			}
			if lists == nil {
				lists = map[string][]string{}
			}
			lists[k] = l
		default:
			return nil, nil, bad
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, nil, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, bad
	}
	return p, lists, nil
}

// checkText refuses names and values that are not valid UTF-8 or hold a
// NUL: no client id, code or token can contain them, and no store keeps
// them.
func checkText(k, v string) *oauth.Error {
	if !oauth.ValidText(k) || !oauth.ValidText(v) {
		return failure(ReasonText, "%s is not valid UTF-8 text.", oauth.ParamPhrase(k))
	}
	return nil
}

// Basic is what an Authorization header carries in the Basic scheme.
type Basic struct {
	// Present: the header uses the Basic scheme (any case).
	Present bool
	// OK: the credentials are base64 of "id:secret" with a non-empty id,
	// all valid text.
	OK bool
	// RawID and RawSecret are the two parts as sent.
	RawID, RawSecret string
	// ID and Secret are the parts form-decoded (RFC 6749 §2.3.1), or as
	// sent where a part is not valid form encoding.
	ID, Secret string
	// Decoded: both parts were valid form encoding.
	Decoded bool
}

// ParseBasic is the one parser of HTTP Basic client credentials.
func ParseBasic(h http.Header) Basic {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "basic") {
		return Basic{}
	}
	b := Basic{Present: true}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return b
	}
	id, secret, found := strings.Cut(string(raw), ":")
	if !found || id == "" {
		return b
	}
	b.RawID, b.RawSecret, b.ID, b.Secret = id, secret, id, secret
	uid, err1 := url.QueryUnescape(id)
	if err1 == nil {
		b.ID = uid
	}
	usecret, err2 := url.QueryUnescape(secret)
	if err2 == nil {
		b.Secret = usecret
	}
	b.Decoded = err1 == nil && err2 == nil
	b.OK = b.ID != "" && oauth.ValidText(b.RawID) && oauth.ValidText(b.RawSecret) &&
		oauth.ValidText(b.ID) && oauth.ValidText(b.Secret)
	return b
}

// ClientCredentials takes the client's credentials from the Basic header and
// the body (RFC 6749 §2.3.1). Using both a header and a body secret is an
// error (§2.3: one method per request); a body client_id that disagrees with
// the header is too.
func ClientCredentials(r *http.Request, p Params) (oauth.ClientCredentials, *oauth.Error) {
	id, secret := p["client_id"], p["client_secret"]
	if b := ParseBasic(r.Header); b.Present {
		if !b.OK || !b.Decoded {
			e := oauth.InvalidClient(errors.New("malformed Basic header"))
			e.Basic = true
			return oauth.ClientCredentials{}, e
		}
		if p.Has("client_secret") {
			return oauth.ClientCredentials{}, oauth.InvalidRequest("The client used more than one authentication method.")
		}
		if id != "" && id != b.ID {
			e := oauth.InvalidClient(errors.New("client_id in body differs from Basic header"))
			e.Basic = true
			return oauth.ClientCredentials{}, e
		}
		return oauth.ClientCredentials{ID: b.ID, Secret: b.Secret, Presented: oauth.PresentedBasic}, nil
	}
	switch {
	case id != "" && secret != "":
		return oauth.ClientCredentials{ID: id, Secret: secret, Presented: oauth.PresentedPost}, nil
	case id != "":
		return oauth.ClientCredentials{ID: id, Presented: oauth.PresentedID}, nil
	}
	return oauth.ClientCredentials{}, nil
}

// ClientAuth is ClientCredentials for the standard endpoints, which also
// take a private_key_jwt client's assertion (RFC 7521 §4.2:
// client_assertion_type and client_assertion, with client_id optional). An
// assertion beside a Basic header or a client_secret is two methods
// (invalid_request); an assertion type other than RFC 7523's JWT is
// invalid_client (none such is supported).
func ClientAuth(r *http.Request, p Params) (oauth.ClientCredentials, *oauth.Error) {
	typ, a := p["client_assertion_type"], p["client_assertion"]
	switch {
	case typ == "" && a == "":
		return ClientCredentials(r, p)
	case ParseBasic(r.Header).Present || p.Has("client_secret"):
		return oauth.ClientCredentials{}, oauth.InvalidRequest("The client used more than one authentication method.")
	case typ == "" || a == "":
		return oauth.ClientCredentials{}, oauth.InvalidRequest("client_assertion and client_assertion_type go together.")
	case typ != oauth.ClientAssertionTypeJWT:
		return oauth.ClientCredentials{}, oauth.InvalidClient(errors.New("unsupported client_assertion_type"))
	}
	return oauth.ClientCredentials{ID: p["client_id"], Assertion: a, Presented: oauth.PresentedJWT}, nil
}

// WriteJSON writes v as the JSON body of an answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// NoStore marks a response that carries tokens or token metadata.
func NoStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}
