package clients

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/assertion"
	"github.com/grantd/grantd/internal/store"
)

// Bounds on registration parameters.
const (
	MaxNameLen            = 200 // characters
	MaxRedirectURIs       = 20
	MaxRedirectURILen     = 2048
	MaxConsentURLLen      = 2048
	MaxWebhookURLLen      = 2048
	MaxTierLen            = 64
	MaxStateReasonLen     = 256 // characters
	MaxMetadataKeys       = 20
	MaxMetadataKeyLen     = 64
	MaxMetadataValueLen   = 256
	MaxAccessTokenTTL     = 24 * time.Hour
	MaxRefreshIdleTimeout = 365 * 24 * time.Hour
	MaxRefreshTokenTTL    = 10 * 365 * 24 * time.Hour
	MaxConsentTTL         = 10 * 365 * 24 * time.Hour
	MaxRetentionTTL       = 10 * 365 * 24 * time.Hour
	MaxAllowedResources   = 20
	MaxAllowedCORSOrigins = 20
	MaxJWKSBytes          = 64 << 10
	MaxJWKSKeys           = 20
	MaxJWKSURILen         = 2048
)

// Defaults of fields a registration leaves out.
const (
	DefaultAuthMethod         = store.AuthMethodBasic
	DefaultEnvironment        = "sandbox"
	DefaultState              = store.ClientActive
	DefaultRefreshPolicy      = store.RefreshRotating
	DefaultAccessTokenFormat  = store.TokenFormatJWT
	DefaultAccessTokenTTL     = oauth.DefaultAccessTokenTTL
	DefaultRefreshIdleTimeout = oauth.DefaultRefreshIdleTimeout
)

// Response types.
const (
	ResponseTypeCode      = oauth.CodeKindCode
	ResponseTypeTempToken = oauth.CodeKindTempToken
)

// SigningAlgorithms are the JWS algorithms a client's access tokens may be
// signed with when the Manager names none (config.SupportedSigningAlgorithms).
var SigningAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// Allowed values of the enumerated fields, in the order error messages list
// them.
var (
	grantTypes    = []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantDeviceCode}
	responseTypes = []string{ResponseTypeCode, ResponseTypeTempToken}
	authMethods   = []string{store.AuthMethodBasic, store.AuthMethodPost, store.AuthMethodNone, store.AuthMethodPrivateKeyJWT,
		store.AuthMethodTLS, store.AuthMethodSelfSignedTLS}
	environments = []string{"development", "production", "sandbox"}
	states       = []string{store.ClientActive, store.ClientSuspended, store.ClientPending}
	refreshPols  = []string{store.RefreshRotating, store.RefreshFixed}
	tokenFormats = []string{store.TokenFormatJWT, store.TokenFormatOpaque}
)

// ValidationError lists every problem with a registration at once. The
// problems are safe to show to the caller.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "invalid client metadata: " + strings.Join(e.Problems, "; ")
}

type problems []string

func (ps *problems) add(format string, args ...any) { *ps = append(*ps, fmt.Sprintf(format, args...)) }

// quote shows a caller's value in a problem, bounded.
func quote(s string) string { return strconv.Quote(truncate(s, 64)) }

