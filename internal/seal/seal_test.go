package seal_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
)

func kek(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeySize) }

func TestSealOpen(t *testing.T) {
	s, err := seal.New(kek(1), "webhook-secret")
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("whsec_0123456789")
	sealed, err := s.Seal(plain, "client-a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("the sealed value holds the plaintext")
	}
	got, err := s.Open(sealed, "client-a")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := s.Seal(plain, "client-a")
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same value are equal: the nonce is not random")
	}

	otherKEK, _ := seal.New(kek(2), "webhook-secret")
	otherLabel, _ := seal.New(kek(1), "something-else")
	noLabel, _ := seal.New(kek(1), "")
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	badVersion := bytes.Clone(sealed)
	badVersion[0] = 9
	for _, tt := range []struct {
		name   string
		s      *seal.Sealer
		sealed []byte
		owner  string
		want   error
	}{
		{"other owner", s, sealed, "client-b", seal.ErrOpen},
		{"other KEK", otherKEK, sealed, "client-a", seal.ErrOpen},
		{"other label", otherLabel, sealed, "client-a", seal.ErrOpen},
		{"no label", noLabel, sealed, "client-a", seal.ErrOpen},
		{"tampered", s, tampered, "client-a", seal.ErrOpen},
		{"version", s, badVersion, "client-a", nil},
		{"too short", s, sealed[:10], "client-a", nil},
		{"empty", s, nil, "client-a", nil},
	} {
		got, err := tt.s.Open(tt.sealed, tt.owner)
		if err == nil || got != nil {
			t.Errorf("%s: Open = %q, %v; want an error", tt.name, got, err)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}

	for _, n := range []int{0, 16, 31, 33} {
		if _, err := seal.New(make([]byte, n), "x"); err == nil {
			t.Errorf("New accepted a %d-byte KEK", n)
		}
	}
}

// keyStore keeps the signer's keys in memory.
type keyStore struct{ keys []store.SigningKey }

func (k *keyStore) ListSigningKeys(context.Context) ([]store.SigningKey, error) { return k.keys, nil }
func (k *keyStore) AddSigningKey(_ context.Context, key store.SigningKey) error {
	key.State = store.KeyCurrent
	k.keys = append([]store.SigningKey{key}, k.keys...)
	return nil
}
func (k *keyStore) AddFirstSigningKey(ctx context.Context, key store.SigningKey) (bool, error) {
	if len(k.keys) > 0 {
		return false, nil
	}
	return true, k.AddSigningKey(ctx, key)
}

// TestSignerFormat checks the claim in the package comment: with label "",
// a Sealer opens the signer's sealed private keys (the kid as owner), so the
// signer's private copy can be replaced by this package.
func TestSignerFormat(t *testing.T) {
	ks := &keyStore{}
	if _, err := signer.New(context.Background(), signer.Options{Store: ks, KEK: kek(7), Algorithm: signer.ES256}); err != nil {
		t.Fatal(err)
	}
	if len(ks.keys) != 1 {
		t.Fatalf("signer stored %d keys", len(ks.keys))
	}
	s, _ := seal.New(kek(7), "")
	der, err := s.Open(ks.keys[0].EncryptedKey, ks.keys[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
		t.Fatalf("opened value is not PKCS#8: %v", err)
	}
}
