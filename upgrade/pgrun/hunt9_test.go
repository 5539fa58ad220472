package pgrun

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt9CancelInBackoffIsNotInDoubt: a step whose failed attempt is
// waiting out its retry backoff when the run is cancelled failed, as
// upgrade.Run records it (TestHunt9CancelInBackoffIsNotInDoubt in
// upgrade): nothing of it was running, so it is not in doubt, and Retry
// offers it again as a step that failed, not in doubt.
func TestHunt9CancelInBackoffIsNotInDoubt(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := onNode("backoff-cancel", "a", "n-a")
	// A backoff no test outlasts: the step is still waiting when cancelled.
	require.NoError(t, s.Submit(ctx, plan, Options{Attempts: 3, Backoff: time.Hour, MaxBackoff: time.Hour}))
	var mu sync.Mutex
	var doubt []bool
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		mu.Lock()
		defer mu.Unlock()
		doubt = append(doubt, upgrade.InDoubt(ctx))
		if len(doubt) == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- s.Work(ctx, plan.ID, exec, lapsingWorker) }() // see TestCancelledStepInDoubtOnRetry for the lease

	// The worker records the retry before upgrade.Run waits out the
	// backoff: once it is recorded, the first attempt has ended and the
	// second has not started.
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute) // a failure bound
	defer cancel()
	waitForRetrying(waitCtx, t, s, plan.ID)
	require.NoError(t, s.Cancel(ctx, plan.ID))
	require.NoError(t, <-done)

	failedNotInDoubtThenRetry(ctx, t, s, plan.ID, exec)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []bool{false, false}, doubt, "tried again, not in doubt")
}

// TestHunt9StopAndCancelInBackoffIsNotInDoubt: a step waiting out its
// retry backoff as the run stops (FailFast, another step failed) and is
// cancelled, as an operator cancels a run seen failing, failed, as in
// upgrade.Run (TestHunt9StopAndCancelInBackoffIsNotInDoubt in upgrade),
// whichever of the two its worker learns of first: it is not in doubt.
func TestHunt9StopAndCancelInBackoffIsNotInDoubt(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := &upgrade.Plan{ID: "backoff-stop-cancel", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b"}}}
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2, Policy: upgrade.FailFast, Attempts: 3, Backoff: time.Hour, MaxBackoff: time.Hour}))
	release := make(chan struct{}) // b fails once a waits out its backoff
	var mu sync.Mutex
	doubt := map[upgrade.StepID][]bool{}
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		mu.Lock()
		doubt[st.ID] = append(doubt[st.ID], upgrade.InDoubt(ctx))
		first := len(doubt[st.ID]) == 1
		mu.Unlock()
		switch {
		case !first:
			return nil
		case st.ID == "a":
			return errors.New("a's first attempt fails")
		}
		<-release
		return upgrade.Permanent(errors.New("b fails"))
	})
	o := lapsingWorker // see TestCancelledStepInDoubtOnRetry for the lease
	o.Slots = 2
	done := make(chan error, 1)
	go func() { done <- s.Work(ctx, plan.ID, exec, o) }()

	waitCtx, cancel := context.WithTimeout(ctx, time.Minute) // a failure bound
	defer cancel()
	waitForRetrying(waitCtx, t, s, plan.ID)
	close(release)
	pollUntil(waitCtx, t, "b's failure recorded, the run stopping", func() bool {
		st, err := s.Status(waitCtx, plan.ID)
		require.NoError(t, err)
		b, _ := st.Report.Outcome("b")
		return b.State == upgrade.Failed
	})
	require.NoError(t, s.Cancel(ctx, plan.ID))
	require.NoError(t, <-done)

	failedNotInDoubtThenRetry(ctx, t, s, plan.ID, exec)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []bool{false, false}, doubt["a"], "a tried again, not in doubt")
}

// failedNotInDoubtThenRetry requires the run of planID to be finished
// with step a failed and no step in doubt, and then takes the run up
// again (Store.Retry) and works it to its end with exec.
func failedNotInDoubtThenRetry(ctx context.Context, t *testing.T, s *Store, planID string, exec upgrade.Executor) {
	t.Helper()
	st, err := s.Status(ctx, planID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.True(t, st.Cancelled)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Failed, a.State)
	assert.False(t, a.InDoubt, "its last attempt had ended: nothing of it ran as the run was cancelled")
	assert.ErrorContains(t, a.Err, "first attempt fails", "its last attempt's error, as upgrade.Run reports it")
	assert.Empty(t, st.InDoubt)

	retried, err := s.Retry(ctx, planID)
	require.NoError(t, err)
	require.True(t, retried)
	work(t, s, planID, 1, exec, fastWorker)
}

// waitForRetrying waits until the run of planID has an event of kind
// upgrade.StepRetrying, reading its events as they come.
func waitForRetrying(ctx context.Context, t *testing.T, s *Store, planID string) {
	t.Helper()
	var after int64
	pollUntil(ctx, t, "a retry recorded", func() bool {
		events, err := s.Events(ctx, planID, after, 100)
		require.NoError(t, err)
		for _, e := range events {
			if e.Kind == upgrade.StepRetrying {
				return true
			}
			after = e.Seq
		}
		return false
	})
}

// pollUntil calls done until it reports true, looking again every 10 ms
// (polling: the next look, not an order of events), or fails the test
// once ctx is done.
func pollUntil(ctx context.Context, t *testing.T, what string, done func() bool) {
	t.Helper()
	for !done() {
		select {
		case <-ctx.Done():
			require.FailNow(t, "not "+what, "%v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
