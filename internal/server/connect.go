package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/wire"
)

// connectSessionBody is POST /connect/sessions. products is a JSON array or
// a space-delimited string (the only form in a form body).
type connectSessionBody struct {
	ClientID     string          `json:"client_id"`
	ClientSecret *string         `json:"client_secret"`
	CustomerID   string          `json:"customer_id"`
	CustomerName string          `json:"customer_name"`
	Products     json.RawMessage `json:"products"`
	RedirectURI  string          `json:"redirect_uri"`
	ProviderID   string          `json:"provider_id"`
	State        string          `json:"state"`
}

// connectSessionResponse answers it.
type connectSessionResponse struct {
	SessionID  string `json:"session_id"`
	ConnectURL string `json:"connect_url"`
	ExpiresAt  string `json:"expires_at"`
}

// connectSession starts a connect flow for one of the client's customers.
// The client authenticates as at the token endpoint.
func (s *Server) connectSession(w http.ResponseWriter, r *http.Request) error {
	p, products, err := decodeConnectSession(r)
	if err != nil {
		return err
	}
	cred, cerr := wire.ClientCredentials(r, p)
	if cerr != nil {
		return cerr
	}
	c, err := s.o.Provider.AuthenticateClient(r.Context(), cred)
	if err != nil {
		return err
	}
	if c.IsPublic() {
		return oauth.UnauthorizedClient("Public clients may not create connect sessions.")
	}
	sess, err := s.o.Provider.CreateConnectSession(r.Context(), &c, oauth.ConnectSessionRequest{
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

// decodeConnectSession reads the body as Params (for client authentication)
// plus the product list.
func decodeConnectSession(r *http.Request) (wire.Params, []string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		p, err := wire.DecodeBody(r)
		if err != nil {
			return nil, nil, err
		}
		var products []string
		if p.Has("products") {
			products = strings.Fields(p["products"])
		}
		return p, products, nil
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e := oauth.InvalidRequest("The request body is too large.")
			e.Status = http.StatusRequestEntityTooLarge
			return nil, nil, e
		}
		return nil, nil, oauth.InvalidRequest("The request body could not be read.")
	}
	var b connectSessionBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || dec.More() {
		return nil, nil, oauth.InvalidRequest("The request body is not a valid connect session object.")
	}
	p := wire.Params{"customer_id": b.CustomerID, "customer_name": b.CustomerName, "redirect_uri": b.RedirectURI,
		"provider_id": b.ProviderID, "state": b.State}
	if b.ClientID != "" {
		p["client_id"] = b.ClientID
	}
	if b.ClientSecret != nil {
		p["client_secret"] = *b.ClientSecret
	}
	if err := p.CheckText(); err != nil {
		return nil, nil, err
	}
	var products []string
	if len(b.Products) > 0 && string(b.Products) != "null" {
		var one string
		if err := json.Unmarshal(b.Products, &products); err != nil {
			if err := json.Unmarshal(b.Products, &one); err != nil {
				return nil, nil, oauth.InvalidRequest("products must be an array of strings or a space-delimited string.")
			}
			products = strings.Fields(one)
		}
		if products == nil {
			products = []string{}
		}
	}
	return p, products, nil
}

// disconnect revokes the connection behind the bearer access token:
// DELETE /connections/current.
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) error {
	token, ok := bearer(r)
	if !ok {
		return &oauth.Error{Code: oauth.ErrCodeInvalidToken, Status: http.StatusUnauthorized,
			Description: "The request needs an access token as a Bearer credential."}
	}
	conn, err := s.o.Provider.DisconnectByToken(r.Context(), token)
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, map[string]string{"connection_id": conn.ID, "status": store.ConnectionRevoked})
	return nil
}

// bearer takes the token of "Authorization: Bearer <token>" (RFC 6750 §2.1).
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}
