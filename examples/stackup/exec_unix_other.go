//go:build unix && !linux

package main

import "syscall"

// setDeathSignal does nothing: only Linux has Pdeathsig. A command
// outlives a stackup killed with SIGKILL.
func setDeathSignal(attr *syscall.SysProcAttr) {}
