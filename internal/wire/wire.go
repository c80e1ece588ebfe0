// Package wire holds what every token endpoint's HTTP wire shares: body
// decoding (form and JSON), client credentials from the Basic header and the
// body, and JSON writing. The standard endpoints and every dialect use it.
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
	"strings"

	"github.com/grantd/grantd/internal/oauth"
)

// Params is a decoded request body: every value a string, none repeated.
type Params map[string]string

// CheckText refuses names and values that are not valid UTF-8 or hold a
// NUL: no client id, code or token can contain them, and no store keeps them.
func (p Params) CheckText() *oauth.Error {
	for k, v := range p {
		if !oauth.ValidText(k) || !oauth.ValidText(v) {
			return oauth.InvalidRequest("The %s parameter is not valid UTF-8 text.", oauth.SafeName(k))
		}
	}
	return nil
}

// Has reports whether a parameter was present (even empty).
func (p Params) Has(k string) bool { _, ok := p[k]; return ok }

const maxParams = 64

// DecodeBody reads a form or JSON body into Params. Both encodings are
// accepted by every token endpoint; parameters may not repeat (RFC 6749
// §3.2), JSON values must be strings (numbers and booleans are taken as
// their text), and the body is bounded by the middleware.
func DecodeBody(r *http.Request) (Params, *oauth.Error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return nil, oauth.InvalidRequest("The Content-Type must be application/x-www-form-urlencoded or application/json.")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e := oauth.InvalidRequest("The request body is too large.")
			e.Status = http.StatusRequestEntityTooLarge
			return nil, e
		}
		return nil, oauth.InvalidRequest("The request body could not be read.")
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		return decodeForm(body)
	case "application/json":
		return decodeJSON(body)
	default:
		return nil, oauth.InvalidRequest("The Content-Type must be application/x-www-form-urlencoded or application/json.")
	}
}

func decodeForm(body []byte) (Params, *oauth.Error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauth.InvalidRequest("The request body is not valid form encoding.")
	}
	if len(v) > maxParams {
		return nil, oauth.InvalidRequest("The request has too many parameters.")
	}
	p := make(Params, len(v))
	for k, vals := range v {
		if len(vals) > 1 {
			return nil, oauth.InvalidRequest("The %s parameter is repeated.", oauth.SafeName(k))
		}
		p[k] = vals[0]
	}
	return p, p.CheckText()
}

func decodeJSON(body []byte) (Params, *oauth.Error) {
	bad := oauth.InvalidRequest("The request body is not a flat JSON object of strings.")
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad
	}
	p := Params{}
	seen := map[string]bool{} // keys, including those whose value is null
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		k, _ := t.(string)
		if seen[k] {
			return nil, oauth.InvalidRequest("The %s parameter is repeated.", oauth.SafeName(k))
		}
		seen[k] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad
		}
		var val any
		if err := json.Unmarshal(raw, &val); err != nil {
			return nil, bad
		}
		switch v := val.(type) {
		case string:
			p[k] = v
		case nil:
			// null is the same as absent.
		case bool, float64:
			p[k] = string(raw)
		default:
			return nil, bad
		}
		if len(p) > maxParams {
			return nil, oauth.InvalidRequest("The request has too many parameters.")
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad
	}
	return p, p.CheckText()
}

// ClientCredentials takes the client's credentials from the Basic header and
// the body (RFC 6749 §2.3.1). Using both a header and a body secret is an
// error (§2.3: one method per request); a body client_id that disagrees with
// the header is too.
func ClientCredentials(r *http.Request, p Params) (oauth.ClientCredentials, *oauth.Error) {
	id, secret := p["client_id"], p["client_secret"]
	auth := r.Header.Get("Authorization")
	if len(auth) > 6 && strings.EqualFold(auth[:6], "basic ") {
		hid, hsecret, ok := parseBasic(auth[6:])
		if !ok {
			e := oauth.InvalidClient(errors.New("malformed Basic header"))
			e.Basic = true
			return oauth.ClientCredentials{}, e
		}
		if p.Has("client_secret") {
			return oauth.ClientCredentials{}, oauth.InvalidRequest("The client used more than one authentication method.")
		}
		if id != "" && id != hid {
			e := oauth.InvalidClient(errors.New("client_id in body differs from Basic header"))
			e.Basic = true
			return oauth.ClientCredentials{}, e
		}
		return oauth.ClientCredentials{ID: hid, Secret: hsecret, Presented: oauth.PresentedBasic}, nil
	}
	switch {
	case id != "" && p.Has("client_secret"):
		return oauth.ClientCredentials{ID: id, Secret: secret, Presented: oauth.PresentedPost}, nil
	case id != "":
		return oauth.ClientCredentials{ID: id, Presented: oauth.PresentedID}, nil
	}
	return oauth.ClientCredentials{}, nil
}

// parseBasic decodes "base64(urlencode(id):urlencode(secret))".
func parseBasic(s string) (id, secret string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", "", false
	}
	rid, rsecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(rid); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(rsecret); err != nil {
		return "", "", false
	}
	return id, secret, id != "" && oauth.ValidText(id) && oauth.ValidText(secret)
}

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
