package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

const clientUsage = `Usage: grantd client <command> [flags] [arguments]

Manage clients directly in the store (no running server needed).

Commands:
  create        register a client and print its id and, once only, its secret
  list          list clients
  get ID        show a client
  delete ID     delete a client and everything issued to it
  rotate-secret ID [--grace D]
                give a confidential client a new secret, printed once; the old
                one still works for the grace (default 24h; 0 = at once)
  balance get ID
                show a metered client's balance
  balance add ID --amount N --reason R [--idempotency-key K]
                top up (N > 0) or debit (N < 0) a metered client's balance
  ledger ID     list a client's balance changes, newest first
`

func (c *cli) client(ctx context.Context, args []string) error {
	return c.subcommand(ctx, "client", clientUsage, args, map[string]func(context.Context, []string) error{
		"create": c.clientCreate, "list": c.clientList, "get": c.clientGet, "delete": c.clientDelete,
		"rotate-secret": c.clientRotateSecret, "balance": c.clientBalance, "ledger": c.clientLedger,
	})
}

// subcommand runs the command of group that args name, or answers help or a
// usage error with usage.
func (c *cli) subcommand(ctx context.Context, group, usage string, args []string, cmds map[string]func(context.Context, []string) error) error {
	if len(args) == 0 {
		return c.usageError(usage, "%s: missing command", group)
	}
	if run, ok := cmds[args[0]]; ok {
		return run(ctx, args[1:])
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usage)
		return nil
	}
	return c.usageError(usage, "%s: unknown command %q", group, args[0])
}

// withStore loads the configuration and opens the store for fn.
func (c *cli) withStore(ctx context.Context, cf *config.Flags, fn func(st store.Store) error) error {
	return c.withConfigStore(ctx, cf, func(_ *config.Config, st store.Store) error { return fn(st) })
}

// withManager is withStore with the clients manager of the store, which
// knows the configuration's tiers, as the server's does.
func (c *cli) withManager(ctx context.Context, cf *config.Flags, fn func(m *clients.Manager) error) error {
	return c.withConfigStore(ctx, cf, func(cfg *config.Config, st store.Store) error {
		return fn(&clients.Manager{Store: st, Tiers: cfg.TierNames(), DefaultTier: cfg.EffectiveDefaultTier(),
			SigningAlgorithms: cfg.SigningAlgorithmList(), CheckJWKSURI: cfg.ClientKeyFetcher().CheckURL,
			DefaultProfile: cfg.DefaultClientProfile()})
	})
}

func (c *cli) withConfigStore(ctx context.Context, cf *config.Flags, fn func(cfg *config.Config, st store.Store) error) error {
	cfg, err := c.loadConfig(cf)
	if err != nil {
		return err
	}
	st, _, err := openStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(&cfg, st)
}

