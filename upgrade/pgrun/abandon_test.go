package pgrun

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// abandonGrace is the grace period of the workers of the tests of
// abandoned calls: short, so that a call is abandoned soon after the
// cancel, which only renewing the lease (every third of fastWorker's)
// finds.
const abandonGrace = 50 * time.Millisecond

// blockingFirst is an Executor whose first call of step hold signals
// entered and then waits for release, ignoring its context, as host code
// that a grace period abandons; every other call succeeds, noted in log.
type blockingFirst struct {
	hold    upgrade.StepID
	entered chan struct{}
	release chan struct{}
	free    func()       // closes release, once
	held    atomic.Int32 // calls of hold
	mu      sync.Mutex
	log     []string // the calls but the first of hold, each with the calls of hold made by then
}

// newBlockingFirst returns a blockingFirst whose call of hold ends with
// the test at the latest.
func newBlockingFirst(t *testing.T, hold upgrade.StepID) *blockingFirst {
	e := &blockingFirst{hold: hold, entered: make(chan struct{}), release: make(chan struct{})}
	e.free = sync.OnceFunc(func() { close(e.release) })
	t.Cleanup(e.free)
	return e
}

func (e *blockingFirst) Execute(ctx context.Context, st upgrade.Step) error {
	if st.ID == e.hold && e.held.Add(1) == 1 {
		close(e.entered)
		<-e.release // ignores ctx
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf("%s@%d", st.ID, e.held.Load()))
	return nil
}

func (e *blockingFirst) calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// startAbandoned submits plan with opts and has a worker run it with
// exec, whose call for step hold signals entered and then ignores its
// context; it cancels the run once that call is entered, and waits for
// the run to finish, the call abandoned past the grace period. It
// returns the worker's error, which comes once Work returns.
func startAbandoned(ctx context.Context, t *testing.T, s *Store, plan *upgrade.Plan, opts Options, exec upgrade.Executor,
	hold upgrade.StepID, entered <-chan struct{}) <-chan error {
	t.Helper()
	require.NoError(t, s.Submit(ctx, plan, opts))
	o := lapsingWorker
	o.GracePeriod = abandonGrace
	o.Name = "holder"
	done := make(chan error, 1)
	go func() { done <- s.Work(ctx, plan.ID, exec, o) }()
	<-entered
	require.NoError(t, s.Cancel(ctx, plan.ID))
	st, err := s.Wait(ctx, plan.ID, pollEvery)
	require.NoError(t, err)
	require.True(t, st.Finished)
	o1, _ := st.Report.Outcome(hold)
	require.ErrorIs(t, o1.Err, upgrade.ErrAbandoned, "the test's premise: %s's call is abandoned", hold)
	return done
}

// waitsBehind submits plan two, of one step on the node that step
// holder.Step of run holder.Plan keeps for a call abandoned, has a worker
// run it with exec, and checks that the step waits for that step, and
// does not start; it returns the worker's error, which comes once Work
// returns.
func waitsBehind(ctx context.Context, t *testing.T, s *Store, two *upgrade.Plan, exec upgrade.Executor, holder upgrade.Holder) <-chan error {
	t.Helper()
	require.NoError(t, s.Submit(ctx, two, Options{}))
	done := make(chan error, 1)
	go func() { done <- s.Work(ctx, two.ID, exec, lapsingWorker) }()
	// The claim that finds the node held records the wait; one that
	// finds it free starts the step, its event recorded before Execute.
	id := two.Steps[0].ID
	ev := hunt10Events(t, s, two.ID, func(ev []Event) bool {
		return hunt10Has(upgrade.StepWaiting, id)(ev) || hunt10Has(upgrade.StepStarted, id)(ev)
	})
	require.True(t, hunt10Has(upgrade.StepWaiting, id)(ev), "%s did not wait for the node, held by %s's call: %v", id, holder.Step, ev)
	assert.False(t, hunt10Has(upgrade.StepStarted, id)(ev), "%s started while %s's call ran on its node", id, holder.Step)
	for _, x := range ev {
		if x.Kind == upgrade.StepWaiting {
			assert.Equal(t, &holder, x.WaitingFor)
		}
	}
	return done
}

