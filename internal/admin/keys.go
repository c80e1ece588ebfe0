package admin

import (
	"net/http"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/signer"
)

type keyView struct {
	KID       string `json:"kid"`
	Algorithm string `json:"alg"`
	State     string `json:"state"`
	CreatedAt string `json:"created_at"`
}

type keysBody struct {
	KID  string    `json:"kid,omitempty"` // the new current key, after a rotation
	Keys []keyView `json:"keys"`
}

func keyViews(ks []signer.KeyInfo) []keyView {
	out := make([]keyView, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyView{KID: k.KID, Algorithm: k.Algorithm, State: k.State, CreatedAt: clients.FormatTime(k.CreatedAt)})
	}
	return out
}

// listKeys: GET /admin/keys, the published signing keys, current first.
func (a *api) listKeys(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, keysBody{Keys: keyViews(a.keys.Keys())})
	return nil
}

// rotateKey: POST /admin/keys/rotate. Makes a new current key; the old one
// stays published as previous.
func (a *api) rotateKey(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, &struct{}{}, false); err != nil {
		return err
	}
	kid, err := a.keys.Rotate(r.Context())
	if err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "admin: signing key rotated", "kid", kid)
	writeJSON(w, http.StatusOK, keysBody{KID: kid, Keys: keyViews(a.keys.Keys())})
	return nil
}