func (c *cli) clientCreate(ctx context.Context, args []string) error {
	fs := c.flagSet("client create", "[flags]",
		"Register a client. A confidential client's secret is printed once, here, and never again.")
	var (
		p                                       clients.Params
		grantTypes, redirectURIs, responseTypes listFlag
		resources                               listFlag
		origins                                 listFlag
		refreshIdle, refreshTTL, accessTTL      durationFlag
		consentTTL, retentionTTL                durationFlag
		metadata                                = mapFlag{}
	)
	fs.StringVar(&p.Name, "name", "", "client `name`, shown on the consent page")
	fs.Var(&grantTypes, "grant-type", "allowed `grant`: client_credentials, authorization_code, refresh_token (repeatable)")
	fs.Var(&redirectURIs, "redirect-uri", "exact redirect `URI` (repeatable)")
	fs.Var(&responseTypes, "response-type", "`type` that starts the flow: code (default) or temp_token (repeatable)")
	fs.StringVar(&p.TokenEndpointAuthMethod, "auth-method", "", "token endpoint auth `method`: client_secret_basic (default), client_secret_post, none (public client)")
	fs.StringVar(&p.Scope, "scope", "", "space-separated `scopes` (products) the client may ask for")
	fs.StringVar(&p.Environment, "environment", "", "`environment`: development, production, sandbox (default)")
	fs.StringVar(&p.Tier, "tier", "", "commercial `tier` (rate limits)")
	fs.StringVar(&p.State, "state", "", "client `state`: active (default), suspended, pending")
	fs.StringVar(&p.StateReason, "state-reason", "", "why the client is in its state (`text`)")
	fs.BoolVar(&p.Metered, "metered", false, "the client has a prepaid balance that token grants are charged against")
	fs.BoolVar(&p.Overdraft, "overdraft", false, "debits may take a metered client's balance below zero")
	fs.Var(scheduleFlag{&p.OperatingHours}, "operating-hours", `when the client may obtain tokens, as JSON: {"time_zone":"Europe/Bucharest","weekly":{"mon":["09:00-17:00"]}}`)
	fs.StringVar(&p.RefreshPolicy, "refresh-policy", "", "refresh token `policy`: rotating (default) or fixed")
	fs.Var(&refreshIdle, "refresh-idle-timeout", "refresh token idle `timeout` (720h or seconds)")
	fs.Var(&refreshTTL, "refresh-token-ttl", "absolute `lifetime` of a rotating refresh token family (720h or seconds)")
	fs.Var(&accessTTL, "access-token-ttl", "access token `lifetime` (1h or seconds)")
	fs.Var(&consentTTL, "consent-ttl", "consent `lifetime` of this client's connections, overriding the provider catalogue (2160h or seconds)")
	fs.Var(&retentionTTL, "retention-ttl", "data-retention `period` after a consent ends, overriding the catalogue (720h or seconds)")
	fs.StringVar(&p.AccessTokenFormat, "token-format", "", "access token `format`: jwt (default) or opaque")
	fs.StringVar(&p.AccessTokenSigningAlg, "access-token-signing-alg", "", "`algorithm` of the client's JWT access tokens: RS256, PS256, ES256 or EdDSA (default: the server's signing_algorithm)")
	fs.StringVar(&p.ConsentURL, "consent-url", "", "this client's external consent app `URL`")
	fs.BoolVar(&p.ResourceServer, "resource-server", false, "the client may introspect tokens of any client")
	fs.BoolVar(&p.DPoPBoundAccessTokens, "dpop-bound-access-tokens", false, "every token request of the client must carry a DPoP proof (RFC 9449)")
	fs.Var(&origins, "allowed-cors-origin", "web `origin` (https://app.example.com) a browser-based client calls the token and revocation endpoints from (CORS; repeatable)")
	fs.Var(&resources, "allowed-resource", "resource indicator `URI` the client may ask tokens for, besides the server's (RFC 8707; repeatable)")
	fs.Var(jsonFlag{&p.JWKS}, "jwks", "a private_key_jwt client's public keys, a JWK Set as `JSON` (or @file)")
	fs.StringVar(&p.JWKSURI, "jwks-uri", "", "where a private_key_jwt client's JWK Set is fetched (https `URL`)")
	fs.StringVar(&p.TokenEndpointAuthSigningAlg, "token-endpoint-auth-signing-alg", "", "the one `algorithm` a private_key_jwt client's assertions may use (default: any of PS256, ES256, EdDSA, RS256, …)")
	fs.StringVar(&p.Profile, "profile", "", "security `profile` the client is held to: fapi2 (FAPI 2.0) or none (default: the server's, --fapi2)")
	fs.StringVar(&p.TLSClientAuthSubjectDN, "tls-client-auth-subject-dn", "", "a tls_client_auth client's certificate subject `DN` (RFC 4514)")
	fs.StringVar(&p.TLSClientAuthSANDNS, "tls-client-auth-san-dns", "", "a tls_client_auth client's certificate DNS `name` (instead of the subject DN)")
	fs.BoolVar(&p.TLSClientCertificateBoundAccessTokens, "tls-client-certificate-bound-access-tokens", false, "bind the client's access tokens to its TLS client certificate (RFC 8705)")
	fs.BoolVar(&p.RequirePushedAuthorizationRequests, "require-par", false, "the client's authorization requests must be pushed first (RFC 9126)")
	fs.Var(metadata, "metadata", "metadata `key=value` (repeatable)")
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	p.GrantTypes, p.RedirectURIs, p.ResponseTypes = grantTypes, redirectURIs, responseTypes
	p.AllowedResources, p.AllowedCORSOrigins = resources, origins
	p.RefreshIdleTimeout, p.RefreshTokenTTL, p.AccessTokenTTL = clients.Duration(refreshIdle), clients.Duration(refreshTTL), clients.Duration(accessTTL)
	p.ConsentTTL, p.RetentionTTL = clients.Duration(consentTTL), clients.Duration(retentionTTL)
	if len(metadata) > 0 {
		p.Metadata = metadata
	}
	return c.withManager(ctx, cf, func(m *clients.Manager) error {
		cl, secret, err := m.Create(ctx, p)
		if err != nil {
			return err
		}
		v := clients.NewView(cl)
		v.ClientSecret = secret
		if *out == "json" { // as POST /admin/clients
			return writeJSON(c.stdout, v)
		}
		printClient(c.stdout, v)
		if secret != "" {
			fmt.Fprintln(c.stdout, "\nThe client secret is shown only this once: store it now.")
		}
		return nil
	})
}

