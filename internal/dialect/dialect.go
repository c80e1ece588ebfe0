// Package dialect defines how grantd serves token endpoints on its one
// core. Every token endpoint is a dialect: the standard RFC 6749 one
// (internal/dialect/oauth2, POST /oauth/token) and each seed's wire format.
// A dialect only translates: it decodes its wire into an oauth.TokenRequest
// and encodes the core's oauth.TokenResult or *oauth.Error into its wire.
// What the endpoint issues is its static Profile, which the core honours;
// the dialect holds no grant logic, and never touches the store or the keys
// (internal/walls checks the imports). The server mounts each enabled
// dialect at its path with one handler and one error writer.
//
// Each dialect lives in its own package under internal/dialect/.
package dialect

import (
	"net/http"

	"github.com/grantd/grantd/internal/oauth"
)

// Dialect is one token endpoint's wire format.
type Dialect interface {
	// Name is the dialect's key in the configuration (dialects.NAME).
	Name() string
	// Path is the default mount path (POST only), e.g. "/v1/tokens".
	Path() string
	// Profile is what the endpoint issues (docs/dialects.md has every
	// dialect's in one table). It is the same for every request.
	Profile() oauth.Profile
	// Decode reads the request into a core token request. Its errors are
	// *oauth.Error (with Reason and Param where it helps the dialect's
	// error encoder).
	Decode(r *http.Request) (oauth.TokenRequest, error)
	// Encode writes a successful answer.
	Encode(w http.ResponseWriter, r *http.Request, res *oauth.TokenResult)
	// ErrorEncoder writes the dialect's errors.
	ErrorEncoder
}

// ErrorEncoder writes errors in one wire's shape.
type ErrorEncoder interface {
	// EncodeError writes an error. id is a fresh UUID that the server also
	// logs with the error's private cause; dialects whose error shape has an
	// id field put it there. The server has set Cache-Control: no-store and
	// Retry-After already.
	EncodeError(w http.ResponseWriter, r *http.Request, e *oauth.Error, id string)
}
