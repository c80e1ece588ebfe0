package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/grantd/grantd/internal/admin"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/events"
	"github.com/grantd/grantd/internal/janitor"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/secretfile"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/singleuse"
	"github.com/grantd/grantd/internal/web"
)

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := c.flagSet("serve", "[flags]",
		"Run the authorization server: the public API on --addr and the admin API on --admin-addr.\n"+
			"Settings come from defaults, then --config FILE (YAML), then GRANTD_* variables, then flags.\n"+
			"The admin token comes from GRANTD_ADMIN_TOKEN, else DATA_DIR/admin-token (generated).")
	cf := config.AddFlags(fs)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := c.loadConfig(cf)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, c.stderr)
	cpus := runtime.GOMAXPROCS(0) // Go's choice, or the environment's
	if n := procsFor(os.Getenv("GOMAXPROCS"), cpus); n != 0 {
		runtime.GOMAXPROCS(n)
		log.Info("one CPU: running goroutines on two threads", "GOMAXPROCS", n)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	warnLooseModes(log, cfg)
	unlockServe, err := lockSQLiteServe(cfg)
	if err != nil {
		return err
	}
	defer unlockServe()
	st, where, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	log.Info("store open", "store", where)
	if skew, shared, err := clockSkew(ctx, st); err != nil {
		return err
	} else if shared && (skew > maxClockSkew || skew < -maxClockSkew) {
		// Key activation and deletion times come from each instance's
		// clock; the publication delay covers only a small skew.
		log.Warn("this machine's clock is "+describeSkew(skew)+" the database's: fix it (NTP); "+
			"other instances may meet keys before this one publishes them", "skew", skew.String(), "max", maxClockSkew.String())
	}

	unlockKEK, err := lockKEKFile(cfg, false) // no rotate-kek while this server seals under the key
	if err != nil {
		return err
	}
	defer unlockKEK()
	kek, previousKEKs, err := loadKEKs(ctx, cfg, st)
	if err != nil {
		return err
	}
	so := signerOptions(cfg, st, kek, previousKEKs, log)
	so.Concurrency = cpus // signatures at once: one per CPU, not per thread
	keys, err := signer.New(ctx, so)
	if err != nil {
		return err
	}
	log.Info("signer ready", "crypto", signer.Crypto, "algorithms", cfg.SigningAlgorithmList())
	token, tokenFile, err := adminToken(cfg)
	if err != nil {
		return err
	}
	tlsConf, err := loadTLS(cfg.TLS)
	if err != nil {
		return err
	}

	pubLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("public API: %w", err)
	}
	defer pubLn.Close()
	admLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer admLn.Close()
	var mtlsLn net.Listener
	if cfg.TLS.MTLSAddr != "" {
		if mtlsLn, err = net.Listen("tcp", cfg.TLS.MTLSAddr); err != nil {
			return fmt.Errorf("mutual-TLS listener: %w", err)
		}
		defer mtlsLn.Close()
	}
	clientCAs, err := loadClientCAs(cfg.TLS.ClientCAFile)
	if err != nil {
		return err
	}
	issuer := cfg.Issuer
	if cfg.IssuerIsDefault() && strings.HasSuffix(cfg.Addr, ":0") {
		issuer = config.DefaultIssuer(pubLn.Addr().String(), tlsConf != nil) // the port the system chose
	}

	pol, err := newPolicies(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pol.close()
	proxies, err := cfg.TrustedProxyPrefixes() // validated
	if err != nil {
		return err
	}
	certProxies, err := cfg.ClientCertProxyPrefixes() // validated
	if err != nil {
		return err
	}
	proofs, err := dpopChecker(cfg, kek)
	if err != nil {
		return err
	}
	clientKeys := cfg.ClientKeyFetcher()
	// The answers kept for refresh retries are sealed with a key every
	// instance derives from the key-encryption key.
	retryKey, err := hkdf.Key(sha256.New, kek, nil, "grantd refresh retry key v1", 32)
	if err != nil {
		return fmt.Errorf("refresh retry key: %w", err)
	}
	provider := &oauth.Provider{
		DPoP:                      proofs,
		Resources:                 cfg.ResourceList(),
		DefaultAudience:           cfg.DefaultAudienceList(),
		RequirePAR:                cfg.RequirePAR,
		ClientKeys:                clientKeys,
		Replays:                   replayCache(cfg, pol.redis),
		ClientCAs:                 clientCAs,
		PARTTL:                    cfg.PARTTL,
		RefreshRetryWindow:        cfg.RefreshRetryWindow,
		RetryKey:                  retryKey,
		LegacySecrets:             cfg.LegacySecrets,
		Policy:                    pol.policy,
		Guard:                     pol.guard,
		MaxPendingAuthRequests:    cfg.Policy.MaxPendingAuthorizations,
		MaxPendingConnectSessions: cfg.Policy.MaxPendingConnectSessions,
		Store:                     st,
		Signer:                    keys,
		Issuer:                    issuer,
		ConsentURL:                cfg.ConsentURL,
		HostedConsentPath:         web.Path,
		CodeTTL:                   cfg.CodeTTL,
		AuthRequestTTL:            cfg.AuthRequestTTL,
		Catalogue:                 cfg.Catalogue(),
		Logger:                    log,
	}
	pages, err := web.New(web.Options{Provider: provider, Logger: log})
	if err != nil {
		return err
	}
	var dialects []dialect.Dialect
	for _, d := range all.Dialects() {
		if cfg.DialectEnabled(d.Name()) {
			dialects = append(dialects, d)
		}
	}
	if err := server.CheckMounts(dialects, cfg.DialectMounts()); err != nil {
		return err
	}
	// One sealer for webhook secrets, so that what the admin API seals the
	// delivery worker can open.
	webhookSeal, err := seal.New(kek, webhookSealLabel, previousKEKs...)
	if err != nil {
		return err
	}
	manager := &clients.Manager{Store: st, Seal: webhookSeal.Seal, Tiers: cfg.TierNames(), DefaultTier: cfg.EffectiveDefaultTier(),
		SigningAlgorithms: cfg.SigningAlgorithmList(), CheckJWKSURI: clientKeys.CheckURL, DefaultProfile: cfg.DefaultClientProfile()}
	var registrar server.Registrar
	if cfg.DynamicRegistration {
		registrar = &clients.Registration{Manager: manager, Scope: registrationScope(cfg), Catalogue: provider.Catalogue}
	}
	var documents server.ClientDocuments
	if cfg.ClientIDMetadataDocuments {
		// Client ID Metadata Documents: fetched with the jwks_uri fetcher's
		// guard, held to dynamic registration's rules.
		documents = &clients.Registration{Manager: manager, Scope: registrationScope(cfg), Catalogue: provider.Catalogue,
			Documents: clientKeys, DocumentHost: cfg.DocumentHostAllowed}
	}
	mtlsURL := ""
	if mtlsLn != nil {
		mtlsURL = mtlsBase(cfg, issuer, mtlsLn.Addr())
	}
	publicServer := server.New(server.Options{
		Provider: provider, Keys: keys, Store: st, Pages: pages, Logger: log,
		MaxBodyBytes: cfg.MaxBodyBytes, RequestTimeout: cfg.RequestTimeout,
		Dialects: dialects, Mounts: cfg.DialectMounts(), Registrar: registrar,
		TrustedProxies: proxies, ForwardedHeader: strings.ToLower(cfg.ForwardedHeader), AddressLimiter: pol.address,
		SigningAlgorithms: cfg.SigningAlgorithmList(), MTLSURL: mtlsURL,
		ClientCertHeader: cfg.TLS.ClientCertHeader, ClientCertProxies: certProxies, ClientDocuments: documents,
	})
	public := publicServer.Handler()
	hooks := &events.Worker{Store: st, Open: webhookSeal.Open, Logger: log}
	adminAPI := server.Wrap(admin.New(admin.Options{
		Token: token, Clients: manager, Store: st, Provider: provider, Keys: keys, Logger: log,
	}), log, cfg.MaxBodyBytes, cfg.RequestTimeout)

	if cfg.Dev {
		if err := ensureDevClients(ctx, manager, cfg.DataDir, c.stdout); err != nil {
			return err
		}
	}
	if tokenFile != "" {
		fmt.Fprintf(c.stdout, "admin token: in %s (export GRANTD_ADMIN_TOKEN=$(cat %s))\n", tokenFile, shellQuote(tokenFile))
		log.Info("admin token file", "path", tokenFile)
	} else {
		fmt.Fprintln(c.stdout, "admin token: from GRANTD_ADMIN_TOKEN")
	}

	// Run: both listeners, the key reloader and the janitor.
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	var wg sync.WaitGroup
	wg.Go(func() { keys.Run(bg) }) // reloads, rotates on schedule, deletes what no token needs
	jan := &janitor.Janitor{Store: st, Logger: log, UnusedDynamicClientTTL: cfg.Policy.UnusedDynamicClientTTL}
	wg.Go(func() { jan.Run(bg, cfg.JanitorInterval) })
	wg.Go(func() { hooks.Run(bg, 2*time.Second) })
	servers := []*http.Server{httpServer(cfg, public, tlsConf, log), httpServer(cfg, adminAPI, tlsConf, log)}
	listeners := []net.Listener{pubLn, admLn}
	if mtlsLn != nil {
		// RFC 8705: the certificate is asked for, and judged by the core
		// (a CA's for tls_client_auth, a registered self-signed one).
		// Without TLS of its own (validated: behind a proxy that forwards
		// certificates, tls.client_cert_header) it serves plain HTTP.
		mtlsConf := tlsConf.Clone()
		if mtlsConf != nil {
			mtlsConf.ClientAuth = tls.RequestClientCert
		}
		servers = append(servers, httpServer(cfg, publicServer.MTLSHandler(), mtlsConf, log))
		listeners = append(listeners, mtlsLn)
	}
	failed := make(chan error, len(servers))
	for i, ln := range listeners {
		srv := servers[i]
		wg.Go(func() {
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("listener %s: %w", ln.Addr(), err)
			}
		})
	}
	pubURL := config.DefaultIssuer(pubLn.Addr().String(), tlsConf != nil)
	admURL := config.DefaultIssuer(admLn.Addr().String(), tlsConf != nil)
	fmt.Fprintf(c.stdout, "public API: %s (issuer %s)\n", pubURL, issuer)
	fmt.Fprintf(c.stdout, "admin API:  %s\n", admURL)
	if mtlsURL != "" {
		fmt.Fprintf(c.stdout, "mutual TLS: %s\n", mtlsURL)
	}
	log.Info("grantd serving", "version", version, "public", pubURL, "admin", admURL, "issuer", issuer, "dev", cfg.Dev)
	if c.ready != nil {
		c.ready(pubURL, admURL)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case runErr = <-failed:
		log.Error("listener failed; shutting down", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	var shutErrs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
			shutErrs = append(shutErrs, fmt.Errorf("graceful shutdown: %w", err))
		}
	}
	stopBG()
	wg.Wait()
	if err := errors.Join(shutErrs...); err != nil && runErr == nil {
		runErr = err
	}
	log.Info("stopped")
	return runErr // the deferred st.Close runs after every request is done
}

