package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/store"
)

const connectionNotFound = "No connection with that id."

type connectionView struct {
	ID                 string   `json:"id"`
	ClientID           string   `json:"client_id"`
	CustomerID         string   `json:"customer_id"`
	CustomerName       string   `json:"customer_name"`
	ProviderID         string   `json:"provider_id"`
	Subject            string   `json:"subject"`
	Products           []string `json:"products"`
	EntityIDs          []string `json:"entity_ids"`
	ConnectionType     string   `json:"connection_type"`
	Environment        string   `json:"environment"`
	Status             string   `json:"status"`
	CreatedAt          string   `json:"created_at,omitempty"`
	ConsentExpiresAt   string   `json:"consent_expires_at,omitempty"`
	DataRetentionUntil string   `json:"data_retention_until,omitempty"`
	RevokedAt          string   `json:"revoked_at,omitempty"`
}

// newConnectionView shows a connection. An active connection whose consent
// has expired is shown as expired even before a cleanup job marks it so.
func newConnectionView(c store.Connection, now time.Time) connectionView {
	status := c.Status
	if status == store.ConnectionActive && !c.ConsentExpiresAt.IsZero() && !now.Before(c.ConsentExpiresAt) {
		status = store.ConnectionExpired
	}
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return connectionView{
		ID:                 c.ID,
		ClientID:           c.ClientID,
		CustomerID:         c.CustomerID,
		CustomerName:       c.CustomerName,
		ProviderID:         c.ProviderID,
		Subject:            c.Subject,
		Products:           orEmpty(c.Products),
		EntityIDs:          orEmpty(c.EntityIDs),
		ConnectionType:     c.ConnectionType,
		Environment:        c.Environment,
		Status:             status,
		CreatedAt:          clients.FormatTime(c.CreatedAt),
		ConsentExpiresAt:   clients.FormatTime(c.ConsentExpiresAt),
		DataRetentionUntil: clients.FormatTime(c.DataRetentionUntil),
		RevokedAt:          clients.FormatTime(c.RevokedAt),
	}
}

// listConnections: GET /admin/connections[?client_id=…&limit=&cursor=],
// newest first, a page at a time.
func (a *api) listConnections(w http.ResponseWriter, r *http.Request) error {
	clientID, err := queryParam(r, "client_id", maxIDLen)
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	cs, next, err := a.conns.ListConnections(r.Context(), clientID, p)
	if err != nil {
		return err
	}
	now := a.now()
	out := struct {
		Connections []connectionView `json:"connections"`
		NextCursor  string           `json:"next_cursor,omitempty"`
	}{Connections: make([]connectionView, 0, len(cs)), NextCursor: next}
	for _, c := range cs {
		out.Connections = append(out.Connections, newConnectionView(c, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getConnection: GET /admin/connections/{id}.
func (a *api) getConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := a.conns.GetConnection(r.Context(), r.PathValue("id"))
	if err != nil {
		return connectionErr(err)
	}
	writeJSON(w, http.StatusOK, newConnectionView(c, a.now()))
	return nil
}

// revokeConnection: POST /admin/connections/{id}/revoke. Revokes the
// connection and every token issued under it; revoking twice is not an
// error. Answers the connection.
func (a *api) revokeConnection(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, &struct{}{}, false); err != nil {
		return err
	}
	now := a.now().UTC()
	c, err := a.conns.RevokeConnection(r.Context(), r.PathValue("id"), now)
	if err != nil {
		return connectionErr(err)
	}
	a.log.InfoContext(r.Context(), "admin: connection revoked", "connection_id", c.ID, "client_id", c.ClientID)
	writeJSON(w, http.StatusOK, newConnectionView(c, now))
	return nil
}

func connectionErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(connectionNotFound)
	}
	return err
}
