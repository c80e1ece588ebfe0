package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/secretfile"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
	"github.com/grantd/grantd/internal/store/sqlite"
)

// sealed is what a fixture put in a store under one KEK.
type sealed struct {
	kids          []string // signing keys, sorted
	clientID      string   // a client with a webhook secret
	webhookSecret string   // its plaintext
}

// sealFixture fills st as serve does under kek (and previous): the signer's
// first keys (one per algorithm), and a client registered with a webhook, whose secret the
// store keeps sealed.
func sealFixture(t *testing.T, st store.Store, kek []byte, previous ...[]byte) sealed {
	t.Helper()
	ctx := context.Background()
	if _, err := signer.New(ctx, signerOptions(config.Default(), st, kek, previous, nil)); err != nil {
		t.Fatalf("signer: %v", err)
	}
	hooks, err := seal.New(kek, webhookSealLabel, previous...)
	if err != nil {
		t.Fatal(err)
	}
	m := &clients.Manager{Store: st, Seal: hooks.Seal}
	c, _, secret, err := m.Register(ctx, clients.Params{
		Name: "hooked", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic",
		WebhookURL: "https://hooks.example.com/grantd",
	})
	if err != nil || secret == "" {
		t.Fatalf("register a client with a webhook: %q, %v", secret, err)
	}
	return sealed{kids: storedKIDs(t, st), clientID: c.ID, webhookSecret: secret}
}

func storedKIDs(t *testing.T, st store.SigningKeys) []string {
	t.Helper()
	recs, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatal("the store holds no signing key")
	}
	var kids []string
	for _, r := range recs {
		kids = append(kids, r.ID)
	}
	slices.Sort(kids)
	return kids
}

// wantSealedUnder checks that what the fixture sealed opens with kek alone,
// as the server opens it (the signer, the webhook sealer), and with none of
// others.
func wantSealedUnder(t *testing.T, st store.Store, f sealed, kek []byte, others ...[]byte) {
	t.Helper()
	ctx := context.Background()
	if got := storedKIDs(t, st); !slices.Equal(got, f.kids) {
		t.Errorf("signing keys %q, want %q", got, f.kids)
	}
	recs, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(ctx, f.clientID)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range append([][]byte{kek}, others...) {
		keys, _ := signer.NewKeySealer(k)
		hooks, _ := seal.New(k, webhookSealLabel)
		for _, r := range recs {
			_, err := keys.Open(r.EncryptedKey, r.ID)
			if i == 0 && err != nil {
				t.Errorf("signing key %s does not open with the key-encryption key: %v", r.ID, err)
			}
			if i > 0 && !errors.Is(err, seal.ErrOpen) {
				t.Errorf("signing key %s opens with old key %d: %v", r.ID, i, err)
			}
		}
		got, err := hooks.Open(c.WebhookSecret, c.ID)
		if i == 0 && (err != nil || string(got) != f.webhookSecret) {
			t.Errorf("webhook secret opens to %q, %v", got, err)
		}
		if i > 0 && !errors.Is(err, seal.ErrOpen) {
			t.Errorf("webhook secret opens with old key %d: %v", i, err)
		}
	}
	// The signer with that key alone loads every key, and creates none.
	if _, err := signer.New(ctx, signerOptions(config.Default(), st, kek, nil, nil)); err != nil {
		t.Errorf("signer with the key-encryption key alone: %v", err)
	}
	if got := storedKIDs(t, st); !slices.Equal(got, f.kids) {
		t.Errorf("the signer changed the keys to %q, want %q", got, f.kids)
	}
}

// openSQLite opens the data dir's store; closed when the test ends.
func openSQLite(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, config.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sqliteFixture is a data dir as serve leaves it on first start: a kek
// file, and a store with keys and a webhook secret sealed under it.
func sqliteFixture(t *testing.T) (dir string, kek []byte, f sealed) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	kek, err := signer.LoadOrCreateKEK(filepath.Join(dir, config.KEKFile))
	if err != nil {
		t.Fatal(err)
	}
	st := openSQLite(t, dir)
	f = sealFixture(t, st, kek)
	st.Close()
	return dir, kek, f
}