func (c *cli) clientList(ctx context.Context, args []string) error {
	fs := c.flagSet("client list", "[flags]", "List clients.")
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	return c.withStore(ctx, cf, func(st store.Store) error {
		list, _, err := st.ListClients(ctx, store.Page{})
		if err != nil {
			return err
		}
		lv := clients.NewListView(list, "")
		if *out == "json" { // as GET /admin/clients, all on one page
			return writeJSON(c.stdout, lv)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tAUTH METHOD\tGRANT TYPES\tENVIRONMENT\tSTATE")
		for _, v := range lv.Clients {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ClientID, orDash(v.Name), v.TokenEndpointAuthMethod,
				strings.Join(v.GrantTypes, ","), v.Environment, v.State)
		}
		return tw.Flush()
	})
}

func (c *cli) clientGet(ctx context.Context, args []string) error {
	fs := c.flagSet("client get", "[flags] CLIENT_ID", "Show a client.")
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, args, 1, "CLIENT_ID"); err != nil {
		return err
	}
	id := fs.Arg(0)
	return c.withStore(ctx, cf, func(st store.Store) error {
		cl, err := st.GetClient(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("client %q not found", id)
		}
		if err != nil {
			return err
		}
		v := clients.NewView(cl)
		if *out == "json" {
			return writeJSON(c.stdout, v)
		}
		printClient(c.stdout, v)
		return nil
	})
}

func (c *cli) clientDelete(ctx context.Context, args []string) error {
	fs := c.flagSet("client delete", "[flags] CLIENT_ID",
		"Delete a client and everything issued to it (codes, tokens, connections).")
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, args, 1, "CLIENT_ID"); err != nil {
		return err
	}
	id := fs.Arg(0)
	return c.withStore(ctx, cf, func(st store.Store) error {
		err := st.DeleteClient(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("client %q not found", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "deleted client %s\n", id)
		return nil
	})
}

func (c *cli) clientRotateSecret(ctx context.Context, args []string) error {
	fs := c.flagSet("client rotate-secret", "[flags] CLIENT_ID",
		"Give a confidential client a new secret, printed once, here, and never again. The secret it\n"+
			"replaces still authenticates for the grace, then no more; a rotation during a grace ends the\n"+
			"older secret at once (only one replaced secret is kept).")
	var grace durationFlag
	fs.Var(&grace, "grace", fmt.Sprintf("how long the replaced secret still works (`D`: 24h or seconds; 0 = at once; at most %dh; default %dh)",
		clients.MaxSecretGrace/time.Hour, clients.DefaultSecretGrace/time.Hour))
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, flagsFirst(fs, args), 1, "CLIENT_ID"); err != nil {
		return err
	}
	var rot clients.SecretRotation
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "grace" {
			rot.Grace = (*clients.Duration)(&grace)
		}
	})
	id := fs.Arg(0)
	return c.withManager(ctx, cf, func(m *clients.Manager) error {
		r, err := m.RotateSecret(ctx, id, rot)
		if err != nil {
			return clientError(id, err)
		}
		v := clients.NewSecretView(r)
		if *out == "json" { // as POST /admin/clients/{id}/secret
			return writeJSON(c.stdout, v)
		}
		until := orEmpty(v.PreviousSecretExpiresAt)
		printRows(c.stdout, [][2]string{
			{"client_id", v.ClientID}, {"client_secret", v.ClientSecret}, {"previous_secret_expires_at", until},
		})
		fmt.Fprintln(c.stdout, "\nThe client secret is shown only this once: store it now.")
		if until != "" {
			fmt.Fprintf(c.stdout, "The previous secret still works until %s.\n", until)
		} else {
			fmt.Fprintln(c.stdout, "The previous secret no longer works.")
		}
		return nil
	})
}

