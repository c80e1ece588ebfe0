// Package config is grantd's configuration: one plain struct, filled from
// defaults, then a YAML file, then GRANTD_* environment variables, then
// command-line flags (each later source wins), and checked by Validate, which
// reports every problem at once.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/clientkeys"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Config is every setting of grantd. The yaml tags are the keys of the
// configuration file; see Settings for the flags and environment variables.
type Config struct {
	// Addr is the public API's listen address.
	Addr string `yaml:"addr"`
	// AdminAddr is the admin API's listen address, a separate listener.
	AdminAddr string `yaml:"admin_addr"`
	// Issuer is the issuer identifier (RFC 8414). "" = derived from Addr
	// (see DefaultIssuer).
	Issuer string `yaml:"issuer"`
	// DataDir holds the SQLite database (by default), the key-encryption key
	// file and the admin-token file.
	DataDir string `yaml:"data_dir"`
	// Store is the storage DSN; "" = SQLite file grantd.db in DataDir. See
	// ParseStore.
	Store string `yaml:"store"`
	// Dev creates demo clients at start-up and allows an http issuer on a
	// non-loopback host.
	Dev bool `yaml:"dev"`
	// ConsentURL is the server-wide external consent app; "" = the hosted
	// pages.
	ConsentURL string `yaml:"consent_url"`
	// AdminToken is the bearer token of the admin API; "" = read or generate
	// DataDir/admin-token. Prefer the environment variable to the file.
	AdminToken string `yaml:"admin_token"`
	// KeyEncryptionKey seals signing keys at rest: base64 of 32 bytes; "" =
	// read or generate DataDir/kek.
	KeyEncryptionKey string `yaml:"key_encryption_key"`
	// PreviousKeyEncryptionKeys are key-encryption keys being rotated out
	// (comma-separated, base64 of 32 bytes each): secrets sealed under them
	// still open, and are re-sealed under KeyEncryptionKey by
	// `grantd keys rotate-kek` (docs/keys.md).
	PreviousKeyEncryptionKeys string `yaml:"previous_key_encryption_keys"`
	// SigningAlgorithm is the algorithm of access tokens of clients that
	// name none (access_token_signing_alg): RS256, PS256, ES256 or EdDSA.
	SigningAlgorithm string `yaml:"signing_algorithm"`
	// SigningAlgorithms are the algorithms the server keeps keys for and
	// publishes (comma-separated); "" = every supported one. It must hold
	// SigningAlgorithm.
	SigningAlgorithms string `yaml:"signing_algorithms"`
	// KeyRotationPeriod rotates each algorithm's signing key this long
	// after the last one was created; 0 = only by hand.
	KeyRotationPeriod time.Duration `yaml:"key_rotation_period"`
	// KeyPublicationDelay is how long a new key is published before it
	// signs; 0 = derived: the JWKS cache lifetime plus twice
	// KeyReloadInterval plus a margin (docs/keys.md).
	KeyPublicationDelay time.Duration `yaml:"key_publication_delay"`
	// KeyReloadInterval is how often the server re-reads signing keys from
	// the store (to see rotations by the CLI or another instance).
	KeyReloadInterval time.Duration `yaml:"key_reload_interval"`
	// CodeTTL is the lifetime of authorization codes and temp tokens.
	CodeTTL time.Duration `yaml:"code_ttl"`
	// AuthRequestTTL is how long an authorization request waits for consent.
	AuthRequestTTL time.Duration `yaml:"auth_request_ttl"`

	TLS TLS `yaml:"tls"`
	Log Log `yaml:"log"`
	// Postgres tunes the connection pool of a PostgreSQL store (Store
	// postgres://…); ignored for SQLite.
	Postgres Postgres `yaml:"postgres"`

	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// RequestTimeout bounds a handler's time; the listeners' read and write
	// timeouts derive from it.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ReadHeaderTimeout bounds the time to read a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// JanitorInterval is how often expired records are deleted.
	JanitorInterval time.Duration `yaml:"janitor_interval"`
	// ClientCacheTTL is how long the store answers a client from memory:
	// how late another instance (or a CLI command beside the server) sees
	// a client changed elsewhere; 0 = no cache (docs/storage.md).
	ClientCacheTTL time.Duration `yaml:"client_cache_ttl"`
	// LegacySecrets issues codes, temp tokens, refresh tokens and opaque
	// access tokens in the shape of releases before time-ordered secrets
	// (prefix and 43 characters, keyed by their plain SHA-256), which
	// those releases can look up: for a rolling upgrade beside instances
	// of such a release, or to keep a rollback to one open
	// (docs/deployment.md). Secrets of both shapes are always accepted.
	LegacySecrets bool `yaml:"legacy_secrets"`
	// RefreshRetryWindow is how long after a rotation a rotated refresh
	// token, presented again while its successor was never used, gets the
	// same answer again (an idempotent retry) instead of revoking its
	// family; 0 = off (docs/protocol.md).
	RefreshRetryWindow time.Duration `yaml:"refresh_retry_window"`
	// DPoPNonce makes every DPoP proof carry a nonce of the server's (RFC
	// 9449 §8): instances sharing the key-encryption key accept each
	// other's (docs/fapi.md).
	DPoPNonce bool `yaml:"dpop_nonce"`
	// Resources are the space- or comma-separated resource indicators
	// (RFC 8707) every client may ask tokens for, besides its own
	// allowed_resources (docs/fapi.md).
	Resources string `yaml:"resources"`
	// DefaultAudience is the space- or comma-separated aud of access tokens
	// issued without a resource; "" = the issuer.
	DefaultAudience string `yaml:"default_audience"`
	// RequirePAR makes every client push its authorization requests first
	// (RFC 9126); PARTTL is how long a pushed request lives (at most 10m).
	// ClientKeysAllowPrivate lets grantd fetch private_key_jwt clients'
	// jwks_uri from non-public addresses and over plain http (a private
	// network's key server; --dev turns it on too). Off, such a URL is
	// refused at registration and at the dial (docs/fapi.md).
	ClientKeysAllowPrivate bool `yaml:"client_keys_allow_private"`
	// FAPI2 makes the FAPI 2.0 Security Profile the default of new
	// clients that can be held to it (confidential, private_key_jwt or
	// mutual TLS): docs/fapi.md.
	FAPI2      bool          `yaml:"fapi2"`
	RequirePAR bool          `yaml:"require_par"`
	PARTTL     time.Duration `yaml:"par_ttl"`
	// DynamicRegistration serves RFC 7591 registration of public clients
	// (POST /oauth/register); on by default.
	DynamicRegistration bool `yaml:"dynamic_registration"`
	// DynamicRegistrationScope is the space-delimited scope dynamically
	// registered clients may ask for; "" = every product of the catalogue.
	DynamicRegistrationScope string `yaml:"dynamic_registration_scope"`

	// Providers is the provider catalogue (config file only); empty = the
	// sandbox catalogue.
	Providers []DataProvider `yaml:"providers"`
	// Dialects turns token-endpoint dialects on or off and moves their paths
	// (config file only); every dialect is on by default.
	Dialects map[string]Dialect `yaml:"dialects"`

	// Redis (redis://…) shares rate limits and brute-force counts between
	// instances; "" = each instance keeps its own, in process.
	Redis string `yaml:"redis"`
	// ClientIDMetadataDocuments lets a client_id be the https URL of the
	// client's metadata document (draft-ietf-oauth-client-id-metadata-
	// document, MCP): fetched, checked and stored when a request names it.
	// ClientIDMetadataDocumentHosts, when set, are the only hosts fetched
	// ("host" or "*.domain", comma-separated); ...DenyHosts are never.
	ClientIDMetadataDocuments         bool   `yaml:"client_id_metadata_documents"`
	ClientIDMetadataDocumentHosts     string `yaml:"client_id_metadata_document_hosts"`
	ClientIDMetadataDocumentDenyHosts string `yaml:"client_id_metadata_document_deny_hosts"`
	// ReplayCache is where DPoP proofs' and client assertions' single uses
	// are recorded: "" or "auto" = in memory with the embedded SQLite store
	// (one server per file), in the store with PostgreSQL; "store" = always
	// in the store; "redis" = in Redis (needs Redis), shared by every
	// instance, one SET NX per proof instead of a store write
	// (docs/fapi.md).
	ReplayCache string `yaml:"replay_cache"`
	// TrustedProxies are the peers (comma-separated CIDRs or addresses)
	// whose X-Forwarded-For or Forwarded headers name the client's address.
	TrustedProxies string `yaml:"trusted_proxies"`
	// ForwardedHeader is the header the trusted proxies set:
	// x-forwarded-for (the default) or forwarded (RFC 7239).
	ForwardedHeader string `yaml:"forwarded_header"`
	// Policy is the commercial policy (docs/policy.md).
	Policy Policy `yaml:"policy"`
}

