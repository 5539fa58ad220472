package pgrun

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// outcomes returns the state of each step of the run of plan planID.
func outcomes(t *testing.T, s *Store, planID string) map[upgrade.StepID]upgrade.State {
	t.Helper()
	st, err := s.Status(context.Background(), planID)
	require.NoError(t, err)
	got := map[upgrade.StepID]upgrade.State{}
	for _, o := range st.Report.Outcomes {
		got[o.Step] = o.State
	}
	return got
}

// finished returns the status of the run of plan planID, which must have
// finished with every step succeeded.
func finished(t *testing.T, s *Store, planID string) *Status {
	t.Helper()
	st, err := s.Status(context.Background(), planID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	for _, o := range st.Report.Outcomes {
		assert.Equal(t, upgrade.Succeeded, o.State, o.Step)
	}
	return st
}

// effectSteps returns the steps of the effects recorded, in order.
func effectSteps(t *testing.T, s *Store) []string {
	var out []string
	for _, e := range readEffects(t, s) {
		out = append(out, e.step)
	}
	return out
}

// TestRetryFailedRun: a run that failed is taken up again; the steps done
// are not run again, the failed one and those it held back run, each with
// its retries afresh, and the run ends succeeded.
func TestRetryFailedRun(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	createEffects(t, s)
	plan := chain3("p")
	require.NoError(t, s.Submit(ctx, plan, Options{Policy: upgrade.ContinueIndependent, Attempts: 2}))
	broken := true
	exec := &effectExec{s: s, worker: "w", fail: func(id upgrade.StepID, _ int) error {
		if id == "b" && broken {
			return errors.New("disk full")
		}
		return nil
	}}
	work(t, s, plan.ID, 1, exec, fastWorker)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.Succeeded, "b": upgrade.Failed, "c": upgrade.Skipped, "d": upgrade.Succeeded},
		outcomes(t, s, plan.ID))
	before, err := s.Events(ctx, plan.ID, 0, 1000)
	require.NoError(t, err)

	broken = false
	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, retried)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished, "going again")
	work(t, s, plan.ID, 2, exec, fastWorker)
	st = finished(t, s, plan.ID)
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, 1, b.Attempts, "its retries counted afresh")
	ran := effectSteps(t, s)
	assert.ElementsMatch(t, []string{"a", "b", "b", "d", "b", "c"}, ran, "b twice (Attempts 2), then once more; nothing done before ran again")

	// The events go on from the ended run's: those after the last one
	// seen are the retry's.
	after, err := s.Events(ctx, plan.ID, before[len(before)-1].Seq, 1000)
	require.NoError(t, err)
	var kinds []string
	for _, ev := range after {
		kinds = append(kinds, ev.Kind.String()+" "+string(ev.Step.ID))
	}
	assert.Equal(t, []string{"started b", "succeeded b", "started c", "succeeded c"}, kinds)

	// A run that succeeded has nothing to retry.
	retried, err = s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	assert.False(t, retried)
}

func TestRetryCancelledRun(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := chain3("p")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	require.NoError(t, s.Cancel(ctx, plan.ID))
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.True(t, st.Cancelled)

	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, retried)
	exec := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.False(t, st.Cancelled)
	assert.NoError(t, st.Err)
	assert.Len(t, exec.Finished(), 4)
}

func TestRetryRefuses(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := chain3("p")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	_, err := s.Retry(ctx, plan.ID)
	require.ErrorIs(t, err, ErrNotFinished)
	assert.ErrorContains(t, err, "run p is still going")
	_, err = s.Retry(ctx, "other")
	require.ErrorIs(t, err, ErrUnknownRun)
	_, err = s.Retry(ctx, "bad id\n")
	require.Error(t, err)
}

