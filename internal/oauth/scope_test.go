package oauth

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", []string{}, true},
		{"a b", []string{"a", "b"}, true},
		{"  a   b  a ", []string{"a", "b"}, true},
		{`a "b"`, nil, false},
		{`a\b`, nil, false},
		{"a\tb", nil, false},
		{"é", nil, false},
		{manyScopes(MaxScopes + 1), nil, false},
		{manyScopes(MaxScopes), strings.Fields(manyScopes(MaxScopes)), true},
		{strings.Repeat("x", 129), nil, false},
	}
	for _, tt := range tests {
		got, ok := ParseScope(tt.in)
		if ok != tt.ok || (ok && !slices.Equal(got, tt.want)) {
			t.Errorf("ParseScope(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func manyScopes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "s%d ", i)
	}
	return b.String()
}

func TestRedirectMatches(t *testing.T) {
	tests := []struct {
		registered, presented string
		want                  bool
	}{
		{"https://app.example/cb", "https://app.example/cb", true},
		{"https://app.example/cb", "https://app.example/cb/", false},
		{"https://app.example/cb", "https://app.example/CB", false},
		{"https://app.example/cb", "https://app.example:8443/cb", false},
		{"https://app.example/cb", "https://app.example/cb?x=1", false},
		{"http://127.0.0.1/callback", "http://127.0.0.1:51000/callback", true},
		{"http://127.0.0.1:9876/callback", "http://127.0.0.1:51000/callback", true},
		{"http://[::1]/cb", "http://[::1]:4000/cb", true},
		{"http://localhost/cb", "http://localhost:4000/cb", true},
		{"http://127.0.0.1/callback", "http://127.0.0.1:51000/other", false},
		{"http://127.0.0.1/callback", "http://[::1]:51000/callback", false},
		{"http://127.0.0.1/callback", "https://127.0.0.1:51000/callback", false},
		{"http://app.example/cb", "http://app.example:81/cb", false},
		{"http://127.0.0.1/cb", "http://user@127.0.0.1:5/cb", false},
		// Compared as strings: no case folding, no percent-decoding
		// (OAuth 2.1 §4.1.1); only the loopback port may vary, 1 to 65535.
		{"http://127.0.0.1:9876/callback", "HTTP://127.0.0.1:9876/callback", false},
		{"http://127.0.0.1:9876/callback", "http://127.0.0.1:9876/%63allback", false},
		{"http://127.0.0.1:9876/callback", "http://127.0.0.1:9876/callback?", false},
		{"http://localhost/cb", "http://LOCALHOST:4000/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:65535/cb", true},
		{"http://127.0.0.1/cb", "http://127.0.0.1:65536/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:080/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:+80/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:/cb", false},
		{"http://[::1]/cb", "http://[::1]:0/cb", false},
		{"http://[::1]/cb", "http://[::1]x/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:5/cb#", false},
	}
	for _, tt := range tests {
		if got := RedirectMatches(tt.registered, tt.presented); got != tt.want {
			t.Errorf("RedirectMatches(%q, %q) = %v, want %v", tt.registered, tt.presented, got, tt.want)
		}
	}
}

func TestNarrowScope(t *testing.T) {
	allowed := []string{"a", "b", "c"}
	for _, tt := range []struct {
		asked, want []string
		ok          bool
	}{
		{nil, allowed, true},
		{[]string{}, allowed, true},
		{[]string{"b"}, []string{"b"}, true},
		{[]string{"c", "a"}, []string{"c", "a"}, true},
		{[]string{"a", "d"}, nil, false},
	} {
		got, ok := NarrowScope(tt.asked, allowed)
		if ok != tt.ok || JoinScope(got) != JoinScope(tt.want) {
			t.Errorf("NarrowScope(%q) = %q, %v; want %q, %v", tt.asked, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParamPhrase(t *testing.T) {
	for k, want := range map[string]string{
		"scope":                "The scope parameter",
		"client_secret":        "The client_secret parameter",
		"gcs_0123456789abcdef": "An unknown parameter",
		"":                     "An unknown parameter",
		"Scope":                "An unknown parameter",
	} {
		if got := ParamPhrase(k); got != want {
			t.Errorf("ParamPhrase(%q) = %q, want %q", k, got, want)
		}
	}
}