// toClient validates p and returns the client it describes, with defaults
// filled in. ID, secret, timestamps (StateChangedAt too) and the balance
// are left for the caller.
func (m *Manager) toClient(p Params) (store.Client, error) {
	var ps problems
	c := store.Client{
		Name:           p.Name,
		Tier:           p.Tier,
		StateReason:    p.StateReason,
		ConsentURL:     p.ConsentURL,
		ResourceServer: p.ResourceServer,
		// RFC 9449 §5.2.
		DPoPBoundAccessTokens: p.DPoPBoundAccessTokens,
		Security:              store.ClientSecurity{RequirePAR: p.RequirePushedAuthorizationRequests},
		WebhookURL:            p.WebhookURL,
		Metered:               p.Metered,
		Overdraft:             p.Overdraft,
		OperatingHours:        cloneSchedule(p.OperatingHours),
	}

	switch n := utf8.RuneCountInString(p.Name); {
	case strings.TrimSpace(p.Name) == "":
		ps.add("name is required")
	case n > MaxNameLen:
		ps.add("name is longer than %d characters", MaxNameLen)
	case !printable(p.Name):
		ps.add("name must be valid UTF-8 without control characters, bidi controls or invisible characters (such as U+202E)")
	}

	c.AuthMethod = enum(&ps, "token_endpoint_auth_method", p.TokenEndpointAuthMethod, DefaultAuthMethod, authMethods)
	c.Environment = enum(&ps, "environment", p.Environment, DefaultEnvironment, environments)
	c.State = enum(&ps, "state", p.State, DefaultState, states)
	switch {
	case utf8.RuneCountInString(p.StateReason) > MaxStateReasonLen:
		ps.add("state_reason is longer than %d characters", MaxStateReasonLen)
	case !printable(p.StateReason):
		ps.add("state_reason must be valid UTF-8 without control characters, bidi controls or invisible characters")
	}
	c.RefreshPolicy = enum(&ps, "refresh_policy", p.RefreshPolicy, DefaultRefreshPolicy, refreshPols)
	c.TokenFormat = enum(&ps, "access_token_format", p.AccessTokenFormat, DefaultAccessTokenFormat, tokenFormats)
	// "" signs with the server's default algorithm, whatever it is then.
	c.AccessTokenSigningAlg = enum(&ps, "access_token_signing_alg", p.AccessTokenSigningAlg, "", m.signingAlgorithms())
	if c.AccessTokenSigningAlg != "" && c.TokenFormat != store.TokenFormatJWT {
		ps.add("access_token_signing_alg applies only to access_token_format jwt: opaque tokens are not signed")
	}

	m.checkKeys(&ps, &c, p)

	// Resource indicators (RFC 8707 §2): absolute URIs without fragment.
	if len(p.AllowedResources) > MaxAllowedResources {
		ps.add("allowed_resources has more than %d entries", MaxAllowedResources)
	} else {
		for i, r := range p.AllowedResources {
			switch {
			case !oauth.ValidResource(r):
				ps.add("allowed_resources[%d] %s is not an absolute URI without a fragment (at most 2048 characters)", i, quote(r))
			case !slices.Contains(c.Security.AllowedResources, r):
				c.Security.AllowedResources = append(c.Security.AllowedResources, r)
			}
		}
	}

	// Web origins (CORS): each as a browser serializes it.
	if len(p.AllowedCORSOrigins) > MaxAllowedCORSOrigins {
		ps.add("allowed_cors_origins has more than %d entries", MaxAllowedCORSOrigins)
	} else {
		for i, o := range p.AllowedCORSOrigins {
			switch {
			case !oauth.ValidOrigin(o):
				ps.add("allowed_cors_origins[%d] %s is not a web origin (scheme://host[:port], https, or http on a loopback host; no path)", i, quote(o))
			case !slices.Contains(c.Security.AllowedCORSOrigins, o):
				c.Security.AllowedCORSOrigins = append(c.Security.AllowedCORSOrigins, o)
			}
		}
	}

	// Redirect URIs.
	if len(p.RedirectURIs) > MaxRedirectURIs {
		ps.add("redirect_uris has more than %d entries", MaxRedirectURIs)
	} else {
		c.RedirectURIs = []string{}
		for i, u := range p.RedirectURIs {
			if msg := checkRedirectURI(u, false); msg != "" {
				ps.add("redirect_uris[%d] %s", i, msg)
				continue
			}
			if !slices.Contains(c.RedirectURIs, u) {
				c.RedirectURIs = append(c.RedirectURIs, u)
			}
		}
	}

	// Grant and response types.
	c.GrantTypes = enumList(&ps, "grant_types", p.GrantTypes, grantTypes)
	if p.GrantTypes == nil {
		// A public client can only use the code flow; its missing redirect
		// URI is then the problem worth reporting.
		if len(p.RedirectURIs) > 0 || p.TokenEndpointAuthMethod == store.AuthMethodNone {
			c.GrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
		} else {
			c.GrantTypes = []string{oauth.GrantClientCredentials}
		}
	}
	hasCode := slices.Contains(c.GrantTypes, oauth.GrantAuthorizationCode)
	hasDevice := slices.Contains(c.GrantTypes, oauth.GrantDeviceCode)
	c.ResponseTypes = enumList(&ps, "response_types", p.ResponseTypes, responseTypes)
	if len(c.ResponseTypes) == 0 && hasCode {
		// The core treats no response types as ["code"]; say so.
		c.ResponseTypes = []string{ResponseTypeCode}
	}
	public := c.AuthMethod == store.AuthMethodNone
	switch {
	case p.GrantTypes != nil && len(p.GrantTypes) == 0:
		ps.add("grant_types must not be empty")
	case public && slices.Contains(c.GrantTypes, oauth.GrantClientCredentials):
		ps.add("a public client (token_endpoint_auth_method none) may not use the client_credentials grant")
	case public && !hasCode && !hasDevice:
		ps.add("a public client (token_endpoint_auth_method none) must use the authorization_code or the device code grant")
	}
	if slices.Contains(c.GrantTypes, oauth.GrantRefreshToken) && !hasCode && !hasDevice {
		ps.add("the refresh_token grant requires the authorization_code or the device code grant")
	}
	if slices.Contains(c.ResponseTypes, ResponseTypeCode) && !hasCode {
		ps.add("response_type code requires the authorization_code grant")
	}
	needsRedirect := hasCode || slices.Contains(c.ResponseTypes, ResponseTypeTempToken)
	if needsRedirect && len(p.RedirectURIs) == 0 {
		ps.add("the authorization_code grant and response_type temp_token require at least one redirect_uri")
	}

	// Scope.
	if scopes, ok := oauth.ParseScope(p.Scope); ok {
		c.Scopes = scopes
	} else {
		ps.add("scope must be space-delimited values of printable ASCII without quotes or backslashes (at most %d values of 128 characters)", oauth.MaxScopes)
	}

	// Tier: the server's default when absent; one of its tiers when it
	// names them.
	if c.Tier == "" {
		c.Tier = m.DefaultTier
	}
	switch {
	case len(c.Tier) > MaxTierLen:
		ps.add("tier is longer than %d characters", MaxTierLen)
	case strings.IndexFunc(c.Tier, func(r rune) bool { return !tierChar(r) }) >= 0:
		ps.add("tier may only hold letters, digits, '.', '_' and '-'")
	case m.Tiers != nil && c.Tier != "" && !slices.Contains(m.Tiers, c.Tier):
		ps.add("tier %s is not one of %s", quote(c.Tier), strings.Join(m.Tiers, ", "))
	}

	// Metering and operating hours.
	if c.Overdraft && !c.Metered {
		ps.add("overdraft applies only to metered clients: set metered true, or overdraft false")
	}
	if c.OperatingHours != nil {
		for _, msg := range c.OperatingHours.Validate() {
			ps.add("operating_hours: %s", msg)
		}
	}

	// Lifetimes.
	c.AccessTokenTTL = duration(&ps, "access_token_ttl", p.AccessTokenTTL.D(), DefaultAccessTokenTTL, MaxAccessTokenTTL)
	c.RefreshIdleTimeout = duration(&ps, "refresh_idle_timeout", p.RefreshIdleTimeout.D(), DefaultRefreshIdleTimeout, MaxRefreshIdleTimeout)
	c.RefreshTTL = duration(&ps, "refresh_token_ttl", p.RefreshTokenTTL.D(), 0, MaxRefreshTokenTTL)
	// Overrides of the provider catalogue's consent lifetime and retention
	// period for this client's connections; 0 = the catalogue's.
	c.ConsentTTL = duration(&ps, "consent_ttl", p.ConsentTTL.D(), 0, MaxConsentTTL)
	c.RetentionTTL = duration(&ps, "retention_ttl", p.RetentionTTL.D(), 0, MaxRetentionTTL)
	if c.RefreshTTL > 0 && c.RefreshPolicy == store.RefreshFixed {
		ps.add("refresh_token_ttl applies only to the rotating refresh_policy: fixed refresh tokens have no absolute expiry")
	}
	if c.RefreshPolicy == store.RefreshFixed && c.AuthMethod == store.AuthMethodNone {
		ps.add("refresh_policy fixed is not allowed for public clients: their refresh tokens must rotate (OAuth 2.1 §4.3.1)")
	}

	// Consent URL.
	if p.ConsentURL != "" {
		if msg := checkConsentURL(p.ConsentURL); msg != "" {
			ps.add("consent_url %s", msg)
		}
	}

	// Webhook URL.
	if p.WebhookURL != "" {
		if msg := checkWebhookURL(p.WebhookURL); msg != "" {
			ps.add("webhook_url %s", msg)
		}
	}

	// Metadata.
	if len(p.Metadata) > MaxMetadataKeys {
		ps.add("metadata has more than %d keys", MaxMetadataKeys)
	} else {
		for _, k := range slices.Sorted(maps.Keys(p.Metadata)) {
			v := p.Metadata[k]
			switch {
			case k == "" || len(k) > MaxMetadataKeyLen || !printable(k):
				ps.add("metadata key %s must be 1 to %d bytes without control characters", quote(k), MaxMetadataKeyLen)
			case len(v) > MaxMetadataValueLen || !printable(v):
				ps.add("metadata[%s] must be at most %d bytes without control characters", quote(k), MaxMetadataValueLen)
			}
		}
		c.Metadata = maps.Clone(p.Metadata)
		if c.Metadata == nil {
			c.Metadata = map[string]string{}
		}
	}
	m.checkProfile(&ps, &c, p)

	if len(ps) > 0 {
		return store.Client{}, &ValidationError{Problems: ps}
	}
	return c, nil
}

