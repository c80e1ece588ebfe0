package oauth

import (
	"strings"
	"testing"
)

// RFC 7636 Appendix B.
const (
	rfcVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

func TestS256ChallengeAppendixB(t *testing.T) {
	if got := S256Challenge(rfcVerifier); got != rfcChallenge {
		t.Fatalf("S256Challenge = %q, want %q", got, rfcChallenge)
	}
}

func TestVerifyPKCE(t *testing.T) {
	tests := []struct {
		name                        string
		challenge, method, verifier string
		want                        bool
	}{
		{"appendix B", rfcChallenge, "S256", rfcVerifier, true},
		{"plain refused", rfcVerifier, "plain", rfcVerifier, false},
		{"empty method refused", rfcChallenge, "", rfcVerifier, false},
		{"wrong verifier", rfcChallenge, "S256", strings.Replace(rfcVerifier, "d", "e", 1), false},
		{"short verifier", S256Challenge("abc"), "S256", "abc", false},
		{"verifier 42 chars", S256Challenge(strings.Repeat("a", 42)), "S256", strings.Repeat("a", 42), false},
		{"verifier 43 chars", S256Challenge(strings.Repeat("a", 43)), "S256", strings.Repeat("a", 43), true},
		{"verifier 128 chars", S256Challenge(strings.Repeat("~", 128)), "S256", strings.Repeat("~", 128), true},
		{"verifier 129 chars", S256Challenge(strings.Repeat("a", 129)), "S256", strings.Repeat("a", 129), false},
		{"verifier bad char", S256Challenge(strings.Repeat("a", 42) + "+"), "S256", strings.Repeat("a", 42) + "+", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyPKCE(tt.challenge, tt.method, tt.verifier); got != tt.want {
				t.Fatalf("VerifyPKCE = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidChallenge(t *testing.T) {
	for c, want := range map[string]bool{
		rfcChallenge:                    true,
		rfcChallenge[:42]:               false,
		rfcChallenge + "A":              false,
		strings.Repeat("+", 43):         false,
		strings.Repeat("A_-", 14) + "A": true,
	} {
		if got := validChallenge(c); got != want {
			t.Errorf("validChallenge(%q) = %v, want %v", c, got, want)
		}
	}
}