// TestAbandonedCallKeepsNode: a step whose Execute, or Verify, ignores
// the cancel of its run past the grace period is recorded failed,
// abandoned, and its run finishes, as upgrade.Run reports it, and so is
// the rollback of a step whose Rollback does (the step stays in place);
// but the call may still be changing the node. Another run's step on
// the node must wait until the call has returned, not run beside it, and
// then run; the worker that abandoned the call returns once it has.
// Before, the worker freed the node as it recorded the step, or its
// rollback, and the second run's step ran at once.
func TestAbandonedCallKeepsNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		plan *upgrade.Plan
		opts Options
		hold upgrade.Holder
		// exec returns the executor of the first run, whose call for
		// hold.Step closes entered and then ignores its context until
		// free is called (which the test's end calls at the latest).
		exec func(t *testing.T) (exec upgrade.Executor, entered <-chan struct{}, free func())
	}{{
		name: "Execute",
		plan: onNode("one", "x1", "shared"),
		hold: upgrade.Holder{Node: "shared", Plan: "one", Step: "x1"},
		exec: func(t *testing.T) (upgrade.Executor, <-chan struct{}, func()) {
			e := newBlockingFirst(t, "x1")
			return e, e.entered, e.free
		},
	}, {
		name: "Verify",
		plan: onNode("one", "x1", "shared"),
		hold: upgrade.Holder{Node: "shared", Plan: "one", Step: "x1"},
		exec: func(t *testing.T) (upgrade.Executor, <-chan struct{}, func()) {
			e := &blockingVerify{Executor: &upgradetest.Executor{}, hold: "x1", entered: make(chan struct{}), release: make(chan struct{})}
			free := sync.OnceFunc(func() { close(e.release) })
			t.Cleanup(free)
			return e, e.entered, free
		},
	}, {
		name: "Rollback",
		plan: &upgrade.Plan{ID: "one", Steps: chain3("").Steps[:3]},
		opts: Options{Rollback: true},
		hold: upgrade.Holder{Node: "n-b", Plan: "one", Step: "b"},
		exec: func(t *testing.T) (upgrade.Executor, <-chan struct{}, func()) {
			e := &ignoringRollback{Executor: &upgradetest.Executor{}, hold: "b", entered: make(chan struct{}), free: make(chan struct{})}
			e.FailAt("c", errBoom) // the run rolls back c, then b
			free := sync.OnceFunc(func() { close(e.free) })
			t.Cleanup(free)
			return e, e.entered, free
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := testStore(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
			defer cancel()
			exec, entered, free := tc.exec(t)
			oneDone := startAbandoned(ctx, t, s, tc.plan, tc.opts, exec, tc.hold.Step, entered)

			other := &upgradetest.Executor{}
			twoDone := waitsBehind(ctx, t, s, onNode("two", "x2", tc.hold.Node), other, tc.hold)
			assert.Zero(t, other.Calls("x2"), "x2 ran while %s's call ran on its node", tc.hold.Step)
			select {
			case err := <-oneDone:
				t.Errorf("Work returned (%v) while the call it abandoned still ran, its node held", err)
			default:
			}

			free()
			require.NoError(t, <-twoDone)
			require.NoError(t, <-oneDone)
			assert.Equal(t, 1, other.Calls("x2"))
			finished(t, s, "two")
			hunt10Released(t, s)
		})
	}
}

