package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/store"
)

const clientUsage = `Usage: grantd client <command> [flags] [arguments]

Manage clients directly in the store (no running server needed).

Commands:
  create    register a client and print its id and, once only, its secret
  list      list clients
  get ID    show a client
  delete ID delete a client and everything issued to it
`

func (c *cli) client(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.usageError(clientUsage, "client: missing command")
	}
	switch args[0] {
	case "create":
		return c.clientCreate(ctx, args[1:])
	case "list":
		return c.clientList(ctx, args[1:])
	case "get":
		return c.clientGet(ctx, args[1:])
	case "delete":
		return c.clientDelete(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, clientUsage)
		return nil
	}
	return c.usageError(clientUsage, "client: unknown command %q", args[0])
}

// withStore loads the configuration and opens the store for fn.
func (c *cli) withStore(ctx context.Context, cf *config.Flags, fn func(st store.Store) error) error {
	cfg, err := c.loadConfig(cf)
	if err != nil {
		return err
	}
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

func (c *cli) clientCreate(ctx context.Context, args []string) error {
	fs := c.flagSet("client create", "[flags]",
		"Register a client. A confidential client's secret is printed once, here, and never again.")
	var (
		p                                       clients.Params
		grantTypes, redirectURIs, responseTypes listFlag
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
	fs.StringVar(&p.RefreshPolicy, "refresh-policy", "", "refresh token `policy`: rotating (default) or fixed")
	fs.Var(&refreshIdle, "refresh-idle-timeout", "refresh token idle `timeout` (720h or seconds)")
	fs.Var(&refreshTTL, "refresh-token-ttl", "absolute `lifetime` of a rotating refresh token family (720h or seconds)")
	fs.Var(&accessTTL, "access-token-ttl", "access token `lifetime` (1h or seconds)")
	fs.Var(&consentTTL, "consent-ttl", "consent `lifetime` of this client's connections, overriding the provider catalogue (2160h or seconds)")
	fs.Var(&retentionTTL, "retention-ttl", "data-retention `period` after a consent ends, overriding the catalogue (720h or seconds)")
	fs.StringVar(&p.AccessTokenFormat, "token-format", "", "access token `format`: jwt (default) or opaque")
	fs.StringVar(&p.ConsentURL, "consent-url", "", "this client's external consent app `URL`")
	fs.BoolVar(&p.ResourceServer, "resource-server", false, "the client may introspect tokens of any client")
	fs.Var(metadata, "metadata", "metadata `key=value` (repeatable)")
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	p.GrantTypes, p.RedirectURIs, p.ResponseTypes = grantTypes, redirectURIs, responseTypes
	p.RefreshIdleTimeout, p.RefreshTokenTTL, p.AccessTokenTTL = clients.Duration(refreshIdle), clients.Duration(refreshTTL), clients.Duration(accessTTL)
	p.ConsentTTL, p.RetentionTTL = clients.Duration(consentTTL), clients.Duration(retentionTTL)
	if len(metadata) > 0 {
		p.Metadata = metadata
	}
	return c.withStore(ctx, cf, func(st store.Store) error {
		cl, secret, err := (&clients.Manager{Store: st}).Create(ctx, p)
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
		list, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		views := make([]clients.View, 0, len(list))
		for _, cl := range list {
			views = append(views, clients.NewView(cl))
		}
		if *out == "json" { // as GET /admin/clients
			return writeJSON(c.stdout, struct {
				Clients []clients.View `json:"clients"`
			}{views})
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tAUTH METHOD\tGRANT TYPES\tENVIRONMENT\tSTATE")
		for _, v := range views {
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

// printClient shows a client as aligned "field: value" lines.
func printClient(w io.Writer, v clients.View) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, orDash(v)) }
	row("client_id", v.ClientID)
	if v.ClientSecret != "" {
		row("client_secret", v.ClientSecret)
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
	row("refresh_policy", v.RefreshPolicy)
	row("refresh_idle_timeout", seconds(v.RefreshIdleTimeout))
	row("refresh_token_ttl", seconds(v.RefreshTokenTTL))
	row("consent_ttl", seconds(v.ConsentTTL))
	row("retention_ttl", seconds(v.RetentionTTL))
	row("access_token_ttl", seconds(v.AccessTokenTTL))
	row("access_token_format", v.AccessTokenFormat)
	row("consent_url", v.ConsentURL)
	row("resource_server", fmt.Sprint(v.ResourceServer))
	for _, k := range slices.Sorted(maps.Keys(v.Metadata)) {
		row("metadata."+k, v.Metadata[k])
	}
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
