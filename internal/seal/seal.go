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
//
// A Sealer made with previous KEKs (a key-encryption key rotation, see
// docs/keys.md) seals under the current KEK and opens with any of them: the
// current one first, then each previous one in order. AES-GCM authentication
// tells which key fits, so the sealed format names no key and stays the same
// as before rotation existed.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
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

// Sealer seals values under one KEK and label, and opens them with that KEK
// or a previous one. It is safe for concurrent use.
type Sealer struct {
	aead     cipher.AEAD   // the current KEK: seals, and opens first
	previous []cipher.AEAD // previous KEKs: open only, in order
	label    string
}

// New returns a Sealer for kek (KeySize bytes) and label. Values sealed with
// one label open only with the same label. It seals under kek; it opens
// values sealed under kek or under any of previous (each KeySize bytes),
// which are being rotated out. A previous KEK equal to kek, or to an
// earlier one, is skipped.
func New(kek []byte, label string, previous ...[]byte) (*Sealer, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	s := &Sealer{aead: aead, label: label}
	seen := [][]byte{kek}
	for i, p := range previous {
		if len(p) != KeySize {
			return nil, fmt.Errorf("seal: previous key-encryption key %d must be %d bytes, got %d", i+1, KeySize, len(p))
		}
		if containsKey(seen, p) {
			continue
		}
		a, err := newAEAD(p)
		if err != nil {
			return nil, err
		}
		seen = append(seen, p)
		s.previous = append(s.previous, a)
	}
	return s, nil
}

// newAEAD is AES-256-GCM under kek.
func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KeySize {
		return nil, fmt.Errorf("seal: key-encryption key must be %d bytes, got %d", KeySize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return randomNonce{gcm}, nil
}

// randomNonce is AES-GCM with a random 96-bit nonce per seal, prepended to
// the ciphertext: the format of cipher.NewGCMWithRandomNonce, which needs
// the standard library's own AES block and so refuses the BoringCrypto
// build's (docs/benchmarks.md). Random nonces are safe far beyond the
// number of secrets grantd seals.
type randomNonce struct{ gcm cipher.AEAD }

func (a randomNonce) NonceSize() int { return 0 }
func (a randomNonce) Overhead() int  { return a.gcm.NonceSize() + a.gcm.Overhead() }

// Seal appends the nonce and the sealed plaintext to dst; nonce must be
// empty (it is drawn here).
func (a randomNonce) Seal(dst, nonce, plain, ad []byte) []byte {
	if len(nonce) != 0 {
		panic("seal: the nonce is drawn by Seal")
	}
	n := make([]byte, a.gcm.NonceSize())
	if _, err := rand.Read(n); err != nil {
		panic("seal: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return a.gcm.Seal(append(dst, n...), n, plain, ad)
}

// Open opens what Seal made: the nonce, then the sealed plaintext.
func (a randomNonce) Open(dst, nonce, sealed, ad []byte) ([]byte, error) {
	ns := a.gcm.NonceSize()
	if len(nonce) != 0 || len(sealed) < ns {
		return nil, ErrOpen
	}
	return a.gcm.Open(dst, sealed[:ns], sealed[ns:], ad)
}

// containsKey reports whether keys holds k (compared in constant time).
func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if subtle.ConstantTimeCompare(x, k) == 1 {
			return true
		}
	}
	return false
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

// Open decrypts a value sealed for owner, under the current KEK or a
// previous one. It returns ErrOpen when no KEK of the Sealer opens it: it was
// sealed under another KEK, label or owner, or was changed.
func (s *Sealer) Open(sealed []byte, owner string) ([]byte, error) {
	plain, _, err := s.open(sealed, owner)
	return plain, err
}

// Reseal opens a value sealed for owner (as Open) and returns it sealed
// under the current KEK. A value the current KEK opens already is returned
// unchanged, so resealing twice is harmless; fromPrevious reports whether
// it was sealed under a previous KEK.
func (s *Sealer) Reseal(sealed []byte, owner string) (resealed []byte, fromPrevious bool, err error) {
	plain, fromPrevious, err := s.open(sealed, owner)
	if err != nil {
		return nil, false, err
	}
	if !fromPrevious {
		return sealed, false, nil
	}
	resealed, err = s.Seal(plain, owner)
	clear(plain)
	return resealed, true, err
}

// open tries the current KEK, then each previous one, and reports whether
// a previous one opened the value.
func (s *Sealer) open(sealed []byte, owner string) (plain []byte, fromPrevious bool, err error) {
	if len(sealed) < 1+s.aead.Overhead() {
		return nil, false, errors.New("seal: sealed value too short")
	}
	if sealed[0] != version {
		return nil, false, fmt.Errorf("seal: unknown sealed value version %d", sealed[0])
	}
	ad := s.ad(owner)
	if plain, err := s.aead.Open(nil, nil, sealed[1:], ad); err == nil {
		return plain, false, nil
	}
	for _, a := range s.previous {
		if plain, err := a.Open(nil, nil, sealed[1:], ad); err == nil {
			return plain, true, nil
		}
	}
	return nil, false, ErrOpen
}
