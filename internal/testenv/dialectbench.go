package testenv

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
)

// The micro-benchmarks of every dialect's translation (each dialect
// package's bench_test.go): decoding a token request, encoding an answer
// and an error into an httptest.ResponseRecorder (whose own allocations
// are counted), with the requests' values below (docs/benchmarks.md).

const (
	BenchClientID = "0197a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b"
	BenchSecret   = "gcs_Zk3vQ8mN2pL7xR4tW9yB1cD6fH0jK5sA3uE8gI2oT7q"
	BenchCode     = "gac_Vb7nM2kL9pQ4rS8tU1wX5yZ3aC6dE0fG2hJ7kN4mP9q"
	BenchVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	BenchRefresh  = "grt_Hq2wE7rT4yU9iO1pA6sD3fG8hJ5kL0zX2cV7bN4mQ1w"
	BenchRedirect = "http://127.0.0.1:9876/callback"
	BenchErrorID  = "5b0c8a2e-9d4f-4e1a-b7c3-2f6d8e0a1b3c"
	// BenchJWT has about the size of grantd's ES256 access tokens.
	BenchJWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjNmQjJ4IiwidHlwIjoiYXQrand0In0." +
		"eyJpc3MiOiJodHRwczovL2dyYW50ZC5leGFtcGxlIiwic3ViIjoiMDE5N2ExYjItM2M0ZC03ZTVmLThhOWItMGMxZDJlM2Y0YTViIiwiYXVkIjoiaHR0cHM6Ly9ncmFudGQuZXhhbXBsZSIsImV4cCI6MTc5ODc2MTYwMCwiaWF0IjoxNzk4NzU4MDAwLCJqdGkiOiI5ZjJlNGMxYS03YjNkLTRlNWYtOGExYi0yYzNkNGU1ZjZhN2IiLCJjbGllbnRfaWQiOiIwMTk3YTFiMi0zYzRkLTdlNWYtOGE5Yi0wYzFkMmUzZjRhNWIiLCJzY29wZSI6ImFjY291bnRzIHRyYW5zYWN0aW9ucyBiYWxhbmNlcyJ9." +
		"MEUCIQDx8k2v7mQ4pL9rT3wY6zB1cF5hJ0nS8uA2eG7iK4oM3qIgR5tW9yC2dE6fH1jL4nP8sU3vX7zA0bD5gI9kM2oQ6rT"
)

// rereadable is a request body that Reset lets Decode read again, so that
// the benchmarks time the dialect's decoding, not the building of a request.
type rereadable struct{ strings.Reader }

func (*rereadable) Close() error { return nil }

// BasicHeader is an Authorization header with client_secret_basic
// credentials, form-encoded (RFC 6749 §2.3.1).
func BasicHeader(id, secret string) http.Header {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r.Header
}

// BenchDecode decodes body (of type ct, with the headers h) with d, and
// fails unless it gives want.
func BenchDecode(b *testing.B, d dialect.Dialect, ct, body string, h http.Header, want oauth.TokenRequest) {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, d.Path(), nil)
	for k, vs := range h {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	r.Header.Set("Content-Type", ct)
	rb := &rereadable{}
	r.Body = rb
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset(body)
		got, err := d.Decode(r)
		if err != nil {
			b.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			b.Fatalf("Decode = %+v, want %+v", got, want)
		}
	}
}

// BenchEncode encodes res with d, and fails unless the answer is a 200
// whose JSON carries res's access token.
func BenchEncode(b *testing.B, d dialect.Dialect, res *oauth.TokenResult) {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, d.Path(), nil)
	w := httptest.NewRecorder()
	d.Encode(w, r, res)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusOK || out["access_token"] != res.AccessToken {
		b.Fatalf("Encode: %d %s (%v)", w.Code, w.Body, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		d.Encode(w, r, res)
		if w.Code != http.StatusOK || w.Body.Len() == 0 {
			b.Fatalf("Encode: %d %s", w.Code, w.Body)
		}
	}
}

// BenchEncodeError encodes e with d, and fails unless the answer has
// status and a JSON body.
func BenchEncodeError(b *testing.B, d dialect.Dialect, e *oauth.Error, status int) {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, d.Path(), nil)
	w := httptest.NewRecorder()
	d.EncodeError(w, r, e, BenchErrorID)
	if !json.Valid(w.Body.Bytes()) || w.Code != status {
		b.Fatalf("EncodeError: %d %s, want %d", w.Code, w.Body, status)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		d.EncodeError(w, r, e, BenchErrorID)
		if w.Code != status || w.Body.Len() == 0 {
			b.Fatalf("EncodeError: %d %s, want %d", w.Code, w.Body, status)
		}
	}
}

// WrongSecret is the core's answer to a wrong client secret.
func WrongSecret(basic bool) *oauth.Error {
	e := oauth.InvalidClient(errors.New("wrong client secret"))
	e.Basic, e.Reason = basic, oauth.ReasonWrongSecret
	return e
}
