package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.writeExec(t.Context(), `CREATE TABLE gc (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGroupCommit: many writers at once share commits; one whose function
// fails leaves nothing and fails alone; the others' rows are all there.
func TestGroupCommit(t *testing.T) {
	s := openTest(t)
	errOdd := errors.New("odd")
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.writeTx(t.Context(), func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(t.Context(), `INSERT INTO gc VALUES (?, ?)`, i, fmt.Sprint(i)); err != nil {
					return err
				}
				if i%2 == 1 {
					return errOdd // after its insert: the savepoint must undo it
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%2 == 1; (err != nil) != want || (want && !errors.Is(err, errOdd)) {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	var count, odd int
	if err := s.r.QueryRowContext(t.Context(), `SELECT COUNT(*), COUNT(*) FILTER (WHERE k % 2 = 1) FROM gc`).Scan(&count, &odd); err != nil {
		t.Fatal(err)
	}
	if count != n/2 || odd != 0 {
		t.Errorf("%d rows, %d of failed writers; want %d and 0", count, odd, n/2)
	}
	if l := s.g.largest.Load(); l < 2 {
		t.Errorf("largest batch %d: %d writers at once never shared a commit", l, n)
	}
}

// TestGroupCommitFailureInBatch: a statement error inside one function of
// a batch (a constraint) is that function's alone.
func TestGroupCommitFailureInBatch(t *testing.T) {
	s := openTest(t)
	if _, err := s.writeExec(t.Context(), `INSERT INTO gc VALUES (1, 'taken')`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Go(func() {
			k := 100 + i
			if i%5 == 0 {
				k = 1 // duplicate key
			}
			_, errs[i] = s.writeExec(t.Context(), `INSERT INTO gc VALUES (?, 'x')`, k)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i%5 == 0) {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	var count int
	s.r.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM gc`).Scan(&count)
	if count != 1+40 {
		t.Errorf("%d rows, want 41", count)
	}
}

// TestGroupCommitPanic: a panic in a function is raised in its caller, and
// the writer goes on.
func TestGroupCommitPanic(t *testing.T) {
	s := openTest(t)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want boom", p)
			}
		}()
		s.writeTx(t.Context(), func(tx *sql.Tx) error {
			tx.ExecContext(t.Context(), `INSERT INTO gc VALUES (7, 'x')`)
			panic("boom")
		})
	}()
	if _, err := s.writeExec(t.Context(), `INSERT INTO gc VALUES (8, 'y')`); err != nil {
		t.Fatalf("write after a panic: %v", err)
	}
	var count int
	s.r.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM gc`).Scan(&count)
	if count != 1 {
		t.Errorf("%d rows, want 1 (the panicking write rolled back)", count)
	}
}

// TestGroupCommitCanceled: a canceled context writes nothing; a write
// after Close fails.
func TestGroupCommitCanceled(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	if err := s.writeTx(ctx, func(*sql.Tx) error { ran = true; return nil }); err == nil || ran {
		t.Errorf("canceled: %v, ran %v", err, ran)
	}
	s.Close()
	if err := s.writeTx(t.Context(), func(*sql.Tx) error { return nil }); err == nil {
		t.Error("write after Close succeeded")
	}
}

// TestStatementCacheNested: the same statement run again while its rows
// are open (a loop inside a transaction) runs uncached, correctly.
func TestStatementCacheNested(t *testing.T) {
	s := openTest(t)
	for i := range 3 {
		s.writeExec(t.Context(), `INSERT INTO gc VALUES (?, ?)`, i, fmt.Sprint(i))
	}
	const q = `SELECT k FROM gc WHERE k >= ? ORDER BY k`
	err := s.writeTx(t.Context(), func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(t.Context(), q, 0)
		if err != nil {
			return err
		}
		defer rows.Close()
		var outer, inner int
		for rows.Next() {
			var k int
			rows.Scan(&k)
			outer++
			in, err := tx.QueryContext(t.Context(), q, k)
			if err != nil {
				return err
			}
			for in.Next() {
				inner++
			}
			in.Close()
		}
		if outer != 3 || inner != 3+2+1 {
			return fmt.Errorf("outer %d, inner %d", outer, inner)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	// And cached again afterwards.
	for range 3 {
		var k int
		if err := s.r.QueryRowContext(t.Context(), q, 2).Scan(&k); err != nil || k != 2 {
			t.Fatalf("cached query: %d, %v", k, err)
		}
	}
}
