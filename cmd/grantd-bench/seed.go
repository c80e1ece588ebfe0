package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
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
	Expired     int `json:"expired"`  // access-token rows that expired an hour ago
}

// seedChunk is how many records one import transaction writes.
const seedChunk = 20000

// seed fills grantd's store (stopped) through the store's bulk import:
// clients, active connections spread over them, and refresh families on
// the connections, each with a refresh token and an opaque access-token
// row, all live, as a year of traffic leaves them.
func seed(ctx context.Context, dataDir, storeURL string, sc scale) (time.Duration, error) {
	t0 := time.Now()
	st, err := openBulk(ctx, dataDir, storeURL)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	clients := make([]string, sc.Clients)
	put, flush := importer(ctx, st)
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
		conns[i] = uuid.Must(uuid.NewV7()).String()
		if err := put(store.RecordOf(&store.Connection{ID: conns[i], ClientID: clients[i%len(clients)],
			CustomerID: fmt.Sprintf("cust-%d", i), CustomerName: "Seeded", ProviderID: "gusto", Subject: fmt.Sprintf("user-%d", i),
			Products: []string{"accounts"}, ConnectionType: "provider", Environment: "sandbox", Status: store.ConnectionActive,
			CreatedAt: now, ConsentExpiresAt: now.Add(90 * 24 * time.Hour), DataRetentionUntil: now.Add(120 * 24 * time.Hour)})); err != nil {
			return 0, err
		}
	}
	for i := range sc.Families {
		c := i % len(conns)
		f := &store.RefreshFamily{ID: uuid.Must(uuid.NewV7()).String(), ClientID: clients[c%len(clients)], Subject: fmt.Sprintf("user-%d", c),
			ConnectionID: conns[c], Scopes: []string{"accounts"}, Policy: store.RefreshRotating, IdleTimeout: 30 * 24 * time.Hour,
			CreatedAt: now, LastUsedAt: now}
		for _, r := range []store.Record{
			store.RecordOf(f),
			store.RecordOf(&store.RefreshToken{Hash: seedKey(now), FamilyID: f.ID, CreatedAt: now}),
			store.RecordOf(&store.AccessToken{ID: fmt.Sprintf("%x", seedKey(now)), ClientID: f.ClientID, Subject: f.Subject, FamilyID: f.ID,
				ConnectionID: f.ConnectionID, Scopes: f.Scopes, Format: store.TokenFormatOpaque, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}),
		} {
			if err := put(r); err != nil {
				return 0, err
			}
		}
	}
	if sc.Expired > 0 {
		if err := seedExpired(put, now, sc.Expired); err != nil {
			return 0, err
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// seedKey is a record key of a secret issued at t, shaped as grantd's
// (internal/oauth, SecretKey): the time in milliseconds (6 bytes), then 32
// random bytes for the hash.
func seedKey(t time.Time) []byte {
	k := make([]byte, 8, 8+32)
	binary.BigEndian.PutUint64(k, uint64(t.UnixMilli()))
	k = k[2:]
	h := make([]byte, 32)
	rand.Read(h)
	return append(k, h...)
}

// seedExpired puts n opaque access-token rows for one client of their own,
// issued over an hour as a steady load issues them, each expired an hour
// later, all of them by now: what the janitor purges.
func seedExpired(put func(store.Record) error, now time.Time, n int) error {
	c := &store.Client{ID: uuid.Must(uuid.NewV7()).String(), Name: "expired tokens", AuthMethod: store.AuthMethodBasic,
		SecretHash: make([]byte, 32), GrantTypes: []string{"client_credentials"}, Scopes: []string{"accounts"},
		Environment: "sandbox", Tier: "bench", State: store.ClientActive, AccessTokenTTL: time.Hour,
		TokenFormat: store.TokenFormatOpaque, Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now,
		StateChangedAt: now, FirstTokenAt: now}
	if err := put(store.RecordOf(c)); err != nil {
		return err
	}
	start := now.Add(-2 * time.Hour)
	for i := range n {
		at := start.Add(time.Duration(i) * time.Hour / time.Duration(n))
		if err := put(store.RecordOf(&store.AccessToken{ID: fmt.Sprintf("%x", seedKey(at)), ClientID: c.ID, Subject: c.ID,
			Scopes: c.Scopes, Format: store.TokenFormatOpaque, CreatedAt: at,
			ExpiresAt: at.Add(time.Hour)})); err != nil {
			return err
		}
	}
	return nil
}

// bulkStore is a store the bench seeds through the bulk import.
type bulkStore interface {
	store.Bulk
	Close() error
}

// openBulk opens grantd's store (stopped): the SQLite file in dataDir, or
// storeURL.
func openBulk(ctx context.Context, dataDir, storeURL string) (bulkStore, error) {
	var st bulkStore
	var err error
	if storeURL == "" {
		st, err = sqlite.Open(ctx, filepath.Join(dataDir, "grantd.db"))
	} else {
		st, err = postgres.Open(ctx, storeURL, postgres.Options{})
	}
	if err != nil {
		return nil, fmt.Errorf("seed: open the store: %w", err)
	}
	return st, nil
}

// importer returns put, which queues a record and imports every
// seedChunk of them in one transaction, and flush, which imports the rest.
func importer(ctx context.Context, st store.Bulk) (put func(store.Record) error, flush func() error) {
	var batch []store.Record
	flush = func() error {
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
	put = func(r store.Record) error {
		batch = append(batch, r)
		if len(batch) >= seedChunk {
			return flush()
		}
		return nil
	}
	return put, flush
}
