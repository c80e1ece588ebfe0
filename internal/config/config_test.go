package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "grantd.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	cfg, err := Load(nil, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Issuer = "http://127.0.0.1:8080"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load() = %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	spec, err := cfg.StoreSpec()
	if err != nil || spec != (StoreSpec{Backend: BackendSQLite, Path: filepath.Join("grantd-data", "grantd.db")}) {
		t.Errorf("StoreSpec() = %+v, %v", spec, err)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
addr: 127.0.0.1:7000
admin_addr: 127.0.0.1:7001
data_dir: /from/file
code_ttl: 30s
tls:
  cert_file: file.crt
  key_file: file.key
log:
  level: debug
`)
	other := writeFile(t, "addr: 127.0.0.1:6000\n")

	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "file over defaults",
			args: []string{"--config", file},
			check: func(t *testing.T, c Config) {
				eq(t, c.Addr, "127.0.0.1:7000")
				eq(t, c.AdminAddr, "127.0.0.1:7001")
				eq(t, c.DataDir, "/from/file")
				eq(t, c.CodeTTL, 30*time.Second)
				eq(t, c.TLS, TLS{CertFile: "file.crt", KeyFile: "file.key"})
				eq(t, c.Log, Log{Level: "debug", Format: "json"}) // format keeps its default
				eq(t, c.Issuer, "https://127.0.0.1:7000")         // derived from the file's addr, with TLS
				eq(t, c.JanitorInterval, DefaultJanitorInterval)
			},
		},
		{
			name: "GRANTD_CONFIG names the file",
			env:  map[string]string{"GRANTD_CONFIG": file},
			check: func(t *testing.T, c Config) {
				eq(t, c.Addr, "127.0.0.1:7000")
			},
		},
		{
			name: "--config over GRANTD_CONFIG",
			args: []string{"--config", other},
			env:  map[string]string{"GRANTD_CONFIG": file},
			check: func(t *testing.T, c Config) {
				eq(t, c.Addr, "127.0.0.1:6000")
				eq(t, c.DataDir, DefaultDataDir)
			},
		},
		{
			name: "env over file",
			args: []string{"--config", file},
			env: map[string]string{
				"GRANTD_ADDR": "127.0.0.1:9000", "GRANTD_CODE_TTL": "45s", "GRANTD_LOG_LEVEL": "warn",
				"GRANTD_TLS_CERT_FILE": "env.crt", "GRANTD_DEV": "true", "GRANTD_MAX_BODY_BYTES": "1024",
				"GRANTD_ADMIN_TOKEN": " tok ", "GRANTD_DATA_DIR": "",
			},
			check: func(t *testing.T, c Config) {
				eq(t, c.Addr, "127.0.0.1:9000")
				eq(t, c.CodeTTL, 45*time.Second)
				eq(t, c.Log.Level, "warn")
				eq(t, c.TLS.CertFile, "env.crt")
				eq(t, c.Dev, true)
				eq(t, c.MaxBodyBytes, int64(1024))
				eq(t, c.AdminToken, "tok")
				eq(t, c.DataDir, "/from/file") // empty env var = unset
			},
		},
		{
			name: "flags over env",
			args: []string{"--config", file, "--addr", "127.0.0.1:9100", "--dev=false", "--code-ttl=2m", "--store", "sqlite:///x.db"},
			env:  map[string]string{"GRANTD_ADDR": "127.0.0.1:9000", "GRANTD_DEV": "1", "GRANTD_CODE_TTL": "45s", "GRANTD_STORE": "postgres://h/db"},
			check: func(t *testing.T, c Config) {
				eq(t, c.Addr, "127.0.0.1:9100")
				eq(t, c.Dev, false)
				eq(t, c.CodeTTL, 2*time.Minute)
				eq(t, c.Store, "sqlite:///x.db")
				eq(t, c.Issuer, "https://127.0.0.1:9100")
			},
		},
		{
			name: "last repeated flag wins",
			args: []string{"--addr", "127.0.0.1:1", "--addr", "127.0.0.1:2"},
			check: func(t *testing.T, c Config) {
				eq(t, c.Addr, "127.0.0.1:2")
			},
		},
		{
			name: "explicit issuer kept, trailing slash dropped",
			args: []string{"--issuer", "https://id.example.com/"},
			env:  map[string]string{"GRANTD_ADDR": "0.0.0.0:80"},
			check: func(t *testing.T, c Config) {
				eq(t, c.Issuer, "https://id.example.com")
				eq(t, c.IssuerIsDefault(), false)
			},
		},
		{
			name: "issuer from unspecified host",
			args: []string{"--addr", ":8443", "--tls-cert-file", "a", "--tls-key-file", "b"},
			check: func(t *testing.T, c Config) {
				eq(t, c.Issuer, "https://localhost:8443")
				eq(t, c.IssuerIsDefault(), true)
			},
		},
		{
			name: "bare --dev",
			args: []string{"--dev"},
			check: func(t *testing.T, c Config) {
				eq(t, c.Dev, true)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	unknown := writeFile(t, "addr: 127.0.0.1:1\nlisten: nope\n")
	badDur := writeFile(t, "code_ttl: 60\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"unknown yaml key", []string{"--config", unknown}, nil, []string{"field listen not found"}},
		{"duration without unit in yaml", []string{"--config", badDur}, nil, []string{"line 1", "time.Duration"}},
		{"missing file", []string{"--config", "/nonexistent/grantd.yaml"}, nil, []string{"config file", "no such file"}},
		{"bad flag value", []string{"--code-ttl", "soon"}, nil, []string{"code-ttl", "not a duration"}},
		{"unknown flag", []string{"--nope"}, nil, []string{"flag provided but not defined: -nope"}},
		{"positional argument", []string{"extra"}, nil, []string{`unexpected argument "extra"`}},
		{
			"every bad env var at once", nil,
			map[string]string{"GRANTD_CODE_TTL": "x", "GRANTD_DEV": "maybe", "GRANTD_MAX_HEADER_BYTES": "lots"},
			[]string{"GRANTD_CODE_TTL", "GRANTD_DEV", "GRANTD_MAX_HEADER_BYTES"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, envMap(tt.env))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	const kek = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	tests := []struct {
		name string
		mod  func(c *Config)
		want []string // substrings; nil = valid
	}{
		{"defaults", func(c *Config) {}, nil},
		{"https issuer anywhere", func(c *Config) { c.Issuer = "https://auth.example.com" }, nil},
		{"issuer with a path", func(c *Config) { c.Issuer = "https://auth.example.com/tenant" }, []string{"must have no path"}},
		{"http issuer on localhost", func(c *Config) { c.Issuer = "http://localhost:9000" }, nil},
		{"http issuer in dev", func(c *Config) { c.Issuer = "http://auth.internal:8080"; c.Dev = true }, nil},
		{"kek and tls", func(c *Config) { c.KeyEncryptionKey = kek; c.TLS = TLS{CertFile: "c", KeyFile: "k"} }, nil},
		{"mtls without tls", func(c *Config) { c.TLS = TLS{MTLSAddr: ":8443"} }, []string{"mutual TLS needs"}},
		{"mtls url http", func(c *Config) { c.TLS = TLS{CertFile: "c", KeyFile: "k", MTLSAddr: ":8443", MTLSURL: "http://x"} }, []string{"tls.mtls_url"}},
		{"par ttl too long", func(c *Config) { c.PARTTL = time.Hour }, []string{"par_ttl"}},
		{"refresh retry window", func(c *Config) { c.RefreshRetryWindow = 10 * time.Second }, nil},
		{"refresh retry window too long", func(c *Config) { c.RefreshRetryWindow = 2 * time.Minute }, []string{"refresh_retry_window"}},
		{"mtls behind a proxy", func(c *Config) {
			c.TLS = TLS{MTLSAddr: ":8443", MTLSURL: "https://mtls.example", ClientCertHeader: "Client-Cert", ClientCertProxies: "10.1.2.3, 10.1.2.4/31"}
		}, nil},
		{"proxy header without proxies", func(c *Config) {
			c.TLS = TLS{MTLSAddr: ":8443", MTLSURL: "https://mtls.example", ClientCertHeader: "Client-Cert"}
		}, []string{"needs tls.client_cert_proxies"}},
		{"proxies of everyone", func(c *Config) {
			c.TLS = TLS{MTLSAddr: ":8443", MTLSURL: "https://mtls.example", ClientCertHeader: "Client-Cert", ClientCertProxies: "0.0.0.0/0"}
		}, []string{"anyone may claim", "name the proxies"}[1:]},
		{"proxies without the header", func(c *Config) { c.TLS = TLS{ClientCertProxies: "10.0.0.1"} }, []string{"only with tls.client_cert_header"}},
		{"proxy header without mtls url", func(c *Config) {
			c.TLS = TLS{MTLSAddr: ":8443", ClientCertHeader: "Client-Cert", ClientCertProxies: "10.0.0.1"}
		}, []string{"needs tls.mtls_addr"}},
		{"proxy header not a name", func(c *Config) {
			c.TLS = TLS{MTLSAddr: ":8443", MTLSURL: "https://mtls.example", ClientCertHeader: "Client Cert", ClientCertProxies: "10.0.0.1"}
		}, []string{"not a header name"}},
		{"proxy header grantd reads", func(c *Config) {
			c.TLS = TLS{MTLSAddr: ":8443", MTLSURL: "https://mtls.example", ClientCertHeader: "Authorization", ClientCertProxies: "10.0.0.1"}
		}, []string{"reads for something else"}},
		{"replay cache redis without redis", func(c *Config) { c.ReplayCache = ReplayRedis }, []string{"replay_cache: redis needs redis"}},
		{"replay cache redis", func(c *Config) { c.ReplayCache, c.Redis = ReplayRedis, "redis://127.0.0.1:6379/0" }, nil},
		{"replay cache unknown", func(c *Config) { c.ReplayCache = "memcached" }, []string{"replay_cache:", "not one of"}},
		{"a relative resource", func(c *Config) { c.Resources = "https://ok.example/ /relative" }, []string{"resources and default_audience"}},
		{"port 0 twice", func(c *Config) { c.Addr, c.AdminAddr = "127.0.0.1:0", "127.0.0.1:0" }, nil},
		{"sqlite dsn", func(c *Config) { c.Store = "sqlite:///var/lib/grantd.db" }, nil},
		{"postgres dsn parses", func(c *Config) { c.Store = "postgres://u:p@db:5432/grantd" }, nil},
		{"ES256", func(c *Config) { c.SigningAlgorithm = "ES256" }, nil},
		{"bad addr", func(c *Config) { c.Addr = "localhost" }, []string{"addr:", "not host:port"}},
		{"bad port", func(c *Config) { c.AdminAddr = "127.0.0.1:99999" }, []string{"admin_addr:", "port"}},
		{"same addr", func(c *Config) { c.AdminAddr = c.Addr }, []string{"must differ"}},
		{"http issuer remote", func(c *Config) { c.Issuer = "http://auth.example.com" }, []string{"issuer:", "https"}},
		{"issuer query", func(c *Config) { c.Issuer = "https://a.example.com/?x=1" }, []string{"issuer:", "no query"}},
		{"issuer fragment", func(c *Config) { c.Issuer = "https://a.example.com/#x" }, []string{"issuer:", "no fragment"}},
		{"issuer relative", func(c *Config) { c.Issuer = "/auth" }, []string{"issuer:", "absolute"}},
		{"empty data dir", func(c *Config) { c.DataDir = " " }, []string{"data_dir"}},
		{"unknown store", func(c *Config) { c.Store = "mysql://x/y" }, []string{`unknown backend "mysql"`}},
		{"memory store", func(c *Config) { c.Store = ":memory:" }, []string{"database file"}},
		{"consent url", func(c *Config) { c.ConsentURL = "consent.example.com" }, []string{"consent_url"}},
		{"admin token space", func(c *Config) { c.AdminToken = "a b" }, []string{"admin token"}},
		{"short kek", func(c *Config) { c.KeyEncryptionKey = "c2hvcnQ=" }, []string{"key_encryption_key", "32 bytes"}},
		{"algorithm", func(c *Config) { c.SigningAlgorithm = "HS256" }, []string{"signing_algorithm", "HS256"}},
		{"code ttl too long", func(c *Config) { c.CodeTTL = time.Hour }, []string{"code_ttl: at most 10m"}},
		{"tls half", func(c *Config) { c.TLS.CertFile = "c" }, []string{"tls: set both"}},
		{"log", func(c *Config) { c.Log = Log{"loud", "xml"} }, []string{"log.level", "log.format"}},
		{"postgres pool", func(c *Config) { c.Postgres = Postgres{MaxConns: 20, MinConns: 2, MaxConnLifetime: time.Hour} }, nil},
		{"postgres pool negative", func(c *Config) { c.Postgres = Postgres{MaxConns: -1, MinConns: -2, MaxConnLifetime: -time.Second} },
			[]string{"postgres.max_conns", "postgres.min_conns", "postgres.max_conn_lifetime"}},
		{"postgres min above max", func(c *Config) { c.Postgres = Postgres{MaxConns: 2, MinConns: 3} }, []string{"must not exceed"}},
		{"client cache off", func(c *Config) { c.ClientCacheTTL = 0 }, nil},
		{"client cache negative", func(c *Config) { c.ClientCacheTTL = -time.Second }, []string{"client_cache_ttl"}},
		{"client cache too long", func(c *Config) { c.ClientCacheTTL = 2 * time.Minute }, []string{"client_cache_ttl: from 0 (off) to 1m0s"}},
		{"postgres unix socket", func(c *Config) { c.Store = "postgres:///grantd?host=/run/postgresql" }, nil},
		{
			"every problem at once",
			func(c *Config) {
				c.Addr = "nope"
				c.CodeTTL = 0
				c.JanitorInterval = -time.Second
				c.MaxBodyBytes = 0
				c.MaxHeaderBytes = -1
				c.ShutdownTimeout = 0
				c.SigningAlgorithm = ""
			},
			[]string{"addr:", "code_ttl: must be positive", "janitor_interval", "max_body_bytes", "max_header_bytes", "shutdown_timeout", "signing_algorithm"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Issuer = DefaultIssuer(c.Addr, false)
			tt.mod(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidateNeverEchoesSecrets(t *testing.T) {
	c := Default()
	c.Issuer = DefaultIssuer(c.Addr, false)
	c.KeyEncryptionKey = "c3VwZXJzZWNyZXRrZXltYXRlcmlhbA"
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), c.KeyEncryptionKey) {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestParseStore(t *testing.T) {
	tests := []struct {
		dsn     string
		want    StoreSpec
		wantErr string
	}{
		{"", StoreSpec{Backend: BackendSQLite, Path: filepath.Join("/data", "grantd.db")}, ""},
		{"sqlite:///var/lib/grantd/g.db", StoreSpec{Backend: BackendSQLite, Path: "/var/lib/grantd/g.db"}, ""},
		{"sqlite://rel/g.db", StoreSpec{Backend: BackendSQLite, Path: "rel/g.db"}, ""},
		{"sqlite:g.db", StoreSpec{Backend: BackendSQLite, Path: "g.db"}, ""},
		{"SQLite3:///g.db", StoreSpec{Backend: BackendSQLite, Path: "/g.db"}, ""},
		{"/srv/g.db", StoreSpec{Backend: BackendSQLite, Path: "/srv/g.db"}, ""},
		{"g.db", StoreSpec{Backend: BackendSQLite, Path: "g.db"}, ""},
		{"postgres://u:p@h:5432/d?sslmode=require", StoreSpec{Backend: BackendPostgres, DSN: "postgres://u:p@h:5432/d?sslmode=require"}, ""},
		{"postgresql://h/d", StoreSpec{Backend: BackendPostgres, DSN: "postgresql://h/d"}, ""},
		{"postgres:///d", StoreSpec{}, "PostgreSQL DSN"},
		{"postgres:///d?host=/run/postgresql&search_path=grantd", StoreSpec{Backend: BackendPostgres, DSN: "postgres:///d?host=/run/postgresql&search_path=grantd"}, ""},
		{"sqlite://", StoreSpec{}, "no file path"},
		{"sqlite:///g.db?mode=ro", StoreSpec{}, "no query"},
		{"redis://h", StoreSpec{}, "unknown backend"},
		{"file:g.db", StoreSpec{}, "database file"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			got, err := ParseStore(tt.dsn, "/data")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStore(%q) = %+v, %v; want error with %q", tt.dsn, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseStore(%q) = %+v, %v; want %+v", tt.dsn, got, err, tt.want)
			}
		})
	}
}

func TestDefaultIssuer(t *testing.T) {
	tests := []struct {
		addr string
		tls  bool
		want string
	}{
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{":8080", false, "http://localhost:8080"},
		{"0.0.0.0:443", true, "https://localhost:443"},
		{"[::]:8080", false, "http://localhost:8080"},
		{"[::1]:8080", false, "http://[::1]:8080"},
		{"auth.example.com:8443", true, "https://auth.example.com:8443"},
	}
	for _, tt := range tests {
		if got := DefaultIssuer(tt.addr, tt.tls); got != tt.want {
			t.Errorf("DefaultIssuer(%q, %v) = %q, want %q", tt.addr, tt.tls, got, tt.want)
		}
	}
}

// Every leaf field of Config is reachable from a setting, and every flag
// has the environment variable its name implies.
func TestEverySettingHasAnEnvVar(t *testing.T) {
	seenYAML := map[string]bool{}
	for _, s := range Settings() {
		if s.Env == "" || !strings.HasPrefix(s.Env, "GRANTD_") {
			t.Errorf("setting %q has env %q", s.Flag, s.Env)
		}
		if s.Flag != "" && s.Env != envName(s.Flag) {
			t.Errorf("flag --%s has env %s, want %s", s.Flag, s.Env, envName(s.Flag))
		}
		seenYAML[s.YAML] = true
	}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			key := prefix + f.Tag.Get("yaml")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(key+".", f.Type)
				continue
			}
			// Lists of structured entries live only in the file.
			if key == "providers" || key == "dialects" || key == "policy.tiers" || key == "policy.grant_costs" ||
				key == "policy.address_limits" || strings.HasPrefix(key, "policy.brute_force.") {
				continue
			}
			if !seenYAML[key] {
				t.Errorf("config key %q has no setting (flag/env)", key)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
}

// Each setting's environment variable alone changes its field.
func TestEachEnvVarApplies(t *testing.T) {
	def, err := Load(nil, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]string{}
	for _, s := range Settings() {
		v := "x-value"
		switch {
		case s.isBool && s.get(&def) == "true":
			v = "false" // a default-on switch
		case s.isBool:
			v = "true"
		case strings.Contains(s.Flag, "bytes") || strings.Contains(s.Flag, "conns") || strings.Contains(s.Flag, "pending"):
			v = "12345"
		case strings.Contains(s.Flag, "interval") || strings.Contains(s.Flag, "ttl") || strings.Contains(s.Flag, "timeout") ||
			strings.Contains(s.Flag, "lifetime") || strings.Contains(s.Flag, "period") || strings.Contains(s.Flag, "delay") ||
			strings.Contains(s.Flag, "window"):
			v = "17s"
		}
		samples[s.Env] = v
	}
	for _, s := range Settings() {
		t.Run(s.Env, func(t *testing.T) {
			c, err := Load(nil, envMap(map[string]string{s.Env: samples[s.Env]}))
			if err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(c, def) {
				t.Errorf("%s=%s changed nothing", s.Env, samples[s.Env])
			}
		})
	}
}

func TestProvidersCatalogue(t *testing.T) {
	c := Default()
	if got := c.Catalogue(); len(got) == 0 || got[0].ID != "sandbox-bank" {
		t.Fatalf("default catalogue %v, want the sandbox catalogue", got)
	}
	path := writeFile(t, `providers:
  - id: acme-bank
    name: Acme Bank
    products: [accounts, balances]
    entity_ids: [e1]
    consent_ttl: 2160h
    retention_ttl: 168h
`)
	c, err := Load([]string{"--config", path}, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := c.Catalogue()
	if len(got) != 1 || got[0].ID != "acme-bank" || got[0].ConsentTTL != 90*24*time.Hour || got[0].RetentionTTL != 7*24*time.Hour {
		t.Fatalf("catalogue %+v", got)
	}
	c.Providers = append(c.Providers, DataProvider{ID: "acme-bank"}, DataProvider{ID: "x", Name: "X", Products: []string{"a b"}, ConnectionType: "other"})
	err = c.Validate()
	for _, want := range []string{"appears twice", "products: must list", "not a valid product", "connection_type"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to mention %q", err, want)
		}
	}
}

func TestDialectsConfig(t *testing.T) {
	path := writeFile(t, `dialects:
  payroll: {enabled: false}
  bankapi: {path: /bank/v1/oauth/token}
`)
	c, err := Load([]string{"--config", path}, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DialectEnabled("payroll") || !c.DialectEnabled("bankapi") || !c.DialectEnabled("temptoken") {
		t.Errorf("enabled: payroll %v bankapi %v temptoken %v", c.DialectEnabled("payroll"), c.DialectEnabled("bankapi"), c.DialectEnabled("temptoken"))
	}
	if m := c.DialectMounts(); len(m) != 1 || m["bankapi"] != "/bank/v1/oauth/token" {
		t.Errorf("mounts %v", m)
	}
	old := KnownDialects
	KnownDialects = []string{"temptoken", "bankdata", "bankapi", "payroll"}
	t.Cleanup(func() { KnownDialects = old })
	if err := c.Validate(); err != nil {
		t.Fatalf("valid dialects refused: %v", err)
	}
	c.Dialects["flinks"] = Dialect{}
	c.Dialects["payroll"] = Dialect{Path: "auth/token?x"}
	err = c.Validate()
	for _, want := range []string{"dialects.flinks: unknown dialect", "dialects.payroll.path"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}

// A provider's operating hours come from the file, validated.
func TestProviderOperatingHours(t *testing.T) {
	path := writeFile(t, `providers:
  - id: acme-bank
    name: Acme Bank
    products: [accounts]
    operating_hours:
      time_zone: Europe/Bucharest
      weekly: {mon: ["09:00-17:00"], tue: ["09:00-17:00"]}
      closed_dates: ["2026-12-25"]
`)
	c, err := Load([]string{"--config", path}, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	h := c.Catalogue()[0].OperatingHours
	if h == nil || h.TimeZone != "Europe/Bucharest" || len(h.Weekly["mon"]) != 1 || h.ClosedDates[0] != "2026-12-25" {
		t.Fatalf("hours %+v", h)
	}
	c.Providers[0].OperatingHours.Weekly = map[string][]string{"mon": {"17:00-09:00x"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "providers[0].operating_hours") {
		t.Fatalf("Validate: %v", err)
	}
}
