package bankdata_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/dialect/bankdata"
	"github.com/grantd/grantd/internal/oauth"
)

// Micro-benchmarks of the dialect's translation alone: decoding a token
// request, encoding an answer and an error into an
// httptest.ResponseRecorder (whose own allocations are counted). The same
// three benchmarks are in every dialect's package (docs/benchmarks.md).

const (
	benchClientID = "0197a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b"
	benchSecret   = "gcs_Zk3vQ8mN2pL7xR4tW9yB1cD6fH0jK5sA3uE8gI2oT7q"
	benchCode     = "gac_Vb7nM2kL9pQ4rS8tU1wX5yZ3aC6dE0fG2hJ7kN4mP9q"
	benchRefresh  = "grt_Hq2wE7rT4yU9iO1pA6sD3fG8hJ5kL0zX2cV7bN4mQ1w"
	benchRedirect = "http://127.0.0.1:9876/callback"
	benchErrorID  = "5b0c8a2e-9d4f-4e1a-b7c3-2f6d8e0a1b3c"
	// benchJWT has about the size of grantd's ES256 access tokens.
	benchJWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjNmQjJ4IiwidHlwIjoiYXQrand0In0." +
		"eyJpc3MiOiJodHRwczovL2dyYW50ZC5leGFtcGxlIiwic3ViIjoiMDE5N2ExYjItM2M0ZC03ZTVmLThhOWItMGMxZDJlM2Y0YTViIiwiYXVkIjoiaHR0cHM6Ly9ncmFudGQuZXhhbXBsZSIsImV4cCI6MTc5ODc2MTYwMCwiaWF0IjoxNzk4NzU4MDAwLCJqdGkiOiI5ZjJlNGMxYS03YjNkLTRlNWYtOGExYi0yYzNkNGU1ZjZhN2IiLCJjbGllbnRfaWQiOiIwMTk3YTFiMi0zYzRkLTdlNWYtOGE5Yi0wYzFkMmUzZjRhNWIiLCJzY29wZSI6ImFjY291bnRzIHRyYW5zYWN0aW9ucyBiYWxhbmNlcyJ9." +
		"MEUCIQDx8k2v7mQ4pL9rT3wY6zB1cF5hJ0nS8uA2eG7iK4oM3qIgR5tW9yC2dE6fH1jL4nP8sU3vX7zA0bD5gI9kM2oQ6rT"
)

// rereadable is a request body that Reset lets Decode read again, so that
// the benchmarks time the dialect's decoding, not the building of a request.
type rereadable struct{ strings.Reader }

func (*rereadable) Close() error { return nil }

// basicHeader is an Authorization header with client_secret_basic
// credentials, form-encoded (RFC 6749 §2.3.1).
func basicHeader(id, secret string) http.Header {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r.Header
}

// benchDecode decodes body (of type ct, with the headers h) with d, and
// fails unless it gives want.
func benchDecode(b *testing.B, d dialect.Dialect, ct, body string, h http.Header, want oauth.TokenRequest) {
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
		if got != want {
			b.Fatalf("Decode = %+v, want %+v", got, want)
		}
	}
}

// benchEncode encodes res with d, and fails unless the answer is a 200
// whose JSON carries res's access token.
func benchEncode(b *testing.B, d dialect.Dialect, res *oauth.TokenResult) {
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

// benchEncodeError encodes e with d, and fails unless the answer has
// status and a JSON body.
func benchEncodeError(b *testing.B, d dialect.Dialect, e *oauth.Error, status int) {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, d.Path(), nil)
	w := httptest.NewRecorder()
	d.EncodeError(w, r, e, benchErrorID)
	if !json.Valid(w.Body.Bytes()) || w.Code != status {
		b.Fatalf("EncodeError: %d %s, want %d", w.Code, w.Body, status)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		d.EncodeError(w, r, e, benchErrorID)
		if w.Code != status || w.Body.Len() == 0 {
			b.Fatalf("EncodeError: %d %s, want %d", w.Code, w.Body, status)
		}
	}
}

// wrongSecret is the core's answer to a wrong client secret.
func wrongSecret(basic bool) *oauth.Error {
	e := oauth.InvalidClient(errors.New("wrong client secret"))
	e.Basic, e.Reason = basic, oauth.ReasonWrongSecret
	return e
}

func BenchmarkDecode(b *testing.B) {
	d := bankdata.New()
	b.Run("client_credentials_basic_json", func(b *testing.B) {
		benchDecode(b, d, "application/json", `{"grant_type":"client_credentials","scope":"accounts"}`,
			basicHeader(benchClientID, benchSecret), oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
				Client: oauth.ClientCredentials{ID: benchClientID, Secret: benchSecret, Presented: oauth.PresentedBasic},
				Scope:  "accounts"})
	})
	b.Run("authorization_code_post_json", func(b *testing.B) {
		body := `{"grant_type":"authorization_code","code":"` + benchCode + `","redirect_uri":"` + benchRedirect +
			`","client_id":"` + benchClientID + `","client_secret":"` + benchSecret + `"}`
		benchDecode(b, d, "application/json", body, nil, oauth.TokenRequest{GrantType: oauth.GrantAuthorizationCode,
			Client: oauth.ClientCredentials{ID: benchClientID, Secret: benchSecret, Presented: oauth.PresentedPost},
			Code:   benchCode, RedirectURI: benchRedirect})
	})
	b.Run("refresh_token_basic_form", func(b *testing.B) {
		body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {benchRefresh}}.Encode()
		benchDecode(b, d, "application/x-www-form-urlencoded", body, basicHeader(benchClientID, benchSecret),
			oauth.TokenRequest{GrantType: oauth.GrantRefreshToken, RefreshToken: benchRefresh,
				Client: oauth.ClientCredentials{ID: benchClientID, Secret: benchSecret, Presented: oauth.PresentedBasic}})
	})
}

func BenchmarkEncode(b *testing.B) {
	benchEncode(b, bankdata.New(), &oauth.TokenResult{AccessToken: benchJWT, TokenType: "Bearer", ExpiresIn: 3600,
		ExpiresAt: time.Now().Add(time.Hour), RefreshToken: benchRefresh, Scopes: []string{"accounts"},
		GrantType: oauth.GrantAuthorizationCode, Subject: "user-1", ClientID: benchClientID})
}

func BenchmarkEncodeError(b *testing.B) {
	benchEncodeError(b, bankdata.New(), wrongSecret(true), http.StatusUnauthorized)
}
