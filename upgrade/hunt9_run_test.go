package upgrade_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt9CancelInBackoffIsNotInDoubt: a run cancelled while a step
// waits out its retry backoff has nothing of that step running: its
// failed attempt ended, and the journal says so. A resumed run tries the
// step again as one not started, not in doubt, so that the operator has
// nothing to check on its node first.
func TestHunt9CancelInBackoffIsNotInDoubt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := shopPlan(t, 1)
		first := plan.Steps[0].ID
		path := filepath.Join(t.TempDir(), "run.journal")
		j, err := upgrade.OpenFileJournal(path)
		require.NoError(t, err)
		defer j.Close()

		exec := &upgradetest.Executor{}
		exec.FailTimes(first, 1, errors.New("mirror unreachable"))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var report *upgrade.Report
		done := make(chan error)
		go func() {
			var err error
			report, err = upgrade.Run(ctx, plan, exec, upgrade.WithJournal(j), upgrade.WithRetry(3, time.Minute, time.Hour))
			done <- err
		}()
		synctest.Wait() // the first attempt failed; the step waits out its backoff
		require.Equal(t, 1, exec.Calls(first), "one attempt before the wait")
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		o, _ := report.Outcome(first)
		assert.Equal(t, upgrade.Failed, o.State)
		assert.Equal(t, 1, o.Attempts)

		exec2 := &upgradetest.Executor{}
		report, err = upgrade.Run(context.Background(), plan, exec2, upgrade.WithJournal(j))
		require.NoError(t, err)
		assert.Empty(t, exec2.InDoubt(), "nothing of the step ran when the run was cancelled")
		o, _ = report.Outcome(first)
		assert.False(t, o.InDoubt)
		assert.Equal(t, upgrade.Succeeded, o.State)
		assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
	})
}

// TestHunt9TimeoutSaysSo: a step that hangs until the step timeout, its
// executor returning the context's error as Executor asks, fails with an
// error that says the step timed out, and after how long, not only
// "context deadline exceeded", which names neither the timeout nor the
// option that set it; it still matches context.DeadlineExceeded.
func TestHunt9TimeoutSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := h5Plan("a", "b:a")
		exec := &upgradetest.Executor{}
		exec.Hang("a")
		report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithStepTimeout(time.Minute), upgrade.WithRetry(2, time.Second, 0))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, `step a on node "n-a": step timed out after 1m0s`)
		o, _ := report.Outcome("a")
		assert.Equal(t, upgrade.Failed, o.State)
		assert.Equal(t, 2, o.Attempts, "a timeout is retried")
		assert.ErrorContains(t, o.Err, "step timed out after 1m0s")
		o, _ = report.Outcome("b")
		assert.Equal(t, upgrade.Skipped, o.State)
	})
}

// TestHunt9StopAndCancelInBackoffIsNotInDoubt: a server shutting down
// closes the run's stop, then cancels it; both may have happened by the
// time a step waiting out its retry backoff looks, and the run's wait
// then ends by either. Its failed attempt ended before both: the journal
// records it failed, not started, whichever ended the wait, so that a
// resumed run tries it again, not in doubt. (The wait picks at random;
// twenty runs catch the wrong pick with a probability of 1 - 2^-20.)
func TestHunt9StopAndCancelInBackoffIsNotInDoubt(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			plan := h5Plan("a", "b:a")
			exec := &upgradetest.Executor{}
			exec.FailTimes("a", 1, errors.New("mirror unreachable"))
			j := &h2CtxJournal{}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stop := make(chan struct{})
			done := make(chan error)
			go func() {
				_, err := upgrade.Run(ctx, plan, exec, upgrade.WithJournal(j), upgrade.WithStop(stop),
					upgrade.WithRetry(3, time.Minute, time.Hour))
				done <- err
			}()
			synctest.Wait() // a failed once and waits out its backoff
			// Cancelled first: the run may end as soon as either is done,
			// before the other (goroutines of a bubble still run at once),
			// and a run whose ctx is done returns ctx's error.
			cancel()
			close(stop)
			require.ErrorIs(t, <-done, context.Canceled)
			require.Equal(t, upgrade.RecordFailed, j.last("a"), "nothing of a was running")
		})
	}
}
