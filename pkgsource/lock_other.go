//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package pkgsource

import (
	"context"
	"errors"
	"io/fs"
	"os"
)

// interProcessLock reports whether lockFile locks between processes: not
// on this system, where a FileTrustStore is safe for concurrent use within
// one process only.
const interProcessLock = false

// openLockFile opens, creating it, the lock file at path. This system has
// no O_NOFOLLOW: a new file is created with O_EXCL, which no link planted
// there gets through, and an existing one is opened only if it is not a
// link (checked just before opening it: a narrow race remains).
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if !errors.Is(err, fs.ErrExist) {
		return f, err
	}
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("a symbolic link")}
	}
	return os.OpenFile(path, os.O_RDWR, 0)
}

// lockFile cannot lock between processes on this system: it only checks
// ctx.
func lockFile(ctx context.Context, _ *os.File) error { return ctx.Err() }

// syncDir does nothing on this system, where a directory cannot be
// opened for syncing.
func syncDir(string) error { return nil }
