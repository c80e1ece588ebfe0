package bankapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/dialect/bankapi"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/testenv"
)

// Micro-benchmarks of the dialect's translation alone: decoding a token
// request, encoding an answer and an error into an
// httptest.ResponseRecorder (whose own allocations are counted). The same
// three benchmarks are in every dialect's package (docs/benchmarks.md).

func BenchmarkDecode(b *testing.B) {
	d := bankapi.New()
	b.Run("json", func(b *testing.B) { // the seed's
		testenv.BenchDecode(b, d, "application/json", `{"client_id":"`+testenv.BenchClientID+`","client_secret":"`+testenv.BenchSecret+`"}`, nil,
			oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
				Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Secret: testenv.BenchSecret, Presented: oauth.PresentedPost}})
	})
	b.Run("basic_form", func(b *testing.B) { // an OAuth client library's
		testenv.BenchDecode(b, d, "application/x-www-form-urlencoded", url.Values{"grant_type": {"client_credentials"}}.Encode(),
			basicHeader(testenv.BenchClientID, testenv.BenchSecret), oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
				Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Secret: testenv.BenchSecret, Presented: oauth.PresentedBasic}})
	})
}

func BenchmarkEncode(b *testing.B) {
	testenv.BenchEncode(b, bankapi.New(), &oauth.TokenResult{AccessToken: testenv.BenchJWT, TokenType: "Bearer", ExpiresIn: 3600,
		ExpiresAt: time.Now().Add(time.Hour), Scopes: []string{"accounts", "transactions", "balances"},
		GrantType: oauth.GrantClientCredentials, Subject: testenv.BenchClientID, ClientID: testenv.BenchClientID})
}

func BenchmarkEncodeError(b *testing.B) {
	testenv.BenchEncodeError(b, bankapi.New(), testenv.WrongSecret(false), http.StatusUnauthorized)
}
