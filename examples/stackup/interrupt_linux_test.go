package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// child is a stackup process started from the test binary, whose standard
// error the test reads line by line.
type child struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	lines  chan string // standard error, closed at its end
	stderr strings.Builder
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), lines: make(chan string, 100)}
	c.cmd.Env = childEnv(t)
	c.cmd.Stdout = &c.stdout
	pipe, err := c.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	go func() {
		defer close(c.lines)
		s := bufio.NewScanner(pipe)
		for s.Scan() {
			c.lines <- s.Text()
		}
		io.Copy(io.Discard, pipe)
	}()
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	return c
}

// waitLine reads standard error until a line holding want.
func (c *child) waitLine(t *testing.T, want string) {
	t.Helper()
	for line := range c.lines {
		c.stderr.WriteString(line + "\n")
		if strings.Contains(line, want) {
			return
		}
	}
	t.Fatalf("stackup ended without printing %q; stderr:\n%s", want, c.stderr.String())
}

// wait waits for the child to exit and returns its exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	for line := range c.lines {
		c.stderr.WriteString(line + "\n")
	}
	err := c.cmd.Wait()
	if _, ok := err.(*exec.ExitError); !ok {
		require.NoError(t, err)
	}
	return c.cmd.ProcessState.ExitCode()
}

// blockingStep is an --exec command that records each step in the
// ledger; the first step then creates started and waits until release
// exists.
func (e *applyEnv) blockingStep(started, release string) string {
	script := `echo "$STACKUP_STEP $STACKUP_IN_DOUBT" >> ` + e.ledger + `; if [ "$STACKUP_STEP" = "` + allSteps[0] + `" ]; then touch ` + started +
		`; while [ ! -e ` + release + ` ]; do sleep 0.01; done; fi`
	return `sh -c '` + script + `'`
}

// TestApplySIGTERMStops: the first SIGTERM lets the running step finish,
// starts no other, and says how to resume; the resumed run does the rest.
func TestApplySIGTERMStops(t *testing.T) {
	e := newApplyEnv(t)
	journal := filepath.Join(e.dir, "journal")
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	c := startChild(t, e.args("--quiet", "--journal", journal, "--exec", e.blockingStep(started, release))...)
	waitFile(t, started)
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	c.waitLine(t, "stopping: no new step starts")
	require.NoError(t, os.WriteFile(release, nil, 0o600))

	assert.Equal(t, exitFailed, c.wait(t), c.stderr.String())
	assert.Equal(t, ledgerOf(allSteps[0]), e.readLedger(t), "the running step finished, no other started")
	assert.Contains(t, c.stdout.String(), "done   "+allSteps[0])
	assert.Contains(t, c.stderr.String(), "stopped")
	assert.Contains(t, c.stderr.String(), "to resume, run the same command again with --journal "+journal)

	resumed := stackup(t, e.args("--quiet", "--journal", journal, "--exec", e.record())...)
	require.Equal(t, exitOK, resumed.code, resumed.stderr)
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))
}

// TestApplySecondSignalExits: a second signal ends stackup at once, even
// with a step that would never end.
func TestApplySecondSignalExits(t *testing.T) {
	e := newApplyEnv(t)
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) }) // lets an orphaned step end
	c := startChild(t, e.args("--quiet", "--grace", "0", "--journal", filepath.Join(e.dir, "journal"),
		"--exec", e.blockingStep(started, release))...)
	waitFile(t, started)
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGINT))
	c.waitLine(t, "stopping")
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGINT))
	assert.Equal(t, exitInterrupted, c.wait(t), c.stderr.String())
	assert.Equal(t, ledgerOf(allSteps[0]), e.readLedger(t))
}

// TestApplyGraceOver: a running step that outlasts --grace is stopped,
// and the run says how to resume.
func TestApplyGraceOver(t *testing.T) {
	e := newApplyEnv(t)
	journal := filepath.Join(e.dir, "journal")
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) })
	c := startChild(t, e.args("--quiet", "--grace", "1ms", "--journal", journal, "--exec", e.blockingStep(started, release))...)
	waitFile(t, started)
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitFailed, c.wait(t), c.stderr.String())
	assert.Contains(t, c.stderr.String(), "to resume, run the same command again with --journal "+journal)
	assert.Contains(t, c.stderr.String(), "interrupted: running steps stopped after --grace 1ms")
	assert.Equal(t, ledgerOf(allSteps[0]), e.readLedger(t))
}

// TestInputFIFO: a named pipe given as an input file is refused at once,
// naming the flag's file, where a plain read would block for good.
func TestInputFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "input.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	repo, _, _ := inputs(t)
	for _, args := range [][]string{
		{"plan", "--topology", fifo, "--repo", repo, "--requests", "testdata/requests.yaml"},
		{"plan", "--topology", "testdata/shop.yaml", "--repo", repo, "--requests", fifo},
		{"plan", "--tosca", fifo, "--instances", fifo, "--repo", repo, "--requests", "testdata/requests.yaml"},
	} {
		r := stackup(t, args...)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, fifo+": not a regular file: a named pipe")
	}
}

// TestApplyOneAtATime: while an apply runs on a deployment, a second one
// on the same topology file is refused (exit 1), naming the first, and
// runs nothing; once the first has ended, the next apply runs.
func TestApplyOneAtATime(t *testing.T) {
	e := newApplyEnv(t)
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	first := make(chan result, 1)
	go func() { first <- stackup(t, e.args("--quiet", "--exec", e.blockingStep(started, release))...) }()
	waitFile(t, started)

	r := stackup(t, e.args("--quiet", "--exec", e.record())...)
	assert.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stderr, fmt.Sprintf("another stackup apply or serve is running steps on this deployment (pid %d on ", os.Getpid()))
	assert.Contains(t, r.stderr, "wait for it to finish")
	assert.Equal(t, allSteps[0]+" false\n", e.readLedger(t), "the second apply ran nothing")

	require.NoError(t, os.WriteFile(release, nil, 0o600))
	r = <-first
	require.Equal(t, exitOK, r.code, r.String())
	r = stackup(t, e.args("--quiet", "--exec", e.record())...)
	assert.Equal(t, exitOK, r.code, r.String())
	assert.Contains(t, r.stdout, "0 succeeded, 0 failed", "the next apply runs, on what the first did: nothing left")
}
