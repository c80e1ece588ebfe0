package payroll_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// sdkDir is the Node project that runs the official Finch SDK.
const sdkDir = "../../../sdk-tests/finch"

// needNode returns the node binary, or skips the test locally (fails it in
// CI, where .ci/run installs Node and the SDK) when Node or the SDK's
// node_modules is missing.
func needNode(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing; .ci/run installs it", what)
		}
		t.Skipf("%s is missing; run (cd sdk-tests/finch && npm ci) to run the Finch SDK test", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", "@tryfinch", "finch-api", "package.json")); err != nil {
		missing("sdk-tests/finch/node_modules")
	}
	return node
}

// recorder is a test-only reverse proxy in front of grantd that keeps what
// the SDK sends.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

func (rc *recorder) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone(), body})
		rc.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (rc *recorder) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded{}, rc.reqs...)
}

// TestFinchSDK runs the official TypeScript SDK's accessTokens.create
// against grantd: once with a code from /oauth/authorize (redirect_uri
// passed) and once with a code from a connect session (none, as the SDK's
// own example does). The Node test asserts every response field and that the
// second presentation of the code is refused; this test checks what the SDK
// sent, that its token works, and that the code stays spent.
func TestFinchSDK(t *testing.T) {
	node := needNode(t)
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e)

	t.Run("authorize code", func(t *testing.T) {
		consent := seedConsent()
		consent.ConnectionType = oauth.ConnectionTypeProvider
		g := e.Code(t, c, consent, false)
		runSDK(t, node, e, c, secret, g.Code, g.RedirectURI, map[string]any{
			"token_type": "bearer", "customer_id": "1234567890", "customer_name": "Acme Inc",
			"client_type": "production", "connection_type": "provider", "products": granted,
			"provider_id": "sandbox-payroll", "entity_ids": sandboxEntities,
		})
	})
	t.Run("connect session code", func(t *testing.T) {
		code := connectSessionCode(t, e, c, secret)
		runSDK(t, node, e, c, secret, code, "", map[string]any{
			"token_type": "bearer", "customer_id": "cust-42", "customer_name": "Globex",
			"client_type": "production", "connection_type": "finch", "products": granted,
			"provider_id": "sandbox-payroll", "entity_ids": sandboxEntities,
		})
	})
}

func runSDK(t *testing.T, node string, e *testenv.Env, c store.Client, secret, code, redirectURI string, expected map[string]any) {
	t.Helper()
	rec := &recorder{}
	base := rec.start(t, e.URL)
	exp, _ := json.Marshal(expected)
	result := filepath.Join(t.TempDir(), "result.json")
	cmd := exec.Command(node, "--test", "--test-reporter=tap", "sdk-tests/finch/access-tokens.test.mjs")
	cmd.Dir = "../../.."
	cmd.Env = append(os.Environ(),
		"GRANTD_BASE_URL="+base,
		"FINCH_CLIENT_ID="+c.ID,
		"FINCH_CLIENT_SECRET="+secret,
		"FINCH_CODE="+code,
		"FINCH_REDIRECT_URI="+redirectURI,
		"FINCH_EXPECTED="+string(exp),
		"FINCH_RESULT_FILE="+result,
		"FINCH_BASE_URL=", "FINCH_ACCESS_TOKEN=", // nothing from the developer's shell
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# pass 1") || !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test did not pass one test:\n%s", out)
	}

	// What the SDK sent: two POSTs to /auth/token (the exchange and the
	// replay), JSON, the version header, credentials in the body and no
	// Authorization header.
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("the SDK sent %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		auth := r.Header.Get("Authorization")
		scheme, _, _ := strings.Cut(auth, " ")
		t.Logf("SDK request %d: %s %s Content-Type=%q Finch-API-Version=%q Authorization scheme=%q User-Agent=%q",
			i, r.Method, r.Path, r.Header.Get("Content-Type"), r.Header.Get("Finch-API-Version"), scheme, r.Header.Get("User-Agent"))
		if r.Method != http.MethodPost || r.Path != "/auth/token" {
			t.Errorf("request %d: %s %s", i, r.Method, r.Path)
		}
		if v := r.Header.Get("Finch-API-Version"); v != "2020-09-17" {
			t.Errorf("request %d: Finch-API-Version %q", i, v)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
		if auth != "" && !strings.EqualFold(scheme, "basic") {
			t.Errorf("request %d: Authorization scheme %q", i, scheme)
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("request %d body: %v", i, err)
		}
		if body["client_id"] != c.ID || body["client_secret"] != secret || body["code"] != code {
			t.Errorf("request %d: credentials or code not in the body", i)
		}
		keys := make([]string, 0, len(body))
		for k := range body {
			keys = append(keys, k)
		}
		t.Logf("SDK request %d body fields: %v", i, keys)
	}

	// The SDK's token is active, and the code stays spent: the replay
	// revoked the token (RFC 6749 §4.1.2), and a third try is refused too.
	raw, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	tok, _ := res["access_token"].(string)
	claims := e.VerifyJWT(t, tok)
	if claims["client_id"] != c.ID || claims["connection_id"] != res["connection_id"] {
		t.Errorf("claims %v", claims)
	}
	if in := e.Introspect(t, tok); in["active"] != false {
		t.Errorf("token still active after its code was replayed: %v", in)
	}
	r := post(t, e, jsonCT, jsonBody("client_id", c.ID, "client_secret", secret, "code", code, "redirect_uri", redirectURI))
	if r.Status != 400 || r.Body["name"] != "invalid_grant_error" {
		t.Errorf("third presentation: %d %s", r.Status, r.Raw)
	}
}
