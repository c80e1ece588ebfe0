package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckpointsOffTheWriter: the writer never checkpoints (its automatic
// checkpoint is off), yet what it commits reaches the database file: the
// checkpointer copies it there on its own connection.
func TestCheckpointsOffTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grantd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("writer's wal_autocheckpoint: %d, %v; want 0", auto, err)
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

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
