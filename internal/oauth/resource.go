package oauth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/store"
)

// Resource indicators (RFC 8707): a client names the protected resources
// it wants a token for with resource parameters; the token's aud is them.

// Bounds of resource indicators: how many one request may name (the wire
// bounds repeats the same) and how long one may be.
const (
	MaxResources   = 16
	maxResourceLen = 2048
)

// InvalidTarget is RFC 8707 §2's 400 invalid_target.
func InvalidTarget(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, ErrCodeInvalidTarget, format, args...)
}

// ValidResource reports whether s may be a resource indicator (RFC 8707
// §2): an absolute URI without a fragment, at most 2048 bytes of text.
func ValidResource(s string) bool {
	if s == "" || len(s) > maxResourceLen || !ValidText(s) || strings.ContainsAny(s, "# \t\r\n") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}

// resourceAllowed reports whether client c may ask for resource r: one of
// its own, one of the server's, or the default audience (the issuer when
// none is set).
func (p *Provider) resourceAllowed(c *store.Client, r string) bool {
	return slices.Contains(c.Security.AllowedResources, r) || slices.Contains(p.Resources, r) ||
		p.audience(nil).Contains(r)
}

// forUs reports whether a token's audience names grantd itself (its
// default audience): a token for another resource is not taken at
// grantd's own protected resource (RFC 8707's point: no replay of a token
// across resources).
func (p *Provider) forUs(aud []string) bool {
	if len(aud) == 0 {
		return true // a record from before resource indicators: the default's
	}
	return slices.ContainsFunc(p.audience(nil), func(a string) bool { return slices.Contains(aud, a) })
}

// checkResources checks the resources a request asks for: each a valid
// indicator the client may ask for and, for a token request of a grant
// (bound), one its authorization granted: a token request may narrow a
// grant's resources, never widen them (RFC 8707 §2.2). It returns them
// without duplicates, nil for none.
func (p *Provider) checkResources(c *store.Client, asked, granted []string, bound bool) ([]string, error) {
	if len(asked) > MaxResources {
		return nil, InvalidTarget("At most %d resources may be asked for.", MaxResources)
	}
	var out []string
	for _, r := range asked {
		switch {
		case r == "":
			continue // an empty parameter is an absent one (RFC 6749 §3.1)
		case !ValidResource(r):
			return nil, InvalidTarget("A resource must be an absolute URI without a fragment.")
		case !p.resourceAllowed(c, r):
			return nil, InvalidTarget("The client may not ask for the resource %s.", r)
		case bound && !slices.Contains(granted, r):
			return nil, InvalidTarget("The resource %s was not part of the authorization.", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// audienceOf is the aud of a token asked for resources asked, of a grant
// that granted granted: what was asked, else the whole grant, else nil (the
// default).
func audienceOf(asked, granted []string) []string {
	if len(asked) > 0 {
		return asked
	}
	return granted
}

// audience is a token's aud as it is issued: aud, or the default.
func (p *Provider) audience(aud []string) Audience {
	switch {
	case len(aud) > 0:
		return Audience(aud)
	case len(p.DefaultAudience) > 0:
		return Audience(p.DefaultAudience)
	}
	return Audience{p.Issuer}
}

// Audience is an aud claim (RFC 7519 §4.1.3): one string when it names one
// audience, an array otherwise.
type Audience []string

// MarshalJSON implements json.Marshaler.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON implements json.Unmarshaler: a string or an array of
// strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// Contains reports whether the audience names aud.
func (a Audience) Contains(aud string) bool { return slices.Contains(a, aud) }
