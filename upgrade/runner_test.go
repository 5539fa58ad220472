package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// Tests of Run through upgradetest.Executor. Helpers are prefixed "rn".

var rnAllStates = []upgrade.State{upgrade.NotStarted, upgrade.Succeeded, upgrade.Failed, upgrade.Skipped, upgrade.RolledBack}

// rnID names step i of a generated plan.
func rnID(i int) upgrade.StepID { return upgrade.StepID(fmt.Sprintf("s%02d", i)) }

// rnRandomPlan returns a plan of 1 to 60 steps, each after up to three
// random earlier ones; for odd seeds the steps are listed in a shuffled
// order, which Run must not mind.
func rnRandomPlan(seed uint64) *upgrade.Plan {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	n := 1 + rng.IntN(60)
	p := &upgrade.Plan{ID: fmt.Sprintf("random-%d", seed)}
	for i := range n {
		s := upgrade.Step{ID: rnID(i), Node: topology.NodeID(fmt.Sprintf("node-%02d", i))}
		if i > 0 {
			for range rng.IntN(min(i, 3) + 1) {
				a := rnID(rng.IntN(i))
				if !slices.Contains(s.After, a) {
					s.After = append(s.After, a)
				}
			}
			slices.Sort(s.After)
		}
		p.Steps = append(p.Steps, s)
	}
	if seed%2 == 1 {
		rng.Shuffle(n, func(i, j int) { p.Steps[i], p.Steps[j] = p.Steps[j], p.Steps[i] })
	}
	return p
}

// rnIndependent returns a plan of n steps with no edges.
func rnIndependent(prefix string, n int) *upgrade.Plan {
	p := &upgrade.Plan{}
	for i := range n {
		p.Steps = append(p.Steps, upgrade.Step{ID: upgrade.StepID(fmt.Sprintf("%s%02d", prefix, i)),
			Node: topology.NodeID(fmt.Sprintf("node-%s%02d", prefix, i))})
	}
	return p
}

// rnDependents returns the steps after id, directly or not.
func rnDependents(p *upgrade.Plan, id upgrade.StepID) map[upgrade.StepID]bool {
	next := map[upgrade.StepID][]upgrade.StepID{}
	for _, s := range p.Steps {
		for _, a := range s.After {
			next[a] = append(next[a], s.ID)
		}
	}
	out := map[upgrade.StepID]bool{}
	var walk func(upgrade.StepID)
	walk = func(i upgrade.StepID) {
		for _, j := range next[i] {
			if !out[j] {
				out[j] = true
				walk(j)
			}
		}
	}
	walk(id)
	return out
}

func rnReversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func rnStepsIn(r *upgrade.Report, st upgrade.State) []upgrade.StepID {
	var out []upgrade.StepID
	for _, o := range r.Outcomes {
		if o.State == st {
			out = append(out, o.Step)
		}
	}
	return out
}

// rnCheckReport checks that the report has one outcome per step of p, in
// p's order, each in exactly one of the states.
func rnCheckReport(t *testing.T, p *upgrade.Plan, r *upgrade.Report, msg string) {
	t.Helper()
	require.NotNil(t, r, msg)
	require.Len(t, r.Outcomes, len(p.Steps), msg)
	for i, o := range r.Outcomes {
		assert.Equal(t, p.Steps[i].ID, o.Step, msg)
		assert.Contains(t, rnAllStates, o.State, msg)
	}
	total := 0
	for _, st := range rnAllStates {
		total += r.Count(st)
	}
	assert.Equal(t, len(p.Steps), total, "%s: Count over all states", msg)
}

// rnEvents collects events and notices calls that overlap.
type rnEvents struct {
	mu      sync.Mutex
	list    []upgrade.Event
	in      atomic.Int32
	overlap atomic.Bool
	yield   bool // widen the window for overlapping calls
}

func (r *rnEvents) record(e upgrade.Event) {
	if r.in.Add(1) != 1 {
		r.overlap.Store(true)
	}
	if r.yield {
		runtime.Gosched()
	}
	r.mu.Lock()
	r.list = append(r.list, e)
	r.mu.Unlock()
	r.in.Add(-1)
}

func (r *rnEvents) steps(kind upgrade.EventKind) []upgrade.StepID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []upgrade.StepID
	for _, e := range r.list {
		if e.Kind == kind {
			out = append(out, e.Step.ID)
		}
	}
	return out
}

// rnCheckOrder makes exec check, as each step starts, that every step it
// comes after has finished.
func rnCheckOrder(t *testing.T, exec *upgradetest.Executor, msg string) {
	exec.Func = func(_ context.Context, s upgrade.Step) error {
		done := exec.Finished()
		for _, a := range s.After {
			assert.Contains(t, done, a, "%s: step %s started before %s finished", msg, s.ID, a)
		}
		return nil
	}
}

func TestRunConcurrencyLimitAndOrderOnRandomPlans(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		plan := rnRandomPlan(seed)
		n := 1 + int(seed%6)
		msg := fmt.Sprintf("seed %d, %d steps, concurrency %d", seed, len(plan.Steps), n)
		exec := new(upgradetest.Executor)
		exec.Delay(time.Millisecond)
		rnCheckOrder(t, exec, msg)

		report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(n))
		require.NoError(t, err, msg)
		rnCheckReport(t, plan, report, msg)
		assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded), msg)
		assert.LessOrEqual(t, exec.Peak(), n, msg)
		assert.ElementsMatch(t, ids(plan), exec.Started(), "%s: every step runs once", msg)
		if t.Failed() {
			return
		}
	}
}

