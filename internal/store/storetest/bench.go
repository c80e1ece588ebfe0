package storetest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/store"
)

// Bench runs the micro-benchmarks of the store operations on a token's hot
// path (docs/benchmarks.md) on the stores open makes (each a fresh, empty,
// migrated store, closed when its benchmark ends), from a backend's
// _test.go:
//
//	func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }
//
// Each runs one goroutine: a write is a whole commit of its own (SQLite's
// group commit and PostgreSQL's batched inserts only share commits between
// writers waiting at once). The decide functions check what the core's
// grants check (internal/oauth) and write what they write.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	for _, bb := range []struct {
		name string
		fn   func(*testing.B, store.Store)
	}{
		{"GetClient", benchGetClient},
		{"DecideClientCredentialsOpaque", benchDecideClientCredentialsOpaque},
		{"DecideRefreshRotate", benchDecideRefreshRotate},
		{"DecideRedeemCode", benchDecideRedeemCode},
		{"GetAccessToken", benchGetAccessToken},
	} {
		b.Run(bb.name, func(b *testing.B) { bb.fn(b, open(b)) })
	}
}

// benchFixture is a client in steady use (it has obtained tokens before)
// with opaque tokens and rotating refresh tokens, as internal/testenv
// registers one.
func benchFixture(b *testing.B, s store.Store) store.Client {
	b.Helper()
	now := time.Now().UTC()
	c := store.Client{
		ID: uuid.NewString(), Name: "Bench App", SecretHash: store.Hash("gcs_" + rand.Text()),
		AuthMethod:    store.AuthMethodBasic,
		GrantTypes:    []string{"client_credentials", "authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, RedirectURIs: []string{"http://127.0.0.1:9876/callback"},
		Scopes: []string{"accounts", "transactions", "balances"}, Environment: "sandbox",
		State: store.ClientActive, RefreshPolicy: store.RefreshRotating, TokenFormat: store.TokenFormatOpaque,
		CreatedAt: now, UpdatedAt: now, FirstTokenAt: now,
	}
	if err := s.CreateClient(context.Background(), c); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchConnection is an active connection of client c, with a consent of
// 90 days.
func benchConnection(c store.Client, now time.Time) store.Connection {
	return store.Connection{ID: uuid.Must(uuid.NewV7()).String(), ClientID: c.ID, ProviderID: "sandbox-bank", Subject: "user-1",
		Products: []string{"accounts", "transactions"}, ConnectionType: "provider", Environment: c.Environment,
		Status: store.ConnectionActive, CreatedAt: now, ConsentExpiresAt: now.Add(90 * 24 * time.Hour)}
}

// benchCode is a code of client c for conn, with a PKCE challenge.
func benchCode(c store.Client, conn *store.Connection, now time.Time) store.AuthCode {
	return store.AuthCode{Hash: benchKey("gac_", now), Kind: "code", ClientID: c.ID,
		RedirectURI: c.RedirectURIs[0], Scopes: conn.Products, Subject: conn.Subject, ConnectionID: conn.ID,
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		GrantID: uuid.Must(uuid.NewV7()).String(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// benchKey is the record key of a new secret with prefix issued at now, as
// the core makes it (internal/oauth, SecretKey): the time in milliseconds
// (6 bytes, big-endian), then the SHA-256 of the secret.
func benchKey(prefix string, now time.Time) []byte {
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(now.UnixMilli()))
	return append(ms[2:], store.Hash(prefix+rand.Text())...)
}

// benchOpaqueToken is the record of an opaque access token of c, as the core
// builds it: its ID the hex of the token's key.
func benchOpaqueToken(c store.Client, subject, familyID, connID string, scopes []string, now time.Time) store.AccessToken {
	return store.AccessToken{ID: hex.EncodeToString(benchKey("gat_", now)), ClientID: c.ID, Subject: subject,
		FamilyID: familyID, ConnectionID: connID, Scopes: scopes, Format: store.TokenFormatOpaque,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

var errBenchRefused = errors.New("bench: the decision refused")

// benchRedeem is the code grant's decision (internal/oauth/code.go): an unused,
// unexpired code of the client, with a live connection, is spent for an
// access token and a new refresh family with its first token.
func benchRedeem(c store.Client, now time.Time) func(store.Locked) (store.Writes, error) {
	return func(l store.Locked) (store.Writes, error) {
		code := l.Code
		switch {
		case !code.UsedAt.IsZero():
			return store.Writes{At: now, RevokeGrant: code.GrantID}, errBenchRefused
		case code.ClientID != c.ID || !now.Before(code.ExpiresAt):
			return store.Writes{}, errBenchRefused
		case l.Connection == nil || l.Connection.Status != store.ConnectionActive:
			return store.Writes{}, errBenchRefused
		}
		tok := benchOpaqueToken(c, code.Subject, code.GrantID, code.ConnectionID, code.Scopes, now)
		fam := store.RefreshFamily{ID: code.GrantID, ClientID: c.ID, Subject: code.Subject, ConnectionID: code.ConnectionID,
			Scopes: code.Scopes, Policy: store.RefreshRotating, IdleTimeout: 30 * 24 * time.Hour, CreatedAt: now,
			LastUsedAt: now, ExpiresAt: l.Connection.ConsentExpiresAt}
		rt := store.RefreshToken{Hash: benchKey("grt_", now), FamilyID: fam.ID, CreatedAt: now}
		return store.Writes{At: now, SpendCode: true, AccessToken: &tok, Family: &fam, RefreshToken: &rt}, nil
	}
}

// benchRotate is the refresh grant's decision (internal/oauth/refresh.go) for a
// rotating family: the presented token is spent, a new one issued with an
// access token, and the family touched. *next is the new token's hash.
func benchRotate(c store.Client, now time.Time, next *[]byte) func(store.Locked) (store.Writes, error) {
	return func(l store.Locked) (store.Writes, error) {
		tok, fam := l.RefreshToken, l.Family
		switch {
		case !tok.UsedAt.IsZero():
			return store.Writes{At: now, RevokeGrant: fam.ID}, errBenchRefused
		case fam.ClientID != c.ID || !fam.RevokedAt.IsZero() || !now.Before(fam.LastUsedAt.Add(fam.IdleTimeout)):
			return store.Writes{}, errBenchRefused
		case l.Connection == nil || l.Connection.Status != store.ConnectionActive:
			return store.Writes{}, errBenchRefused
		}
		at := benchOpaqueToken(c, fam.Subject, fam.ID, fam.ConnectionID, fam.Scopes, now)
		rt := store.RefreshToken{Hash: benchKey("grt_", now), FamilyID: fam.ID, CreatedAt: now}
		*next = rt.Hash
		// The core records the family's last use only when the recorded one
		// is 1 % of the idle timeout old (internal/oauth, touchDue): not in
		// a loop of rotations.
		touch := now.Sub(fam.LastUsedAt) >= fam.IdleTimeout/100
		return store.Writes{At: now, RotateRefreshToken: true, TouchFamily: touch, RefreshToken: &rt, AccessToken: &at}, nil
	}
}

// benchGetClient is the client lookup of every authenticated request.
func benchGetClient(b *testing.B, s store.Store) {
	c := benchFixture(b, s)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.GetClient(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		if got.ID != c.ID || len(got.Scopes) != 3 {
			b.Fatalf("GetClient: %+v", got)
		}
	}
}

// benchDecideClientCredentialsOpaque records an opaque
// client-credentials access token: Decide with the zero key, one insert and
// one commit.
func benchDecideClientCredentialsOpaque(b *testing.B, s store.Store) {
	c := benchFixture(b, s)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now().UTC()
		tok := benchOpaqueToken(c, c.ID, "", "", c.Scopes, now)
		err := s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
			return store.Writes{At: now, AccessToken: &tok}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchRedeemed creates a code with a connection for c and redeems it,
// returning the redemption's writes (its refresh and access tokens).
func benchRedeemed(b *testing.B, s store.Store, c store.Client, now time.Time) store.Writes {
	b.Helper()
	ctx := context.Background()
	conn := benchConnection(c, now)
	code := benchCode(c, &conn, now)
	if err := s.CreateAuthCode(ctx, code, &conn); err != nil {
		b.Fatal(err)
	}
	var w store.Writes
	if err := s.Decide(ctx, store.GrantKey{CodeHash: code.Hash}, func(l store.Locked) (store.Writes, error) {
		var err error
		w, err = benchRedeem(c, now)(l)
		return w, err
	}); err != nil {
		b.Fatal(err)
	}
	return w
}

// benchDecideRefreshRotate rotates a refresh token of a family with a
// connection, each time the token the last rotation issued: the lock (the
// token, its family and the connection) and three writes (the token spent,
// the new token, the access token) in one commit.
func benchDecideRefreshRotate(b *testing.B, s store.Store) {
	c := benchFixture(b, s)
	ctx := context.Background()
	now := time.Now().UTC()
	w := benchRedeemed(b, s, c, now)
	cur := w.RefreshToken.Hash
	b.ReportAllocs()
	for b.Loop() {
		var next []byte
		if err := s.Decide(ctx, store.GrantKey{RefreshHash: cur}, benchRotate(c, time.Now().UTC(), &next)); err != nil {
			b.Fatal(err)
		}
		cur = next
	}
	if _, _, err := s.GetRefreshToken(ctx, cur); err != nil {
		b.Fatalf("the last refresh token issued: %v", err)
	}
}

// benchDecideRedeemCode redeems an authorization code with a
// connection: the lock (the code and the connection) and four writes (the
// code spent, the family, its refresh token, the access token) in one
// commit. The codes are created before the timer starts, one per
// iteration.
func benchDecideRedeemCode(b *testing.B, s store.Store) {
	c := benchFixture(b, s)
	ctx := context.Background()
	now := time.Now().UTC()
	codes := make([]store.AuthCode, b.N)
	for i := range codes {
		conn := benchConnection(c, now)
		codes[i] = benchCode(c, &conn, now)
		if err := s.CreateAuthCode(ctx, codes[i], &conn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Decide(ctx, store.GrantKey{CodeHash: codes[i].Hash}, benchRedeem(c, time.Now().UTC())); err != nil {
			b.Fatal(err)
		}
	}
}

// benchGetAccessToken is an introspection's read of an opaque token:
// one query, with its family and connection joined to compute Revoked, of
// a client-credentials token (no family, no connection) and of a code
// grant's token (both).
func benchGetAccessToken(b *testing.B, s store.Store) {
	c := benchFixture(b, s)
	ctx := context.Background()
	now := time.Now().UTC()
	cc := benchOpaqueToken(c, c.ID, "", "", c.Scopes, now)
	if err := s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now, AccessToken: &cc}, nil
	}); err != nil {
		b.Fatal(err)
	}
	w := benchRedeemed(b, s, c, now)
	for _, tt := range []struct {
		name string
		tok  store.AccessToken
	}{{"client_credentials", cc}, {"code_grant", *w.AccessToken}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.GetAccessToken(ctx, tt.tok.ID)
				if err != nil {
					b.Fatal(err)
				}
				if got.ID != tt.tok.ID || got.FamilyID != tt.tok.FamilyID || got.Revoked {
					b.Fatalf("GetAccessToken: %+v", got)
				}
			}
		})
	}
}
