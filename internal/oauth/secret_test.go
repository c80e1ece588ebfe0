package oauth

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

func TestSecretKey(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 0, 0, 123e6, time.UTC)
	s := (&Provider{}).newSecret(PrefixCode, at)
	k := SecretKey(s)
	if len(k) != 38 || !bytes.Equal(k[6:], store.Hash(s)) {
		t.Fatalf("key %x of %q: want the time then the SHA-256", k, s)
	}
	if ms := int64(k[0])<<40 | int64(k[1])<<32 | int64(k[2])<<24 | int64(k[3])<<16 | int64(k[4])<<8 | int64(k[5]); ms != at.UnixMilli() {
		t.Fatalf("time in the key %d, want %d", ms, at.UnixMilli())
	}
	if later := SecretKey((&Provider{}).newSecret(PrefixCode, at.Add(time.Millisecond))); bytes.Compare(k, later) >= 0 {
		t.Fatal("a later secret's key sorts first")
	}
	// Anything not of the shape is keyed by its hash alone.
	for _, v := range []string{
		"", "gac_", PrefixCode + RandomToken(32), // before time-ordered secrets
		s[:len(s)-1], s + "x", // a character short or long
		"gac_!!!!!!!!" + s[12:],                  // not base64url where the time is
		"nounderscore" + strings.Repeat("a", 39), // no prefix
	} {
		if got := SecretKey(v); !bytes.Equal(got, store.Hash(v)) {
			t.Fatalf("SecretKey(%q) = %x, want its SHA-256", v, got)
		}
	}
}

// TestLegacySecrets: with LegacySecrets the provider issues the shape of
// earlier releases, keyed by its plain SHA-256, which they can look up.
func TestLegacySecrets(t *testing.T) {
	s := (&Provider{LegacySecrets: true}).newSecret(PrefixRefreshToken, time.Now())
	if len(s) != len(PrefixRefreshToken)+43 || !strings.HasPrefix(s, PrefixRefreshToken) {
		t.Fatalf("legacy secret %q: want the prefix and 43 characters", s)
	}
	if !bytes.Equal(SecretKey(s), store.Hash(s)) {
		t.Fatal("a legacy secret's key is not its SHA-256")
	}
}
