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
	}
	for _, tt := range tests {
		if got := RedirectMatches(tt.registered, tt.presented); got != tt.want {
			t.Errorf("RedirectMatches(%q, %q) = %v, want %v", tt.registered, tt.presented, got, tt.want)
		}
	}
}
