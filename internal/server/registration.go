package server

import (
	"net/http"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/wire"
)

// GET, PUT and DELETE /oauth/register/{client_id}: the wire of the RFC 7592
// client configuration endpoint. The client authenticates with its
// registration access token as a Bearer credential; the rules (whose token,
// what an update may change) are clients.Registration's. Every error goes
// through s.fail in registrationErrors' shape: RFC 6750 for the token (401
// invalid_token with a Bearer challenge), RFC 7591 §3.2.2 for the metadata.

// registrationErrors is the error shape of the client configuration
// endpoint.
var registrationErrors = bearerErrors{standard}

// registrationToken is the Bearer token of the request, or the refusal of
// a request without one.
func registrationToken(r *http.Request) (string, error) {
	token, ok := bearer(r)
	if !ok {
		return "", clients.NoRegistrationToken()
	}
	return token, nil
}

// readRegistration: GET /oauth/register/{client_id} (RFC 7592 §2.1), the
// client information response. Its registration_access_token (REQUIRED by
// §3) is the one presented: only its hash is kept, and a read does not
// rotate it.
func (s *Server) readRegistration(w http.ResponseWriter, r *http.Request) error {
	token, err := registrationToken(r)
	if err != nil {
		return err
	}
	c, err := s.o.Registrar.ReadDynamic(r.Context(), r.PathValue("client_id"), token)
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, s.clientInformation(c, token))
	return nil
}

// updateRegistration: PUT /oauth/register/{client_id} (RFC 7592 §2.2). The
// token is checked before the body is read, so that a caller without it
// learns nothing of the validation; the update checks it again, in its
// transaction, and rotates it.
func (s *Server) updateRegistration(w http.ResponseWriter, r *http.Request) error {
	token, err := registrationToken(r)
	if err != nil {
		return err
	}
	id := r.PathValue("client_id")
	if _, err := s.o.Registrar.ReadDynamic(r.Context(), id, token); err != nil {
		return err
	}
	req, err := readClientMetadata(w, r)
	if err != nil {
		return err
	}
	if f := req.serverFields(); f != "" {
		return metadataError("An update must not include %s (RFC 7592 section 2.2).", f)
	}
	reg, err := s.o.Registrar.UpdateDynamic(r.Context(), id, token, req.metadata())
	if err != nil {
		return err
	}
	s.o.Logger.InfoContext(r.Context(), "client registration updated", "client_id", id,
		"redirect_uris", len(reg.Client.RedirectURIs))
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, s.clientInformation(reg.Client, reg.RegistrationToken))
	return nil
}

// deleteRegistration: DELETE /oauth/register/{client_id} (RFC 7592 §2.3),
// 204; the client's codes, tokens and connections go with it.
func (s *Server) deleteRegistration(w http.ResponseWriter, r *http.Request) error {
	token, err := registrationToken(r)
	if err != nil {
		return err
	}
	id := r.PathValue("client_id")
	if err := s.o.Registrar.DeleteDynamic(r.Context(), id, token); err != nil {
		return err
	}
	s.o.Logger.InfoContext(r.Context(), "client registration deleted", "client_id", id)
	wire.NoStore(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
