package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// onlyFiles fails unless dir holds exactly the files named.
func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	if err := Create(path, []byte("secret\n")); err != nil {
		t.Fatal(err)
	}
	onlyFiles(t, dir, "kek")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 && runtime.GOOS != "windows" {
		t.Errorf("mode %04o, want 0600", perm)
	}
	if got, err := Read(path); got != "secret" || err != nil {
		t.Errorf("Read = %q, %v", got, err)
	}

	// A second Create changes nothing and says so.
	err = Create(path, []byte("other\n"))
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v, want fs.ErrExist", err)
	}
	if strings.Contains(err.Error(), ".tmp-") {
		t.Errorf("error names the temporary file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "secret\n" {
		t.Errorf("second Create changed the file to %q", b)
	}
	onlyFiles(t, dir, "kek")
}

func TestCreateRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := Create("admin-token", []byte("tok\n")); err != nil {
		t.Fatal(err)
	}
	onlyFiles(t, dir, "admin-token")
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Create(filepath.Join(dir, "missing", "kek"), []byte("x")); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
	if err := Create(filepath.Join(dir, "kek"), []byte(" \n")); err == nil {
		t.Error("Create of an empty secret succeeded")
	}
	// A directory at the final name: the link fails, the temporary file goes.
	if err := os.Mkdir(filepath.Join(dir, "kek"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Create(filepath.Join(dir, "kek"), []byte("x")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over a directory: %v, want fs.ErrExist", err)
	}
	onlyFiles(t, dir, "kek")
}

func TestCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin-token")
	const n = 20
	var (
		wg      sync.WaitGroup
		created = make([]error, n)
		read    = make([]string, n)
		readErr = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			created[i] = Create(path, fmt.Appendf(nil, "create-%d\n", i))
		})
	}
	wg.Wait()
	winners := 0
	for i, err := range created {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("Create %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d of %d concurrent Creates succeeded, want 1", winners, n)
	}

	path = filepath.Join(dir, "kek")
	for i := range n {
		wg.Go(func() {
			read[i], readErr[i] = ReadOrCreate(path, fmt.Appendf(nil, "key-%d\n", i))
		})
	}
	wg.Wait()
	want, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if read[i] != want || readErr[i] != nil {
			t.Errorf("ReadOrCreate %d = %q, %v; the file holds %q", i, read[i], readErr[i], want)
		}
	}
	onlyFiles(t, dir, "admin-token", "kek")
}

func TestReadOrCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	// A crash between writing the temporary file and linking it leaves
	// one behind: it is not the secret.
	leftover := filepath.Join(dir, ".kek.tmp-123456")
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read with only a leftover temporary file: %v, want fs.ErrNotExist", err)
	}
	got, err := ReadOrCreate(path, []byte("first\n"))
	if got != "first" || err != nil {
		t.Fatalf("ReadOrCreate = %q, %v", got, err)
	}
	if got, err := ReadOrCreate(path, []byte("second\n")); got != "first" || err != nil {
		t.Errorf("ReadOrCreate again = %q, %v, want the first content", got, err)
	}
	onlyFiles(t, dir, ".kek.tmp-123456", "kek")
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, content := range []string{"", "\n", " \t\r\n "} {
		p := write("empty", content, 0o600)
		if _, err := Read(p); !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), p+" is empty") {
			t.Errorf("Read(%q) of an empty file: %v", content, err)
		}
	}
	if got, err := Read(write("ro", " tok\n", 0o400)); got != "tok" || err != nil {
		t.Errorf("Read of a 0400 file = %q, %v", got, err)
	}
	if runtime.GOOS != "windows" {
		for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o601} {
			p := write("open", "tok", mode)
			if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "chmod 600 "+p) {
				t.Errorf("Read of a %04o file: %v", mode, err)
			}
		}
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read of a directory: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v", err)
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	// Replace also creates.
	if err := Replace(path, []byte("first\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(path); got != "first" || err != nil {
		t.Fatalf("Read = %q, %v", got, err)
	}
	// The old file is replaced, not rewritten: a reader holding it open
	// still reads it whole, and the new one has mode 0600 whatever the old
	// one had.
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := Replace(path, []byte("second\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(path); got != "second" || err != nil {
		t.Errorf("Read after Replace = %q, %v", got, err)
	}
	if b, err := io.ReadAll(old); string(b) != "first\n" || err != nil {
		t.Errorf("the file open before Replace reads %q, %v: it was rewritten in place", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 && runtime.GOOS != "windows" {
		t.Errorf("mode %04o after Replace, want 0600", perm)
	}
	onlyFiles(t, dir, "kek")
}

func TestReplaceErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	if err := Replace(filepath.Join(dir, "missing", "kek"), []byte("x")); err == nil {
		t.Error("Replace in a missing directory succeeded")
	}
	if err := Create(path, []byte("keep\n")); err != nil {
		t.Fatal(err)
	}
	if err := Replace(path, []byte(" \n")); err == nil {
		t.Error("Replace with an empty secret succeeded")
	}
	if got, _ := Read(path); got != "keep" {
		t.Errorf("a failed Replace changed the file to %q", got)
	}
	// A directory at the final name is not replaced; the temporary file
	// goes.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "x"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Replace(sub, []byte("x")); err == nil {
		t.Error("Replace over a directory succeeded")
	}
	onlyFiles(t, dir, "kek", "sub")
}

// TestReplaceConcurrentReaders: readers racing with replacements see one
// whole version or another, never an empty or partial file.
func TestReplaceConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	value := func(i int) string { return strings.Repeat(fmt.Sprintf("v%03d", i), 1024) }
	if err := Create(path, []byte(value(0)+"\n")); err != nil {
		t.Fatal(err)
	}
	const n = 50
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := Read(path)
				if err != nil {
					t.Errorf("Read during Replace: %v", err)
					return
				}
				if len(got) != len(value(0)) || got != strings.Repeat(got[:4], 1024) {
					t.Errorf("Read during Replace saw a partial file (%d bytes)", len(got))
					return
				}
			}
		})
	}
	for i := 1; i <= n; i++ {
		if err := Replace(path, []byte(value(i)+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if got, _ := Read(path); got != value(n) {
		t.Errorf("after %d replacements the file holds %.8q…", n, got)
	}
	onlyFiles(t, dir, "kek")
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek.previous")
	if err := Create(path, []byte("old\n")); err != nil {
		t.Fatal(err)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := Remove(path); err != nil {
		t.Errorf("Remove of a missing file: %v", err)
	}
	onlyFiles(t, dir)
}

// TestLock: shared locks go together, an exclusive one excludes both ways,
// and unlocking frees it. Each Lock opens its own descriptor, so the
// locks conflict within one process as they would between two.
func TestLock(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock(2): Lock locks nothing")
	}
	path := filepath.Join(t.TempDir(), "kek.lock")
	a, err := Lock(path, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Lock(path, false)
	if err != nil {
		t.Fatalf("a second shared lock: %v", err)
	}
	if _, err := Lock(path, true); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive lock beside shared ones: %v, want ErrLocked", err)
	}
	a()
	b()
	x, err := Lock(path, true)
	if err != nil {
		t.Fatalf("exclusive lock once the shared ones are gone: %v", err)
	}
	if _, err := Lock(path, false); !errors.Is(err, ErrLocked) {
		t.Fatalf("shared lock beside an exclusive one: %v, want ErrLocked", err)
	}
	if _, err := Lock(path, true); !errors.Is(err, ErrLocked) {
		t.Fatalf("two exclusive locks: %v, want ErrLocked", err)
	}
	x()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, %v; want mode 0600", fi, err)
	}
}
