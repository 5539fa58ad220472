//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// group is the process group of one command.
type group struct {
	cmd *exec.Cmd

	mu        sync.Mutex
	cancelled time.Time // when the group got SIGTERM; zero if it did not
}

// processGroup makes cmd the leader of a new process group, and has its
// cancellation send SIGTERM to the whole group, so that the command's
// children stop with it. On Linux the command also gets SIGKILL when
// stackup dies (Pdeathsig): that reaches the command itself, not its
// children, which are left to it.
func processGroup(cmd *exec.Cmd) *group {
	g := &group{cmd: cmd}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
	cmd.Cancel = func() error {
		g.mu.Lock()
		g.cancelled = time.Now()
		g.mu.Unlock()
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	return g
}

// stop, once cmd has ended, ends what is left of a cancelled group: when
// the group still has processes grace after its SIGTERM, they get
// SIGKILL. It reports whether the group was cancelled at all; a group
// that was not is left alone, so that a command that succeeded may leave
// a daemon behind.
func (g *group) stop(grace time.Duration) bool {
	g.mu.Lock()
	cancelled := g.cancelled
	g.mu.Unlock()
	if cancelled.IsZero() {
		return false
	}
	pgid := -g.cmd.Process.Pid
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Since(cancelled) < grace {
		if errors.Is(syscall.Kill(pgid, 0), syscall.ESRCH) {
			return true // all gone
		}
		<-tick.C
	}
	syscall.Kill(pgid, syscall.SIGKILL)
	return true
}
