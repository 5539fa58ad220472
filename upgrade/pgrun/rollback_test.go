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
	stopFirst()
	assert.ErrorIs(t, <-firstDone, context.Canceled)

	second := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, second, fastWorker)
	require.NoError(t, <-plainDone) // it sees the run finished
	st, err := s.Status(ctx, plan.ID)
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