// cloneSchedule copies s deeply, so that a client never shares a schedule's
// map or slices with its parameters.
func cloneSchedule(s *store.Schedule) *store.Schedule {
	if s == nil {
		return nil
	}
	c := *s
	if s.Weekly != nil {
		c.Weekly = make(map[string][]string, len(s.Weekly))
		for d, iv := range s.Weekly {
			c.Weekly[d] = slices.Clone(iv)
		}
	}
	c.ClosedDates = slices.Clone(s.ClosedDates)
	return &c
}

// enum checks a single enumerated value; "" is the default.
func enum(ps *problems, field, v, def string, allowed []string) string {
	if v == "" {
		return def
	}
	if !slices.Contains(allowed, v) {
		ps.add("%s %s is not one of %s", field, quote(v), strings.Join(allowed, ", "))
	}
	return v
}

// enumList checks a list of enumerated values, dropping duplicates.
func enumList(ps *problems, field string, vs, allowed []string) []string {
	out := []string{}
	if len(vs) > len(allowed)*4 {
		ps.add("%s has too many entries", field)
		return out
	}
	for _, v := range vs {
		switch {
		case !slices.Contains(allowed, v):
			ps.add("%s: %s is not one of %s", field, quote(v), strings.Join(allowed, ", "))
		case !slices.Contains(out, v):
			out = append(out, v)
		}
	}
	return out
}

