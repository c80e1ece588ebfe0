package signer

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
// file does not exist, generates one and writes it there with mode 0600
// (creating the directory with mode 0700 if needed). It refuses a file that
// group or others may read or write.
func LoadOrCreateKEK(path string) ([]byte, error) {
	kek, err := readKEK(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return kek, err
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signer: create key-encryption key directory: %w", err)
	}
	kek = make([]byte, kekSize)
	rand.Read(kek)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKEK(path) // another process created it first
	}
	if err != nil {
		return nil, fmt.Errorf("signer: create key-encryption key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(kek) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("signer: write key-encryption key file: %w", err)
	}
	return kek, nil
}

func readKEK(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("signer: key-encryption key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("signer: key-encryption key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("signer: key-encryption key file %s has mode %04o: group and others must have no access (chmod 600)", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signer: read key-encryption key file: %w", err)
	}
	kek, err := ParseKEK(string(data))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return kek, nil
}
