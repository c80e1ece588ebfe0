package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is a server the bench started: grantd, a floor server or the
// peer. Its CPU and memory are read from /proc.
type process struct {
	name  string
	cmd   *exec.Cmd
	done  chan struct{} // closed once it has exited and been reaped
	url   string
	ready time.Duration // from start to its first ready answer
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop ends the process (SIGTERM, then SIGKILL after 5 s).
func (p *process) stop() {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freeAddr is a loopback address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls url until it answers 200, for at most 30 s.
func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := c.Get(url); err == nil {
			drain(resp)
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 30 s", url)
}

// start runs cmd, with its output in logPath, and waits until readyURL
// answers 200.
func start(ctx context.Context, name string, cmd *exec.Cmd, url, readyURL, logPath string) (*process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	t0 := time.Now()
	if err := pinning.spawn(cmd.Start); err != nil {
		log.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, url: url, done: make(chan struct{})}
	go func() { cmd.Wait(); log.Close(); close(p.done) }()
	if err := waitReady(ctx, readyURL, p.done); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: %w (its log: %s)", name, err, tail(logPath))
	}
	p.ready = time.Since(t0)
	return p, nil
}

// tail is the end of a log file, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// buildGrantd builds ./cmd/grantd into dir with the environment's build
// settings (GOEXPERIMENT=boringcrypto, say), unless bin is given.
func buildGrantd(ctx context.Context, bin, tags, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	out := filepath.Join(dir, "grantd")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", tags, "-o", out, "github.com/grantd/grantd/cmd/grantd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build grantd (run the bench from the repository, or give --grantd): %w", err)
	}
	return out, nil
}

// benchConfig is the grantd configuration of a run: a tier without limits
// for the bench's clients, no per-address limits on the authorization
// endpoint (the bench mints codes from one address), no pending cap, and
// codes that live 10 minutes (the most allowed): --codes are minted
// ahead, and at 60 s the first of 16,000 had expired before the run.
const benchConfig = `log:
  level: %s
code_ttl: 10m
policy:
  default_tier: bench
  tiers:
    bench: {per_second: 0, per_day: 0}
  address_limits:
    authorize: {per_second: 0, per_day: 0}
  max_pending_authorizations: 0
`

// startGrantd starts `grantd serve` on a fresh data directory (and store,
// when storeURL is given) and reads its admin token.
func startGrantd(ctx context.Context, bin, dir, storeURL, logLevel string, extra ...string) (*process, *admin, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, nil, err
	}
	cfg := filepath.Join(dir, "grantd.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, benchConfig, logLevel), 0o600); err != nil {
		return nil, nil, err
	}
	pub, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	adm, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	args := append([]string{"serve", "--config", cfg, "--data-dir", data, "--addr", pub, "--admin-addr", adm}, extra...)
	env := os.Environ()
	if storeURL != "" {
		args = append(args, "--store", storeURL)
		if os.Getenv("GRANTD_KEY_ENCRYPTION_KEY") == "" {
			env = append(env, "GRANTD_KEY_ENCRYPTION_KEY="+benchKEK)
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	url := "http://" + pub
	p, err := start(ctx, "grantd", cmd, url, url+"/readyz", filepath.Join(dir, "grantd.log"))
	if err != nil {
		return nil, nil, err
	}
	token, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		p.stop()
		return nil, nil, fmt.Errorf("admin token: %w", err)
	}
	return p, &admin{url: "http://" + adm, token: strings.TrimSpace(string(token)), c: newHTTPClient(8)}, nil
}

// benchKEK is the key-encryption key of a bench run on PostgreSQL (which
// refuses to make one): 32 zero bytes, base64. The bench's data is
// throwaway.
const benchKEK = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// cryptoOf is the crypto a grantd binary signs with: "libcrypto" when it
// was built with -tags libcrypto, "boringcrypto" with
// GOEXPERIMENT=boringcrypto (go version -m tells), else "go".
func cryptoOf(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		return "unknown"
	}
	switch {
	case strings.Contains(string(out), "libcrypto"):
		return "libcrypto"
	case strings.Contains(string(out), "boringcrypto"):
		return "boringcrypto"
	}
	return "go"
}
