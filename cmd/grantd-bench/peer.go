package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
)

// The peer: node-oidc-provider 8.8.1 (bench/peers/oidc-provider), started
// with its two clients, configured as grantd's client_credentials flow is
// (client_secret_basic, RS256-2048 JWTs or opaque tokens, one hour).

// peerClients are the peer's clients, by token format.
var peerClients = map[string]client{
	"jwt":    {ID: "bench-jwt", Secret: "bench-jwt-secret-0123456789abcdef"},
	"opaque": {ID: "bench-opaque", Secret: "bench-opaque-secret-0123456789abcdef"},
}

// startPeer installs (bench/peers/oidc-provider/install.sh, npm) and starts
// the peer from the repository at root.
func startPeer(ctx context.Context, root, dir string) (*process, error) {
	pdir := filepath.Join(root, "bench", "peers", "oidc-provider")
	install := exec.CommandContext(ctx, filepath.Join(pdir, "install.sh"))
	install.Stdout, install.Stderr = os.Stderr, os.Stderr
	if err := install.Run(); err != nil {
		return nil, fmt.Errorf("install the peer (%s): %w", pdir, err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := splitHostPort(addr)
	cmd := exec.CommandContext(ctx, "node", filepath.Join(pdir, "server.mjs"))
	cmd.Env = append(os.Environ(), "PORT="+port, "NODE_ENV=production")
	u := "http://" + addr
	return start(ctx, "oidc-provider", cmd, u, u+"/.well-known/openid-configuration", filepath.Join(dir, "peer.log"))
}

// peerFlow is client_credentials at the peer's token endpoint.
func peerFlow(base, format string) func(int) (request, error) {
	c := peerClients[format]
	v := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}
	return func(int) (request, error) {
		return func(ctx context.Context, h *http.Client) (int, error) {
			return form(ctx, h, base+"/token", c, v, nil)
		}, nil
	}
}
