//go:build !unix

package upgrade_test

import "time"

// cpuTime cannot tell on this platform.
func cpuTime() (user, sys time.Duration, ok bool) { return 0, 0, false }
