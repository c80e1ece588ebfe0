package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/sqlite"
)

// scale is what --scale puts in the store before the second pass.
type scale struct {
	Clients     int `json:"clients"`
	Connections int `json:"connections"`
	Families    int `json:"families"` // each with one refresh token and one access-token row
}

// seedChunk is how many records one import transaction writes.
const seedChunk = 20000

// seed fills grantd's store (stopped) through the store's bulk import:
// clients, active connections spread over them, and refresh families on
// the connections, each with a refresh token and an opaque access-token
// row, all live, as a year of traffic leaves them.
func seed(ctx context.Context, dataDir, storeURL string, sc scale) (time.Duration, error) {
	t0 := time.Now()
	var st interface {
		store.Bulk
		Close() error
	}
	var err error
	if storeURL == "" {
		st, err = sqlite.Open(ctx, filepath.Join(dataDir, "grantd.db"))
	} else {
		st, err = postgres.Open(ctx, storeURL, postgres.Options{})
	}
	if err != nil {
		return 0, fmt.Errorf("seed: open the store: %w", err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	clients := make([]string, sc.Clients)
	var batch []store.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := st.Import(ctx, func(l store.Loader) error {
			for _, r := range batch {
				if err := l.Put(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	put := func(r store.Record) error {
		batch = append(batch, r)
		if len(batch) >= seedChunk {
			return flush()
		}
		return nil
	}
	for i := range clients {
		clients[i] = uuid.Must(uuid.NewV7()).String()
		hash := make([]byte, 32)
		rand.Read(hash)
		if err := put(store.RecordOf(&store.Client{ID: clients[i], Name: fmt.Sprintf("seeded %d", i), SecretHash: hash,
			AuthMethod: store.AuthMethodBasic, GrantTypes: []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"}, RedirectURIs: []string{benchRedirect}, Scopes: []string{"accounts"},
			Environment: "sandbox", Tier: "bench", State: store.ClientActive, RefreshPolicy: store.RefreshRotating,
			RefreshIdleTimeout: 30 * 24 * time.Hour, AccessTokenTTL: time.Hour, TokenFormat: store.TokenFormatOpaque,
			Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now, StateChangedAt: now})); err != nil {
			return 0, err
		}
	}
	conns := make([]string, sc.Connections)
	for i := range conns {
		conns[i] = uuid.NewString()
		if err := put(store.RecordOf(&store.Connection{ID: conns[i], ClientID: clients[i%len(clients)],
			CustomerID: fmt.Sprintf("cust-%d", i), CustomerName: "Seeded", ProviderID: "gusto", Subject: fmt.Sprintf("user-%d", i),
			Products: []string{"accounts"}, ConnectionType: "provider", Environment: "sandbox", Status: store.ConnectionActive,
			CreatedAt: now, ConsentExpiresAt: now.Add(90 * 24 * time.Hour), DataRetentionUntil: now.Add(120 * 24 * time.Hour)})); err != nil {
			return 0, err
		}
	}
	for i := range sc.Families {
		c := i % len(conns)
		f := &store.RefreshFamily{ID: uuid.NewString(), ClientID: clients[c%len(clients)], Subject: fmt.Sprintf("user-%d", c),
			ConnectionID: conns[c], Scopes: []string{"accounts"}, Policy: store.RefreshRotating, IdleTimeout: 30 * 24 * time.Hour,
			CreatedAt: now, LastUsedAt: now}
		h := make([]byte, 32)
		rand.Read(h)
		a := make([]byte, 16)
		rand.Read(a)
		for _, r := range []store.Record{
			store.RecordOf(f),
			store.RecordOf(&store.RefreshToken{Hash: h, FamilyID: f.ID, CreatedAt: now}),
			store.RecordOf(&store.AccessToken{ID: fmt.Sprintf("%x", a), ClientID: f.ClientID, Subject: f.Subject, FamilyID: f.ID,
				ConnectionID: f.ConnectionID, Scopes: f.Scopes, Format: store.TokenFormatOpaque, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}),
		} {
			if err := put(r); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
