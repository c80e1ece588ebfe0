package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// TestDeviceFlowInBrowser: RFC 8628 end to end. A CLI (golang.org/x/oauth2's
// device flow, DeviceAuth then DeviceAccessToken) asks for a code; the user,
// in Chromium, opens verification_uri_complete, confirms the code, signs in
// on the hosted pages and allows; the page then says the device is
// connected, and the CLI's poll gets its tokens.
func TestDeviceFlowInBrowser(t *testing.T) {
	browser := startBrowser(t)
	g := startGrantd(t)
	cl := g.client(t, "http://127.0.0.1:9/unused", true)
	c, err := g.store.UpdateClient(context.Background(), cl.ID, func(s *store.Client) error {
		s.Name, s.GrantTypes, s.RedirectURIs = "Budget CLI", []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken}, nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: c.ID, Scopes: []string{"accounts"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: g.url + "/oauth/device_authorization", TokenURL: g.url + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.Background()
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}

	b := newTab(t, browser, screenshotDir(t), "device")
	b.do("open verification_uri_complete", chromedp.Navigate(da.VerificationURIComplete), chromedp.WaitVisible(chromedp.ID("user_code")))
	if got := eval[string](b, `document.getElementById("user_code").value`); got != da.UserCode {
		t.Fatalf("the code field holds %q, want %q", got, da.UserCode)
	}
	b.wantText("device page", "Connect a device", "Enter the code your device")
	b.shot("device-code")
	b.do("continue", chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(selChooser+`,#username`)))
	if eval[bool](b, `document.querySelector('button[name="provider_id"]') !== null`) {
		b.do("choose Sandbox Bank", chromedp.Click(chromedp.CSS(`button[value="sandbox-bank"]`)), chromedp.WaitVisible(chromedp.ID("username")))
	}
	b.signIn("cli-user@example.com", "correct horse battery")
	b.do("see the consent", chromedp.WaitVisible(chromedp.CSS(selApprove)))
	b.wantText("consent", "Budget CLI")
	b.do("allow", chromedp.Click(chromedp.CSS(selApprove)), chromedp.WaitVisible(chromedp.ID("device-done")))
	b.wantText("done", "Device connected", "return to your device")
	b.shot("device-done")

	da.Interval = 1 // decided already: the first poll gets the tokens
	pctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	tok, err := conf.DeviceAccessToken(pctx, da)
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("DeviceAccessToken: %+v, %v", tok, err)
	}
	claims := jwtClaims(t, tok.AccessToken)
	if claims["sub"] != "cli-user@example.com" || !strings.Contains(claims["scope"].(string), "accounts") {
		t.Errorf("the CLI's token: %v", claims)
	}
}