// TestAbandonedExecuteKeepsNodeFromRetry: Retry offers a step whose
// Execute was abandoned in doubt; while that Execute still runs, the
// run's workers take the other steps ready and leave that one until it
// has returned. Before, the step ran again at once, beside its abandoned
// Execute.
func TestAbandonedExecuteKeepsNodeFromRetry(t *testing.T) {
	s, _ := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	// One slot, a's place first: a retried is claimed before b, unless
	// its node is held.
	plan := &upgrade.Plan{ID: "retried", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b"},
	}}
	e := newBlockingFirst(t, "a")
	firstDone := startAbandoned(ctx, t, s, plan, Options{}, e, "a", e.entered)

	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	againDone := make(chan error, 1)
	go func() { againDone <- s.Work(ctx, plan.ID, e, lapsingWorker) }()
	hunt10Events(t, s, plan.ID, func(ev []Event) bool {
		for _, x := range ev {
			if x.Kind == upgrade.StepSucceeded && x.Step.ID == "b" {
				return true
			}
		}
		return false
	})
	assert.Equal(t, []string{"b@1"}, e.calls(), "a ran again beside its abandoned Execute, before b")

	e.free()
	require.NoError(t, <-againDone)
	require.NoError(t, <-firstDone)
	assert.Equal(t, []string{"b@1", "a@2"}, e.calls())
	st := finished(t, s, plan.ID)
	hunt10Released(t, s)
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt, "a offered again in doubt")
}

// TestAbandonedHoldLapsesWithItsWorker: a worker that stops while a call
// it abandoned still runs returns without waiting for it, and leaves the
// node's lock, held for the call, to lapse after its lease, as a lost
// worker's step is taken over after its lease; then another run's step
// on the node runs, though the call has not returned.
func TestAbandonedHoldLapsesWithItsWorker(t *testing.T) {
	s, _ := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	one := onNode("one", "x1", "shared")
	two := onNode("two", "x2", "shared")
	e := newBlockingFirst(t, "x1")
	wctx, stop := context.WithCancel(ctx)
	oneDone := startAbandoned(wctx, t, s, one, Options{}, e, "x1", e.entered)
	stop()
	require.ErrorIs(t, <-oneDone, context.Canceled)
	var held int
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.node_locks WHERE node = 'shared' AND held_until IS NOT NULL`)).Scan(&held))
	assert.Equal(t, 1, held, "the node's lock, held for x1's call, is left to lapse")

	require.NoError(t, s.Submit(ctx, two, Options{}))
	work(t, s, two.ID, 1, e, lapsingWorker)
	assert.Equal(t, []string{"x2@1"}, e.calls(), "x2 ran once the lock lapsed, x1's call still under way")
	finished(t, s, two.ID)
	hunt10Released(t, s)
}

// TestAbandonedAsWorkerStopsNotHandedBack: a worker that stops while a
// step's Execute ignores its context past the grace period does not hand
// the step back at once, as it hands back a step whose Execute returned:
// the Execute may still be changing the node. The step stays leased to
// it, and another worker takes it over, in doubt, once the lease has
// lapsed, as a lost worker's. Before, it was handed back, and another
// worker could run it at once beside the Execute abandoned.
func TestAbandonedAsWorkerStopsNotHandedBack(t *testing.T) {
	s, _ := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	plan := onNode("one", "x1", "shared")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	e := newBlockingFirst(t, "x1")
	o := lapsingWorker
	o.GracePeriod = abandonGrace
	o.Name = "stopped"
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Work(wctx, plan.ID, e, o) }()
	<-e.entered
	stop()
	require.ErrorIs(t, <-done, context.Canceled)
	var state, worker string
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT state, coalesce(worker, '') FROM {s}.steps WHERE plan_id = 'one' AND idx = 0`)).Scan(&state, &worker))
	assert.Equal(t, "running", state, "x1 handed back while its Execute may still run")
	assert.Equal(t, "stopped", worker)

	work(t, s, plan.ID, 1, e, lapsingWorker)
	assert.Equal(t, []string{"x1@2"}, e.calls(), "taken over once the lease lapsed")
	st := finished(t, s, plan.ID)
	hunt10Released(t, s)
	assert.Equal(t, []upgrade.StepID{"x1"}, st.InDoubt)
}

// blockingVerify is an upgradetest.Executor whose Verify of step hold
// signals entered and then waits for release, ignoring its context.
type blockingVerify struct {
	*upgradetest.Executor
	hold    upgrade.StepID
	entered chan struct{}
	release chan struct{}
}

func (e *blockingVerify) Verify(ctx context.Context, s upgrade.Step) error {
	if s.ID == e.hold {
		close(e.entered)
		<-e.release // ignores ctx
		return nil
	}
	return e.Executor.Verify(ctx, s)
}
