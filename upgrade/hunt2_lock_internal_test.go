//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package upgrade

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestHunt2OpenFileJournalLocksTheFileAtPath: a runner that removes its
// journal while it holds it (as one whose plan was refused before it ran
// may) must not leave another, which opened the file just before, holding
// the lock of a file no longer at the path: that one would run with a
// journal no one can find again, while a third creates a new one and runs
// the same plan at once. OpenFileJournal returns with the lock of the
// file at path.
func TestHunt2OpenFileJournalLocksTheFileAtPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.journal")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if j, err := OpenFileJournal(path); err == nil {
				os.Remove(path) // while holding the lock
				j.Close()
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for range 1000 {
		j, err := OpenFileJournal(path)
		if errors.Is(err, ErrLocked) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		held, err := j.f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		now, err := os.Stat(path)
		same := err == nil && os.SameFile(held, now)
		j.Close()
		if !same {
			t.Fatalf("OpenFileJournal returned holding the lock of a file no longer at %s", path)
		}
	}
}
