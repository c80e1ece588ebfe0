package signer

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/grantd/grantd/internal/secretfile"
)

// ParseKEK decodes a key-encryption key given as base64 (standard or URL
// alphabet, padded or not) of exactly 32 bytes, as in
// GRANTD_KEY_ENCRYPTION_KEY. Errors never echo the input.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("signer: empty key-encryption key")
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != kekSize {
			return nil, fmt.Errorf("signer: key-encryption key must decode to %d bytes, got %d", kekSize, len(b))
		}
		return b, nil
	}
	return nil, errors.New("signer: key-encryption key is not valid base64")
}

// LoadOrCreateKEK reads the key-encryption key (base64) from path, or, if the
// file does not exist, generates one and publishes it there atomically with
// mode 0600 (creating the directory with mode 0700 if needed); if another
// process creates it first, it reads theirs. It refuses a file that group
// or others may read or write, and an empty or malformed one with an error
// that says how to recover.
func LoadOrCreateKEK(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signer: create key-encryption key directory: %w", err)
	}
	kek := make([]byte, kekSize)
	rand.Read(kek)
	s, err := secretfile.ReadOrCreate(path, []byte(base64.StdEncoding.EncodeToString(kek)+"\n"))
	switch {
	case errors.Is(err, secretfile.ErrEmpty):
		// Losing the key loses every signing key and webhook secret sealed
		// with it: never replace the file on our own.
		return nil, fmt.Errorf("signer: key-encryption key file %w: if this data dir has never held keys (a new install), "+
			"delete it and start again; otherwise restore %s from your backup, or set GRANTD_KEY_ENCRYPTION_KEY to the key", err, path)
	case err != nil:
		return nil, fmt.Errorf("signer: key-encryption key file: %w", err)
	}
	kek, err = ParseKEK(s)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s): restore the file from your backup, or set GRANTD_KEY_ENCRYPTION_KEY to the key", err, path)
	}
	return kek, nil
}
