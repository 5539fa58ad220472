//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package upgrade_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// needFlock skips a test of the journal lock where it is not enforced.
func needFlock(testing.TB) {}

// TestFileJournalPrivate: a new journal and its lock note are readable by
// their owner only: the errors recorded may hold what commands printed.
func TestFileJournalPrivate(t *testing.T) {
	path := jrPath(t)
	jrOpen(t, path)
	for _, p := range []string{path, path + ".lock"} {
		info, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), p)
	}
}
