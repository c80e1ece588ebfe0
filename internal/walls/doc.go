// Package walls keeps the walls between grantd's layers standing. It has no
// code of its own: its tests read the module's import graph (`go list -json
// ./...`, run by `go test ./...` in CI) and fail, naming the package and the
// import or use at fault, when one of these walls is broken:
//
//   - core: the protocol core (internal/oauth and every package under it)
//     imports no HTML package (html, html/template), no text/template, no SQL
//     (database/sql and below, or a SQL driver such as modernc.org/sqlite,
//     pgx, lib/pq or mattn/go-sqlite3), no net/http subpackage (httptest,
//     httputil, cookiejar, …), and of grantd's own packages only
//     internal/store (not its backends, nor internal/server, a dialect,
//     internal/web, internal/admin or internal/signer). It may import
//     net/http for the status codes its errors carry: its non-test files are
//     parsed, and every use of a net/http name other than a Status constant
//     (http.StatusBadRequest), under whatever name net/http is imported, is a
//     break: http.Request, http.ResponseWriter, http.Handler, http.Cookie,
//     http.Header, http.Error, http.StatusText, a dot import.
//     Why: the core decides every grant for every wire (the standard
//     endpoint, each dialect, the pages, the admin API). Kept free of HTTP,
//     HTML and SQL, it is one straight pipeline that no wire can bend, and it
//     is tested with plain values, without a server, a browser or a database.
//
//   - dialect: a dialect (every package under internal/dialect, and
//     internal/dialect itself), and internal/wire, which they share, import
//     neither internal/store (nor anything under it), nor internal/signer,
//     nor a SQL package; of grantd they import only internal/oauth,
//     internal/wire and the dialect packages.
//     Why: a dialect only translates its wire into the core's request and
//     the core's answer back. With the store or the keys in reach it could
//     decide or issue on its own, beside the pipeline's shared checks.
//
//   - backend: a store backend (every package under internal/store except
//     internal/store/storetest, internal/store/migration and
//     internal/store/postgres/pgtest) imports no grantd package other than
//     internal/store and internal/store/migration.
//     Why: a backend keeps the store's domain types and nothing more; grant
//     logic stays in the core, which the store calls back inside its
//     transactions, so the backends stay interchangeable under one
//     conformance suite (storetest).
//
//   - pages: internal/web and internal/admin import no dialect (nothing
//     under internal/dialect), not the public server, and no SQL package.
//     Why: the pages and the admin API call the core and the store. A
//     dialect is one provider's wire; leaning on it would tie them to that
//     wire and make the dialect a second core.
//
//   - cmd: no package under cmd/ imports database/sql or a SQL driver (pgx
//     included).
//     Why: SQL and the schema it assumes belong to the store backends, behind
//     the store interface, their migrations and the conformance suite; SQL in
//     a command is a second copy of the schema that none of them sees.
//
// Only what a package's non-test files import counts (go list's Imports, not
// TestImports or XTestImports): tests may use real drivers and servers.
//
// The walls are data (walls, in rules_test.go) and check is a pure function
// of a graph, so every rule is also tested on synthetic graphs, one per kind
// of break, and on a clean graph that must pass. docs/architecture.md states
// the walls in prose; change a wall there and here together.
package walls
