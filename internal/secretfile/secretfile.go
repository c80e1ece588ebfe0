// Package secretfile creates, replaces and reads the small secret files
// grantd keeps in its data dir (the key-encryption key, the admin token).
//
// A secret file is published atomically: it is written to a temporary file
// in the same directory (mode 0600, a random name starting with a dot),
// fsynced, then linked under its final name, which never replaces an
// existing file (Create), or renamed over it (Replace, for a rotation), and
// the directory is fsynced. A crash leaves either no file or a complete one
// (the old or the new one, for Replace), and at worst a stray temporary
// file (".NAME.tmp-*"), which is never read as the secret and may be
// deleted.
package secretfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// ErrEmpty is wrapped by Read's error for a file that holds nothing but
// white space: "PATH is empty".
var ErrEmpty = errors.New("empty")

// Create publishes data atomically under path with mode 0600. If path
// exists (another process may have been first), Create changes nothing and
// returns an error that wraps fs.ErrExist. On any error, its temporary file
// is removed; only an error syncing the directory comes after path is
// published (its content is complete, its name may not survive a crash).
func Create(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := publish(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// Replace publishes data atomically under path with mode 0600, replacing
// the file there if there is one (a rotated key): the temporary file is
// renamed over path, so a reader, or a crash, sees the old file or the new
// one, whole. On any error, its temporary file is removed and path is left
// as it was; only an error syncing the directory comes after path is
// replaced (its content is complete, the new name may not survive a crash).
func Replace(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// Remove deletes the file path and makes its removal durable (the
// directory fsynced). A file that does not exist is not an error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data to a new temporary file (mode 0600) beside path,
// fsynced and closed, and returns its name; on error it leaves none.
func writeTemp(path string, data []byte) (string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", fmt.Errorf("secretfile: nothing to write to %s", path)
	}
	dir, name := filepath.Dir(path), filepath.Base(path)
	f, err := os.CreateTemp(dir, "."+name+".tmp-*") // mode 0600, O_EXCL
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// publish gives tmp the name path without replacing a file there, then
// drops the name tmp. A hard link fails with EEXIST when path exists, so
// of two processes creating path, exactly one wins and the other reads the
// winner's file.
//
// Where hard links are not supported (FAT, some network and FUSE file
// systems, sandboxes), it falls back to a rename after checking that path
// does not exist. The trade-off: a rename replaces an existing file, so two
// processes racing in the short gap between the check and the rename could
// both succeed, the first one's secret being replaced; each file seen is
// still complete.
func publish(tmp, path string) error {
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		os.Remove(tmp) // a leftover is harmless: it is never read
		return nil
	case errors.Is(err, fs.ErrExist):
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	case !linkUnsupported(err):
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, path)
}

// linkUnsupported reports whether a failed os.Link means that the file
// system (or the platform) has no hard links: ENOTSUP, ENOSYS and the like,
// or EPERM, which Linux returns on FAT and which sandboxes (Android) use.
// The temporary file is ours, in a directory we just wrote to, so a
// permission error here is about linking itself.
func linkUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission)
}

// syncDir makes a new name in dir durable. File systems that cannot fsync
// a directory (and Windows, where a directory cannot be opened for it) are
// let be: the file's content was fsynced before it got its name.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}

// Read returns the content of the secret file path, white space trimmed.
// The error wraps fs.ErrNotExist when there is no file, and ErrEmpty when
// it holds nothing; it refuses a file that is not regular or that group or
// others have any access to (except on Windows, which has no such bits).
func Read(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("%s has mode %04o: group and others must have no access (chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is %w", path, ErrEmpty)
	}
	return s, nil
}

// ReadOrCreate reads path (as Read), or, when it does not exist, creates it
// with data (as Create) and returns data trimmed. If another process
// creates it first, it returns what that process wrote.
func ReadOrCreate(path string, data []byte) (string, error) {
	s, err := Read(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err := Create(path, data); errors.Is(err, fs.ErrExist) {
		return Read(path)
	} else if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}
