package oauth

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/store"
)

// The secrets the store looks up — codes, temp tokens, refresh tokens and
// opaque access tokens — are issued in time order: a secret is its prefix,
// then its issue time (Unix milliseconds, 48 bits big-endian, 8 base64url
// characters), then 256 random bits (43 characters). Its record key
// (SecretKey) is the issue time's 6 bytes followed by the SHA-256 of the
// whole secret. So the keys of secrets issued together sit side by side in
// the store's B-trees, and a commit of a batch of them writes a few pages at
// the trees' right edges instead of one page per secret at random places
// (docs/benchmarks.md, "Keys in time order").
//
// The key is computed from a presented secret alone, as before. The hash
// covers the whole secret, time included, so a key is as unguessable as
// the secret's 256 random bits; the time tells the secret's holder only
// when it was issued. A secret issued before this shape (prefix and 43
// characters) keeps its plain SHA-256 key.

// secretTimeLen is the length of a secret's issue time (6 bytes in
// base64url).
const secretTimeLen = 8

// newSecret returns a secret with prefix, issued at now: without its
// time when p.LegacySecrets says so.
func (p *Provider) newSecret(prefix string, now time.Time) string {
	if p.LegacySecrets {
		return prefix + RandomToken(32)
	}
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(now.UnixMilli()))
	return prefix + base64.RawURLEncoding.EncodeToString(ms[2:]) + RandomToken(32)
}

// SecretKey is the record key of a secret as newSecret makes it (any of
// the prefixes, which end in '_'): its issue time then its hash. Any other
// string's key is its hash.
func SecretKey(secret string) []byte {
	sum := store.Hash(secret)
	p := strings.IndexByte(secret, '_') + 1
	if p == 0 || p > 8 || len(secret) != p+secretTimeLen+43 {
		return sum
	}
	var key [6 + 32]byte
	if n, err := base64.RawURLEncoding.Decode(key[:6], []byte(secret[p:p+secretTimeLen])); err != nil || n != 6 {
		return sum
	}
	copy(key[6:], sum)
	return key[:]
}

// newID returns a record ID for a JWT's jti, a refresh family or a
// connection: a UUIDv7 (RFC 9562), time-ordered for the same reason as the
// secrets' keys.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}
