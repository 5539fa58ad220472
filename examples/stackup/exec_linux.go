package main

import "syscall"

// setDeathSignal has the command killed when the thread that started it
// ends; runPinned keeps that thread for the command's lifetime, so that
// this means "when stackup dies" (see go.dev/issue/27505).
func setDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
