// Package seal encrypts small secrets at rest (webhook signing secrets)
// under the server's 32-byte key-encryption key (KEK), with AES-256-GCM.
//
// A sealed value is version (1 byte) || nonce (12 bytes, random per seal) ||
// ciphertext and tag. The additional data binds it to its owner (a client ID,
// say), so a sealed value copied into another row does not open. A Sealer
// also carries a label, prepended to the additional data, so values sealed
// for one purpose do not open for another.
//
// internal/signer seals private keys with it (label "", the kid as the
// owner).
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// KeySize is the size of the key-encryption key: AES-256.
const KeySize = 32

// version is the first byte of every sealed value.
const version byte = 1

// ErrOpen is what Open reports when authentication fails: a different
// key-encryption key, other additional data, or a corrupted value. The three
// cannot be told apart, by design.
var ErrOpen = errors.New("seal: cannot decrypt: wrong key-encryption key, wrong owner, or corrupted value")

// Sealer seals and opens values under one KEK and label. It is safe for
// concurrent use.
type Sealer struct {
	aead  cipher.AEAD
	label string
}

// New returns a Sealer for kek (KeySize bytes) and label. Values sealed with
// one label open only with the same label.
func New(kek []byte, label string) (*Sealer, error) {
	if len(kek) != KeySize {
		return nil, fmt.Errorf("seal: key-encryption key must be %d bytes, got %d", KeySize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	// A random 96-bit nonce per seal, prepended by the AEAD itself. Random
	// nonces are safe far beyond the number of secrets grantd seals.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead, label: label}, nil
}

// ad is the additional data: the label, a zero byte and the owner; the owner
// alone when the label is "".
func (s *Sealer) ad(owner string) []byte {
	if s.label == "" {
		return []byte(owner)
	}
	return []byte(s.label + "\x00" + owner)
}

// Seal encrypts plain for owner. The error is always nil today; it is there
// so that Seal fits callers that take a func([]byte, string) ([]byte, error).
func (s *Sealer) Seal(plain []byte, owner string) ([]byte, error) {
	out := make([]byte, 1, 1+len(plain)+s.aead.Overhead())
	out[0] = version
	return s.aead.Seal(out, nil, plain, s.ad(owner)), nil
}

// Open decrypts a value sealed for owner. It returns ErrOpen when the value
// was sealed under another KEK, label or owner, or was changed.
func (s *Sealer) Open(sealed []byte, owner string) ([]byte, error) {
	if len(sealed) < 1+s.aead.Overhead() {
		return nil, errors.New("seal: sealed value too short")
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("seal: unknown sealed value version %d", sealed[0])
	}
	plain, err := s.aead.Open(nil, nil, sealed[1:], s.ad(owner))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
