//go:build unix

package topology

import (
	"os"
	"syscall"
)

// openFlags open without blocking: opening a FIFO with no writer returns
// at once, so that OpenRegular can refuse it.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