// printClient shows a client as aligned "field: value" lines.
func printClient(w io.Writer, v clients.View) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, orDash(v)) }
	row("client_id", v.ClientID)
	if v.ClientSecret != "" {
		row("client_secret", v.ClientSecret)
	}
	if v.PreviousSecretExpiresAt != "" {
		row("previous_secret_expires_at", v.PreviousSecretExpiresAt)
	}
	row("name", v.Name)
	row("token_endpoint_auth_method", v.TokenEndpointAuthMethod)
	row("grant_types", strings.Join(v.GrantTypes, " "))
	row("response_types", strings.Join(v.ResponseTypes, " "))
	row("redirect_uris", strings.Join(v.RedirectURIs, " "))
	row("scope", v.Scope)
	row("environment", v.Environment)
	row("tier", v.Tier)
	row("state", v.State)
	row("state_reason", v.StateReason)
	row("state_changed_at", v.StateChangedAt)
	row("metered", fmt.Sprint(v.Metered))
	row("balance", fmt.Sprint(v.Balance))
	row("overdraft", fmt.Sprint(v.Overdraft))
	if v.OperatingHours != nil {
		b, _ := json.Marshal(v.OperatingHours)
		row("operating_hours", string(b))
	} else {
		row("operating_hours", "")
	}
	row("refresh_policy", v.RefreshPolicy)
	row("refresh_idle_timeout", seconds(v.RefreshIdleTimeout))
	row("refresh_token_ttl", seconds(v.RefreshTokenTTL))
	row("consent_ttl", seconds(v.ConsentTTL))
	row("retention_ttl", seconds(v.RetentionTTL))
	row("access_token_ttl", seconds(v.AccessTokenTTL))
	row("access_token_format", v.AccessTokenFormat)
	row("access_token_signing_alg", v.AccessTokenSigningAlg)
	row("consent_url", v.ConsentURL)
	row("resource_server", fmt.Sprint(v.ResourceServer))
	row("dpop_bound_access_tokens", fmt.Sprint(v.DPoPBoundAccessTokens))
	row("allowed_resources", strings.Join(v.AllowedResources, " "))
	row("allowed_cors_origins", strings.Join(v.AllowedCORSOrigins, " "))
	row("require_pushed_authorization_requests", fmt.Sprint(v.RequirePushedAuthorizationRequests))
	row("jwks", string(v.JWKS))
	row("jwks_uri", v.JWKSURI)
	row("token_endpoint_auth_signing_alg", v.TokenEndpointAuthSigningAlg)
	row("tls_client_auth_subject_dn", v.TLSClientAuthSubjectDN)
	row("tls_client_auth_san_dns", v.TLSClientAuthSANDNS)
	row("tls_client_certificate_bound_access_tokens", fmt.Sprint(v.TLSClientCertificateBoundAccessTokens))
	row("profile", v.Profile)
	for _, k := range slices.Sorted(maps.Keys(v.Metadata)) {
		row("metadata."+k, v.Metadata[k])
	}
	row("first_token_at", v.FirstTokenAt)
	row("created_at", v.CreatedAt)
	row("updated_at", v.UpdatedAt)
	tw.Flush()
}

