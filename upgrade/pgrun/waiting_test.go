package pgrun

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// holdSharedNode submits runs one and two, a step each (x1, x2) on node
// "shared", and starts a worker with options o on run one, whose step x1
// holds the node until release is called; release returns that worker's
// error. exec runs the steps of both runs.
func holdSharedNode(t *testing.T, s *Store, o WorkerOptions) (exec upgrade.Executor, release func() error) {
	t.Helper()
	ctx := context.Background()
	one := onNode("one", "x1", "shared")
	two := onNode("two", "x2", "shared")
	require.NoError(t, s.Submit(ctx, one, Options{}))
	require.NoError(t, s.Submit(ctx, two, Options{}))
	holding, free := make(chan struct{}), make(chan struct{})
	exec = upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.ID == "x1" {
			close(holding)
			<-free
		}
		return nil
	})
	oneDone := make(chan error, 1)
	go func() { oneDone <- s.Work(ctx, "one", exec, o) }()
	<-holding
	return exec, func() error {
		close(free)
		return <-oneDone
	}
}

// TestWaitingEvent: a step of a run whose node a step of another run holds
// gets one waiting event naming the node, the other run and its step,
// however often its workers look again; it runs once the node is free.
func TestWaitingEvent(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	exec, release := holdSharedNode(t, s, fastWorker)

	// Run two's worker looks three times: one event.
	o := fastWorker
	o.Name = "looker"
	looker := testWorker(t, s, "two", exec, o)
	for range 3 {
		c, finished, _, err := looker.claim(ctx, nil)
		require.NoError(t, err)
		require.Nil(t, c, "x2 cannot start while x1 holds its node")
		require.False(t, finished)
	}
	events, err := s.Events(ctx, "two", 0, 100)
	require.NoError(t, err)
	require.Len(t, events, 1, "%+v", events)
	e := events[0]
	assert.Equal(t, upgrade.StepWaiting, e.Kind)
	assert.Equal(t, "waiting", e.Kind.String())
	assert.Equal(t, upgrade.StepID("x2"), e.Step.ID)
	assert.Equal(t, 1, e.Attempt)
	require.NotNil(t, e.WaitingFor)
	assert.Equal(t, upgrade.Holder{Node: "shared", Plan: "one", Step: "x1"}, *e.WaitingFor)
	assert.Equal(t, "looker", e.Worker)

	require.NoError(t, release())
	work(t, s, "two", 1, exec, fastWorker)
	events, err = s.Events(ctx, "two", 0, 100)
	require.NoError(t, err)
	var kinds []upgrade.EventKind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
		if e.Kind != upgrade.StepWaiting {
			assert.Nil(t, e.WaitingFor)
		}
	}
	assert.Equal(t, []upgrade.EventKind{upgrade.StepWaiting, upgrade.StepStarted, upgrade.StepSucceeded}, kinds)
	st, err := s.Status(ctx, "two")
	require.NoError(t, err)
	assert.NoError(t, st.Err)
	// Run one never waited.
	events, err = s.Events(ctx, "one", 0, 100)
	require.NoError(t, err)
	for _, e := range events {
		assert.NotEqual(t, upgrade.StepWaiting, e.Kind)
	}
}
