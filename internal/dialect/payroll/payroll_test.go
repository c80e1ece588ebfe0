package payroll_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// checkSuccess checks a 200 answer's headers and the fields that cannot be
// golden (the token, the connection ids), and returns the body with those
// masked.
func checkSuccess(t *testing.T, e *testenv.Env, r reply) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.Status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if id := r.Header.Get("Finch-Request-ID"); id == "" || id != r.Header.Get("X-Request-Id") {
		t.Errorf("Finch-Request-ID %q, X-Request-Id %q: want the request id", id, r.Header.Get("X-Request-Id"))
	}
	tok, _ := r.Body["access_token"].(string)
	claims := e.VerifyJWT(t, tok)
	connID, _ := r.Body["connection_id"].(string)
	if !uuidRE.MatchString(connID) {
		t.Errorf("connection_id %q is not a UUID", connID)
	}
	if claims["connection_id"] != connID {
		t.Errorf("token's connection_id claim %v, answer's %q", claims["connection_id"], connID)
	}
	for _, k := range []string{"account_id", "company_id"} {
		if r.Body[k] != connID {
			t.Errorf("%s = %v, want the connection_id %s", k, r.Body[k], connID)
		}
	}
	masked := map[string]any{}
	for k, v := range r.Body {
		masked[k] = v
	}
	masked["access_token"] = "<jwt>"
	for _, k := range []string{"connection_id", "account_id", "company_id"} {
		masked[k] = "<connection_id>"
	}
	return masked
}

// TestSuccessGolden is the seed's example: a connect-session-like consent
// for customer 1234567890 "Acme Inc", products directory, employment and
// individual, the sandbox payroll provider's three entities, a production
// client.
func TestSuccessGolden(t *testing.T) {
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e)
	consent := seedConsent()
	consent.ConnectionType = oauth.ConnectionTypeProvider
	g := e.Code(t, c, consent, false)
	r := exchange(t, e, c, secret, g)
	masked := checkSuccess(t, e, r)
	golden(t, "success.golden.json", masked)

	// Key order on the wire follows the schema.
	keys := regexp.MustCompile(`"([a-z_]+)":`).FindAllStringSubmatch(r.Raw, -1)
	var order []string
	for _, k := range keys {
		order = append(order, k[1])
	}
	want := []string{"access_token", "token_type", "connection_id", "customer_id", "customer_name", "account_id",
		"client_type", "company_id", "connection_type", "products", "provider_id", "entity_ids"}
	if !slices.Equal(order, want) {
		t.Errorf("keys %v, want %v", order, want)
	}

	// The answer is the stored connection's.
	conn := connection(t, e, r.Body["connection_id"].(string))
	if conn.CustomerID != "1234567890" || conn.ProviderID != "sandbox-payroll" || conn.ClientID != c.ID {
		t.Errorf("connection %+v", conn)
	}
}

// TestSuccessNullsAndDefaults: a consent with no customer answers nulls;
// connection_type comes from the provider catalogue (the sandbox provider's
// synthetic data is "finch"); client_type is the client's environment; a
// form body works as JSON does.
func TestSuccessNullsAndDefaults(t *testing.T) {
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e, func(c *store.Client) { c.Environment = "sandbox" })
	g := e.Code(t, c, oauth.Consent{ProviderID: "sandbox-payroll"}, false)
	r := post(t, e, "application/x-www-form-urlencoded",
		formBody("client_id", c.ID, "client_secret", secret, "code", g.Code, "redirect_uri", g.RedirectURI))
	golden(t, "success_nulls.golden.json", checkSuccess(t, e, r))
	if !strings.Contains(r.Raw, `"customer_id":null`) || !strings.Contains(r.Raw, `"customer_name":null`) {
		t.Errorf("customer fields not null: %s", r.Raw)
	}
}

// TestConnectSessionCode: a code from a connect session (no redirect_uri in
// the authorization) is exchanged without redirect_uri, as the SDK's example
// does; its customer comes from the session.
func TestConnectSessionCode(t *testing.T) {
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e)
	g := connectSessionCode(t, e, c, secret)
	r := post(t, e, jsonCT, jsonBody("client_id", c.ID, "client_secret", secret, "code", g))
	m := checkSuccess(t, e, r)
	if m["customer_id"] != "cust-42" || m["customer_name"] != "Globex" || m["provider_id"] != "sandbox-payroll" {
		t.Errorf("answer %v", m)
	}
}

