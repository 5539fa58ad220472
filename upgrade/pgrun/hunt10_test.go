package pgrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// hunt10Events polls the events of run planID until ok holds of them,
// failing the test after a minute (a failure bound, not a timing).
func hunt10Events(t *testing.T, s *Store, planID string, ok func([]Event) bool) []Event {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ev, err := s.Events(context.Background(), planID, 0, 1000)
		require.NoError(t, err)
		if ok(ev) {
			return ev
		}
		require.True(t, time.Now().Before(deadline), "events of %s never came: %v", planID, ev)
		time.Sleep(10 * time.Millisecond)
	}
}

func hunt10Has(kind upgrade.EventKind, step upgrade.StepID) func([]Event) bool {
	return func(ev []Event) bool {
		for _, e := range ev {
			if e.Kind == kind && e.Step.ID == step {
				return true
			}
		}
		return false
	}
}

// hunt10CheckEvents checks what a reader of a finished run's events relies
// on: sequence numbers increase, read a page at a time they are the same,
// each step has at most one terminal event (succeeded, failed, skipped)
// per run attempt, each terminal event's Done counts the steps finished
// so far, and the last one's is the total.
func hunt10CheckEvents(t *testing.T, s *Store, planID string, total int) []Event {
	t.Helper()
	ctx := context.Background()
	all, err := s.Events(ctx, planID, 0, 10000)
	require.NoError(t, err)
	var paged []Event
	for after := int64(0); ; {
		ev, err := s.Events(ctx, planID, after, 1)
		require.NoError(t, err)
		if len(ev) == 0 {
			break
		}
		require.Len(t, ev, 1)
		paged = append(paged, ev...)
		after = ev[0].Seq
	}
	require.Equal(t, len(all), len(paged))
	terminal := map[upgrade.StepID]int{}
	done := 0
	for i, e := range all {
		assert.Equal(t, paged[i].Seq, e.Seq)
		if i > 0 {
			assert.Greater(t, e.Seq, all[i-1].Seq, "events out of order")
		}
		assert.Equal(t, total, e.Total)
		switch e.Kind {
		case upgrade.StepSucceeded, upgrade.StepFailed, upgrade.StepSkipped:
			terminal[e.Step.ID]++
			done++
			assert.Equal(t, done, e.Done, "event %d (%v of %s): done", e.Seq, e.Kind, e.Step.ID)
		}
	}
	for id, n := range terminal {
		assert.Equal(t, 1, n, "step %s: %d terminal events", id, n)
	}
	assert.Equal(t, total, done, "terminal events")
	return all
}

// TestHunt10SharedNodeCancelFreesWaiter: a second run's step on a node a
// first run's step holds waits, saying for what, once; cancelling the
// first run frees the node, and the second runs its step.
func TestHunt10SharedNodeCancelFreesWaiter(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	one := onNode("one", "x1", "shared")
	two := onNode("two", "x2", "shared")
	require.NoError(t, s.Submit(ctx, one, Options{}))
	require.NoError(t, s.Submit(ctx, two, Options{}))
	holding := make(chan struct{})
	var x2runs atomic.Int32
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.ID == "x1" {
			close(holding)
			<-ctx.Done() // until run one is cancelled
			return ctx.Err()
		}
		x2runs.Add(1)
		return nil
	})
	errs := make(chan error, 2)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	go func() { errs <- s.Work(wctx, "one", exec, lapsingWorker) }()
	<-holding
	go func() { errs <- s.Work(wctx, "two", exec, lapsingWorker) }()
	hunt10Events(t, s, "two", hunt10Has(upgrade.StepWaiting, "x2"))
	assert.Zero(t, x2runs.Load(), "x2 ran while x1 held its node")
	require.NoError(t, s.Cancel(ctx, "one"))
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	assert.EqualValues(t, 1, x2runs.Load())

	st, err := s.Status(ctx, "one")
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.True(t, st.Cancelled)
	assert.ErrorIs(t, st.Err, ErrCancelled)
	st, err = s.Status(ctx, "two")
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.NoError(t, st.Err)
	ev := hunt10CheckEvents(t, s, "two", 1)
	var waiting []Event
	for _, e := range ev {
		if e.Kind == upgrade.StepWaiting {
			waiting = append(waiting, e)
		}
	}
	require.Len(t, waiting, 1, "one waiting event for one holder: %v", ev)
	require.NotNil(t, waiting[0].WaitingFor)
	assert.Equal(t, upgrade.Holder{Node: "shared", Plan: "one", Step: "x1"}, *waiting[0].WaitingFor)
	hunt10Released(t, s)
}

