package signer

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "kek")
	kek, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(kek) != 32 {
		t.Fatalf("len %d", len(kek))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("mode %04o, want 0600", perm)
	}
	again, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kek, again) {
		t.Fatal("second load returned another key")
	}
	// The file and the key from it work with a signer.
	newSigner(t, &memStore{}, again, ES256)

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKEK(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: err = %v", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKEK(path); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
}

func TestLoadOrCreateKEKBadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	if err := os.WriteFile(path, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKEK(path); err == nil {
		t.Fatal("accepted a bad key file")
	}
	if _, err := LoadOrCreateKEK(dir); err == nil {
		t.Fatal("accepted a directory")
	}
}

func TestParseKEK(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0xfe}, 11)[:32] // has + / in std, - _ in url
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
		" " + base64.StdEncoding.EncodeToString(raw) + "\n",
	} {
		got, err := ParseKEK(s)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseKEK(%q) = %x, %v", s, got, err)
		}
	}
	secret := base64.StdEncoding.EncodeToString(make([]byte, 31))
	for _, s := range []string{"", "  ", "!!!notbase64!!!", secret, base64.StdEncoding.EncodeToString(make([]byte, 33))} {
		_, err := ParseKEK(s)
		if err == nil {
			t.Errorf("ParseKEK(%q) succeeded", s)
			continue
		}
		if s != "" && strings.TrimSpace(s) != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error echoes the input: %v", err)
		}
	}
}

func TestLoadOrCreateKEKEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	for _, content := range []string{"", "\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateKEK(path)
		if err == nil {
			t.Fatalf("accepted an empty key file (%q)", content)
		}
		for _, want := range []string{path + " is empty", "delete it and start again", "restore " + path + " from your backup", "GRANTD_KEY_ENCRYPTION_KEY"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("the empty file was changed to %q", b)
		}
	}
}

func TestLoadOrCreateKEKMalformedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	if err := os.WriteFile(path, []byte(short+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateKEK(path)
	if err == nil || !strings.Contains(err.Error(), "32 bytes, got 16") || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "GRANTD_KEY_ENCRYPTION_KEY") {
		t.Errorf("short key file: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), short) {
		t.Errorf("error echoes the file: %v", err)
	}
}

func TestLoadOrCreateKEKAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	// A temporary file left by a crash is neither read nor in the way.
	if err := os.WriteFile(filepath.Join(dir, ".kek.tmp-42"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 20
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKEK(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(keys[i], keys[0]) || len(keys[i]) != kekSize {
			t.Errorf("creator %d: %x, %v; creator 0: %x", i, keys[i], errs[i], keys[0])
		}
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, ".kek.tmp-*")); len(temps) != 1 {
		t.Errorf("temporary files %q, want only the leftover", temps)
	}
}

func TestParseKEKs(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	got, err := ParseKEKs([]string{base64.StdEncoding.EncodeToString(a), base64.RawURLEncoding.EncodeToString(b)})
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
		t.Fatalf("ParseKEKs = %x, %v", got, err)
	}
	if got, err := ParseKEKs(nil); err != nil || len(got) != 0 {
		t.Errorf("ParseKEKs(nil) = %x, %v", got, err)
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	_, err = ParseKEKs([]string{base64.StdEncoding.EncodeToString(a), short})
	if err == nil || !strings.Contains(err.Error(), "key 2 of 2") || strings.Contains(err.Error(), short) {
		t.Errorf("ParseKEKs with a short second key: %v", err)
	}
}

func TestReadKEK(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek.previous")
	if _, err := ReadKEK(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadKEK of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("ReadKEK created the file")
	}
	kek := NewKEK()
	if len(kek) != kekSize || bytes.Equal(kek, NewKEK()) {
		t.Fatalf("NewKEK: %d bytes, or twice the same", len(kek))
	}
	if err := os.WriteFile(path, EncodeKEK(kek), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadKEK(path); err != nil || !bytes.Equal(got, kek) {
		t.Errorf("ReadKEK = %x, %v", got, err)
	}
	// What EncodeKEK writes, GRANTD_KEY_ENCRYPTION_KEY takes.
	if got, err := ParseKEK(string(EncodeKEK(kek))); err != nil || !bytes.Equal(got, kek) {
		t.Errorf("ParseKEK(EncodeKEK) = %x, %v", got, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKEK(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("ReadKEK of a mode 0644 file: %v", err)
	}
}
