package admin

import (
	"net/http"
	"net/http/pprof"
	rpprof "runtime/pprof"
)

// profileRoutes serves profiles of the running server (net/http/pprof)
// under /admin/debug/pprof/ (profile, trace, heap, allocs, goroutine, …),
// behind the admin token like every admin route: fetch one with curl and
// the token, then `go tool pprof` the file (docs/benchmarks.md). They hold
// stack traces and sizes, never the contents of memory.
func (a *api) profileRoutes() {
	a.mux.HandleFunc("GET /admin/debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("GET /admin/debug/pprof/trace", pprof.Trace)
	a.mux.HandleFunc("GET /admin/debug/pprof/{name}", func(w http.ResponseWriter, r *http.Request) {
		p := rpprof.Lookup(r.PathValue("name"))
		if p == nil {
			writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Description: "No such profile."})
			return
		}
		pprof.Handler(p.Name()).ServeHTTP(w, r)
	})
}
