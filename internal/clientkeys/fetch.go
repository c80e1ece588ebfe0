package clientkeys

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// errRedirect is what the client's CheckRedirect returns: a jwks_uri must
// answer directly (a redirect could lead anywhere, and is one more request
// an attacker gets grantd to make).
var errRedirect = errors.New("redirect")

// accept is the Accept header of a fetch (RFC 7517 §8.5.1).
const accept = "application/jwk-set+json, application/json"

// fetch GETs uri and parses the JWK Set it answers, under ctx (which
// carries the Timeout); size is the body's length.
func (f *Fetcher) fetch(ctx context.Context, uri string) (set *jose.JSONWebKeySet, size int, _ *Error) {
	body, _, gerr := f.get(ctx, uri, accept, f.maxBytes)
	if gerr != nil {
		return nil, 0, gerr
	}
	set, perr := parseSet(body)
	return set, len(body), perr
}

// get GETs uri with the fetcher's guarded client (no redirects, its
// timeout) and returns a 200's body of at most maxBytes, and its headers.
func (f *Fetcher) get(ctx context.Context, uri, acceptTypes string, maxBytes int64) ([]byte, http.Header, *Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, nil, newError(KindBadURL, "does not parse", nil)
	}
	req.Header.Set("Accept", acceptTypes)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := newError(KindStatus, strconv.Itoa(resp.StatusCode), nil)
		e.Status = resp.StatusCode
		return nil, nil, e
	}
	tooLarge := newError(KindTooLarge, "over "+strconv.FormatInt(maxBytes, 10)+" bytes", nil)
	if resp.ContentLength > maxBytes {
		return nil, nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, nil, transportError(ctx, err)
	}
	if int64(len(body)) > maxBytes {
		return nil, nil, tooLarge
	}
	return body, resp.Header, nil
}

// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-
// document): a client_id that is an https URL names the client's metadata,
// fetched with the same guard as a jwks_uri.
const (
	// MaxDocumentBytes bounds a client metadata document (the draft
	// suggests 5 KiB; grantd allows some more for long redirect lists).
	MaxDocumentBytes = 16 << 10
	// MinDocumentAge and MaxDocumentAge bound how long a fetched document
	// is used, whatever its Cache-Control says; DefaultDocumentAge is used
	// when it says nothing (or no-store, no-cache: then MinDocumentAge).
	MinDocumentAge     = time.Minute
	DefaultDocumentAge = 10 * time.Minute
	MaxDocumentAge     = 24 * time.Hour
)

// Document fetches the client metadata document at uri (CheckURL first:
// https, a public host unless AllowPrivate; no redirects; the fetcher's
// timeout; at most MaxDocumentBytes) and says how long it may be used: its
// Cache-Control max-age within MinDocumentAge and MaxDocumentAge. It is
// not cached here: the caller keeps the client it makes of it.
func (f *Fetcher) Document(ctx context.Context, uri string) ([]byte, time.Duration, error) {
	if err := f.CheckURL(uri); err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	body, h, err := f.get(ctx, uri, "application/json", MaxDocumentBytes)
	if err != nil {
		return nil, 0, err
	}
	return body, documentAge(h.Get("Cache-Control")), nil
}

// documentAge is how long a document with Cache-Control cc is used.
func documentAge(cc string) time.Duration {
	age := DefaultDocumentAge
	for d := range strings.SplitSeq(strings.ToLower(cc), ",") {
		d = strings.TrimSpace(d)
		switch {
		case d == "no-store" || d == "no-cache":
			return MinDocumentAge
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.ParseInt(strings.TrimPrefix(d, "max-age="), 10, 64); err == nil && n >= 0 {
				age = time.Duration(min(n, int64(MaxDocumentAge/time.Second))) * time.Second
			}
		}
	}
	return min(max(age, MinDocumentAge), MaxDocumentAge)
}

// transportError classifies an error of the request or of reading its
// body, naming the class only: a transport error's text can quote what
// the server sent (a malformed status line, say).
func transportError(ctx context.Context, err error) *Error {
	var np *notPublicError
	var dns *net.DNSError
	var ne net.Error
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	var op *net.OpError
	switch {
	case errors.As(err, &np):
		return newError(KindNotPublic, np.addr, err)
	case errors.Is(err, errRedirect):
		return newError(KindRedirect, "", nil)
	case errors.Is(err, context.Canceled) && ctx.Err() == context.Canceled:
		return newError(KindCanceled, "", err)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded ||
		errors.As(err, &ne) && ne.Timeout():
		return newError(KindTimeout, "", err)
	case errors.As(err, &dns):
		return newError(KindNetwork, "DNS lookup failed", err)
	case errors.As(err, &cv), errors.As(err, &rh), errors.As(err, &alert):
		return newError(KindNetwork, "TLS handshake failed", err)
	case errors.As(err, &op) && op.Op == "dial":
		return newError(KindNetwork, "connection failed", err)
	}
	return newError(KindNetwork, "request failed", err)
}

// privateMembers are the JWK members that hold private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// parseSet parses body as a JWK Set of public signing keys. The set is
// refused whole if any key in it holds private or symmetric key material
// (a client publishing its private key has lost it), or is malformed or
// invalid; a key of a type go-jose does not know is skipped, as RFC 7517
// §5 asks; a key whose use is not "sig" (or absent) is dropped. A set
// left with no key is refused. Errors name the key by its index only.
func parseSet(body []byte) (*jose.JSONWebKeySet, *Error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, newError(KindMalformed, "", nil)
	}
	if len(raw.Keys) == 0 {
		return nil, newError(KindNoKeys, "the set is empty", nil)
	}
	set := &jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(raw.Keys))}
	for i, rk := range raw.Keys {
		badKey := func(what string) *Error {
			return newError(KindBadKey, "key "+strconv.Itoa(i)+" "+what, nil)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(rk, &members); err != nil {
			return nil, badKey("is not a JSON object")
		}
		var kty string
		if v, ok := members["kty"]; ok {
			if json.Unmarshal(v, &kty) != nil {
				return nil, badKey("is malformed")
			}
		}
		if kty == "oct" {
			return nil, badKey("is symmetric")
		}
		for _, m := range privateMembers {
			if _, ok := members[m]; ok {
				return nil, badKey("holds private key material")
			}
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rk); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				continue
			}
			return nil, badKey("is malformed")
		}
		switch {
		case !k.IsPublic():
			return nil, badKey("is not a public key")
		case !k.Valid():
			return nil, badKey("is invalid")
		}
		if k.Use == "" || k.Use == "sig" {
			set.Keys = append(set.Keys, k)
		}
	}
	if len(set.Keys) == 0 {
		return nil, newError(KindNoKeys, "none is a signing key of a known type", nil)
	}
	return set, nil
}
