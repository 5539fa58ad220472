package pgrun

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// recordedCall is one call of WorkerOptions.Recorded.
type recordedCall struct {
	step upgrade.StepID
	err  error
}

// recordedInto returns a WorkerOptions.Recorded that sends each call on a
// channel, with room for n.
func recordedInto(n int) (func(string, upgrade.StepID, error), chan recordedCall) {
	ch := make(chan recordedCall, n)
	return func(_ string, step upgrade.StepID, err error) { ch <- recordedCall{step, err} }, ch
}

// TestRetryRecordUnansweredEndsStep: a step that failed and is to be
// tried again has its retry recorded first; a database that stops
// answering then must not hold the step up past its lease: the worker
// gives the step up, not recorded, once its lease is cut short, and never
// starts the attempt.
func TestRetryRecordUnansweredEndsStep(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	s1, proxy := proxiedStore(t, s)
	plan := &upgrade.Plan{ID: "retry-silent", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"}}}
	require.NoError(t, s.Submit(ctx, plan, Options{Attempts: 2}))

	var calls atomic.Int32
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if calls.Add(1) == 1 {
			proxy.silence() // before the retry is recorded
		}
		return errors.New("flaky")
	})
	recorded, got := recordedInto(1)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- s1.Work(wctx, plan.ID, exec, WorkerOptions{Name: "w1", Lease: 3 * time.Second, Poll: 20 * time.Millisecond, Recorded: recorded})
	}()
	bound := time.NewTimer(time.Minute) // a failure bound
	defer bound.Stop()
	select {
	case r := <-got:
		assert.Equal(t, upgrade.StepID("a"), r.step)
		assert.ErrorIs(t, r.err, ErrNotRecorded)
		assert.ErrorIs(t, r.err, ErrLeaseLost)
	case <-bound.C:
		t.Error("the step was still held up by its retry's record a minute after the database stopped answering")
	}
	assert.Equal(t, int32(1), calls.Load(), "the attempt after the unrecorded retry started")
	stop()
	<-done
}
