package bankdata_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/dialect/bankdata"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/testenv"
)

// Micro-benchmarks of the dialect's translation alone: decoding a token
// request, encoding an answer and an error into an
// httptest.ResponseRecorder (whose own allocations are counted). The same
// three benchmarks are in every dialect's package (docs/benchmarks.md).

func BenchmarkDecode(b *testing.B) {
	d := bankdata.New()
	b.Run("client_credentials_basic_json", func(b *testing.B) {
		testenv.BenchDecode(b, d, "application/json", `{"grant_type":"client_credentials","scope":"accounts"}`,
			testenv.BasicHeader(testenv.BenchClientID, testenv.BenchSecret), oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
				Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Secret: testenv.BenchSecret, Presented: oauth.PresentedBasic},
				Scope:  "accounts"})
	})
	b.Run("authorization_code_post_json", func(b *testing.B) {
		body := `{"grant_type":"authorization_code","code":"` + testenv.BenchCode + `","redirect_uri":"` + testenv.BenchRedirect +
			`","client_id":"` + testenv.BenchClientID + `","client_secret":"` + testenv.BenchSecret + `"}`
		testenv.BenchDecode(b, d, "application/json", body, nil, oauth.TokenRequest{GrantType: oauth.GrantAuthorizationCode,
			Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Secret: testenv.BenchSecret, Presented: oauth.PresentedPost},
			Code:   testenv.BenchCode, RedirectURI: testenv.BenchRedirect})
	})
	b.Run("refresh_token_basic_form", func(b *testing.B) {
		body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {testenv.BenchRefresh}}.Encode()
		testenv.BenchDecode(b, d, "application/x-www-form-urlencoded", body, testenv.BasicHeader(testenv.BenchClientID, testenv.BenchSecret),
			oauth.TokenRequest{GrantType: oauth.GrantRefreshToken, RefreshToken: testenv.BenchRefresh,
				Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Secret: testenv.BenchSecret, Presented: oauth.PresentedBasic}})
	})
}

func BenchmarkEncode(b *testing.B) {
	testenv.BenchEncode(b, bankdata.New(), &oauth.TokenResult{AccessToken: testenv.BenchJWT, TokenType: "Bearer", ExpiresIn: 3600,
		ExpiresAt: time.Now().Add(time.Hour), RefreshToken: testenv.BenchRefresh, Scopes: []string{"accounts"},
		GrantType: oauth.GrantAuthorizationCode, Subject: "user-1", ClientID: testenv.BenchClientID})
}

func BenchmarkEncodeError(b *testing.B) {
	testenv.BenchEncodeError(b, bankdata.New(), testenv.WrongSecret(true), http.StatusUnauthorized)
}
