//go:build unix

package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// applyOnTerminal runs stackup apply as a child process whose standard
// input is a real terminal (a pty), types answer, and returns its exit
// code and standard output.
func applyOnTerminal(t *testing.T, args []string, answer string) (int, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	defer ptmx.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = childEnv(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, &stderr
	require.NoError(t, cmd.Start())
	tty.Close()
	go io.Copy(io.Discard, ptmx) // the terminal's echo
	// The line waits in the terminal until stackup reads it.
	_, err = ptmx.Write([]byte(answer))
	require.NoError(t, err)
	err = cmd.Wait()
	if _, ok := err.(*exec.ExitError); !ok {
		require.NoError(t, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String() + stderr.String()
}

// TestApplyAsksOnTerminal: on a terminal, apply shows the plan and asks;
// anything but y or yes runs nothing. --yes, or standard input that is
// not a terminal, does not ask.
func TestApplyAsksOnTerminal(t *testing.T) {
	e := newApplyEnv(t)
	planFile := filepath.Join(e.dir, "plan.json")
	require.Equal(t, exitOK, stackup(t, e.planArgs("--out", planFile)...).code)

	for _, answer := range []string{"n\n", "\n", "yess\n", "ja\n"} {
		code, out := applyOnTerminal(t, e.planFileArgs(planFile, "--exec", e.record()), answer)
		assert.Equal(t, exitFailed, code, out)
		assert.Contains(t, out, "Upgrade plan: 8 steps", "the plan is shown, --quiet or not")
		assert.Contains(t, out, "Apply these 8 steps? [y/N] ")
		assert.Contains(t, out, "not applied")
		assert.Empty(t, e.readLedger(t), "answer %q: nothing ran", answer)
		assert.NoFileExists(t, planFile+".journal", "nothing began")
		assert.Equal(t, "8.0.402", e.nodeVersion(t, "java-1"), "nothing learnt")
	}

	code, out := applyOnTerminal(t, e.planFileArgs(planFile, "--exec", e.record()), "YES\n")
	assert.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Apply these 8 steps? [y/N] ")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))

	// --yes does not ask (nothing is typed: a question would wait).
	e.fresh(t)
	require.NoError(t, os.Remove(planFile+".journal"))
	code, out = applyOnTerminal(t, e.planFileArgs(planFile, "--yes", "--exec", e.record()), "")
	assert.Equal(t, exitOK, code, out)
	assert.NotContains(t, out, "[y/N]")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))

	// Not a terminal (/dev/null, as in CI): no question.
	e.fresh(t)
	require.NoError(t, os.Remove(planFile+".journal"))
	cmd := exec.Command(os.Args[0], e.planFileArgs(planFile, "--exec", e.record())...)
	cmd.Env = childEnv(t)
	outb, err := cmd.CombinedOutput()
	require.NoError(t, err, string(outb))
	assert.NotContains(t, string(outb), "[y/N]")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))
}
