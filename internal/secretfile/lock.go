package secretfile

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked is wrapped by Lock's error when another process holds the lock
// in a mode that excludes the one asked for.
var ErrLocked = errors.New("locked by another process")

// Lock takes an advisory lock on path (created with mode 0600 if missing):
// shared, which many processes hold at once, or exclusive, which excludes
// every other. It never waits: a lock it cannot take now is an error that
// wraps ErrLocked. The lock lasts until unlock is called or the process
// ends (a crash releases it). On systems without flock(2) (Windows) it
// locks nothing.
func Lock(path string, exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flock(f, exclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}
