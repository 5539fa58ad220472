package pgrun

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14HandedBackUnstartedHasNoStartEvent: a step that a worker
// claimed and handed back before starting it (its context ended between
// the claim and the start, as it stopped) was not started: its events,
// once another worker has run it, are upgrade.Run's, one StepStarted,
// not two. Before, the claim's StepStarted stayed, and the step seemed to
// start twice at its first attempt, to a reader counting the steps under
// way or timing them from their start.
func TestHunt14HandedBackUnstartedHasNoStartEvent(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("handed-back-unstarted-events")
	var wantEvents []confEvent
	_, err := upgrade.Run(ctx, plan, &upgradetest.Executor{}, append(runOptions(Options{}), recordEvents(&wantEvents))...)
	require.NoError(t, err)

	require.NoError(t, s.Submit(ctx, plan, Options{}))
	stopping := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "stopping", Lease: time.Hour})
	c, _, _, err := stopping.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	stopping.handBack(ctx, c, false) // as a worker whose context ended before it started the step
	exec := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, exec, fastWorker)
	require.Equal(t, []upgrade.StepID{"a", "b", "c", "d"}, exec.Started())
	gotEvents, _ := storeEvents(t, s, plan.ID, 0)
	assert.Equal(t, wantEvents, gotEvents, "the events of upgrade.Run")
}
