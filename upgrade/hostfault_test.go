package upgrade_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// hfChain is a plan of three steps, each after the one before.
func hfChain() *upgrade.Plan {
	return &upgrade.Plan{ID: "sha256:hf", Steps: []upgrade.Step{
		{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}, {ID: "c", After: []upgrade.StepID{"b"}},
	}}
}

// hfLast returns the kind of the last record of each step in the journal
// at path.
func hfLast(t *testing.T, path, plan string) map[upgrade.StepID]upgrade.RecordKind {
	t.Helper()
	j := jrOpen(t, path)
	recs, err := j.Begin(context.Background(), plan)
	require.NoError(t, err)
	require.NoError(t, j.Close())
	last := map[upgrade.StepID]upgrade.RecordKind{}
	for _, r := range recs {
		last[r.Step] = r.Kind
	}
	return last
}

// hfPanicky panics in the method named by where, for step b.
type hfPanicky struct {
	upgradetest.Executor
	where string
}

func (e *hfPanicky) Execute(ctx context.Context, s upgrade.Step) error {
	if e.where == "Execute" && s.ID == "b" {
		panic("executor bug")
	}
	return e.Executor.Execute(ctx, s)
}

func (e *hfPanicky) Verify(ctx context.Context, s upgrade.Step) error {
	if e.where == "Verify" && s.ID == "b" {
		panic(errors.New("verifier bug"))
	}
	return nil
}

func (e *hfPanicky) Rollback(ctx context.Context, s upgrade.Step) error {
	if e.where == "Rollback" && s.ID == "b" {
		panic("rollbacker bug")
	}
	return e.Executor.Rollback(ctx, s)
}

func TestRunRecoversPanicsInHostCode(t *testing.T) {
	for _, where := range []string{"Execute", "Verify"} {
		t.Run(where, func(t *testing.T) {
			path := jrPath(t)
			plan := hfChain()
			exec := &hfPanicky{where: where}
			j := jrOpen(t, path)
			report, err := upgrade.Run(context.Background(), plan, exec,
				upgrade.WithJournal(j), upgrade.WithRetry(3, time.Millisecond, 0))
			require.NoError(t, j.Close())
			require.ErrorIs(t, err, upgrade.ErrStepFailed)
			var pe *upgrade.PanicError
			require.ErrorAs(t, err, &pe, "the panic comes back as an error; the process lives on")
			assert.Equal(t, where, pe.Method)
			assert.Equal(t, upgrade.StepID("b"), pe.Step)
			assert.Contains(t, string(pe.Stack), "hfPanicky", "the stack says where it panicked")
			assert.Contains(t, err.Error(), "panicked")
			o, _ := report.Outcome("b")
			assert.Equal(t, upgrade.Failed, o.State)
			assert.Equal(t, 1, o.Attempts, "a panic is a bug, not retried")
			o, _ = report.Outcome("c")
			assert.Equal(t, upgrade.Skipped, o.State)
			assert.Equal(t, map[upgrade.StepID]upgrade.RecordKind{"a": upgrade.RecordSucceeded, "b": upgrade.RecordFailed},
				hfLast(t, path, plan.ID), "the journal is consistent")
		})
	}
	t.Run("Rollback", func(t *testing.T) {
		path := jrPath(t)
		plan := hfChain()
		exec := &hfPanicky{where: "Rollback"}
		exec.FailAt("c", errors.New("boom"))
		j := jrOpen(t, path)
		report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(j), upgrade.WithRollback())
		require.NoError(t, j.Close())
		require.NotNil(t, report, "a panicking Rollbacker does not unwind out of Run")
		require.ErrorIs(t, err, upgrade.ErrRollback)
		var pe *upgrade.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "Rollback", pe.Method)
		o, _ := report.Outcome("b")
		assert.Equal(t, upgrade.Succeeded, o.State, "b was not undone")
		assert.ErrorAs(t, o.Err, &pe)
		assert.Equal(t, []upgrade.StepID{"c"}, exec.RolledBack(), "a, under b, is kept")
		assert.Equal(t, upgrade.RecordRollingBack, hfLast(t, path, plan.ID)["b"],
			"the journal says b's rollback began and did not end")
	})
}

