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
// same outcomes: the rollback under way fails with context.Canceled and
// the steps not yet undone stay in place, each with an error matching
// context.Canceled, as Run leaves them when it calls their Rollback with
// a done context.
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
	want, wantErr := upgrade.Run(ctx, plan, inProc, upgrade.WithRollback())
	require.NotNil(t, want)

	remote := newExec()
	plan.ID = "cancel-rollback"
	bg := context.Background()
	require.NoError(t, s.Submit(bg, plan, Options{Rollback: true}))
	o := fastWorker
	o.Lease = 300 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- s.Work(bg, plan.ID, remote, o) }()
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
	assert.ErrorIs(t, got.Err, ErrCancelled)
	a, _ := got.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State)
	assert.ErrorIs(t, a.Err, context.Canceled)
	t.Logf("Run: %v\npgrun: %v", wantErr, got.Err)
}
