package pgrun

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14RollbackTimeoutNamed: a Rollback that the step timeout ends,
// returning its context's error, fails with an error that says the step
// timed out and after how long, as upgrade.Run's does (and as the
// workers' Execute does, through upgrade.Run): "context deadline
// exceeded" alone names neither the timeout nor its length. The error
// still matches context.DeadlineExceeded. Before, the workers recorded
// the bare "context deadline exceeded".
func TestHunt14RollbackTimeoutNamed(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	opts := Options{Rollback: true, StepTimeout: 50 * time.Millisecond}
	newExec := func() *blockingRollback {
		e := &blockingRollback{Executor: new(upgradetest.Executor), hold: "a", entered: make(chan struct{})}
		e.FailAt("b", errors.New("boom"))
		return e
	}

	plan := chain3("rb-timeout-named")
	want, _ := upgrade.Run(ctx, plan, newExec(), runOptions(opts)...)
	wa, _ := want.Outcome("a")
	require.Error(t, wa.Err)
	require.Contains(t, wa.Err.Error(), "step timed out after 50ms", "the reference: upgrade.Run names the timeout")

	require.NoError(t, s.Submit(ctx, plan, opts))
	require.NoError(t, s.Work(ctx, plan.ID, newExec(), fastWorker))
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State, "its Rollback timed out")
	require.Error(t, a.Err)
	assert.Equal(t, wa.Err.Error(), a.Err.Error(), "the same error as upgrade.Run's")
	assert.ErrorIs(t, a.Err, context.DeadlineExceeded)
	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	found := false
	for _, e := range events {
		if e.Kind == upgrade.StepRollbackFailed && e.Step.ID == "a" {
			found = true
			assert.Contains(t, e.Err.Error(), "step timed out after 50ms")
		}
	}
	assert.True(t, found, "a's rollback failed: %v", events)
}
