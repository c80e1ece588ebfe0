package sqlite

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckpointsOffTheWriter: the writer checkpoints only past
// writerCheckpointPages, yet what it commits below that reaches the
// database file: the checkpointer copies it there on its own connection.

func TestCheckpointsOffTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grantd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != writerCheckpointPages {
		t.Fatalf("writer's wal_autocheckpoint: %d, %v; want %d", auto, err, writerCheckpointPages)
	}
	if _, err := s.writeExec(t.Context(), `CREATE TABLE ck (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * checkpointEvery)
	before := fileSize(t, path)
	for i := range 200 {
		if _, err := s.writeExec(t.Context(), `INSERT INTO ck VALUES (?)`, strings.Repeat(fmt.Sprint(i), 200)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for fileSize(t, path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes: nothing was checkpointed", before)
		}
		time.Sleep(checkpointEvery / 2)
	}
}

// TestWALStartsOver: under writes that never pause, the writer's own
// checkpoint past writerCheckpointPages lets the WAL start over, so that
// it stays within a few times the threshold (here made small: 1 MiB).
func TestWALStartsOver(t *testing.T) {
	defer func(n int) { writerCheckpointPages = n }(writerCheckpointPages)
	writerCheckpointPages = 256
	path := filepath.Join(t.TempDir(), "grantd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.writeExec(t.Context(), `CREATE TABLE ck (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	row := strings.Repeat("x", 4000)
	for i := 0; i < 8<<20/len(row)/50; i++ {
		err := s.writeTx(t.Context(), func(tx *sql.Tx) error {
			for range 50 {
				if _, err := tx.ExecContext(t.Context(), `INSERT INTO ck VALUES (?)`, row); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if wal := fileSize(t, path+"-wal"); wal > int64(4*writerCheckpointPages*4096) {
		t.Errorf("WAL of %d KiB after 8 MiB of writes: it never started over", wal>>10)
	}
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
