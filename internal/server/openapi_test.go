package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/grantd/grantd/docs"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/web"
)

// openapiPath is docs/openapi.yaml, from this package's directory.
var openapiPath = filepath.Join("..", "..", "docs", "openapi.yaml")

// openapiMethods are the operation keys of an OpenAPI path item.
var openapiMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openapiServer builds the public server as `grantd serve` mounts it with
// everything on: every dialect at its default path and the hosted pages.
func openapiServer(t *testing.T) *server.Server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	sg, err := signer.New(ctx, signer.Options{Store: st, KEK: make([]byte, 32)})
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	provider := &oauth.Provider{
		Store: st, Signer: sg, Issuer: "http://127.0.0.1:8080", Logger: logger,
		HostedConsentPath: web.Path, Catalogue: oauth.SandboxCatalogue(),
	}
	pages, err := web.New(web.Options{Provider: provider, Logger: logger})
	if err != nil {
		t.Fatalf("pages: %v", err)
	}
	return server.New(server.Options{
		Provider: provider, Keys: sg, Store: st, Pages: pages, Logger: logger,
		Dialects:  all.Dialects(),
		Registrar: &clients.Registration{Manager: &clients.Manager{Store: st}, Catalogue: provider.Catalogue},
	})
}

// openapiLoad reads docs/openapi.yaml and decodes it into plain maps with
// string keys. A mapping key that is not a string (an unquoted status code
// such as 200) is reported: JSON has only string keys, and OpenAPI asks for
// quoted status codes.
func openapiLoad(t *testing.T) ([]byte, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(openapiPath)
	if err != nil {
		t.Fatalf("read %s: %v", openapiPath, err)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		t.Fatalf("parse %s: %v", openapiPath, err)
	}
	var problems []string
	doc, ok := openapiPlain(&node, "", &problems).(map[string]any)
	for _, p := range problems {
		t.Errorf("openapi.yaml: %s", p)
	}
	if !ok {
		t.Fatalf("openapi.yaml is not a mapping")
	}
	return raw, doc
}

// openapiPlain converts a YAML node to map[string]any / []any / scalars, noting
// non-string keys, duplicate keys and aliases in problems.
func openapiPlain(n *yaml.Node, at string, problems *[]string) any {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return openapiPlain(n.Content[0], at, problems)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
				*problems = append(*problems, fmt.Sprintf("%s: key %q (line %d) is not a string; quote it", at, k.Value, k.Line))
			}
			if _, dup := m[k.Value]; dup {
				*problems = append(*problems, fmt.Sprintf("%s: duplicate key %q (line %d)", at, k.Value, k.Line))
			}
			m[k.Value] = openapiPlain(v, at+"/"+openapiEscape(k.Value), problems)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			s = append(s, openapiPlain(c, fmt.Sprintf("%s/%d", at, i), problems))
		}
		return s
	case yaml.AliasNode:
		*problems = append(*problems, fmt.Sprintf("%s: YAML alias (line %d); use $ref", at, n.Line))
		return openapiPlain(n.Alias, at, problems)
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: %v", at, err))
		}
		return v
	}
}

func openapiEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// openapiOperations lists "METHOD /path" for every operation in paths.
func openapiOperations(t *testing.T, doc map[string]any) []string {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatalf("openapi.yaml has no paths")
	}
	var ops []string
	for path, item := range paths {
		m, ok := item.(map[string]any)
		if !ok {
			t.Errorf("paths[%s] is not a path item", path)
			continue
		}
		n := 0
		for _, method := range openapiMethods {
			if _, ok := m[method]; ok {
				ops = append(ops, strings.ToUpper(method)+" "+path)
				n++
			}
		}
		if n == 0 {
			t.Errorf("paths[%s] has no operation", path)
		}
	}
	slices.Sort(ops)
	return ops
}

// TestOpenAPIServedIsFile checks that GET /openapi.yaml serves exactly the
// bytes of docs/openapi.yaml.
func TestOpenAPIServedIsFile(t *testing.T) {
	raw, _ := openapiLoad(t)
	if !bytes.Equal(docs.OpenAPI, raw) {
		t.Errorf("docs.OpenAPI (embedded) differs from %s", openapiPath)
	}
	s := openapiServer(t)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.yaml: status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("GET /openapi.yaml: Content-Type %q, want application/yaml", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), raw) {
		t.Errorf("GET /openapi.yaml serves %d bytes that differ from %s (%d bytes)", rec.Body.Len(), openapiPath, len(raw))
	}
}

// TestOpenAPIRoutes checks that every route the server mounts (every
// dialect and the hosted pages on) is documented, and every documented
// operation is mounted.
func TestOpenAPIRoutes(t *testing.T) {
	_, doc := openapiLoad(t)
	ops := openapiOperations(t, doc)

	routes := openapiServer(t).Routes()
	if len(routes) == 0 {
		t.Fatal("the server lists no routes")
	}
	mounted := map[string]bool{}
	for _, r := range routes {
		method, path, ok := strings.Cut(r, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q is not \"METHOD /path\"", r)
			continue
		}
		if mounted[r] {
			t.Errorf("route %q is mounted twice", r)
		}
		mounted[r] = true
	}
	var undocumented, unmounted []string
	for r := range mounted {
		if !slices.Contains(ops, r) {
			undocumented = append(undocumented, r)
		}
	}
	for _, op := range ops {
		if !mounted[op] {
			unmounted = append(unmounted, op)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unmounted)
	if len(undocumented) > 0 {
		t.Errorf("mounted but not in docs/openapi.yaml:\n  %s", strings.Join(undocumented, "\n  "))
	}
	if len(unmounted) > 0 {
		t.Errorf("in docs/openapi.yaml but not mounted:\n  %s", strings.Join(unmounted, "\n  "))
	}

	// Each dialect's default path is one of them.
	for _, d := range all.Dialects() {
		if !mounted["POST "+d.Path()] {
			t.Errorf("dialect %s: POST %s is not mounted", d.Name(), d.Path())
		}
	}
}

