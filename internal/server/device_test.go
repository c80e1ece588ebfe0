package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy"
	"github.com/grantd/grantd/internal/store"
)

// deviceClient is a public client of the device grant (a CLI).
func (e *env) deviceClient() testClient {
	return e.client(public, func(c *store.Client) {
		c.GrantTypes = []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken}
	})
}

// enterCode is the user at the verification page: it enters code and is
// sent to the consent step; the challenge of that step.
func (e *env) enterCode(code string) string {
	e.t.Helper()
	r := e.form(oauth.DevicePath, url.Values{"user_code": {code}}, "Origin", e.srv.URL)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusSeeOther || loc == nil || loc.Query().Get("challenge") == "" {
		e.t.Fatalf("enter the user code %q: %d %s %s", code, r.Status, r.Header.Get("Location"), r.Body)
	}
	return loc.Query().Get("challenge")
}

// poll is one token request of the device grant.
func (e *env) poll(c testClient, deviceCode string) response {
	return e.tokenRequest(c, url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {deviceCode}})
}

// TestDeviceFlow: RFC 8628 with golang.org/x/oauth2's device flow: the
// device authorization answer; polls before the decision are
// authorization_pending, and slow_down when sooner than the interval (which
// then grows); the user enters the code (any case, with or without the
// dash) on the verification page, which leads to the consent step; once
// approved the device's poll gets tokens, a refresh works, and the device
// code is spent (a second use is refused and revokes the grant).
func TestDeviceFlow(t *testing.T) {
	e := newEnv(t)
	c := e.deviceClient()
	conf := &oauth2.Config{ClientID: c.ID, Scopes: []string{"accounts"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: e.srv.URL + "/oauth/device_authorization", TokenURL: e.srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.Background()
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(da.DeviceCode, oauth.PrefixDeviceCode) || len(da.UserCode) != 9 || da.UserCode[4] != '-' ||
		da.VerificationURI != e.srv.URL+oauth.DevicePath || da.VerificationURIComplete != da.VerificationURI+"?user_code="+da.UserCode ||
		da.Interval != 5 || time.Until(da.Expiry) < 9*time.Minute {
		t.Fatalf("device authorization: %+v", da)
	}
	if r := e.poll(c, da.DeviceCode); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeAuthorizationPending {
		t.Fatalf("the first poll: %d %s, want authorization_pending", r.Status, r.Body)
	}
	e.clock.Advance(time.Second)
	if r := e.poll(c, da.DeviceCode); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeSlowDown {
		t.Fatalf("a poll 1 s later: %d %s, want slow_down", r.Status, r.Body)
	}
	e.clock.Advance(6 * time.Second) // within the grown interval (10 s)
	if r := e.poll(c, da.DeviceCode); r.str("error") != oauth.ErrCodeSlowDown {
		t.Errorf("a poll 6 s later, the interval now 10 s: %d %s, want slow_down", r.Status, r.Body)
	}
	e.clock.Advance(16 * time.Second)
	if r := e.poll(c, da.DeviceCode); r.str("error") != oauth.ErrCodeAuthorizationPending {
		t.Errorf("a poll after the interval: %d %s, want authorization_pending", r.Status, r.Body)
	}

	// The verification page, then the decision (as the hosted pages or the
	// consent app make it).
	page := e.do(must(http.NewRequest(http.MethodGet, da.VerificationURIComplete, nil)))
	if page.Status != http.StatusOK || !strings.Contains(string(page.Body), da.UserCode) {
		t.Fatalf("the verification page: %d %s", page.Status, page.Body)
	}
	challenge := e.enterCode(strings.ToLower(strings.ReplaceAll(da.UserCode, "-", " ")))
	if ar, _, err := e.provider.GetAuthorization(ctx, challenge); err != nil || ar.ResponseType != oauth.CodeKindDevice || ar.ClientID != c.ID {
		t.Fatalf("the device's authorization request: %+v, %v", ar, err)
	}
	to, err := e.provider.Accept(ctx, challenge, oauth.Consent{Subject: "dev-user", ProviderID: "sandbox-bank"})
	if err != nil || to != e.srv.URL+oauth.DevicePath+"?result=approved" {
		t.Fatalf("accept: %q, %v", to, err)
	}
	if done := e.do(must(http.NewRequest(http.MethodGet, to, nil))); !strings.Contains(string(done.Body), "Device connected") {
		t.Errorf("the page after approval: %s", done.Body)
	}

	// x/oauth2 polls and gets the tokens (after the interval, now 15 s).
	e.clock.Advance(20 * time.Second)
	da.Interval = 1 // the test's patience; the grant is decided already
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tok, err := conf.DeviceAccessToken(pctx, da)
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("DeviceAccessToken: %+v, %v", tok, err)
	}
	if claims := e.verifyJWT(tok.AccessToken); claims["sub"] != "dev-user" || claims["client_id"] != c.ID {
		t.Errorf("the device's access token: %v", claims)
	}
	if r := e.refresh(c, tok.RefreshToken, ""); r.Status != http.StatusOK {
		t.Errorf("refresh: %d %s", r.Status, r.Body)
	}
	// The device code again: spent; its grant is revoked.
	e.clock.Advance(20 * time.Second)
	if r := e.poll(c, da.DeviceCode); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidGrant {
		t.Errorf("the device code again: %d %s, want invalid_grant", r.Status, r.Body)
	}
	if r := e.refresh(c, tok.RefreshToken, ""); r.Status != http.StatusBadRequest {
		t.Errorf("a refresh after the device code's reuse: %d %s, want 400", r.Status, r.Body)
	}
	// The user code is used up.
	if r := e.form(oauth.DevicePath, url.Values{"user_code": {da.UserCode}}, "Origin", e.srv.URL); r.Status != http.StatusBadRequest ||
		!strings.Contains(string(r.Body), "unknown or has expired") {
		t.Errorf("the user code again: %d %s", r.Status, r.Body)
	}
}

// TestDeviceRefusals: a denied request polls access_denied; an expired one
// expired_token; another client's poll is invalid_grant; a client without
// the grant gets no device code; a malformed or unknown user code shows the
// form again; the metadata names the endpoint and the grant.
func TestDeviceRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.deviceClient()
	authorize := func(who testClient) response {
		return e.form("/oauth/device_authorization", url.Values{"client_id": {who.ID}, "scope": {"accounts"}})
	}
	r := authorize(c)
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("device authorization: %d %v %s", r.Status, r.Header, r.Body)
	}
	challenge := e.enterCode(r.str("user_code"))
	to, err := e.provider.Reject(context.Background(), challenge, "")
	if err != nil || !strings.HasSuffix(to, "?result=denied") {
		t.Fatalf("reject: %q, %v", to, err)
	}
	if p := e.poll(c, r.str("device_code")); p.str("error") != oauth.ErrCodeAccessDenied {
		t.Errorf("a denied device's poll: %d %s, want access_denied", p.Status, p.Body)
	}
	if _, err := e.provider.Accept(context.Background(), e.enterCodeOrEmpty(r.str("user_code")), oauth.Consent{Subject: "x"}); err == nil {
		t.Error("a denied device's request accepted after all")
	}

	r = authorize(c)
	if p := e.poll(e.deviceClient(), r.str("device_code")); p.str("error") != oauth.ErrCodeInvalidGrant {
		t.Errorf("another client's poll: %d %s, want invalid_grant", p.Status, p.Body)
	}
	e.clock.Advance(11 * time.Minute)
	if p := e.poll(c, r.str("device_code")); p.str("error") != oauth.ErrCodeExpiredToken {
		t.Errorf("an expired device code's poll: %d %s, want expired_token", p.Status, p.Body)
	}
	if p := e.poll(c, "gdc_forged"); p.str("error") != oauth.ErrCodeExpiredToken && p.str("error") != oauth.ErrCodeInvalidGrant {
		t.Errorf("an unknown device code: %d %s", p.Status, p.Body)
	}

	if r := authorize(e.client(public)); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeUnauthorizedClient {
		t.Errorf("a client without the device grant: %d %s, want unauthorized_client", r.Status, r.Body)
	}
	if r := e.form("/oauth/device_authorization", url.Values{"client_id": {c.ID}, "scope": {"payroll"}}); r.str("error") != oauth.ErrCodeInvalidScope {
		t.Errorf("a scope the client may not ask: %d %s", r.Status, r.Body)
	}
	for _, bad := range []string{"", "BCDF-GHJ", "AAAA-AAAA", strings.Repeat("B", 40), "BCDF-GHJK"} {
		if r := e.form(oauth.DevicePath, url.Values{"user_code": {bad}}, "Origin", e.srv.URL); r.Status != http.StatusBadRequest ||
			!strings.Contains(string(r.Body), "unknown or has expired") {
			t.Errorf("user code %q: %d %s", bad, r.Status, r.Body)
		}
	}
	if r := e.form(oauth.DevicePath, url.Values{"user_code": {"BCDF-GHJK"}}, "Origin", "https://evil.example"); r.Status != http.StatusForbidden {
		t.Errorf("a cross-origin post of a user code: %d, want 403", r.Status)
	}
	md := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server", nil)))
	grants, _ := md.JSON["grant_types_supported"].([]any)
	if md.str("device_authorization_endpoint") != e.srv.URL+"/oauth/device_authorization" || !containsAny(grants, oauth.GrantDeviceCode) {
		t.Errorf("metadata: device_authorization_endpoint %q, grant_types_supported %v", md.str("device_authorization_endpoint"), grants)
	}
}

