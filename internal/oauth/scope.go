package oauth

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxScopes bounds how many scope values one request may carry.
const MaxScopes = 64

// ParseScope splits a space-delimited scope string (RFC 6749 §3.3), dropping
// duplicates and keeping order. It reports false when a value holds a
// character the RFC does not allow or there are too many values.
func ParseScope(s string) ([]string, bool) {
	fields := strings.Split(s, " ")
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if f == "" {
			continue
		}
		if !validScopeToken(f) {
			return nil, false
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) > MaxScopes {
		return nil, false
	}
	return out, true
}

// validScopeToken: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// ValidText reports whether s can be stored and compared as text: valid
// UTF-8 with no NUL. Every parameter grantd reads must be (PostgreSQL
// refuses anything else, and so does grantd, with invalid_request).
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// JoinScope is the inverse of ParseScope.
func JoinScope(scopes []string) string { return strings.Join(scopes, " ") }

// NarrowScope is the one rule for the scope a request gets, wherever it
// asks (token, authorize, connect session, refresh, registration): within
// allowed it gets what it asked for, and asking for nothing gets all of
// allowed. ok is false when asked exceeds allowed (RFC 6749 §3.3: refused,
// not silently trimmed, so that the client learns it).
func NarrowScope(asked, allowed []string) (scopes []string, ok bool) {
	if !subset(asked, allowed) {
		return nil, false
	}
	if len(asked) == 0 {
		return allowed, true
	}
	return asked, true
}

// requestedScope parses a scope parameter ("" = absent) and narrows it to
// allowed; tooWide is the description when it asks for more.
func requestedScope(raw string, allowed []string, tooWide string) ([]string, error) {
	asked, ok := ParseScope(raw)
	if !ok {
		return nil, InvalidScope("The scope parameter is malformed.").With(ReasonMalformedParam, "scope")
	}
	scopes, ok := NarrowScope(asked, allowed)
	if !ok {
		return nil, InvalidScope("%s", tooWide).With(ReasonScopeNotAllowed, "scope")
	}
	return scopes, nil
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}
