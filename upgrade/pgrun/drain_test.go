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
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestDrain: a drained worker claims nothing more, lets the step it runs
// finish and be recorded (its context not cancelled), and returns
// ErrDrained; another worker finishes the run.
func TestDrain(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("drain")
	plan.Steps = plan.Steps[:3] // a, b after a, c after b
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var ran []upgrade.StepID
	var cut bool
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		mu.Lock()
		ran = append(ran, st.ID)
		mu.Unlock()
		if st.ID == "a" {
			close(entered)
			<-release
			mu.Lock()
			cut = ctx.Err() != nil
			mu.Unlock()
		}
		return nil
	})
	drain := make(chan struct{})
	// Woken by notifications, or by the drain; one slot, since a second
	// one's claim may be under way when the drain comes.
	o := sleepy
	o.Drain = drain
	done := make(chan error, 1)
	go func() { done <- s.Work(ctx, plan.ID, exec, o) }()
	<-entered
	close(drain)
	close(release)
	assert.ErrorIs(t, <-done, ErrDrained)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State, "the running step finished and was recorded")
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, upgrade.NotStarted, b.State, "nothing claimed after the drain")
	mu.Lock()
	assert.Equal(t, []upgrade.StepID{"a"}, ran)
	assert.False(t, cut, "the drain does not cancel the step")
	mu.Unlock()

	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.NoError(t, st.Err)
	assert.Empty(t, st.InDoubt)

	// An idle worker, kept out by the run's limit, returns once drained:
	// the drain comes only after its claim found nothing (runs.starved,
	// d ready while a holds the one slot), so that Work leaves from its
	// wait, not from the check before it claims.
	plan3 := chain3("drain-3")
	require.NoError(t, s.Submit(ctx, plan3, Options{Concurrency: 1}))
	entered3, release3 := make(chan struct{}), make(chan struct{})
	hold := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.ID == "a" {
			close(entered3)
			<-release3
		}
		return nil
	})
	holderDone := make(chan error, 1)
	go func() { holderDone <- s.Work(ctx, plan3.ID, hold, sleepy) }() // its lease wakes no one within the test
	<-entered3
	idle := make(chan struct{})
	o.Drain = idle
	idleDone := make(chan error, 1)
	go func() { idleDone <- s.Work(ctx, plan3.ID, exec, o) }() // nothing to claim: the limit is 1
	// A failure bound:
	require.Eventually(t, func() bool {
		var starved bool
		require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT starved FROM {s}.runs WHERE plan_id = $1`), plan3.ID).Scan(&starved))
		return starved
	}, defaultBound, pollEvery, "the idle worker never looked")
	close(idle)
	assert.ErrorIs(t, <-idleDone, ErrDrained)
	require.NoError(t, s.Cancel(ctx, plan3.ID))
	close(release3)
	require.NoError(t, <-holderDone)

	// Drained before it starts: it claims nothing.
	closed := make(chan struct{})
	close(closed)
	plan2 := chain3("drain-2")
	require.NoError(t, s.Submit(ctx, plan2, Options{}))
	o.Drain = closed
	assert.ErrorIs(t, s.Work(ctx, plan2.ID, exec, o), ErrDrained)
	st, err = s.Status(ctx, plan2.ID)
	require.NoError(t, err)
	assert.Equal(t, 4, st.Report.Count(upgrade.NotStarted))
}

// ignoringRollback is an upgradetest.Executor whose Rollback of step hold
// ignores its context, returning only once free is closed.
type ignoringRollback struct {
	*upgradetest.Executor
	hold    upgrade.StepID
	entered chan struct{}
	free    chan struct{}
}

func (e *ignoringRollback) Rollback(ctx context.Context, s upgrade.Step) error {
	if s.ID == e.hold {
		close(e.entered)
		<-e.free
		return errors.New("undone too late")
	}
	return e.Executor.Rollback(ctx, s)
}

// TestRollbackGracePeriod: a Rollback that ignores its context once the
// run is cancelled is abandoned after the grace period, as upgrade.Run
// abandons it: the step stays in place with an error matching
// upgrade.ErrAbandoned.
func TestRollbackGracePeriod(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("grace")
	plan.Steps = plan.Steps[:3]
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	exec := &ignoringRollback{Executor: &upgradetest.Executor{}, hold: "b", entered: make(chan struct{}), free: make(chan struct{})}
	free := sync.OnceFunc(func() { close(exec.free) })
	defer free() // the abandoned goroutine ends with the test
	exec.FailAt("c", errBoom)
	o := lapsingWorker
	// The lease is long enough that, on a loaded machine, it does not
	// run out between the renewal that finds the run cancelled and the
	// record of the rollback abandoned, a grace period later: the step
	// would then be failed as a lost worker's.
	o.GracePeriod = 50 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- s.Work(ctx, plan.ID, exec, o) }()
	<-exec.entered
	require.NoError(t, s.Cancel(ctx, plan.ID))
	// The run finishes, the rollback abandoned; Work returns once the
	// call has (see TestAbandonedCallKeepsNode).
	st, err := s.Wait(ctx, plan.ID, pollEvery)
	require.NoError(t, err)
	free()
	require.NoError(t, <-done)
	require.True(t, st.Finished)
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, upgrade.Succeeded, b.State, "b stays in place")
	assert.ErrorIs(t, b.Err, upgrade.ErrAbandoned)
	assert.ErrorIs(t, st.Err, upgrade.ErrRollback)
	assert.ErrorIs(t, st.Err, upgrade.ErrAbandoned)
}