// duration checks a lifetime: 0 means def; otherwise positive, whole
// seconds, at most max.
func duration(ps *problems, field string, d, def, max time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		ps.add("%s must be positive", field)
	case d%time.Second != 0:
		ps.add("%s must be a whole number of seconds", field)
	case d > max:
		ps.add("%s must be at most %s (%d seconds)", field, formatDuration(max), int64(max/time.Second))
	}
	return d
}

func formatDuration(d time.Duration) string {
	if d == 24*time.Hour {
		return "1 day"
	}
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " days"
	}
	return d.String()
}

// checkRedirectURI applies RFC 8252 and OAuth 2.1 §2.3.1 to one redirect
// URI: absolute, no fragment, no userinfo, a port (if any) of 1 to 65535;
// https, or http on a loopback host (native apps, any port at authorization
// time), or a private-use scheme containing a dot (com.example.app:/cb).
// native allows the redirects of native apps only (dynamic registration):
// no https, since open registration of web redirects would let anyone
// deliver codes to any site. It returns the problem, or "".
func checkRedirectURI(s string, native bool) string {
	if msg := checkURIText(s, MaxRedirectURILen); msg != "" {
		return msg
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "must be an absolute URI"
	}
	if msg := checkURIParts(s, u); msg != "" {
		return msg
	}
	if u.Host != "" && strings.Contains(u.Host, ":") && !strings.HasSuffix(u.Host, "]") && !oauth.ValidPort(u.Port()) {
		return "must have a port from 1 to 65535"
	}
	web := "https, "
	if native {
		web = ""
	}
	switch u.Scheme {
	case "https":
		if native {
			return "may not use https: dynamic registration is for native apps (http on a loopback host, or a private-use scheme such as com.example.app:/callback); ask the operator to register a web client"
		}
		if u.Host == "" {
			return "must name a host"
		}
	case "http":
		if !oauth.IsLoopbackHost(u.Hostname()) {
			if native {
				return "may use http only with a loopback host (127.0.0.1, [::1] or localhost)"
			}
			return "may use http only with a loopback host (127.0.0.1, [::1] or localhost); use https"
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return "must use " + web + "http on a loopback host, or a private-use scheme containing a dot (com.example.app:/callback)"
		}
		if u.Opaque != "" || (u.Host == "" && u.Path == "") {
			return "with a private-use scheme must have a path (com.example.app:/callback)"
		}
	}
	return ""
}

