package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/secretfile"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
)

// webhookSealLabel is the seal label of clients' webhook secrets (serve
// seals and opens them; rotate-kek re-seals them).
const webhookSealLabel = "webhook-secret"

const rotateKEKDescription = `Re-seal every signing key and webhook secret in the store under a new
key-encryption key (KEK), in one transaction. It prints counts, never a key.

With the key in DATA_DIR/kek (SQLite; stop grantd serve first, it refuses
to run beside one): it
generates a new key, replaces DATA_DIR/kek with it (keeping the old one in
DATA_DIR/kek.previous until it has finished), and re-seals. If it is
interrupted, grantd still opens everything; run it again to finish.

With GRANTD_KEY_ENCRYPTION_KEY (PostgreSQL, several instances): first
restart every instance with the new key in GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS,
then every instance with GRANTD_KEY_ENCRYPTION_KEY=new and the old one as
previous; then run this with those two: it re-seals what is under a
previous key under the current one. Then drop the previous key and restart.
See docs/keys.md, "Key-encryption key rotation".`

func (c *cli) keysRotateKEK(ctx context.Context, args []string) error {
	fs := c.flagSet("keys rotate-kek", "[flags]", rotateKEKDescription)
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	return c.withConfigStore(ctx, cf, func(cfg *config.Config, st store.Store) error {
		previous, err := signer.ParseKEKs(cfg.PreviousKEKList()) // validated
		if err != nil {
			return fmt.Errorf("GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS: %w", err)
		}
		if cfg.KeyEncryptionKey != "" {
			return c.resealUnderKEK(ctx, st, cfg.KeyEncryptionKey, previous)
		}
		if spec, _ := cfg.StoreSpec(); spec.Backend == config.BackendPostgres {
			// A key file is this machine's alone: replacing it here would
			// leave every other instance unable to open what is re-sealed.
			return errors.New("keys rotate-kek: with a PostgreSQL store, rotate the key through GRANTD_KEY_ENCRYPTION_KEY " +
				"(the new key) and GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS (the old one) on every instance: see docs/keys.md")
		}
		unlock, err := lockKEKFile(*cfg, true) // no server or other rotation seals under the key it replaces
		if err != nil {
			return err
		}
		defer unlock()
		return c.rotateKEKFile(ctx, st, cfg.DataDir, previous)
	})
}

// resealUnderKEK re-seals, under the KEK GRANTD_KEY_ENCRYPTION_KEY holds,
// what is sealed under a previous one. The instances are already running
// with both keys, so nothing else changes.
func (c *cli) resealUnderKEK(ctx context.Context, st store.SigningKeys, current string, previous [][]byte) error {
	kek, err := signer.ParseKEK(current) // validated
	if err != nil {
		return fmt.Errorf("GRANTD_KEY_ENCRYPTION_KEY: %w", err)
	}
	n, err := resealAll(ctx, st, kek, previous)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: all under the current key-encryption key (GRANTD_KEY_ENCRYPTION_KEY); "+
		"%d re-sealed from a previous key\n", n, n.fromPrevious)
	if len(previous) == 0 {
		fmt.Fprintln(c.stdout, "GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS is not set: there was no previous key to re-seal from")
		return nil
	}
	fmt.Fprintln(c.stdout, "once every instance runs with this GRANTD_KEY_ENCRYPTION_KEY, drop GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS "+
		"and restart them (a second run that re-seals 0 confirms nothing needs the previous key)")
	return nil
}

