package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// Helpers for golden tests of a dialect's wire, shared by the dialects' test
// packages.

// SyncBuffer is a bytes.Buffer safe for the server's goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// LogLines decodes the JSON log.
func (s *SyncBuffer) LogLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON log line: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// Result is an HTTP answer.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (r Result) Str(k string) string { s, _ := r.JSON[k].(string); return s }

// Post sends a body with a Content-Type ("" = none) and extra headers.
func Post(t *testing.T, url, contentType, body string, header http.Header) Result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := Result{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if err := json.Unmarshal(b, &res.JSON); err != nil {
		t.Fatalf("%d answer is not a JSON object: %q", resp.StatusCode, b)
	}
	return res
}

// JSONBody encodes fields as a JSON object.
func JSONBody(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Keys are the sorted keys of a JSON object.
func Keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// IsUUID reports whether s is a lower-case, hyphenated UUID.
func IsUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && len(s) == 36 && u.String() == strings.ToLower(s)
}

// Golden compares the status, the headers that matter and the body (with
// each random value replaced by its mask, field order kept) with
// testdata/name.golden; update rewrites it (the caller's -update flag).
func Golden(t *testing.T, update bool, name string, res Result, masks map[string]string) {
	t.Helper()
	body := string(res.Body)
	for value, mask := range masks {
		if value == "" {
			t.Fatalf("golden %s: empty value for mask %s", name, mask)
		}
		raw, _ := json.Marshal(value)
		var m bytes.Buffer
		enc := json.NewEncoder(&m)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(mask)
		body = strings.ReplaceAll(body, string(raw), strings.TrimSpace(m.String()))
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, []byte(body), "", "  "); err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	var got strings.Builder
	got.WriteString("HTTP " + itoa(res.Status) + " " + http.StatusText(res.Status) + "\n")
	for _, h := range []string{"Content-Type", "Cache-Control", "Pragma", "Retry-After", "Www-Authenticate"} {
		if v := res.Header.Get(h); v != "" {
			got.WriteString(h + ": " + v + "\n")
		}
	}
	got.WriteString("\n" + strings.TrimSpace(ind.String()) + "\n")
	CompareGolden(t, update, name, got.String())
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// CompareGolden compares got with testdata/name.golden; update rewrites the
// file instead (the caller's -update flag).
func CompareGolden(t *testing.T, update bool, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if update {
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
		t.Fatalf("golden %s: %v (run go test -update)", name, err)
	}
	if got != string(want) {
		t.Errorf("golden %s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// Redact replaces every key of secrets found in s (also URL-escaped) by its
// placeholder, longest first so that no placeholder cuts another secret.
func Redact(s string, secrets map[string]string) string {
	keys := slices.SortedFunc(maps.Keys(secrets), func(a, b string) int { return len(b) - len(a) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, secrets[k])
		s = strings.ReplaceAll(s, url.QueryEscape(k), secrets[k])
	}
	return s
}

// CheckErrorLogged checks that id is a UUID and that the server logged it as
// the error_id of a failed token request of dialect.
func CheckErrorLogged(t *testing.T, logs *SyncBuffer, id, dialect string) {
	t.Helper()
	if !IsUUID(id) {
		t.Fatalf("error id %q is not a UUID", id)
	}
	logged := false
	for _, l := range logs.LogLines(t) {
		if l["error_id"] == id {
			logged = true
			if l["dialect"] != dialect || l["msg"] != "token request failed" {
				t.Errorf("log line %v", l)
			}
		}
	}
	if !logged {
		t.Errorf("error id %s is not an error_id in the log", id)
	}
}

// CheckNoEcho fails when body holds any of secrets.
func CheckNoEcho(t *testing.T, body []byte, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(string(body), s) {
			t.Errorf("the answer echoes a secret (%.8s…)", s)
		}
	}
}