// checkConsentURL: where the browser is sent with ?challenge=…: https, or
// http on a loopback host for local development.
func checkConsentURL(s string) string {
	if msg := checkURIText(s, MaxConsentURLLen); msg != "" {
		return msg
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "must be an absolute URL"
	}
	if msg := checkURIParts(s, u); msg != "" {
		return msg
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !oauth.IsLoopbackHost(u.Hostname())) {
		return "must use https (or http on a loopback host)"
	}
	return ""
}

// checkWebhookURL: where connection events are POSTed: https, or http on a
// loopback host for local development (the rule of redirect URIs, without
// private-use schemes).
func checkWebhookURL(s string) string {
	if msg := checkURIText(s, MaxWebhookURLLen); msg != "" {
		return msg
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Hostname() == "" {
		return "must be an absolute URL"
	}
	if msg := checkURIParts(s, u); msg != "" {
		return msg
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !oauth.IsLoopbackHost(u.Hostname())) {
		return "must use https (or http on a loopback host)"
	}
	return ""
}

func checkURIText(s string, maxLen int) string {
	if len(s) > maxLen {
		return fmt.Sprintf("is longer than %d characters", maxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}

func checkURIParts(s string, u *url.URL) string {
	switch {
	case strings.Contains(s, "#"):
		return "must not have a fragment"
	case u.User != nil:
		return "must not have userinfo"
	}
	return ""
}

// printable: valid UTF-8 without control characters (Cc), bidi controls
// (U+061C, U+200E-F, U+202A-E, U+2066-9) or invisible characters (U+200B,
// U+2060-4, U+FEFF, U+180E), which would let a name show as another on a
// consent page. The joiners of emoji sequences and scripts (U+200C, U+200D)
// and the soft hyphen are allowed.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || hiddenRune(r)
	}) < 0
}

func hiddenRune(r rune) bool {
	switch r {
	case 0x061C, 0x180E, 0x200B, 0x200E, 0x200F, 0xFEFF:
		return true
	}
	return 0x202A <= r && r <= 0x202E || 0x2060 <= r && r <= 0x2064 || 0x2066 <= r && r <= 0x2069
}

