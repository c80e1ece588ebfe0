package all_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/oauth"
)

// profileTable renders every endpoint's profile as the Markdown table that
// docs/dialects.md carries between its profiles markers.
func profileTable() string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	var b strings.Builder
	b.WriteString("| dialect | path | grants | code kind | refresh tokens | refresh policy | until consent end | `redirect_uri` | `code_verifier` (PKCE) | clients |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, d := range all.Endpoints() {
		p := d.Profile()
		code, policy := "—", "—"
		if p.RefreshTokens {
			policy = or(p.RefreshPolicy, "the client's")
		}
		for _, g := range p.Grants {
			if g == oauth.GrantAuthorizationCode {
				code = "`" + or(p.CodeKind, oauth.CodeKindCode) + "`"
			}
		}
		b.WriteString("| `" + d.Name() + "` | `POST " + d.Path() + "` | " + strings.Join(p.Grants, ", ") + " | " + code +
			" | " + yes(p.RefreshTokens) + " | " + policy + " | " + yes(p.UntilConsentEnd) + " | " + yes(p.RedirectURI) +
			" | " + yes(p.PKCE) + " | " + p.Clients + " |\n")
	}
	return b.String()
}

// TestProfilesTable: the profiles table of docs/dialects.md is the code's.
// Run with -update to rewrite it.
func TestProfilesTable(t *testing.T) {
	path := filepath.Join("..", "..", "..", "docs", "dialects.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- profiles:begin (generated: go test ./internal/dialect/all -update) -->\n", "<!-- profiles:end -->"
	doc := string(raw)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no profiles table between %q and %q", path, begin, end)
	}
	want := profileTable()
	if got := doc[i+len(begin) : j]; got != want {
		if *update {
			if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the profiles table of %s is not the code's (go test ./internal/dialect/all -update):\n--- doc\n%s--- code\n%s", path, got, want)
	}
}

// TestEndpoints: every endpoint has a distinct name and path, and a profile
// that serves at least one grant the core knows.
func TestEndpoints(t *testing.T) {
	names, paths := map[string]bool{}, map[string]bool{}
	for _, d := range all.Endpoints() {
		if names[d.Name()] || paths[d.Path()] {
			t.Errorf("%s at %s: name or path taken twice", d.Name(), d.Path())
		}
		names[d.Name()], paths[d.Path()] = true, true
		p := d.Profile()
		if len(p.Grants) == 0 || (p.Clients != oauth.ClientsAll && p.Clients != oauth.ClientsConfidential) {
			t.Errorf("%s: profile %+v", d.Name(), p)
		}
		for _, g := range p.Grants {
			switch g {
			case oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantDeviceCode:
			default:
				t.Errorf("%s: grant %q", d.Name(), g)
			}
		}
	}
}
