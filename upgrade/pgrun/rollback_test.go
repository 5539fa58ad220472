package pgrun

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// defaultBound bounds waits for a state in the database, as a failure
// bound only; pollEvery is how often they look.
const (
	defaultBound = time.Minute
	pollEvery    = 10 * time.Millisecond
)

// blockingRollback is an upgradetest.Executor whose first Rollback of step
// hold says so on entered and waits for its context.
type blockingRollback struct {
	*upgradetest.Executor
	hold    upgrade.StepID
	entered chan struct{}
	once    sync.Once
}

func (e *blockingRollback) Rollback(ctx context.Context, s upgrade.Step) error {
	if s.ID == e.hold {
		first := false
		e.once.Do(func() { first = true })
		if first {
			close(e.entered)
			<-ctx.Done()
			return ctx.Err()
		}
	}
	return e.Executor.Rollback(ctx, s)
}

// A worker without a Rollbacker leaves the rollback to others; a worker
// stopped during a rollback hands the step over; the run then completes,
// rolled back as upgrade.Run would.
func TestRollbackHandedOver(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("rb-handover")
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	boom := errors.New("boom")

	// No Rollbacker: runs a, fails b, and leaves the rollback pending.
	plain := upgrade.ExecutorFunc(func(_ context.Context, st upgrade.Step) error {
		if st.ID == "b" {
			return boom
		}
		return nil
	})
	wctx, stopPlain := context.WithCancel(ctx)
	defer stopPlain()
	plainDone := make(chan error, 1)
	go func() { plainDone <- s.Work(wctx, plan.ID, plain, fastWorker) }()
	var st *Status
	require.Eventually(t, func() bool { // a failure bound, not an ordering device
		var err error
		st, err = s.Status(ctx, plan.ID)
		require.NoError(t, err)
		o, _ := st.Report.Outcome("b")
		return o.State == upgrade.Failed
	}, defaultBound, pollEvery)
	var state string
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT state FROM {s}.runs WHERE plan_id = $1`), plan.ID).Scan(&state))
	assert.Equal(t, "rolling_back", state)
	assert.False(t, st.Finished, "rollback pending")

	// A Rollbacker that is stopped in the middle of undoing b.
	first := &blockingRollback{Executor: &upgradetest.Executor{}, hold: "b", entered: make(chan struct{})}
	fctx, stopFirst := context.WithCancel(ctx)
	firstDone := make(chan error, 1)
	go func() { firstDone <- s.Work(fctx, plan.ID, first, fastWorker) }()
	<-first.entered
	// The Report while b is undone: b in place, failed; a in place.
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished)
	for id, want := range map[upgrade.StepID]upgrade.State{"a": upgrade.Succeeded, "b": upgrade.Failed} {
		o, _ := st.Report.Outcome(id)
		assert.Equal(t, want, o.State, "%s while b is rolled back", id)
	}
	stopFirst()
	assert.ErrorIs(t, <-firstDone, context.Canceled)

	second := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, second, fastWorker)
	require.NoError(t, <-plainDone) // it sees the run finished
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, []upgrade.StepID{"b", "a"}, second.RolledBack(), "last completed first")
	for _, id := range []upgrade.StepID{"a", "b"} {
		o, _ := st.Report.Outcome(id)
		assert.Equal(t, upgrade.RolledBack, o.State, id)
	}
	assert.ErrorIs(t, st.Err, upgrade.ErrStepFailed)
	assert.NotErrorIs(t, st.Err, upgrade.ErrRollback)
	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	var rolled []upgrade.StepID
	for _, e := range events {
		if e.Kind == upgrade.StepRolledBack {
			rolled = append(rolled, e.Step.ID)
		}
	}
	assert.Equal(t, []upgrade.StepID{"b", "a"}, rolled)
}

// cancelledRollback is a blockingRollback whose Rollbacks fail at once
// when their context is done, as host code honouring its context does.
type cancelledRollback struct{ *blockingRollback }

func (e cancelledRollback) Rollback(ctx context.Context, s upgrade.Step) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return e.blockingRollback.Rollback(ctx, s)
}

// TestConformanceCancelDuringRollback cancels a run while it rolls back,
// in upgrade.Run (its context) and here (Store.Cancel), and requires the
// same outcomes and events: the rollback under way fails with
// context.Canceled and the steps not yet undone stay in place, each with
// an error matching context.Canceled, as Run leaves them when it calls
// their Rollback with a done context.
func TestConformanceCancelDuringRollback(t *testing.T) {
	s, _ := testStore(t)
	newExec := func() cancelledRollback {
		e := &blockingRollback{Executor: &upgradetest.Executor{}, hold: "b", entered: make(chan struct{})}
		e.FailAt("c", errBoom)
		return cancelledRollback{e}
	}
	// a; b; c after b, which fails: c, then b, then a are undone, a
	// after b's rollback was cut short, since b is not after a.
	plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b"}, {ID: "c", Kind: upgrade.Platform, Node: "n-c", After: []upgrade.StepID{"b"}}}}

	inProc := newExec()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-inProc.entered
		cancel()
	}()
	var wantEvents []confEvent
	want, wantErr := upgrade.Run(ctx, plan, inProc, upgrade.WithRollback(), recordEvents(&wantEvents))
	require.NotNil(t, want)

	remote := newExec()
	plan.ID = "cancel-rollback"
	bg := context.Background()
	require.NoError(t, s.Submit(bg, plan, Options{Rollback: true}))
	done := make(chan error, 1)
	go func() { done <- s.Work(bg, plan.ID, remote, lapsingWorker) }()
	<-remote.entered
	require.NoError(t, s.Cancel(bg, plan.ID))
	require.NoError(t, <-done)
	got, err := s.Status(bg, plan.ID)
	require.NoError(t, err)
	require.True(t, got.Finished)
	for i, w := range want.Outcomes {
		g := got.Report.Outcomes[i]
		assert.Equal(t, w.State.String(), g.State.String(), "state of %s", w.Step)
		assert.Equal(t, w.Err != nil, g.Err != nil, "error of %s: %v, %v", w.Step, w.Err, g.Err)
		assert.Equal(t, sentinels(w.Err), sentinels(g.Err), "error kinds of %s: %v, %v", w.Step, w.Err, g.Err)
	}
	assert.Equal(t, inProc.RolledBack(), remote.RolledBack())
	assert.Equal(t, sentinels(wantErr), sentinels(got.Err), "run error kinds: %v, %v", wantErr, got.Err)
	gotEvents, _ := storeEvents(t, s, plan.ID, 0)
	sameEvents(t, "cancelled during the rollback", true, wantEvents, gotEvents)
	assert.ErrorIs(t, got.Err, ErrCancelled)
	a, _ := got.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State)
	assert.ErrorIs(t, a.Err, context.Canceled)
	t.Logf("Run: %v\npgrun: %v", wantErr, got.Err)
}

// rbFunc is an executor and rollbacker of functions.
type rbFunc struct {
	exec, rollback func(context.Context, upgrade.Step) error
}

func (e *rbFunc) Execute(ctx context.Context, st upgrade.Step) error  { return e.exec(ctx, st) }
func (e *rbFunc) Rollback(ctx context.Context, st upgrade.Step) error { return e.rollback(ctx, st) }

// TestRollbackTakesNodeLock: undoing a step changes its node, so a run's
// rollback waits while a step of another run holds the node, as a step
// does, and goes on once it is free.
func TestRollbackTakesNodeLock(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	one := &upgrade.Plan{ID: "one", Steps: []upgrade.Step{
		{ID: "a1", Kind: upgrade.Platform, Node: "shared"},
		{ID: "a2", Kind: upgrade.Platform, Node: "own", After: []upgrade.StepID{"a1"}}}}
	two := onNode("two", "b1", "shared")
	require.NoError(t, s.Submit(ctx, one, Options{Rollback: true}))
	require.NoError(t, s.Submit(ctx, two, Options{}))
	a2Started, b1Holding, releaseB1 := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var b1Running, overlap atomic.Bool
	exec := &rbFunc{exec: func(ctx context.Context, st upgrade.Step) error {
		switch st.ID {
		case "a2":
			close(a2Started)
			<-b1Holding
			return errors.New("a2 broke")
		case "b1":
			b1Running.Store(true)
			close(b1Holding)
			<-releaseB1
			b1Running.Store(false)
		}
		return nil
	}, rollback: func(_ context.Context, st upgrade.Step) error {
		if st.Node == "shared" && b1Running.Load() {
			overlap.Store(true)
		}
		return nil
	}}
	oneDone, twoDone := make(chan error, 1), make(chan error, 1)
	go func() { oneDone <- s.Work(ctx, "one", exec, fastWorker) }()
	<-a2Started // a1 done: its lock on "shared" is free
	go func() { twoDone <- s.Work(ctx, "two", exec, fastWorker) }()
	<-b1Holding
	// a2 fails and is undone (its node is free); a1's rollback must wait.
	require.Eventually(t, func() bool { // a failure bound, not an ordering device
		st, err := s.Status(ctx, "one")
		require.NoError(t, err)
		o, _ := st.Report.Outcome("a2")
		return o.State == upgrade.RolledBack
	}, defaultBound, pollEvery)
	var status string
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT r_status FROM {s}.claim('one', 'probe', 1000000, true)`)).Scan(&status))
	assert.Equal(t, "none", status, "a1's rollback waits for b1's lock on the node")
	assert.False(t, overlap.Load(), "a1 was rolled back on node shared while b1 ran on it")

	close(releaseB1)
	require.NoError(t, <-twoDone)
	require.NoError(t, <-oneDone)
	assert.False(t, overlap.Load())
	st, err := s.Status(ctx, "one")
	require.NoError(t, err)
	require.True(t, st.Finished)
	a1, _ := st.Report.Outcome("a1")
	assert.Equal(t, upgrade.RolledBack, a1.State, "undone once the node was free")
	var locks int
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.node_locks`)).Scan(&locks))
	assert.Zero(t, locks, "every lock released")
}

// TestRollbackWaitsForRollbacker: a worker whose Executor cannot roll back
// leaves a run's rollback to others, and says so in its log, once; a
// worker that can then rolls the run back.
func TestRollbackWaitsForRollbacker(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	plan := chain3("rb-wanted")
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	plain := upgrade.ExecutorFunc(func(_ context.Context, st upgrade.Step) error {
		if st.ID == "b" {
			return errors.New("boom")
		}
		return nil
	})
	var logs lockedBuffer
	o := fastWorker
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Work(wctx, plan.ID, plain, o) }()
	const said = "the run is rolling back and waits for a worker whose Executor can undo steps (an upgrade.Rollbacker); this worker's cannot"
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), said) }, defaultBound, pollEvery)
	stop()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, 1, strings.Count(logs.String(), said), "said once")
	assert.Contains(t, logs.String(), "run=rb-wanted")

	rb := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, rb, fastWorker)
	assert.Equal(t, []upgrade.StepID{"b", "a"}, rb.RolledBack())
}

// The step timeout bounds a Rollback as upgrade.Run's does: one that waits
// for its context is cut off, its step stays in place, and the run ends.
func TestRollbackStepTimeout(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("rb-timeout")
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true, StepTimeout: 50 * time.Millisecond}))
	exec := &blockingRollback{Executor: new(upgradetest.Executor), hold: "a", entered: make(chan struct{})}
	exec.FailAt("b", errors.New("boom"))
	require.NoError(t, s.Work(ctx, plan.ID, exec, fastWorker)) // returns once the run is over
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State, "its Rollback timed out")
	require.Error(t, a.Err)
	assert.Contains(t, a.Err.Error(), "deadline exceeded")
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, upgrade.RolledBack, b.State, "the failed step is undone first")
}
