package admin

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/store"
)

const clientNotFound = "No client with that client_id."

// createClient: POST /admin/clients. 201 with the client and, this once,
// its secret (and its webhook secret, with a webhook_url).
func (a *api) createClient(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, true)
	if err != nil {
		return err
	}
	p, err := clients.DecodeParams(body)
	if err != nil {
		return err
	}
	c, secret, webhookSecret, err := a.clients.Register(r.Context(), p)
	if err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "admin: client created", "client_id", c.ID, "auth_method", c.AuthMethod,
		"webhook", c.WebhookURL != "")
	if c.State != store.ClientActive {
		a.stateChanged(r, c, "")
	}
	v := clients.NewView(c)
	v.ClientSecret, v.WebhookSecret = secret, webhookSecret
	w.Header().Set("Location", "/admin/clients/"+url.PathEscape(c.ID))
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// listClients: GET /admin/clients[?limit=&cursor=], oldest first, a page at
// a time.
func (a *api) listClients(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	cs, next, err := a.clients.ListPage(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, clients.NewListView(cs, next))
	return nil
}

// getClient: GET /admin/clients/{id}.
func (a *api) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.clients.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return clientErr(err)
	}
	writeJSON(w, http.StatusOK, clients.NewView(c))
	return nil
}

// patchClient: PATCH /admin/clients/{id}. Only the fields present change.
// A client given its first webhook_url gets a webhook secret, shown this
// once.
func (a *api) patchClient(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, true)
	if err != nil {
		return err
	}
	p, err := a.clients.Change(r.Context(), r.PathValue("id"), body)
	if err != nil {
		return clientErr(err)
	}
	a.log.InfoContext(r.Context(), "admin: client updated", "client_id", p.Client.ID, "new_webhook_secret", p.WebhookSecret != "")
	if p.StateChanged() {
		a.stateChanged(r, p.Client, p.PreviousState)
	}
	v := clients.NewView(p.Client)
	v.WebhookSecret = p.WebhookSecret
	writeJSON(w, http.StatusOK, v)
	return nil
}

// stateChanged is the audit line of a change of a client's state: from is
// "" when the client was just created.
func (a *api) stateChanged(r *http.Request, c store.Client, from string) {
	a.log.InfoContext(r.Context(), "client state changed", "client_id", c.ID, "from", from, "to", c.State,
		"reason", c.StateReason)
}

// rotateWebhookSecret: POST /admin/clients/{id}/webhook-secret. 200 with the
// client and, this once, its new webhook secret; the old one stops signing.
func (a *api) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, &struct{}{}, false); err != nil {
		return err
	}
	c, webhookSecret, err := a.clients.RotateWebhookSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		return clientErr(err)
	}
	a.log.InfoContext(r.Context(), "admin: webhook secret rotated", "client_id", c.ID)
	v := clients.NewView(c)
	v.WebhookSecret = webhookSecret
	writeJSON(w, http.StatusOK, v)
	return nil
}

// rotateSecret: POST /admin/clients/{id}/secret, with an optional body
// {"grace": …}. 201 with the new secret, shown this once, and until when the
// replaced one still authenticates.
func (a *api) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	var body clients.SecretRotation
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	rot, err := a.clients.RotateSecret(r.Context(), r.PathValue("id"), body)
	if errors.Is(err, clients.ErrPublicClient) {
		return apiError(http.StatusConflict, "public_client",
			"The client has no secret to rotate: it is public (token_endpoint_auth_method none) or authenticates with its keys (private_key_jwt).")
	}
	if err != nil {
		return clientErr(err)
	}
	v := clients.NewSecretView(rot)
	until := ""
	if v.PreviousSecretExpiresAt != nil {
		until = *v.PreviousSecretExpiresAt
	}
	a.log.InfoContext(r.Context(), "admin: client secret rotated", "client_id", rot.Client.ID,
		"previous_secret_expires_at", until)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// deleteClient: DELETE /admin/clients/{id}. 204.
func (a *api) deleteClient(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.clients.Delete(r.Context(), id); err != nil {
		return clientErr(err)
	}
	a.log.InfoContext(r.Context(), "admin: client deleted", "client_id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func clientErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(clientNotFound)
	}
	return err
}
