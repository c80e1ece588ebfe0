// Package events delivers grantd's connection events (the outbox rows the
// store writes in the same transaction as the connection change) to each
// client's webhook URL, signed with the client's webhook secret.
//
// A Worker polls the outbox: every pass takes the due events (at most one per
// connection: the store offers only the oldest pending event of each),
// POSTs them, and records the outcome. Delivery is at least once and in
// order per connection; a failed attempt is retried with exponential
// back-off until MaxAttempts, after which the event is given up and the
// connection's next event flows.
//
// Sign and Verify are the signature scheme, exported for receivers written
// in Go and for tests:
//
//	Grantd-Timestamp: <Unix seconds>
//	Grantd-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The HMAC key is the webhook secret exactly as shown once by the admin API
// ("whsec_…", all of it, as bytes).
package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	HeaderEventID   = "Grantd-Event-Id"
	HeaderEventType = "Grantd-Event-Type"
	HeaderTimestamp = "Grantd-Timestamp"
	HeaderSignature = "Grantd-Signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, either way, when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// signatureVersion names the scheme inside Grantd-Signature.
const signatureVersion = "v1"

// Errors of Verify.
var (
	ErrNoSignature = errors.New("events: no Grantd-Timestamp or no v1 Grantd-Signature")
	ErrTimestamp   = errors.New("events: Grantd-Timestamp outside the tolerance")
	ErrSignature   = errors.New("events: signature does not match")
)

// Sign returns the Grantd-Signature header value for body sent at ts (Unix
// seconds): "v1=" and the hex HMAC-SHA256, under secret, of ts in decimal,
// ".", and body.
func Sign(secret []byte, ts int64, body []byte) string {
	return signatureVersion + "=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery: Grantd-Timestamp must be within tolerance of now
// (DefaultTolerance when tolerance <= 0), and one of the v1 signatures in
// Grantd-Signature (entries separated by commas or spaces; today grantd sends
// one) must match body under secret. The comparison is in constant time.
// body must be the raw request body, before any JSON decoding.
func Verify(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	tsText := header.Get(HeaderTimestamp)
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || tsText == "" {
		return ErrNoSignature
	}
	var sigs [][]byte
	for _, v := range header.Values(HeaderSignature) {
		for _, entry := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			scheme, sig, ok := strings.Cut(entry, "=")
			if !ok || scheme != signatureVersion {
				continue // another scheme: ignored, for later versions
			}
			if b, err := hex.DecodeString(sig); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	if len(sigs) == 0 {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := mac(secret, ts, body)
	ok := false
	for _, sig := range sigs {
		ok = hmac.Equal(sig, want) || ok // every entry compared, in constant time
	}
	if !ok {
		return ErrSignature
	}
	return nil
}
