package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/store"
)

func (e *env) postBalance(id string, amount int64, reason, key string) resp {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"amount": amount, "reason": reason, "idempotency_key": key})
	return e.call("POST", "/admin/clients/"+id+"/balance", string(b))
}

func TestBalance(t *testing.T) {
	e := newEnv(t)
	id := e.createClient(`{"name":"Metered","metered":true}`).str("client_id")
	plain := e.createClient(`{"name":"Plain"}`).str("client_id")
	od := e.createClient(`{"name":"Overdraft","metered":true,"overdraft":true}`).str("client_id")

	// Before any change: balance 0, updated_at null (the four
	// fields are always there).
	g := e.call("GET", "/admin/clients/"+id+"/balance", "")
	if g.status != 200 || string(g.raw) != `{"client_id":"`+id+`","metered":true,"balance":0,"updated_at":null}`+"\n" {
		t.Fatalf("balance: %d %s", g.status, g.raw)
	}
	if g := e.call("GET", "/admin/clients/"+plain+"/balance", ""); g.status != 200 || g.body["metered"] != false {
		t.Errorf("balance of a client that is not metered: %d %s", g.status, g.raw)
	}

	// A top-up: 201 with the entry and the balance after it.
	e.clock.Advance(time.Minute)
	r := e.postBalance(id, 500, "invoice 2026-03", "inv-2026-03")
	if r.status != http.StatusCreated {
		t.Fatalf("top-up: %d %s", r.status, r.raw)
	}
	entry, _ := r.body["entry"].(map[string]any)
	if r.str("client_id") != id || r.body["balance"] != 500.0 || entry["kind"] != "topup" || entry["amount"] != 500.0 ||
		entry["balance"] != 500.0 || entry["reason"] != "invoice 2026-03" || entry["idempotency_key"] != "inv-2026-03" ||
		entry["created_at"] != "2026-03-01T12:01:00Z" || entry["id"] == "" {
		t.Errorf("top-up answer %s", r.raw)
	}
	if _, ok := entry["grant_type"]; ok {
		t.Errorf("a top-up has a grant_type: %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}

	// The same key again: 200 and the same answer, applied once, even
	// after the balance moved.
	e.clock.Advance(time.Minute)
	if d := e.postBalance(id, -200, "api calls", "use-1"); d.status != 201 || d.body["balance"] != 300.0 || d.body["entry"].(map[string]any)["kind"] != "debit" {
		t.Fatalf("debit: %d %s", d.status, d.raw)
	}
	for range 2 {
		again := e.postBalance(id, 500, "invoice 2026-03", "inv-2026-03")
		if again.status != http.StatusOK || !bytes.Equal(again.raw, r.raw) {
			t.Errorf("replay: %d %s, want 200 %s", again.status, again.raw, r.raw)
		}
	}
	g = e.call("GET", "/admin/clients/"+id+"/balance", "")
	if g.body["balance"] != 300.0 || g.str("updated_at") != "2026-03-01T12:02:00Z" {
		t.Errorf("balance after a top-up, a debit and two replays: %s", g.raw)
	}

	// Refusals.
	wantError(t, e.postBalance(id, 499, "invoice 2026-03", "inv-2026-03"), 409, "idempotency_conflict")
	wantError(t, e.postBalance(id, -301, "api calls", "use-2"), 409, "insufficient_balance")
	wantError(t, e.postBalance(plain, 10, "top-up", "k"), 409, "not_metered")
	wantError(t, e.postBalance("no-such-client", 10, "top-up", "k"), 404, "not_found")
	wantError(t, e.call("GET", "/admin/clients/no-such-client/balance", ""), 404, "not_found")
	if g := e.call("GET", "/admin/clients/"+id+"/balance", ""); g.body["balance"] != 300.0 {
		t.Errorf("refused changes moved the balance: %s", g.raw)
	}

	// Overdraft lets a debit go below zero.
	if d := e.postBalance(od, -50, "api calls", "o-1"); d.status != 201 || d.body["balance"] != -50.0 {
		t.Errorf("overdraft debit: %d %s", d.status, d.raw)
	}

	for _, tt := range []struct {
		name, body string
		want       []string
	}{
		{"every problem at once", `{"amount":0,"reason":"","idempotency_key":"a b"}`,
			[]string{"amount is required", "reason is required", "idempotency_key must be printable ASCII"}},
		{"nothing", `{}`, []string{"amount is required", "reason is required", "idempotency_key is required"}},
		{"too much", `{"amount":1000000000001,"reason":"r","idempotency_key":"k"}`, []string{"amount must be at most 1000000000000"}},
		{"long reason", `{"amount":1,"reason":"` + strings.Repeat("r", 257) + `","idempotency_key":"k"}`, []string{"reason is longer than 256"}},
		{"long key", `{"amount":1,"reason":"r","idempotency_key":"` + strings.Repeat("k", 256) + `"}`, []string{"idempotency_key is longer than 255"}},
		{"fraction", `{"amount":1.5,"reason":"r","idempotency_key":"k"}`, []string{"amount"}},
		{"string amount", `{"amount":"5","reason":"r","idempotency_key":"k"}`, []string{"amount"}},
		{"unknown field", `{"amount":5,"reason":"r","idempotency_key":"k","currency":"EUR"}`, []string{"currency"}},
		{"no body", ``, []string{"body is required"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("POST", "/admin/clients/"+id+"/balance", tt.body)
			wantError(t, r, 400, "invalid_request")
			for _, w := range tt.want {
				if !strings.Contains(r.str("error_description"), w) {
					t.Errorf("%q lacks %q", r.str("error_description"), w)
				}
			}
		})
	}
	wantError(t, e.call("DELETE", "/admin/clients/"+id+"/balance", ""), 405, "method_not_allowed")
	wantError(t, e.call("POST", "/admin/clients/"+id+"/ledger", "{}"), 405, "method_not_allowed")
	if logs := e.logs.String(); !strings.Contains(logs, `msg="admin: balance adjusted" client_id=`+id) {
		t.Errorf("no log line of the change:\n%s", logs)
	}
}

// TestBalanceConcurrentReplays: one idempotency key posted by many callers
// at once applies once, and everyone gets the same answer, on the real
// SQLite store.
func TestBalanceConcurrentReplays(t *testing.T) {
	e := newEnv(t)
	id := e.createClient(`{"name":"Metered","metered":true}`).str("client_id")
	const n = 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		bodies   = map[string]bool{}
	)
	for range n {
		wg.Go(func() {
			r := e.postBalance(id, 7, "top-up", "once")
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			bodies[string(r.raw)] = true
		})
	}
	wg.Wait()
	if statuses[201] != 1 || statuses[200] != n-1 || len(bodies) != 1 {
		t.Errorf("statuses %v, %d different bodies: %v", statuses, len(bodies), bodies)
	}
	if g := e.call("GET", "/admin/clients/"+id+"/balance", ""); g.body["balance"] != 7.0 {
		t.Errorf("balance %s, want 7", g.raw)
	}
	l := e.call("GET", "/admin/clients/"+id+"/ledger", "")
	if es, _ := l.body["entries"].([]any); len(es) != 1 {
		t.Errorf("ledger %s", l.raw)
	}
}

// walk follows next_cursor from path (which has its limit) and returns
// every item of the list field, and the number of pages.
func (e *env) walk(path, field string) (items []map[string]any, pages int) {
	e.t.Helper()
	cursor := ""
	for {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.call("GET", p, "")
		if r.status != 200 {
			e.t.Fatalf("GET %s: %d %s", p, r.status, r.raw)
		}
		list, ok := r.body[field].([]any)
		if !ok {
			e.t.Fatalf("GET %s: no %s list in %s", p, field, r.raw)
		}
		for _, it := range list {
			items = append(items, it.(map[string]any))
		}
		pages++
		next, present := r.body["next_cursor"]
		if !present {
			return items, pages
		}
		if cursor = next.(string); cursor == "" || pages > 100 {
			e.t.Fatalf("GET %s: next_cursor %q", p, next)
		}
	}
}

func ids(items []map[string]any, key string) []string {
	var out []string
	for _, it := range items {
		out = append(out, it[key].(string))
	}
	return out
}

func TestLedger(t *testing.T) {
	e := newEnv(t)
	id := e.createClient(`{"name":"Metered","metered":true}`).str("client_id")
	var want []string // newest first
	for i := range 7 {
		e.clock.Advance(time.Second)
		r := e.postBalance(id, int64(10+i), fmt.Sprintf("top-up %d", i), fmt.Sprintf("k%d", i))
		if r.status != 201 {
			t.Fatalf("top-up %d: %d %s", i, r.status, r.raw)
		}
		want = slices.Insert(want, 0, r.body["entry"].(map[string]any)["id"].(string))
	}
	for _, limit := range []int{1, 2, 3, 7, 500} {
		items, pages := e.walk(fmt.Sprintf("/admin/clients/%s/ledger?limit=%d", id, limit), "entries")
		if got := ids(items, "id"); !slices.Equal(got, want) {
			t.Errorf("limit %d: %q, want %q", limit, got, want)
		}
		if wantPages := (7 + limit - 1) / limit; pages < wantPages || pages > wantPages+1 {
			t.Errorf("limit %d: %d pages", limit, pages)
		}
	}
	all := e.call("GET", "/admin/clients/"+id+"/ledger", "")
	es, _ := all.body["entries"].([]any)
	if len(es) != 7 || es[0].(map[string]any)["balance"] != float64(10+11+12+13+14+15+16) {
		t.Errorf("default page: %s", all.raw)
	}
	if _, ok := all.body["next_cursor"]; ok {
		t.Errorf("a last page with a next_cursor: %s", all.raw)
	}
	empty := e.createClient(`{"name":"Nothing yet","metered":true}`).str("client_id")
	if r := e.call("GET", "/admin/clients/"+empty+"/ledger", ""); r.status != 200 || string(r.raw) != "{\"entries\":[]}\n" {
		t.Errorf("empty ledger: %d %s", r.status, r.raw)
	}
	wantError(t, e.call("GET", "/admin/clients/nobody/ledger", ""), 404, "not_found")
	for _, q := range []string{"limit=0", "limit=501", "limit=ten", "limit=-1", "limit=1&limit=2", "cursor=a&cursor=b",
		"cursor=" + strings.Repeat("c", 513), "cursor=%00", "cursor=seven", "cursor=-1"} {
		wantError(t, e.call("GET", "/admin/clients/"+id+"/ledger?"+q, ""), 400, "invalid_request")
	}
}

func TestClientsPagination(t *testing.T) {
	e := newEnv(t)
	var want []string // oldest first
	for i := range 7 {
		e.clock.Advance(time.Millisecond)
		want = append(want, e.createClient(fmt.Sprintf(`{"name":"c%d"}`, i)).str("client_id"))
	}
	for _, limit := range []int{1, 3, 7, 50} {
		items, _ := e.walk(fmt.Sprintf("/admin/clients?limit=%d", limit), "clients")
		if got := ids(items, "client_id"); !slices.Equal(got, want) {
			t.Errorf("limit %d: %q, want %q", limit, got, want)
		}
	}
	first := e.call("GET", "/admin/clients?limit=3", "")
	if cs, _ := first.body["clients"].([]any); len(cs) != 3 || first.str("next_cursor") == "" {
		t.Errorf("first page: %s", first.raw)
	}
	// Without a limit: the default page, here everything, and no cursor.
	all := e.call("GET", "/admin/clients", "")
	if cs, _ := all.body["clients"].([]any); len(cs) != 7 {
		t.Errorf("default page: %s", all.raw)
	}
	if _, ok := all.body["next_cursor"]; ok {
		t.Errorf("next_cursor on the last page: %s", all.raw)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "limit=1&limit=1", "cursor=" + strings.Repeat("c", 513)} {
		wantError(t, e.call("GET", "/admin/clients?"+q, ""), 400, "invalid_request")
	}
}

func TestConnectionsPagination(t *testing.T) {
	e := newEnv(t)
	a := e.createClient(`{"name":"A","redirect_uris":["https://acme.example/cb"],"scope":"accounts"}`).str("client_id")
	b := e.createClient(`{"name":"B","redirect_uris":["https://acme.example/cb"],"scope":"accounts"}`).str("client_id")
	connect := func(clientID string, i int) {
		e.clock.Advance(time.Second)
		ch := e.authorize(clientID, "code", "accounts", "s")
		redirectQuery(t, e.call("POST", "/admin/authorizations/"+ch+"/accept", fmt.Sprintf(`{"subject":"user-%d"}`, i)))
	}
	for i := range 5 {
		connect(a, i)
		if i%2 == 0 {
			connect(b, 100+i)
		}
	}
	// Newest first, every page, with and without the client filter.
	allItems, _ := e.walk("/admin/connections?limit=50", "connections")
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/admin/connections?limit=2", 8},
		{"/admin/connections?limit=3&client_id=" + url.QueryEscape(a), 5},
		{"/admin/connections?limit=1&client_id=" + url.QueryEscape(b), 3},
	} {
		items, _ := e.walk(tt.path, "connections")
		if len(items) != tt.want {
			t.Errorf("%s: %d connections, want %d", tt.path, len(items), tt.want)
		}
		var prev string
		seen := map[string]bool{}
		for _, it := range items {
			if seen[it["id"].(string)] {
				t.Errorf("%s: %s twice", tt.path, it["id"])
			}
			seen[it["id"].(string)] = true
			if c := it["created_at"].(string); prev != "" && c > prev {
				t.Errorf("%s: not newest first: %s after %s", tt.path, c, prev)
			}
			prev = it["created_at"].(string)
		}
	}
	if got, want := ids(allItems, "subject"), []string{"user-104", "user-4", "user-3", "user-102", "user-2", "user-1", "user-100", "user-0"}; !slices.Equal(got, want) {
		t.Errorf("all connections: %q, want %q", got, want)
	}
	for _, q := range []string{"limit=0", "limit=501", "client_id=a&client_id=b", "cursor=%7F", "cursor=!!", "cursor=bm90LWEtY3Vyc29y"} {
		wantError(t, e.call("GET", "/admin/connections?"+q, ""), 400, "invalid_request")
	}
}

