package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/testenv"
)

// TestDialectWrongMethod: another method than POST on a dialect's path gets
// 405 with Allow: POST, in that dialect's own JSON error shape.
func TestDialectWrongMethod(t *testing.T) {
	e := testenv.New(t, testenv.Options{Dialects: all.Dialects()})
	for _, d := range all.Dialects() {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(method, e.URL+d.Path(), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var v map[string]any
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || json.Unmarshal(body, &v) != nil || len(v) == 0 {
				t.Errorf("%s %s (%s): %d Allow %q body %s", method, d.Path(), d.Name(), resp.StatusCode, resp.Header.Get("Allow"), body)
			}
		}
	}
}
