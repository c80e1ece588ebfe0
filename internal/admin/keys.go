package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/signer"
)

// keysBody is what the keys routes answer: each key as signer.KeyInfo
// marshals it (kid, alg, state, created_at, activates_at, keep_until).
type keysBody struct {
	Rotated []signer.KeyInfo `json:"rotated,omitempty"` // the new next keys, after a rotation
	Keys    []signer.KeyInfo `json:"keys"`
}

// listKeys: GET /admin/keys, every stored (so published) signing key:
// current keys first, then next, then retired.
func (a *api) listKeys(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, keysBody{Keys: a.keys.Keys()})
	return nil
}

// rotateKey: POST /admin/keys/rotate, optionally {"alg": "…"}. Adds a next
// key of the algorithm (of every algorithm the server signs with, by
// default), published at once and signing after the publication delay; the
// current key signs until then, and stays published as long as its tokens
// need.
func (a *api) rotateKey(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Alg string `json:"alg"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if algs := a.keys.Algorithms(); body.Alg != "" && !slices.Contains(algs, body.Alg) {
		return oauth.InvalidRequest("alg: the server signs with %s only.", strings.Join(algs, ", "))
	}
	rotated, err := a.keys.Rotate(r.Context(), body.Alg)
	if err != nil {
		return err
	}
	for _, k := range rotated {
		a.log.InfoContext(r.Context(), "admin: signing key rotated", "kid", k.KID, "alg", k.Algorithm, "activates_at", k.ActivatesAt)
	}
	writeJSON(w, http.StatusOK, keysBody{Rotated: rotated, Keys: a.keys.Keys()})
	return nil
}