func tierChar(r rune) bool {
	return r < utf8.RuneSelf && (r == '.' || r == '_' || r == '-' ||
		'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
}

// checkKeys validates a private_key_jwt client's keys (RFC 7591 §2): its
// jwks, a JWK Set of 1 to MaxJWKSKeys public, asymmetric signing keys, or
// its jwks_uri (m.CheckJWKSURI), exactly one of the two; and the one
// algorithm its assertions may use. Other clients have no keys.
func (m *Manager) checkKeys(ps *problems, c *store.Client, p Params) {
	hasJWKS := len(p.JWKS) > 0 && string(p.JWKS) != "null"
	if p.TokenEndpointAuthSigningAlg != "" && !slices.Contains(assertion.Algorithms, p.TokenEndpointAuthSigningAlg) {
		ps.add("token_endpoint_auth_signing_alg %s is not one of %s", quote(p.TokenEndpointAuthSigningAlg), strings.Join(assertion.Algorithms, ", "))
	}
	m.checkTLSNames(ps, c, p)
	keyed := c.AuthMethod == store.AuthMethodPrivateKeyJWT || c.AuthMethod == store.AuthMethodSelfSignedTLS
	if !keyed {
		if hasJWKS || p.JWKSURI != "" || p.TokenEndpointAuthSigningAlg != "" {
			ps.add("jwks, jwks_uri and token_endpoint_auth_signing_alg apply to token_endpoint_auth_method private_key_jwt (and jwks, jwks_uri to self_signed_tls_client_auth) only")
		}
		return
	}
	if c.AuthMethod == store.AuthMethodPrivateKeyJWT {
		c.Security.TokenEndpointAuthSigningAlg = p.TokenEndpointAuthSigningAlg
	} else if p.TokenEndpointAuthSigningAlg != "" {
		ps.add("token_endpoint_auth_signing_alg applies to private_key_jwt only")
	}
	switch {
	case hasJWKS == (p.JWKSURI != ""):
		ps.add("a %s client needs exactly one of jwks and jwks_uri", c.AuthMethod)
	case hasJWKS:
		jwks, msg := compactJWKS(p.JWKS, c.AuthMethod == store.AuthMethodSelfSignedTLS)
		if msg != "" {
			ps.add("jwks %s", msg)
			return
		}
		c.Security.JWKS = jwks
	default:
		check := m.CheckJWKSURI
		if check == nil {
			check = func(u string) error {
				if pu, err := url.Parse(u); err != nil || pu.Scheme != "https" || pu.Host == "" || pu.User != nil || pu.Fragment != "" {
					return errors.New("must be an https URL with a host, no userinfo and no fragment")
				}
				return nil
			}
		}
		if len(p.JWKSURI) > MaxJWKSURILen {
			ps.add("jwks_uri is longer than %d characters", MaxJWKSURILen)
		} else if err := check(p.JWKSURI); err != nil {
			ps.add("jwks_uri %s: %v", quote(p.JWKSURI), err)
		} else {
			c.Security.JWKSURI = p.JWKSURI
		}
	}
}

// compactJWKS checks a registered JWK Set and returns it compacted, or
// what is wrong with it.
// certs asks that some key carry its certificate (x5c), as a
// self_signed_tls_client_auth client's must (RFC 8705 §2.2).
func compactJWKS(raw json.RawMessage, certs bool) (json.RawMessage, string) {
	if len(raw) > MaxJWKSBytes {
		return nil, fmt.Sprintf("is larger than %d bytes", MaxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, "is not a JWK Set of keys grantd can read"
	}
	if len(set.Keys) == 0 || len(set.Keys) > MaxJWKSKeys {
		return nil, fmt.Sprintf("must hold 1 to %d keys", MaxJWKSKeys)
	}
	for i, k := range set.Keys {
		switch {
		case !k.Valid():
			return nil, fmt.Sprintf("key %d is not valid", i)
		case !k.IsPublic():
			return nil, fmt.Sprintf("key %d is not a public key (a private key must never be registered)", i)
		case k.Use != "" && k.Use != "sig":
			return nil, fmt.Sprintf("key %d has use %s, not sig", i, quote(k.Use))
		}
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < 2048 {
				return nil, fmt.Sprintf("key %d is an RSA key of fewer than 2048 bits", i)
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Sprintf("key %d is not an RSA, EC or Ed25519 public key", i)
		}
	}
	if certs && !slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return len(k.Certificates) > 0 }) {
		return nil, "holds no certificate (x5c): a self_signed_tls_client_auth client registers its certificate"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, "is not JSON"
	}
	return b.Bytes(), ""
}

