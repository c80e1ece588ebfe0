package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/testenv"
)

// TestAbandonedRequestNotAnError: a token request whose client has gone
// (its context canceled mid-request) is logged as abandoned, at INFO, not
// as a server error: a load test hanging up used to write a thousand
// ERROR lines.
func TestAbandonedRequestNotAnError(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	e := newEnvLog(t, logs)
	c := e.client()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(basic(c.ID, c.Secret)[0], basic(c.ID, c.Secret)[1])
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	if rec.Code < 500 {
		t.Fatalf("status %d: the canceled request did not fail (%s)", rec.Code, rec.Body)
	}
	out := logs.String()
	if !strings.Contains(out, "request abandoned by the client") {
		t.Errorf("no abandoned line in the log:\n%s", out)
	}
	if strings.Contains(out, `"level":"ERROR"`) {
		t.Errorf("an abandoned request logged an error:\n%s", out)
	}
}