// TestHunt10DeadWorkerTakenOverThenFenced: a worker claims a step and
// dies; once its lease lapses another takes the step over, in doubt, and
// runs the plan; the dead worker comes back and can record nothing, and
// the events say each step ended once, in order.
func TestHunt10DeadWorkerTakenOverThenFenced(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("dead")
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	dead := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "dead", Lease: lapsingWorker.Lease})
	c, _, _, err := dead.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	deadStep := plan.Steps[c.idx].ID

	live := &upgradetest.Executor{}
	work(t, s, plan.ID, 2, live, lapsingWorker)
	assert.Equal(t, []upgrade.StepID{deadStep}, live.InDoubt(), "the takeover is told it is in doubt")
	assert.Equal(t, 1, live.Calls(deadStep))
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Equal(t, []upgrade.StepID{deadStep}, st.InDoubt)

	// The dead worker comes back, with a success or a failure: fenced.
	assert.ErrorIs(t, dead.finish(ctx, c, 1, "", 0), ErrLeaseLost)
	assert.ErrorIs(t, dead.finish(ctx, c, 1, "late failure", 0), ErrLeaseLost)
	after, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Equal(t, st.Report, after.Report, "a fenced worker changed nothing")
	ev := hunt10CheckEvents(t, s, plan.ID, len(plan.Steps))
	var started []bool
	for _, e := range ev {
		if e.Worker == "dead" { // its claim, before it died
			assert.Equal(t, upgrade.StepStarted, e.Kind, "a fenced worker wrote event %v", e)
		}
		if e.Kind == upgrade.StepStarted && e.Step.ID == deadStep {
			started = append(started, e.InDoubt)
		}
	}
	assert.Contains(t, started, true, "the takeover's start says in doubt")
}