var (
	reOpenAPIStatus    = regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]XX|default)$`)
	reOpenAPIOpID      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	reOpenAPIComponent = regexp.MustCompile(`^[a-zA-Z0-9.\-_]+$`)
)

// TestOpenAPIValid checks what a generator or viewer relies on: the
// version, every operation with a unique operationId and at least one
// response with valid status keys, request bodies with content, every $ref
// resolving inside the document, and security requirements and tags that
// name declared schemes and tags.
func TestOpenAPIValid(t *testing.T) {
	_, doc := openapiLoad(t)
	if v, _ := doc["openapi"].(string); v != "3.1.0" {
		t.Errorf("openapi = %v, want \"3.1.0\"", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if s, _ := info["title"].(string); s == "" {
		t.Error("info.title is missing")
	}
	if s, _ := info["version"].(string); s == "" {
		t.Error("info.version is missing or not a string")
	}

	components, _ := doc["components"].(map[string]any)
	for kind, v := range components {
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("components.%s is not a map", kind)
			continue
		}
		for name := range m {
			if !reOpenAPIComponent.MatchString(name) {
				t.Errorf("components.%s.%s: invalid component name", kind, name)
			}
		}
	}
	schemes, _ := components["securitySchemes"].(map[string]any)
	tags := map[string]bool{}
	if list, ok := doc["tags"].([]any); ok {
		for _, tg := range list {
			m, _ := tg.(map[string]any)
			if name, _ := m["name"].(string); name != "" {
				tags[name] = true
			}
		}
	}
	checkSecurity := func(at string, v any) {
		reqs, ok := v.([]any)
		if !ok {
			t.Errorf("%s.security is not a list", at)
			return
		}
		for _, r := range reqs {
			m, ok := r.(map[string]any)
			if !ok {
				t.Errorf("%s.security: %v is not a requirement object", at, r)
				continue
			}
			for name := range m {
				if _, ok := schemes[name]; !ok {
					t.Errorf("%s.security: scheme %q is not in components.securitySchemes", at, name)
				}
			}
		}
	}
	if v, ok := doc["security"]; ok {
		checkSecurity("document", v)
	}

	opIDs := map[string]string{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q does not start with /", path)
		}
		pi, _ := item.(map[string]any)
		for _, method := range openapiMethods {
			raw, ok := pi[method]
			if !ok {
				continue
			}
			at := strings.ToUpper(method) + " " + path
			op, ok := raw.(map[string]any)
			if !ok {
				t.Errorf("%s: not an operation object", at)
				continue
			}
			id, _ := op["operationId"].(string)
			switch {
			case !reOpenAPIOpID.MatchString(id):
				t.Errorf("%s: operationId %q missing or malformed", at, id)
			case opIDs[id] != "":
				t.Errorf("%s: operationId %q also used by %s", at, id, opIDs[id])
			default:
				opIDs[id] = at
			}
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Errorf("%s: no responses", at)
			}
			success := false
			for code := range responses {
				if !reOpenAPIStatus.MatchString(code) {
					t.Errorf("%s: response key %q is not a status code", at, code)
				}
				if code[0] == '2' || code[0] == '3' {
					success = true
				}
			}
			if !success {
				t.Errorf("%s: no 2xx or 3xx response", at)
			}
			if rb, ok := op["requestBody"]; ok {
				m, _ := rb.(map[string]any)
				if _, isRef := m["$ref"]; !isRef {
					if c, _ := m["content"].(map[string]any); len(c) == 0 {
						t.Errorf("%s: requestBody without content", at)
					}
				}
			}
			if v, ok := op["security"]; ok {
				checkSecurity(at, v)
			}
			if list, ok := op["tags"].([]any); ok {
				for _, tg := range list {
					if s, _ := tg.(string); !tags[s] {
						t.Errorf("%s: tag %v is not declared in tags", at, tg)
					}
				}
			}
		}
	}

	// Every $ref resolves within the document.
	var refs int
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"]; ok {
				refs++
				s, _ := ref.(string)
				if _, err := openapiResolve(doc, s); err != nil {
					t.Errorf("%s: $ref %q: %v", at, s, err)
				}
			}
			for k, c := range v {
				walk(c, at+"/"+openapiEscape(k))
			}
		case []any:
			for i, c := range v {
				walk(c, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")
	if refs == 0 {
		t.Error("no $ref at all: components are not reused")
	}
}

// openapiResolve resolves a local reference "#/a/b~1c" (RFC 6901).
func openapiResolve(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("not a local reference")
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q is not inside an object", tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("%q not found", tok)
		}
	}
	return cur, nil
}
