package oauth

import (
	"encoding/base64"
	"testing"
)

// TestRandomToken: RandomToken(32), the secret behind every code, token,
// client secret and request_uri, is 256 random bits (FAPI 2.0 §5.4.1 asks
// for 128 at least), base64url, and no two of 10,000 are alike.
func TestRandomToken(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		s := RandomToken(32)
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("RandomToken(32) = %q: %d bytes, %v", s, len(b), err)
		}
		if seen[s] {
			t.Fatalf("RandomToken(32) repeated %q", s)
		}
		seen[s] = true
	}
}
