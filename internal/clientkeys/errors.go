package clientkeys

// Kind classifies an Error.
type Kind int

// The kinds of Error.
const (
	// KindBadURL: the URI may not be fetched at all (CheckURL refused it).
	KindBadURL Kind = iota + 1
	// KindNotPublic: the host resolved to (or is) an address that is not
	// public, and AllowPrivate is off; nothing was sent to it.
	KindNotPublic
	// KindNetwork: DNS, connection, TLS or HTTP failed.
	KindNetwork
	// KindTimeout: the fetch took longer than Options.Timeout, or the
	// caller's context expired first.
	KindTimeout
	// KindCanceled: the caller's context was canceled.
	KindCanceled
	// KindRedirect: the server answered with a redirect, which is not
	// followed.
	KindRedirect
	// KindStatus: the server answered with a status other than 200.
	KindStatus
	// KindTooLarge: the response body is larger than Options.MaxBytes.
	KindTooLarge
	// KindMalformed: the response body is not a JWK Set.
	KindMalformed
	// KindBadKey: the set holds a key that must not be there: one with
	// private or symmetric key material, or a malformed or invalid one.
	KindBadKey
	// KindNoKeys: the set holds no usable signing key.
	KindNoKeys
)

var kindText = map[Kind]string{
	KindBadURL:    "invalid jwks_uri",
	KindNotPublic: "address is not public",
	KindNetwork:   "fetch failed",
	KindTimeout:   "timed out",
	KindCanceled:  "canceled",
	KindRedirect:  "redirect refused",
	KindStatus:    "unexpected HTTP status",
	KindTooLarge:  "response too large",
	KindMalformed: "response is not a JWK Set",
	KindBadKey:    "unacceptable key in JWK Set",
	KindNoKeys:    "no usable signing key in JWK Set",
}

func (k Kind) String() string {
	if s, ok := kindText[k]; ok {
		return s
	}
	return "unknown error"
}

// Error is the error Keys and CheckURL return. Its text is made by this
// package only: it never quotes the response body (nor a key's kid, nor a
// parser's message about the body), so it is safe to log.
type Error struct {
	// Kind says what went wrong.
	Kind Kind
	// Status is the HTTP status, for KindStatus.
	Status int
	// Err is the underlying cause when there is one (a context, network
	// or TLS error), for errors.Is and errors.As; its text is not part of
	// Error().
	Err error

	detail string
}

func (e *Error) Error() string {
	s := "clientkeys: " + e.Kind.String()
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func newError(k Kind, detail string, cause error) *Error {
	return &Error{Kind: k, detail: detail, Err: cause}
}
