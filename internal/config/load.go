package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Setting is one configuration knob: its flag (without dashes), its
// environment variable and its YAML key. Every flag has an environment
// variable; secrets (admin token, key-encryption key) have no flag, so that
// they never show in a process listing.
type Setting struct {
	Flag  string // "" = no flag (secrets)
	Env   string
	YAML  string // dotted path in the config file; "" = not in the file
	Usage string

	isBool  bool
	argName string // shown in the help when Usage names none
	set     func(*Config, string) error
	get     func(*Config) string
}

// ConfigEnv names the configuration file when --config is not given.
const ConfigEnv = "GRANTD_CONFIG"

var settings = []Setting{
	str("addr", "addr", "public API listen `address`", func(c *Config) *string { return &c.Addr }),
	str("admin-addr", "admin_addr", "admin API listen `address` (a separate listener)", func(c *Config) *string { return &c.AdminAddr }),
	str("issuer", "issuer", "issuer `URL` (default http(s)://ADDR, with 0.0.0.0 or an empty host shown as localhost)", func(c *Config) *string { return &c.Issuer }),
	str("data-dir", "data_dir", "data `directory` (SQLite database, key-encryption key, admin token)", func(c *Config) *string { return &c.DataDir }),
	str("store", "store", "storage `DSN`: empty = SQLite file grantd.db in the data dir; sqlite:///abs/path.db, sqlite://rel/path.db or a file path = SQLite; postgres://… = PostgreSQL", func(c *Config) *string { return &c.Store }),
	boolean("dev", "dev", "development mode: create demo clients and print their credentials; allow an http issuer on any host", func(c *Config) *bool { return &c.Dev }),
	str("consent-url", "consent_url", "external consent app `URL` (default: the hosted pages)", func(c *Config) *string { return &c.ConsentURL }),
	secret("GRANTD_ADMIN_TOKEN", "admin_token", "admin API bearer token (default: read or generate DATA_DIR/admin-token)", func(c *Config) *string { return &c.AdminToken }),
	secret("GRANTD_KEY_ENCRYPTION_KEY", "key_encryption_key", "base64 of 32 bytes sealing signing keys at rest (default: read or generate DATA_DIR/kek)", func(c *Config) *string { return &c.KeyEncryptionKey }),
	secret("GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS", "previous_key_encryption_keys", "key-encryption keys being rotated out, comma-separated (docs/keys.md)", func(c *Config) *string { return &c.PreviousKeyEncryptionKeys }),
	str("signing-algorithm", "signing_algorithm", "`algorithm` of access tokens of clients that name none: RS256, PS256, ES256 or EdDSA", func(c *Config) *string { return &c.SigningAlgorithm }),
	str("signing-algorithms", "signing_algorithms", "comma-separated `algorithms` to keep signing keys for and publish (default: RS256, PS256, ES256, EdDSA)", func(c *Config) *string { return &c.SigningAlgorithms }),
	dur("key-rotation-period", "key_rotation_period", "rotate each signing key this long after the last (0 = only by hand; at least 24h)", func(c *Config) *time.Duration { return &c.KeyRotationPeriod }),
	dur("key-publication-delay", "key_publication_delay", "how long a new signing key is published before it signs (0 = JWKS cache lifetime + 2 key reload intervals + 1m: 3m by default)", func(c *Config) *time.Duration { return &c.KeyPublicationDelay }),
	dur("key-reload-interval", "key_reload_interval", "how often to re-read signing keys from the store", func(c *Config) *time.Duration { return &c.KeyReloadInterval }),
	dur("code-ttl", "code_ttl", "lifetime of authorization codes and temp tokens", func(c *Config) *time.Duration { return &c.CodeTTL }),
	dur("auth-request-ttl", "auth_request_ttl", "how long an authorization request waits for consent", func(c *Config) *time.Duration { return &c.AuthRequestTTL }),
	str("tls-cert-file", "tls.cert_file", "TLS certificate `file` (PEM) for both listeners", func(c *Config) *string { return &c.TLS.CertFile }),
	str("mtls-addr", "tls.mtls_addr", "mutual-TLS listen `address` (RFC 8705): client certificates, the metadata's mtls_endpoint_aliases (needs --tls-cert-file)", func(c *Config) *string { return &c.TLS.MTLSAddr }),
	str("mtls-url", "tls.mtls_url", "the mutual-TLS listener's base `URL` as clients reach it (default https://<issuer host>:<mtls port>)", func(c *Config) *string { return &c.TLS.MTLSURL }),
	str("tls-client-ca-file", "tls.client_ca_file", "PEM `file` of the CAs whose certificates authenticate tls_client_auth clients", func(c *Config) *string { return &c.TLS.ClientCAFile }),
	str("tls-client-cert-header", "tls.client_cert_header", "`header` in which a TLS-terminating proxy in front of --mtls-addr forwards client certificates (RFC 9440 Client-Cert, or URL-encoded PEM); read only from --tls-client-cert-proxies; needs --mtls-url", func(c *Config) *string { return &c.TLS.ClientCertHeader }),
	str("tls-client-cert-proxies", "tls.client_cert_proxies", "comma-separated `CIDRs` of the proxies whose forwarded client certificates (--tls-client-cert-header) are read", func(c *Config) *string { return &c.TLS.ClientCertProxies }),
	str("tls-key-file", "tls.key_file", "TLS private key `file` (PEM)", func(c *Config) *string { return &c.TLS.KeyFile }),
	str("log-level", "log.level", "log `level`: debug, info, warn, error", func(c *Config) *string { return &c.Log.Level }),
	str("log-format", "log.format", "log `format`: json or text", func(c *Config) *string { return &c.Log.Format }),
	i64("max-body-bytes", "max_body_bytes", "maximum request body size in `bytes`", func(c *Config) *int64 { return &c.MaxBodyBytes }),
	integer("max-header-bytes", "max_header_bytes", "maximum request header size in `bytes`", func(c *Config) *int { return &c.MaxHeaderBytes }),
	dur("request-timeout", "request_timeout", "maximum time a request may take", func(c *Config) *time.Duration { return &c.RequestTimeout }),
	dur("read-header-timeout", "read_header_timeout", "maximum time to read request headers", func(c *Config) *time.Duration { return &c.ReadHeaderTimeout }),
	dur("idle-timeout", "idle_timeout", "how long an idle keep-alive connection stays open", func(c *Config) *time.Duration { return &c.IdleTimeout }),
	dur("shutdown-timeout", "shutdown_timeout", "maximum time for a graceful shutdown", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
	dur("janitor-interval", "janitor_interval", "how often to delete expired codes, requests and tokens", func(c *Config) *time.Duration { return &c.JanitorInterval }),
	dur("client-cache-ttl", "client_cache_ttl", "how long a client read from the store is answered from memory: how late a change made by another instance or process is seen (0 = off, at most 1m)", func(c *Config) *time.Duration { return &c.ClientCacheTTL }),
	boolean("legacy-secrets", "legacy_secrets", "issue codes and tokens in the shape earlier releases look up (a rolling upgrade beside them, or a rollback to one); both shapes are always accepted", func(c *Config) *bool { return &c.LegacySecrets }),
	dur("refresh-retry-window", "refresh_retry_window", "how long after a rotation the rotated refresh token, sent again while its successor is unused, gets the same answer again instead of revoking its family (0 = off; at most 1m)", func(c *Config) *time.Duration { return &c.RefreshRetryWindow }),
	boolean("dpop-nonce", "dpop_nonce", "make DPoP proofs carry a server nonce (RFC 9449 §8; every instance with the same key-encryption key accepts it)", func(c *Config) *bool { return &c.DPoPNonce }),
	str("resources", "resources", "space-separated resource indicator `URIs` (RFC 8707) every client may ask tokens for, besides its own allowed_resources", func(c *Config) *string { return &c.Resources }),
	str("default-audience", "default_audience", "space-separated aud `URIs` of access tokens issued without a resource (default: the issuer)", func(c *Config) *string { return &c.DefaultAudience }),
	boolean("client-keys-allow-private", "client_keys_allow_private", "fetch private_key_jwt clients' jwks_uri from private and loopback addresses and over http too (default: public https hosts only; on with --dev)", func(c *Config) *bool { return &c.ClientKeysAllowPrivate }),
	boolean("fapi2", "fapi2", "hold new clients that can be held to it (private_key_jwt or mutual TLS) to the FAPI 2.0 Security Profile by default (a client's profile: fapi2 or none)", func(c *Config) *bool { return &c.FAPI2 }),
	boolean("require-par", "require_par", "every client must push its authorization requests first (RFC 9126 pushed authorization requests)", func(c *Config) *bool { return &c.RequirePAR }),
	dur("par-ttl", "par_ttl", "lifetime of a pushed authorization request's request_uri (0 = 1m; at most 10m)", func(c *Config) *time.Duration { return &c.PARTTL }),
	boolean("dynamic-registration", "dynamic_registration", "serve RFC 7591 registration of public clients at POST /oauth/register", func(c *Config) *bool { return &c.DynamicRegistration }),
	str("dynamic-registration-scope", "dynamic_registration_scope", "space-delimited `scope` dynamically registered clients may ask for (default: every product of the catalogue)", func(c *Config) *string { return &c.DynamicRegistrationScope }),
	integer("postgres-max-conns", "postgres.max_conns", "PostgreSQL pool: most open `connections` per instance (0 = the DSN's pool_max_conns, else the larger of 16 and twice the number of CPUs)", func(c *Config) *int { return &c.Postgres.MaxConns }),
	integer("postgres-min-conns", "postgres.min_conns", "PostgreSQL pool: `connections` kept open (0 = the DSN's pool_min_conns, else none)", func(c *Config) *int { return &c.Postgres.MinConns }),
	str("redis", "redis", "Redis `URL` (redis://[user:password@]host:6379/0) sharing rate limits and brute-force counts between instances (default: in process)", func(c *Config) *string { return &c.Redis }),
	boolean("client-id-metadata-documents", "client_id_metadata_documents", "let a client_id be the https URL of the client's metadata document (MCP's Client ID Metadata Documents): fetched from public hosts (private ones with --client-keys-allow-private), checked like a dynamic registration, unverified on the consent page", func(c *Config) *bool { return &c.ClientIDMetadataDocuments }),
	str("client-id-metadata-document-hosts", "client_id_metadata_document_hosts", "comma-separated `hosts` (host or *.domain) client metadata documents may come from (default: any public host)", func(c *Config) *string { return &c.ClientIDMetadataDocumentHosts }),
	str("client-id-metadata-document-deny-hosts", "client_id_metadata_document_deny_hosts", "comma-separated `hosts` (host or *.domain) client metadata documents never come from", func(c *Config) *string { return &c.ClientIDMetadataDocumentDenyHosts }),
	str("replay-cache", "replay_cache", "where DPoP proofs' and client assertions' single uses are recorded: `auto` (in memory with embedded SQLite, in the store with PostgreSQL), store, or redis (shared by every instance; needs --redis)", func(c *Config) *string { return &c.ReplayCache }),
	str("trusted-proxies", "trusted_proxies", "comma-separated `CIDRs` of proxies whose X-Forwarded-For / Forwarded headers name the client address", func(c *Config) *string { return &c.TrustedProxies }),
	str("forwarded-header", "forwarded_header", "the `header` the trusted proxies set: x-forwarded-for or forwarded (RFC 7239); only that one is read", func(c *Config) *string { return &c.ForwardedHeader }),
	str("default-tier", "policy.default_tier", "rate-limit `tier` of clients registered without one (built in: free, pro, enterprise)", func(c *Config) *string { return &c.Policy.DefaultTier }),
	boolean("policy-fail-closed", "policy.fail_closed", "refuse requests (503) while the rate limiter (Redis) fails, instead of letting them through", func(c *Config) *bool { return &c.Policy.FailClosed }),
	integer("max-pending-authorizations", "policy.max_pending_authorizations", "most pending authorization requests per client and browser `address` (0 = no cap)", func(c *Config) *int { return &c.Policy.MaxPendingAuthorizations }),
	integer("max-pending-connect-sessions", "policy.max_pending_connect_sessions", "most pending connect sessions per `client` (0 = no cap)", func(c *Config) *int { return &c.Policy.MaxPendingConnectSessions }),
	dur("unused-dynamic-client-ttl", "policy.unused_dynamic_client_ttl", "delete a dynamically registered client that obtained no token within this long (0 = never)", func(c *Config) *time.Duration { return &c.Policy.UnusedDynamicClientTTL }),
	dur("postgres-max-conn-lifetime", "postgres.max_conn_lifetime", "PostgreSQL pool: a connection is closed after this long (0 = the DSN's pool_max_conn_lifetime, else 1h)", func(c *Config) *time.Duration { return &c.Postgres.MaxConnLifetime }),
}

// Settings lists every setting but --config, in the order of the help.
func Settings() []Setting { return append([]Setting(nil), settings...) }

func envName(flagName string) string {
	return "GRANTD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func str(name, yamlKey, usage string, field func(*Config) *string) Setting {
	return Setting{Flag: name, Env: envName(name), YAML: yamlKey, Usage: usage,
		set: func(c *Config, v string) error { *field(c) = v; return nil },
		get: func(c *Config) string { return *field(c) },
	}
}

func secret(env, yamlKey, usage string, field func(*Config) *string) Setting {
	s := str("", yamlKey, usage, field)
	s.Env = env
	return s
}

func boolean(name, yamlKey, usage string, field func(*Config) *bool) Setting {
	return Setting{Flag: name, Env: envName(name), YAML: yamlKey, Usage: usage, isBool: true,
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not a boolean", v)
			}
			*field(c) = b
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

func dur(name, yamlKey, usage string, field func(*Config) *time.Duration) Setting {
	return Setting{Flag: name, Env: envName(name), YAML: yamlKey, Usage: usage, argName: "duration",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 1h)", v)
			}
			*field(c) = d
			return nil
		},
		get: func(c *Config) string { return field(c).String() },
	}
}