// readKEKFile reads DATA_DIR/kek and checks it is a file of mode 0600.
func readKEKFile(t *testing.T, dir string) []byte {
	t.Helper()
	path := filepath.Join(dir, config.KEKFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 && runtime.GOOS != "windows" {
		t.Errorf("%s has mode %04o, want 0600", path, perm)
	}
	kek, err := signer.ReadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// onlyDataFiles checks that the data dir holds no kek.previous and no
// temporary file.
func onlyDataFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == previousKEKFile || strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("%s is left in the data dir", e.Name())
		}
	}
}

// noKeyIn fails if out shows any of the keys, in any base64 alphabet.
func noKeyIn(t *testing.T, out string, keys ...[]byte) {
	t.Helper()
	for _, k := range keys {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			if s := enc.EncodeToString(k); strings.Contains(out, s[:20]) {
				t.Errorf("the output shows a key-encryption key:\n%s", out)
			}
		}
	}
}

// TestRotateKEKSQLite: rotate-kek replaces DATA_DIR/kek and re-seals the
// keys and webhook secrets; afterwards the server works with the new key
// alone, and the old one opens nothing.
func TestRotateKEKSQLite(t *testing.T) {
	dir, old, f := sqliteFixture(t)
	r := runCLI(t, nil, "keys", "rotate-kek", "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("rotate-kek: %+v", r)
	}
	want := nounCount(len(f.kids), "signing key", "signing keys") + " and 1 webhook secret re-sealed under a new key-encryption key in " +
		filepath.Join(dir, config.KEKFile)
	if !strings.Contains(r.stdout, want) {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	kek := readKEKFile(t, dir)
	if bytes.Equal(kek, old) {
		t.Fatal("DATA_DIR/kek still holds the old key")
	}
	onlyDataFiles(t, dir)
	noKeyIn(t, r.stdout+r.stderr, old, kek)

	st := openSQLite(t, dir)
	wantSealedUnder(t, st, f, kek, old)
	// What serve loads: the new key, and no previous one.
	cur, prev, err := loadKEKs(context.Background(), secretsConfig(dir), st)
	if err != nil || !bytes.Equal(cur, kek) || len(prev) != 0 {
		t.Errorf("loadKEKs after the rotation: new %v, %d previous, %v", bytes.Equal(cur, kek), len(prev), err)
	}
	st.Close()

	// serve starts with it and publishes every key.
	s := startServe(t, nil, "--data-dir", dir, "--log-level", "error")
	_, body := get(t, s.public+"/.well-known/jwks.json", "")
	for _, kid := range f.kids {
		if !strings.Contains(body, `"kid":"`+kid+`"`) {
			t.Errorf("serve after the rotation does not publish %s: %s", kid, body)
		}
	}
	// Beside a running server, which seals new keys under DATA_DIR/kek,
	// the rotation is refused and changes nothing.
	if r := runCLI(t, nil, "keys", "rotate-kek", "--data-dir", dir); r.code != 1 || !strings.Contains(r.stderr, "stop grantd serve first") {
		t.Errorf("rotate-kek beside a running serve: %+v, want exit 1 naming the server", r)
	}
	if !bytes.Equal(readKEKFile(t, dir), kek) {
		t.Fatal("a refused rotate-kek replaced DATA_DIR/kek")
	}
	onlyDataFiles(t, dir)
	s.stop(t)

	// Again: another new key, everything follows.
	if r := runCLI(t, nil, "keys", "rotate-kek", "--data-dir", dir); r.code != 0 {
		t.Fatalf("second rotate-kek: %+v", r)
	}
	third := readKEKFile(t, dir)
	if bytes.Equal(third, kek) {
		t.Fatal("the second rotation kept the key")
	}
	wantSealedUnder(t, openSQLite(t, dir), f, third, old, kek)
	onlyDataFiles(t, dir)
}

// TestRotateKEKInterrupted: whichever step a rotation stopped at, serve
// still opens everything, and running rotate-kek again finishes it.
func TestRotateKEKInterrupted(t *testing.T) {
	ctx := context.Background()
	for _, stop := range []string{"kept the old key", "replaced the key", "re-sealed"} {
		t.Run(stop, func(t *testing.T) {
			dir, old, f := sqliteFixture(t)
			kekPath, prevPath := filepath.Join(dir, config.KEKFile), filepath.Join(dir, previousKEKFile)
			// The steps of rotateKEKFile, up to stop.
			if err := secretfile.Create(prevPath, signer.EncodeKEK(old)); err != nil {
				t.Fatal(err)
			}
			next := old
			if stop != "kept the old key" {
				next = signer.NewKEK()
				if err := secretfile.Replace(kekPath, signer.EncodeKEK(next)); err != nil {
					t.Fatal(err)
				}
			}
			st := openSQLite(t, dir)
			if stop == "re-sealed" {
				if _, err := resealAll(ctx, st, next, [][]byte{old}); err != nil {
					t.Fatal(err)
				}
			}
			// What serve loads opens everything.
			cur, prev, err := loadKEKs(ctx, secretsConfig(dir), st)
			if err != nil || !bytes.Equal(cur, next) {
				t.Fatalf("loadKEKs: %v", err)
			}
			if _, err := signer.New(ctx, signerOptions(config.Default(), st, cur, prev, nil)); err != nil {
				t.Errorf("the signer during the rotation: %v", err)
			}
			hooks, _ := seal.New(cur, webhookSealLabel, prev...)
			c, err := st.GetClient(ctx, f.clientID)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := hooks.Open(c.WebhookSecret, c.ID); err != nil || string(got) != f.webhookSecret {
				t.Errorf("the webhook secret during the rotation: %q, %v", got, err)
			}
			st.Close()

			r := runCLI(t, nil, "keys", "rotate-kek", "--data-dir", dir)
			if r.code != 0 {
				t.Fatalf("rotate-kek again: %+v", r)
			}
			kek := readKEKFile(t, dir)
			switch stop {
			case "kept the old key": // nothing had happened: a full rotation
				if bytes.Equal(kek, old) || !strings.Contains(r.stdout, "re-sealed under a new key-encryption key") {
					t.Errorf("rotate-kek after step 1 did not rotate: %q", r.stdout)
				}
			default: // finishes with the key already in place
				if !bytes.Equal(kek, next) || !strings.Contains(r.stdout, "finished an interrupted rotation") {
					t.Errorf("rotate-kek after %q: new key kept %v, %q", stop, bytes.Equal(kek, next), r.stdout)
				}
			}
			noKeyIn(t, r.stdout+r.stderr, old, next, kek)
			onlyDataFiles(t, dir)
			wantSealedUnder(t, openSQLite(t, dir), f, kek, old)
		})
	}
}

// TestRotateKEKRefusesWhatDoesNotOpen: a secret sealed under a key the
// command was not given fails the rotation before any file changes.
func TestRotateKEKRefusesWhatDoesNotOpen(t *testing.T) {
	dir, old, f := sqliteFixture(t)
	st := openSQLite(t, dir)
	stranger := signer.NewKEK()
	hooks, _ := seal.New(stranger, webhookSealLabel)
	lost, _, _, err := (&clients.Manager{Store: st, Seal: hooks.Seal}).Register(context.Background(), clients.Params{
		Name: "lost", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic",
		WebhookURL: "https://hooks.example.com/lost",
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	r := runCLI(t, nil, "keys", "rotate-kek", "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "webhook secret of client "+lost.ID) ||
		!strings.Contains(r.stderr, "nothing was re-sealed") || !strings.Contains(r.stderr, "GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS") {
		t.Errorf("rotate-kek with a secret under an unknown key: %+v", r)
	}
	if kek := readKEKFile(t, dir); !bytes.Equal(kek, old) {
		t.Error("the failed rotation replaced DATA_DIR/kek")
	}
	onlyDataFiles(t, dir)
	wantSealedUnder(t, openSQLite(t, dir), f, old)

	// Given that key as a previous one, the rotation brings it under the
	// new key too.
	env := map[string]string{"GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS": base64.StdEncoding.EncodeToString(stranger)}
	if r := runCLI(t, env, "keys", "rotate-kek", "--data-dir", dir); r.code != 0 {
		t.Fatalf("rotate-kek with the stranger key as previous: %+v", r)
	}
	kek := readKEKFile(t, dir)
	st = openSQLite(t, dir)
	wantSealedUnder(t, st, f, kek, old)
	c, err := st.GetClient(context.Background(), lost.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hooks.Open(c.WebhookSecret, c.ID); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("the stranger key still opens its webhook secret: %v", err)
	}
	current, _ := seal.New(kek, webhookSealLabel)
	if _, err := current.Open(c.WebhookSecret, c.ID); err != nil {
		t.Errorf("the new key does not open the re-sealed webhook secret: %v", err)
	}
}

// TestRotateKEKPostgres follows docs/keys.md for several instances: every
// instance runs with the new key and the old one as previous, rotate-kek
// re-seals with the same variables, and then the new key alone opens
// everything.
func TestRotateKEKPostgres(t *testing.T) {
	ctx := context.Background()
	_, dsn := pgtest.Schema(t)
	st, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	old, next := signer.NewKEK(), signer.NewKEK()
	b64 := base64.StdEncoding.EncodeToString

	// (1) Data sealed under the old key, before the rotation.
	f := sealFixture(t, st, old)
	// Without a shared key there is no file to rotate.
	dir := t.TempDir()
	if r := runCLI(t, map[string]string{"GRANTD_STORE": dsn}, "keys", "rotate-kek", "--data-dir", dir); r.code != 1 ||
		!strings.Contains(r.stderr, "GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS") {
		t.Errorf("rotate-kek on PostgreSQL without GRANTD_KEY_ENCRYPTION_KEY: %+v", r)
	}

	// (2) The instances restart with both keys: they open the old data and
	// seal what they add under the new key.
	env := map[string]string{
		"GRANTD_STORE":                        dsn,
		"GRANTD_KEY_ENCRYPTION_KEY":           b64(next),
		"GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS": b64(old),
	}
	cfg := config.Default()
	cfg.DataDir, cfg.Store, cfg.KeyEncryptionKey, cfg.PreviousKeyEncryptionKeys = dir, dsn, b64(next), b64(old)
	cur, prev, err := loadKEKs(ctx, cfg, st)
	if err != nil || !bytes.Equal(cur, next) || len(prev) != 1 || !bytes.Equal(prev[0], old) {
		t.Fatalf("loadKEKs with both variables: %v", err)
	}
	if _, err := signer.New(ctx, signerOptions(config.Default(), st, cur, prev, nil)); err != nil {
		t.Fatalf("an instance with both keys: %v", err)
	}
	added := sealFixture(t, st, cur, prev...) // a client registered meanwhile

	// (3) rotate-kek with the same variables.
	r := runCLI(t, env, "keys", "rotate-kek", "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("rotate-kek: %+v", r)
	}
	want := nounCount(len(f.kids), "signing key", "signing keys") + " and 2 webhook secrets: all under the current key-encryption key"
	// The old keys and the first webhook secret were under the old key;
	// the second secret was sealed under the new one.
	if reseal := fmt.Sprintf("; %d re-sealed from a previous key", len(f.kids)+1); !strings.Contains(r.stdout, want) ||
		!strings.Contains(r.stdout, reseal) {
		t.Errorf("stdout %q, want %q and %q", r.stdout, want, reseal)
	}
	noKeyIn(t, r.stdout+r.stderr, old, next)
	wantSealedUnder(t, st, f, next, old)
	wantSealedUnder(t, st, added, next, old)

	// A second run finds nothing under the previous key: it can go.
	r = runCLI(t, env, "keys", "rotate-kek", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "; 0 re-sealed from a previous key") {
		t.Errorf("second rotate-kek: %+v", r)
	}

	// (4) Without the previous key, the instances open everything.
	delete(env, "GRANTD_PREVIOUS_KEY_ENCRYPTION_KEYS")
	s := startServe(t, env, "--data-dir", dir, "--log-level", "error", "--postgres-max-conns", "4")
	if code, body := get(t, s.public+"/.well-known/jwks.json", ""); code != 200 || !strings.Contains(body, f.kids[0]) {
		t.Errorf("serve with the new key alone: %d %s", code, body)
	}
}
