package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExpiredDeletesUseIndexes: every statement of DeleteExpired finds its
// rows through an index. A scan of a table of a million families inside
// the writer's transaction held every token request for 200 ms.
func TestExpiredDeletesUseIndexes(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, d := range expiredDeletes(1, 1, 1) {
		rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+d.q, append(d.args, 10)...)
		if err != nil {
			t.Fatalf("%s: %v", d.q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			// "SCAN t" reads the whole table; "SEARCH t USING INDEX" does not.
			if strings.HasPrefix(step, "SCAN ") {
				t.Errorf("%s\nplan %q: a full scan", strings.Join(strings.Fields(d.q), " "), plan)
			}
		}
	}
}
