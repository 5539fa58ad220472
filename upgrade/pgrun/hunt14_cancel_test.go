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

// TestHunt14CancelledLostStepMatchesErrCancelled: a step of a cancelled
// run whose worker was lost fails, once its lease expires, with an error
// that says the run was cancelled; like the error of a step that a live
// worker cut short on the cancel, it matches ErrCancelled and
// context.Canceled (see Store.Cancel), in Status and in its event, and so
// does the error of a rollback whose worker was lost as the run was
// cancelled, like that of the steps the cancel leaves in place. Before,
// they matched nothing: a caller telling a step failed by the cancel from
// one that failed on its own (errors.Is(o.Err, ErrCancelled)) took them
// for failures of their own.
func TestHunt14CancelledLostStepMatchesErrCancelled(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()

	plan := chain3("lost-cancel-kinds") // a → b → c, and d
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	lost := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "lost", Lease: time.Hour})
	c, _, _, err := lost.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Equal(t, upgrade.StepID("a"), plan.Steps[c.idx].ID)
	require.NoError(t, s.Cancel(ctx, plan.ID))
	expireLeases(t, s, pool, plan.ID)
	st, err := s.Wait(ctx, plan.ID, time.Hour)
	require.NoError(t, err)
	require.True(t, st.Finished)
	a, _ := st.Report.Outcome("a")
	require.Equal(t, upgrade.Failed, a.State)
	assert.ErrorIs(t, a.Err, ErrCancelled, "a failed for the cancel: %v", a.Err)
	assert.ErrorIs(t, a.Err, context.Canceled, "as a step cut short by the cancel: %v", a.Err)
	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	failed := 0
	for _, e := range events {
		if e.Kind == upgrade.StepFailed {
			failed++
			assert.ErrorIs(t, e.Err, ErrCancelled, "event of %s: %v", e.Step.ID, e.Err)
			assert.ErrorIs(t, e.Err, context.Canceled, "event of %s: %v", e.Step.ID, e.Err)
		}
	}
	assert.Equal(t, 1, failed)

	// A rollback whose worker is lost as the run is cancelled: b's, the
	// last completed; a is left in place by the cancel (the reference).
	rb := rollingBack(t, s, "lost-rollback-cancel-kinds") // a succeeded, b failed
	roller := testWorker(t, s, rb.ID, &upgradetest.Executor{}, WorkerOptions{Name: "roller", Lease: time.Hour})
	c, _, _, err = roller.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.True(t, c.rollback)
	require.Equal(t, upgrade.StepID("b"), rb.Steps[c.idx].ID)
	require.NoError(t, s.Cancel(ctx, rb.ID))
	_, err = pool.Exec(ctx, s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() - interval '1 second'
		WHERE plan_id = $1 AND state = 'rolling_back'`), rb.ID)
	require.NoError(t, err)
	st, err = s.Wait(ctx, rb.ID, time.Hour)
	require.NoError(t, err)
	require.True(t, st.Finished)
	a, _ = st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State, "not undone")
	assert.ErrorIs(t, a.Err, ErrCancelled, "a, kept in place by the cancel: %v", a.Err)
	events, err = s.Events(ctx, rb.ID, 0, 100)
	require.NoError(t, err)
	var kept []upgrade.StepID
	for _, e := range events {
		if e.Kind == upgrade.StepRollbackFailed {
			kept = append(kept, e.Step.ID)
			assert.ErrorIs(t, e.Err, ErrCancelled, "event of %s: %v", e.Step.ID, e.Err)
			assert.ErrorIs(t, e.Err, context.Canceled, "event of %s: %v", e.Step.ID, e.Err)
		}
	}
	assert.Equal(t, []upgrade.StepID{"b", "a"}, kept)
}
