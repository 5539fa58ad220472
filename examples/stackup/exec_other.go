//go:build !unix

package main

import (
	"os/exec"
	"sync/atomic"
	"time"
)

// group stands for a command's process, where there are no process
// groups.
type group struct{ cancelled atomic.Bool }

// processGroup has cancelling cmd kill it, and it only: its children are
// left running.
func processGroup(cmd *exec.Cmd) *group {
	g := &group{}
	cmd.Cancel = func() error {
		g.cancelled.Store(true)
		return cmd.Process.Kill()
	}
	return g
}

// stop reports whether the command was cancelled; there is nothing left
// to stop.
func (g *group) stop(grace time.Duration) bool { return g.cancelled.Load() }
