package seal_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

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

// TestPreviousKEKs: a Sealer made with previous KEKs seals under the
// current one and opens under any, and refuses keys it was not given.
func TestPreviousKEKs(t *testing.T) {
	plain := []byte("whsec_rotate")
	old, _ := seal.New(kek(1), "webhook-secret")
	older, _ := seal.New(kek(2), "webhook-secret")
	underOld, _ := old.Seal(plain, "client-a")
	underOlder, _ := older.Seal(plain, "client-a")

	s, err := seal.New(kek(3), "webhook-secret", kek(1), kek(2))
	if err != nil {
		t.Fatal(err)
	}
	for name, sealed := range map[string][]byte{"previous": underOld, "second previous": underOlder} {
		if got, err := s.Open(sealed, "client-a"); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: Open = %q, %v", name, got, err)
		}
		// The owner and label still bind a value sealed under a previous KEK.
		if _, err := s.Open(sealed, "client-b"); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("%s, other owner: %v", name, err)
		}
		other, _ := seal.New(kek(3), "other", kek(1), kek(2))
		if _, err := other.Open(sealed, "client-a"); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("%s, other label: %v", name, err)
		}
	}

	// New values are sealed under the current KEK only.
	fresh, _ := s.Seal(plain, "client-a")
	onlyNew, _ := seal.New(kek(3), "webhook-secret")
	if got, err := onlyNew.Open(fresh, "client-a"); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("the current KEK alone: Open = %q, %v", got, err)
	}
	if _, err := old.Open(fresh, "client-a"); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("a previous KEK opens a new value: %v", err)
	}
	// The same format as before: one version byte, then the AEAD's output.
	if len(fresh) != len(underOld) || fresh[0] != underOld[0] {
		t.Errorf("sealed format changed: %d bytes, version %d; was %d bytes, version %d", len(fresh), fresh[0], len(underOld), underOld[0])
	}

	// Keys it was not given open nothing.
	wrong, _ := seal.New(kek(4), "webhook-secret", kek(5))
	for name, sealed := range map[string][]byte{"previous": underOld, "current": fresh} {
		if got, err := wrong.Open(sealed, "client-a"); !errors.Is(err, seal.ErrOpen) || got != nil {
			t.Errorf("wrong KEKs, %s: Open = %q, %v", name, got, err)
		}
	}
	// A previous KEK equal to the current one, or repeated, is no error.
	if _, err := seal.New(kek(3), "x", kek(3), kek(1), kek(1)); err != nil {
		t.Errorf("repeated KEKs: %v", err)
	}
	for _, n := range []int{0, 16, 33} {
		if _, err := seal.New(kek(3), "x", kek(1), make([]byte, n)); err == nil {
			t.Errorf("New accepted a %d-byte previous KEK", n)
		}
	}
}

func TestReseal(t *testing.T) {
	plain := []byte("whsec_rotate")
	old, _ := seal.New(kek(1), "webhook-secret")
	underOld, _ := old.Seal(plain, "client-a")
	s, _ := seal.New(kek(3), "webhook-secret", kek(1))

	resealed, fromPrevious, err := s.Reseal(underOld, "client-a")
	if err != nil || !fromPrevious {
		t.Fatalf("Reseal of a previous KEK's value: %v, fromPrevious %v", err, fromPrevious)
	}
	onlyNew, _ := seal.New(kek(3), "webhook-secret")
	if got, err := onlyNew.Open(resealed, "client-a"); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("resealed value under the current KEK alone: %q, %v", got, err)
	}
	if _, err := old.Open(resealed, "client-a"); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("the previous KEK opens the resealed value: %v", err)
	}
	// Resealing again changes nothing: it is under the current KEK already.
	again, fromPrevious, err := s.Reseal(resealed, "client-a")
	if err != nil || fromPrevious || !bytes.Equal(again, resealed) {
		t.Errorf("second Reseal: changed %v, fromPrevious %v, %v", !bytes.Equal(again, resealed), fromPrevious, err)
	}
	// What it cannot open it refuses, and returns nothing.
	if got, _, err := s.Reseal(underOld, "client-b"); !errors.Is(err, seal.ErrOpen) || got != nil {
		t.Errorf("Reseal for another owner: %q, %v", got, err)
	}
	stranger, _ := seal.New(kek(9), "webhook-secret")
	if got, _, err := stranger.Reseal(underOld, "client-a"); !errors.Is(err, seal.ErrOpen) || got != nil {
		t.Errorf("Reseal with a KEK that never sealed it: %q, %v", got, err)
	}
}

