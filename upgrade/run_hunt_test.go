package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// An Execute that ignores the run's cancellation past the grace period is
// abandoned; when it later ends its goroutine with runtime.Goexit (as
// t.FailNow does), nothing of the run is touched again and the process
// lives on.
func TestHuntAbandonedCallLaterGoexits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "x"}}}
		entered, release := make(chan struct{}), make(chan struct{})
		exec := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
			close(entered)
			<-release
			runtime.Goexit()
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-entered; cancel() }()
		report, err := upgrade.Run(ctx, plan, exec, upgrade.WithGracePeriod(time.Second))
		require.ErrorIs(t, err, context.Canceled)
		o, _ := report.Outcome("x")
		assert.True(t, o.Abandoned)
		close(release)
		synctest.Wait()
	})
}

// A journal record of a kind Run does not know is not a record it can
// resume from: refused, nothing run, rather than taken for "never ran".
func TestHuntJournalUnknownKind(t *testing.T) {
	plan := &upgrade.Plan{ID: "sha256:hunt", Steps: []upgrade.Step{{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}}}
	path := jrPath(t)
	jrSeed(t, path, plan.ID,
		jrRec(upgrade.RecordStarted, "a"),
		jrRec("verifying", "a"), // written by some other version
		jrRec(upgrade.RecordStarted, "b"),
	)
	j := jrOpen(t, path)
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorIs(t, err, upgrade.ErrCorruptJournal)
	assert.Nil(t, report)
	assert.Empty(t, ex.ran)
}

// A nil *FileJournal, left by an OpenFileJournal that failed, is refused
// with an error before anything runs, rather than crashing the caller.
func TestHuntNilFileJournal(t *testing.T) {
	var j *upgrade.FileJournal
	plan := &upgrade.Plan{ID: "sha256:hunt", Steps: []upgrade.Step{{ID: "a"}}}
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorContains(t, err, "nil *FileJournal")
	assert.Nil(t, report)
	assert.Empty(t, ex.ran)
}

// Stop closed while the last steps run, one of which fails, with rollback
// asked for: the rollback does not happen (a stopped run is not rolled
// back), and the error says the run was stopped, so that the caller knows
// why, and that it may resume.
func TestHuntStopKeepsRollbackAndSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "ok", Node: "n1"}, {ID: "bad", Node: "n2"}}}
		gated := newGated(plan)
		gated.fail["bad"] = errors.New("boom")
		var undone []upgrade.StepID
		exec := stRollbacker{stGated: gated, undo: func(id upgrade.StepID) { undone = append(undone, id) }}
		stop := make(chan struct{})
		done := stRun(t.Context(), plan, exec, upgrade.WithStop(stop), upgrade.WithConcurrency(2), upgrade.WithRollback())
		synctest.Wait()
		require.ElementsMatch(t, []upgrade.StepID{"ok", "bad"}, gated.Started())
		close(stop)
		gated.release("ok")
		gated.release("bad")
		res := <-done
		require.ErrorIs(t, res.err, upgrade.ErrStepFailed)
		assert.Empty(t, undone, "a stopped run is not rolled back")
		require.ErrorIs(t, res.err, upgrade.ErrStopped, "the stop kept the rollback asked for from happening")
		assert.ErrorContains(t, res.err, "0 of 2 steps not started, and nothing rolled back")
		assert.Equal(t, map[upgrade.StepID]upgrade.State{"ok": upgrade.Succeeded, "bad": upgrade.Failed}, states(res.report))

		// Without a failure there is nothing to roll back: the stop left
		// nothing out.
		plan = &upgrade.Plan{Steps: []upgrade.Step{{ID: "ok", Node: "n1"}}}
		gated = newGated(plan)
		stop = make(chan struct{})
		done = stRun(t.Context(), plan, stRollbacker{stGated: gated, undo: func(upgrade.StepID) {}}, upgrade.WithStop(stop), upgrade.WithRollback())
		synctest.Wait()
		close(stop)
		gated.release("ok")
		require.NoError(t, (<-done).err)
	})
}

// Under FailFast no retry is announced, let alone made, once another
// step's failure is: a step retrying at once (no backoff) while another
// failed used to announce, and at times make, attempts after that
// failure (in about one run in a hundred).
func TestHuntFailFastRetryAfterFailure(t *testing.T) {
	plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "a"}, {ID: "b"}}}
	bad := 0
	for range 2000 {
		var mu sync.Mutex
		failed, late := false, 0
		bGo := make(chan struct{})
		var once sync.Once
		exec := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
			if s.ID == "b" {
				<-bGo
				return upgrade.Permanent(errors.New("b broke"))
			}
			once.Do(func() { close(bGo) })
			return errors.New("flaky")
		})
		events := func(e upgrade.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case e.Kind == upgrade.StepFailed && e.Step.ID == "b":
				failed = true
			case e.Kind == upgrade.StepRetrying && failed:
				late++
			}
		}
		_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(len(plan.Steps)),
			upgrade.WithRetry(50, 0, 0), upgrade.WithEvents(events))
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		if late > 0 {
			bad++
		}
	}
	assert.Zero(t, bad, "runs announcing retries of a after b failed")
}

// The run's logger says what the rollback did, as it says what the steps
// did: each step undone, and each not, with why.
func TestHuntLoggerRollback(t *testing.T) {
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a", Node: "node-a"}, {ID: "b", Node: "node-b", After: []upgrade.StepID{"a"}},
		{ID: "c", Node: "node-c", After: []upgrade.StepID{"b"}},
	}}
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	exec := new(upgradetest.Executor)
	exec.FailAt("c", errors.New("disk full"))
	exec.FailRollback("b", errors.New("snapshot gone"))
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRunLogger(logger), upgrade.WithRollback())
	require.ErrorIs(t, err, upgrade.ErrRollback)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 6, buf.String())
	assert.Contains(t, lines[3], `level=INFO msg="upgrade: step rolled back" step=c node=node-c`)
	assert.Contains(t, lines[4], `level=INFO msg="upgrade: step not rolled back" step=b node=node-b err="snapshot gone"`)
	assert.Contains(t, lines[5], `level=INFO msg="upgrade: step not rolled back" step=a node=node-a err="step b after it is still in place"`)
}
