package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
)

const keysUsage = `Usage: grantd keys <command> [flags]

Manage the signing keys of JWT access tokens, directly in the store.

Commands:
  list      list the stored keys, all published: current, next and retired
  rotate    add a next key of each algorithm (or of --alg): published at once,
            it signs after --key-publication-delay, when every server and every
            cache of the JWKS has it; the current key then retires and stays
            published until the last token it signed expires (docs/keys.md).
  rotate-kek
            re-seal every signing key and webhook secret under a new
            key-encryption key (docs/keys.md)
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
	case "rotate-kek":
		return c.keysRotateKEK(ctx, args[1:]) // kek.go
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, keysUsage)
		return nil
	}
	return c.usageError(keysUsage, "keys: unknown command %q", args[0])
}

// keysList reads the store only: it needs no key-encryption key.
func (c *cli) keysList(ctx context.Context, args []string) error {
	fs := c.flagSet("keys list", "[flags]", "List the stored signing keys (all published): current first, then next, then retired.")
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
		infos := signer.Describe(recs, time.Now())
		if *out == "json" { // as GET /admin/keys
			return writeJSON(c.stdout, struct {
				Keys []signer.KeyInfo `json:"keys"`
			}{infos})
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES\tKEEP UNTIL")
		for _, k := range infos {
			keep := "-"
			if !k.KeepUntil.IsZero() {
				keep = k.KeepUntil.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State, k.CreatedAt.Format(time.RFC3339),
				k.ActivatesAt.Format(time.RFC3339), keep)
		}
		return tw.Flush()
	})
}

// maxClockSkew is how far this machine's clock may be from the
// database's before keys rotate refuses and serve warns: a quarter of the
// margin the publication delay keeps for skew. A key's activation time is
// the rotating machine's clock plus the delay; a clock that runs late
// makes the key sign early, before every instance publishes it.
const maxClockSkew = signer.PublicationMargin / 4

// clockSkew returns how far this machine's clock is ahead of the
// database's (negative: behind), and false for a store on this machine
// (SQLite, which has no clock of its own).
func clockSkew(ctx context.Context, st any) (time.Duration, bool, error) {
	dc, ok := st.(interface {
		DatabaseTime(context.Context) (time.Time, error)
	})
	if !ok {
		return 0, false, nil
	}
	before := time.Now()
	db, err := dc.DatabaseTime(ctx)
	if err != nil {
		return 0, true, fmt.Errorf("read the database's clock: %w", err)
	}
	local := before.Add(time.Since(before) / 2) // the middle of the round trip
	return local.Sub(db), true, nil
}

// describeSkew says a skew in words: "12s behind", "3m0s ahead of".
func describeSkew(skew time.Duration) string {
	if skew < 0 {
		return (-skew).Round(time.Second).String() + " behind"
	}
	return skew.Round(time.Second).String() + " ahead of"
}

// keysRotate adds next keys through the signer, with the servers'
// settings: the same algorithms and publication delay as serve (so take
// them from the same configuration).
func (c *cli) keysRotate(ctx context.Context, args []string) error {
	fs := c.flagSet("keys rotate", "[flags]",
		"Add a next signing key of each algorithm (the key-encryption key comes from\n"+
			"GRANTD_KEY_ENCRYPTION_KEY or DATA_DIR/kek, as for serve). Use the servers'\n"+
			"configuration: the publication delay must be theirs.")
	alg := fs.String("alg", "", "rotate only this `algorithm` (default: every one of --signing-algorithms)")
	cf := config.AddFlags(fs, slices.Concat(config.StoreFlags, []string{"signing-algorithm", "signing-algorithms",
		"key-publication-delay", "key-reload-interval"})...)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := c.loadConfig(cf)
	if err != nil {
		return err
	}
	if *alg != "" && !slices.Contains(cfg.SigningAlgorithmList(), *alg) {
		msg := fmt.Sprintf("--alg %q is not among the signing algorithms (%s)", *alg, strings.Join(cfg.SigningAlgorithmList(), ", "))
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), msg)
		fs.Usage()
		return &usageError{msg}
	}
	st, _, err := openStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if skew, shared, err := clockSkew(ctx, st); err != nil {
		return err
	} else if shared && (skew > maxClockSkew || skew < -maxClockSkew) {
		return fmt.Errorf("keys rotate: this machine's clock is %s the database's (more than %s): a key rotated from here "+
			"could sign before every instance publishes it; fix the clock (NTP), or rotate on a server: POST /admin/keys/rotate",
			describeSkew(skew), maxClockSkew)
	}
	unlockKEK, err := lockKEKFile(cfg, false) // a new key is sealed under DATA_DIR/kek
	if err != nil {
		return err
	}
	defer unlockKEK()
	kek, previous, err := loadKEKs(ctx, cfg, st)
	if err != nil {
		return err
	}
	before, err := st.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	s, err := signer.New(ctx, signerOptions(cfg, st, kek, previous, slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	if len(before) == 0 { // New generated the first keys: nothing to rotate
		for _, k := range s.Keys() {
			fmt.Fprintf(c.stdout, "first signing key %s (%s) created, signing now\n", k.KID, k.Algorithm)
		}
		return nil
	}
	rotated, err := s.Rotate(ctx, *alg)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, k := range rotated {
		fmt.Fprintf(c.stdout, "next %s key %s: published now, signs from %s (in %s)\n", k.Algorithm, k.KID,
			k.ActivatesAt.Format(time.RFC3339), k.ActivatesAt.Sub(now).Round(time.Second))
	}
	return nil
}

// signerOptions are the signer's settings from the configuration, as
// serve and keys rotate use them.
func signerOptions(cfg config.Config, st signer.KeyStore, kek []byte, previous [][]byte, log *slog.Logger) signer.Options {
	return signer.Options{
		Store:            st,
		KEK:              kek,
		PreviousKEKs:     previous,
		Algorithm:        cfg.SigningAlgorithm,
		Algorithms:       cfg.SigningAlgorithmList(),
		RotationPeriod:   cfg.KeyRotationPeriod,
		PublicationDelay: cfg.KeyPublicationDelay,
		ReloadInterval:   cfg.KeyReloadInterval,
		Logger:           log,
	}
}