// TestRetryRolledBackRun: a run rolled back past a barrier is taken up
// again: the steps undone run again before the barrier lets the steps
// after it start, as they did the first time.
func TestRetryRolledBackRun(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	createEffects(t, s)
	plan := &upgrade.Plan{ID: "p", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"}, {ID: "b", Kind: upgrade.Platform, Node: "n-b"},
		{ID: "c", Kind: upgrade.Application, Node: "n-c", After: []upgrade.StepID{"gate"}}},
		Barriers: []upgrade.Barrier{{ID: "gate", After: []upgrade.StepID{"a", "b"}}}}
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true, Concurrency: 3}))
	broken := true
	exec := &rollbackEffects{effectExec: &effectExec{s: s, worker: "w", fail: func(id upgrade.StepID, _ int) error {
		if id == "c" && broken {
			return errors.New("health check failed")
		}
		return nil
	}}}
	work(t, s, plan.ID, 1, exec, fastWorker)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.RolledBack, "b": upgrade.RolledBack, "c": upgrade.RolledBack},
		outcomes(t, s, plan.ID))

	broken = false
	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	// The barrier had passed: it waits again for a and b, and c for it.
	vertices := map[string]string{}
	rows, err := s.pool.Query(ctx, s.q(`SELECT step_id, state || ' ' || waiting FROM {s}.steps WHERE plan_id = $1`), plan.ID)
	require.NoError(t, err)
	var id, state string
	_, err = pgx.ForEachRow(rows, []any{&id, &state}, func() error { vertices[id] = state; return nil })
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "ready 0", "b": "ready 0", "gate": "waiting 2", "c": "waiting 1"}, vertices)

	work(t, s, plan.ID, 3, exec, fastWorker)
	finished(t, s, plan.ID)
	ran := effectSteps(t, s)
	require.Len(t, ran, 6)
	assert.Equal(t, "c", ran[5], "the step behind the barrier runs last again")
}

// rollbackEffects is an effectExec whose Rollback succeeds.
type rollbackEffects struct{ *effectExec }

func (e *rollbackEffects) Rollback(context.Context, upgrade.Step) error { return nil }

// twoChain is a → b.
func twoChain(id string) *upgrade.Plan {
	return &upgrade.Plan{ID: id, Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}}}}
}

// TestRetryRolledBackRunRollsBackAgain: a run rolled back, retried and
// failing again, is rolled back again.
func TestRetryRolledBackRunRollsBackAgain(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := twoChain("p")
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	exec := &upgradetest.Executor{Func: func(_ context.Context, st upgrade.Step) error {
		if st.ID == "b" {
			return errors.New("boom")
		}
		return nil
	}}
	work(t, s, plan.ID, 1, exec, fastWorker)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.RolledBack, "b": upgrade.RolledBack}, outcomes(t, s, plan.ID))
	assert.Equal(t, []upgrade.StepID{"b", "a"}, exec.RolledBack())

	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	work(t, s, plan.ID, 1, exec, fastWorker)
	// b fails again: the run, with Rollback, must undo a and b again.
	got := map[upgrade.StepID]string{}
	for id, st := range outcomes(t, s, plan.ID) {
		got[id] = st.String()
	}
	assert.Equal(t, map[upgrade.StepID]string{"a": "rolled back", "b": "rolled back"}, got)
	assert.Equal(t, []upgrade.StepID{"b", "a", "b", "a"}, exec.RolledBack())
}

// TestRetryForgetsOldRollbackError: a step whose rollback failed, retried
// and now succeeding, does not keep the old rollback error in Status.
func TestRetryForgetsOldRollbackError(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := twoChain("p")
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	var broken atomic.Bool
	broken.Store(true)
	exec := &upgradetest.Executor{Func: func(_ context.Context, st upgrade.Step) error {
		if st.ID == "b" && broken.Load() {
			return errors.New("boom")
		}
		return nil
	}}
	exec.FailRollback("b", errors.New("cannot undo b"))
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	t.Logf("first run: %v", st.Err)

	broken.Store(false)
	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	for _, o := range st.Report.Outcomes {
		assert.Equal(t, upgrade.Succeeded, o.State, o.Step)
		assert.NoError(t, o.Err, o.Step)
	}
	assert.NoError(t, st.Err, "every step succeeded in the retry")
}

