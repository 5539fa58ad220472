//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package upgrade

import (
	"errors"
	"os"
)

// tryLock cannot lock on this system: the journal lock is not enforced.
func tryLock(*os.File) error { return nil }

// openNote writes no holder note on this system: with no lock, there is
// no holder to name.
func openNote(journalPlace, bool) (*os.File, error) {
	return nil, errors.ErrUnsupported
}

func linkCount(os.FileInfo) uint64 { return 0 }