func TestRunConcurrencyOnWidePlans(t *testing.T) {
	t.Run("overlaps but stays within the limit", func(t *testing.T) {
		plan := rnIndependent("w", 30)
		exec := new(upgradetest.Executor)
		exec.Delay(time.Millisecond)
		_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(5))
		require.NoError(t, err)
		assert.Greater(t, exec.Peak(), 1)
		assert.LessOrEqual(t, exec.Peak(), 5)
	})
	t.Run("reaches the limit", func(t *testing.T) {
		// The first n steps wait for each other, so the run can only
		// finish promptly if n run at once.
		const n = 4
		plan := rnIndependent("w", 10)
		exec := new(upgradetest.Executor)
		var arrived atomic.Int32
		all := make(chan struct{})
		giveUp, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		exec.Func = func(context.Context, upgrade.Step) error {
			if arrived.Add(1) == n {
				close(all)
			}
			select {
			case <-all:
			case <-giveUp.Done():
			}
			return nil
		}
		_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(n))
		require.NoError(t, err)
		assert.Equal(t, n, exec.Peak())
	})
	t.Run("default is one at a time", func(t *testing.T) {
		plan := rnIndependent("w", 10)
		exec := new(upgradetest.Executor)
		exec.Delay(time.Millisecond)
		_, err := upgrade.Run(context.Background(), plan, exec)
		require.NoError(t, err)
		assert.Equal(t, 1, exec.Peak())
		assert.Equal(t, ids(plan), exec.Started(), "one at a time, in the plan's order")
	})
	t.Run("below one means one", func(t *testing.T) {
		plan := rnIndependent("w", 5)
		exec := new(upgradetest.Executor)
		exec.Delay(time.Millisecond)
		_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(0))
		require.NoError(t, err)
		assert.Equal(t, 1, exec.Peak())
	})
}

func TestRunFailureOnRandomPlans(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		plan := rnRandomPlan(seed)
		conc := 1 + int(seed%4)
		for _, k := range plan.Steps {
			deps := rnDependents(plan, k.ID)
			for _, policy := range []upgrade.FailurePolicy{upgrade.FailFast, upgrade.ContinueIndependent} {
				msg := fmt.Sprintf("seed %d, concurrency %d, policy %d, failing %s", seed, conc, policy, k.ID)
				boom := fmt.Errorf("boom at %s", k.ID)
				exec := new(upgradetest.Executor)
				exec.FailAt(k.ID, boom)
				ev := &rnEvents{}
				report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(conc),
					upgrade.WithFailurePolicy(policy), upgrade.WithEvents(ev.record))

				require.ErrorIs(t, err, upgrade.ErrStepFailed, msg)
				require.ErrorIs(t, err, boom, msg)
				var se *upgrade.StepError
				require.ErrorAs(t, err, &se, msg)
				assert.Equal(t, k.ID, se.Step, msg)
				assert.Equal(t, k.Node, se.Node, msg)
				rnCheckReport(t, plan, report, msg)

				o, _ := report.Outcome(k.ID)
				assert.Equal(t, upgrade.Failed, o.State, msg)
				assert.Equal(t, boom, o.Err, msg)
				for _, id := range exec.Started() {
					assert.False(t, deps[id], "%s: dependent %s ran", msg, id)
				}
				skipped := rnStepsIn(report, upgrade.Skipped)
				assert.Len(t, skipped, len(deps), "%s: exactly the dependents are skipped", msg)
				for _, id := range skipped {
					assert.True(t, deps[id], "%s: %s skipped but independent", msg, id)
				}

				switch policy {
				case upgrade.FailFast:
					started := ev.steps(upgrade.StepStarted)
					failedAt := slices.IndexFunc(ev.list, func(e upgrade.Event) bool { return e.Kind == upgrade.StepFailed })
					require.GreaterOrEqual(t, failedAt, 0, "%s: no StepFailed event", msg)
					for _, e := range ev.list[failedAt:] {
						assert.NotEqual(t, upgrade.StepStarted, e.Kind, "%s: %s started after the failure", msg, e.Step.ID)
					}
					assert.ElementsMatch(t, started, exec.Started(), msg)
					for _, id := range started {
						if id != k.ID {
							o, _ := report.Outcome(id)
							assert.Equal(t, upgrade.Succeeded, o.State, "%s: running steps finish", msg)
						}
					}
					if conc == 1 {
						assert.Equal(t, k.ID, exec.Started()[len(exec.Started())-1], "%s: nothing starts after the failure", msg)
					}
				case upgrade.ContinueIndependent:
					assert.Zero(t, report.Count(upgrade.NotStarted), msg)
					for _, s := range plan.Steps {
						if s.ID != k.ID && !deps[s.ID] {
							o, _ := report.Outcome(s.ID)
							assert.Equal(t, upgrade.Succeeded, o.State, "%s: independent step %s", msg, s.ID)
							assert.Equal(t, 1, exec.Calls(s.ID), msg)
						}
					}
				}
				if t.Failed() {
					return
				}
			}
		}
	}
}

// Under FailFast a step that is running when another fails is let finish,
// not cancelled, and no step starts after the failure, not even one whose
// only predecessor then succeeds.
func TestRunFailFastLetsRunningStepFinish(t *testing.T) {
	plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: []upgrade.StepID{"a"}}}}
	failed := make(chan struct{})
	var ctxErrAtEnd error
	exec := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		switch s.ID {
		case "a":
			select {
			case <-failed:
			case <-time.After(10 * time.Second):
				return errors.New("b's failure was never reported while a ran")
			}
			ctxErrAtEnd = ctx.Err()
			return nil
		case "b":
			return errors.New("boom")
		}
		return nil
	})
	var started []upgrade.StepID
	events := func(e upgrade.Event) {
		switch e.Kind {
		case upgrade.StepStarted:
			started = append(started, e.Step.ID)
		case upgrade.StepFailed:
			close(failed)
		}
	}
	report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(2), upgrade.WithEvents(events))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.ElementsMatch(t, []upgrade.StepID{"a", "b"}, started)
	assert.NoError(t, ctxErrAtEnd, "the running step's context is not cancelled")
	for id, want := range map[upgrade.StepID]upgrade.State{"a": upgrade.Succeeded, "b": upgrade.Failed, "c": upgrade.NotStarted} {
		o, ok := report.Outcome(id)
		require.True(t, ok, id)
		assert.Equal(t, want, o.State, id)
	}
}