// TLS configures HTTPS on both listeners. Both files or neither.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// MTLSAddr, when set, is a third listener, for mutual TLS (RFC 8705):
	// it asks clients for certificates, and serves the endpoints the
	// metadata's mtls_endpoint_aliases name, under MTLSURL (default
	// https://<issuer host>:<its port>). Browsers never go there, so the
	// authorization pages never ask anyone for a certificate.
	MTLSAddr string `yaml:"mtls_addr"`
	MTLSURL  string `yaml:"mtls_url"`
	// ClientCAFile is the PEM bundle of the CAs whose certificates
	// authenticate tls_client_auth clients.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientCertHeader names the header in which a TLS-terminating proxy
	// in front of MTLSAddr forwards the client's certificate (RFC 9440's
	// Client-Cert, or URL-encoded PEM), read only from ClientCertProxies
	// (CIDRs or addresses, the proxies themselves: whoever reaches the
	// listener from there can claim any certificate). With it, MTLSAddr
	// may serve plain HTTP (behind the proxy) and MTLSURL, the proxy's
	// address, must be set.
	ClientCertHeader  string `yaml:"client_cert_header"`
	ClientCertProxies string `yaml:"client_cert_proxies"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Postgres is the PostgreSQL connection pool of one instance. Zero values
// keep what the DSN says (pool_max_conns, pool_min_conns,
// pool_max_conn_lifetime), else pgx's defaults.
type Postgres struct {
	// MaxConns bounds the pool; 0 = the larger of 16 and twice the CPUs.
	MaxConns int `yaml:"max_conns"`
	// MinConns is how many connections the pool keeps open; 0 = none.
	MinConns int `yaml:"min_conns"`
	// MaxConnLifetime recycles connections; 0 = one hour.
	MaxConnLifetime time.Duration `yaml:"max_conn_lifetime"`
}

// Log configures the structured log (always to stderr).
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
}

// Defaults.
const (
	DefaultAddr              = "127.0.0.1:8080"
	DefaultAdminAddr         = "127.0.0.1:8081"
	DefaultDataDir           = "./grantd-data"
	DefaultSigningAlgorithm  = "RS256"
	DefaultKeyReloadInterval = 30 * time.Second
	DefaultCodeTTL           = 60 * time.Second
	DefaultAuthRequestTTL    = 30 * time.Minute
	DefaultMaxBodyBytes      = 64 << 10
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultRequestTimeout    = 10 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultJanitorInterval   = 5 * time.Minute
	DefaultClientCacheTTL    = time.Second
	MaxClientCacheTTL        = time.Minute
)

// File names inside DataDir.
const (
	DatabaseFile   = "grantd.db"
	KEKFile        = "kek"
	AdminTokenFile = "admin-token"
)

// Default returns the configuration with every default set. Issuer stays
// empty: Load derives it from the final Addr.
func Default() Config {
	return Config{
		Addr:                DefaultAddr,
		AdminAddr:           DefaultAdminAddr,
		DataDir:             DefaultDataDir,
		SigningAlgorithm:    DefaultSigningAlgorithm,
		KeyReloadInterval:   DefaultKeyReloadInterval,
		CodeTTL:             DefaultCodeTTL,
		AuthRequestTTL:      DefaultAuthRequestTTL,
		Log:                 Log{Level: "info", Format: "json"},
		MaxBodyBytes:        DefaultMaxBodyBytes,
		MaxHeaderBytes:      DefaultMaxHeaderBytes,
		RequestTimeout:      DefaultRequestTimeout,
		ReadHeaderTimeout:   DefaultReadHeaderTimeout,
		IdleTimeout:         DefaultIdleTimeout,
		ShutdownTimeout:     DefaultShutdownTimeout,
		JanitorInterval:     DefaultJanitorInterval,
		ClientCacheTTL:      DefaultClientCacheTTL,
		DynamicRegistration: true,
		ForwardedHeader:     "x-forwarded-for",
		ReplayCache:         ReplayAuto,
		Policy: Policy{
			MaxPendingAuthorizations:  DefaultMaxPendingAuthorizations,
			MaxPendingConnectSessions: DefaultMaxPendingConnectSessions,
			UnusedDynamicClientTTL:    DefaultUnusedDynamicClientTTL,
		},
	}
}

// DefaultIssuer derives an issuer from a listen address: http (https with
// tls) and the address, with an unspecified or empty host (":8080",
// "0.0.0.0:8080", "[::]:8080") shown as localhost.
func DefaultIssuer(addr string, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// IssuerIsDefault reports whether Issuer is the one derived from Addr, i.e.
// was not set explicitly (or was set to that same value).
func (c *Config) IssuerIsDefault() bool {
	return c.Issuer == DefaultIssuer(c.Addr, c.TLS.Enabled())
}

// Store backends.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// StoreSpec is a parsed storage DSN.
type StoreSpec struct {
	Backend string // BackendSQLite | BackendPostgres
	// Path is the SQLite database file.
	Path string
	// DSN is the connection string for a server backend (PostgreSQL).
	DSN string
}

// StoreSpec parses c.Store relative to c.DataDir.
func (c *Config) StoreSpec() (StoreSpec, error) { return ParseStore(c.Store, c.DataDir) }

// ParseStore parses a storage DSN:
//
//	""                                  SQLite file grantd.db in dataDir
//	sqlite:///abs/path.db               SQLite, absolute path
//	sqlite://rel/path.db, sqlite:rel.db SQLite, relative to the working directory
//	/path/file.db, rel/file.db          SQLite (a plain file path)
//	postgres://…, postgresql://…        PostgreSQL
func ParseStore(dsn, dataDir string) (StoreSpec, error) {
	switch {
	case dsn == "":
		return StoreSpec{Backend: BackendSQLite, Path: filepath.Join(dataDir, DatabaseFile)}, nil
	case hasScheme(dsn, "postgres"), hasScheme(dsn, "postgresql"):
		// Never echo the DSN: it may hold a password. A Unix socket is
		// named by the host parameter: postgres:///db?host=/run/postgresql.
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" && u.Query().Get("host") == "" {
			return StoreSpec{}, errors.New("store: PostgreSQL DSN must look like postgres://user:password@host:5432/db")
		}
		return StoreSpec{Backend: BackendPostgres, DSN: dsn}, nil
	case hasScheme(dsn, "sqlite"), hasScheme(dsn, "sqlite3"):
		path := dsn[strings.IndexByte(dsn, ':')+1:]
		if strings.HasPrefix(path, "//") {
			path = path[2:] // sqlite:///abs -> /abs, sqlite://rel -> rel
		}
		if strings.ContainsAny(path, "?#") {
			return StoreSpec{}, fmt.Errorf("store %q: SQLite DSN takes no query parameters", dsn)
		}
		if path == "" {
			return StoreSpec{}, fmt.Errorf("store %q: SQLite DSN has no file path", dsn)
		}
		return StoreSpec{Backend: BackendSQLite, Path: path}, nil
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return StoreSpec{}, fmt.Errorf("store: unknown backend %q (want sqlite:// or postgres://)", scheme)
	case dsn == ":memory:" || strings.HasPrefix(dsn, "file:"):
		return StoreSpec{}, fmt.Errorf("store %q: want the path of a database file", dsn)
	default:
		return StoreSpec{Backend: BackendSQLite, Path: dsn}, nil
	}
}

func hasScheme(s, scheme string) bool {
	return len(s) > len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) && s[len(scheme)] == ':'
}

// Validate reports every problem of the configuration at once.
// readHeaders are the request headers grantd reads for their own meaning,
// which no proxy setting may name (lower case).
var readHeaders = []string{"authorization", "dpop", "content-type", "content-length", "host", "origin", "cookie",
	"x-forwarded-for", "forwarded", "x-request-id", "traceparent", "access-control-request-method", "access-control-request-headers"}

// validHeaderName reports whether h is an HTTP field name (RFC 9110 §5.1:
// a token), at most 64 characters.
func validHeaderName(h string) bool {
	if len(h) == 0 || len(h) > 64 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// The values of replay_cache.
const (
	ReplayAuto  = "auto"
	ReplayStore = "store"
	ReplayRedis = "redis"
)

func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := checkAddr(c.Addr); err != nil {
		bad("addr: %v", err)
	}
	if err := checkAddr(c.AdminAddr); err != nil {
		bad("admin_addr: %v", err)
	}
	if c.Addr == c.AdminAddr && !strings.HasSuffix(c.Addr, ":0") {
		bad("admin_addr: must differ from addr (%s): the admin API has its own listener", c.Addr)
	}
	if err := checkIssuer(c.Issuer, c.Dev); err != nil {
		bad("issuer: %v", err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir: must not be empty")
	}
	if _, err := c.StoreSpec(); err != nil {
		errs = append(errs, err)
	}
	c.validateProviders(bad)
	if c.DynamicRegistrationScope != "" {
		if _, ok := oauth.ParseScope(c.DynamicRegistrationScope); !ok {
			bad("dynamic_registration_scope: %q is not a valid space-delimited scope", c.DynamicRegistrationScope)
		}
	}
	if KnownDialects != nil {
		c.validateDialects(KnownDialects, bad)
	}
	if c.ConsentURL != "" {
		if err := checkHTTPURL(c.ConsentURL); err != nil {
			bad("consent_url: %v", err)
		}
	}
	if strings.ContainsFunc(c.AdminToken, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("admin token: must not contain spaces or control characters")
	}
	if c.KeyEncryptionKey != "" && !validKEK(c.KeyEncryptionKey) {
		// Never echo the key.
		bad("key_encryption_key: must be base64 of exactly 32 bytes (e.g. openssl rand -base64 32)")
	}
	for _, r := range append(c.ResourceList(), c.DefaultAudienceList()...) {
		if !oauth.ValidResource(r) {
			bad("resources and default_audience: %q is not an absolute URI without a fragment", r)
		}
	}
	if n := len(c.ResourceList()); n > 100 {
		bad("resources: %d of them, at most 100", n)
	}
	switch c.ReplayCache {
	case "", ReplayAuto, ReplayStore:
	case ReplayRedis:
		if c.Redis == "" {
			bad("replay_cache: redis needs redis (a Redis URL)")
		}
	default:
		bad("replay_cache: %q is not one of auto, store, redis", c.ReplayCache)
	}
	if c.RefreshRetryWindow < 0 || c.RefreshRetryWindow > oauth.MaxRefreshRetryWindow {
		bad("refresh_retry_window: from 0 (off) to %s, got %s", oauth.MaxRefreshRetryWindow, c.RefreshRetryWindow)
	}
	if c.PARTTL < 0 || c.PARTTL > oauth.MaxPARTTL {
		bad("par_ttl: must be between 0 (the default, 1m) and %s", oauth.MaxPARTTL)
	}
	algs := c.SigningAlgorithmList()
	for _, a := range algs {
		if !slices.Contains(SupportedSigningAlgorithms, a) {
			bad("signing_algorithms: %q is not supported (want some of %s)", a, strings.Join(SupportedSigningAlgorithms, ", "))
		}
	}
	switch {
	case !slices.Contains(SupportedSigningAlgorithms, c.SigningAlgorithm):
		bad("signing_algorithm: %q is not supported (want one of %s)", c.SigningAlgorithm, strings.Join(SupportedSigningAlgorithms, ", "))
	case !slices.Contains(algs, c.SigningAlgorithm):
		bad("signing_algorithm: %q is not among signing_algorithms (%s)", c.SigningAlgorithm, strings.Join(algs, ", "))
	}
	if c.KeyRotationPeriod < 0 || c.KeyPublicationDelay < 0 {
		bad("key_rotation_period and key_publication_delay: must not be negative")
	}
	if c.KeyRotationPeriod > 0 && c.KeyRotationPeriod < 24*time.Hour {
		bad("key_rotation_period: at least 24h (or 0, off), got %s", c.KeyRotationPeriod)
	}
	if c.KeyRotationPeriod > 0 && c.KeyPublicationDelay >= c.KeyRotationPeriod {
		bad("key_publication_delay: must be shorter than key_rotation_period (%s), got %s", c.KeyRotationPeriod, c.KeyPublicationDelay)
	}
	for i, k := range c.PreviousKEKList() {
		if !validKEK(k) {
			bad("previous_key_encryption_keys[%d]: must be base64 of exactly 32 bytes", i) // never echo a key
		}
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"key_reload_interval", c.KeyReloadInterval},
		{"code_ttl", c.CodeTTL},
		{"auth_request_ttl", c.AuthRequestTTL},
		{"request_timeout", c.RequestTimeout},
		{"read_header_timeout", c.ReadHeaderTimeout},
		{"idle_timeout", c.IdleTimeout},
		{"shutdown_timeout", c.ShutdownTimeout},
		{"janitor_interval", c.JanitorInterval},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad("%s: must be positive, got %s", p.name, p.d)
		}
	}
	if c.ClientCacheTTL < 0 || c.ClientCacheTTL > MaxClientCacheTTL {
		bad("client_cache_ttl: from 0 (off) to %s, got %s", MaxClientCacheTTL, c.ClientCacheTTL)
	}
	if c.CodeTTL > 10*time.Minute {
		bad("code_ttl: at most 10m (RFC 6749 section 4.1.2), got %s", c.CodeTTL)
	}
	if c.AuthRequestTTL > 24*time.Hour {
		bad("auth_request_ttl: at most 24h, got %s", c.AuthRequestTTL)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls: set both cert_file and key_file, or neither")
	}
	if c.TLS.MTLSAddr != "" && !c.TLS.Enabled() && c.TLS.ClientCertHeader == "" {
		bad("tls.mtls_addr: mutual TLS needs tls.cert_file and tls.key_file (or a proxy's tls.client_cert_header)")
	}
	if h := c.TLS.ClientCertHeader; h != "" {
		ps, perr := c.ClientCertProxyPrefixes()
		switch {
		case !validHeaderName(h):
			bad("tls.client_cert_header: %q is not a header name", h)
		case slices.Contains(readHeaders, strings.ToLower(h)):
			bad("tls.client_cert_header: %q is a header grantd reads for something else", h)
		case c.TLS.MTLSAddr == "" || c.TLS.MTLSURL == "":
			bad("tls.client_cert_header: needs tls.mtls_addr (where the proxy forwards to) and tls.mtls_url (the proxy's https address)")
		case perr != nil:
			bad("%v", perr)
		case len(ps) == 0:
			bad("tls.client_cert_header: needs tls.client_cert_proxies (the proxies whose forwarded certificates are read)")
		}
		for _, p := range ps {
			if p.Bits() == 0 {
				bad("tls.client_cert_proxies: %s would let anyone claim any certificate; name the proxies", p)
			}
		}
	} else if c.TLS.ClientCertProxies != "" {
		bad("tls.client_cert_proxies: set only with tls.client_cert_header")
	}
	if c.TLS.MTLSURL != "" {
		if u, err := url.Parse(c.TLS.MTLSURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("tls.mtls_url: want https://host[:port], got %q", c.TLS.MTLSURL)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format: %q is not one of json, text", c.Log.Format)
	}
	if c.MaxBodyBytes <= 0 {
		bad("max_body_bytes: must be positive, got %d", c.MaxBodyBytes)
	}
	if c.MaxHeaderBytes <= 0 {
		bad("max_header_bytes: must be positive, got %d", c.MaxHeaderBytes)
	}
	c.validatePostgres(bad)
	c.validatePolicy(bad)
	return errors.Join(errs...)
}

// SupportedSigningAlgorithms are the JWS algorithms grantd signs access
// tokens with.
var SupportedSigningAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// ClientKeyFetcher is the fetcher of private_key_jwt clients' keys by URL
// these settings ask for.
func (c *Config) ClientKeyFetcher() *clientkeys.Fetcher {
	return clientkeys.New(clientkeys.Options{AllowPrivate: c.ClientKeysAllowPrivate || c.Dev})
}

// DocumentHostAllowed reports whether a client metadata document may be
// fetched from host (lower case): not in the deny list, and in the allow
// list when there is one. An entry is a host, or "*.domain" for the
// domain's subdomains.
func (c *Config) DocumentHostAllowed(host string) bool {
	match := func(list string) bool {
		for e := range strings.SplitSeq(strings.ToLower(list), ",") {
			e = strings.TrimSpace(e)
			if e != "" && (e == host || (strings.HasPrefix(e, "*.") && strings.HasSuffix(host, e[1:]))) {
				return true
			}
		}
		return false
	}
	if match(c.ClientIDMetadataDocumentDenyHosts) {
		return false
	}
	return strings.TrimSpace(c.ClientIDMetadataDocumentHosts) == "" || match(c.ClientIDMetadataDocumentHosts)
}

// DefaultClientProfile is the profile of new clients these settings ask
// for ("" = none).
func (c *Config) DefaultClientProfile() string {
	if c.FAPI2 {
		return store.ProfileFAPI2
	}
	return ""
}

// ResourceList is Resources as a list.
func (c *Config) ResourceList() []string { return splitList(c.Resources) }

// DefaultAudienceList is DefaultAudience as a list; nil = the issuer.
func (c *Config) DefaultAudienceList() []string { return splitList(c.DefaultAudience) }

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })
}

// SigningAlgorithmList is SigningAlgorithms as a list; every supported
// algorithm when it is empty.
func (c *Config) SigningAlgorithmList() []string {
	if strings.TrimSpace(c.SigningAlgorithms) == "" {
		return slices.Clone(SupportedSigningAlgorithms)
	}
	var out []string
	for _, a := range strings.FieldsFunc(c.SigningAlgorithms, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// PreviousKEKList is PreviousKeyEncryptionKeys as a list (base64 text).
func (c *Config) PreviousKEKList() []string {
	return strings.FieldsFunc(c.PreviousKeyEncryptionKeys, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })
}

// maxPoolConns bounds postgres.max_conns and min_conns: far above what one
// instance can use, and within the pool's int32.
const maxPoolConns = 10000

func (c *Config) validatePostgres(bad func(string, ...any)) {
	p := c.Postgres
	if p.MaxConns < 0 || p.MaxConns > maxPoolConns {
		bad("postgres.max_conns: must be from 0 (the default) to %d, got %d", maxPoolConns, p.MaxConns)
	}
	if p.MinConns < 0 || p.MinConns > maxPoolConns {
		bad("postgres.min_conns: must be from 0 to %d, got %d", maxPoolConns, p.MinConns)
	} else if p.MaxConns > 0 && p.MinConns > p.MaxConns {
		bad("postgres.min_conns (%d) must not exceed postgres.max_conns (%d)", p.MinConns, p.MaxConns)
	}
	if p.MaxConnLifetime < 0 {
		bad("postgres.max_conn_lifetime: must not be negative, got %s", p.MaxConnLifetime)
	}
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("%q: bad host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http(s) URL", s)
	}
	if u.Fragment != "" {
		return fmt.Errorf("%q: must have no fragment", s)
	}
	return nil
}

// checkIssuer applies RFC 8414 section 2 (https, no query or fragment) and
// OAuth 2.1's TLS requirement, relaxed for loopback hosts and dev mode.
func checkIssuer(s string, dev bool) error {
	if err := checkHTTPURL(s); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.RawQuery != "" || u.ForceQuery {
		return fmt.Errorf("%q: must have no query", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q: must have no user info", s)
	}
	if strings.TrimSuffix(u.Path, "/") != "" || u.Fragment != "" {
		// Routes and the well-known documents are served at the root.
		return fmt.Errorf("%q: must have no path (grantd serves at the root of its origin)", s)
	}
	if u.Scheme == "http" && !dev && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%q: must use https unless the host is loopback (or with --dev)", s)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validKEK accepts what signer.ParseKEK accepts: base64 (standard or URL
// alphabet, padded or not) of exactly 32 bytes.
func validKEK(s string) bool {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.DecodeString(s); err == nil {
			return len(b) == 32
		}
	}
	return false
}
