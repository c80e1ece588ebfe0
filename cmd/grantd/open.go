package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/secretfile"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/sqlite"
)

// dataStore is what the commands need of a backend.
type dataStore interface {
	store.Store
	// Version is the schema version.
	Version(ctx context.Context) (int, error)
	// SetClientCacheTTL sets how long GetClient answers from memory.
	SetClientCacheTTL(ttl time.Duration)
}

var (
	_ dataStore = (*sqlite.Store)(nil)
	_ dataStore = (*postgres.Store)(nil)
)

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
// where names it for people, without a password.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (st dataStore, where string, err error) {
	spec, err := cfg.StoreSpec()
	if err != nil {
		return nil, "", err
	}
	st, where, err = openSpec(ctx, spec, cfg.Postgres, log)
	if err == nil {
		st.SetClientCacheTTL(cfg.ClientCacheTTL)
	}
	return st, where, err
}

// openSpec opens (creating and migrating if needed) the store spec names;
// pool tunes a PostgreSQL store, which logs to log (nil: nowhere) what it
// does on its own.
func openSpec(ctx context.Context, spec config.StoreSpec, pool config.Postgres, log *slog.Logger) (dataStore, string, error) {
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
		st, err := postgres.Open(ctx, spec.DSN, postgres.Options{
			MaxConns:        int32(pool.MaxConns), // validated: at most 10000
			MinConns:        int32(pool.MinConns),
			MaxConnLifetime: pool.MaxConnLifetime,
			Logger:          log,
		})
		if err != nil {
			return nil, "", err // never quotes the DSN
		}
		return st, redactDSN(spec.DSN), nil
	}
	return nil, "", fmt.Errorf("store: unknown backend %q", spec.Backend)
}

// redactDSN is a PostgreSQL DSN as logs and messages show it: the password,
// in the user info or a password parameter, replaced by xxxxx.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable DSN)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// loadKEK returns the key-encryption key: GRANTD_KEY_ENCRYPTION_KEY (or the
// config file's key_encryption_key), else DATA_DIR/kek, generated on first
// use for SQLite. It refuses to generate one for a store that already holds
// keys (they were sealed with another key, which the operator has to
// provide), and for PostgreSQL, which several instances share.
//
// What opens sealed data needs the previous keys too: see loadKEKs.
func loadKEK(ctx context.Context, cfg config.Config, st store.SigningKeys) ([]byte, error) {
	if cfg.KeyEncryptionKey != "" {
		return signer.ParseKEK(cfg.KeyEncryptionKey)
	}
	path := filepath.Join(cfg.DataDir, config.KEKFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if spec, _ := cfg.StoreSpec(); spec.Backend == config.BackendPostgres {
			// Every instance on the database must unseal the same keys: a
			// key file generated here would be this machine's alone.
			return nil, fmt.Errorf("a PostgreSQL store needs the key-encryption key every instance shares: "+
				"set GRANTD_KEY_ENCRYPTION_KEY (e.g. openssl rand -base64 32, the same on every instance), "+
				"or put it in %s; grantd generates a key file only for SQLite", path)
		}
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

// kekLockFile is the lock a process that seals under DATA_DIR/kek holds
// (shared: serve, keys rotate) and `grantd keys rotate-kek` takes
// exclusively, so that no key is sealed under a KEK that the rotation is
// replacing.
const kekLockFile = config.KEKFile + ".lock"

// lockKEKFile takes the data dir's KEK lock when the key comes from
// DATA_DIR/kek: shared for a process that seals under it, exclusive for
// the rotation. With GRANTD_KEY_ENCRYPTION_KEY there is no file to guard
// and it locks nothing.
func lockKEKFile(cfg config.Config, exclusive bool) (unlock func(), err error) {
	if cfg.KeyEncryptionKey != "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, kekLockFile)
	unlock, err = secretfile.Lock(path, exclusive)
	switch {
	case errors.Is(err, secretfile.ErrLocked) && exclusive:
		return nil, fmt.Errorf("another grantd uses the key-encryption key in %s (grantd serve, keys rotate or keys rotate-kek, "+
			"holding %s): stop grantd serve first; see docs/keys.md", filepath.Join(cfg.DataDir, config.KEKFile), path)
	case errors.Is(err, secretfile.ErrLocked):
		return nil, fmt.Errorf("grantd keys rotate-kek is replacing the key-encryption key in %s (it holds %s): "+
			"start again when it has finished", filepath.Join(cfg.DataDir, config.KEKFile), path)
	}
	return unlock, err
}

// loadKEKs returns the key-encryption key (as loadKEK), which seals, and
// the previous keys being rotated out, which only open (see previousKEKs).
// Everything that opens sealed data (the signer, the webhook secrets) takes
// both.
func loadKEKs(ctx context.Context, cfg config.Config, st store.SigningKeys) (kek []byte, previous [][]byte, err error) {
	if kek, err = loadKEK(ctx, cfg, st); err != nil {
		return nil, nil, err
	}
	if previous, err = previousKEKs(cfg); err != nil {
		return nil, nil, err
	}
	return kek, previous, nil
}

// previousKEKFile is where `grantd keys rotate-kek` keeps the key it
// replaces in DATA_DIR/kek until it has re-sealed everything (kek.go).
const previousKEKFile = config.KEKFile + ".previous"

// previousKEKs returns the key-encryption keys being rotated out:
// GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS, then, when the key comes from
// DATA_DIR/kek, DATA_DIR/kek.previous if an interrupted rotate-kek left
// it, so that grantd opens what is sealed at any point of a rotation.
func previousKEKs(cfg config.Config) ([][]byte, error) {
	previous, err := signer.ParseKEKs(cfg.PreviousKEKList())
	if err != nil {
		return nil, fmt.Errorf("GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS: %w", err)
	}
	if cfg.KeyEncryptionKey != "" {
		return previous, nil
	}
	k, err := signer.ReadKEK(filepath.Join(cfg.DataDir, previousKEKFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return previous, nil
	case err != nil:
		return nil, err
	}
	return append(previous, k), nil
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
