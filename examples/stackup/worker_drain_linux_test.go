package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

// waitLedger waits until the ledger has n lines and returns them; the
// deadline is only a failure bound.
func (e *applyEnv) waitLedger(t *testing.T, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if lines := strings.Fields(e.readLedger(t)); len(lines) >= 2*n {
			return strings.Split(strings.TrimSpace(e.readLedger(t)), "\n")
		}
	}
	t.Fatalf("the ledger never had %d lines:\n%s", n, e.readLedger(t))
	return nil
}

// blockFirst is an --exec script recording each step in the ledger; the
// first step to run, unless in doubt, then waits until release exists.
func (e *applyEnv) blockFirst(release string) string {
	lock := filepath.Join(e.dir, "first")
	return e.script(recordBody + `; if [ "$2" = false ] && mkdir ` + sq(lock) + ` 2>/dev/null; then while [ ! -e ` + sq(release) +
		` ]; do sleep 0.01; done; fi`)
}

// TestWorkerDrains: the first SIGINT drains a worker: with a step ready
// and a free slot, it claims nothing more; the step it runs, once
// released, finishes and is recorded succeeded, and the worker exits 0
// saying so. The ready steps stay unstarted until a second worker takes
// them.
func TestWorkerDrains(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	store := openStore(t, db, schema)
	require.NoError(t, store.Submit(t.Context(), plan, pgrun.Options{Concurrency: 1}))
	release := filepath.Join(e.dir, "release")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) })
	// Two slots: the second waits only for the run's concurrency limit,
	// which the first step frees as it finishes.
	w1 := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockFirst(release),
		"--plan", plan.ID, "--slots", "2", "--poll", "50ms", "--name", "w1")
	first := e.waitLedger(t, 1)[0]
	blocked, _, _ := strings.Cut(first, " ")
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGINT))
	w1.waitLine(t, "stopping: no new step starts")
	require.NoError(t, os.WriteFile(release, nil, 0o600))
	require.Equal(t, exitOK, w1.wait(t), w1.stderr.String())
	// The second slot polls every 50ms: a claim of its under way as the
	// drain began may still start a step (pgrun.WorkerOptions.Drain), once
	// the first frees the run's slot (seen 1 run in 4 under -race).
	// Nothing after it, and the tally counts it.
	ran := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(e.readLedger(t)), "\n") {
		id, _, _ := strings.Cut(l, " ")
		ran[id] = true
	}
	require.True(t, ran[blocked])
	require.LessOrEqual(t, len(ran), 2, "the worker claimed nothing more than a claim under way:\n%s", e.readLedger(t))
	assert.Contains(t, w1.stderr.String(), "drained: "+count(len(ran), "step")+" finished, nothing new claimed")

	st, err := store.Status(t.Context(), plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished)
	for i, o := range st.Report.Outcomes {
		if ran[string(plan.Steps[i].ID)] {
			assert.Equal(t, upgrade.Succeeded, o.State, "the drained step was recorded")
		} else {
			assert.Equal(t, upgrade.NotStarted, o.State, "%s stays unstarted", plan.Steps[i].ID)
		}
	}
	assert.Empty(t, st.InDoubt)

	w2 := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockFirst(release),
		"--plan", plan.ID, "--poll", "50ms", "--name", "w2")
	require.Equal(t, exitOK, w2.wait(t), w2.stderr.String())
	st, err = store.Status(t.Context(), plan.ID)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	assert.Empty(t, st.InDoubt)
	lines := strings.Split(strings.TrimSpace(e.readLedger(t)), "\n")
	require.Len(t, lines, len(plan.Steps), "each step ran once")
	assert.Equal(t, first, lines[0])
	slices.Sort(lines)
	want := strings.Split(strings.TrimSpace(ledgerOf(allSteps...)), "\n")
	slices.Sort(want)
	assert.Equal(t, want, lines)
}

