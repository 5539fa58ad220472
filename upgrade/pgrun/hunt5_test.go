package pgrun

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// states returns the state of each step of st's report.
func states(st *Status) map[upgrade.StepID]upgrade.State {
	got := map[upgrade.StepID]upgrade.State{}
	for _, o := range st.Report.Outcomes {
		got[o.Step] = o.State
	}
	return got
}

// TestHunt5HandBackInCancelledRun: a worker stopped in the middle of a
// step of a run cancelled meanwhile hands the step back; nobody will run
// it again, so it ends as a lost worker's does in a cancelled run
// (TestCancelLostWorkerSkipsAfter): failed, in doubt, the steps after it
// skipped, as upgrade.Run reports a step cut short by a cancel. Before,
// it was made ready and the run finished with it, and the steps after
// it, not started.
func TestHunt5HandBackInCancelledRun(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := chain3("handback-cancelled") // a → b → c, and d
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	w := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "stopping", Lease: time.Hour})
	var claims []*claim
	for range 2 { // a and d
		c, _, _, err := w.claim(ctx, nil)
		require.NoError(t, err)
		require.NotNil(t, c)
		claims = append(claims, c)
	}
	require.NoError(t, s.Cancel(ctx, plan.ID))
	for _, c := range claims { // the worker stops, cut short in the middle of both
		w.handBack(ctx, c, true)
	}

	st, err := s.Wait(ctx, plan.ID, time.Hour)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.True(t, st.Cancelled)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.Failed, "b": upgrade.Skipped, "c": upgrade.Skipped, "d": upgrade.Failed},
		states(st))
	assert.ElementsMatch(t, []upgrade.StepID{"a", "d"}, st.InDoubt)
	var running, done, locks int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT running, done, (SELECT count(*) FROM {s}.node_locks WHERE plan_id = $1)
		FROM {s}.runs WHERE plan_id = $1`), plan.ID).Scan(&running, &done, &locks))
	assert.Zero(t, running)
	assert.Equal(t, 4, done)
	assert.Zero(t, locks, "no node lock left")
}

// TestHunt5HandBackInStoppingRun: under FailFast, a step running when
// another fails goes on to its end, as in upgrade.Run; a worker stopped
// in the middle of it hands it back, and another worker takes it over, in
// doubt, as it takes over a lost worker's. Before, it was made ready, and
// the run, stopping, finished at once with it not started.
func TestHunt5HandBackInStoppingRun(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("handback-stopping") // a → b → c, and d
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	w := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "stopping", Lease: time.Hour})
	byStep := map[upgrade.StepID]*claim{}
	for range 2 {
		c, _, _, err := w.claim(ctx, nil)
		require.NoError(t, err)
		require.NotNil(t, c)
		byStep[plan.Steps[c.idx].ID] = c
	}
	require.Len(t, byStep, 2)
	require.NoError(t, w.finish(ctx, byStep["d"], 1, "boom", 0)) // the run stops
	w.handBack(ctx, byStep["a"], true)                           // a's worker stops, cut short

	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.False(t, st.Finished, "a, started, has not ended")
	exec := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.Succeeded, "b": upgrade.NotStarted, "c": upgrade.NotStarted, "d": upgrade.Failed},
		states(st))
	assert.Equal(t, []upgrade.StepID{"a"}, exec.InDoubt(), "a taken over, in doubt")
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt)
}

// TestHunt5HandOverUnstartedRollbackInCancelledRun: a worker stopped as
// it claims a rollback hands it back unstarted; if the run was cancelled
// meanwhile, the step stays in place as every step not undone does (an
// event of kind upgrade.StepRollbackFailed, and the cancel as its
// rollback's error), and the run finishes. Before, the step had no event
// nor error, and the run stayed unfinished until a claim.
func TestHunt5HandOverUnstartedRollbackInCancelledRun(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := rollingBack(t, s, "handover-cancelled")
	rb := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "rb", Lease: time.Hour})
	c, _, _, err := rb.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.True(t, c.rollback)
	require.NoError(t, s.Cancel(ctx, plan.ID))
	rb.handOver(ctx, c, false) // the worker stops before it starts

	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished, "nothing runs, and nothing will")
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, upgrade.Failed, b.State)
	assert.ErrorIs(t, st.Err, upgrade.ErrRollback)
	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	kept := map[upgrade.StepID]bool{}
	for _, e := range events {
		if e.Kind == upgrade.StepRollbackFailed {
			kept[e.Step.ID] = true
			assert.ErrorIs(t, e.Err, ErrCancelled, e.Step.ID)
		}
	}
	assert.Equal(t, map[upgrade.StepID]bool{"a": true, "b": true}, kept, "every step left in place has its event")
}

// TestHunt5RetryAfterRollbackFailed: Retry takes a run up as upgrade.Run
// resumed from its journal does. Run 1 fails b, cannot undo it, and so
// keeps a; taken up again, e fails first (FailFast, one at a time) and b
// is not run again: its failed rollback may have changed its node, and
// it keeps a in place again. Before, the retried run's rollback undid a
// under b.
func TestHunt5RetryAfterRollbackFailed(t *testing.T) {
	s, _ := testStore(t)
	plan := &upgrade.Plan{ID: "retry-rollback-failed", Steps: []upgrade.Step{{ID: "e", Kind: upgrade.Platform, Node: "n-e"},
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"}, {ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}}}}
	opts := Options{Rollback: true}
	newExec := func() *upgradetest.Executor {
		e := &upgradetest.Executor{}
		e.FailAt("b", errBoom)
		e.FailRollback("b", errBoom)
		return e
	}

	r := retryBoth(t, s, plan, opts, newExec, func(e *upgradetest.Executor) { e.FailAt("e", errBoom) })
	require.Error(t, r.wantErr)
	a, _ := r.got.Report.Outcome("a")
	assert.ErrorContains(t, a.Err, "step b after it failed, or was cut short, in an earlier run")
}

// TestHunt5ResentClaimAfterCancel: a claim whose reply was lost with its
// connection, though it committed, is sent again; if the run was
// cancelled in between, the step the first took never started. It is
// not left leased to nobody, to be failed in doubt once the lease
// expires (the steps after it skipped, the run unfinished till then):
// it is handed back, not started, and the run finishes, as upgrade.Run
// reports a step a cancel kept from starting.
func TestHunt5ResentClaimAfterCancel(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := chain3("resent-cancelled")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	w := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "w", Lease: time.Hour})
	key := newClaimKey()
	c, _, _, err := w.claim(ctx, key) // its reply lost, as far as the worker knows
	require.NoError(t, err)
	require.NotNil(t, c)
	require.NoError(t, s.Cancel(ctx, plan.ID))
	c, finished, _, err := w.claim(ctx, key) // sent again
	require.NoError(t, err)
	assert.Nil(t, c, "the run is cancelled: no step starts")
	assert.True(t, finished, "nothing runs, and nothing will")

	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.Empty(t, st.InDoubt, "the step taken never started")
	for _, o := range st.Report.Outcomes {
		assert.Equal(t, upgrade.NotStarted, o.State, o.Step)
		assert.Zero(t, o.Attempts, o.Step)
	}
	var running, locks int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT running, (SELECT count(*) FROM {s}.node_locks WHERE plan_id = $1)
		FROM {s}.runs WHERE plan_id = $1`), plan.ID).Scan(&running, &locks))
	assert.Zero(t, running)
	assert.Zero(t, locks)
}

