package walls

import (
	"slices"
	"strings"
	"testing"
)

// statusUse is a use of a Status constant, which the core may make.
var statusUse = use{Pos: "internal/oauth/errors.go:10:9", Expr: "http.StatusBadRequest", Ident: "StatusBadRequest"}

// cleanGraph keeps every wall: each package imports what its wall allows
// and a little more (the server, storetest and pgtest are held by no wall).
func cleanGraph() []pkg {
	return []pkg{
		{Path: g("internal/oauth"), Imports: []string{"net/http", "net/url", g("internal/store"), g("internal/oauth/pkce")},
			HTTPUses: []use{statusUse}},
		{Path: g("internal/oauth/pkce"), Imports: []string{"crypto/sha256"}},
		{Path: g("internal/dialect"), Imports: []string{"net/http", g("internal/oauth")}},
		{Path: g("internal/dialect/bankdata"), Imports: []string{"net/http", g("internal/dialect"), g("internal/oauth"), g("internal/wire")}},
		{Path: g("internal/dialect/all"), Imports: []string{g("internal/dialect"), g("internal/dialect/bankdata")}},
		{Path: g("internal/wire"), Imports: []string{"encoding/json", "net/http", g("internal/oauth")}},
		{Path: g("internal/store"), Imports: []string{"context", "database/sql"}},
		{Path: g("internal/store/sqlite"), Imports: []string{"database/sql", "modernc.org/sqlite", g("internal/store"), g("internal/store/migration")}},
		{Path: g("internal/store/postgres"), Imports: []string{"github.com/jackc/pgx/v5", g("internal/store"), g("internal/store/migration")}},
		{Path: g("internal/store/postgres/pgtest"), Imports: []string{"github.com/jackc/pgx/v5", "testing"}},
		{Path: g("internal/store/storetest"), Imports: []string{g("internal/store"), g("internal/oauth"), "testing"}},
		{Path: g("internal/store/migration"), Imports: []string{"io/fs"}},
		{Path: g("internal/web"), Imports: []string{"html/template", "net/http", g("internal/oauth"), g("internal/store")}},
		{Path: g("internal/admin"), Imports: []string{"net/http", g("internal/oauth"), g("internal/store"), g("internal/signer")}},
		{Path: g("internal/server"), Imports: []string{"net/http", g("internal/dialect"), g("internal/oauth"), g("internal/store")}},
		{Path: g("cmd/grantd"), Imports: []string{g("internal/dialect/all"), g("internal/server"), g("internal/store/sqlite"), g("internal/store/postgres")}},
	}
}

// with is graph with p in place of the package of the same path, or added.
func with(graph []pkg, p pkg) []pkg {
	if i := slices.IndexFunc(graph, func(q pkg) bool { return q.Path == p.Path }); i >= 0 {
		graph[i] = p
		return graph
	}
	return append(graph, p)
}

func TestCheckCleanGraph(t *testing.T) {
	if vs := check(cleanGraph()); len(vs) > 0 {
		t.Errorf("a clean graph breaks walls:\n%s", report(vs))
	}
}

// wantOne checks that graph breaks exactly one wall, as want says.
func wantOne(t *testing.T, graph []pkg, want violation) {
	t.Helper()
	if got := check(graph); len(got) != 1 || got[0] != want {
		t.Errorf("check = %v\nwant exactly [%v]", got, want)
	}
}

