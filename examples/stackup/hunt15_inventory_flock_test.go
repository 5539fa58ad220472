//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt15SlowInventoryHoldsUpNoStep holds the lock on the topology
// file's directory, as another stackup writing it would, while apply runs:
// the inventory cannot write. Apply learnt each step in Run's event hook,
// in which Run starts no step, so the run stood still at its first step
// till the lock was released, as it stood for a whole-file rewrite after
// every step (most of a second for a fleet's topology), at any
// concurrency. The steps now run while the file waits, and apply records
// them all once it can, before it ends.
func TestHunt15SlowInventoryHoldsUpNoStep(t *testing.T) {
	e := newApplyEnv(t)
	last := filepath.Join(e.dir, "last")
	exec := e.script(recordBody + `; if [ "$1" = ` + sq(allSteps[len(allSteps)-1]) + ` ]; then : > ` + sq(last) + `; fi`)
	dir, err := os.Open(e.dir)
	require.NoError(t, err)
	defer dir.Close()
	require.NoError(t, syscall.Flock(int(dir.Fd()), syscall.LOCK_EX))

	done := make(chan result, 1)
	go func() { done <- stackup(t, e.args("--exec", exec)...) }()
	waitFile(t, last)
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "every step ran, the file locked")
	assert.Equal(t, "8.5.100", e.nodeVersion(t, "tomcat-1"), "and learnt nothing yet")

	require.NoError(t, dir.Close()) // releases the lock
	r := <-done
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-1"))
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-2"))
	assert.Equal(t, "2.0.0", e.nodeVersion(t, "shop-2"))
	again := stackup(t, e.planArgs()...)
	assert.Contains(t, again.stdout, "No changes")
}
