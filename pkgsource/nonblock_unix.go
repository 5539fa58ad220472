//go:build unix

package pkgsource

import "syscall"

// openNonblock is the flag that makes opening a FIFO return at once rather
// than wait for a writer; it does not change how a regular file reads.
const openNonblock = syscall.O_NONBLOCK
