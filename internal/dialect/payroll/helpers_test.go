package payroll_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/dialect/payroll"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// products are the payroll products a test client may ask for.
var products = []string{"company", "directory", "individual", "employment", "payment", "pay_statement", "benefits"}

// granted is what the seed's example grants.
var granted = []string{"directory", "employment", "individual"}

// sandboxEntities are the sandbox-payroll provider's entity ids (fixed in
// oauth.SandboxCatalogue; the same as the seed's example).
var sandboxEntities = []string{"550e8400-e29b-41d4-a716-446655440000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
	"6ba7b811-9dad-11d1-80b4-00c04fd430c8"}

func newEnv(t *testing.T, o testenv.Options) *testenv.Env {
	t.Helper()
	o.Dialects = []dialect.Dialect{payroll.New()}
	return testenv.New(t, o)
}

// payrollClient registers a confidential client whose scopes are the
// payroll products; opts change it further.
func payrollClient(t *testing.T, e *testenv.Env, opts ...func(*store.Client)) (store.Client, string) {
	t.Helper()
	opts = append([]func(*store.Client){func(c *store.Client) {
		c.Scopes = products
		c.Environment = "production"
		// A production client needs the integrator's consent app (the
		// hosted sandbox sign-in is for sandbox clients); testenv.Code
		// decides the consent through the core as that app would.
		c.ConsentURL = "https://consent.example.com/finch"
	}}, opts...)
	return e.Client(t, opts...)
}

// seedConsent is the seed example's connection: its customer, provider and
// products.
func seedConsent() oauth.Consent {
	return oauth.Consent{
		CustomerID: "1234567890", CustomerName: "Acme Inc", ProviderID: "sandbox-payroll",
		Scopes: granted,
	}
}

// reply is an HTTP answer.
type reply struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

// post sends body to the payroll endpoint; ct "" sends no Content-Type;
// header is name, value pairs.
func post(t *testing.T, e *testenv.Env, ct, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+"/auth/token", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", resp.StatusCode, raw)
	}
	return r
}

const jsonCT = "application/json"

// jsonBody encodes kv pairs as a JSON object of strings.
func jsonBody(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func formBody(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// exchange is the SDK's request: credentials and code in a JSON body, the
// version header.
func exchange(t *testing.T, e *testenv.Env, c store.Client, secret string, g testenv.Grant) reply {
	t.Helper()
	return post(t, e, jsonCT, jsonBody("client_id", c.ID, "client_secret", secret, "code", g.Code, "redirect_uri", g.RedirectURI),
		"Finch-API-Version", "2020-09-17")
}

// golden compares got (indented JSON) with testdata/name, or rewrites it
// with -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the golden file (run with -update if intended):\ngot:\n%s\nwant:\n%s", name, b, want)
	}
}

// connection returns the stored connection behind a token answer.
func connection(t *testing.T, e *testenv.Env, id string) store.Connection {
	t.Helper()
	conn, err := e.Store.GetConnection(context.Background(), id)
	if err != nil {
		t.Fatalf("connection %s: %v", id, err)
	}
	return conn
}
