package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// maxBody bounds every request body the admin API reads. The listener's
// own bound (max_body_bytes, 64 KiB by default) applies first when it is
// lower; the answer names whichever limit the body hit.
const maxBody = 1 << 20

// handlerFunc is an admin handler: it writes a success answer itself and
// returns any error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *api) handle(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// apiError is an admin error with a public code and description.
func apiError(status int, code, desc string) *oauth.Error {
	return &oauth.Error{Status: status, Code: code, Description: desc}
}

func notFound(desc string) *oauth.Error { return apiError(http.StatusNotFound, "not_found", desc) }

// writeError is the one place that answers an error. A 5xx never shows its
// cause: the cause is logged with an id the answer carries.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve *clients.ValidationError
		oe *oauth.Error
		me *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ve):
		writeJSON(w, http.StatusBadRequest, errorBody{
			Error: oauth.ErrCodeInvalidClientMetadata, Description: strings.Join(ve.Problems, "; "),
		})
		return
	case errors.As(err, &me):
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{
			Error: oauth.ErrCodeInvalidRequest, Description: "The request body is larger than " + byteSize(me.Limit) + ".",
		})
		return
	case errors.As(err, &oe) && oe.Status > 0 && oe.Status < 500:
		if oe.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(oe.RetryAfter))
		}
		if oe.Cause != nil {
			a.log.InfoContext(r.Context(), "admin: request refused", "route", r.Pattern,
				"status", oe.Status, "error", oe.Code, "cause", oe.Cause)
		}
		writeJSON(w, oe.Status, errorBody{Error: oe.Code, Description: oe.Description})
		return
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Description: "No such resource."})
		return
	case errors.Is(err, store.ErrInvalidCursor):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: oauth.ErrCodeInvalidRequest, Description: errBadCursor})
		return
	}
	status := http.StatusInternalServerError
	if errors.As(err, &oe) && oe.Status >= 500 {
		status = oe.Status
	}
	id := oauth.RandomToken(6)
	a.log.ErrorContext(r.Context(), "admin: request failed", "route", r.Pattern,
		"status", status, "error_id", id, "cause", err)
	writeJSON(w, status, errorBody{
		Error:       oauth.ErrCodeServerError,
		Description: "An unexpected error occurred on the server (error id " + id + ").",
	})
}

// writeJSON writes v, rendered before the header goes out.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; none can fail to marshal.
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// readBody reads a request body of at most maxBody bytes. A non-empty body
// must be application/json; an empty one is refused when required.
func readBody(w http.ResponseWriter, r *http.Request, required bool) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return nil, err
		}
		return nil, oauth.InvalidRequest("The request body could not be read.").WithCause(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return nil, oauth.InvalidRequest("A JSON request body is required.")
		}
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, oauth.InvalidRequest("The request body must be application/json.")
	}
	return body, nil
}

// decodeBody reads a JSON object into v, refusing unknown fields and
// trailing data. An empty body leaves v unchanged unless required.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, required bool) error {
	body, err := readBody(w, r, required)
	if err != nil || body == nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return oauth.InvalidRequest("The request body is not valid: %s.", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return oauth.InvalidRequest("The request body has data after the JSON object.")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing values.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return "field " + te.Field + ": expected " + te.Type.String() + ", got " + te.Value
		}
		return "expected " + te.Type.String() + ", got " + te.Value
	case errors.As(err, &se):
		return "malformed JSON at offset " + strconv.FormatInt(se.Offset, 10)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON"
	}
	// e.g. `json: unknown field "x"`: names the field, not a value.
	return strings.TrimPrefix(err.Error(), "json: ")
}

// byteSize writes a body limit the way the docs do: 64 KiB, 1 MiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
