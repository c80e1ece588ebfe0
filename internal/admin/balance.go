package admin

import (
	"errors"
	"net/http"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/store"
)

// getBalance: GET /admin/clients/{id}/balance.
func (a *api) getBalance(w http.ResponseWriter, r *http.Request) error {
	c, err := a.clients.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return clientErr(err)
	}
	writeJSON(w, http.StatusOK, clients.NewBalanceView(c))
	return nil
}

// adjustBalance: POST /admin/clients/{id}/balance. 201 with the ledger entry
// and the balance after it; 200 with the same answer when the idempotency
// key was seen before, and nothing changes.
func (a *api) adjustBalance(w http.ResponseWriter, r *http.Request) error {
	var ch clients.BalanceChange
	if err := decodeBody(w, r, &ch, true); err != nil {
		return err
	}
	id := r.PathValue("id")
	e, replayed, err := a.clients.AdjustBalance(r.Context(), id, ch)
	if err != nil {
		return balanceErr(err)
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	} else {
		a.log.InfoContext(r.Context(), "admin: balance adjusted", "client_id", id, "entry_id", e.ID,
			"kind", e.Kind, "amount", e.Amount, "balance", e.Balance)
	}
	writeJSON(w, status, clients.NewAdjustmentView(id, e))
	return nil
}

// listLedger: GET /admin/clients/{id}/ledger[?limit=&cursor=], newest first.
func (a *api) listLedger(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	es, next, err := a.clients.Ledger(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return clientErr(err)
	}
	writeJSON(w, http.StatusOK, clients.NewLedgerPage(es, next))
	return nil
}

// balanceErr maps the store's refusals of a balance change to 404 and 409.
func balanceErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotMetered):
		return apiError(http.StatusConflict, "not_metered", "The client is not metered: set metered to true first.")
	case errors.Is(err, store.ErrInsufficientBalance):
		return apiError(http.StatusConflict, "insufficient_balance",
			"The debit would take the balance below zero, and the client does not allow overdraft.")
	case errors.Is(err, store.ErrConflict):
		return apiError(http.StatusConflict, "idempotency_conflict",
			"The idempotency_key was used before for this client with another amount.")
	}
	return clientErr(err)
}
