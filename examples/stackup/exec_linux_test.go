package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKilledStackupKillsCommand runs stackup as a child process whose
// first step writes its pid and sleeps, then kills stackup with SIGKILL:
// the step's command dies with it (Pdeathsig).
func TestKilledStackupKillsCommand(t *testing.T) {
	e := newApplyEnv(t)
	pidfile := filepath.Join(e.dir, "pid")
	step := `sh -c 'echo "$$" > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 1000' sh ` + sq(pidfile)
	cmd := exec.Command(os.Args[0], e.args("--quiet", "--exec", step)...)
	cmd.Env = childEnv(t)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pids := readPids(t, pidfile, exited)
	require.Len(t, pids, 1)
	killOnCleanup(t, pids...)
	require.False(t, gone(pids[0]), "the step runs")

	require.NoError(t, cmd.Process.Kill())
	err := <-exited
	require.Error(t, err)
	assert.Equal(t, "signal: killed", err.Error())
	waitGone(t, pids...)
}