// TestHunt10RollbackWorkerDies: the worker rolling a step back dies; once
// its lease lapses another worker rolls the step back, in doubt, and goes
// on; the dead one comes back and can record nothing.
func TestHunt10RollbackWorkerDies(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := rollingBack(t, s, "rb-dies")
	dead := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "dead", Lease: lapsingWorker.Lease})
	c, _, _, err := dead.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.True(t, c.rollback, "a rollback is claimed")
	deadStep := plan.Steps[c.idx].ID

	live := &upgradetest.Executor{}
	work(t, s, plan.ID, 2, live, lapsingWorker)
	assert.Equal(t, []upgrade.StepID{"b", "a"}, live.RolledBack(), "b, taken over, before a")
	assert.Equal(t, upgrade.StepID("b"), deadStep)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.ErrorIs(t, st.Err, upgrade.ErrStepFailed)
	assert.NotErrorIs(t, st.Err, upgrade.ErrRollback)
	o, _ := st.Report.Outcome(deadStep)
	assert.Equal(t, upgrade.RolledBack, o.State)
	assert.Contains(t, st.InDoubt, deadStep)

	var status string
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT {s}.finish_rollback($1, $2, $3, $4, $5, $6)`),
		plan.ID, c.idx, c.token, "late rollback failure", 0, "dead").Scan(&status))
	assert.Equal(t, "lost", status)
	after, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Equal(t, st.Report, after.Report, "a fenced worker changed nothing")
	ev, err := s.Events(ctx, plan.ID, 0, 1000)
	require.NoError(t, err)
	rolled := map[upgrade.StepID]int{}
	for _, e := range ev {
		assert.NotEqual(t, "dead", e.Worker, "a fenced worker wrote event %v", e)
		if e.Kind == upgrade.StepRolledBack || e.Kind == upgrade.StepRollbackFailed {
			rolled[e.Step.ID]++
		}
	}
	for id, n := range rolled {
		assert.Equal(t, 1, n, "step %s: %d rollback events", id, n)
	}
	hunt10Released(t, s)
}

// TestHunt10RetryContinueRunsOnlyFailedAndSkipped: a run under Continue
// with a failed step, and steps after it skipped, is taken up again:
// only those run again; a step that succeeded never does.
func TestHunt10RetryContinueRunsOnlyFailedAndSkipped(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("retry-continue") // a; b after a; c after b; d
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2, Policy: upgrade.ContinueIndependent}))
	first := &upgradetest.Executor{}
	first.FailAt("b", errors.New("boom"))
	work(t, s, plan.ID, 2, first, fastWorker)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.ErrorIs(t, st.Err, upgrade.ErrStepFailed)
	for id, want := range map[upgrade.StepID]upgrade.State{"a": upgrade.Succeeded, "b": upgrade.Failed, "c": upgrade.Skipped, "d": upgrade.Succeeded} {
		o, _ := st.Report.Outcome(id)
		require.Equal(t, want, o.State, id)
	}
	ev, err := s.Events(ctx, plan.ID, 0, 1000)
	require.NoError(t, err)
	last := ev[len(ev)-1].Seq

	ok, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, ok)
	second := &upgradetest.Executor{}
	work(t, s, plan.ID, 2, second, fastWorker)
	assert.ElementsMatch(t, []upgrade.StepID{"b", "c"}, second.Started(), "only the failed and skipped steps run again")
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Equal(t, 4, st.Report.Count(upgrade.Succeeded))
	assert.Empty(t, st.InDoubt)
	ev, err = s.Events(ctx, plan.ID, last, 1000)
	require.NoError(t, err)
	for _, e := range ev {
		assert.Contains(t, []upgrade.StepID{"b", "c"}, e.Step.ID, "an event of the retry names %s (%v)", e.Step.ID, e.Kind)
	}
}

// TestHunt10SubmitTwice: the same plan and options again is the same run;
// another plan, or other options, with its ID is refused with an error
// naming the plan, and changes nothing.
func TestHunt10SubmitTwice(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("twice")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	require.NoError(t, s.Submit(ctx, chain3("twice"), Options{}))
	other := chain3("twice")
	other.Steps[3].Node = "elsewhere"
	for _, c := range []struct {
		plan *upgrade.Plan
		opts Options
	}{{other, Options{}}, {plan, Options{Concurrency: 2}}, {plan, Options{Rollback: true}}} {
		err := s.Submit(ctx, c.plan, c.opts)
		assert.ErrorIs(t, err, ErrPlanConflict)
		assert.ErrorContains(t, err, "twice")
	}
	run, err := s.loadRun(ctx, "twice")
	require.NoError(t, err)
	assert.Equal(t, plan.Steps, run.plan.Steps)
	assert.Equal(t, 1, run.opts.Concurrency)
	st, err := s.Status(ctx, "twice")
	require.NoError(t, err)
	assert.Equal(t, 4, st.Report.Count(upgrade.NotStarted))
}

// TestHunt10AllowedOddIDsRoundTrip: IDs of every character allowed, with
// what SQL text would take for quotes and comments, are stored and read
// back exactly.
func TestHunt10AllowedOddIDsRoundTrip(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	planID := "p--x//y:@+.-_"
	plan := &upgrade.Plan{ID: planID, Steps: []upgrade.Step{
		{ID: "s--1//", Kind: upgrade.Platform, Node: "n--1"},
		{ID: "s:2@h+3.x_y", Kind: upgrade.Platform, Node: topology.NodeID("n//2--"), After: []upgrade.StepID{"s--1//"}}}}
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	exec := &upgradetest.Executor{}
	work(t, s, planID, 1, exec, fastWorker)
	assert.Equal(t, []upgrade.StepID{"s--1//", "s:2@h+3.x_y"}, exec.Finished())
	st, err := s.Status(ctx, planID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	for _, step := range plan.Steps {
		o, ok := st.Report.Outcome(step.ID)
		require.True(t, ok, step.ID)
		assert.Equal(t, upgrade.Succeeded, o.State)
	}
	ev := hunt10CheckEvents(t, s, planID, 2)
	for _, e := range ev {
		assert.Contains(t, []topology.NodeID{"n--1", "n//2--"}, e.Step.Node)
	}
	ids, err := s.Unfinished(ctx)
	require.NoError(t, err)
	assert.NotContains(t, ids, planID)
	var stored []string
	rows, err := s.pool.Query(ctx, s.q(`SELECT step_id || '|' || node FROM {s}.steps WHERE plan_id = $1 ORDER BY idx`), planID)
	require.NoError(t, err)
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		stored = append(stored, v)
	}
	require.NoError(t, rows.Err())
	assert.Contains(t, stored, "s--1//|n--1")
	assert.Contains(t, stored, "s:2@h+3.x_y|n//2--")
}

// TestHunt10WorkCancelledBeforeStart: Work with a context already done
// returns its error and claims nothing.
func TestHunt10WorkCancelledBeforeStart(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("cancelled-ctx")
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 4}))
	dead, cancel := context.WithCancel(ctx)
	cancel()
	exec := &upgradetest.Executor{}
	err := s.Work(dead, plan.ID, exec, WorkerOptions{Slots: 4, Lease: fastWorker.Lease, Poll: fastWorker.Poll})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, exec.Started())
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished)
	assert.Empty(t, st.InDoubt, "nothing was claimed, so nothing is in doubt")
	assert.Equal(t, 4, st.Report.Count(upgrade.NotStarted))
	var leased int
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.steps WHERE plan_id = $1 AND state <> 'waiting' AND state <> 'ready'`), plan.ID).Scan(&leased))
	assert.Zero(t, leased, "no step left claimed")
	// Another worker runs the plan at once, no lease to wait out.
	exec = &upgradetest.Executor{}
	work(t, s, plan.ID, 1, exec, fastWorker)
	assert.Empty(t, exec.InDoubt())
	checkRunDone(t, s, plan.ID)
}