// TestHunt5ResentRollbackClaimAfterCancel: as TestHunt5ResentClaimAfterCancel,
// for a rollback: the step the first claim took stays in place, with an
// event saying so, and the run finishes at once.
func TestHunt5ResentRollbackClaimAfterCancel(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := rollingBack(t, s, "resent-rb-cancelled")
	w := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "w", Lease: time.Hour})
	key := newClaimKey()
	c, _, _, err := w.claim(ctx, key)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.True(t, c.rollback)
	require.NoError(t, s.Cancel(ctx, plan.ID))
	c, finished, _, err := w.claim(ctx, key) // sent again
	require.NoError(t, err)
	assert.Nil(t, c)
	assert.True(t, finished)

	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.Empty(t, st.InDoubt)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.Succeeded, "b": upgrade.Failed, "c": upgrade.Skipped, "d": upgrade.NotStarted},
		states(st))
	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	kept := map[upgrade.StepID]bool{}
	for _, e := range events {
		if e.Kind == upgrade.StepRollbackFailed {
			kept[e.Step.ID] = true
		}
	}
	assert.Equal(t, map[upgrade.StepID]bool{"a": true, "b": true}, kept)
}

// TestHunt5RetryConformance: the conformance suite's plans, failing at
// their target step (its rollback failing too, or not), run with a
// journal through upgrade.Run and then once more with the fault gone,
// and through workers and Store.Retry: the same outcomes, Execute calls,
// rollbacks, and steps offered in doubt. A step whose rollback failed may
// be undone in part: upgrade.Run resumed offers it in doubt, as Retry
// now does; before, Retry offered it as if it had never run.
func TestHunt5RetryConformance(t *testing.T) {
	s, _ := testStore(t)
	k := 0
	for _, p := range confPlans {
		for _, o := range []Options{{}, {Rollback: true}, {Policy: upgrade.ContinueIndependent}, {Policy: upgrade.ContinueIndependent, Rollback: true}} {
			for _, rbFail := range []bool{false, true} {
				k++
				t.Run(fmt.Sprintf("%s/%v/%v", p.name, o, rbFail), func(t *testing.T) {
					plan := p.plan(t)
					plan.ID = fmt.Sprintf("retry-conf-%d", k)
					newExec := func() *upgradetest.Executor {
						e := &upgradetest.Executor{}
						e.FailAt(p.target, errBoom)
						if rbFail {
							e.FailRollback(p.target, errBoom)
						}
						return e
					}
					retryBoth(t, s, plan, o, newExec, func(e *upgradetest.Executor) { e.FailTimes(p.target, 0, nil) })
				})
			}
		}
	}
}

