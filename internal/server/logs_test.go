package server_test

import (
	"bufio"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/testenv"
)

type syncBuffer = testenv.SyncBuffer

// TestLogsCarryRequestIDAndNoSecrets: every log line of a request carries its
// id, including the core's own warnings, and no line holds a secret, code,
// verifier or token.
func TestLogsCarryRequestIDAndNoSecrets(t *testing.T) {
	var logs syncBuffer
	e := newEnvLog(t, &logs)
	c := e.client()
	verifier := oauth2.GenerateVerifier()
	loc := e.authorize(url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}, "state": {"secret-state"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, "henry", true)
	code := loc.Query().Get("code")
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	first := e.tokenRequest(c, exchange)
	replay := e.tokenRequest(c, exchange)
	wrong := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret+"x")...)
	if first.Status != 200 || replay.Status != 400 || wrong.Status != 401 {
		t.Fatalf("statuses %d %d %d", first.Status, replay.Status, wrong.Status)
	}

	out := logs.String()
	for _, secret := range []string{c.Secret, code, verifier, first.str("access_token"), first.str("refresh_token"), "secret-state"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds a secret (%.8s…)", secret)
		}
	}
	sawReplay := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON log line: %s", sc.Text())
		}
		id, _ := line["request_id"].(string)
		if id == "" {
			t.Errorf("log line without request_id: %s", sc.Text())
		}
		if strings.Contains(line["msg"].(string), "replayed") {
			sawReplay = true
			if id != replay.Header.Get("X-Request-Id") {
				t.Errorf("replay warning has request_id %q, response had %q", id, replay.Header.Get("X-Request-Id"))
			}
		}
	}
	if !sawReplay {
		t.Fatalf("no replay warning logged:\n%s", out)
	}
}
