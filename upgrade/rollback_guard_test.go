package upgrade_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// rgChain is a → b → c.
func rgChain(id string) *upgrade.Plan {
	return &upgrade.Plan{ID: id, Steps: []upgrade.Step{
		{ID: "a", Node: "n-a"}, {ID: "b", Node: "n-b", After: []upgrade.StepID{"a"}}, {ID: "c", Node: "n-c", After: []upgrade.StepID{"b"}},
	}}
}

// rgStubborn ignores its context in Execute of step b until released, and
// records whether Rollback(b) was called while that Execute ran.
type rgStubborn struct {
	upgradetest.Executor
	release          chan struct{}
	executing        atomic.Bool
	rolledBackDuring atomic.Bool
}

func (e *rgStubborn) Execute(ctx context.Context, s upgrade.Step) error {
	if s.ID == "b" {
		e.executing.Store(true)
		<-e.release
		e.executing.Store(false)
		return errors.New("b: half installed")
	}
	return e.Executor.Execute(ctx, s)
}

func (e *rgStubborn) Rollback(ctx context.Context, s upgrade.Step) error {
	if s.ID == "b" && e.executing.Load() {
		e.rolledBackDuring.Store(true)
	}
	return e.Executor.Rollback(ctx, s)
}

// TestRollbackLeavesAbandonedStep: a step abandoned after its timeout (its
// Execute ignores its context) may still be changing its node: the
// rollback leaves it in place, with an error saying why, and so the step
// before it too.
func TestRollbackLeavesAbandonedStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exec := &rgStubborn{release: make(chan struct{})}
		report, err := upgrade.Run(t.Context(), rgChain("sha256:rg1"), exec,
			upgrade.WithStepTimeout(time.Minute), upgrade.WithGracePeriod(10*time.Second), upgrade.WithRollback())
		require.ErrorIs(t, err, upgrade.ErrRollback)
		assert.False(t, exec.rolledBackDuring.Load(), "Rollback(b) called while Execute(b) still ran")
		assert.Empty(t, exec.RolledBack(), "b stays, and a for it")
		b, _ := report.Outcome("b")
		assert.True(t, b.Abandoned)
		assert.Equal(t, upgrade.Failed, b.State)
		assert.ErrorContains(t, err, "its Execute may still be running, so it is not undone")
		a, _ := report.Outcome("a")
		assert.Equal(t, upgrade.Succeeded, a.State)
		assert.ErrorContains(t, a.Err, "step b after it is still in place")
		close(exec.release)
	})
}

// rgCancelInRollback cancels the run in its first Rollback.
type rgCancelInRollback struct {
	upgradetest.Executor
	cancel context.CancelFunc
	calls  []upgrade.StepID
}

func (e *rgCancelInRollback) Rollback(ctx context.Context, s upgrade.Step) error {
	e.calls = append(e.calls, s.ID)
	e.cancel()
	return ctx.Err()
}

// TestRollbackStopsWhenCancelled: cancelled during the rollback, the run
// calls no further Rollback and journals nothing more: the steps not
// undone stay as they were, succeeded, not in doubt for a resume.
func TestRollbackStopsWhenCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.journal")
	p := &upgrade.Plan{ID: "sha256:rg2", Steps: []upgrade.Step{
		{ID: "a", Node: "n-a"}, {ID: "b", Node: "n-b"}, {ID: "c", Node: "n-c"}, {ID: "d", Node: "n-d"}}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	exec := &rgCancelInRollback{cancel: cancel}
	exec.FailAt("d", errors.New("d broken"))
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	report, err := upgrade.Run(ctx, p, exec, upgrade.WithJournal(j), upgrade.WithRollback())
	require.NoError(t, j.Close())
	assert.Equal(t, []upgrade.StepID{"d"}, exec.calls, "once cancelled, no further Rollback starts")
	assert.ErrorIs(t, err, context.Canceled)
	for _, id := range []upgrade.StepID{"a", "b", "c"} {
		o, _ := report.Outcome(id)
		assert.Equal(t, upgrade.Succeeded, o.State, id)
		assert.ErrorIs(t, o.Err, context.Canceled, id)
	}
	last := hfLast(t, path, p.ID)
	for _, id := range []upgrade.StepID{"a", "b", "c"} {
		assert.Equal(t, upgrade.RecordSucceeded, last[id], "%s: not in doubt for a resume", id)
	}
}

// TestFailFastEndsRetries: under FailFast, once a step has failed, a step
// waiting to try again does not: it ends Failed with its last attempt's
// error (the wait for its backoff ends with the failure).
func TestFailFastEndsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &upgrade.Plan{ID: "sha256:rg3", Steps: []upgrade.Step{{ID: "x", Node: "n-x"}, {ID: "y", Node: "n-y"}}}
		yRetrying := make(chan struct{})
		var yCalls atomic.Int32
		exec := &upgradetest.Executor{}
		exec.Func = func(_ context.Context, s upgrade.Step) error {
			switch s.ID {
			case "y":
				if yCalls.Add(1) == 1 {
					return errors.New("y: flaky")
				}
			case "x":
				<-yRetrying
				return upgrade.Permanent(errors.New("x: broken"))
			}
			return nil
		}
		report, err := upgrade.Run(t.Context(), p, exec, upgrade.WithConcurrency(2), upgrade.WithRetry(3, time.Minute, 0),
			upgrade.WithEvents(func(e upgrade.Event) {
				if e.Kind == upgrade.StepRetrying && e.Step.ID == "y" {
					close(yRetrying)
				}
			}))
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		assert.Equal(t, 1, exec.Calls("y"), "no second attempt of y once x failed")
		y, _ := report.Outcome("y")
		assert.Equal(t, upgrade.Failed, y.State)
		assert.ErrorContains(t, y.Err, "y: flaky")
	})
}

// TestRollbackKeepsStepsBeneathEarlierRuns: a resumed run rolled back
// keeps a step whose step after it failed, or was cut short, in an
// earlier run and has not run again: that step may have changed its node
// in part or in full, so the one beneath it is not undone under it.
func TestRollbackKeepsStepsBeneathEarlierRuns(t *testing.T) {
	for name, b := range map[string]upgrade.RecordKind{"failed": upgrade.RecordFailed, "in doubt": upgrade.RecordStarted} {
		t.Run(name, func(t *testing.T) {
			// z first: it fails, and FailFast starts nothing after it.
			plan := &upgrade.Plan{ID: "sha256:rg-earlier", Steps: []upgrade.Step{
				{ID: "z", Node: "n-z"}, {ID: "a", Node: "n-a"}, {ID: "b", Node: "n-b", After: []upgrade.StepID{"a"}},
			}}
			path := jrPath(t)
			jrSeed(t, path, plan.ID, jrRec(upgrade.RecordStarted, "a"), jrRec(upgrade.RecordSucceeded, "a"),
				jrRec(upgrade.RecordStarted, "b"), jrRec(b, "b"))
			exec := &upgradetest.Executor{}
			exec.FailAt("z", upgrade.Permanent(errors.New("z broke")))
			report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(jrOpen(t, path)), upgrade.WithRollback())
			require.Error(t, err)
			assert.Equal(t, []upgrade.StepID{"z"}, exec.Started(), "b is not tried again")
			assert.Equal(t, []upgrade.StepID{"z"}, exec.RolledBack(), "a stays beneath b")
			o, _ := report.Outcome("a")
			assert.Equal(t, upgrade.Succeeded, o.State)
			assert.ErrorContains(t, o.Err, "step b after it failed, or was cut short, in an earlier run")
		})
	}
}
