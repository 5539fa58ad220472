package upgrade_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// rwStubborn ignores its context in Execute of step x and in Verify of
// step v until release is closed, and honours it in Execute of step p.
// Verify of step late comes after an Execute that returns lateBy after
// its context is done. entered counts the calls that have begun to wait.
type rwStubborn struct {
	entered sync.WaitGroup
	release chan struct{}
	lateBy  time.Duration
}

func (e *rwStubborn) Execute(ctx context.Context, s upgrade.Step) error {
	switch s.ID {
	case "x":
		e.entered.Done()
		<-e.release
	case "p":
		e.entered.Done()
		<-ctx.Done()
		return ctx.Err()
	case "late":
		e.entered.Done()
		<-ctx.Done()
		time.Sleep(e.lateBy)
	}
	return nil
}

func (e *rwStubborn) Verify(ctx context.Context, s upgrade.Step) error {
	switch s.ID {
	case "v":
		e.entered.Done()
		<-e.release
	case "late":
		<-e.release
	}
	return nil
}

// cancelOnceEntered returns a context that is cancelled once n calls have
// begun to wait, and the time it was.
func (e *rwStubborn) cancelOnceEntered(t *testing.T, n int) (context.Context, *time.Time) {
	e.entered.Add(n)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	var cancelled time.Time
	go func() {
		e.entered.Wait()
		cancelled = time.Now()
		cancel()
	}()
	return ctx, &cancelled
}

// Host code that ignores the run's cancellation is abandoned after the
// grace period, in Execute or in Verify, while other workers' calls that
// honour the cancellation end at once; the abandoned steps stay started
// in the journal, the steps after them are skipped, no step starts after
// the cancellation, and the abandoned calls returning later change
// nothing.
func TestRunAbandonsStubbornWorkersAfterCancel(t *testing.T) {
	path := jrPath(t)
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{ID: "sha256:rw", Steps: []upgrade.Step{
			{ID: "x"}, {ID: "v"}, {ID: "p"},
			{ID: "after-x", After: []upgrade.StepID{"x"}},
			{ID: "n1"}, {ID: "n2"},
		}}
		exec := &rwStubborn{release: make(chan struct{})}
		ctx, cancelled := exec.cancelOnceEntered(t, 3)
		j, err := upgrade.OpenFileJournal(path)
		require.NoError(t, err)
		report, err := upgrade.Run(ctx, plan, exec, upgrade.WithConcurrency(3), upgrade.WithJournal(j),
			upgrade.WithGracePeriod(5*time.Second))
		require.NoError(t, j.Close())
		assert.Equal(t, 5*time.Second, time.Since(*cancelled), "Run returns after the grace period, not before")
		require.ErrorIs(t, err, context.Canceled)

		want := map[upgrade.StepID]struct {
			state     upgrade.State
			abandoned bool
			method    string
		}{
			"x": {upgrade.Failed, true, "Execute"}, "v": {upgrade.Failed, true, "Verify"}, "p": {upgrade.Failed, false, ""},
			"after-x": {upgrade.Skipped, false, ""}, "n1": {upgrade.NotStarted, false, ""}, "n2": {upgrade.NotStarted, false, ""},
		}
		check := func() {
			for id, w := range want {
				o, ok := report.Outcome(id)
				require.True(t, ok, id)
				assert.Equal(t, w.state, o.State, id)
				assert.Equal(t, w.abandoned, o.Abandoned, id)
				if w.abandoned {
					ae, ok := errors.AsType[*upgrade.AbandonedError](o.Err)
					require.True(t, ok, "%s: %v", id, o.Err)
					assert.Equal(t, w.method, ae.Method, id)
					assert.Equal(t, id, ae.Step)
					assert.ErrorIs(t, ae.Cause, context.Canceled, id)
					assert.True(t, upgrade.IsPermanent(o.Err), id)
				}
			}
			o, _ := report.Outcome("p")
			assert.ErrorIs(t, o.Err, context.Canceled)
		}
		check()
		close(exec.release) // the abandoned calls return, late
		synctest.Wait()
		check()
	})
	last := hfLast(t, path, "sha256:rw")
	assert.Equal(t, upgrade.RecordStarted, last["x"], "abandoned: kept as started, so in doubt on resume")
	assert.Equal(t, upgrade.RecordStarted, last["v"], "abandoned: kept as started, so in doubt on resume")
	assert.NotContains(t, last, "n1")
}

// A call that begins once the run's context is done (Verify, after an
// Execute that returned late) gets a grace period of its own.
func TestRunGraceForCallAfterCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "late"}}}
		exec := &rwStubborn{release: make(chan struct{}), lateBy: 2 * time.Second}
		ctx, cancelled := exec.cancelOnceEntered(t, 1)
		report, err := upgrade.Run(ctx, plan, exec, upgrade.WithGracePeriod(5*time.Second))
		assert.Equal(t, 7*time.Second, time.Since(*cancelled), "Execute's 2s late, then Verify's own grace period")
		require.ErrorIs(t, err, context.Canceled)
		o, _ := report.Outcome("late")
		assert.True(t, o.Abandoned)
		ae, ok := errors.AsType[*upgrade.AbandonedError](o.Err)
		require.True(t, ok, o.Err)
		assert.Equal(t, "Verify", ae.Method)
		close(exec.release)
	})
}
