package payroll_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/dialect/payroll"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/testenv"
)

// Micro-benchmarks of the dialect's translation alone: decoding a token
// request, encoding an answer and an error into an
// httptest.ResponseRecorder (whose own allocations are counted). The same
// three benchmarks are in every dialect's package (docs/benchmarks.md).

func BenchmarkDecode(b *testing.B) {
	d := payroll.New()
	b.Run("json", func(b *testing.B) { // the SDK's
		body := `{"client_id":"` + testenv.BenchClientID + `","client_secret":"` + testenv.BenchSecret + `","code":"` + testenv.BenchCode +
			`","redirect_uri":"` + testenv.BenchRedirect + `"}`
		testenv.BenchDecode(b, d, "application/json", body, http.Header{payroll.VersionHeader: {payroll.DefaultVersion}},
			oauth.TokenRequest{GrantType: oauth.GrantAuthorizationCode, Code: testenv.BenchCode, RedirectURI: testenv.BenchRedirect,
				Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Secret: testenv.BenchSecret, Presented: oauth.PresentedPost}})
	})
}

func BenchmarkEncode(b *testing.B) {
	now := time.Now()
	products := []string{"directory", "employment", "individual"}
	testenv.BenchEncode(b, payroll.New(), &oauth.TokenResult{AccessToken: testenv.BenchJWT, TokenType: "Bearer", ExpiresIn: 31536000,
		ExpiresAt: now.Add(365 * 24 * time.Hour), Scopes: products, GrantType: oauth.GrantAuthorizationCode,
		Subject: "user-1", ClientID: testenv.BenchClientID, ClientEnvironment: "sandbox",
		Connection: &oauth.ConnectionInfo{ID: "242a5690-2c3d-4e5f-8a9b-0c1d2e3f4a5b", CustomerID: "customer-42",
			CustomerName: "Acme Inc.", ProviderID: "gusto", ConnectionType: oauth.ConnectionTypeProvider, Products: products,
			EntityIDs:        []string{"550e8400-e29b-41d4-a716-446655440000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
			ConsentExpiresAt: now.Add(365 * 24 * time.Hour)}})
}

func BenchmarkEncodeError(b *testing.B) {
	testenv.BenchEncodeError(b, payroll.New(), testenv.WrongSecret(false), http.StatusUnauthorized)
}