// TestRetryKeepsDoubtOfStepCutShort: a step cut short (its worker stopped
// during it: handed back in doubt), then the run cancelled and retried:
// the step runs again told it is in doubt, and Status lists it so once it
// has been offered so (see TestRetryInDoubtOnceOffered).
func TestRetryKeepsDoubtOfStepCutShort(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := onNode("p", "a", "n-a")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	started := make(chan struct{})
	var calls atomic.Int32
	var doubt []bool
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		doubt = append(doubt, upgrade.InDoubt(ctx))
		if calls.Add(1) == 1 {
			close(started)
			<-ctx.Done() // the worker stops mid-step
			return ctx.Err()
		}
		return nil
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Work(wctx, plan.ID, exec, fastWorker) }()
	<-started
	stop()
	require.ErrorIs(t, <-done, context.Canceled)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt, "cut short: in doubt")

	require.NoError(t, s.Cancel(ctx, plan.ID))
	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Empty(t, st.InDoubt, "after Retry, not offered yet")
	work(t, s, plan.ID, 1, exec, fastWorker)
	require.Len(t, doubt, 2)
	assert.True(t, doubt[1], "the second Execute of a, after one cut short, is told it is in doubt")
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt)
}

// TestRetryInDoubtOnceOffered: a step whose rollback failed may be undone
// in part; the run taken up by Retry offers it in doubt, as upgrade.Run
// resumed from its journal does, and says so (Status.InDoubt, its
// Outcome) once it has offered it, as upgrade.Run does, not before: the
// run taken up has not offered it yet, and one that fails first, FailFast,
// never does. Before, Retry marked the step in doubt at once, so that a
// step not started was reported in doubt.
func TestRetryInDoubtOnceOffered(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	undoFails := func() *upgradetest.Executor {
		e := &upgradetest.Executor{}
		e.FailAt("b", errBoom)
		e.FailRollback("b", errBoom)
		return e
	}

	// Offered: in doubt once it is.
	plan := twoChain("offered") // a → b
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	exec := undoFails()
	work(t, s, plan.ID, 1, exec, fastWorker)
	retried, err := s.Retry(ctx, plan.ID)
	require.True(t, retried && err == nil, "taken up: %v", err)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, upgrade.Outcome{Step: "b"}, b, "not started, not in doubt")
	assert.Empty(t, st.InDoubt, "not offered yet")
	exec.FailTimes("b", 0, nil)
	work(t, s, plan.ID, 1, exec, fastWorker)
	require.Equal(t, []upgrade.StepID{"b"}, exec.InDoubt(), "the test's premise: b offered in doubt")
	assert.Equal(t, []upgrade.StepID{"b"}, finished(t, s, plan.ID).InDoubt, "offered in doubt")

	// Never offered: x, before b, fails first in the run taken up.
	plan = &upgrade.Plan{ID: "not-offered", Steps: []upgrade.Step{{ID: "x", Kind: upgrade.Platform, Node: "n-x"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b"}}}
	r := retryBoth(t, s, plan, Options{Rollback: true}, undoFails, func(e *upgradetest.Executor) { e.FailAt("x", errBoom) })
	require.Equal(t, []upgrade.StepID{"x", "b", "x"}, r.inProc.Started(), "the test's premise: Run resumed never offers b")
	b, _ = r.got.Report.Outcome("b")
	assert.Equal(t, upgrade.Outcome{Step: "b"}, b, "not started, not in doubt")
	assert.Empty(t, r.got.InDoubt)
}

// TestWaitCancelledRunLostWorker: a run cancelled while a lost worker held
// a step, with no worker of the run left: Wait sees it finish once the
// lease has expired (it fails the step in doubt, as a worker's claim
// would), and Retry can take it up.
func TestWaitCancelledRunLostWorker(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := cancelledLostWorker(t, s)
	_, err := s.Retry(ctx, plan.ID)
	require.ErrorIs(t, err, ErrNotFinished, "the lease has not expired: the step may still run")
	assert.ErrorContains(t, err, "is cancelled, and steps of it still run")

	wctx, cancel := context.WithTimeout(ctx, defaultBound) // a failure bound
	defer cancel()
	st, err := s.Wait(wctx, plan.ID, 50*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.True(t, st.Cancelled)
	assert.Equal(t, []upgrade.StepID{plan.Steps[0].ID}, st.InDoubt, "the lost worker's step failed in doubt")

	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, retried)
	work(t, s, plan.ID, 1, &upgradetest.Executor{}, fastWorker)
	finished(t, s, plan.ID)
}

// TestCancelledStepInDoubtOnRetry: a step cut short by Cancel may be done
// in part: it is in doubt in Status, as upgrade.Run leaves such a step
// for a resumed run, and Retry offers it again in doubt.
func TestCancelledStepInDoubtOnRetry(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := onNode("cut", "a", "n-a")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	started := make(chan struct{})
	var calls atomic.Int32
	var mu sync.Mutex
	var doubt []bool
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		mu.Lock()
		doubt = append(doubt, upgrade.InDoubt(ctx))
		mu.Unlock()
		if calls.Add(1) == 1 {
			close(started)
			<-ctx.Done() // half-way through when the run is cancelled
			return ctx.Err()
		}
		return nil
	})
	// The worker learns of the cancel as it renews the lease, a third of
	// lapsingWorker's into it: a shorter lease, which a loaded machine's
	// scheduler can let lapse, would hand the step over as lost.
	done := make(chan error, 1)
	go func() { done <- s.Work(ctx, plan.ID, exec, lapsingWorker) }()
	<-started
	require.NoError(t, s.Cancel(ctx, plan.ID))
	require.NoError(t, <-done)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt, "a step cut short by Cancel is in doubt")

	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	work(t, s, plan.ID, 1, exec, lapsingWorker)
	require.Len(t, doubt, 2)
	assert.Equal(t, []bool{false, true}, doubt, "offered again in doubt")
}