// TestCheckEachImportBreak adds one import to one package of the clean
// graph, for each kind of import each wall keeps out.
func TestCheckEachImportBreak(t *testing.T) {
	core, bankdata, payroll := g("internal/oauth"), g("internal/dialect/bankdata"), g("internal/dialect/payroll")
	sqlite, postgres, cmd := g("internal/store/sqlite"), g("internal/store/postgres"), g("cmd/grantd")
	for _, tt := range []struct {
		name, wall, path, imp string
		ban                   ban
	}{
		{"core imports html/template", "core", core, "html/template", banHTML},
		{"core imports html", "core", core, "html", banHTML},
		{"core imports text/template", "core", core, "text/template", banTemplate},
		{"core imports database/sql", "core", core, "database/sql", banSQL},
		{"core imports database/sql/driver", "core", core, "database/sql/driver", banSQL},
		{"core imports the SQLite driver", "core", core, "modernc.org/sqlite", banDriver},
		{"core imports lib/pq", "core", core, "github.com/lib/pq", banDriver},
		{"core imports httptest", "core", core, "net/http/httptest", banHTTPSub},
		{"core imports cookiejar", "core", core, "net/http/cookiejar", banHTTPSub},
		{"core imports the server", "core", core, g("internal/server"), banCoreGrantd},
		{"core imports a dialect", "core", core, bankdata, banCoreGrantd},
		{"core imports the pages", "core", core, g("internal/web"), banCoreGrantd},
		{"core imports the signer", "core", core, g("internal/signer"), banCoreGrantd},
		{"core imports a backend", "core", core, sqlite, banCoreGrantd},
		{"core subpackage imports the admin API", "core", g("internal/oauth/pkce"), g("internal/admin"), banCoreGrantd},
		{"dialect imports the store", "dialect", bankdata, g("internal/store"), banStore},
		{"dialect imports the signer", "dialect", bankdata, g("internal/signer"), banSigner},
		{"dialect list imports a backend", "dialect", g("internal/dialect/all"), postgres, banStore},
		{"dialect interface imports the store", "dialect", g("internal/dialect"), g("internal/store"), banStore},
		{"dialect imports database/sql", "dialect", payroll, "database/sql", banSQL},
		{"dialect imports pgx", "dialect", payroll, "github.com/jackc/pgx/v5", banDriver},
		{"dialect imports the clients package", "dialect", payroll, g("internal/clients"), banDialectGrantd},
		{"dialect imports the server", "dialect", bankdata, g("internal/server"), banDialectGrantd},
		{"dialect imports the sealer", "dialect", bankdata, g("internal/seal"), banDialectGrantd},
		{"wire imports the store", "dialect", g("internal/wire"), g("internal/store"), banStore},
		{"wire imports database/sql", "dialect", g("internal/wire"), "database/sql", banSQL},
		{"wire imports the server", "dialect", g("internal/wire"), g("internal/server"), banDialectGrantd},
		{"backend imports the core", "backend", sqlite, core, banBackendDeps},
		{"backend imports the server", "backend", postgres, g("internal/server"), banBackendDeps},
		{"backend imports another backend", "backend", postgres, sqlite, banBackendDeps},
		{"backend imports its test helper", "backend", postgres, g("internal/store/postgres/pgtest"), banBackendDeps},
		{"new backend imports the core", "backend", g("internal/store/redis"), core, banBackendDeps},
		{"web imports a dialect", "pages", g("internal/web"), payroll, banDialect},
		{"admin imports a dialect", "pages", g("internal/admin"), g("internal/dialect/all"), banDialect},
		{"admin imports the dialect interface", "pages", g("internal/admin"), g("internal/dialect"), banDialect},
		{"web imports the server", "pages", g("internal/web"), g("internal/server"), banServer},
		{"admin imports database/sql", "pages", g("internal/admin"), "database/sql", banSQL},
		{"web imports pgx", "pages", g("internal/web"), "github.com/jackc/pgx/v5", banDriver},
		{"cmd imports database/sql", "cmd", cmd, "database/sql", banSQL},
		{"cmd imports pgx", "cmd", cmd, "github.com/jackc/pgx/v5", banDriver},
		{"cmd imports pgtype", "cmd", cmd, "github.com/jackc/pgx/v5/pgtype", banDriver},
		{"cmd imports the SQLite driver", "cmd", cmd, "modernc.org/sqlite/lib", banDriver},
		{"another command imports mattn/go-sqlite3", "cmd", g("cmd/grantd-tool"), "github.com/mattn/go-sqlite3", banDriver},
	} {
		t.Run(tt.name, func(t *testing.T) {
			graph := cleanGraph()
			p := pkg{Path: tt.path}
			if i := slices.IndexFunc(graph, func(q pkg) bool { return q.Path == tt.path }); i >= 0 {
				p = graph[i]
			}
			p.Imports = append(slices.Clone(p.Imports), tt.imp)
			wantOne(t, with(graph, p), violation{Wall: tt.wall, Pkg: tt.path, Fault: tt.imp, What: tt.ban.what})
		})
	}
}

// TestCheckEachUseBreak gives the core one use of net/http beyond its
// Status constants, beside the clean graph's http.StatusBadRequest.
func TestCheckEachUseBreak(t *testing.T) {
	core := g("internal/oauth")
	for name, u := range map[string]use{
		"core uses http.Request":       {Pos: "internal/oauth/a.go:3:9", Expr: "http.Request", Ident: "Request"},
		"core uses a renamed net/http": {Pos: "internal/oauth/a.go:4:9", Expr: "nethttp.ResponseWriter", Ident: "ResponseWriter"},
		"core calls http.Error":        {Pos: "internal/oauth/a.go:5:2", Expr: "http.Error", Ident: "Error"},
		"core calls http.StatusText":   {Pos: "internal/oauth/a.go:6:9", Expr: "http.StatusText", Ident: "StatusText"},
		"core dot-imports net/http":    {Pos: "internal/oauth/a.go:2:8", Expr: `import . "net/http"`},
	} {
		t.Run(name, func(t *testing.T) {
			p := pkg{Path: core, Imports: []string{"net/http"}, HTTPUses: []use{statusUse, u}}
			wantOne(t, with(cleanGraph(), p), violation{Wall: "core", Pkg: core, Fault: u.Pos + ": " + u.Expr, What: httpUseWhat, Use: true})
		})
	}
}

