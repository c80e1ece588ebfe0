package signer

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
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
