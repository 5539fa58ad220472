package upgrade_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// Tests of WithStop. Helpers are prefixed "st". Every test runs in a
// synctest bubble and orders events with channels and synctest.Wait, never
// with sleeps.

// stPlan is a small DAG with independent branches:
//
//	a → c → e ← d ← b
//	f
//	g → h
func stPlan() *upgrade.Plan {
	after := func(ids ...upgrade.StepID) []upgrade.StepID { return ids }
	return &upgrade.Plan{ID: "stop-plan", Steps: []upgrade.Step{
		{ID: "a", Node: "node-a"}, {ID: "b", Node: "node-b"},
		{ID: "c", Node: "node-c", After: after("a")}, {ID: "d", Node: "node-d", After: after("b")},
		{ID: "e", Node: "node-e", After: after("c", "d")},
		{ID: "f", Node: "node-f"},
		{ID: "g", Node: "node-g"}, {ID: "h", Node: "node-h", After: after("g")},
	}}
}

// stGated is an executor whose steps block until the test releases them.
type stGated struct {
	mu      sync.Mutex
	gates   map[upgrade.StepID]chan struct{}
	fail    map[upgrade.StepID]error
	started []upgrade.StepID
	// ctxErr holds, per step, its context's error when it returned.
	ctxErr map[upgrade.StepID]error
}

func newGated(p *upgrade.Plan) *stGated {
	g := &stGated{gates: map[upgrade.StepID]chan struct{}{}, fail: map[upgrade.StepID]error{}, ctxErr: map[upgrade.StepID]error{}}
	for _, s := range p.Steps {
		g.gates[s.ID] = make(chan struct{})
	}
	return g
}

func (g *stGated) Execute(ctx context.Context, s upgrade.Step) error {
	g.mu.Lock()
	g.started = append(g.started, s.ID)
	gate := g.gates[s.ID]
	g.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
	}
	g.mu.Lock()
	g.ctxErr[s.ID] = ctx.Err()
	err := g.fail[s.ID]
	g.mu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (g *stGated) release(id upgrade.StepID) { close(g.gates[id]) }

func (g *stGated) Started() []upgrade.StepID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.started)
}

type stResult struct {
	report *upgrade.Report
	err    error
}

// stRun starts Run in a goroutine of the bubble.
func stRun(ctx context.Context, p *upgrade.Plan, exec upgrade.Executor, opts ...upgrade.RunOption) <-chan stResult {
	done := make(chan stResult, 1)
	go func() {
		r, err := upgrade.Run(ctx, p, exec, opts...)
		done <- stResult{r, err}
	}()
	return done
}