// enterCodeOrEmpty is enterCode for a code that may no longer lead anywhere:
// "" then.
func (e *env) enterCodeOrEmpty(code string) string {
	r := e.form(oauth.DevicePath, url.Values{"user_code": {code}}, "Origin", e.srv.URL)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc == nil {
		return ""
	}
	return loc.Query().Get("challenge")
}

func containsAny(list []any, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestDevicePollsCostNoRate: a device waiting for its user polls as long as
// it takes, paced by slow_down, without using up its client's tier (one
// waiting login would otherwise lock the client out of the token endpoint);
// the poll that redeems is counted.
func TestDevicePollsCostNoRate(t *testing.T) {
	e := newEnv(t)
	pol, err := policy.New(policy.Options{Tiers: map[string]policy.Tier{"tiny": {PerSecond: 0.001, Burst: 2}}, DefaultTier: "tiny", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.provider.Policy = pol
	c := e.deviceClient()
	r := e.form("/oauth/device_authorization", url.Values{"client_id": {c.ID}})
	if r.Status != http.StatusOK {
		t.Fatalf("device authorization: %d %s", r.Status, r.Body)
	}
	for i := range 6 {
		e.clock.Advance(6 * time.Second)
		if p := e.poll(c, r.str("device_code")); p.str("error") != oauth.ErrCodeAuthorizationPending {
			t.Fatalf("poll %d: %d %s, want authorization_pending (no rate taken)", i+1, p.Status, p.Body)
		}
	}
	ch := e.enterCode(r.str("user_code"))
	if _, err := e.provider.Accept(context.Background(), ch, oauth.Consent{Subject: "u", ProviderID: "sandbox-bank"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Second)
	if p := e.poll(c, r.str("device_code")); p.Status != http.StatusOK {
		t.Errorf("the poll after approval: %d %s", p.Status, p.Body)
	}
}
