package oauth

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
)

// Micro-benchmarks of the core's hot steps, each on a real SQLite file
// where the step reads the store (docs/benchmarks.md). The whole token
// request is BenchmarkCoreClientCredentialsJWT in internal/server.

// benchStore is a fresh SQLite store for b, closed when b ends.
func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "grantd.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchClient stores a confidential client (client_secret_basic,
// client_credentials, three scopes, token format, algorithm alg) and
// returns it with its secret. It has obtained a token before, as a client
// in steady use has.
func benchClient(b *testing.B, st *sqlite.Store, format, alg string) (store.Client, string) {
	b.Helper()
	secret := PrefixClientSecret + RandomToken(32)
	now := time.Now().UTC()
	c := store.Client{ID: uuid.NewString(), Name: "Bench App", SecretHash: store.Hash(secret), AuthMethod: store.AuthMethodBasic,
		GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"accounts", "transactions", "balances"},
		Environment: "sandbox", State: store.ClientActive, TokenFormat: format, AccessTokenSigningAlg: alg,
		CreatedAt: now, UpdatedAt: now, FirstTokenAt: now}
	if err := st.CreateClient(context.Background(), c); err != nil {
		b.Fatal(err)
	}
	return c, secret
}

// BenchmarkAuthenticateClient is the pipeline's client authentication of
// a confidential endpoint: a store read of the client (GetClient) and the
// secret check (SHA-256 and two constant-time compares), with the secret
// right (ok) or wrong (wrong_secret: the same work, and an *Error).
func BenchmarkAuthenticateClient(b *testing.B) {
	st := benchStore(b)
	c, secret := benchClient(b, st, store.TokenFormatJWT, "")
	p := &Provider{Store: st, Issuer: "https://grantd.test", Logger: slog.New(slog.DiscardHandler)}
	pr := Profile{Grants: []string{GrantClientCredentials}, Clients: ClientsConfidential}
	ctx := context.Background()
	b.Run("ok", func(b *testing.B) {
		cr := ClientCredentials{ID: c.ID, Secret: secret, Presented: PresentedBasic, Address: "203.0.113.7"}
		b.ReportAllocs()
		for b.Loop() {
			got, err := p.authenticate(ctx, pr, cr)
			if err != nil {
				b.Fatal(err)
			}
			if got.ID != c.ID {
				b.Fatalf("authenticated %q, want %q", got.ID, c.ID)
			}
		}
	})
	b.Run("wrong_secret", func(b *testing.B) {
		cr := ClientCredentials{ID: c.ID, Secret: PrefixClientSecret + RandomToken(32), Presented: PresentedBasic, Address: "203.0.113.7"}
		b.ReportAllocs()
		for b.Loop() {
			_, err := p.authenticate(ctx, pr, cr)
			var e *Error
			if !errors.As(err, &e) || e.Code != ErrCodeInvalidClient || e.Reason != ReasonWrongSecret || !e.Basic {
				b.Fatalf("wrong secret: %v, want invalid_client (%s) with Basic", err, ReasonWrongSecret)
			}
		}
	})
}

// BenchmarkVerifyPKCE checks an RFC 7636 S256 code_verifier against its
// code_challenge (RFC 7636 Appendix B): the check of every code exchange
// with PKCE.
func BenchmarkVerifyPKCE(b *testing.B) {
	if !VerifyPKCE(rfcChallenge, PKCEMethodS256, rfcVerifier) {
		b.Fatal("the RFC 7636 Appendix B verifier does not verify")
	}
	for _, tt := range []struct {
		name     string
		verifier string
		want     bool
	}{
		{"match", rfcVerifier, true},
		{"mismatch", strings.Replace(rfcVerifier, "d", "e", 1), false},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if VerifyPKCE(rfcChallenge, PKCEMethodS256, tt.verifier) != tt.want {
					b.Fatalf("VerifyPKCE(%q) != %v", tt.verifier, tt.want)
				}
			}
		})
	}
}

// BenchmarkMintJWT is a client-credentials JWT access token as the core
// mints it: the record and claims (newAccessToken: a UUID jti, the scope
// joined) and the signature through the real signer, with its key on a
// SQLite file. The key's reservation is made before the timer starts (the
// fast path: no store write).
func BenchmarkMintJWT(b *testing.B) {
	for _, alg := range []string{signer.ES256, signer.RS256} {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			st := benchStore(b)
			sg, err := signer.New(ctx, signer.Options{Store: st, KEK: signer.NewKEK(), Algorithm: alg})
			if err != nil {
				b.Fatal(err)
			}
			c, _ := benchClient(b, st, store.TokenFormatJWT, alg)
			p := &Provider{Store: st, Signer: sg, Issuer: "https://grantd.test", Logger: slog.New(slog.DiscardHandler)}
			mint := func() (string, error) {
				a := p.newAccessToken(&c, c.ID, nil, "", c.Scopes, nil, false, p.now())
				if a.claims == nil {
					return "", errors.New("no claims: not a JWT")
				}
				return p.Signer.Sign(ctx, c.AccessTokenSigningAlg, *a.claims)
			}
			tok, err := mint()
			if err != nil {
				b.Fatal(err)
			}
			var got Claims
			if err := sg.Verify(tok, &got); err != nil || got.ClientID != c.ID || got.Scope != "accounts transactions balances" {
				b.Fatalf("minted token: claims %+v, %v", got, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if tok, err := mint(); err != nil || tok == "" {
					b.Fatalf("mint: %q, %v", tok, err)
				}
			}
		})
	}
}