func checkRunDone(t *testing.T, s *Store, planID string) {
	t.Helper()
	st, err := s.Status(context.Background(), planID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Empty(t, st.InDoubt)
}

// hunt10Independent returns plan id of n steps, none after another, each
// on a node of its own.
func hunt10Independent(id string, n int) *upgrade.Plan {
	plan := &upgrade.Plan{ID: id}
	for k := range n {
		step := fmt.Sprintf("s%d", k)
		plan.Steps = append(plan.Steps, upgrade.Step{ID: upgrade.StepID(step), Kind: upgrade.Platform, Node: topology.NodeID("n-" + step)})
	}
	return plan
}

// peakCounter counts the calls under way at once, from cur (calls of
// other workers counted as under way).
type peakCounter struct {
	mu        sync.Mutex
	cur, peak int
}

// call is one call, which takes a little time.
func (p *peakCounter) call() {
	p.mu.Lock()
	p.cur++
	p.peak = max(p.peak, p.cur)
	p.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // lets other slots try; not an ordering device
	p.mu.Lock()
	p.cur--
	p.mu.Unlock()
}

// peakExec counts the steps executed at once: a call in doubt takes one
// under way over.
type peakExec struct {
	peakCounter
	doubted []upgrade.StepID // the steps offered in doubt
}

func (e *peakExec) Execute(ctx context.Context, st upgrade.Step) error {
	if upgrade.InDoubt(ctx) {
		e.mu.Lock()
		e.cur-- // the call it takes over is over
		e.doubted = append(e.doubted, st.ID)
		e.mu.Unlock()
	}
	e.call()
	return nil
}

// TestHunt10SlotsAboveConcurrency: workers with more slots than the run's
// concurrency run no more steps at once than it allows.
func TestHunt10SlotsAboveConcurrency(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := hunt10Independent("slots", 8)
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	exec := &peakExec{}
	o := fastWorker
	o.Slots = 6
	work(t, s, plan.ID, 2, exec, o)
	assert.LessOrEqual(t, exec.peak, 2, "steps at once")
	checkRunDone(t, s, plan.ID)
	hunt10CheckEvents(t, s, plan.ID, len(plan.Steps))
}

// hunt10Released asserts that nothing of the finished runs of the store
// is left held: no node lock, no run counting a step as running.
func hunt10Released(t *testing.T, s *Store) {
	t.Helper()
	var locks, running int
	require.NoError(t, s.pool.QueryRow(context.Background(), s.q(`SELECT (SELECT count(*) FROM {s}.node_locks),
		(SELECT coalesce(sum(running), 0) FROM {s}.runs)`)).Scan(&locks, &running))
	assert.Zero(t, locks, "node locks left")
	assert.Zero(t, running, "steps counted as running")
}

// TestHunt10DeadHolderKeepsNodeUntilTakenOver: a worker of run one dies
// holding a node another run's step waits for; the node stays run one's
// past the lease, until its step, taken over in doubt, has finished; then
// the waiting step runs.
func TestHunt10DeadHolderKeepsNodeUntilTakenOver(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	one := onNode("one", "x1", "shared")
	two := onNode("two", "x2", "shared")
	require.NoError(t, s.Submit(ctx, one, Options{}))
	require.NoError(t, s.Submit(ctx, two, Options{}))
	dead := testWorker(t, s, "one", &upgradetest.Executor{}, WorkerOptions{Name: "dead", Lease: lapsingWorker.Lease})
	c, _, _, err := dead.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	var mu sync.Mutex
	var log []string
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, fmt.Sprintf("%s in doubt %v", st.ID, upgrade.InDoubt(ctx)))
		return nil
	})
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- s.Work(wctx, "two", exec, lapsingWorker) }()
	hunt10Events(t, s, "two", hunt10Has(upgrade.StepWaiting, "x2"))
	go func() { errs <- s.Work(wctx, "one", exec, lapsingWorker) }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	assert.Equal(t, []string{"x1 in doubt true", "x2 in doubt false"}, log)
	ev := hunt10CheckEvents(t, s, "two", 1)
	require.NotNil(t, ev[0].WaitingFor)
	assert.Equal(t, upgrade.Holder{Node: "shared", Plan: "one", Step: "x1"}, *ev[0].WaitingFor)
	hunt10CheckEvents(t, s, "one", 1)
	assert.ErrorIs(t, dead.finish(ctx, c, 1, "late", 0), ErrLeaseLost)
	hunt10Released(t, s)
}