func TestReport(t *testing.T) {
	graph := with(cleanGraph(), pkg{Path: g("internal/dialect/bankdata"), Imports: []string{g("internal/store")}})
	graph = with(graph, pkg{Path: g("internal/oauth"), HTTPUses: []use{{Pos: "internal/oauth/a.go:3:9", Expr: "http.Request", Ident: "Request"}}})
	got := report(check(graph))
	for _, want := range []string{
		"2 breaks",
		`wall "core": ` + walls[0].rule,
		"why: " + walls[0].why,
		"  - internal/oauth uses internal/oauth/a.go:3:9: http.Request (" + httpUseWhat + ")\n",
		`wall "dialect": `,
		"  - internal/dialect/bankdata imports internal/store (" + banStore.what + ")\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `wall "cmd"`) {
		t.Errorf("report names a wall nothing breaks:\n%s", got)
	}
}

func TestIsStatusConst(t *testing.T) {
	for name, want := range map[string]bool{
		"StatusOK": true, "StatusBadRequest": true, "StatusIMUsed": true, "StatusTeapot": true,
		"StatusText": false, "Status": false, "Statusx": false, "Request": false, "": false,
	} {
		if got := isStatusConst(name); got != want {
			t.Errorf("isStatusConst(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestHTTPUses(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want []use
	}{{
		name: "renamed import: a Status constant and a type",
		src: `package oauth

import nethttp "net/http"

var code = nethttp.StatusBadRequest

func f(r *nethttp.Request) {}
`,
		want: []use{
			{Pos: "a.go:5:12", Expr: "nethttp.StatusBadRequest", Ident: "StatusBadRequest"},
			{Pos: "a.go:7:11", Expr: "nethttp.Request", Ident: "Request"},
		},
	}, {
		name: "a function call with a Status constant",
		src: `package oauth

import (
	"fmt"
	"net/http"
)

func f(w http.ResponseWriter) {
	http.Error(w, fmt.Sprint(1), http.StatusTeapot)
}
`,
		want: []use{
			{Pos: "a.go:8:10", Expr: "http.ResponseWriter", Ident: "ResponseWriter"},
			{Pos: "a.go:9:2", Expr: "http.Error", Ident: "Error"},
			{Pos: "a.go:9:31", Expr: "http.StatusTeapot", Ident: "StatusTeapot"},
		},
	}, {
		name: "dot import",
		src: `package oauth

import . "net/http"

var _ = StatusOK
`,
		want: []use{{Pos: "a.go:3:8", Expr: `import . "net/http"`}},
	}, {
		name: "blank import",
		src: `package oauth

import _ "net/http"
`,
	}, {
		name: "another package named http",
		src: `package oauth

import "example.com/http"

var _ = http.Request
`,
	}, {
		name: "a field named http",
		src: `package oauth

import "net/url"

type s struct{ http *url.URL }

func (v s) f() string { return v.http.Host }
`,
	}} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := httpUses("a.go", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("httpUses = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := httpUses("a.go", []byte("package oauth\nfunc {")); err == nil {
		t.Error("httpUses accepted a file that does not parse")
	}
}

// TestHTTPUsesThroughCheck runs a parsed file through check: the Status
// constant passes, the type and the call are breaks.
func TestHTTPUsesThroughCheck(t *testing.T) {
	uses, err := httpUses("internal/oauth/a.go", []byte(`package oauth

import nethttp "net/http"

func f(h nethttp.Header) int { nethttp.NotFound(nil, nil); return nethttp.StatusNotFound }
`))
	if err != nil {
		t.Fatal(err)
	}
	core := g("internal/oauth")
	got := check(with(cleanGraph(), pkg{Path: core, Imports: []string{"net/http"}, HTTPUses: uses}))
	want := []violation{
		{Wall: "core", Pkg: core, Fault: "internal/oauth/a.go:5:10: nethttp.Header", What: httpUseWhat, Use: true},
		{Wall: "core", Pkg: core, Fault: "internal/oauth/a.go:5:32: nethttp.NotFound", What: httpUseWhat, Use: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("check = %v\nwant %v", got, want)
	}
}
