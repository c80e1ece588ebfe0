package temptoken_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/dialect/temptoken"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/testenv"
)

// Micro-benchmarks of the dialect's translation alone: decoding a token
// request, encoding an answer and an error into an
// httptest.ResponseRecorder (whose own allocations are counted). The same
// three benchmarks are in every dialect's package (docs/benchmarks.md).

const benchTempToken = "gtt_Rk8vN3mQ7pL2xT9wY4zB6cF1hJ5nS0uA8eG3iK7oM2q"

func BenchmarkDecode(b *testing.B) {
	d := temptoken.New()
	want := oauth.TokenRequest{GrantType: oauth.GrantAuthorizationCode, Code: benchTempToken,
		Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Secret: testenv.BenchSecret, Presented: oauth.PresentedPost}}
	b.Run("json", func(b *testing.B) { // the seed's
		body := `{"client_id":"` + testenv.BenchClientID + `","client_secret":"` + testenv.BenchSecret + `","temp_token":"` + benchTempToken + `"}`
		testenv.BenchDecode(b, d, "application/json", body, nil, want)
	})
	b.Run("form", func(b *testing.B) {
		body := url.Values{"client_id": {testenv.BenchClientID}, "client_secret": {testenv.BenchSecret}, "temp_token": {benchTempToken}}.Encode()
		testenv.BenchDecode(b, d, "application/x-www-form-urlencoded", body, nil, want)
	})
}

func BenchmarkEncode(b *testing.B) {
	now := time.Now()
	testenv.BenchEncode(b, temptoken.New(), &oauth.TokenResult{AccessToken: testenv.BenchJWT, TokenType: "Bearer", ExpiresIn: 7776000,
		ExpiresAt: now.Add(90 * 24 * time.Hour), Scopes: []string{"accounts", "transactions"}, GrantType: oauth.GrantAuthorizationCode,
		Subject: "user-1", ClientID: testenv.BenchClientID, Connection: &oauth.ConnectionInfo{ID: "242a5690-2c3d-4e5f-8a9b-0c1d2e3f4a5b",
			ProviderID: "sandbox-bank", ConnectionType: oauth.ConnectionTypeProvider, Products: []string{"accounts", "transactions"},
			ConsentExpiresAt: now.Add(90 * 24 * time.Hour), DataRetentionUntil: now.Add(120 * 24 * time.Hour)}})
}

func BenchmarkEncodeError(b *testing.B) {
	testenv.BenchEncodeError(b, temptoken.New(), testenv.WrongSecret(false), http.StatusUnauthorized)
}