// TestHunt10DeadWorkerSlotsAboveConcurrency: a dead worker's step holds
// one of the run's two slots until its lease lapses; live workers with
// more slots than that never run more than two steps at once, take the
// step over, and leave nothing counted as running.
func TestHunt10DeadWorkerSlotsAboveConcurrency(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := hunt10Independent("dead-slots", 6)
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	dead := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "dead", Lease: lapsingWorker.Lease})
	c, _, _, err := dead.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	exec := &peakExec{peakCounter: peakCounter{cur: 1, peak: 1}} // the dead worker's step, until it is taken over
	o := lapsingWorker
	o.Slots = 5
	work(t, s, plan.ID, 2, exec, o)
	assert.LessOrEqual(t, exec.peak, 2, "steps at once, the dead worker's counted until taken over")
	assert.Equal(t, []upgrade.StepID{plan.Steps[c.idx].ID}, exec.doubted)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Equal(t, exec.doubted, st.InDoubt)
	hunt10CheckEvents(t, s, plan.ID, len(plan.Steps))
	hunt10Released(t, s)
}

// rollbackPeak is an upgradetest.Executor that counts the rollbacks under
// way at once, and lists them.
type rollbackPeak struct {
	upgradetest.Executor
	peakCounter
	rolled []upgrade.StepID
}

