package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/internal/config"
)

func secretsConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	return cfg
}

func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	cfg := secretsConfig(dir)
	const n = 20
	tokens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { tokens[i], _, errs[i] = adminToken(cfg) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || tokens[i] != tokens[0] || len(tokens[i]) != 43 {
			t.Errorf("start %d: %q, %v; start 0: %q", i, tokens[i], errs[i], tokens[0])
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != config.AdminTokenFile {
		t.Errorf("data dir holds %v, want only %s (no temporary file)", entries, config.AdminTokenFile)
	}
	wantMode(t, filepath.Join(dir, config.AdminTokenFile), 0o600)

	cfg.AdminToken = "from-the-environment"
	if tok, file, err := adminToken(cfg); tok != cfg.AdminToken || file != "" || err != nil {
		t.Errorf("with GRANTD_ADMIN_TOKEN: %q, %q, %v", tok, file, err)
	}
}

func TestAdminTokenEmptyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, config.AdminTokenFile)
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A leftover of a crash while a token was written is not the token.
	if err := os.WriteFile(filepath.Join(dir, ".admin-token.tmp-7"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := adminToken(secretsConfig(dir))
	if err == nil {
		t.Fatal("accepted an empty admin token file")
	}
	for _, want := range []string{path + " is empty", "delete it and start grantd again", "GRANTD_ADMIN_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestLoadKEKEmptyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, config.KEKFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadKEK(context.Background(), secretsConfig(dir), nil) // the file exists: the store is not asked
	if err == nil {
		t.Fatal("accepted an empty key-encryption key file")
	}
	for _, want := range []string{path + " is empty", "restore " + path + " from your backup", "GRANTD_KEY_ENCRYPTION_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestWarnLooseModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no group and other permission bits")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil { // t.TempDir follows the umask
		t.Fatal(err)
	}
	db := filepath.Join(dir, config.DatabaseFile)
	for _, f := range []string{db, db + "-wal", config.KEKFile, config.AdminTokenFile} {
		p := f
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, f)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	warnings := func(cfg config.Config) string {
		var buf bytes.Buffer
		warnLooseModes(slog.New(slog.NewTextHandler(&buf, nil)), cfg)
		return buf.String()
	}
	chmod := func(p string, mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}

	if got := warnings(secretsConfig(dir)); got != "" {
		t.Errorf("warnings for a 0700 dir and 0600 files:\n%s", got)
	}

	chmod(dir, 0o755)
	chmod(db, 0o644)
	got := warnings(secretsConfig(dir))
	for _, want := range []string{
		`level=WARN msg="data dir is open to group or others" path=` + dir + ` mode=0755 fix="chmod 700 ` + dir + `"`,
		`level=WARN msg="file is open to group or others" path=` + db + ` mode=0644 fix="chmod 600 ` + db + `"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %s:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "level=WARN"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, got)
	}

	// The secrets and the -wal are checked too; a PostgreSQL store has no
	// database file here to check.
	chmod(dir, 0o700)
	chmod(filepath.Join(dir, config.KEKFile), 0o640)
	chmod(filepath.Join(dir, config.AdminTokenFile), 0o604)
	chmod(db+"-wal", 0o660)
	cfg := secretsConfig(dir)
	cfg.Store = "postgres://grantd@localhost/grantd"
	got = warnings(cfg)
	for _, want := range []string{"path=" + filepath.Join(dir, config.KEKFile) + " mode=0640", "path=" + filepath.Join(dir, config.AdminTokenFile) + " mode=0604"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, config.DatabaseFile) {
		t.Errorf("warned about the SQLite file of a PostgreSQL store:\n%s", got)
	}
	if got := warnings(secretsConfig(dir)); !strings.Contains(got, "path="+db+"-wal mode=0660") {
		t.Errorf("no warning for the -wal file:\n%s", got)
	}
}

// serve warns about a loose data dir at start, before anything else fails.
func TestServeWarnsLooseModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no group and other permission bits")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, config.AdminTokenFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "chmod 700") || !strings.Contains(r.stderr, "is empty (a crash while it was written?)") {
		t.Errorf("%+v", r)
	}
}
