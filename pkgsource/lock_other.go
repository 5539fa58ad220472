//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package pkgsource

import (
	"context"
	"os"
)

// interProcessLock reports whether lockFile locks between processes: not
// on this system, where a FileTrustStore is safe for concurrent use within
// one process only.
const interProcessLock = false

// openLockFile opens, creating it, the lock file at path. This system has
// no O_NOFOLLOW: the caller's check that it is a regular file refuses a
// link to anything else.
func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// lockFile cannot lock between processes on this system: it only checks
// ctx.
func lockFile(ctx context.Context, _ *os.File) error { return ctx.Err() }

// syncDir does nothing on this system, where a directory cannot be
// opened for syncing.
func syncDir(string) error { return nil }