// connectSessionCode runs a connect session for customer cust-42 "Globex"
// at the sandbox payroll provider and returns its code.
func connectSessionCode(t *testing.T, e *testenv.Env, c store.Client, secret string) string {
	t.Helper()
	ctx := context.Background()
	cred := oauth.ClientCredentials{ID: c.ID, Secret: secret, Presented: oauth.PresentedBasic}
	s, err := e.Provider.CreateConnectSession(ctx, cred, oauth.ConnectSessionRequest{
		CustomerID: "cust-42", CustomerName: "Globex", Products: granted, ProviderID: "sandbox-payroll",
	})
	if err != nil {
		t.Fatalf("connect session: %v", err)
	}
	to, err := e.Provider.Accept(ctx, s.ID, oauth.Consent{Subject: "hr-admin@globex.example"})
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	code := regexp.MustCompile(`[?&]code=([^&]+)`).FindStringSubmatch(to)
	if code == nil {
		t.Fatalf("no code in %s", to)
	}
	return code[1]
}

// TestVersionHeader: absent means 2020-09-17; any well-formed date is
// accepted; anything else is a validation error.
func TestVersionHeader(t *testing.T) {
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e)
	tests := []struct {
		name   string
		values []string // nil = no header
		status int
	}{
		{"absent", nil, 200},
		{"current", []string{"2020-09-17"}, 200},
		{"another date", []string{"2024-01-31"}, 200},
		{"padded", []string{" 2020-09-17 "}, 200},
		{"empty", []string{""}, 400},
		{"no dashes", []string{"20200917"}, 400},
		{"one-digit month", []string{"2020-9-17"}, 400},
		{"word", []string{"latest"}, 400},
		{"month 13", []string{"2020-13-01"}, 400},
		{"no such day", []string{"2021-02-30"}, 400},
		{"year 3000", []string{"3000-01-01"}, 400},
		{"trailing text", []string{"2020-09-17x"}, 400},
		{"twice", []string{"2020-09-17", "2020-09-17"}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := e.Code(t, c, seedConsent(), false)
			var hdr []string
			for _, v := range tt.values {
				hdr = append(hdr, "Finch-API-Version", v)
			}
			r := post(t, e, jsonCT, jsonBody("client_id", c.ID, "client_secret", secret, "code", g.Code, "redirect_uri", g.RedirectURI), hdr...)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			if tt.status == 400 && (r.Body["name"] != "bad_request" || r.Body["finch_code"] != "invalid_request" ||
				!strings.Contains(r.Body["message"].(string), "Finch-API-Version")) {
				t.Errorf("body %s", r.Raw)
			}
		})
	}
}

