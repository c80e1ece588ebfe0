// Package dialect defines how grantd serves other providers' token-endpoint
// wire formats on its one core. A dialect only translates: it decodes its
// wire into an oauth.TokenRequest, and encodes the core's result or error
// into its wire. It holds no grant logic, and never touches the store or the
// keys. The server mounts each enabled dialect at its path and runs the same
// pipeline for all (oauth.Provider.Token).
//
// Each dialect lives in its own package under internal/dialect/.
package dialect

import (
	"context"
	"net/http"

	"github.com/grantd/grantd/internal/oauth"
)

// Dialect is one token-endpoint wire format.
type Dialect interface {
	// Name is the dialect's key in the configuration (dialects.NAME).
	Name() string
	// Path is the default mount path (POST only), e.g. "/v1/tokens".
	Path() string
	// Decode reads the request into a core token request. Its errors are
	// *oauth.Error (with Reason and Param where it helps the dialect's
	// error encoder).
	Decode(r *http.Request) (oauth.TokenRequest, error)
	// Encode writes a successful answer.
	Encode(w http.ResponseWriter, r *http.Request, resp *oauth.TokenResponse)
	// EncodeError writes an error. id is a fresh UUID that the server also
	// logs with the error's private cause; dialects whose error shape has an
	// id field put it there.
	EncodeError(w http.ResponseWriter, r *http.Request, e *oauth.Error, id string)
}

// Token is the core's token pipeline, as the dialects' handler calls it.
type Token interface {
	Token(ctx context.Context, req oauth.TokenRequest) (*oauth.TokenResponse, error)
}