func TestRunRollbackReversesCompletionOrder(t *testing.T) {
	t.Run("sequential", func(t *testing.T) {
		for seed := uint64(1); seed <= 10; seed++ {
			plan := rnRandomPlan(seed)
			k := plan.Steps[len(plan.Steps)/2].ID
			msg := fmt.Sprintf("seed %d, failing %s", seed, k)
			boom := errors.New("boom")
			exec := new(upgradetest.Executor)
			exec.FailAt(k, boom)
			report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRollback(),
				upgrade.WithFailurePolicy(upgrade.ContinueIndependent))
			require.ErrorIs(t, err, upgrade.ErrStepFailed, msg)
			require.ErrorIs(t, err, boom, msg)
			assert.NotErrorIs(t, err, upgrade.ErrRollback, msg)
			rnCheckReport(t, plan, report, msg)

			// Every step carried out, the failed one too (it may have
			// changed its node in part), is undone, last finished first.
			assert.Zero(t, report.Count(upgrade.Succeeded), "%s: every succeeded step is rolled back", msg)
			assert.Zero(t, report.Count(upgrade.Failed), "%s: the failed step is rolled back", msg)
			var done []upgrade.StepID
			for _, id := range exec.Finished() {
				if o, _ := report.Outcome(id); o.State == upgrade.RolledBack {
					done = append(done, id)
				}
			}
			assert.Len(t, done, len(plan.Steps)-len(rnDependents(plan, k)), msg)
			assert.Equal(t, rnReversed(done), exec.RolledBack(), msg)
			o, _ := report.Outcome(k)
			assert.Equal(t, upgrade.RolledBack, o.State, msg)
			assert.Equal(t, boom, o.Err, "%s: a rolled-back failed step keeps its error", msg)
			if t.Failed() {
				return
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		for seed := uint64(1); seed <= 10; seed++ {
			plan := rnRandomPlan(seed)
			k := plan.Steps[len(plan.Steps)/3].ID
			msg := fmt.Sprintf("seed %d, failing %s", seed, k)
			exec := new(upgradetest.Executor)
			exec.Delay(time.Millisecond)
			exec.FailAt(k, errors.New("boom"))
			ev := &rnEvents{}
			report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRollback(),
				upgrade.WithConcurrency(4), upgrade.WithEvents(ev.record))
			require.ErrorIs(t, err, upgrade.ErrStepFailed, msg)
			assert.Zero(t, report.Count(upgrade.Succeeded), msg)
			assert.Zero(t, report.Count(upgrade.Failed), msg)
			// The runner's completion order is the order of its events.
			var completed []upgrade.StepID
			for _, e := range ev.list {
				if e.Kind == upgrade.StepSucceeded || e.Kind == upgrade.StepFailed {
					completed = append(completed, e.Step.ID)
				}
			}
			assert.Equal(t, rnReversed(completed), exec.RolledBack(), msg)
			assert.Equal(t, exec.RolledBack(), ev.steps(upgrade.StepRolledBack), msg)
			assert.ElementsMatch(t, completed, rnStepsIn(report, upgrade.RolledBack), msg)
			// So a step is undone before the steps it came after.
			pos := map[upgrade.StepID]int{}
			for i, id := range exec.RolledBack() {
				pos[id] = i
			}
			for _, s := range plan.Steps {
				for _, a := range s.After {
					if _, ok := pos[s.ID]; ok {
						assert.Less(t, pos[s.ID], pos[a], "%s: %s undone after %s", msg, s.ID, a)
					}
				}
			}
			if t.Failed() {
				return
			}
		}
	})
}

func TestRunRollbackFailureKeepsStepsBelow(t *testing.T) {
	// a → b → c → d, and x on its own. d fails and is undone, as are x
	// and c; b cannot be undone, so a, which b comes after, stays in place.
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a", Node: "node-a"},
		{ID: "b", Node: "node-b", After: []upgrade.StepID{"a"}},
		{ID: "c", Node: "node-c", After: []upgrade.StepID{"b"}},
		{ID: "x", Node: "node-x"},
		{ID: "d", Node: "node-d", After: []upgrade.StepID{"c"}},
	}}
	boom, stuck := errors.New("boom"), errors.New("stuck")
	exec := new(upgradetest.Executor)
	exec.FailAt("d", boom)
	exec.FailRollback("b", stuck)
	report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRollback())

	require.ErrorIs(t, err, upgrade.ErrRollback)
	require.ErrorIs(t, err, stuck)
	require.ErrorIs(t, err, upgrade.ErrStepFailed, "the step failure is kept")
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), `step b on node "node-b"`)
	assert.Equal(t, []upgrade.StepID{"d", "x", "c"}, exec.RolledBack())
	assert.Equal(t, map[upgrade.StepID]upgrade.State{
		"a": upgrade.Succeeded, "b": upgrade.Succeeded, "c": upgrade.RolledBack,
		"x": upgrade.RolledBack, "d": upgrade.RolledBack,
	}, states(report))
	o, _ := report.Outcome("b")
	assert.ErrorIs(t, o.Err, stuck, "the outcome keeps the rollback's error")
}

func TestRunNoRollback(t *testing.T) {
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}, {ID: "c", After: []upgrade.StepID{"b"}},
	}}
	t.Run("not asked", func(t *testing.T) {
		exec := new(upgradetest.Executor)
		exec.FailAt("c", errors.New("boom"))
		report, err := upgrade.Run(context.Background(), plan, exec)
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		assert.Empty(t, exec.RolledBack())
		assert.Equal(t, 2, report.Count(upgrade.Succeeded))
	})
	t.Run("not a Rollbacker", func(t *testing.T) {
		exec := new(upgradetest.Executor)
		exec.FailAt("c", errors.New("boom"))
		report, err := upgrade.Run(context.Background(), plan, upgrade.ExecutorFunc(exec.Execute), upgrade.WithRollback())
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		assert.NotErrorIs(t, err, upgrade.ErrRollback)
		assert.Empty(t, exec.RolledBack())
		assert.Empty(t, exec.Verified(), "nor a Verifier")
		assert.Equal(t, 2, report.Count(upgrade.Succeeded))
	})
	t.Run("nothing failed", func(t *testing.T) {
		exec := new(upgradetest.Executor)
		_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRollback())
		require.NoError(t, err)
		assert.Empty(t, exec.RolledBack())
	})
}

