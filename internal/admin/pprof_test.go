package admin_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"
)

// TestProfiles: the profiles answer with the admin token only; a heap
// profile is a gzipped pprof file, an unknown one a JSON 404.
func TestProfiles(t *testing.T) {
	e := newEnv(t)
	get := func(path, token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if st, _ := get("/admin/debug/pprof/heap", ""); st != http.StatusUnauthorized {
		t.Errorf("heap without the token: %d", st)
	}
	if st, _ := get("/admin/debug/pprof/heap", "wrong"); st != http.StatusUnauthorized {
		t.Errorf("heap with a wrong token: %d", st)
	}
	st, b := get("/admin/debug/pprof/heap", adminToken)
	if st != http.StatusOK {
		t.Fatalf("heap: %d %s", st, b)
	}
	if _, err := gzip.NewReader(bytes.NewReader(b)); err != nil {
		t.Errorf("heap profile is not gzipped pprof: %v", err)
	}
	if st, b := get("/admin/debug/pprof/nope", adminToken); st != http.StatusNotFound || !bytes.Contains(b, []byte(`"not_found"`)) {
		t.Errorf("unknown profile: %d %s", st, b)
	}
	if st, b := get("/admin/debug/pprof/profile?seconds=1", adminToken); st != http.StatusOK || len(b) == 0 {
		t.Errorf("CPU profile: %d, %d bytes", st, len(b))
	}
}