func seconds(d clients.Duration) string {
	if d == 0 {
		return ""
	}
	return d.D().String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeJSON writes v as the admin API does (json.Marshal and a newline), so
// that --output json prints the bytes the matching admin endpoint answers.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

const clientBalanceUsage = `Usage: grantd client balance <command> [flags] CLIENT_ID

Show or change a metered client's prepaid balance, directly in the store.

Commands:
  get ID    show the balance
  add ID    top up (--amount N > 0) or debit (--amount N < 0) the balance
`

func (c *cli) clientBalance(ctx context.Context, args []string) error {
	return c.subcommand(ctx, "client balance", clientBalanceUsage, args, map[string]func(context.Context, []string) error{
		"get": c.clientBalanceGet, "add": c.clientBalanceAdd,
	})
}

func (c *cli) clientBalanceGet(ctx context.Context, args []string) error {
	fs := c.flagSet("client balance get", "[flags] CLIENT_ID", "Show a client's balance.")
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, flagsFirst(fs, args), 1, "CLIENT_ID"); err != nil {
		return err
	}
	id := fs.Arg(0)
	return c.withManager(ctx, cf, func(m *clients.Manager) error {
		cl, err := m.Get(ctx, id)
		if err != nil {
			return clientError(id, err)
		}
		v := clients.NewBalanceView(cl)
		if *out == "json" { // as GET /admin/clients/{id}/balance
			return writeJSON(c.stdout, v)
		}
		printRows(c.stdout, [][2]string{
			{"client_id", v.ClientID}, {"metered", fmt.Sprint(v.Metered)},
			{"balance", fmt.Sprint(v.Balance)}, {"updated_at", orEmpty(v.UpdatedAt)},
		})
		return nil
	})
}

func (c *cli) clientBalanceAdd(ctx context.Context, args []string) error {
	fs := c.flagSet("client balance add", "[flags] CLIENT_ID",
		"Top up (a positive amount) or debit (a negative amount) a metered client's balance. The same\n"+
			"idempotency key again changes nothing and prints the first change; one is made when absent.")
	var ch clients.BalanceChange
	fs.Var((*amountFlag)(&ch.Amount), "amount", "credits to add (`N` > 0) or take (N < 0)")
	fs.StringVar(&ch.Reason, "reason", "", "why (`text`), kept in the ledger")
	fs.StringVar(&ch.IdempotencyKey, "idempotency-key", "", "`key` that makes the change apply once (default: a new one, printed)")
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, flagsFirst(fs, args), 1, "CLIENT_ID"); err != nil {
		return err
	}
	id := fs.Arg(0)
	if ch.IdempotencyKey == "" {
		ch.IdempotencyKey = clients.NewIdempotencyKey()
		fmt.Fprintf(c.stderr, "idempotency key: %s (give it with --idempotency-key to retry without applying twice)\n", ch.IdempotencyKey)
	}
	return c.withManager(ctx, cf, func(m *clients.Manager) error {
		e, replayed, err := m.AdjustBalance(ctx, id, ch)
		if err != nil {
			return clientError(id, err)
		}
		v := clients.NewAdjustmentView(id, e)
		if *out == "json" { // as POST /admin/clients/{id}/balance
			return writeJSON(c.stdout, v)
		}
		printRows(c.stdout, [][2]string{
			{"client_id", v.ClientID}, {"entry_id", v.Entry.ID}, {"kind", v.Entry.Kind},
			{"amount", fmt.Sprint(v.Entry.Amount)}, {"balance", fmt.Sprint(v.Balance)}, {"reason", v.Entry.Reason},
			{"idempotency_key", v.Entry.IdempotencyKey}, {"created_at", v.Entry.CreatedAt},
		})
		if replayed {
			fmt.Fprintln(c.stdout, "\nThe idempotency key was used before: nothing changed; this is the first change.")
		}
		return nil
	})
}

