package oauth2_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	standard "github.com/grantd/grantd/internal/dialect/oauth2"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/testenv"
)

// Micro-benchmarks of the dialect's translation alone: decoding a token
// request, encoding an answer and an error into an
// httptest.ResponseRecorder (whose own allocations are counted). The same
// three benchmarks are in every dialect's package (docs/benchmarks.md).

func BenchmarkDecode(b *testing.B) {
	d := standard.New()
	b.Run("client_credentials_basic_form", func(b *testing.B) {
		testenv.BenchDecode(b, d, "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=accounts+balances",
			testenv.BasicHeader(testenv.BenchClientID, testenv.BenchSecret), oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
				Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Secret: testenv.BenchSecret, Presented: oauth.PresentedBasic},
				Scope:  "accounts balances"})
	})
	b.Run("authorization_code_public_form", func(b *testing.B) {
		body := url.Values{"grant_type": {"authorization_code"}, "client_id": {testenv.BenchClientID}, "code": {testenv.BenchCode},
			"code_verifier": {testenv.BenchVerifier}, "redirect_uri": {testenv.BenchRedirect}}.Encode()
		testenv.BenchDecode(b, d, "application/x-www-form-urlencoded", body, nil, oauth.TokenRequest{
			GrantType: oauth.GrantAuthorizationCode, Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Presented: oauth.PresentedID},
			Code: testenv.BenchCode, RedirectURI: testenv.BenchRedirect, CodeVerifier: testenv.BenchVerifier})
	})
	b.Run("refresh_token_public_json", func(b *testing.B) {
		body := `{"grant_type":"refresh_token","client_id":"` + testenv.BenchClientID + `","refresh_token":"` + testenv.BenchRefresh + `"}`
		testenv.BenchDecode(b, d, "application/json", body, nil, oauth.TokenRequest{GrantType: oauth.GrantRefreshToken,
			Client: oauth.ClientCredentials{ID: testenv.BenchClientID, Presented: oauth.PresentedID}, RefreshToken: testenv.BenchRefresh})
	})
}

func BenchmarkEncode(b *testing.B) {
	testenv.BenchEncode(b, standard.New(), &oauth.TokenResult{AccessToken: testenv.BenchJWT, TokenType: "Bearer", ExpiresIn: 3600,
		ExpiresAt: time.Now().Add(time.Hour), RefreshToken: testenv.BenchRefresh, Scopes: []string{"accounts", "balances"},
		GrantType: oauth.GrantAuthorizationCode, Subject: "user-1", ClientID: testenv.BenchClientID})
}

func BenchmarkEncodeError(b *testing.B) {
	testenv.BenchEncodeError(b, standard.New(), testenv.WrongSecret(true), http.StatusUnauthorized)
}
