//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// processGroup makes cmd the leader of a new process group and has its
// cancellation signal the whole group with SIGTERM, so that a shell's
// children stop with it.
func processGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
}