// TestWorkerDrainFailed: a step that fails while its worker drains makes
// the worker exit 1, naming it.
func TestWorkerDrainFailed(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	store := openStore(t, db, schema)
	require.NoError(t, store.Submit(t.Context(), plan, pgrun.Options{Concurrency: 1, Policy: upgrade.ContinueIndependent}))
	release := filepath.Join(e.dir, "release")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) })
	lock := filepath.Join(e.dir, "first")
	failing := e.script(recordBody + `; if mkdir ` + sq(lock) + ` 2>/dev/null; then while [ ! -e ` + sq(release) +
		` ]; do sleep 0.01; done; echo "disk full on $3" >&2; exit 1; fi`)
	// One slot: no claim of another can be under way as the drain begins
	// (see TestWorkerDrains).
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", failing,
		"--plan", plan.ID, "--poll", "50ms")
	blocked, _, _ := strings.Cut(e.waitLedger(t, 1)[0], " ")
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	w.waitLine(t, "stopping: no new step starts")
	require.NoError(t, os.WriteFile(release, nil, 0o600))
	require.Equal(t, exitFailed, w.wait(t), w.stderr.String())
	assert.Contains(t, w.stderr.String(), "drained: 1 step finished, nothing new claimed; failed: "+blocked)
	assert.Equal(t, ledgerOf(blocked), e.readLedger(t), "the worker claimed nothing more")
	st, err := store.Status(t.Context(), plan.ID)
	require.NoError(t, err)
	for i, o := range st.Report.Outcomes {
		if string(plan.Steps[i].ID) == blocked {
			assert.Equal(t, upgrade.Failed, o.State)
		}
	}
}

// TestWorkerSecondSignal: a second signal ends a draining worker at once
// (130), with its step still running; another worker takes the step over,
// in doubt, once its lease expires, and finishes the run.
func TestWorkerSecondSignal(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	store := openStore(t, db, schema)
	require.NoError(t, store.Submit(t.Context(), plan, pgrun.Options{Concurrency: 1}))
	release := filepath.Join(e.dir, "release")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) }) // lets the orphaned step end
	w1 := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockFirst(release),
		"--plan", plan.ID, "--lease", "2s", "--poll", "50ms", "--name", "w1")
	blocked, _, _ := strings.Cut(e.waitLedger(t, 1)[0], " ")
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGINT))
	w1.waitLine(t, "stopping: no new step starts")
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, exitInterrupted, w1.wait(t), w1.stderr.String())
	assert.NotContains(t, w1.stderr.String(), "drained")

	w2 := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockFirst(release),
		"--plan", plan.ID, "--lease", "2s", "--poll", "50ms", "--name", "w2")
	require.Equal(t, exitOK, w2.wait(t), w2.stderr.String())
	st, err := store.Status(t.Context(), plan.ID)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	assert.Equal(t, []upgrade.StepID{upgrade.StepID(blocked)}, st.InDoubt)
	e.checkTakenOver(t, blocked)
}

// TestWorkerDrainWaiting: a worker waiting for its plan to be submitted
// drains at once on the first SIGTERM: exit 0, nothing ran, and the plan
// submitted afterwards has no step started. (An idle worker without
// --plan draining: TestApplyDatabaseWorkers, TestServeDatabaseDeployment.)
func TestWorkerDrainWaiting(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	waiting := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(),
		"--plan", plan.ID, "--poll", "50ms")
	waiting.waitLine(t, "waiting for the plan to be submitted")
	require.NoError(t, waiting.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, exitOK, waiting.wait(t), waiting.stderr.String())
	assert.Contains(t, waiting.stderr.String(), "drained: 0 steps finished, nothing new claimed")
	store := openStore(t, db, schema)
	require.NoError(t, store.Submit(t.Context(), plan, pgrun.Options{}))
	st, err := store.Status(t.Context(), plan.ID)
	require.NoError(t, err)
	for _, o := range st.Report.Outcomes {
		assert.Equal(t, upgrade.NotStarted, o.State)
	}
	assert.Empty(t, e.readLedger(t), "nothing ran")
}
