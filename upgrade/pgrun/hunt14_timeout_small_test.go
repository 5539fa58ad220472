package pgrun

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14SubMicrosecondTimeoutBounds: a StepTimeout under a
// microsecond (the runs table keeps durations in microseconds) still
// bounds each attempt, as upgrade.WithStepTimeout's does: a step that
// ignores nothing but never ends on its own times out. Before, it was
// stored as 0, which is no bound: the step ran until the worker stopped.
func TestHunt14SubMicrosecondTimeoutBounds(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := onNode("sub-microsecond-timeout", "a", "n-a")
	opts := Options{StepTimeout: 500 * time.Nanosecond}

	hang := func() *upgradetest.Executor {
		e := &upgradetest.Executor{}
		e.Hang("a")
		return e
	}
	want, err := upgrade.Run(ctx, plan, hang(), runOptions(opts)...)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the reference: upgrade.Run bounds the attempt")
	wa, _ := want.Outcome("a")
	require.Equal(t, upgrade.Failed, wa.State)

	require.NoError(t, s.Submit(ctx, plan, opts))
	bound, cancel := context.WithTimeout(ctx, 30*time.Second) // a failure bound, not a timing
	defer cancel()
	require.NoError(t, s.Work(bound, plan.ID, hang(), fastWorker), "the run ends: the step timed out")
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Failed, a.State)
	assert.ErrorIs(t, a.Err, context.DeadlineExceeded)
}