// retried is what retryBoth ran: the executors of upgrade.Run and of the
// store's workers, upgrade.Run's second report and error, and the
// store's Status after its Retry.
type retried struct {
	inProc, remote *upgradetest.Executor
	want           *upgrade.Report
	wantErr        error
	got            *Status
}

// retryBoth runs plan twice through upgrade.Run with one journal, and
// through s's workers, then again after Store.Retry, each with an
// executor from newExec that between changes before the second run. It
// checks that the second runs agree (see sameRuns), and their events (see
// sameEvents).
func retryBoth(t *testing.T, s *Store, plan *upgrade.Plan, o Options, newExec func() *upgradetest.Executor,
	between func(*upgradetest.Executor)) retried {
	t.Helper()
	ctx := context.Background()
	j, err := upgrade.OpenFileJournal(t.TempDir() + "/journal")
	require.NoError(t, err)
	defer j.Close()
	r := retried{inProc: newExec(), remote: newExec()}
	runOpts := append(runOptions(o.normal()), upgrade.WithJournal(j))
	_, _ = upgrade.Run(ctx, plan, r.inProc, runOpts...)
	between(r.inProc)
	var wantEvents []confEvent
	r.want, r.wantErr = upgrade.Run(ctx, plan, r.inProc, append(runOpts, recordEvents(&wantEvents))...)
	require.NotNil(t, r.want, "%v", r.wantErr)

	require.NoError(t, s.Submit(ctx, plan, o))
	work(t, s, plan.ID, 1, r.remote, fastWorker)
	_, seen := storeEvents(t, s, plan.ID, 0)
	again, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, again)
	between(r.remote)
	work(t, s, plan.ID, 1, r.remote, fastWorker)
	r.got, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	ordered := o.normal().Concurrency == 1
	sameRuns(t, "taken up again", ordered, r.want, r.wantErr, r.got, r.inProc, r.remote)
	gotEvents, _ := storeEvents(t, s, plan.ID, seen)
	sameEvents(t, "taken up again", ordered, wantEvents, gotEvents)
	return r
}

// TestRetryRerunsStepWhoseRollbackFailed: a step that succeeded and whose
// rollback then failed may be undone in part. upgrade.Run resumed from
// its journal runs it again, in doubt; so does a run taken up by Retry,
// rather than keep it as succeeded and leave its node as the failed
// rollback left it.
func TestRetryRerunsStepWhoseRollbackFailed(t *testing.T) {
	s, _ := testStore(t)
	plan := &upgrade.Plan{ID: "retry-succeeded-rollback-failed", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}}}}
	newExec := func() *upgradetest.Executor {
		e := &upgradetest.Executor{}
		e.FailAt("b", errBoom)
		e.FailRollback("a", errBoom)
		return e
	}
	r := retryBoth(t, s, plan, Options{Rollback: true}, newExec, func(e *upgradetest.Executor) {
		e.FailTimes("b", 0, nil)
		e.FailRollback("a", nil)
	})
	require.NoError(t, r.wantErr)
	assert.Equal(t, []upgrade.StepID{"a", "b", "a", "b"}, r.inProc.Started(), "upgrade.Run resumed runs a again")
	assert.Equal(t, []upgrade.StepID{"a"}, r.inProc.InDoubt(), "a is offered in doubt")
	assert.Equal(t, []upgrade.StepID{"a"}, r.got.InDoubt)
	for _, o := range r.got.Report.Outcomes {
		assert.Equal(t, upgrade.Succeeded, o.State, o.Step)
		assert.NoError(t, o.Err, o.Step)
	}
}