// rotateKEKFile replaces DATA_DIR/kek with a new key and re-seals
// everything under it. Each step leaves a state that grantd opens and that
// a second run finishes:
//
//  0. the store re-seals under the current key (whatever opens with no key
//     fails here, before any file changes);
//  1. DATA_DIR/kek.previous is written with the current key;
//  2. DATA_DIR/kek is replaced with a new key (atomically);
//  3. the store re-seals under the new key, opening with either;
//  4. DATA_DIR/kek.previous is removed.
//
// serve reads kek.previous as a previous key (previousKEKs), so a server
// started between steps 2 and 4 opens everything. A run that finds a
// kek.previous other than kek finishes that rotation (steps 3 and 4).
func (c *cli) rotateKEKFile(ctx context.Context, st store.SigningKeys, dataDir string, previous [][]byte) error {
	kekPath := filepath.Join(dataDir, config.KEKFile)
	prevPath := filepath.Join(dataDir, previousKEKFile)
	current, err := signer.ReadKEK(kekPath)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keys rotate-kek: %s does not exist: set GRANTD_KEY_ENCRYPTION_KEY to the key the store was sealed with, "+
			"or, on a new install, start grantd serve once (it creates the key)", kekPath)
	}
	if err != nil {
		return err
	}

	old, err := signer.ReadKEK(prevPath)
	switch {
	case err == nil && subtle.ConstantTimeCompare(old, current) == 0:
		// An interrupted run had replaced the key: finish its re-sealing.
		n, err := resealAll(ctx, st, current, append([][]byte{old}, previous...))
		if err != nil {
			return err
		}
		if err := secretfile.Remove(prevPath); err != nil {
			return fmt.Errorf("keys rotate-kek: everything is re-sealed, but removing %s: %w", prevPath, err)
		}
		fmt.Fprintf(c.stdout, "finished an interrupted rotation: %s under the key-encryption key in %s (%d re-sealed from the previous key, "+
			"removed %s); (re)start grantd serve\n", n, kekPath, n.fromPrevious, prevPath)
		return nil
	case err == nil:
		// An interrupted run stopped before it replaced the key: nothing
		// was re-sealed; start again (step 1 rewrites the same file).
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}

	// Bring everything under the current key first: whatever does not open
	// fails here, before any file changes.
	if _, err := resealAll(ctx, st, current, previous); err != nil {
		return err
	}
	if err := secretfile.Replace(prevPath, signer.EncodeKEK(current)); err != nil {
		return fmt.Errorf("keys rotate-kek: keep the current key in %s: %w", prevPath, err)
	}
	next := signer.NewKEK()
	if err := secretfile.Replace(kekPath, signer.EncodeKEK(next)); err != nil {
		return fmt.Errorf("keys rotate-kek: write the new key to %s: %w (nothing was re-sealed; run it again)", kekPath, err)
	}
	n, err := resealAll(ctx, st, next, [][]byte{current})
	if err != nil {
		return fmt.Errorf("%w; %s holds the new key and %s the old one, and grantd opens with both: "+
			"run grantd keys rotate-kek again to finish", err, kekPath, prevPath)
	}
	if err := secretfile.Remove(prevPath); err != nil {
		return fmt.Errorf("keys rotate-kek: everything is re-sealed under the new key, but removing %s: %w", prevPath, err)
	}
	fmt.Fprintf(c.stdout, "%s re-sealed under a new key-encryption key in %s; the previous key is gone: "+
		"(re)start grantd serve, and replace the backup of %s\n", n, kekPath, kekPath)
	return nil
}

// resealed counts what resealAll found.
type resealed struct {
	signingKeys, webhookSecrets int
	fromPrevious                int // of both, how many were under a previous key
}

func (n resealed) String() string {
	return fmt.Sprintf("%s and %s",
		nounCount(n.signingKeys, "signing key", "signing keys"), nounCount(n.webhookSecrets, "webhook secret", "webhook secrets"))
}

func nounCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// resealAll re-seals, in one transaction, every signing key and webhook
// secret in st under kek, opening each with kek or previous; what kek
// opens already stays as it is. If one opens with none, nothing is written.
func resealAll(ctx context.Context, st store.SigningKeys, kek []byte, previous [][]byte) (resealed, error) {
	keys, err := signer.NewKeySealer(kek, previous...)
	if err != nil {
		return resealed{}, err
	}
	hooks, err := seal.New(kek, webhookSealLabel, previous...)
	if err != nil {
		return resealed{}, err
	}
	type item struct{ kind, owner string }
	// By item, whether it was under a previous key: the store may run fn
	// again for every item when it retries the transaction.
	seen := map[item]bool{}
	_, err = st.Reseal(ctx, func(kind, owner string, sealed []byte) ([]byte, error) {
		s, what := keys, "signing key"
		switch kind {
		case store.SealedSigningKey:
		case store.SealedWebhookSecret:
			s, what = hooks, "webhook secret of client"
		default:
			return nil, fmt.Errorf("unknown kind of sealed secret %q", kind)
		}
		out, fromPrevious, err := s.Reseal(sealed, owner)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, owner, err)
		}
		seen[item{kind, owner}] = fromPrevious
		return out, nil
	})
	switch {
	case errors.Is(err, seal.ErrOpen):
		return resealed{}, fmt.Errorf("keys rotate-kek: %w (nothing was re-sealed; if it is sealed under an older key, "+
			"add that key to GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS)", err)
	case err != nil:
		return resealed{}, fmt.Errorf("keys rotate-kek: re-seal: %w", err)
	}
	var n resealed
	for it, fromPrevious := range seen {
		if it.kind == store.SealedSigningKey {
			n.signingKeys++
		} else {
			n.webhookSecrets++
		}
		if fromPrevious {
			n.fromPrevious++
		}
	}
	return n, nil
}
