package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// maxCursorLen bounds a list cursor; cursors are the store's own text.
const maxCursorLen = 512

// errBadCursor answers a cursor that no list gave (the store's
// store.ErrInvalidCursor, or one the checks here refuse).
const errBadCursor = "The cursor parameter is not a cursor this server gave."

// queryParam returns the query parameter name ("" when absent), refusing
// one that is repeated or longer than maxLen bytes.
func queryParam(r *http.Request, name string, maxLen int) (string, error) {
	vs := r.URL.Query()[name]
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", oauth.InvalidRequest("The %s parameter is repeated.", name)
	case len(vs[0]) > maxLen:
		return "", oauth.InvalidRequest("The %s parameter is too long.", name)
	}
	return vs[0], nil
}

// page reads the list parameters limit (1 to clients.MaxPageLimit, default
// clients.DefaultPageLimit) and cursor (the next_cursor of the previous
// page).
func page(r *http.Request) (store.Page, error) {
	p := store.Page{Limit: clients.DefaultPageLimit}
	limit, err := queryParam(r, "limit", 8)
	if err != nil {
		return p, err
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > clients.MaxPageLimit {
			return p, oauth.InvalidRequest("The limit parameter must be an integer from 1 to %d.", clients.MaxPageLimit)
		}
		p.Limit = n
	}
	if p.After, err = queryParam(r, "cursor", maxCursorLen); err != nil {
		return p, err
	}
	if strings.IndexFunc(p.After, func(c rune) bool { return c <= ' ' || c > '~' }) >= 0 {
		return p, oauth.InvalidRequest(errBadCursor)
	}
	return p, nil
}