func (c *cli) clientLedger(ctx context.Context, args []string) error {
	fs := c.flagSet("client ledger", "[flags] CLIENT_ID",
		"List a client's balance changes (top-ups, debits, token charges), newest first.")
	limit := fs.Int("limit", clients.DefaultPageLimit, fmt.Sprintf("at most `N` entries (1 to %d)", clients.MaxPageLimit))
	cursor := fs.String("cursor", "", "start after this `cursor` (the next page's, as printed)")
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, flagsFirst(fs, args), 1, "CLIENT_ID"); err != nil {
		return err
	}
	if *limit < 1 || *limit > clients.MaxPageLimit {
		msg := fmt.Sprintf("--limit must be from 1 to %d", clients.MaxPageLimit)
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), msg)
		fs.Usage()
		return &usageError{msg}
	}
	id := fs.Arg(0)
	return c.withManager(ctx, cf, func(m *clients.Manager) error {
		es, next, err := m.Ledger(ctx, id, store.Page{Limit: *limit, After: *cursor})
		if err != nil {
			return clientError(id, err)
		}
		lp := clients.NewLedgerPage(es, next)
		if *out == "json" { // as GET /admin/clients/{id}/ledger
			return writeJSON(c.stdout, lp)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CREATED\tKIND\tAMOUNT\tBALANCE\tREASON\tKEY OR GRANT")
		for _, e := range lp.Entries {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", e.CreatedAt, e.Kind, e.Amount, e.Balance, orDash(e.Reason),
				orDash(e.IdempotencyKey+e.GrantType))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if next != "" {
			fmt.Fprintf(c.stdout, "\nMore entries: --cursor %s\n", next)
		}
		return nil
	})
}

// clientError says what a refusal of a client command (a balance change, a
// secret rotation) means.
func clientError(id string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("client %q not found", id)
	case errors.Is(err, clients.ErrPublicClient):
		return fmt.Errorf("client %q is public (token_endpoint_auth_method none): it has no secret to rotate", id)
	case errors.Is(err, store.ErrNotMetered):
		return fmt.Errorf("client %q is not metered (register it with --metered, or PATCH metered true)", id)
	case errors.Is(err, store.ErrInsufficientBalance):
		return fmt.Errorf("the debit would take the balance of client %q below zero, and it does not allow overdraft", id)
	case errors.Is(err, store.ErrConflict):
		return errors.New("the idempotency key was used before for this client with another amount")
	case errors.Is(err, store.ErrInvalidCursor):
		return errors.New("--cursor is not a cursor this command printed")
	}
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.Status == http.StatusBadRequest {
		return errors.New(oe.Description)
	}
	return err
}

// orEmpty is *s, or "" for nil (a time the JSON shows as null).
func orEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// printRows shows "field: value" lines, aligned.
func printRows(w io.Writer, rows [][2]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], orDash(r[1]))
	}
	tw.Flush()
}

// scheduleFlag reads --operating-hours as a JSON schedule, refusing unknown
// members as the admin API does.
type scheduleFlag struct{ s **store.Schedule }

func (f scheduleFlag) String() string {
	if f.s == nil || *f.s == nil {
		return ""
	}
	b, _ := json.Marshal(*f.s)
	return string(b)
}

func (f scheduleFlag) Set(v string) error {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	var s store.Schedule
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("want a JSON schedule such as {\"time_zone\":\"UTC\",\"weekly\":{\"mon\":[\"09:00-17:00\"]}}: %v", err)
	}
	*f.s = &s
	return nil
}

func (f scheduleFlag) ArgName() string { return "JSON" }

// flagsFirst moves the arguments that are not flags after the flags, so
// that "balance add ID --amount 5" parses as "balance add --amount 5 ID"
// (the flag package stops at the first argument that is not a flag). A
// flag's value is never moved, even one that starts with a dash
// ("--amount -5").
func flagsFirst(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
			continue
		case len(a) < 2 || a[0] != '-':
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && i+1 < len(args) {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	if len(rest) == 0 {
		return flags
	}
	return append(append(flags, "--"), rest...)
}

// amountFlag is --amount: an integer with no default shown (0 is refused).
type amountFlag int64

func (a *amountFlag) String() string {
	if a == nil || *a == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*a), 10)
}

func (a *amountFlag) Set(v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return errors.New("want an integer")
	}
	*a = amountFlag(n)
	return nil
}

// jsonFlag is a JSON value given inline or, as @path, in a file.
type jsonFlag struct{ v *json.RawMessage }

func (f jsonFlag) String() string {
	if f.v == nil {
		return ""
	}
	return string(*f.v)
}

func (f jsonFlag) Set(v string) error {
	b := []byte(v)
	if path, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return err
		}
	}
	if !json.Valid(b) {
		return errors.New("not valid JSON")
	}
	*f.v = b
	return nil
}
