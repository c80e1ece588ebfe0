package server

import (
	"crypto/x509"
	"net/http"
	"strings"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/wire"
)

// connectSessionFields are the members of POST /connect/sessions; in a JSON
// body any other (a case variant included) is refused, and every value is a
// string (products also an array of strings).
var connectSessionFields = []string{"client_id", "client_secret", "customer_id", "customer_name", "products",
	"redirect_uri", "provider_id", "state"}

// connectSessionResponse answers it.
type connectSessionResponse struct {
	SessionID  string `json:"session_id"`
	ConnectURL string `json:"connect_url"`
	ExpiresAt  string `json:"expires_at"`
}

// connectSession starts a connect flow for one of the client's customers:
// POST /connect/sessions, JSON or form. products is a JSON array or a
// space-delimited string (the only form in a form body). The client
// authenticates as at the token endpoint.
func (s *Server) connectSession(w http.ResponseWriter, r *http.Request) error {
	p, lists, perr := wire.Decode(r, wire.Options{Lists: []string{"products"}, Members: connectSessionFields})
	if perr != nil {
		return perr
	}
	products, isList := lists["products"]
	if !isList && p.Has("products") {
		products = strings.Fields(p["products"])
		if products == nil {
			products = []string{}
		}
	}
	cred, cerr := wire.ClientAuth(r, p)
	if cerr != nil {
		return cerr
	}
	cred.Address, cred.Endpoint, cred.Certificates = s.clientAddress(r), s.endpointURL(r), s.peerCertificates(r)
	sess, err := s.o.Provider.CreateConnectSession(r.Context(), cred, oauth.ConnectSessionRequest{
		CustomerID: p["customer_id"], CustomerName: p["customer_name"], Products: products,
		RedirectURI: p["redirect_uri"], ProviderID: p["provider_id"], State: p["state"],
	})
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, connectSessionResponse{
		SessionID: sess.ID, ConnectURL: sess.ConnectURL,
		ExpiresAt: sess.Request.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"),
	})
	return nil
}

// disconnect revokes the connection behind the bearer access token:
// DELETE /connections/current.
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) error {
	token, proof, ok := s.accessToken(r)
	if !ok {
		return oauth.NoBearerToken()
	}
	var cert *x509.Certificate
	if certs := s.peerCertificates(r); len(certs) > 0 {
		cert = certs[0]
	}
	conn, err := s.o.Provider.DisconnectByToken(r.Context(), token, proof, cert)
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, map[string]string{"connection_id": conn.ID, "status": store.ConnectionRevoked})
	return nil
}

// accessToken takes the token of "Authorization: Bearer <token>" (RFC 6750
// §2.1) or "Authorization: DPoP <token>" (RFC 9449 §7.1), with the
// request's DPoP proof for the latter.
func (s *Server) accessToken(r *http.Request) (string, *oauth.DPoPRequest, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	switch {
	case !ok || token == "":
		return "", nil, false
	case strings.EqualFold(scheme, "Bearer"):
		return token, nil, true
	case strings.EqualFold(scheme, oauth.TokenTypeDPoP):
		return token, &oauth.DPoPRequest{Proofs: r.Header.Values(dpop.Header), Method: r.Method,
			URL: s.endpointURL(r)}, true
	}
	return "", nil, false
}

// bearer takes the token of "Authorization: Bearer <token>" (RFC 6750
// §2.1): an RFC 7592 registration access token is no DPoP token.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}
