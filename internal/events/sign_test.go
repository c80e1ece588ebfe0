package events_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/events"
)

// hmacHex is the documented scheme, written from the docs, not from Sign.
func hmacHex(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10) + "." + string(body)))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func TestSign(t *testing.T) {
	secret, body := "whsec_test", []byte(`{"id":"evt_1"}`)
	if got, want := events.Sign([]byte(secret), 1767225600, body), hmacHex(secret, 1767225600, body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("whsec_0123456789abcdef")
	body := []byte(`{"id":"evt_1","type":"connection.created"}`)
	now := time.Unix(1767225600, 0)
	header := func(ts int64, sig ...string) http.Header {
		h := http.Header{}
		h.Set("Grantd-Timestamp", strconv.FormatInt(ts, 10))
		for _, s := range sig {
			h.Add("Grantd-Signature", s)
		}
		return h
	}
	good := events.Sign(secret, now.Unix(), body)
	other := events.Sign([]byte("whsec_other"), now.Unix(), body)
	tests := []struct {
		name string
		h    http.Header
		body []byte
		tol  time.Duration
		want error
	}{
		{"valid", header(now.Unix(), good), body, time.Minute, nil},
		{"valid within tolerance", header(now.Unix()-299, events.Sign(secret, now.Unix()-299, body)), body, 0, nil},
		{"valid in the future within tolerance", header(now.Unix()+60, events.Sign(secret, now.Unix()+60, body)), body, 0, nil},
		{"one of several", header(now.Unix(), other+","+good), body, 0, nil},
		{"one of several headers", header(now.Unix(), other, good), body, 0, nil},
		{"unknown scheme ignored", header(now.Unix(), "v9=abc "+good), body, 0, nil},
		{"wrong secret", header(now.Unix(), other), body, 0, events.ErrSignature},
		{"tampered body", header(now.Unix(), good), []byte(`{"id":"evt_2","type":"connection.created"}`), 0, events.ErrSignature},
		{"other timestamp", header(now.Unix()+1, good), body, 0, events.ErrSignature},
		{"too old", header(now.Unix()-301, events.Sign(secret, now.Unix()-301, body)), body, 0, events.ErrTimestamp},
		{"too new", header(now.Unix()+120, events.Sign(secret, now.Unix()+120, body)), body, time.Minute, events.ErrTimestamp},
		{"no signature", header(now.Unix()), body, 0, events.ErrNoSignature},
		{"no timestamp", http.Header{"Grantd-Signature": {good}}, body, 0, events.ErrNoSignature},
		{"bad timestamp", http.Header{"Grantd-Timestamp": {"soon"}, "Grantd-Signature": {good}}, body, 0, events.ErrNoSignature},
		{"not hex", header(now.Unix(), "v1=zz"), body, 0, events.ErrNoSignature},
		{"short", header(now.Unix(), good[:20]), body, 0, events.ErrNoSignature},
		{"bare hex", header(now.Unix(), strings.TrimPrefix(good, "v1=")), body, 0, events.ErrNoSignature},
	}
	for _, tt := range tests {
		if err := events.Verify(secret, tt.h, tt.body, now, tt.tol); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestVector checks the test vector in docs/connections.md.
func TestVector(t *testing.T) {
	got := events.Sign([]byte("whsec_test_only_not_a_real_secret"), 1767225600, []byte(`{"id":"evt_0","type":"connection.created"}`))
	if want := "v1=ba377598ee580910f6fd9e7b4b4fa591f37f7117db46b5dd7ae0f429df977956"; got != want {
		t.Errorf("Sign = %s, want the documented %s", got, want)
	}
}

// docSnippet returns the first ```lang block of the Webhooks section of
// docs/connections.md.
func docSnippet(t *testing.T, lang string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/connections.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut("\n"+string(doc), "\n## Webhooks\n")
	if !ok {
		t.Fatal("docs/connections.md has no ## Webhooks section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, code, ok := strings.Cut(section, "```"+lang+"\n")
	if !ok {
		t.Fatalf("the Webhooks section has no ```%s block", lang)
	}
	code, _, _ = strings.Cut(code, "```")
	return code
}

// snippetCases runs the documented verification snippets through check,
// which returns "ok" or "refused".
func snippetCases(t *testing.T, check func(secret, sig, ts, body string) string) {
	t.Helper()
	secret, body := "whsec_snippet_test", `{"id":"evt_1","type":"connection.revoked","data":{"customer_name":"Zoë"}}`
	now := time.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	sig := events.Sign([]byte(secret), now, []byte(body))
	old := now - 3600
	for _, tt := range []struct {
		name, secret, sig, ts, body, want string
	}{
		{"valid", secret, sig, ts, body, "ok"},
		{"one of several", secret, "v1=" + strings.Repeat("ab", 32) + "," + sig, ts, body, "ok"},
		{"tampered body", secret, sig, ts, strings.Replace(body, "revoked", "created", 1), "refused"},
		{"wrong secret", "whsec_other", sig, ts, body, "refused"},
		{"old timestamp", secret, events.Sign([]byte(secret), old, []byte(body)), strconv.FormatInt(old, 10), body, "refused"},
		{"short signature", secret, "v1=00", ts, body, "refused"},
		{"no timestamp", secret, sig, "", body, "refused"},
	} {
		if got := check(tt.secret, tt.sig, tt.ts, tt.body); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestNodeSnippet runs the documented Node.js verification against Sign.
func TestNodeSnippet(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	harness := docSnippet(t, "js") + `
const headers = {"grantd-timestamp": process.env.TS, "grantd-signature": process.env.SIG};
try {
  verifyGrantdWebhook(process.env.SECRET, headers, Buffer.from(process.env.BODY, "utf8"));
  console.log("ok");
} catch (e) {
  console.log("refused");
}
`
	snippetCases(t, func(secret, sig, ts, body string) string {
		cmd := exec.Command(node, "-e", harness)
		cmd.Env = append(os.Environ(), "SECRET="+secret, "SIG="+sig, "TS="+ts, "BODY="+body)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	})
}

// TestGoSnippet builds the documented Go verification and runs it against
// Sign.
func TestGoSnippet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	dir := t.TempDir()
	harness := `package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

var secretFromConfig = os.Getenv("SECRET")

func main() {
	h := http.Header{}
	h.Set("Grantd-Timestamp", os.Getenv("TS"))
	h.Set("Grantd-Signature", os.Getenv("SIG"))
	if verifyGrantdWebhook(secretFromConfig, h, []byte(os.Getenv("BODY")), time.Now()) != nil {
		fmt.Println("refused")
		return
	}
	fmt.Println("ok")
	_ = grantdWebhook
}
`
	files := map[string]string{"snippet.go": "package main\n\n" + docSnippet(t, "go"), "harness.go": harness}
	for name, src := range files {
		if err := os.WriteFile(dir+"/"+name, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command(goTool, "build", "-o", "verify", "snippet.go", "harness.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the documented Go snippet does not build: %v\n%s", err, out)
	}
	snippetCases(t, func(secret, sig, ts, body string) string {
		cmd := exec.Command(dir + "/verify")
		cmd.Env = append(os.Environ(), "SECRET="+secret, "SIG="+sig, "TS="+ts, "BODY="+body)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	})
}