func TestRunRetries(t *testing.T) {
	single := &upgrade.Plan{Steps: []upgrade.Step{{ID: "a", Node: "node-a"}, {ID: "b", After: []upgrade.StepID{"a"}}}}
	flaky := errors.New("flaky")

	t.Run("transient failure", func(t *testing.T) {
		exec := new(upgradetest.Executor)
		exec.FailTimes("a", 2, flaky)
		ev := &rnEvents{}
		report, err := upgrade.Run(context.Background(), single, exec, upgrade.WithRetry(3, time.Millisecond, 0),
			upgrade.WithEvents(ev.record))
		require.NoError(t, err)
		o, _ := report.Outcome("a")
		assert.Equal(t, upgrade.Succeeded, o.State)
		assert.Equal(t, 3, o.Attempts)
		assert.Equal(t, 3, exec.Calls("a"))
		var retries []upgrade.Event
		for _, e := range ev.list {
			if e.Kind == upgrade.StepRetrying {
				retries = append(retries, e)
			}
		}
		require.Len(t, retries, 2)
		for i, e := range retries {
			assert.Equal(t, upgrade.StepID("a"), e.Step.ID)
			assert.Equal(t, i+2, e.Attempt, "the attempt about to be made")
			assert.ErrorIs(t, e.Err, flaky)
		}
	})
	t.Run("permanent error", func(t *testing.T) {
		exec := new(upgradetest.Executor)
		exec.FailAt("a", upgrade.Permanent(flaky))
		report, err := upgrade.Run(context.Background(), single, exec, upgrade.WithRetry(3, time.Millisecond, 0))
		require.ErrorIs(t, err, flaky)
		o, _ := report.Outcome("a")
		assert.Equal(t, upgrade.Failed, o.State)
		assert.Equal(t, 1, o.Attempts)
		assert.Equal(t, 1, exec.Calls("a"))
		assert.True(t, upgrade.IsPermanent(o.Err))
	})
	t.Run("exhausted", func(t *testing.T) {
		exec := new(upgradetest.Executor)
		exec.Func = func(_ context.Context, s upgrade.Step) error {
			if s.ID == "a" {
				return fmt.Errorf("attempt %d", exec.Calls(s.ID))
			}
			return nil
		}
		report, err := upgrade.Run(context.Background(), single, exec, upgrade.WithRetry(3, time.Millisecond, 0))
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		assert.Contains(t, err.Error(), "attempt 3")
		o, _ := report.Outcome("a")
		assert.Equal(t, upgrade.Failed, o.State)
		assert.Equal(t, 3, o.Attempts)
		assert.EqualError(t, o.Err, "attempt 3", "the last attempt's error")
		o, _ = report.Outcome("b")
		assert.Equal(t, upgrade.Skipped, o.State)
	})
	// starts runs a step failing attempts-1 times under WithRetry(attempts,
	// backoff, max) and returns when each attempt started.
	starts := func(t *testing.T, attempts int, backoff, max time.Duration) []time.Time {
		var mu sync.Mutex
		var at []time.Time
		exec := new(upgradetest.Executor)
		exec.FailTimes("a", attempts-1, flaky)
		exec.Func = func(_ context.Context, s upgrade.Step) error {
			mu.Lock()
			defer mu.Unlock()
			if s.ID == "a" {
				at = append(at, time.Now())
			}
			return nil
		}
		_, err := upgrade.Run(t.Context(), single, exec, upgrade.WithRetry(attempts, backoff, max))
		require.NoError(t, err)
		require.Len(t, at, attempts)
		return at
	}
	t.Run("backoff doubles, with jitter", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const backoff = 4 * time.Second
			at := starts(t, 5, backoff, time.Hour)
			for i := 1; i < len(at); i++ {
				nominal := backoff << (i - 1)
				wait := at[i].Sub(at[i-1])
				assert.GreaterOrEqual(t, wait, nominal/2, "wait before attempt %d", i+1)
				assert.LessOrEqual(t, wait, nominal*3/2+time.Nanosecond, "wait before attempt %d", i+1)
			}
		})
	})
	t.Run("backoff capped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			at := starts(t, 4, 4*time.Second, 6*time.Second)
			for i, nominal := range []time.Duration{4, 6, 6} {
				wait := at[i+1].Sub(at[i])
				assert.GreaterOrEqual(t, wait, nominal*time.Second/2, "wait before attempt %d", i+2)
				assert.LessOrEqual(t, wait, nominal*time.Second*3/2+time.Nanosecond, "wait before attempt %d", i+2)
			}
		})
	})
	t.Run("backoff capped by default, and spread", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// --retries 30 once waited 2^29 seconds before the last attempt.
			at := starts(t, 31, time.Second, 0)
			waits := map[time.Duration]bool{}
			for i := 1; i < len(at); i++ {
				wait := at[i].Sub(at[i-1])
				assert.LessOrEqual(t, wait, upgrade.DefaultMaxBackoff*3/2+time.Nanosecond, "wait before attempt %d", i+1)
				waits[wait] = true
			}
			assert.Greater(t, len(waits), 20, "the waits are drawn at random, not all the same")
		})
	})
	t.Run("runners retrying at once spread out", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			first := map[time.Duration]bool{}
			for range 10 {
				at := starts(t, 2, time.Minute, 0)
				first[at[1].Sub(at[0])] = true
			}
			assert.Greater(t, len(first), 1, "ten runs did not wait ten times the same")
		})
	})
}

func TestRunVerifyFailure(t *testing.T) {
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}, {ID: "c", After: []upgrade.StepID{"b"}}, {ID: "x"},
	}}
	unhealthy := errors.New("unhealthy")
	exec := new(upgradetest.Executor)
	exec.FailVerify("b", unhealthy)
	report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithFailurePolicy(upgrade.ContinueIndependent))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	require.ErrorIs(t, err, unhealthy)
	assert.Contains(t, err.Error(), "verify: unhealthy")
	assert.Equal(t, map[upgrade.StepID]upgrade.State{
		"a": upgrade.Succeeded, "b": upgrade.Failed, "c": upgrade.Skipped, "x": upgrade.Succeeded,
	}, states(report))
	assert.NotContains(t, exec.Started(), upgrade.StepID("c"))
	assert.ElementsMatch(t, []upgrade.StepID{"a", "b", "x"}, exec.Verified())
}

func TestRunStepTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{
			{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}, {ID: "c", After: []upgrade.StepID{"b"}},
		}}
		exec := new(upgradetest.Executor)
		exec.Hang("b")
		begin := time.Now()
		report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithStepTimeout(20*time.Millisecond))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		assert.Equal(t, 20*time.Millisecond, time.Since(begin), "the hanging step is ended by its timeout, and only then")
		var se *upgrade.StepError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, upgrade.StepID("b"), se.Step)
		assert.Equal(t, map[upgrade.StepID]upgrade.State{
			"a": upgrade.Succeeded, "b": upgrade.Failed, "c": upgrade.Skipped,
		}, states(report))
	})
	// The step's context says why it ended, for an executor to report.
	synctest.Test(t, func(t *testing.T) {
		exec := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
			<-ctx.Done()
			return fmt.Errorf("command stopped: %w", context.Cause(ctx))
		})
		_, err := upgrade.Run(t.Context(), &upgrade.Plan{Steps: []upgrade.Step{{ID: "a"}}}, exec, upgrade.WithStepTimeout(20*time.Millisecond))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "command stopped: step timed out after 20ms")
	})
}

func TestRunCancellation(t *testing.T) {
	t.Run("nothing starts after cancel", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		synctest.Test(t, func(t *testing.T) {
			// h0 and h1 hang; the third slot works through the f steps until
			// f05, which cancels the run. The other slots being busy, the
			// runner cannot be starting a step at that moment.
			plan := rnIndependent("h", 2)
			plan.Steps = append(plan.Steps, rnIndependent("f", 20).Steps...)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			exec := new(upgradetest.Executor)
			exec.Hang("h00")
			exec.Hang("h01")
			exec.Delay(time.Millisecond)
			var atCancel []upgrade.StepID
			var cancelled time.Time
			exec.Func = func(_ context.Context, s upgrade.Step) error {
				if s.ID == "f05" {
					atCancel = exec.Started()
					cancelled = time.Now()
					cancel()
				}
				return nil
			}
			report, err := upgrade.Run(ctx, plan, exec, upgrade.WithConcurrency(3))
			elapsed := time.Since(cancelled)

			require.ErrorIs(t, err, context.Canceled)
			require.False(t, cancelled.IsZero(), "f05 never ran")
			assert.Zero(t, elapsed, "Run returns as soon as it is cancelled, waiting on no timer")
			require.Subset(t, atCancel, []upgrade.StepID{"h00", "h01", "f05"})
			assert.Equal(t, atCancel, exec.Started(), "no step starts after cancel")
			rnCheckReport(t, plan, report, "cancelled")
			for i := 6; i < 20; i++ {
				o, _ := report.Outcome(upgrade.StepID(fmt.Sprintf("f%02d", i)))
				assert.Equal(t, upgrade.NotStarted, o.State, o.Step)
			}
			o, _ := report.Outcome("h00")
			assert.ErrorIs(t, o.Err, context.Canceled, "a running step gets the cancellation")
		})
	})
	t.Run("from another goroutine", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		synctest.Test(t, func(t *testing.T) {
			plan := &upgrade.Plan{Steps: []upgrade.Step{
				{ID: "h1"}, {ID: "h2"}, {ID: "h3"},
				{ID: "after", After: []upgrade.StepID{"h1"}}, {ID: "later"},
			}}
			exec := new(upgradetest.Executor)
			for _, id := range []upgrade.StepID{"h1", "h2", "h3"} {
				exec.Hang(id)
			}
			var running sync.WaitGroup
			running.Add(3)
			exec.Func = func(context.Context, upgrade.Step) error { running.Done(); return nil }
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cancelled := make(chan time.Time, 1)
			go func() {
				running.Wait()
				cancelled <- time.Now()
				cancel()
			}()
			report, err := upgrade.Run(ctx, plan, exec, upgrade.WithConcurrency(3))
			returned := time.Now()
			require.ErrorIs(t, err, context.Canceled)
			assert.Zero(t, returned.Sub(<-cancelled), "Run returns as soon as it is cancelled, waiting on no timer")
			assert.ElementsMatch(t, []upgrade.StepID{"h1", "h2", "h3"}, exec.Started())
			assert.Len(t, exec.Finished(), 3, "every step started has returned")
			rnCheckReport(t, plan, report, "cancelled")
			o, _ := report.Outcome("later")
			assert.Equal(t, upgrade.NotStarted, o.State)
		})
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		exec := new(upgradetest.Executor)
		report, err := upgrade.Run(ctx, rnRandomPlan(2), exec)
		require.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, exec.Started())
		assert.Equal(t, len(report.Outcomes), report.Count(upgrade.NotStarted))
	})
	t.Run("during backoff", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			exec := new(upgradetest.Executor)
			exec.FailAt("a", errors.New("flaky"))
			var cancelled time.Time
			events := func(e upgrade.Event) {
				if e.Kind == upgrade.StepRetrying {
					cancelled = time.Now()
					cancel()
				}
			}
			_, err := upgrade.Run(ctx, &upgrade.Plan{Steps: []upgrade.Step{{ID: "a"}}}, exec,
				upgrade.WithRetry(3, 5*time.Second, 0), upgrade.WithEvents(events))
			require.ErrorIs(t, err, context.Canceled)
			assert.Zero(t, time.Since(cancelled), "the backoff wait ends on cancel")
			assert.Equal(t, 1, exec.Calls("a"))
		})
	})
}

