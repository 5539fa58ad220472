//go:build unix

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestApplyAsksOnStderr runs apply with standard input a terminal and
// standard output redirected (apply ... > apply.log): the question, and
// with --quiet the plan shown for it, must reach the person at the
// terminal on standard error, not go into the log while apply waits
// for an answer nobody was asked for.
func TestApplyAsksOnStderr(t *testing.T) {
	e := newApplyEnv(t)
	planFile := filepath.Join(e.dir, "plan.json")
	require.Equal(t, exitOK, stackup(t, e.planArgs("--out", planFile)...).code)
	for _, quiet := range []bool{true, false} {
		args := e.planFileArgs(planFile, "--exec", e.record(), "--quiet="+fmt.Sprint(quiet))
		ptmx, tty, err := pty.Open()
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = childEnv(t)
		var stdout, stderr bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, &stderr
		require.NoError(t, cmd.Start())
		tty.Close()
		go io.Copy(io.Discard, ptmx)
		_, err = ptmx.Write([]byte("n\n"))
		require.NoError(t, err)
		_ = cmd.Wait()
		ptmx.Close()
		assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode())
		assert.Contains(t, stderr.String(), "Apply these 8 steps? [y/N] ", "quiet %v", quiet)
		assert.NotContains(t, stdout.String(), "[y/N]", "quiet %v", quiet)
		if quiet {
			assert.Contains(t, stderr.String(), "Upgrade plan: 8 steps", "the plan asked about is shown with the question")
			assert.Empty(t, stdout.String(), "--quiet: nothing on standard output")
		} else {
			assert.Contains(t, stdout.String(), "Upgrade plan: 8 steps", "the plan is the output, as without a question: %s", stderr.String())
		}
		assert.Empty(t, e.readLedger(t), "nothing ran")
	}
}
