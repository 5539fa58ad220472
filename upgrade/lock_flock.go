//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package upgrade

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes an exclusive flock on f without waiting.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errLockHeld
		}
		return err
	}
}

// openNote opens the holder note at p for writing, creating it, or only
// for reading; it never follows a symbolic link (see journalPlace.open for
// one in a root), and never waits on a named pipe.
func openNote(p journalPlace, write bool) (*os.File, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR | os.O_CREATE
	}
	return p.open(flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
}

// linkCount returns the number of hard links to the file info describes.
func linkCount(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}