func TestRunEvents(t *testing.T) {
	for _, tt := range []struct {
		name   string
		policy upgrade.FailurePolicy
	}{{"fail fast", upgrade.FailFast}, {"continue", upgrade.ContinueIndependent}} {
		t.Run(tt.name, func(t *testing.T) {
			for seed := uint64(20); seed < 26; seed++ {
				plan := rnRandomPlan(seed)
				k := plan.Steps[len(plan.Steps)/2].ID
				msg := fmt.Sprintf("seed %d, failing %s", seed, k)
				exec := new(upgradetest.Executor)
				exec.Delay(time.Millisecond)
				exec.FailAt(k, errors.New("boom"))
				ev := &rnEvents{yield: true}
				report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(4),
					upgrade.WithFailurePolicy(tt.policy), upgrade.WithRollback(), upgrade.WithEvents(ev.record))
				require.ErrorIs(t, err, upgrade.ErrStepFailed, msg)
				assert.False(t, ev.overlap.Load(), "%s: event calls overlapped", msg)

				done := 0
				for _, e := range ev.list {
					assert.GreaterOrEqual(t, e.Done, done, "%s: Done decreased at %v %s", msg, e.Kind, e.Step.ID)
					done = e.Done
					assert.Equal(t, len(plan.Steps), e.Total, msg)
					require.NotNil(t, e.Step, msg)
				}
				finished := len(plan.Steps) - report.Count(upgrade.NotStarted)
				assert.Equal(t, finished, done, "%s: final Done", msg)

				assert.ElementsMatch(t, exec.Started(), ev.steps(upgrade.StepStarted), msg)
				assert.Equal(t, []upgrade.StepID{k}, ev.steps(upgrade.StepFailed), msg)
				assert.ElementsMatch(t, rnStepsIn(report, upgrade.Skipped), ev.steps(upgrade.StepSkipped), msg)
				assert.ElementsMatch(t, rnStepsIn(report, upgrade.RolledBack),
					append(ev.steps(upgrade.StepSucceeded), ev.steps(upgrade.StepFailed)...), "%s: every step carried out is undone", msg)
				assert.Equal(t, exec.RolledBack(), ev.steps(upgrade.StepRolledBack), msg)
				// Each step's events come in order: started, then one end.
				seen := map[upgrade.StepID]upgrade.EventKind{}
				for _, e := range ev.list {
					prev := seen[e.Step.ID]
					switch e.Kind {
					case upgrade.StepStarted:
						assert.Zero(t, prev, "%s: %s started twice", msg, e.Step.ID)
					case upgrade.StepSucceeded, upgrade.StepFailed:
						assert.Equal(t, upgrade.StepStarted, prev, "%s: %s ended before it started", msg, e.Step.ID)
					case upgrade.StepSkipped:
						assert.Zero(t, prev, "%s: %s skipped after it started", msg, e.Step.ID)
					case upgrade.StepRolledBack:
						assert.Contains(t, []upgrade.EventKind{upgrade.StepSucceeded, upgrade.StepFailed}, prev, msg)
					}
					seen[e.Step.ID] = e.Kind
				}
				if t.Failed() {
					return
				}
			}
		})
	}
	t.Run("kinds", func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{
			{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}, {ID: "c", After: []upgrade.StepID{"b"}},
		}}
		exec := new(upgradetest.Executor)
		exec.FailAt("b", errors.New("boom"))
		var got []string
		_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRollback(),
			upgrade.WithEvents(func(e upgrade.Event) {
				got = append(got, fmt.Sprintf("%s %s %d/%d", e.Kind, e.Step.ID, e.Done, e.Total))
			}))
		require.Error(t, err)
		assert.Equal(t, []string{
			"started a 0/3", "succeeded a 1/3", "started b 1/3", "failed b 2/3", "skipped c 3/3", "rolled back b 3/3", "rolled back a 3/3",
		}, got)
	})
}

// rnAppAfter returns, for each application step of p, the application
// steps in its After list.
func rnAppAfter(p *upgrade.Plan) map[upgrade.StepID][]upgrade.StepID {
	app := map[upgrade.StepID]bool{}
	for _, s := range p.Steps {
		if s.Kind == upgrade.Application {
			app[s.ID] = true
		}
	}
	out := map[upgrade.StepID][]upgrade.StepID{}
	for _, s := range p.Steps {
		if app[s.ID] {
			out[s.ID] = []upgrade.StepID{}
			for _, a := range p.Prerequisites(s.ID) {
				if app[a] {
					out[s.ID] = append(out[s.ID], a)
				}
			}
		}
	}
	return out
}

func rnShopStep(n int) upgrade.StepID { return upgrade.StepID(fmt.Sprintf("app/shop-%d@2.0.0", n)) }

// TestRollCanaryFailureLeavesOtherPlatform fails the canary: no step
// beneath the other instances has run, however many may run at once, as
// their platform waits for the canary.
func TestRollCanaryFailureLeavesOtherPlatform(t *testing.T) {
	rolled, err := shopPlan(t, 4).Roll(upgrade.Rolling{Canaries: 1})
	require.NoError(t, err)
	exec := new(upgradetest.Executor)
	exec.FailAt(rnShopStep(1), errors.New("unhealthy"))
	report, err := upgrade.Run(context.Background(), rolled, exec, upgrade.WithConcurrency(16))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.ElementsMatch(t, []upgrade.StepID{"platform/java-1@21.0.2", "platform/tomcat-1@10.1.34", rnShopStep(1)}, exec.Started())
	assert.Equal(t, len(rolled.Steps)-3, report.Count(upgrade.Skipped))
}

