//go:build unix

package upgrade_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has spent in user space and in
// the kernel so far, and whether it could tell.
func cpuTime() (user, sys time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), true
}
