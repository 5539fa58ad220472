//go:build unix

package main

import "syscall"

// openNonblock opens a file without waiting, as opening a FIFO would.
const openNonblock = syscall.O_NONBLOCK