// TestCancelKeepsSuccess: a step whose Execute succeeds as the run is
// cancelled succeeded, as upgrade.Run reports it, and Retry does not
// carry it out again: the run taken up reports it resumed.
func TestCancelKeepsSuccess(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := &upgrade.Plan{ID: "done-anyway", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}}}}
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	var ran []upgrade.StepID
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		ran = append(ran, st.ID)
		if len(ran) == 1 {
			if err := s.Cancel(context.Background(), plan.ID); err != nil {
				return err
			}
			<-ctx.Done() // the worker learns of the cancel as it renews
		}
		return nil // done all the same
	})
	require.NoError(t, s.Work(ctx, plan.ID, exec, lapsingWorker)) // see TestCancelledStepInDoubtOnRetry for the lease
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State, "Execute returned nil: the step succeeded")
	assert.Empty(t, st.InDoubt)

	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	work(t, s, plan.ID, 1, exec, lapsingWorker)
	assert.Equal(t, []upgrade.StepID{"a", "b"}, ran, "a is not carried out again")
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	a, _ = st.Report.Outcome("a")
	assert.Equal(t, upgrade.Outcome{Step: "a", State: upgrade.Succeeded, Resumed: true}, a,
		"resumed, as upgrade.Run resumed reports a step its journal recorded succeeded")
}

// TestFailFastEndsOtherRetries: under FailFast no step tries again once
// another has failed, as in upgrade.Run: b, failing as a's failure is
// recorded, is not tried a second time.
func TestFailFastEndsOtherRetries(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := &upgrade.Plan{ID: "ff-retries", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b"},
	}}
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2, Policy: upgrade.FailFast, Attempts: 5,
		Backoff: time.Millisecond, MaxBackoff: time.Millisecond}))
	aRecorded, bStarted := make(chan struct{}), make(chan struct{})
	var bCalls atomic.Int32
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.ID == "a" {
			<-bStarted
			return upgrade.Permanent(errors.New("a broke"))
		}
		if bCalls.Add(1) == 1 {
			close(bStarted)
			<-aRecorded
		}
		return errors.New("b flaky")
	})
	o := fastWorker
	o.Slots = 2
	var once sync.Once
	o.Recorded = func(_ string, step upgrade.StepID, err error) {
		if step == "a" {
			once.Do(func() { close(aRecorded) })
		}
	}
	work(t, s, plan.ID, 1, exec, o)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, int32(1), bCalls.Load(), "no new attempt of b once a failed")
	assert.Equal(t, upgrade.Failed, b.State)
	assert.Equal(t, 1, b.Attempts)
	assert.ErrorContains(t, b.Err, "b flaky")
}
