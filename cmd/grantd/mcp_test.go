package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMCPSDK runs the official MCP TypeScript SDK (sdk-tests/mcp, npm,
// pinned) against `grantd serve`: the SDK's own MCP server side (bearer
// auth by introspection, RFC 9728 metadata naming grantd) and its client
// side, which discovers grantd, registers itself, authorizes with PKCE and
// a resource indicator (the browser step answered through the
// external-consent API), calls a tool, and refreshes when its token is
// revoked. The Node test checks every step; this one that it passed.
func TestMCPSDK(t *testing.T) {
	const dir = "../../sdk-tests/mcp"
	node := nodeWith(t, dir, "@modelcontextprotocol/sdk")
	mcpPort, callbackPort := freePort(t), freePort(t)
	mcpURL := "http://127.0.0.1:" + mcpPort + "/mcp"
	const adminToken = "mcp-sdk-test-admin-token"
	s := startServe(t, map[string]string{"GRANTD_ADMIN_TOKEN": adminToken}, "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--dynamic-registration", "--consent-url", "http://127.0.0.1:9/consent", "--resources", mcpURL)
	rs := adminCreateClient(t, http.DefaultClient, s.admin, adminToken, map[string]any{"name": "Bank MCP server",
		"grant_types": []string{"client_credentials"}, "resource_server": true})

	// Native redirects (RFC 8252): loopback IPv4 and IPv6 (§7.3), and a
	// private-use URI scheme (§7.1); each run registers its own client.
	for name, redirect := range map[string]string{
		"loopback IPv4":      "http://127.0.0.1:" + callbackPort + "/callback",
		"loopback IPv6":      "http://[::1]:" + callbackPort + "/callback",
		"private-use scheme": "com.example.mcpagent:/oauth/callback",
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(node, "--test", "--test-reporter=tap", "mcp.test.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GRANTD_ISSUER="+s.public, "GRANTD_ADMIN="+s.admin, "ADMIN_TOKEN="+adminToken,
				"MCP_PORT="+mcpPort, "REDIRECT_URI="+redirect,
				"RS_ID="+rs["client_id"].(string), "RS_SECRET="+rs["client_secret"].(string))
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "# pass 1") || !strings.Contains(string(out), "# fail 0") {
				t.Fatalf("node --test: %v\n%s", err, out)
			}
		})
	}
}

// freePort is a loopback port free now (the caller binds it soon after).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// nodeWith is the node binary, for the Node test in dir (under sdk-tests)
// that needs the npm package pkg installed: the test is skipped without
// them, and fails under CI, which installs them (.ci/run).
func nodeWith(t *testing.T, dir, pkg string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json"))
	if err != nil || modErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node or %s/node_modules is missing; .ci/run installs them", dir)
		}
		t.Skipf("node or %s/node_modules is missing; run (cd %s && npm ci)", dir, dir)
	}
	return node
}