// keyStore keeps the signer's keys in memory, newest first.
type keyStore struct{ keys []store.SigningKey }

func (k *keyStore) ListSigningKeys(context.Context) ([]store.SigningKey, error) {
	return slices.Clone(k.keys), nil
}

func (k *keyStore) AddSigningKey(_ context.Context, key store.SigningKey, since time.Time) (bool, error) {
	for _, o := range k.keys {
		if o.Algorithm == key.Algorithm && (since.IsZero() || o.CreatedAt.After(since)) {
			return false, nil
		}
	}
	k.keys = append([]store.SigningKey{key}, k.keys...)
	return true, nil
}

func (k *keyStore) ReserveSigningKey(_ context.Context, kid string, until time.Time) error {
	for i := range k.keys {
		if k.keys[i].ID == kid {
			if until.After(k.keys[i].KeepUntil) {
				k.keys[i].KeepUntil = until
			}
			return nil
		}
	}
	return store.ErrNotFound
}

func (k *keyStore) DeleteSigningKey(_ context.Context, kid string, before time.Time) (bool, error) {
	for i, o := range k.keys {
		if o.ID == kid && o.KeepUntil.Before(before) {
			k.keys = slices.Delete(k.keys, i, i+1)
			return true, nil
		}
	}
	return false, nil
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

// TestSignerPreviousKEKs: a signer given previous KEKs loads keys sealed
// under one of them, and seals the keys it adds under the current one.
func TestSignerPreviousKEKs(t *testing.T) {
	ctx := context.Background()
	ks := &keyStore{}
	if _, err := signer.New(ctx, signer.Options{Store: ks, KEK: kek(1), Algorithm: signer.ES256}); err != nil {
		t.Fatal(err)
	}
	if _, err := signer.New(ctx, signer.Options{Store: ks, KEK: kek(2), Algorithm: signer.ES256}); err == nil {
		t.Fatal("a signer with another KEK loaded the keys")
	}
	if len(ks.keys) != 1 {
		t.Fatalf("the store holds %d keys, want the first one only", len(ks.keys))
	}
	// Rotating to kek(2): the old key opens, a new ES256 key signs too.
	if _, err := signer.New(ctx, signer.Options{Store: ks, KEK: kek(2), PreviousKEKs: [][]byte{kek(3), kek(1)},
		Algorithm: signer.ES256, Algorithms: []string{signer.ES256, signer.EdDSA}}); err != nil {
		t.Fatalf("signer with the previous KEK: %v", err)
	}
	if len(ks.keys) != 2 {
		t.Fatalf("the store holds %d keys, want the first and an EdDSA one", len(ks.keys))
	}
	oldS, _ := signer.NewKeySealer(kek(1))
	newS, _ := signer.NewKeySealer(kek(2))
	for _, k := range ks.keys {
		want := newS
		if k.Algorithm == signer.ES256 {
			want = oldS // sealed before the rotation, not re-sealed by the signer
		}
		if _, err := want.Open(k.EncryptedKey, k.ID); err != nil {
			t.Errorf("%s key: %v", k.Algorithm, err)
		}
	}
}

// TestFormatOfRandomNonceGCM: values keep the format of the standard
// library's cipher.NewGCMWithRandomNonce (what earlier versions sealed
// with), both ways: the sealer's own AEAD exists only so that the
// BoringCrypto build, whose AES block that constructor refuses, can seal.
func TestFormatOfRandomNonceGCM(t *testing.T) {
	kek := kek(7)
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	std, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		t.Skipf("this build's AES block has no random-nonce GCM (BoringCrypto): %v", err)
	}
	s, err := seal.New(kek, "lbl")
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("lbl\x00owner")
	old := std.Seal([]byte{1}, nil, []byte("secret"), ad)
	if plain, err := s.Open(old, "owner"); err != nil || string(plain) != "secret" {
		t.Errorf("Open of a value sealed by NewGCMWithRandomNonce: %q, %v", plain, err)
	}
	sealed, _ := s.Seal([]byte("secret"), "owner")
	if plain, err := std.Open(nil, nil, sealed[1:], ad); err != nil || string(plain) != "secret" {
		t.Errorf("NewGCMWithRandomNonce cannot open what Seal made: %q, %v", plain, err)
	}
	if len(sealed) != 1+12+len("secret")+16 {
		t.Errorf("sealed length %d", len(sealed))
	}
}
