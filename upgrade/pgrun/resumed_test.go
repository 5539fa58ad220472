package pgrun

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestRetryReportsResumed: x is taken over in doubt from a lost worker
// and succeeds; y fails, z after it is skipped, a succeeds; the run is
// retried and succeeds. upgrade.Run, resumed from a file journal that
// holds x started (the lost worker's crash), then resumed again, reports
// the steps that succeeded in the earlier run as Resumed, not in doubt,
// with no attempts of this run, and emits nothing of them: so must
// Status after Store.Retry, and the retried run's events. Before, Status
// kept their attempts, said none was resumed, and kept x in doubt
// (Outcome.InDoubt, Status.InDoubt) though the retried run had offered it
// nothing.
func TestRetryReportsResumed(t *testing.T) {
	ctx := context.Background()
	plan := &upgrade.Plan{ID: "resumed", Steps: []upgrade.Step{
		{ID: "x", Kind: upgrade.Platform, Node: "n-x"},
		{ID: "a", Kind: upgrade.Platform, Node: "n-a", After: []upgrade.StepID{"x"}},
		{ID: "y", Kind: upgrade.Platform, Node: "n-y", After: []upgrade.StepID{"x"}},
		{ID: "z", Kind: upgrade.Platform, Node: "n-z", After: []upgrade.StepID{"y"}}}}
	opts := Options{Policy: upgrade.ContinueIndependent}
	newExec := func() *upgradetest.Executor {
		e := &upgradetest.Executor{}
		e.FailTimes("y", 1, errBoom) // fails in the first run only
		return e
	}

	// upgrade.Run: a crash as x ran, then two runs resumed.
	j, err := upgrade.OpenFileJournal(filepath.Join(t.TempDir(), "journal"))
	require.NoError(t, err)
	defer j.Close()
	_, err = j.Begin(ctx, plan.ID)
	require.NoError(t, err)
	require.NoError(t, j.Append(ctx, upgrade.Record{Kind: upgrade.RecordStarted, Step: "x", Time: time.Now().UTC()}))
	inProc := newExec()
	runOpts := append(runOptions(opts.normal()), upgrade.WithJournal(j))
	want1, err := upgrade.Run(ctx, plan, inProc, runOpts...)
	require.Error(t, err)
	var wantEvents []confEvent
	want2, err := upgrade.Run(ctx, plan, inProc, append(runOpts, upgrade.WithEvents(func(e upgrade.Event) {
		wantEvents = append(wantEvents, toConfEvent(e))
	}))...)
	require.NoError(t, err)

	// pgrun: a worker lost as it ran x, then a worker, then Retry.
	s, _ := testStore(t)
	require.NoError(t, s.Submit(ctx, plan, opts))
	dead := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "dead", Lease: 100 * time.Millisecond})
	c, _, _, err := dead.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c, "the dead worker's claim")
	require.Equal(t, upgrade.StepID("x"), plan.Steps[c.idx].ID)
	remote := newExec()
	work(t, s, plan.ID, 1, remote, fastWorker)
	require.Equal(t, []upgrade.StepID{"x"}, remote.InDoubt(), "the test's premise: x taken over in doubt")
	got1, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, got1.Finished)
	for i, w := range want1.Outcomes { // x's attempts count the lost worker's in pgrun: not compared
		g := got1.Report.Outcomes[i]
		require.Equal(t, []any{w.Step, w.State, w.InDoubt, w.Resumed}, []any{g.Step, g.State, g.InDoubt, g.Resumed},
			"the test's premise: the first runs agree")
	}
	require.Equal(t, inDoubtOf(want1), got1.InDoubt)
	before, err := s.Events(ctx, plan.ID, 0, 1000)
	require.NoError(t, err)

	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	work(t, s, plan.ID, 1, remote, fastWorker)
	got2, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, got2.Finished)
	require.NoError(t, got2.Err)
	assert.Equal(t, confOutcomes(want2), confOutcomes(got2.Report), "the retried run's report")
	assert.Equal(t, inDoubtOf(want2), got2.InDoubt, "the retried run's steps in doubt")
	assert.Equal(t, inProc.Started(), remote.Started(), "steps executed, in order")
	assert.Equal(t, inProc.InDoubt(), remote.InDoubt(), "steps offered in doubt")

	events, err := s.Events(ctx, plan.ID, before[len(before)-1].Seq, 1000)
	require.NoError(t, err)
	var gotEvents []confEvent
	for _, e := range events {
		gotEvents = append(gotEvents, toConfEvent(e.Event))
		assert.False(t, e.InDoubt, "event %v of %s in doubt", e.Kind, e.Step.ID)
	}
	assert.Equal(t, wantEvents, gotEvents, "the retried run's events")
}
