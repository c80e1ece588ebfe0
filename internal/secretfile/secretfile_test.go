package secretfile

import (
	"errors"
	"fmt"
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
