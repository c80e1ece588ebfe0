package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestAnsweredTokensSurviveKill: grantd answers a token only once it is on
// disk. Under concurrent client-credentials traffic (whose writes share
// commits: internal/store/sqlite/groupcommit.go), grantd is killed with
// SIGKILL mid-traffic; restarted on the same data directory, it finds
// every opaque token it answered active.
func TestAnsweredTokensSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs grantd")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "grantd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/grantd/grantd/cmd/grantd").CombinedOutput(); err != nil {
		t.Fatalf("build grantd: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "grantd.yaml")
	os.WriteFile(cfg, []byte("log: {level: warn}\npolicy:\n  default_tier: unlimited\n  tiers:\n    unlimited: {per_second: 0, per_day: 0}\n"), 0o600)
	pub, adm := freeAddr(t), freeAddr(t)
	serve := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfg, "--data-dir", data, "--addr", pub, "--admin-addr", adm)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitReady(t, "http://"+pub+"/readyz")
		return cmd
	}
	cmd := serve()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	token, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	create := func(body string) (id, secret string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+adm+"/admin/clients", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw map[string]any
		json.NewDecoder(resp.Body).Decode(&raw)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create client: %d %v", resp.StatusCode, raw)
		}
		id, _ = raw["client_id"].(string)
		secret, _ = raw["client_secret"].(string)
		return id, secret
	}
	id, secret := create(`{"name":"durable","grant_types":["client_credentials"],"access_token_format":"opaque"}`)
	rsID, rsSecret := create(`{"name":"rs","grant_types":["client_credentials"],"resource_server":true}`)

	post := func(c *http.Client, path, id, secret string, v url.Values) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+pub+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	var (
		mu       sync.Mutex
		answered []string
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			c := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, body := post(c, "/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
				if tok, _ := body["access_token"].(string); st == http.StatusOK && tok != "" {
					mu.Lock()
					answered = append(answered, tok)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL) // mid-traffic: requests in flight
	cmd.Wait()
	close(stop)
	wg.Wait()
	if len(answered) < 100 {
		t.Fatalf("only %d tokens answered before the kill", len(answered))
	}

	cmd = serve()
	c := &http.Client{Timeout: 5 * time.Second}
	var lost []string
	for _, tok := range answered {
		st, body := post(c, "/oauth/introspect", rsID, rsSecret, url.Values{"token": {tok}})
		if st != http.StatusOK || body["active"] != true {
			lost = append(lost, fmt.Sprintf("%d %v", st, body))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d answered tokens lost by kill -9: %v", len(lost), len(answered), lost[:min(len(lost), 5)])
	}
	t.Logf("%d tokens answered before the kill, all active after the restart", len(answered))
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t *testing.T, u string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s not ready", u)
}