// checkTLSNames validates a tls_client_auth client's one registered
// certificate name (RFC 8705 §2.1.2: exactly one of the subject DN and the
// four SAN kinds) and tls_client_certificate_bound_access_tokens, which any
// client may ask for.
func (m *Manager) checkTLSNames(ps *problems, c *store.Client, p Params) {
	names := map[string]string{"tls_client_auth_subject_dn": p.TLSClientAuthSubjectDN, "tls_client_auth_san_dns": p.TLSClientAuthSANDNS,
		"tls_client_auth_san_uri": p.TLSClientAuthSANURI, "tls_client_auth_san_ip": p.TLSClientAuthSANIP, "tls_client_auth_san_email": p.TLSClientAuthSANEmail}
	given := 0
	for k, v := range names {
		switch {
		case v == "":
			continue
		case len(v) > 1024 || !printable(v):
			ps.add("%s must be printable text of at most 1024 characters", k)
		}
		given++
	}
	c.Security.TLSCertBoundAccessTokens = p.TLSClientCertificateBoundAccessTokens
	if c.AuthMethod != store.AuthMethodTLS {
		if given > 0 {
			ps.add("tls_client_auth_subject_dn and tls_client_auth_san_* apply to token_endpoint_auth_method tls_client_auth only")
		}
		return
	}
	if given != 1 {
		ps.add("a tls_client_auth client needs exactly one of tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip and tls_client_auth_san_email")
		return
	}
	if v := p.TLSClientAuthSubjectDN; v != "" {
		if _, err := oauth.ParseDN(v); err != nil {
			ps.add("tls_client_auth_subject_dn %s is not an RFC 4514 distinguished name: %v", quote(v), err)
		}
	}
	if v := p.TLSClientAuthSANIP; v != "" {
		if _, err := netip.ParseAddr(v); err != nil {
			ps.add("tls_client_auth_san_ip %s is not an IP address", quote(v))
		}
	}
	c.Security.TLSClientAuthSubjectDN, c.Security.TLSClientAuthSANDNS = p.TLSClientAuthSubjectDN, p.TLSClientAuthSANDNS
	c.Security.TLSClientAuthSANURI, c.Security.TLSClientAuthSANIP = p.TLSClientAuthSANURI, p.TLSClientAuthSANIP
	c.Security.TLSClientAuthSANEmail = p.TLSClientAuthSANEmail
}

// Profiles a client may be held to (Params.Profile).
const (
	ProfileFAPI2 = store.ProfileFAPI2
	ProfileNone  = "none"
)

// checkProfile applies a client's security profile: asked for, or the
// Manager's default for a client that can be held to it. A FAPI 2.0
// client (docs/fapi.md) is confidential, authenticates with private_key_jwt
// or mutual TLS, uses the authorization code grant (with refresh), signs
// with PS256, ES256 or EdDSA only (its access tokens default to the
// first the server signs with), and keeps its refresh tokens (not rotated,
// as the profile recommends, unless asked).
func (m *Manager) checkProfile(ps *problems, c *store.Client, p Params) {
	profile := p.Profile
	fapiMethod := slices.Contains(oauth.FAPI2AuthMethods, c.AuthMethod)
	switch {
	case profile == "" && m.DefaultProfile == ProfileFAPI2 && fapiMethod:
		profile = ProfileFAPI2
	case profile == "" || profile == ProfileNone:
		return
	case profile != ProfileFAPI2:
		ps.add("profile %s is not one of %s, %s", quote(profile), ProfileFAPI2, ProfileNone)
		return
	}
	c.Security.Profile = store.ProfileFAPI2
	if !fapiMethod {
		ps.add("a fapi2 client authenticates with private_key_jwt, tls_client_auth or self_signed_tls_client_auth (FAPI 2.0 §5.3.2.1)")
	}
	for _, g := range c.GrantTypes {
		if g != oauth.GrantAuthorizationCode && g != oauth.GrantRefreshToken {
			ps.add("a fapi2 client uses the authorization_code grant (and refresh_token) only, not %s", g)
		}
	}
	if slices.Contains(c.ResponseTypes, ResponseTypeTempToken) {
		ps.add("a fapi2 client uses response_type code only")
	}
	switch alg := c.AccessTokenSigningAlg; {
	case alg == "" && c.TokenFormat == store.TokenFormatJWT:
		for _, a := range oauth.FAPI2Algorithms {
			if slices.Contains(m.signingAlgorithms(), a) {
				c.AccessTokenSigningAlg = a
				break
			}
		}
		if c.AccessTokenSigningAlg == "" {
			ps.add("a fapi2 client's access tokens are signed with PS256, ES256 or EdDSA, and the server signs with none of them")
		}
	case alg != "" && !slices.Contains(oauth.FAPI2Algorithms, alg):
		ps.add("a fapi2 client's access_token_signing_alg is PS256, ES256 or EdDSA, not %s", alg)
	}
	if a := c.Security.TokenEndpointAuthSigningAlg; a != "" && !slices.Contains(oauth.FAPI2Algorithms, a) {
		ps.add("a fapi2 client's token_endpoint_auth_signing_alg is PS256, ES256 or EdDSA, not %s", a)
	}
	if p.RefreshPolicy == "" {
		c.RefreshPolicy = store.RefreshFixed
	}
}
