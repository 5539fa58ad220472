//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package pkgsource

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// interProcessLock reports whether lockFile locks between processes.
const interProcessLock = true

// openLockFile opens, creating it, the lock file at path for writing. It
// never follows a symbolic link planted at path (O_NOFOLLOW), and never
// waits on a named pipe (O_NONBLOCK); the caller checks that it is a
// regular file.
func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
}

// lockFile takes an exclusive flock on f, waiting for another holder (in
// this process or another) to release it, until ctx is done. A flock is
// released when f is closed, or when its process ends.
func lockFile(ctx context.Context, f *os.File) error {
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// syncDir flushes the directory at path, so that a rename into it
// survives a crash.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