func TestRunStopLetsRunningStepsFinish(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		policy      upgrade.FailurePolicy
		// failOne makes the first running step fail after stop closed.
		failOne bool
	}{
		{name: "one at a time", concurrency: 1},
		{name: "two at once", concurrency: 2},
		{name: "four at once", concurrency: 4},
		{name: "continue independent", concurrency: 3, policy: upgrade.ContinueIndependent},
		{name: "continue independent, a running step fails", concurrency: 3, policy: upgrade.ContinueIndependent, failOne: true},
		{name: "fail fast, a running step fails", concurrency: 2, failOne: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := stPlan()
				exec := newGated(plan)
				path := jrPath(t)
				journal := jrOpen(t, path)
				stop := make(chan struct{})
				var events rnEvents
				done := stRun(t.Context(), plan, exec, upgrade.WithConcurrency(tt.concurrency),
					upgrade.WithFailurePolicy(tt.policy), upgrade.WithJournal(journal), upgrade.WithStop(stop),
					upgrade.WithRetry(3, time.Second, 0), upgrade.WithEvents(events.record))
				synctest.Wait()
				running := exec.Started()
				require.Len(t, running, tt.concurrency, "the run fills its slots before stop")

				close(stop)
				synctest.Wait()
				assert.Equal(t, running, exec.Started(), "nothing starts once stop is closed")
				boom := errors.New("disk full")
				if tt.failOne {
					exec.mu.Lock()
					exec.fail[running[0]] = upgrade.Permanent(boom)
					exec.mu.Unlock()
				}
				for _, id := range running {
					exec.release(id)
					synctest.Wait()
					assert.Equal(t, running, exec.Started(), "nothing starts after %s finished", id)
				}
				res := <-done

				require.ErrorIs(t, res.err, upgrade.ErrStopped)
				assert.Contains(t, res.err.Error(), "upgrade: stopped:")
				rnCheckReport(t, plan, res.report, tt.name)
				skipped := map[upgrade.StepID]bool{}
				if tt.failOne {
					require.ErrorIs(t, res.err, upgrade.ErrStepFailed)
					require.ErrorIs(t, res.err, boom)
					skipped = rnDependents(plan, running[0])
				}
				for _, o := range res.report.Outcomes {
					switch {
					case tt.failOne && o.Step == running[0]:
						assert.Equal(t, upgrade.Failed, o.State, o.Step)
					case slices.Contains(running, o.Step):
						assert.Equal(t, upgrade.Succeeded, o.State, "a running step finishes: %s", o.Step)
						assert.Equal(t, 1, o.Attempts, o.Step)
					case skipped[o.Step]:
						assert.Equal(t, upgrade.Skipped, o.State, "after the failed step: %s", o.Step)
					default:
						assert.Equal(t, upgrade.NotStarted, o.State, "%s, dependents included, is not started", o.Step)
						assert.Zero(t, o.Attempts, o.Step)
					}
				}
				for _, id := range running {
					assert.NoError(t, exec.ctxErr[id], "the running step %s is not cancelled", id)
				}
				assert.ElementsMatch(t, running, events.steps(upgrade.StepStarted), "a start event per running step, no more")
				assert.False(t, events.overlap.Load(), "events overlapped")

				// The journal makes the stopped run resumable: a second run
				// executes exactly the rest.
				require.NoError(t, journal.Close())
				again := newGated(plan)
				for id := range again.gates {
					again.release(id)
				}
				report, err := upgrade.Run(t.Context(), plan, again, upgrade.WithJournal(jrOpen(t, path)),
					upgrade.WithConcurrency(tt.concurrency))
				require.NoError(t, err)
				var rest []upgrade.StepID
				for _, s := range plan.Steps {
					if !slices.Contains(running, s.ID) || (tt.failOne && s.ID == running[0]) {
						rest = append(rest, s.ID)
					}
				}
				assert.ElementsMatch(t, rest, again.Started(), "the resumed run runs exactly the rest")
				assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
				for _, o := range report.Outcomes {
					assert.Equal(t, !slices.Contains(rest, o.Step), o.Resumed, "%s resumed", o.Step)
				}
			})
		})
	}
}

func TestRunStopBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := stPlan()
		exec := newGated(plan)
		stop := make(chan struct{})
		close(stop)
		report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithStop(stop), upgrade.WithConcurrency(2))
		require.ErrorIs(t, err, upgrade.ErrStopped)
		assert.Contains(t, err.Error(), "8 of 8 steps not started")
		assert.Empty(t, exec.Started(), "nothing ran")
		assert.Equal(t, len(plan.Steps), report.Count(upgrade.NotStarted))
	})
}

// TestRunStopAfterLastStep closes stop while the last step runs: nothing
// was left out, so the run succeeded.
func TestRunStopAfterLastStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}}}
		exec := newGated(plan)
		exec.release("a")
		stop := make(chan struct{})
		done := stRun(t.Context(), plan, exec, upgrade.WithStop(stop))
		synctest.Wait()
		require.Equal(t, []upgrade.StepID{"a", "b"}, exec.Started())
		close(stop)
		exec.release("b")
		res := <-done
		require.NoError(t, res.err)
		assert.Equal(t, 2, res.report.Count(upgrade.Succeeded))
	})
}