func TestClientStateAudit(t *testing.T) {
	e := newEnv(t)
	auditLines := func() []string {
		var out []string
		for l := range strings.SplitSeq(e.logs.String(), "\n") {
			if strings.Contains(l, `msg="client state changed"`) {
				out = append(out, l[strings.Index(l, "client_id="):])
			}
		}
		return out
	}
	active := e.createClient(`{"name":"Active"}`).str("client_id")
	if l := auditLines(); len(l) != 0 {
		t.Fatalf("an active client's creation is no state change: %q", l)
	}
	r := e.createClient(`{"name":"Pending","state":"pending","state_reason":"KYC review"}`)
	id := r.str("client_id")
	if r.str("state_changed_at") != "2026-03-01T12:00:00Z" || r.str("state_reason") != "KYC review" {
		t.Errorf("create answer %s", r.raw)
	}
	e.clock.Advance(time.Hour)
	for _, body := range []string{
		`{"name":"Pending 2"}`, // no change
		`{"state":"active"}`,   // pending → active, the reason goes
		`{"state":"suspended","state_reason":"chargebacks on invoice 7"}`,
		`{"state_reason":"chargebacks on invoices 7 and 8"}`, // the reason alone: no change of state
	} {
		if p := e.call("PATCH", "/admin/clients/"+id, body); p.status != 200 {
			t.Fatalf("patch %s: %d %s", body, p.status, p.raw)
		}
	}
	if p := e.call("PATCH", "/admin/clients/"+active, `{"state":"active"}`); p.status != 200 {
		t.Fatalf("patch: %d %s", p.status, p.raw)
	}
	want := []string{
		`client_id=` + id + ` from="" to=pending reason="KYC review"`,
		`client_id=` + id + ` from=pending to=active reason=""`,
		`client_id=` + id + ` from=active to=suspended reason="chargebacks on invoice 7"`,
	}
	if got := auditLines(); !slices.Equal(got, want) {
		t.Errorf("audit lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	g := e.call("GET", "/admin/clients/"+id, "")
	if g.str("state") != "suspended" || g.str("state_reason") != "chargebacks on invoices 7 and 8" ||
		g.str("state_changed_at") != "2026-03-01T13:00:00Z" {
		t.Errorf("view %s", g.raw)
	}
}

func TestClientPolicyFields(t *testing.T) {
	e := newEnvWith(t, func(m *clients.Manager) {
		m.Tiers, m.DefaultTier = []string{"free", "pro", "enterprise"}, "free"
	})
	r := e.createClient(`{"name":"Metered","metered":true,"overdraft":true,
		"operating_hours":{"time_zone":"Europe/Bucharest","weekly":{"mon":["09:00-17:00"]},"closed_dates":["2026-12-25"]}}`)
	id := r.str("client_id")
	g := e.call("GET", "/admin/clients/"+id, "")
	for k, want := range map[string]any{
		"state": "active", "state_reason": "", "state_changed_at": "2026-03-01T12:00:00Z", "tier": "free",
		"metered": true, "balance": 0.0, "overdraft": true,
		"operating_hours": map[string]any{"time_zone": "Europe/Bucharest", "weekly": map[string]any{"mon": []any{"09:00-17:00"}},
			"closed_dates": []any{"2026-12-25"}},
	} {
		gj, _ := json.Marshal(g.body[k])
		wj, _ := json.Marshal(want)
		if !bytes.Equal(gj, wj) {
			t.Errorf("%s = %s, want %s", k, gj, wj)
		}
	}
	if _, ok := g.body["first_token_at"]; ok {
		t.Errorf("first_token_at of a client that never obtained a token: %s", g.raw)
	}
	if e.postBalance(id, 40, "top-up", "k").status != 201 {
		t.Fatal("top-up failed")
	}
	// PATCH keeps the balance; balance is no field of a registration.
	if p := e.call("PATCH", "/admin/clients/"+id, `{"tier":"pro","operating_hours":null}`); p.status != 200 ||
		p.body["balance"] != 40.0 || p.str("tier") != "pro" || p.body["operating_hours"] != nil {
		t.Errorf("patch: %d %s", p.status, p.raw)
	}
	r2 := e.call("PATCH", "/admin/clients/"+id, `{"balance":1000000}`)
	wantError(t, r2, 400, "invalid_request")
	if !strings.Contains(r2.str("error_description"), "POST /admin/clients/{id}/balance") {
		t.Errorf("balance in a patch: %s", r2.raw)
	}
	wantError(t, e.call("POST", "/admin/clients", `{"name":"x","balance":5}`), 400, "invalid_request")

	for _, tt := range []struct {
		name, body string
		code       string
		want       []string
	}{
		{"unknown tier", `{"name":"x","tier":"gold"}`, "invalid_client_metadata", []string{`tier "gold" is not one of free, pro, enterprise`}},
		{"overdraft without metering", `{"name":"x","overdraft":true}`, "invalid_client_metadata", []string{"overdraft applies only to metered clients"}},
		{"bad schedule with other problems", `{"name":"","tier":"gold","operating_hours":{"time_zone":"Mars/Olympus","weekly":{"mon":["25:00-26:00"]}}}`,
			"invalid_client_metadata", []string{"name is required", "tier", "operating_hours: "}},
		{"unknown schedule member", `{"name":"x","operating_hours":{"time_zone":"UTC","open":"always"}}`, "invalid_request", []string{"operating_hours"}},
		{"schedule of the wrong type", `{"name":"x","operating_hours":"9-5"}`, "invalid_request", []string{"operating_hours"}},
		{"bad reason", `{"name":"x","state":"suspended","state_reason":"a\u0000b"}`, "invalid_client_metadata", []string{"state_reason"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("POST", "/admin/clients", tt.body)
			wantError(t, r, 400, tt.code)
			for _, w := range tt.want {
				if !strings.Contains(r.str("error_description"), w) {
					t.Errorf("%q lacks %q", r.str("error_description"), w)
				}
			}
		})
	}
	if cs, _, _ := e.store.ListClients(context.Background(), store.Page{}); len(cs) != 1 {
		t.Errorf("refused registrations stored clients: %d", len(cs))
	}
}
