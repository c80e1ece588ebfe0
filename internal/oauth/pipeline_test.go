package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
)

// twice is a store whose Decide runs the core's decide function twice and
// keeps the second run's Writes, as a PostgreSQL transaction retried after
// a serialization failure does.
type twice struct {
	*sqlite.Store
	runs int
}

func (s *twice) Decide(ctx context.Context, key store.GrantKey, decide func(store.Locked) (store.Writes, error)) error {
	return s.Store.Decide(ctx, key, func(l store.Locked) (store.Writes, error) {
		s.runs++
		_, _ = decide(l)
		return decide(l)
	})
}

// TestDecideRunsTwice: what the core hands out is what the last run of its
// decision wrote: the refresh token it returns is the one stored, and its
// access tokens are the ones recorded.
func TestDecideRunsTwice(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &twice{Store: st}
	sg, err := signer.New(ctx, signer.Options{Store: st, KEK: make([]byte, 32), Algorithm: signer.ES256})
	if err != nil {
		t.Fatal(err)
	}
	p := &oauth.Provider{Store: s, Signer: sg, Issuer: "https://grantd.test", Catalogue: oauth.SandboxCatalogue()}
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	const redirect = "http://127.0.0.1:9876/callback"
	for _, format := range []string{store.TokenFormatJWT, store.TokenFormatOpaque} {
		c := store.Client{ID: uuid.NewString(), Name: "App", SecretHash: store.Hash(secret), AuthMethod: store.AuthMethodBasic,
			GrantTypes:    []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
			ResponseTypes: []string{"code"}, RedirectURIs: []string{redirect}, Scopes: []string{"accounts"},
			State: store.ClientActive, RefreshPolicy: store.RefreshRotating, TokenFormat: format, CreatedAt: time.Now()}
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		cred := oauth.ClientCredentials{ID: c.ID, Secret: secret, Presented: oauth.PresentedBasic}
		pr := oauth.Profile{Grants: []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
			RefreshTokens: true, RedirectURI: true, PKCE: true, Clients: oauth.ClientsAll}
		res, err := p.Authorize(ctx, url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}})
		if err != nil {
			t.Fatal(err)
		}
		to, err := p.Accept(ctx, res.Request.ID, oauth.Consent{Subject: "u", ProviderID: "sandbox-bank"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(to)
		active := func(what, tok string) {
			t.Helper()
			in, err := p.Introspect(ctx, cred, tok, nil)
			if err != nil || !in.Active {
				t.Errorf("%s (%s): introspection %+v, %v", what, format, in, err)
			}
		}
		code, err := p.Token(ctx, pr, oauth.TokenRequest{GrantType: oauth.GrantAuthorizationCode, Client: cred,
			Code: u.Query().Get("code"), RedirectURI: redirect})
		if err != nil {
			t.Fatal(err)
		}
		active("code's access token", code.AccessToken)
		active("code's refresh token", code.RefreshToken)
		next, err := p.Token(ctx, pr, oauth.TokenRequest{GrantType: oauth.GrantRefreshToken, Client: cred, RefreshToken: code.RefreshToken})
		if err != nil {
			t.Fatalf("the refresh token the code grant returned (%s): %v", format, err)
		}
		active("refresh's access token", next.AccessToken)
		if _, err := p.Token(ctx, pr, oauth.TokenRequest{GrantType: oauth.GrantRefreshToken, Client: cred, RefreshToken: next.RefreshToken}); err != nil {
			t.Fatalf("the refresh token the refresh returned (%s): %v", format, err)
		}
		cc, err := p.Token(ctx, pr, oauth.TokenRequest{GrantType: oauth.GrantClientCredentials, Client: cred})
		if err != nil {
			t.Fatal(err)
		}
		active("client-credentials token", cc.AccessToken)
	}
	if s.runs == 0 {
		t.Fatal("Decide never ran")
	}
}

// failingSigner signs nothing.
type failingSigner struct{ oauth.Signer }

func (failingSigner) Sign(context.Context, string, any) (string, error) { return "", errSign }

func (failingSigner) SignWait(string) (time.Duration, bool) { return 0, true }

var errSign = errors.New("the key is gone")

// costs charges every grant one credit, after the state rule.
type costs struct{}

func (costs) Check(ctx context.Context, r oauth.PolicyRequest) (oauth.PolicyResult, error) {
	if _, err := (oauth.StatePolicy{}).Check(ctx, r); err != nil {
		return oauth.PolicyResult{}, err
	}
	return oauth.PolicyResult{Cost: 1}, nil
}

// TestChargeRefundedWhenSigningFails: a charge committed with its grant
// comes back when the token cannot be signed: no charge without its token.
func TestChargeRefundedWhenSigningFails(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := &oauth.Provider{Store: st, Signer: failingSigner{}, Issuer: "https://grantd.test", Policy: costs{}}
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	c := store.Client{ID: uuid.NewString(), Name: "Metered", SecretHash: store.Hash(secret), AuthMethod: store.AuthMethodBasic,
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"accounts"}, State: store.ClientActive,
		TokenFormat: store.TokenFormatJWT, Metered: true, CreatedAt: time.Now()}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AdjustBalance(ctx, c.ID, store.LedgerEntry{Kind: store.LedgerTopUp, Amount: 1, Reason: "t",
		IdempotencyKey: "k", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	pr := oauth.Profile{Grants: []string{oauth.GrantClientCredentials}, Clients: oauth.ClientsAll}
	_, err = p.Token(ctx, pr, oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
		Client: oauth.ClientCredentials{ID: c.ID, Secret: secret, Presented: oauth.PresentedBasic}})
	if e := oauth.AsError(err); e.Status != 500 || !errors.Is(err, errSign) {
		t.Fatalf("Token: %v, want a server error from the signer", err)
	}
	got, _ := st.GetClient(ctx, c.ID)
	ledger, _, _ := st.ListLedger(ctx, c.ID, store.Page{})
	if got.Balance != 1 || len(ledger) != 3 || ledger[0].Kind != store.LedgerTopUp || ledger[0].Amount != 1 || ledger[1].Kind != store.LedgerCharge {
		t.Fatalf("balance %d, ledger %+v: want the charge refunded", got.Balance, ledger)
	}
}

// TestClaimsExpiry: the exp the signer reserves for (Claims.Expiry) is the
// exp the token carries.
func TestClaimsExpiry(t *testing.T) {
	for _, exp := range []int64{0, 1, 1767225600} {
		c := oauth.Claims{ExpiresAt: exp}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Exp int64 `json:"exp"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		want := time.Time{}
		if got.Exp != 0 {
			want = time.Unix(got.Exp, 0)
		}
		if !c.Expiry().Equal(want) {
			t.Errorf("exp %d: Expiry() = %v, the JSON's exp %v", exp, c.Expiry(), want)
		}
	}
}
