package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/secretfile"
)

// adminToken returns GRANTD_ADMIN_TOKEN, or the token kept in
// DATA_DIR/admin-token, generated (32 random bytes, base64url, mode 0600,
// published atomically) when absent; file is "" when the token came from
// the configuration.
func adminToken(cfg config.Config) (token, file string, err error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, "", nil
	}
	path := filepath.Join(cfg.DataDir, config.AdminTokenFile)
	b := make([]byte, 32)
	rand.Read(b)
	token, err = secretfile.ReadOrCreate(path, []byte(base64.RawURLEncoding.EncodeToString(b)+"\n"))
	switch {
	case errors.Is(err, secretfile.ErrEmpty):
		return "", "", fmt.Errorf("admin token: %w (a crash while it was written?): "+
			"delete it and start grantd again to generate a new admin token, or set GRANTD_ADMIN_TOKEN", err)
	case err != nil:
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	return token, path, nil
}

// writeSecretFile creates path with mode 0600, atomically; fs.ErrExist if
// it exists.
func writeSecretFile(path string, data []byte) error {
	return secretfile.Create(path, data)
}

// warnLooseModes logs a warning (and changes nothing) when group or others
// may enter the data dir, or have any access to a file in it that holds
// secrets: the key-encryption key, the admin token, and the SQLite
// database with its -wal and -shm (wherever the configured SQLite file is).
func warnLooseModes(log *slog.Logger, cfg config.Config) {
	if runtime.GOOS == "windows" {
		return // no group and other bits
	}
	warnLooseMode(log, "data dir", cfg.DataDir, "700")
	files := []string{filepath.Join(cfg.DataDir, config.KEKFile), filepath.Join(cfg.DataDir, config.AdminTokenFile)}
	if spec, err := cfg.StoreSpec(); err == nil && spec.Backend == config.BackendSQLite {
		files = append(files, spec.Path, spec.Path+"-wal", spec.Path+"-shm")
	}
	for _, p := range files {
		warnLooseMode(log, "file", p, "600")
	}
}

// warnLooseMode warns when path exists with group or other bits set; an
// absent (or unreadable) path is for the code that opens it.
func warnLooseMode(log *slog.Logger, what, path, mode string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn(what+" is open to group or others", "path", path,
		"mode", fmt.Sprintf("%04o", fi.Mode().Perm()), "fix", "chmod "+mode+" "+shellQuote(path))
}
