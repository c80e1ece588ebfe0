package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
)

const keysUsage = `Usage: grantd keys <command> [flags]

Manage the signing keys of JWT access tokens, directly in the store.

Commands:
  list      list the published keys (current and previous)
  rotate    generate a new current key; the old one stays published as previous
            and the one before it is retired. Running servers pick the new key
            up within --key-reload-interval.
`

func (c *cli) keys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.usageError(keysUsage, "keys: missing command")
	}
	switch args[0] {
	case "list":
		return c.keysList(ctx, args[1:])
	case "rotate":
		return c.keysRotate(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, keysUsage)
		return nil
	}
	return c.usageError(keysUsage, "keys: unknown command %q", args[0])
}

// keysList reads the store only: it needs no key-encryption key.
func (c *cli) keysList(ctx context.Context, args []string) error {
	fs := c.flagSet("keys list", "[flags]", "List the published signing keys, newest first.")
	out := addOutputFlag(fs)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	return c.withStore(ctx, cf, func(st store.Store) error {
		recs, err := st.ListSigningKeys(ctx)
		if err != nil {
			return err
		}
		infos := make([]signer.KeyInfo, 0, len(recs))
		for _, k := range recs {
			infos = append(infos, signer.KeyInfo{KID: k.ID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt.UTC()})
		}
		if *out == "json" { // as GET /admin/keys
			return writeJSON(c.stdout, struct {
				Keys []signer.KeyInfo `json:"keys"`
			}{infos})
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED")
		for _, k := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State, k.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

func (c *cli) keysRotate(ctx context.Context, args []string) error {
	fs := c.flagSet("keys rotate", "[flags]",
		"Generate a new current signing key (the key-encryption key comes from\n"+
			"GRANTD_KEY_ENCRYPTION_KEY or DATA_DIR/kek, as for serve).")
	cf := config.AddFlags(fs, slices.Concat(config.StoreFlags, []string{"signing-algorithm"})...)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := c.loadConfig(cf)
	if err != nil {
		return err
	}
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	kek, err := loadKEK(ctx, cfg, st)
	if err != nil {
		return err
	}
	before, err := st.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	s, err := signer.New(ctx, signer.Options{Store: st, KEK: kek, Algorithm: cfg.SigningAlgorithm,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if len(before) == 0 { // New generated the first key: nothing to rotate
		fmt.Fprintf(c.stdout, "first signing key %s (%s) created\n", s.Keys()[0].KID, s.Algorithm())
		return nil
	}
	kid, err := s.Rotate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "new current key %s (%s); running servers sign with it within %s\n",
		kid, cfg.SigningAlgorithm, cfg.KeyReloadInterval)
	return nil
}
