//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failAfter bounds a wait for something another process does: it is a
// bound on failure only, never what orders events.
const failAfter = 30 * time.Second

// readPids waits for file, written whole (by rename) by a child process,
// and returns the pids in it.
func readPids(t *testing.T, file string, failed <-chan error) []int {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for {
		data, err := os.ReadFile(file)
		if err == nil {
			var pids []int
			for _, f := range strings.Fields(string(data)) {
				pid, err := strconv.Atoi(f)
				require.NoError(t, err)
				pids = append(pids, pid)
			}
			return pids
		}
		require.ErrorIs(t, err, os.ErrNotExist)
		select {
		case err := <-failed:
			t.Fatalf("the command ended before writing %s: %v", file, err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "no %s after %v", file, failAfter)
		time.Sleep(10 * time.Millisecond)
	}
}

// gone reports whether process pid has ended: it does not exist, or it is
// a zombie waiting for a parent (init, once its own parent died) to reap
// it.
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) state ...: comm may hold blanks and parentheses.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return bytes.HasPrefix(bytes.TrimSpace(rest), []byte("Z"))
}

// waitGone waits until every process in pids has ended.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for _, pid := range pids {
		for !gone(pid) {
			require.True(t, time.Now().Before(deadline), "process %d still runs after %v", pid, failAfter)
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// killOnCleanup kills pids when the test ends, should it fail with them
// still running.
func killOnCleanup(t *testing.T, pids ...int) {
	t.Cleanup(func() {
		for _, pid := range pids {
			if !gone(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// TestCancelEndsProcessGroup cancels a step whose command ignores SIGTERM
// and has a background child that ignores it too: after the grace, the
// whole group, the child included, is killed.
func TestCancelEndsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pids")
	cmds, err := parseCommands(`sh -c 'trap "" TERM; sleep 1000 & echo "$$ $!" > "$1.tmp"; mv "$1.tmp" "$1"; wait' sh `+sq(pidfile), "", "")
	require.NoError(t, err)
	ex := newRunner(cmds, io.Discard, 200*time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- ex.Execute(ctx, hostileStep("platform/x@2.0.0")) }()
	pids := readPids(t, pidfile, errc)
	require.Len(t, pids, 2)
	killOnCleanup(t, pids...)
	require.False(t, gone(pids[1]), "the background child runs")

	cancel() // as a step timeout does
	err = <-errc
	require.Error(t, err)
	assert.Contains(t, err.Error(), "execute command stopped: context canceled")
	waitGone(t, pids...)
}

// TestCancelSendsTermFirst cancels a command that handles SIGTERM: it
// gets SIGTERM, and the time to act on it, before anything is killed.
func TestCancelSendsTermFirst(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pids")
	termed := filepath.Join(dir, "termed")
	cmds, err := parseCommands(`sh -c 'trap "echo TERM > \"\$2\"; exit 0" TERM; sleep 1000 & echo "$$ $!" > "$1.tmp"; mv "$1.tmp" "$1"; wait' sh `+
		sq(pidfile)+" "+sq(termed), "", "")
	require.NoError(t, err)
	// A grace long enough for the trap on a loaded machine; the step ends
	// sooner when the group is empty (and the zombie of the background
	// child is reaped).
	ex := newRunner(cmds, io.Discard, 10*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- ex.Execute(ctx, hostileStep("platform/x@2.0.0")) }()
	pids := readPids(t, pidfile, errc)
	killOnCleanup(t, pids...)
	cancel()
	assert.ErrorContains(t, <-errc, "execute command stopped")
	data, err := os.ReadFile(termed)
	require.NoError(t, err, "the trap ran")
	assert.Equal(t, "TERM\n", string(data))
	waitGone(t, pids...)
}

// TestCommandMayLeaveDaemon runs a command that starts a background
// process and ends by itself: the process is left running.
func TestCommandMayLeaveDaemon(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pids")
	cmds, err := parseCommands(`sh -c 'sleep 1000 >/dev/null 2>&1 & echo "$!" > "$1"' sh `+sq(pidfile), "", "")
	require.NoError(t, err)
	// The background process holds the output pipe until its redirection,
	// which a loaded machine may delay past a short WaitDelay ("WaitDelay
	// expired" once with 200ms): a long grace costs nothing when it is not
	// needed.
	ex := newRunner(cmds, io.Discard, time.Minute)
	require.NoError(t, ex.Execute(t.Context(), hostileStep("platform/x@2.0.0")))
	pids := readPids(t, pidfile, nil)
	killOnCleanup(t, pids...)
	assert.False(t, gone(pids[0]), "the daemon runs on")
	require.NoError(t, syscall.Kill(pids[0], syscall.SIGKILL))
	waitGone(t, pids...)
}