func TestRunResumesRollbackCutShortInDoubt(t *testing.T) {
	plan := shopPlan(t, 1)
	s := ids(plan)
	path := jrPath(t)
	jrSeed(t, path, plan.ID,
		jrRec(upgrade.RecordStarted, s[0]), jrRec(upgrade.RecordSucceeded, s[0]),
		jrRec(upgrade.RecordStarted, s[1]), jrRec(upgrade.RecordSucceeded, s[1]),
		jrRec(upgrade.RecordStarted, s[2]), jrRec(upgrade.RecordFailed, s[2]),
		jrRec(upgrade.RecordRollingBack, s[2]), jrRec(upgrade.RecordRolledBack, s[2]),
		jrRec(upgrade.RecordRollingBack, s[1]), // then a crash
	)
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(jrOpen(t, path)))
	require.NoError(t, err)
	assert.Equal(t, s[1:], ex.ran, "the half-undone step is offered again, and the rest run")
	assert.Equal(t, map[upgrade.StepID]bool{s[1]: true}, ex.inDoubt, "the half-undone step is in doubt")
	o, _ := report.Outcome(s[0])
	assert.True(t, o.Resumed, "a step whose rollback never began stays done")
	o, _ = report.Outcome(s[1])
	assert.False(t, o.Resumed, "a step whose rollback began is not taken as done")
}

// hfStubborn ignores its context in Execute for step b until released.
type hfStubborn struct {
	upgradetest.Executor
	release chan struct{}
}

func (e *hfStubborn) Execute(ctx context.Context, s upgrade.Step) error {
	if s.ID == "b" {
		<-e.release
		return nil
	}
	return e.Executor.Execute(ctx, s)
}

func TestRunAbandonsHostCodeThatIgnoresItsContext(t *testing.T) {
	t.Run("step timeout", func(t *testing.T) {
		path := jrPath(t)
		synctest.Test(t, func(t *testing.T) {
			plan := hfChain()
			exec := &hfStubborn{release: make(chan struct{})}
			begin := time.Now()
			j, err := upgrade.OpenFileJournal(path)
			require.NoError(t, err)
			report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(j),
				upgrade.WithStepTimeout(time.Minute), upgrade.WithGracePeriod(10*time.Second))
			require.NoError(t, j.Close())
			assert.Equal(t, time.Minute+10*time.Second, time.Since(begin), "Run returns after the timeout and the grace period")
			require.ErrorIs(t, err, upgrade.ErrAbandoned)
			require.ErrorIs(t, err, context.DeadlineExceeded, "the error says why the context was done")
			o, _ := report.Outcome("b")
			assert.Equal(t, upgrade.Failed, o.State)
			assert.True(t, o.Abandoned, "the report counts it")
			o, _ = report.Outcome("c")
			assert.Equal(t, upgrade.Skipped, o.State)
			close(exec.release) // the abandoned goroutine ends with the host's code
		})
		assert.Equal(t, upgrade.RecordStarted, hfLast(t, path, "sha256:hf")["b"], "kept as started, so in doubt on resume")
	})
	t.Run("cancellation", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			exec := &hfStubborn{release: make(chan struct{})}
			ctx, cancel := context.WithCancel(t.Context())
			exec.Func = func(_ context.Context, s upgrade.Step) error {
				if s.ID == "a" {
					go func() {
						time.Sleep(time.Second)
						cancel()
					}()
				}
				return nil
			}
			begin := time.Now()
			report, err := upgrade.Run(ctx, hfChain(), exec, upgrade.WithGracePeriod(5*time.Second))
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, 6*time.Second, time.Since(begin))
			o, _ := report.Outcome("b")
			assert.True(t, o.Abandoned)
			assert.ErrorIs(t, o.Err, upgrade.ErrAbandoned)
			close(exec.release)
		})
	})
	t.Run("no grace period waits for ever", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			exec := &hfStubborn{release: make(chan struct{})}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, err := upgrade.Run(t.Context(), hfChain(), exec, upgrade.WithStepTimeout(time.Second), upgrade.WithGracePeriod(0))
				assert.NoError(t, err, "the step returned, late, with success")
			}()
			time.Sleep(time.Hour)
			synctest.Wait()
			select {
			case <-done:
				t.Fatal("Run returned while the host's code was still running")
			default:
			}
			close(exec.release)
			<-done
		})
	})
}