// TestRollHoldsOnlyPlatformOfLaterWaves: a platform node that a canary
// runs on too, or an instance of another application, is not held back
// for the canary; one only later instances of one template run on is.
func TestRollHoldsOnlyPlatformOfLaterWaves(t *testing.T) {
	b := new(topology.Builder)
	for _, app := range []topology.AppID{"shop", "billing"} {
		b.Template(app, topology.Template{ID: topology.TemplateID(app + "_app"), Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8.5")}}})
	}
	b.Template("platform", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("8.5.100"),
		Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=8")}}}).
		Template("platform", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("8.0.402")})
	for _, s := range []string{"a", "b", "c"} { // a: shop-1 (the canary) and shop-2; b: shop-3; c: shop-4 and billing-1
		b.Node("platform", topology.Node{ID: topology.NodeID("java-" + s), Template: "java_runtime"}).
			Node("platform", topology.Node{ID: topology.NodeID("tomcat-" + s), Template: "tomcat_server", Relationships: on(topology.NodeID("java-" + s))})
	}
	for n, host := range map[string]string{"shop-1": "a", "shop-2": "a", "shop-3": "b", "shop-4": "c", "billing-1": "c"} {
		app, _, _ := strings.Cut(n, "-")
		b.Node(topology.AppID(app), topology.Node{ID: topology.NodeID(n), Template: topology.TemplateID(app + "_app"),
			Relationships: on(topology.NodeID("tomcat-" + host))})
	}
	request := func(app string) upgrade.Request {
		return upgrade.Request{Application: topology.AppID(app), Replaces: topology.TemplateID(app + "_app"),
			Template: topology.Template{ID: topology.TemplateID(app + "_app"), Type: "webapp", Version: v("2.0.0"),
				Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=10")}, {Template: "java_runtime", Constraint: c(">=17")}}}}
	}
	plan, err := upgrade.NewPlanner(build(t, b), catalogue(t)).PlanAll(context.Background(), request("shop"), request("billing"))
	require.NoError(t, err)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"})
	require.NoError(t, err)
	requireTopological(t, rolled)
	for _, s := range rolled.Steps {
		if s.Kind != upgrade.Platform {
			continue
		}
		orig, _ := plan.Step(s.ID)
		want := orig.After
		if s.Node == "java-b" { // shop-3 is in the third wave: after shop-2, the second
			want = []upgrade.StepID{"app/shop-2@2.0.0"}
		}
		assert.Equal(t, want, s.After, s.ID)
	}
}

func TestPlanRollWaves(t *testing.T) {
	original := shopPlan(t, 10)
	plan := shopPlan(t, 10)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "25%"})
	require.NoError(t, err)

	assert.Equal(t, original, plan, "Roll does not change the plan")
	assert.NotEqual(t, plan.ID, rolled.ID)
	assert.True(t, strings.HasPrefix(rolled.ID, "sha256:"), rolled.ID)
	again, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "25%"})
	require.NoError(t, err)
	assert.Equal(t, rolled.ID, again.ID, "the same strategy gives the same plan")
	requireTopological(t, rolled)

	// By node ID: shop-1, shop-10, shop-2, …; one canary, then batches
	// of 2 (25% of 10, rounded down).
	waves := [][]upgrade.StepID{
		{rnShopStep(1)},
		{rnShopStep(10), rnShopStep(2)},
		{rnShopStep(3), rnShopStep(4)},
		{rnShopStep(5), rnShopStep(6)},
		{rnShopStep(7), rnShopStep(8)},
		{rnShopStep(9)},
	}
	wave := map[upgrade.StepID]int{}
	for w, ws := range waves {
		for _, id := range ws {
			wave[id] = w
		}
	}
	appAfter := rnAppAfter(rolled)
	require.Len(t, appAfter, 10)
	for id, after := range appAfter {
		w, ok := wave[id]
		require.True(t, ok, "unexpected application step %s", id)
		if w == 0 {
			assert.Empty(t, after, id)
		} else {
			assert.ElementsMatch(t, waves[w-1], after, "%s comes after all of wave %d", id, w-1)
		}
		orig, _ := plan.Step(id)
		s, _ := rolled.Step(id)
		assert.Subset(t, s.After, orig.After, "%s keeps its own After steps", id)
	}
	// The platform beneath an instance waits for the wave before the
	// instance's: the JDK, which the Tomcat comes after.
	for _, s := range rolled.Steps {
		if s.Kind != upgrade.Platform {
			continue
		}
		orig, _ := plan.Step(s.ID)
		layer, num, _ := strings.Cut(string(s.Node), "-")
		n, err := strconv.Atoi(num)
		require.NoError(t, err, s.Node)
		want := orig.After
		if w := wave[rnShopStep(n)]; w > 0 && layer == "java" {
			want = waves[w-1]
		}
		assert.ElementsMatch(t, want, rolled.Prerequisites(s.ID), "platform step %s", s.ID)
		assert.Subset(t, s.After, orig.After, "%s keeps its own After steps", s.ID)
	}

	t.Run("waves never overlap", func(t *testing.T) {
		exec := new(upgradetest.Executor)
		exec.Delay(time.Millisecond)
		exec.Func = func(_ context.Context, s upgrade.Step) error {
			w, ok := wave[s.ID]
			if !ok {
				return nil
			}
			done := exec.Finished()
			for _, id := range exec.Started() {
				if v, ok := wave[id]; ok {
					assert.LessOrEqual(t, v, w, "%s (wave %d) started before %s (wave %d)", id, v, s.ID, w)
				}
			}
			if w > 0 {
				assert.Subset(t, done, waves[w-1], "%s started before wave %d finished", s.ID, w-1)
			}
			return nil
		}
		report, err := upgrade.Run(context.Background(), rolled, exec, upgrade.WithConcurrency(10))
		require.NoError(t, err)
		assert.Equal(t, len(rolled.Steps), report.Count(upgrade.Succeeded))
		assert.Greater(t, exec.Peak(), 1)
	})
	t.Run("independent of the original", func(t *testing.T) {
		// Appending to the original's After lists, even where they have
		// room to spare, leaves the rolled plan as it was.
		roomy := shopPlan(t, 4)
		for i := range roomy.Steps {
			roomy.Steps[i].After = slices.Grow(roomy.Steps[i].After, 16)
		}
		rolled, err := roomy.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"})
		require.NoError(t, err)
		want := rnAppAfter(rolled)
		for i := range roomy.Steps {
			roomy.Steps[i].After = append(roomy.Steps[i].After, "ghost", "ghost", "ghost")
		}
		assert.Equal(t, want, rnAppAfter(rolled))
		for _, s := range rolled.Steps {
			assert.NotContains(t, s.After, upgrade.StepID("ghost"), s.ID)
		}
	})
	t.Run("canary failure stops the other instances", func(t *testing.T) {
		exec := new(upgradetest.Executor)
		exec.FailAt(rnShopStep(1), errors.New("canary unhealthy"))
		report, err := upgrade.Run(context.Background(), rolled, exec, upgrade.WithConcurrency(10),
			upgrade.WithFailurePolicy(upgrade.ContinueIndependent))
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		for _, id := range exec.Started() {
			if _, app := wave[id]; app {
				assert.Equal(t, rnShopStep(1), id, "an instance started after the canary failed")
			}
		}
		for n := 2; n <= 10; n++ {
			o, _ := report.Outcome(rnShopStep(n))
			assert.Equal(t, upgrade.Skipped, o.State, o.Step)
		}
	})
}