// TestCredentials: the body carries the credentials; a Basic header that
// agrees is fine, one that conflicts is refused; a Basic header alone
// supplies what the body lacks; other schemes are ignored; client_id must
// be a UUID (any case).
func TestCredentials(t *testing.T) {
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e)
	other, otherSecret := payrollClient(t, e)
	tests := []struct {
		name    string
		body    func(code, redirect string) string
		auth    string
		status  int
		errName string
	}{
		{"body only", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", secret, "code", code, "redirect_uri", ru)
		}, "", 200, ""},
		{"body and agreeing basic", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", secret, "code", code, "redirect_uri", ru)
		}, basic(c.ID, secret), 200, ""},
		{"body and agreeing form-encoded basic", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", secret, "code", code, "redirect_uri", ru)
		}, basic(strings.ReplaceAll(c.ID, "-", "%2D"), secret), 200, ""},
		{"basic only", func(code, ru string) string {
			return jsonBody("code", code, "redirect_uri", ru)
		}, basic(c.ID, secret), 200, ""},
		{"body id and basic secret", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "code", code, "redirect_uri", ru)
		}, basic(c.ID, secret), 200, ""},
		{"bearer header ignored", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", secret, "code", code, "redirect_uri", ru)
		}, "Bearer some-old-access-token", 200, ""},
		{"upper-case uuid with lower-case basic", func(code, ru string) string {
			return jsonBody("client_id", strings.ToUpper(c.ID), "client_secret", secret, "code", code, "redirect_uri", ru)
		}, basic(c.ID, secret), 200, ""},
		{"malformed basic and invalid body", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", secret, "redirect_uri", ru)
		}, "Basic !!!", 400, "bad_request"},
		{"upper-case uuid", func(code, ru string) string {
			return jsonBody("client_id", strings.ToUpper(c.ID), "client_secret", secret, "code", code, "redirect_uri", ru)
		}, "", 200, ""},
		{"basic of another client", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", secret, "code", code, "redirect_uri", ru)
		}, basic(other.ID, otherSecret), 401, "invalid_client_error"},
		{"basic with another secret", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", secret, "code", code, "redirect_uri", ru)
		}, basic(c.ID, "gcs_not-the-secret"), 401, "invalid_client_error"},
		{"basic right, body secret wrong", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", "gcs_not-the-secret", "code", code, "redirect_uri", ru)
		}, basic(c.ID, secret), 401, "invalid_client_error"},
		{"malformed basic", func(code, ru string) string {
			return jsonBody("client_id", c.ID, "client_secret", secret, "code", code, "redirect_uri", ru)
		}, "Basic !!!", 401, "invalid_client_error"},
		{"non-uuid client_id", func(code, ru string) string {
			return jsonBody("client_id", "my-app", "client_secret", secret, "code", code, "redirect_uri", ru)
		}, "", 400, "bad_request"},
		{"uuid without dashes", func(code, ru string) string {
			return jsonBody("client_id", strings.ReplaceAll(c.ID, "-", ""), "client_secret", secret, "code", code, "redirect_uri", ru)
		}, "", 400, "bad_request"},
		{"non-uuid client_id in basic only", func(code, ru string) string {
			return jsonBody("code", code, "redirect_uri", ru)
		}, basic("my-app", secret), 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := e.Code(t, c, seedConsent(), false)
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			r := post(t, e, jsonCT, tt.body(g.Code, g.RedirectURI), hdr...)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			if tt.status == 200 {
				checkSuccess(t, e, r)
				return
			}
			if r.Body["name"] != tt.errName {
				t.Errorf("name %v, want %s: %s", r.Body["name"], tt.errName, r.Raw)
			}
			if strings.Contains(r.Raw, secret) || strings.Contains(r.Raw, g.Code) {
				t.Errorf("answer echoes a secret: %s", r.Raw)
			}
			// A refused request does not spend the code.
			if r := exchange(t, e, c, secret, g); r.Status != 200 {
				t.Errorf("code spent by a refused request: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// TestTokenLifecycle: the token is active at introspection with the
// connection's products, revocable, and carries no refresh token.
func TestTokenLifecycle(t *testing.T) {
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e)
	g := e.Code(t, c, seedConsent(), false)
	r := exchange(t, e, c, secret, g)
	checkSuccess(t, e, r)
	tok := r.Body["access_token"].(string)
	in := e.Introspect(t, tok)
	if in["active"] != true || in["client_id"] != c.ID || in["connection_id"] != r.Body["connection_id"] ||
		in["scope"] != "directory employment individual" {
		t.Errorf("introspection %v", in)
	}
	if _, ok := r.Body["refresh_token"]; ok {
		t.Error("answer has a refresh_token")
	}
	if st := e.Revoke(t, c, secret, tok); st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	if in := e.Introspect(t, tok); in["active"] != false {
		t.Errorf("revoked token still active: %v", in)
	}
}

// TestTokenLifetimeCappedAtConsent: the payroll token is the consent's key
// (Finch's tokens are long-lived): it ends with the consent, whatever the
// client's access-token lifetime (here the default hour).
func TestTokenLifetimeCappedAtConsent(t *testing.T) {
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e)
	g := e.Code(t, c, seedConsent(), false)
	r := exchange(t, e, c, secret, g)
	checkSuccess(t, e, r)
	claims := e.VerifyJWT(t, r.Body["access_token"].(string))
	conn := connection(t, e, r.Body["connection_id"].(string))
	if exp, _ := claims["exp"].(float64); int64(exp) != conn.ConsentExpiresAt.Unix() {
		t.Errorf("exp %v, consent ends %v", time.Unix(int64(exp), 0), conn.ConsentExpiresAt)
	}
}

// TestReplayedCode: the second presentation of a code gets
// invalid_grant_error, never a second token, and the first token is revoked
// (RFC 6749 §4.1.2), also when the second one is a retry of a lost answer.
func TestReplayedCode(t *testing.T) {
	e := newEnv(t, testenv.Options{})
	c, secret := payrollClient(t, e)
	g := e.Code(t, c, seedConsent(), false)
	first := exchange(t, e, c, secret, g)
	checkSuccess(t, e, first)
	tok := first.Body["access_token"].(string)
	if in := e.Introspect(t, tok); in["active"] != true {
		t.Fatalf("first token inactive: %v", in)
	}
	for range 2 {
		r := exchange(t, e, c, secret, g)
		if r.Status != 400 || r.Body["name"] != "invalid_grant_error" || r.Body["message"] != "The authorization code has already been used." {
			t.Errorf("replay: %d %s", r.Status, r.Raw)
		}
		if _, ok := r.Body["access_token"]; ok {
			t.Error("replay answered a token")
		}
	}
	if in := e.Introspect(t, tok); in["active"] != false {
		t.Errorf("first token still active after the replay: %v", in)
	}
}

// policy refuses the clients it is told to with the given error, and runs
// the default state policy for the others.
type policy struct {
	mu   sync.Mutex
	errs map[string]error
}

func (p *policy) set(clientID string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs[clientID] = err
}

func (p *policy) Check(ctx context.Context, r oauth.PolicyRequest) (oauth.PolicyResult, error) {
	c := r.Client
	p.mu.Lock()
	err := p.errs[c.ID]
	p.mu.Unlock()
	if err != nil {
		return oauth.PolicyResult{}, err
	}
	return oauth.StatePolicy{}.Check(ctx, r)
}

// TestErrors: one row per documented error (docs/dialects.md (payroll)), each
// answer's body golden in testdata/errors.golden.json.
func TestErrors(t *testing.T) {
	pol := &policy{errs: map[string]error{}}
	e := newEnv(t, testenv.Options{Policy: pol})
	c, secret := payrollClient(t, e)
	other, otherSecret := payrollClient(t, e)
	noCode, noCodeSecret := payrollClient(t, e, func(c *store.Client) { c.GrantTypes = []string{oauth.GrantClientCredentials} })
	suspended, suspendedSecret := payrollClient(t, e, func(c *store.Client) { c.State = store.ClientSuspended })
	revoked, revokedSecret := payrollClient(t, e)
	policyClient := func(err error) (store.Client, string) {
		pc, ps := payrollClient(t, e)
		pol.set(pc.ID, err)
		return pc, ps
	}
	broke, brokeSecret := policyClient(&oauth.Error{Code: "payment_required", Status: 402, Reason: oauth.ReasonInsufficientFunds,
		Description: "The client's prepaid balance is exhausted."})
	busy, busySecret := policyClient(&oauth.Error{Code: "rate_limited", Status: 429, Reason: oauth.ReasonRateLimited, RetryAfter: 7,
		Description: "Too many token requests; retry later."})
	frozen, frozenSecret := policyClient(&oauth.Error{Code: oauth.ErrCodeUnauthorizedClient, Status: 409, Reason: oauth.ReasonClientState,
		Description: "The client is suspended."})
	closed, closedSecret := policyClient(&oauth.Error{Code: oauth.ErrCodeTemporarilyUnavailable, Status: 503, Reason: oauth.ReasonOutsideHours,
		RetryAfter: 3600, Description: "Tokens are issued during operating hours only."})
	broken, brokenSecret := policyClient(errors.New("database unavailable: password=hunter2"))

	req := func(cl store.Client, sec, code, ru string) string {
		return jsonBody("client_id", cl.ID, "client_secret", sec, "code", code, "redirect_uri", ru)
	}
	type request struct {
		ct, body string
		hdr      []string
	}
	tests := []struct {
		name      string
		build     func(t *testing.T) request
		status    int
		errName   string
		retryAfer string
	}{
		// invalid_grant_error
		{"code_unknown", func(t *testing.T) request {
			return request{jsonCT, req(c, secret, "gac_no-such-code", testenv.RedirectURI), nil}
		}, 400, "invalid_grant_error", ""},
		{"code_expired", func(t *testing.T) request {
			g := e.Code(t, c, seedConsent(), false)
			e.Clock.Advance(61 * time.Second)
			return request{jsonCT, req(c, secret, g.Code, g.RedirectURI), nil}
		}, 400, "invalid_grant_error", ""},
		{"code_used", func(t *testing.T) request {
			g := e.Code(t, c, seedConsent(), false)
			if r := exchange(t, e, c, secret, g); r.Status != 200 {
				t.Fatalf("first exchange: %d %s", r.Status, r.Raw)
			}
			return request{jsonCT, req(c, secret, g.Code, g.RedirectURI), nil}
		}, 400, "invalid_grant_error", ""},
		{"code_of_another_client", func(t *testing.T) request {
			g := e.Code(t, other, seedConsent(), false)
			return request{jsonCT, req(c, secret, g.Code, g.RedirectURI), nil}
		}, 400, "invalid_grant_error", ""},
		{"redirect_uri_mismatch", func(t *testing.T) request {
			g := e.Code(t, c, seedConsent(), false)
			return request{jsonCT, req(c, secret, g.Code, "https://example.com/elsewhere"), nil}
		}, 400, "invalid_grant_error", ""},
		{"redirect_uri_missing", func(t *testing.T) request {
			g := e.Code(t, c, seedConsent(), false)
			return request{jsonCT, jsonBody("client_id", c.ID, "client_secret", secret, "code", g.Code), nil}
		}, 400, "invalid_grant_error", ""},
		{"redirect_uri_not_authorized", func(t *testing.T) request {
			// The session named no redirect_uri: only the one the code was
			// delivered to (the client's only one) may be sent back.
			code := connectSessionCode(t, e, c, secret)
			return request{jsonCT, req(c, secret, code, "http://127.0.0.1:9876/elsewhere"), nil}
		}, 400, "invalid_grant_error", ""},
		{"pkce_code", func(t *testing.T) request {
			g := e.Code(t, c, seedConsent(), true)
			return request{jsonCT, req(c, secret, g.Code, g.RedirectURI), nil}
		}, 400, "invalid_grant_error", ""},
		{"connection_revoked", func(t *testing.T) request {
			g := e.Code(t, revoked, seedConsent(), false)
			conns, _, err := e.Store.ListConnections(context.Background(), revoked.ID, store.Page{})
			if err != nil || len(conns) != 1 {
				t.Fatalf("connections: %v %v", conns, err)
			}
			if _, err := e.Store.RevokeConnection(context.Background(), conns[0].ID, e.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			return request{jsonCT, req(revoked, revokedSecret, g.Code, g.RedirectURI), nil}
		}, 400, "invalid_grant_error", ""},

		// bad_request / invalid_request
		{"missing_code", func(t *testing.T) request {
			return request{jsonCT, jsonBody("client_id", c.ID, "client_secret", secret), nil}
		}, 400, "bad_request", ""},
		{"missing_client_id", func(t *testing.T) request {
			return request{jsonCT, jsonBody("client_secret", secret, "code", "gac_x"), nil}
		}, 400, "bad_request", ""},
		{"missing_client_secret", func(t *testing.T) request {
			return request{jsonCT, jsonBody("client_id", c.ID, "code", "gac_x"), nil}
		}, 400, "bad_request", ""},
		{"client_id_not_uuid", func(t *testing.T) request {
			return request{jsonCT, jsonBody("client_id", "acme-payroll-app", "client_secret", secret, "code", "gac_x"), nil}
		}, 400, "bad_request", ""},
		{"version_malformed", func(t *testing.T) request {
			return request{jsonCT, req(c, secret, "gac_x", ""), []string{"Finch-API-Version", "2020-9-17"}}
		}, 400, "bad_request", ""},
		{"content_type_unsupported", func(t *testing.T) request {
			return request{"text/plain", req(c, secret, "gac_x", ""), nil}
		}, 400, "bad_request", ""},
		{"body_not_json", func(t *testing.T) request {
			return request{jsonCT, `{"code": "gac_x",`, nil}
		}, 400, "bad_request", ""},
		{"body_nested", func(t *testing.T) request {
			return request{jsonCT, `{"client_id": {"id": "x"}, "code": "gac_x"}`, nil}
		}, 400, "bad_request", ""},
		{"no_content_type_form_body", func(t *testing.T) request {
			return request{"", formBody("client_id", c.ID, "client_secret", secret, "code", "gac_x"), nil}
		}, 400, "bad_request", ""},
		{"form_repeated", func(t *testing.T) request {
			return request{"application/x-www-form-urlencoded", "code=gac_a&code=gac_b&client_id=" + c.ID, nil}
		}, 400, "bad_request", ""},
		{"body_too_large", func(t *testing.T) request {
			return request{jsonCT, jsonBody("client_id", c.ID, "client_secret", secret, "code", strings.Repeat("a", 70<<10)), nil}
		}, 413, "bad_request", ""},
		{"grant_not_allowed", func(t *testing.T) request {
			return request{jsonCT, req(noCode, noCodeSecret, "gac_x", ""), nil}
		}, 400, "bad_request", ""},
		{"client_suspended", func(t *testing.T) request {
			return request{jsonCT, req(suspended, suspendedSecret, "gac_x", ""), nil}
		}, 409, "conflict_error", ""},

		// invalid_client_error
		{"wrong_secret", func(t *testing.T) request {
			return request{jsonCT, req(c, "gcs_wrong", "gac_x", ""), nil}
		}, 401, "invalid_client_error", ""},
		{"unknown_client", func(t *testing.T) request {
			return request{jsonCT, jsonBody("client_id", "4ab15e51-11ad-49f4-acae-f343b7794375", "client_secret", "gcs_x", "code", "gac_x"), nil}
		}, 401, "invalid_client_error", ""},
		{"basic_conflicts_with_body", func(t *testing.T) request {
			return request{jsonCT, req(c, secret, "gac_x", ""), []string{"Authorization", basic(other.ID, otherSecret)}}
		}, 401, "invalid_client_error", ""},
		{"basic_malformed", func(t *testing.T) request {
			return request{jsonCT, req(c, secret, "gac_x", ""), []string{"Authorization", "Basic not-base64!"}}
		}, 401, "invalid_client_error", ""},

		// policy
		{"payment_required", func(t *testing.T) request {
			return request{jsonCT, req(broke, brokeSecret, "gac_x", ""), nil}
		}, 402, "payment_required", ""},
		{"rate_limited", func(t *testing.T) request {
			return request{jsonCT, req(busy, busySecret, "gac_x", ""), nil}
		}, 429, "rate_limit_error", "7"},
		{"client_conflict", func(t *testing.T) request {
			return request{jsonCT, req(frozen, frozenSecret, "gac_x", ""), nil}
		}, 409, "conflict_error", ""},
		{"outside_operating_hours", func(t *testing.T) request {
			return request{jsonCT, req(closed, closedSecret, "gac_x", ""), nil}
		}, 503, "service_unavailable_error", "3600"},
		{"server_error", func(t *testing.T) request {
			return request{jsonCT, req(broken, brokenSecret, "gac_x", ""), nil}
		}, 500, "server_error", ""},
	}
	bodies := map[string]any{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := tt.build(t)
			r := post(t, e, rq.ct, rq.body, rq.hdr...)
			if r.Status != tt.status || r.Body["name"] != tt.errName {
				t.Fatalf("got %d %v, want %d %s: %s", r.Status, r.Body["name"], tt.status, tt.errName, r.Raw)
			}
			if code, _ := r.Body["code"].(float64); int(code) != r.Status {
				t.Errorf("code %v, status %d", r.Body["code"], r.Status)
			}
			for k := range r.Body {
				if k != "code" && k != "name" && k != "finch_code" && k != "message" {
					t.Errorf("unexpected field %q", k)
				}
			}
			if msg, _ := r.Body["message"].(string); msg == "" {
				t.Error("no message")
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if id := r.Header.Get("Finch-Request-ID"); !uuidRE.MatchString(id) {
				t.Errorf("Finch-Request-ID %q, want the error id", id)
			}
			if ra := r.Header.Get("Retry-After"); ra != tt.retryAfer {
				t.Errorf("Retry-After %q, want %q", ra, tt.retryAfer)
			}
			for _, s := range []string{secret, otherSecret, "gac_", "hunter2", "database"} {
				if strings.Contains(r.Raw, s) {
					t.Errorf("answer contains %q: %s", s, r.Raw)
				}
			}
			bodies[tt.name] = map[string]any{"status": r.Status, "body": r.Body}
		})
	}
	if !t.Failed() {
		golden(t, "errors.golden.json", bodies)
	}
}
