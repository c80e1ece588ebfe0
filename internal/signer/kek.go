package signer

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/grantd/grantd/internal/seal"
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

// ParseKEKs decodes key-encryption keys given as in ParseKEK, such as the
// list GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS holds. Errors name a key by its
// position, never by its value.
func ParseKEKs(list []string) ([][]byte, error) {
	out := make([][]byte, 0, len(list))
	for i, s := range list {
		k, err := ParseKEK(s)
		if err != nil {
			return nil, fmt.Errorf("key %d of %d: %w", i+1, len(list), err)
		}
		out = append(out, k)
	}
	return out, nil
}

// NewKEK returns a new random key-encryption key.
func NewKEK() []byte {
	kek := make([]byte, kekSize)
	rand.Read(kek)
	return kek
}

// EncodeKEK is the content of a key-encryption key file for kek: standard
// base64 and a newline, as ParseKEK reads and as GRANTD_KEY_ENCRYPTION_KEY
// takes it.
func EncodeKEK(kek []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(kek) + "\n")
}

// ReadKEK reads the key-encryption key file path, which must exist (the
// error wraps fs.ErrNotExist when it does not). It refuses a file as
// LoadOrCreateKEK does.
func ReadKEK(path string) ([]byte, error) {
	s, err := secretfile.Read(path)
	return kekFromFile(path, s, err)
}

// NewKeySealer returns the Sealer of signing keys at rest: label "", the
// kid as the owner; it seals under kek and opens under kek or previous.
// `grantd keys rotate-kek` re-seals the stored keys with it.
func NewKeySealer(kek []byte, previous ...[]byte) (*seal.Sealer, error) {
	return seal.New(kek, "", previous...)
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
	s, err := secretfile.ReadOrCreate(path, EncodeKEK(NewKEK()))
	return kekFromFile(path, s, err)
}

// kekFromFile parses s, read from the key-encryption key file path with
// error err, into a key, or explains the error.
func kekFromFile(path, s string, err error) ([]byte, error) {
	switch {
	case errors.Is(err, secretfile.ErrEmpty):
		// Losing the key loses every signing key and webhook secret sealed
		// with it: never replace the file on our own.
		return nil, fmt.Errorf("signer: key-encryption key file %w: if this data dir has never held keys (a new install), "+
			"delete it and start again; otherwise restore %s from your backup, or set GRANTD_KEY_ENCRYPTION_KEY to the key", err, path)
	case err != nil:
		return nil, fmt.Errorf("signer: key-encryption key file: %w", err)
	}
	kek, err := ParseKEK(s)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s): restore the file from your backup, or set GRANTD_KEY_ENCRYPTION_KEY to the key", err, path)
	}
	return kek, nil
}