func TestPlanRollBatchSizes(t *testing.T) {
	plan := shopPlan(t, 10)
	chainOf := func(t *testing.T, r upgrade.Rolling) []int {
		t.Helper()
		rolled, err := plan.Roll(r)
		require.NoError(t, err)
		// Wave sizes, found by walking the After edges between app steps.
		appAfter := rnAppAfter(rolled)
		waveOf := map[upgrade.StepID]int{}
		var sizes []int
		for len(waveOf) < len(appAfter) {
			var wave []upgrade.StepID
			for id, after := range appAfter {
				if _, done := waveOf[id]; done {
					continue
				}
				ready := true
				for _, a := range after {
					if w, ok := waveOf[a]; !ok || w != len(sizes)-1 {
						ready = false
					}
				}
				if ready {
					wave = append(wave, id)
				}
			}
			require.NotEmpty(t, wave, "application steps in no wave")
			for _, id := range wave {
				waveOf[id] = len(sizes)
			}
			sizes = append(sizes, len(wave))
		}
		return sizes
	}
	for _, tt := range []struct {
		r    upgrade.Rolling
		want []int
	}{
		{upgrade.Rolling{Canaries: 1, MaxInFlight: "25%"}, []int{1, 2, 2, 2, 2, 1}},
		{upgrade.Rolling{MaxInFlight: "1%"}, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{upgrade.Rolling{Canaries: 2, MaxInFlight: "1%"}, []int{2, 1, 1, 1, 1, 1, 1, 1, 1}},
		{upgrade.Rolling{Canaries: 1, MaxInFlight: "4"}, []int{1, 4, 4, 1}},
		{upgrade.Rolling{Canaries: 1}, []int{1, 9}},
		{upgrade.Rolling{MaxInFlight: "100%"}, []int{10}},
		{upgrade.Rolling{Canaries: 20}, []int{10}},
	} {
		t.Run(fmt.Sprintf("%d canaries, %q", tt.r.Canaries, tt.r.MaxInFlight), func(t *testing.T) {
			assert.Equal(t, tt.want, chainOf(t, tt.r))
		})
	}
}

func TestPlanRollInvalid(t *testing.T) {
	original := shopPlan(t, 4)
	plan := shopPlan(t, 4)
	for _, r := range []upgrade.Rolling{
		{MaxInFlight: "0"}, {MaxInFlight: "abc"}, {MaxInFlight: "150%"}, {MaxInFlight: "-1"},
		{MaxInFlight: "0%"}, {MaxInFlight: "%"}, {Canaries: -1}, {Canaries: -1, MaxInFlight: "2"},
	} {
		t.Run(fmt.Sprintf("%d canaries, %q", r.Canaries, r.MaxInFlight), func(t *testing.T) {
			rolled, err := plan.Roll(r)
			require.ErrorIs(t, err, upgrade.ErrInvalidRolling)
			assert.Nil(t, rolled)
			assert.Equal(t, original, plan, "a refused strategy changes nothing")
		})
	}
}

// timelessLogger logs text lines to buf without their times, for tests
// to compare.
func timelessLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func TestRunLogger(t *testing.T) {
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a", Node: "node-a"}, {ID: "b", Node: "node-b", After: []upgrade.StepID{"a"}}, {ID: "c", Node: "node-c"},
	}}
	var buf bytes.Buffer
	logger := timelessLogger(&buf)
	exec := new(upgradetest.Executor)
	exec.FailAt("b", errors.New("disk full"))
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRunLogger(logger),
		upgrade.WithFailurePolicy(upgrade.ContinueIndependent))
	require.Error(t, err)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3, buf.String())
	assert.Contains(t, lines[0], `level=INFO msg="upgrade: step succeeded" step=a node=node-a`)
	assert.Contains(t, lines[1], `level=INFO msg="upgrade: step failed" step=b node=node-b err="disk full"`)
	assert.Contains(t, lines[2], `msg="upgrade: step succeeded" step=c node=node-c`)
}

func TestRunCancelDuringBackoffKeepsLastError(t *testing.T) {
	plan := rnIndependent("a", 1)
	exec := new(upgradetest.Executor)
	flaky := errors.New("flaky")
	exec.FailAt(plan.Steps[0].ID, flaky)
	ctx, cancel := context.WithCancel(context.Background())
	report, err := upgrade.Run(ctx, plan, exec, upgrade.WithRetry(3, time.Second, 0),
		upgrade.WithEvents(func(e upgrade.Event) {
			if e.Kind == upgrade.StepRetrying {
				cancel()
			}
		}))
	require.ErrorIs(t, err, context.Canceled)
	o := report.Outcomes[0]
	assert.Equal(t, 1, exec.Calls(plan.Steps[0].ID))
	assert.Equal(t, 1, o.Attempts, "Attempts counts Execute calls")
	assert.ErrorIs(t, o.Err, flaky, "the step keeps its last attempt's error")
}

// hangingRollback is an executor whose Rollback returns only when its
// context is done.
type hangingRollback struct{ upgradetest.Executor }

func (e *hangingRollback) Rollback(ctx context.Context, _ upgrade.Step) error {
	<-ctx.Done()
	return context.Cause(ctx)
}

// TestStepTimeoutBoundsRollback: a Rollback that hangs is cut off by the
// step timeout as Execute would be; its step, and those beneath it, stay
// in place, and Run returns.
func TestStepTimeoutBoundsRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := shopPlan(t, 1)
		exec := new(hangingRollback)
		exec.FailAt(rnShopStep(1), errors.New("unhealthy"))
		report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithRollback(), upgrade.WithStepTimeout(time.Minute))
		require.ErrorIs(t, err, upgrade.ErrRollback)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		// The failed step is undone first, in case it changed something.
		assert.ErrorContains(t, err, `rollback failed: step app/shop-1@2.0.0 on node "shop-1": step timed out after 1m0s`)
		got := states(report)
		assert.Equal(t, upgrade.Failed, got[rnShopStep(1)])
		assert.Equal(t, upgrade.Succeeded, got["platform/tomcat-1@10.1.34"], "the step after it is in place")
		assert.Equal(t, upgrade.Succeeded, got["platform/java-1@21.0.2"], "the step after it is in place")
	})
}
