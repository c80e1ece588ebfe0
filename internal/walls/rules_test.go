package walls

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// module is grantd's module path. TestWalls checks that go list agrees, so
// that a rename cannot leave every wall holding nothing.
const module = "github.com/grantd/grantd"

// g is the import path of a grantd package: g("internal/store").
func g(rel string) string { return module + "/" + rel }

// pkg is one package of the module as the walls see it.
type pkg struct {
	Path    string   // import path
	Imports []string // what its non-test files import
	// HTTPUses lists the uses of net/http names in its non-test files
	// (filled for the packages a wall with httpOnlyStatus holds).
	HTTPUses []use
}

// use is one use of a name of net/http in a Go file.
type use struct {
	Pos   string // file:line:column
	Expr  string // as written: "http.Request", "nethttp.StatusOK"
	Ident string // the name in net/http ("Request"); "" for a dot import
}

// violation is one break of one wall.
type violation struct {
	Wall  string // the wall's id
	Pkg   string // the package that breaks it
	Fault string // the import at fault, or the use ("file:line:col: http.Request")
	What  string // what the wall keeps out that Fault is
	Use   bool   // Fault is a use of net/http, not an import
}

func (v violation) String() string { return fmt.Sprintf("wall %q: %s", v.Wall, v.line()) }

// line is the break without its wall:
// "internal/dialect/bankdata imports internal/store (the store or a store backend)".
func (v violation) line() string {
	if v.Use {
		return fmt.Sprintf("%s uses %s (%s)", short(v.Pkg), v.Fault, v.What)
	}
	return fmt.Sprintf("%s imports %s (%s)", short(v.Pkg), short(v.Fault), v.What)
}

// short drops the module path from grantd's import paths.
func short(path string) string {
	if rel, ok := strings.CutPrefix(path, module+"/"); ok {
		return rel
	}
	return path
}

// ban is one kind of import a wall keeps out.
type ban struct {
	what  string // in the violation: "an HTML package"
	match func(importPath string) bool
}

// wall is one rule: the packages it holds, what they may not import, and why.
type wall struct {
	id    string
	rule  string // the wall in one line
	why   string // why the wall exists
	holds func(path string) bool
	bans  []ban // the first that matches an import names the break
	// httpOnlyStatus: net/http may be imported, for its Status constants
	// only; every other use of it (pkg.HTTPUses) is a break.
	httpOnlyStatus bool
}

// under reports whether path is prefix or a package below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// in matches the packages under any of prefixes (themselves included).
func in(prefixes ...string) func(string) bool {
	return func(path string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return under(path, p) })
	}
}

// is matches exactly paths.
func is(paths ...string) func(string) bool {
	return func(path string) bool { return slices.Contains(paths, path) }
}

// grantdBut matches every grantd package that none of allowed matches.
func grantdBut(allowed ...func(string) bool) func(string) bool {
	return func(path string) bool {
		return under(path, module) && !slices.ContainsFunc(allowed, func(ok func(string) bool) bool { return ok(path) })
	}
}

// sqlDrivers are the module paths of SQL drivers (pgx included: the
// PostgreSQL backend uses it without database/sql).
var sqlDrivers = []string{
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/jackc/pgconn",
	"github.com/jackc/pgtype",
	"github.com/lib/pq",
	"github.com/mattn/go-sqlite3",
	"github.com/ncruces/go-sqlite3",
	"github.com/go-sql-driver/mysql",
}

// The bans, named so that the tests can refer to them.
var (
	banHTML        = ban{"an HTML package", in("html")}
	banTemplate    = ban{"a text template package", in("text/template")}
	banHTTPSub     = ban{"a net/http subpackage", func(p string) bool { return strings.HasPrefix(p, "net/http/") }}
	banSQL         = ban{"the database/sql package", in("database/sql")}
	banDriver      = ban{"a SQL driver", in(sqlDrivers...)}
	banCoreGrantd  = ban{"a grantd package other than internal/store", grantdBut(in(g("internal/oauth")), is(g("internal/store")))}
	banStore       = ban{"the store or a store backend", in(g("internal/store"))}
	banSigner      = ban{"the signer (the keys)", in(g("internal/signer"))}
	banBackendDeps = ban{"a grantd package other than internal/store and internal/store/migration",
		grantdBut(is(g("internal/store"), g("internal/store/migration")))}
	banDialect = ban{"a dialect", in(g("internal/dialect"))}
	// A dialect may use, of grantd, only the dialect packages, the core
	// and the shared wire; the wire only the core.
	banDialectGrantd = ban{"a grantd package other than internal/oauth, internal/wire and the dialects",
		grantdBut(in(g("internal/dialect")), is(g("internal/oauth"), g("internal/wire")))}
	banServer = ban{"the public server", in(g("internal/server"))}
)