func (e *rollbackPeak) Rollback(ctx context.Context, st upgrade.Step) error {
	e.mu.Lock()
	e.rolled = append(e.rolled, st.ID)
	e.mu.Unlock()
	e.call()
	return e.Executor.Rollback(ctx, st)
}

// TestHunt10RollbackOneAtATimeAcrossWorkers: two workers of many slots
// roll a run back one step at a time, last completed first, as
// upgrade.Run does.
func TestHunt10RollbackOneAtATimeAcrossWorkers(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := hunt10Independent("rb-peak", 6)
	var all []upgrade.StepID
	for _, st := range plan.Steps {
		all = append(all, st.ID)
	}
	plan.Steps = append(plan.Steps, upgrade.Step{ID: "z", Kind: upgrade.Platform, Node: "n-z", After: all})
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 6, Rollback: true}))
	exec := &rollbackPeak{}
	exec.FailAt("z", errors.New("boom"))
	o := fastWorker
	o.Slots = 4
	work(t, s, plan.ID, 2, exec, o)
	assert.Equal(t, 1, exec.peak, "rollbacks at once")
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, len(plan.Steps), st.Report.Count(upgrade.RolledBack))
	ev := hunt10CheckEvents(t, s, plan.ID, len(plan.Steps))
	var completed []upgrade.StepID
	for _, e := range ev {
		if e.Kind == upgrade.StepSucceeded || e.Kind == upgrade.StepFailed {
			completed = append(completed, e.Step.ID)
		}
	}
	slices.Reverse(completed)
	assert.Equal(t, completed, exec.rolled, "last completed first")
	hunt10Released(t, s)
}

// TestHunt10CancelAbandonedStepSaysAbandoned: a step whose Execute
// ignores the cancel of its run past the grace period is abandoned, as
// upgrade.Run reports it: Outcome.Abandoned, its error matching
// upgrade.ErrAbandoned (and ErrCancelled), in doubt. Before, the cancel's
// error replaced the step's, and the abandonment was lost.
func TestHunt10CancelAbandonedStepSaysAbandoned(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := onNode("abandoned-cancel", "x", "n")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	const grace = 200 * time.Millisecond
	release := make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	defer free()
	started := make(chan struct{}, 2)
	exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
		started <- struct{}{}
		<-release // ignores its context
		return nil
	})

	// upgrade.Run, its context cancelled as the step runs.
	rctx, rcancel := context.WithCancel(ctx)
	go func() { <-started; rcancel() }()
	report, err := upgrade.Run(rctx, plan, exec, upgrade.WithGracePeriod(grace))
	require.Error(t, err)
	want := report.Outcomes[0]
	require.True(t, want.Abandoned)
	require.ErrorIs(t, want.Err, upgrade.ErrAbandoned)

	o := lapsingWorker
	o.GracePeriod = grace
	errs := make(chan error, 1)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	go func() { errs <- s.Work(wctx, plan.ID, exec, o) }()
	<-started
	require.NoError(t, s.Cancel(ctx, plan.ID))
	// The run finishes, the step abandoned; Work returns once the call
	// it abandoned has (see TestAbandonedCallKeepsNode).
	st, err := s.Wait(wctx, plan.ID, pollEvery)
	require.NoError(t, err)
	free()
	require.NoError(t, <-errs)
	require.True(t, st.Finished)
	got := st.Report.Outcomes[0]
	assert.Equal(t, upgrade.Failed, got.State)
	assert.Equal(t, want.Abandoned, got.Abandoned, "Abandoned")
	assert.ErrorIs(t, got.Err, upgrade.ErrAbandoned)
	assert.ErrorIs(t, got.Err, ErrCancelled)
	assert.Equal(t, []upgrade.StepID{"x"}, st.InDoubt)
	assert.ErrorIs(t, st.Err, ErrCancelled)
	assert.ErrorIs(t, st.Err, upgrade.ErrAbandoned)
	t.Logf("upgrade.Run: %v; pgrun: %v", want.Err, got.Err)
}