func i64(name, yamlKey, usage string, field func(*Config) *int64) Setting {
	return Setting{Flag: name, Env: envName(name), YAML: yamlKey, Usage: usage,
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			*field(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(*field(c), 10) },
	}
}

func integer(name, yamlKey, usage string, field func(*Config) *int) Setting {
	return Setting{Flag: name, Env: envName(name), YAML: yamlKey, Usage: usage,
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			*field(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
	}
}

// Flags is a set of configuration flags registered on a flag.FlagSet.
type Flags struct {
	configFile *string
	given      []given // flags in command-line order
}

type given struct {
	s *Setting
	v string
}

// Groups of flags for AddFlags.
var (
	// StoreFlags are what a command that only opens the store needs.
	StoreFlags = []string{"config", "data-dir", "store"}
)

// AddFlags registers on fs the --config flag and the flags of the named
// settings (every setting when names is empty). Call Load after fs.Parse.
func AddFlags(fs *flag.FlagSet, names ...string) *Flags {
	f := &Flags{}
	want := func(n string) bool {
		if len(names) == 0 {
			return true
		}
		for _, m := range names {
			if m == n {
				return true
			}
		}
		return false
	}
	if want("config") {
		f.configFile = fs.String("config", "", "YAML configuration `file` (env "+ConfigEnv+")")
	}
	def := Default()
	for i := range settings {
		s := &settings[i]
		if s.Flag == "" || !want(s.Flag) {
			continue
		}
		usage := s.Usage + " (env " + s.Env + ")"
		fs.Var(&flagValue{f: f, s: s, def: s.get(&def)}, s.Flag, usage)
	}
	return f
}

type flagValue struct {
	f   *Flags
	s   *Setting
	def string
	cur string
	set bool
}

func (v *flagValue) String() string {
	if v == nil || v.s == nil {
		return ""
	}
	if v.set {
		return v.cur
	}
	return v.def
}

func (v *flagValue) Set(s string) error {
	var scratch Config
	if err := v.s.set(&scratch, s); err != nil {
		return err
	}
	v.cur, v.set = s, true
	v.f.given = append(v.f.given, given{v.s, s})
	return nil
}

func (v *flagValue) IsBoolFlag() bool { return v != nil && v.s != nil && v.s.isBool }

// ArgName names the flag's argument in the help, when its usage names none.
func (v *flagValue) ArgName() string {
	if v == nil || v.s == nil || v.s.isBool {
		return ""
	}
	if v.s.argName != "" {
		return v.s.argName
	}
	return "value"
}

// Load builds the configuration: defaults, then the YAML file (--config, or
// GRANTD_CONFIG), then GRANTD_* environment variables (an empty value counts
// as unset), then the flags given on the command line. It derives Issuer from
// Addr when no source set it. It does not validate: call Validate.
func (f *Flags) Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Default()
	path := getenv(ConfigEnv)
	if f.configFile != nil && *f.configFile != "" {
		path = *f.configFile
	}
	if path != "" {
		if err := loadFile(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	var errs []error
	for i := range settings {
		s := &settings[i]
		if v := getenv(s.Env); v != "" {
			if err := s.set(&cfg, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", s.Env, err))
			}
		}
	}
	for _, g := range f.given {
		if err := g.s.set(&cfg, g.v); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %v", g.s.Flag, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	cfg.AdminToken = strings.TrimSpace(cfg.AdminToken)
	cfg.KeyEncryptionKey = strings.TrimSpace(cfg.KeyEncryptionKey)
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer(cfg.Addr, cfg.TLS.Enabled())
	} else if u := strings.TrimRight(cfg.Issuer, "/"); strings.Contains(u, "://") {
		cfg.Issuer = u // "https://id.example.com/" names the same issuer as without the slash
	}
	return cfg, nil
}

// Load parses args (every setting's flag and --config; no positional
// arguments) and builds the configuration as Flags.Load does.
func Load(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("grantd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f.Load(getenv)
}

// loadFile overlays the YAML file at path on cfg. Unknown keys are errors.
func loadFile(path string, cfg *Config) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer fh.Close()
	dec := yaml.NewDecoder(fh)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}
