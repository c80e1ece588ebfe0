package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// syncBuffer is a bytes.Buffer safe for the concurrent writers of serve
// (the log handler and the command's own lines).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is one command line's outcome.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs a command line with only env as the environment.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	c := &cli{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	err := c.run(context.Background(), args)
	code := exitCode(err, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// mustRun runs a command line that must succeed.
func mustRun(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("grantd %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

var (
	uuidRE   = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	secretRE = regexp.MustCompile(`gcs_[A-Za-z0-9_-]+`)
	timeRE   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
)

// normalize replaces what changes from run to run: ids, secrets, times.
// Placeholders keep their width where the output is aligned.
func normalize(s string) string {
	s = uuidRE.ReplaceAllString(s, "00000000-0000-0000-0000-000000000000")
	s = secretRE.ReplaceAllString(s, "gcs_SECRET")
	s = timeRE.ReplaceAllString(s, "2006-01-02T15:04:05Z")
	return s
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, nil, args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%v: %+v", args, r)
		}
		golden(t, "version.golden", r.stdout)
	}
}

func TestHelp(t *testing.T) {
	r := runCLI(t, nil, "help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("%+v", r)
	}
	golden(t, "help.golden", r.stdout)
}

// Usage errors exit 2 with a message and the usage on stderr, nothing on
// stdout.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no-command", nil},
		{"unknown-command", []string{"frobnicate"}},
		{"client-no-command", []string{"client"}},
		{"client-unknown-command", []string{"client", "update"}},
		{"client-get-missing-id", []string{"client", "get"}},
		{"client-delete-extra-arg", []string{"client", "delete", "a", "b"}},
		{"client-create-bad-output", []string{"client", "create", "--output", "xml"}},
		{"client-create-unknown-flag", []string{"client", "create", "--secret", "x"}},
		{"keys-unknown-command", []string{"keys", "delete"}},
		{"serve-bad-duration", []string{"serve", "--code-ttl", "soon"}},
		{"serve-positional", []string{"serve", "now"}},
		{"version-extra-arg", []string{"version", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2", r.code)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
			golden(t, "usage-"+tt.name+".golden", r.stderr)
		})
	}
}

// Other errors exit 1 with one "grantd: …" message.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{
			"postgres unreachable", nil,
			[]string{"client", "list", "--store", "postgres://user:hunter2@127.0.0.1:1/grantd?connect_timeout=5"},
			[]string{"postgres: connect"},
		},
		{
			"every config problem", map[string]string{"GRANTD_SIGNING_ALGORITHM": "HS256", "GRANTD_LOG_FORMAT": "xml"},
			[]string{"serve", "--data-dir", dir, "--addr", "nowhere", "--issuer", "http://auth.example.com"},
			[]string{"invalid configuration", "addr:", "issuer:", "signing_algorithm", "log.format"},
		},
		{"missing config file", nil, []string{"migrate", "--config", filepath.Join(dir, "none.yaml")}, []string{"config file"}},
		{"client not found", nil, []string{"client", "get", "--data-dir", dir, "nope"}, []string{`client "nope" not found`}},
		{
			"invalid client", nil,
			[]string{"client", "create", "--data-dir", dir, "--grant-type", "password"},
			[]string{"invalid client metadata", "password"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, tt.args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "grantd: ") {
				t.Errorf("stderr %q does not start with grantd:", r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not mention %q", r.stderr, w)
				}
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Errorf("stderr leaks the DSN's password: %q", r.stderr)
			}
		})
	}
}
