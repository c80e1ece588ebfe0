package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/store"
)

// The demo clients of --dev, found again at a later start by their
// metadata.
const (
	devMetadataKey  = "grantd_dev"
	devClientsFile  = "dev-clients.json"
	devRedirectURI  = "http://127.0.0.1:9876/callback"
	devScope        = "accounts transactions balances"
	devConfidential = "confidential"
	devPublic       = "public"
)

type devClient struct {
	kind   string
	title  string
	params clients.Params
}

var devClients = []devClient{
	{devConfidential, "demo confidential client", clients.Params{
		Name:                    "Demo confidential client (grantd --dev)",
		GrantTypes:              []string{"client_credentials", "authorization_code", "refresh_token"},
		RedirectURIs:            []string{devRedirectURI},
		TokenEndpointAuthMethod: store.AuthMethodBasic,
		Scope:                   devScope,
		// It doubles as the demo resource server: it may introspect the
		// public client's tokens in the README walk-through.
		ResourceServer: true,
		Metadata:       map[string]string{devMetadataKey: devConfidential},
	}},
	{devPublic, "demo public client (PKCE, no secret)", clients.Params{
		Name:                    "Demo public client (grantd --dev)",
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		RedirectURIs:            []string{devRedirectURI},
		TokenEndpointAuthMethod: store.AuthMethodNone,
		Scope:                   devScope,
		Metadata:                map[string]string{devMetadataKey: devPublic},
	}},
}

// ensureDevClients creates the demo clients that do not exist yet, keeps
// their credentials in DATA_DIR/dev-clients.json (mode 0600: a secret is
// shown only once) and prints them.
func ensureDevClients(ctx context.Context, m *clients.Manager, dataDir string, out io.Writer) error {
	path := filepath.Join(dataDir, devClientsFile)
	saved := map[string]clients.View{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &saved); err != nil {
			return fmt.Errorf("dev: %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dev: %w", err)
	}
	list, err := m.List(ctx)
	if err != nil {
		return err
	}
	existing := map[string]store.Client{}
	for _, c := range list {
		if k := c.Metadata[devMetadataKey]; k != "" {
			if _, dup := existing[k]; !dup {
				existing[k] = c
			}
		}
	}

	created := map[string]bool{}
	for _, d := range devClients {
		if _, ok := existing[d.kind]; ok {
			continue
		}
		c, secret, err := m.Create(ctx, d.params)
		if err != nil {
			return fmt.Errorf("dev: create %s: %w", d.title, err)
		}
		v := clients.NewView(c)
		v.ClientSecret = secret
		existing[d.kind], saved[d.kind], created[d.kind] = c, v, true
	}
	if len(created) > 0 {
		if err := writeDevFile(path, saved); err != nil {
			return err
		}
	}

	for _, d := range devClients {
		c := existing[d.kind]
		verb := "existing"
		if created[d.kind] {
			verb = "created"
		}
		fmt.Fprintf(out, "dev: %s %s\n  client_id:     %s\n", verb, d.title, c.ID)
		if c.IsPublic() {
			continue
		}
		switch v, ok := saved[d.kind]; {
		case created[d.kind]:
			fmt.Fprintf(out, "  client_secret: %s\n", v.ClientSecret)
		case ok && v.ClientID == c.ID && v.ClientSecret != "":
			fmt.Fprintf(out, "  client_secret: in %s\n", path)
		default:
			fmt.Fprintf(out, "  client_secret: unknown (shown once when created); run 'grantd client delete %s' and restart with --dev for a new one\n", c.ID)
		}
	}
	fmt.Fprintf(out, "dev: redirect URI %s, scope %q; credentials in %s\n", devRedirectURI, devScope, path)
	return nil
}

// writeDevFile replaces path atomically with mode 0600.
func writeDevFile(path string, saved map[string]clients.View) error {
	b, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := writeSecretFile(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("dev: %w", err)
	}
	return nil
}