// httpUseWhat is what a use of net/http beyond its Status constants is.
const httpUseWhat = "net/http beyond its Status constants"

// isBackend reports whether path is a store backend: any package under
// internal/store but the conformance suite, the migration runner and the
// PostgreSQL test helper.
func isBackend(path string) bool {
	return strings.HasPrefix(path, g("internal/store")+"/") &&
		!in(g("internal/store/storetest"), g("internal/store/migration"), g("internal/store/postgres/pgtest"))(path)
}

// walls are the walls of docs/architecture.md; doc.go explains each.
var walls = []wall{{
	id:    "core",
	rule:  "the protocol core (internal/oauth/...) imports no HTTP, HTML or SQL package, and of grantd only internal/store; net/http only for its Status constants",
	why:   "the core decides every grant for every wire; free of HTTP, HTML and SQL it is one pipeline no wire can bend, tested with plain values",
	holds: in(g("internal/oauth")),
	bans:  []ban{banHTML, banTemplate, banHTTPSub, banSQL, banDriver, banCoreGrantd},

	httpOnlyStatus: true,
}, {
	id:    "dialect",
	rule:  "a dialect (internal/dialect/...), and the wire they share (internal/wire), never touch the store, the keys or SQL: of grantd they use only the core, the wire and the dialect packages",
	why:   "a dialect turns its wire into the core's request and the core's answer back; with the store or the keys in reach it could decide or issue beside the pipeline's shared checks",
	holds: in(g("internal/dialect"), g("internal/wire")),
	bans:  []ban{banStore, banSigner, banSQL, banDriver, banDialectGrantd},
}, {
	id:    "backend",
	rule:  "a store backend (internal/store/... but storetest, migration, postgres/pgtest) imports of grantd only internal/store and internal/store/migration",
	why:   "a backend keeps the store's domain types and nothing more; grant logic stays in the core, so the backends stay interchangeable under one conformance suite",
	holds: isBackend,
	bans:  []ban{banBackendDeps},
}, {
	id:    "pages",
	rule:  "the pages (internal/web) and the admin API (internal/admin) call the core and the store, never a dialect, the public server or SQL",
	why:   "a dialect is one provider's wire; leaning on it would tie the pages or the admin API to that wire and make the dialect a second core; SQL belongs to the backends",
	holds: in(g("internal/web"), g("internal/admin")),
	bans:  []ban{banDialect, banServer, banSQL, banDriver},
}, {
	id:    "cmd",
	rule:  "the commands (cmd/...) import no database/sql and no SQL driver: they go through the store",
	why:   "SQL and the schema it assumes belong to the store backends, behind the store interface, their migrations and the conformance suite; SQL in a command is a second copy of the schema none of them sees",
	holds: in(g("cmd")),
	bans:  []ban{banSQL, banDriver},
}}

// wantsHTTPUses reports whether a wall needs the net/http uses of path.
func wantsHTTPUses(path string) bool {
	return slices.ContainsFunc(walls, func(w wall) bool { return w.httpOnlyStatus && w.holds(path) })
}

// isStatusConst reports whether name is one of net/http's status-code
// constants (StatusOK, StatusBadRequest, …): StatusText is a function.
func isStatusConst(name string) bool {
	rest, ok := strings.CutPrefix(name, "Status")
	return ok && rest != "" && unicode.IsUpper(rune(rest[0])) && name != "StatusText"
}

// check returns every break of every wall in pkgs, wall by wall, in the
// order of pkgs and of their imports.
func check(pkgs []pkg) []violation {
	var vs []violation
	for _, w := range walls {
		for _, p := range pkgs {
			if !w.holds(p.Path) {
				continue
			}
			for _, imp := range p.Imports {
				if i := slices.IndexFunc(w.bans, func(b ban) bool { return b.match(imp) }); i >= 0 {
					vs = append(vs, violation{Wall: w.id, Pkg: p.Path, Fault: imp, What: w.bans[i].what})
				}
			}
			if !w.httpOnlyStatus {
				continue
			}
			for _, u := range p.HTTPUses {
				if !isStatusConst(u.Ident) {
					vs = append(vs, violation{Wall: w.id, Pkg: p.Path, Fault: u.Pos + ": " + u.Expr, What: httpUseWhat, Use: true})
				}
			}
		}
	}
	return vs
}

// report writes vs (as check orders them) wall by wall, with each wall's
// rule and reason once.
func report(vs []violation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d breaks of the walls between grantd's layers (docs/architecture.md, internal/walls/doc.go):\n", len(vs))
	for _, w := range walls {
		mine := slices.DeleteFunc(slices.Clone(vs), func(v violation) bool { return v.Wall != w.id })
		if len(mine) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nwall %q: %s\n  why: %s\n", w.id, w.rule, w.why)
		for _, v := range mine {
			fmt.Fprintf(&b, "  - %s\n", v.line())
		}
	}
	return b.String()
}