// httpServer bounds every phase of a connection. The write timeout leaves
// the handler its RequestTimeout and a margin to write the answer. Each
// server gets its own copy of the TLS config: net/http changes it (ALPN).
func httpServer(cfg config.Config, h http.Handler, tlsConf *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf.Clone(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadHeaderTimeout + cfg.RequestTimeout,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// loadTLS loads the certificate once at start-up (nil when TLS is off).
func loadTLS(t config.TLS) (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	// TLS 1.2 only with the AEAD suites of forward secrecy that BCP 195
	// (RFC 9325 §4.2) and FAPI 2.0 §5.2.1 name; TLS 1.3's are all such.
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	}}, nil
}

// lockSQLiteServe takes, for the embedded SQLite store, the lock that makes
// its server the only one: what one-time records the server keeps in
// memory (replayCache) are right only then. A crash releases it.
// The CLI's other commands take no such lock. With PostgreSQL it locks
// nothing.
func lockSQLiteServe(cfg config.Config) (func(), error) {
	spec, err := cfg.StoreSpec()
	if err != nil || spec.Backend != config.BackendSQLite {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(spec.Path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	unlock, err := secretfile.Lock(spec.Path+".serve.lock", true)
	if errors.Is(err, secretfile.ErrLocked) {
		return nil, fmt.Errorf("another grantd serve uses the SQLite store %s: one server per SQLite file "+
			"(use PostgreSQL for several instances; docs/deployment.md)", spec.Path)
	}
	return unlock, err
}

// replayCache is where DPoP proofs' and client assertions' single uses are
// recorded outside the store (replay_cache): in memory when the store is
// the embedded SQLite file, which one grantd serves (docs/deployment.md),
// so no store write per proof; in Redis, shared by every instance, when
// asked; else nil: every use is a store write (PostgreSQL by default).
func replayCache(cfg config.Config, rc *redis.Client) oauth.SingleUse {
	switch cfg.ReplayCache {
	case config.ReplayStore:
		return nil
	case config.ReplayRedis:
		if rc != nil { // validated: redis is set
			return singleuse.NewRedis(rc, "") // grantd:su:
		}
	}
	if spec, err := cfg.StoreSpec(); err == nil && spec.Backend == config.BackendSQLite {
		return oauth.NewReplays(time.Now())
	}
	return nil
}

// loadClientCAs reads the PEM bundle of tls_client_auth's CAs (nil when
// none is configured).
func loadClientCAs(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls client CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// mtlsBase is the mutual-TLS listener's base URL: --mtls-url, or the
// issuer's host with the listener's port.
func mtlsBase(cfg config.Config, issuer string, addr net.Addr) string {
	if cfg.TLS.MTLSURL != "" {
		return strings.TrimSuffix(cfg.TLS.MTLSURL, "/")
	}
	host := "localhost"
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return "https://" + net.JoinHostPort(host, port)
}

func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// registrationScope is the configured scope of dynamically registered
// clients; nil = the server's default (every product of the catalogue).
func registrationScope(cfg config.Config) []string {
	if cfg.DynamicRegistrationScope == "" {
		return nil
	}
	scope, _ := oauth.ParseScope(cfg.DynamicRegistrationScope) // validated
	return scope
}

// procsFor returns the GOMAXPROCS serve sets, 0 to leave it: at least 2
// unless the environment set it. On one CPU (the machine's or an affinity
// mask's; a container's CPU limit never gives less than 2) Go would run
// goroutines on one thread: SQLite's single writer, back from each of its
// write system calls, then waits behind every request's goroutine, and at
// 64 connections the p99 of a refresh was 258 ms against 33 ms with two
// threads on the same CPU (docs/benchmarks.md).
func procsFor(env string, current int) int {
	if env != "" || current >= 2 {
		return 0
	}
	return 2
}

// dpopNonceInfo labels the DPoP nonces' key, derived from the
// key-encryption key: every instance sharing that key derives the same one,
// and it is of no use for anything else.
const dpopNonceInfo = "grantd dpop nonce key v1"

// dpopChecker is the DPoP proof checker of the configuration: with nonces
// when dpop_nonce is on.
func dpopChecker(cfg config.Config, kek []byte) (*dpop.Checker, error) {
	if !cfg.DPoPNonce {
		return &dpop.Checker{}, nil
	}
	key, err := hkdf.Key(sha256.New, kek, nil, dpopNonceInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("dpop nonce key: %w", err)
	}
	n, err := dpop.NewNonces(key, 0)
	if err != nil {
		return nil, err
	}
	return &dpop.Checker{Nonces: n}, nil
}
