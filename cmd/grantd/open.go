package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
)

// dataStore is what the commands need of a backend.
type dataStore interface {
	store.Store
	// Version is the schema version.
	Version(ctx context.Context) (int, error)
}

var _ dataStore = (*sqlite.Store)(nil)

// loadConfig loads and validates the configuration after fs.Parse.
func (c *cli) loadConfig(f *config.Flags) (config.Config, error) {
	cfg, err := f.Load(c.getenv)
	if err != nil {
		return config.Config{}, err // names its source: config file, GRANTD_*, --flag
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// openStore opens (creating and migrating if needed) the configured store.
func openStore(ctx context.Context, cfg config.Config) (dataStore, string, error) {
	spec, err := cfg.StoreSpec()
	if err != nil {
		return nil, "", err
	}
	switch spec.Backend {
	case config.BackendSQLite:
		if err := os.MkdirAll(filepath.Dir(spec.Path), 0o700); err != nil {
			return nil, "", fmt.Errorf("store: %w", err)
		}
		st, err := sqlite.Open(ctx, spec.Path)
		if err != nil {
			return nil, "", err
		}
		return st, "sqlite:" + spec.Path, nil
	case config.BackendPostgres:
		// Never echo the DSN: it may hold a password.
		return nil, "", errors.New("store: the PostgreSQL backend (postgres://…) is not available yet in this build; " +
			"leave --store empty to use SQLite in the data dir")
	}
	return nil, "", fmt.Errorf("store: unknown backend %q", spec.Backend)
}

// loadKEK returns the key-encryption key: GRANTD_KEY_ENCRYPTION_KEY (or the
// config file's key_encryption_key), else DATA_DIR/kek, generated on first
// use. It refuses to generate one for a store that already holds keys: they
// were sealed with another key, which the operator has to provide.
func loadKEK(ctx context.Context, cfg config.Config, st store.SigningKeys) ([]byte, error) {
	if cfg.KeyEncryptionKey != "" {
		return signer.ParseKEK(cfg.KeyEncryptionKey)
	}
	path := filepath.Join(cfg.DataDir, config.KEKFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		keys, err := st.ListSigningKeys(ctx)
		if err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			return nil, fmt.Errorf("the store holds signing keys but %s does not exist: "+
				"set GRANTD_KEY_ENCRYPTION_KEY to the key they were sealed with, or restore the file", path)
		}
	}
	return signer.LoadOrCreateKEK(path)
}

// newLogger is the structured log on w (stderr).
func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// Every record logged with a request's context carries its request_id.
	return slog.New(server.LogHandler(h))
}
