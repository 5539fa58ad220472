package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade/pgrun/pgtest"
)

// h15Server starts a PostgreSQL server of the test's own, for a test that
// stops it, and returns it.
func h15Server(t *testing.T) *pgtest.Server {
	t.Helper()
	testDatabase(t) // skips, or fails, as every database test does without a server
	srv, err := pgtest.Start()
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv
}

// TestHunt15ApplyDatabaseRidesOutRestart: PostgreSQL stops while apply
// --database follows a run whose step a worker runs, and starts again:
// apply says that reading the run failed and it tries again, as serve's
// follower and the workers do, and goes on following the run to its end,
// exit 0. Before, apply exited 1 at its first read during the outage
// ("database: pgrun: reading run ...: failed to connect"), though the
// worker rode the restart out and the run went on to succeed: a pipeline
// took a good upgrade for a failed one.
func TestHunt15ApplyDatabaseRidesOutRestart(t *testing.T) {
	srv := h15Server(t)
	schema := testSchema()
	e := newApplyEnv(t)
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	w := startChild(t, "worker", "--database", srv.URL, "--database-schema", schema, "--exec", e.blockingStep(started, release), "--poll", "50ms")
	ap := startChild(t, e.args("--database", srv.URL, "--database-schema", schema, "--quiet")...)
	waitFile(t, started)

	require.NoError(t, srv.Down())
	ap.waitLine(t, "trying again")
	require.NoError(t, srv.Up())
	require.NoError(t, os.WriteFile(release, nil, 0o644))

	require.Equal(t, exitOK, ap.wait(t), "apply: stdout:\n%s\nstderr:\n%s", ap.stdout.String(), ap.stderr.String())
	assert.Contains(t, ap.stdout.String(), "8 succeeded, 0 failed, 0 skipped, 0 rolled back")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "each step once")
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
}
