//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package upgrade_test

import "testing"

// needFlock skips a test of the journal lock where it is not enforced.
func needFlock(t testing.TB) {
	t.Helper()
	t.Skip("no flock(2) on this system: the journal lock is not enforced")
}
