//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package upgrade_test

import "testing"

// needFlock skips a test of the journal lock where it is not enforced.
func needFlock(testing.TB) {}
