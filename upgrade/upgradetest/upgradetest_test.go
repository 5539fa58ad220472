package upgradetest_test

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
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// chain is a plan of steps a → b → c.
func chain() *upgrade.Plan {
	return &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a"},
		{ID: "b", After: []upgrade.StepID{"a"}},
		{ID: "c", After: []upgrade.StepID{"b"}},
	}}
}

func TestZeroValueSucceedsAndRecords(t *testing.T) {
	var exec upgradetest.Executor
	report, err := upgrade.Run(context.Background(), chain(), &exec)
	require.NoError(t, err)
	assert.Equal(t, 3, report.Count(upgrade.Succeeded))

	want := []upgrade.StepID{"a", "b", "c"}
	assert.Equal(t, want, exec.Started())
	assert.Equal(t, want, exec.Finished())
	assert.Equal(t, want, exec.Verified(), "the runner verifies through the Executor")
	assert.Empty(t, exec.RolledBack())
	assert.Empty(t, exec.InDoubt())
	assert.Equal(t, 1, exec.Peak())
	for _, id := range want {
		assert.Equal(t, 1, exec.Calls(id), id)
	}
	assert.Zero(t, exec.Calls("ghost"))
}

func TestFailAtFailsEveryAttempt(t *testing.T) {
	boom := errors.New("boom")
	var exec upgradetest.Executor
	exec.FailAt("a", boom)
	for range 3 {
		assert.ErrorIs(t, exec.Execute(context.Background(), upgrade.Step{ID: "a"}), boom)
	}
	assert.NoError(t, exec.Execute(context.Background(), upgrade.Step{ID: "b"}), "other steps are not affected")
	assert.Equal(t, 3, exec.Calls("a"))
	assert.Equal(t, []upgrade.StepID{"a", "a", "a", "b"}, exec.Finished(), "failed attempts finish too")
}

func TestFailTimesThenSucceeds(t *testing.T) {
	flaky := errors.New("flaky")
	var exec upgradetest.Executor
	exec.FailTimes("a", 2, flaky)
	ctx := context.Background()
	assert.ErrorIs(t, exec.Execute(ctx, upgrade.Step{ID: "a"}), flaky)
	assert.ErrorIs(t, exec.Execute(ctx, upgrade.Step{ID: "a"}), flaky)
	assert.NoError(t, exec.Execute(ctx, upgrade.Step{ID: "a"}))
	assert.NoError(t, exec.Execute(ctx, upgrade.Step{ID: "a"}))

	report, err := upgrade.Run(ctx, &upgrade.Plan{Steps: []upgrade.Step{{ID: "x"}}}, func() *upgradetest.Executor {
		e := new(upgradetest.Executor)
		e.FailTimes("x", 1, flaky)
		return e
	}(), upgrade.WithRetry(2, time.Millisecond, 0))
	require.NoError(t, err)
	o, _ := report.Outcome("x")
	assert.Equal(t, 2, o.Attempts)
}

func TestFailTimesZeroClearsFailures(t *testing.T) {
	var exec upgradetest.Executor
	exec.FailAt("a", errors.New("boom"))
	exec.FailTimes("a", 0, errors.New("ignored"))
	assert.NoError(t, exec.Execute(context.Background(), upgrade.Step{ID: "a"}), "no attempt fails")
}

func TestHealClearsEveryFault(t *testing.T) {
	var exec upgradetest.Executor
	exec.FailAt("a", errors.New("boom"))
	exec.Hang("a")
	exec.FailVerify("a", errors.New("unhealthy"))
	exec.FailRollback("a", errors.New("stuck"))
	exec.FailAt("b", errors.New("other"))
	exec.Heal("a")
	ctx := context.Background()
	assert.NoError(t, exec.Execute(ctx, upgrade.Step{ID: "a"}), "neither fails nor hangs")
	assert.NoError(t, exec.Verify(ctx, upgrade.Step{ID: "a"}))
	assert.NoError(t, exec.Rollback(ctx, upgrade.Step{ID: "a"}))
	assert.Equal(t, 1, exec.Calls("a"), "what was recorded stays")
	assert.Error(t, exec.Execute(ctx, upgrade.Step{ID: "b"}), "another step's fault stays")
}

func TestHangBlocksUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var exec upgradetest.Executor
		exec.Hang("a")
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := exec.Execute(ctx, upgrade.Step{ID: "a"})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 20*time.Millisecond, time.Since(start), "returns when the context is done, not before or after")
		assert.Equal(t, []upgrade.StepID{"a"}, exec.Finished())
	})
}

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var exec upgradetest.Executor
		exec.Delay(15 * time.Millisecond)
		start := time.Now()
		require.NoError(t, exec.Execute(t.Context(), upgrade.Step{ID: "a"}))
		assert.Equal(t, 15*time.Millisecond, time.Since(start))

		exec.Delay(5 * time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		start = time.Now()
		assert.ErrorIs(t, exec.Execute(ctx, upgrade.Step{ID: "b"}), context.Canceled)
		assert.Zero(t, time.Since(start), "the delay respects the context")
	})
}

func TestFailVerify(t *testing.T) {
	bad := errors.New("unhealthy")
	var exec upgradetest.Executor
	exec.FailVerify("b", bad)
	report, err := upgrade.Run(context.Background(), chain(), &exec)
	require.ErrorIs(t, err, bad)
	assert.Equal(t, []upgrade.StepID{"a", "b"}, exec.Verified())
	o, _ := report.Outcome("b")
	assert.Equal(t, upgrade.Failed, o.State)
	assert.NoError(t, exec.Verify(context.Background(), upgrade.Step{ID: "a"}))
}

func TestRollbackRecordsOnlySuccesses(t *testing.T) {
	stuck := errors.New("stuck")
	var exec upgradetest.Executor
	exec.FailRollback("b", stuck)
	ctx := context.Background()
	assert.NoError(t, exec.Rollback(ctx, upgrade.Step{ID: "a"}))
	assert.ErrorIs(t, exec.Rollback(ctx, upgrade.Step{ID: "b"}), stuck)
	assert.NoError(t, exec.Rollback(ctx, upgrade.Step{ID: "c"}))
	assert.Equal(t, []upgrade.StepID{"a", "c"}, exec.RolledBack())
}

func TestFuncRunsFirstAndItsErrorFails(t *testing.T) {
	hookErr := errors.New("hook")
	var exec upgradetest.Executor
	exec.FailAt("a", errors.New("configured"))
	exec.Func = func(_ context.Context, s upgrade.Step) error {
		assert.Contains(t, exec.Started(), s.ID, "Func runs after the attempt is recorded")
		assert.NotContains(t, exec.Finished(), s.ID)
		if s.ID == "a" {
			return hookErr
		}
		return nil
	}
	assert.ErrorIs(t, exec.Execute(context.Background(), upgrade.Step{ID: "a"}), hookErr)
	assert.NoError(t, exec.Execute(context.Background(), upgrade.Step{ID: "b"}))
}

func TestPeakCountsOverlappingCalls(t *testing.T) {
	const n = 4
	var exec upgradetest.Executor
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	exec.Func = func(context.Context, upgrade.Step) error {
		arrived.Done()
		<-release
		return nil
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _ = exec.Execute(context.Background(), upgrade.Step{ID: upgrade.StepID(rune('a' + i))}) })
	}
	arrived.Wait()
	assert.Equal(t, n, exec.Peak())
	assert.Len(t, exec.Started(), n)
	assert.Empty(t, exec.Finished())
	close(release)
	wg.Wait()
	assert.Len(t, exec.Finished(), n)
	// Sequential calls afterwards do not raise the peak.
	exec.Func = nil
	require.NoError(t, exec.Execute(context.Background(), upgrade.Step{ID: "z"}))
	assert.Equal(t, n, exec.Peak())
}

// memJournal is a Journal holding records in memory.
type memJournal struct{ records []upgrade.Record }

func (j *memJournal) Begin(context.Context, string) ([]upgrade.Record, error) { return j.records, nil }
func (j *memJournal) Append(_ context.Context, r upgrade.Record) error {
	j.records = append(j.records, r)
	return nil
}

func TestInDoubtRecorded(t *testing.T) {
	j := &memJournal{records: []upgrade.Record{
		{Kind: upgrade.RecordStarted, Step: "a"},
		{Kind: upgrade.RecordSucceeded, Step: "a"},
		{Kind: upgrade.RecordStarted, Step: "b"}, // crashed here
	}}
	var exec upgradetest.Executor
	_, err := upgrade.Run(context.Background(), chain(), &exec, upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"b", "c"}, exec.Started())
	assert.Equal(t, []upgrade.StepID{"b"}, exec.InDoubt())
}