// TestRunStopStartsNoRetry closes stop while a failed step waits to be
// retried, and while a step that will fail is running: neither is tried
// again, each is Failed with its last error and the steps after them
// Skipped.
func TestRunStopStartsNoRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{ID: "retry-plan", Steps: []upgrade.Step{
			{ID: "backoff", Node: "n1"}, {ID: "running", Node: "n2"},
			{ID: "after", Node: "n3", After: []upgrade.StepID{"backoff"}}, {ID: "other", Node: "n4"},
		}}
		flaky := errors.New("mirror timed out")
		exec := newGated(plan)
		exec.fail["backoff"], exec.fail["running"] = flaky, flaky
		exec.release("backoff")
		stop := make(chan struct{})
		path := jrPath(t)
		journal := jrOpen(t, path)
		var events rnEvents
		done := stRun(t.Context(), plan, exec, upgrade.WithStop(stop), upgrade.WithConcurrency(2),
			upgrade.WithRetry(5, time.Minute, 0), upgrade.WithJournal(journal), upgrade.WithEvents(events.record))
		synctest.Wait()
		require.Equal(t, []upgrade.StepID{"backoff"}, events.steps(upgrade.StepRetrying), "backoff waits for its retry")
		require.ElementsMatch(t, []upgrade.StepID{"backoff", "running"}, exec.Started())

		close(stop)
		synctest.Wait()
		exec.release("running")
		res := <-done

		require.ErrorIs(t, res.err, upgrade.ErrStopped)
		require.ErrorIs(t, res.err, flaky)
		assert.ElementsMatch(t, []upgrade.StepID{"backoff", "running"}, exec.Started(), "no retry, no new step")
		for id, want := range map[upgrade.StepID]upgrade.State{"backoff": upgrade.Failed, "running": upgrade.Failed,
			"after": upgrade.Skipped, "other": upgrade.NotStarted} {
			o, ok := res.report.Outcome(id)
			require.True(t, ok, id)
			assert.Equal(t, want, o.State, id)
			if want == upgrade.Failed {
				assert.Equal(t, 1, o.Attempts, "%s: Attempts counts Execute calls", id)
				assert.ErrorIs(t, o.Err, flaky, "%s keeps its last attempt's error", id)
			}
		}
		assert.Equal(t, []upgrade.StepID{"backoff"}, events.steps(upgrade.StepRetrying), "no retry announced after stop")

		// Resume runs every step again but none that succeeded.
		require.NoError(t, journal.Close())
		again := newGated(plan)
		for id := range again.gates {
			again.release(id)
		}
		_, err := upgrade.Run(t.Context(), plan, again, upgrade.WithJournal(jrOpen(t, path)))
		require.NoError(t, err)
		assert.ElementsMatch(t, []upgrade.StepID{"backoff", "running", "after", "other"}, again.Started())
	})
}

// TestRunStopNoRollback: a stopped run is not rolled back, even when a
// running step failed and the caller asked for rollback.
func TestRunStopNoRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "ok", Node: "n1"}, {ID: "bad", Node: "n2"}, {ID: "later", Node: "n3"}}}
		gated := newGated(plan)
		gated.fail["bad"] = errors.New("boom")
		var mu sync.Mutex
		var undone []upgrade.StepID
		exec := stRollbacker{stGated: gated, undo: func(id upgrade.StepID) {
			mu.Lock()
			undone = append(undone, id)
			mu.Unlock()
		}}
		stop := make(chan struct{})
		done := stRun(t.Context(), plan, exec, upgrade.WithStop(stop), upgrade.WithConcurrency(2), upgrade.WithRollback())
		synctest.Wait()
		require.ElementsMatch(t, []upgrade.StepID{"ok", "bad"}, gated.Started())
		close(stop)
		gated.release("ok")
		gated.release("bad")
		res := <-done
		require.ErrorIs(t, res.err, upgrade.ErrStepFailed)
		assert.Empty(t, undone, "no rollback after stop")
		assert.Equal(t, 1, res.report.Count(upgrade.Succeeded))
	})
}

type stRollbacker struct {
	*stGated
	undo func(upgrade.StepID)
}

func (r stRollbacker) Rollback(_ context.Context, s upgrade.Step) error { r.undo(s.ID); return nil }

// TestRunStopThenCancel: once stop is closed, cancelling ctx cuts the
// running steps short (a grace period ran out), and Run returns ctx's
// error.
func TestRunStopThenCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := stPlan()
		exec := newGated(plan)
		stop := make(chan struct{})
		ctx, cancel := context.WithCancel(t.Context())
		done := stRun(ctx, plan, exec, upgrade.WithStop(stop), upgrade.WithConcurrency(2))
		synctest.Wait()
		close(stop)
		cancel()
		res := <-done
		require.ErrorIs(t, res.err, context.Canceled)
		assert.Len(t, exec.Started(), 2)
		assert.Equal(t, 2, res.report.Count(upgrade.Failed), "the cut steps failed")
		assert.Equal(t, 3, res.report.Count(upgrade.Skipped), "c, d and e come after them")
		assert.Equal(t, 3, res.report.Count(upgrade.NotStarted))
	})
}
