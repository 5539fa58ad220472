package upgrade_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// h5Plan builds a plan from "id:after,after" specs; an id starting with
// "|" is a barrier.
func h5Plan(specs ...string) *upgrade.Plan {
	p := &upgrade.Plan{ID: "h5"}
	for _, s := range specs {
		id, after, _ := strings.Cut(s, ":")
		var deps []upgrade.StepID
		for a := range strings.SplitSeq(after, ",") {
			if a != "" {
				deps = append(deps, upgrade.StepID(a))
			}
		}
		if id[0] == '|' {
			p.Barriers = append(p.Barriers, upgrade.Barrier{ID: upgrade.StepID(id[1:]), After: deps})
			continue
		}
		p.Steps = append(p.Steps, upgrade.Step{ID: upgrade.StepID(id), Kind: upgrade.Application, Node: topology.NodeID("n-" + id), After: deps})
	}
	return p
}

// h5Events records events and checks Done never decreases and each step
// ends once.
type h5Events struct {
	mu     sync.Mutex
	events []upgrade.Event
}

func (e *h5Events) add(ev upgrade.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

func (e *h5Events) check(t *testing.T) {
	t.Helper()
	last := -1
	ended := map[upgrade.StepID]int{}
	for _, ev := range e.events {
		assert.GreaterOrEqual(t, ev.Done, last, "Done decreased at %v %s", ev.Kind, ev.Step.ID)
		last = ev.Done
		assert.LessOrEqual(t, ev.Done, ev.Total)
		switch ev.Kind {
		case upgrade.StepSucceeded, upgrade.StepFailed, upgrade.StepSkipped:
			ended[ev.Step.ID]++
		}
	}
	for id, n := range ended {
		assert.Equal(t, 1, n, "step %s ended %d times", id, n)
	}
}

func (e *h5Events) kinds(id upgrade.StepID) []upgrade.EventKind {
	var out []upgrade.EventKind
	for _, ev := range e.events {
		if ev.Step.ID == id {
			out = append(out, ev.Kind)
		}
	}
	return out
}

// h5Journal is a journal in memory.
type h5Journal struct {
	mu      sync.Mutex
	records []upgrade.Record
}

func (j *h5Journal) Begin(context.Context, string) ([]upgrade.Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.records), nil
}

func (j *h5Journal) Append(_ context.Context, r upgrade.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.records = append(j.records, r)
	return nil
}

func (j *h5Journal) last() map[upgrade.StepID]upgrade.RecordKind {
	m := map[upgrade.StepID]upgrade.RecordKind{}
	for _, r := range j.records {
		m[r.Step] = r.Kind
	}
	return m
}

// TestHunt5DuplicateAfter: a step or barrier that names a step twice in
// its After list waits for it once, is skipped once, and Done counts it
// once, with either policy.
func TestHunt5DuplicateAfter(t *testing.T) {
	for _, policy := range []upgrade.FailurePolicy{upgrade.FailFast, upgrade.ContinueIndependent} {
		plan := h5Plan("a", "b:a,a", "|w:b,b", "c:w,w,a", "d")
		var ev h5Events
		exec := new(upgradetest.Executor)
		rep, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithFailurePolicy(policy), upgrade.WithEvents(ev.add), upgrade.WithConcurrency(3))
		require.NoError(t, err)
		assert.Equal(t, 5-1, rep.Count(upgrade.Succeeded))
		ev.check(t)
		assert.Equal(t, 4, ev.events[len(ev.events)-1].Done)

		ev = h5Events{}
		exec = new(upgradetest.Executor)
		exec.FailAt("a", errors.New("boom"))
		rep, err = upgrade.Run(t.Context(), plan, exec, upgrade.WithFailurePolicy(policy), upgrade.WithEvents(ev.add), upgrade.WithRollback())
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		ev.check(t)
		for _, id := range []upgrade.StepID{"b", "c"} {
			o, _ := rep.Outcome(id)
			assert.Equal(t, upgrade.Skipped, o.State, id)
		}
	}
}

// TestHunt5OddPlans: empty plans, invalid ones and odd option values
// never panic, and a report, when there is one, has every step.
func TestHunt5OddPlans(t *testing.T) {
	cases := map[string]*upgrade.Plan{
		"empty":          {},
		"empty with ID":  {ID: "x"},
		"barrier cycle":  h5Plan("|a:b", "|b:a"),
		"barrier self":   h5Plan("|a:a"),
		"barrier empty":  {Barriers: []upgrade.Barrier{{ID: "a"}}},
		"barrier as dep": h5Plan("|a:x", "x"),
		"dup step":       h5Plan("a", "a"),
		"dup barrier":    h5Plan("a", "|a:a"),
		"self":           h5Plan("a:a"),
		"unknown":        h5Plan("a:z"),
		"empty ID":       h5Plan("a", "b:"),
	}
	cases["empty ID"].Steps[1].ID = ""
	for name, plan := range cases {
		t.Run(name, func(t *testing.T) {
			stop := make(chan struct{})
			close(stop)
			for _, opts := range [][]upgrade.RunOption{
				nil,
				{upgrade.WithConcurrency(1 << 40), upgrade.WithRollback(), upgrade.WithRetry(-1, -1, -1), upgrade.WithStepTimeout(-1), upgrade.WithGracePeriod(-1)},
				{upgrade.WithJournal(&h5Journal{}), upgrade.WithStop(stop), upgrade.WithFailurePolicy(upgrade.ContinueIndependent)},
				{upgrade.WithConcurrency(-5), upgrade.WithFailurePolicy(upgrade.FailurePolicy(200))},
			} {
				rep, err := upgrade.Run(t.Context(), plan, new(upgradetest.Executor), opts...)
				if err == nil {
					require.NotNil(t, rep)
					assert.Equal(t, len(plan.Steps), len(rep.Outcomes))
				}
			}
		})
	}
}

// h5StopAt runs plan with journal j, stopping it (WithStop) as step id
// runs, and returns its executor and report.
func h5StopAt(t *testing.T, plan *upgrade.Plan, j upgrade.Journal, id upgrade.StepID) (*upgradetest.Executor, *upgrade.Report) {
	t.Helper()
	stop := make(chan struct{})
	exec := new(upgradetest.Executor)
	exec.Func = func(_ context.Context, s upgrade.Step) error {
		if s.ID == id {
			close(stop)
		}
		return nil
	}
	rep, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(j), upgrade.WithStop(stop))
	require.ErrorIs(t, err, upgrade.ErrStopped)
	return exec, rep
}

// TestHunt5ResumeAfterStop: a stopped run resumed with its journal runs
// exactly the steps it did not finish.
func TestHunt5ResumeAfterStop(t *testing.T) {
	plan := h5Plan("a", "b:a", "|w:a,b", "c:w", "d:w", "e:c,d")
	j := &h5Journal{}
	exec, rep := h5StopAt(t, plan, j, "c")
	assert.Equal(t, []upgrade.StepID{"a", "b", "c"}, exec.Started())
	assert.Equal(t, 3, rep.Count(upgrade.Succeeded))

	var ev h5Events
	exec2 := new(upgradetest.Executor)
	rep, err := upgrade.Run(t.Context(), plan, exec2, upgrade.WithJournal(j), upgrade.WithEvents(ev.add), upgrade.WithConcurrency(4))
	require.NoError(t, err)
	assert.ElementsMatch(t, []upgrade.StepID{"d", "e"}, exec2.Started())
	assert.Equal(t, 5, rep.Count(upgrade.Succeeded))
	ev.check(t)
	require.NotEmpty(t, ev.events)
	assert.Equal(t, 3, ev.events[0].Done)
	assert.Equal(t, 5, ev.events[len(ev.events)-1].Done)
}

// TestHunt5ResumeRollbackOrder: a rollback after a resume undoes the
// earlier run's steps after this run's, last first.
func TestHunt5ResumeRollbackOrder(t *testing.T) {
	plan := h5Plan("a", "b:a", "c:b", "d:c")
	j := &h5Journal{}
	h5StopAt(t, plan, j, "b")

	exec2 := new(upgradetest.Executor)
	exec2.FailAt("d", errors.New("boom"))
	var ev h5Events
	rep, err := upgrade.Run(t.Context(), plan, exec2, upgrade.WithJournal(j), upgrade.WithRollback(), upgrade.WithEvents(ev.add))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.Equal(t, []upgrade.StepID{"d", "c", "b", "a"}, exec2.RolledBack())
	assert.Equal(t, 4, rep.Count(upgrade.RolledBack))
	ev.check(t)
	last := j.last()
	for _, id := range []upgrade.StepID{"a", "b", "c", "d"} {
		assert.Equal(t, upgrade.RecordRolledBack, last[id], id)
	}

	// A third run does it all again.
	exec3 := new(upgradetest.Executor)
	rep, err = upgrade.Run(t.Context(), plan, exec3, upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"a", "b", "c", "d"}, exec3.Started())
	assert.Equal(t, 4, rep.Count(upgrade.Succeeded))
}

// TestHunt5StopDuringBackoff: a stop during a retry's wait fails the step
// with its last error and skips the steps after it.
func TestHunt5StopDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := h5Plan("a", "b:a", "c")
		stop := make(chan struct{})
		exec := new(upgradetest.Executor)
		exec.FailAt("a", errors.New("flaky"))
		var ev h5Events
		done := make(chan struct{})
		var rep *upgrade.Report
		var err error
		go func() {
			defer close(done)
			rep, err = upgrade.Run(t.Context(), plan, exec, upgrade.WithStop(stop), upgrade.WithRetry(5, time.Minute, 0), upgrade.WithEvents(ev.add))
		}()
		synctest.Wait()
		close(stop)
		<-done
		require.ErrorIs(t, err, upgrade.ErrStopped)
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		o, _ := rep.Outcome("a")
		assert.Equal(t, upgrade.Failed, o.State)
		assert.Equal(t, 1, o.Attempts)
		o, _ = rep.Outcome("b")
		assert.Equal(t, upgrade.Skipped, o.State)
		o, _ = rep.Outcome("c")
		assert.Equal(t, upgrade.NotStarted, o.State)
		ev.check(t)
	})
}

// TestHunt5CancelDuringBackoff likewise for a cancel.
func TestHunt5CancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := h5Plan("a", "b:a", "c")
		ctx, cancel := context.WithCancel(t.Context())
		exec := new(upgradetest.Executor)
		exec.FailAt("a", errors.New("flaky"))
		var ev h5Events
		j := &h5Journal{}
		done := make(chan struct{})
		var rep *upgrade.Report
		var err error
		go func() {
			defer close(done)
			rep, err = upgrade.Run(ctx, plan, exec, upgrade.WithJournal(j), upgrade.WithRetry(5, time.Minute, 0), upgrade.WithEvents(ev.add), upgrade.WithRollback())
		}()
		synctest.Wait()
		cancel()
		<-done
		require.ErrorIs(t, err, context.Canceled)
		o, _ := rep.Outcome("a")
		assert.Equal(t, upgrade.Failed, o.State)
		o, _ = rep.Outcome("b")
		assert.Equal(t, upgrade.Skipped, o.State)
		ev.check(t)
		// Resumed: a in doubt or failed, run again, then b, c.
		exec2 := new(upgradetest.Executor)
		rep, err = upgrade.Run(t.Context(), plan, exec2, upgrade.WithJournal(j))
		require.NoError(t, err)
		assert.Equal(t, []upgrade.StepID{"a", "b", "c"}, exec2.Started())
		assert.Equal(t, 3, rep.Count(upgrade.Succeeded))
	})
}

// TestHunt5FailFastStartsNothingAfter: under FailFast, one at a time,
// nothing starts after a failure, and the rest stay NotStarted.
func TestHunt5FailFastStartsNothingAfter(t *testing.T) {
	specs := []string{"root"}
	for _, id := range []string{"x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"} {
		specs = append(specs, id+":root")
	}
	plan := h5Plan(specs...)
	var ev h5Events
	exec := new(upgradetest.Executor)
	exec.Func = func(ctx context.Context, s upgrade.Step) error {
		if s.ID == "x1" {
			return errors.New("boom")
		}
		return nil
	}
	rep, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithEvents(ev.add))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.Equal(t, []upgrade.StepID{"root", "x1"}, exec.Started())
	assert.Equal(t, 7, rep.Count(upgrade.NotStarted))
	ev.check(t)
}

// TestHunt5RollbackBarrierContinue: with ContinueIndependent, rollback
// undoes both branches, last first, and a barrier's steps after it first.
func TestHunt5RollbackBarrierContinue(t *testing.T) {
	plan := h5Plan("a", "b", "|w:a,b", "c:w", "d:w", "e", "f:e")
	exec := new(upgradetest.Executor)
	exec.FailAt("f", errors.New("boom"))
	exec.FailRollback("c", errors.New("stuck"))
	var ev h5Events
	rep, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithFailurePolicy(upgrade.ContinueIndependent), upgrade.WithRollback(), upgrade.WithEvents(ev.add))
	require.ErrorIs(t, err, upgrade.ErrRollback)
	ev.check(t)
	for id, want := range map[upgrade.StepID]upgrade.State{"a": upgrade.Succeeded, "b": upgrade.Succeeded, "c": upgrade.Succeeded,
		"d": upgrade.RolledBack, "e": upgrade.RolledBack, "f": upgrade.RolledBack} {
		o, _ := rep.Outcome(id)
		assert.Equal(t, want, o.State, id)
	}
}

// TestHunt5AbandonWatched: an Execute that ignores the cancel is
// abandoned after the grace period: failed once, Abandoned, left started
// in the journal, the steps after it skipped; its late return changes
// nothing.
func TestHunt5AbandonWatched(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Hour} {
		synctest.Test(t, func(t *testing.T) {
			plan := h5Plan("a", "b:a", "c", "d:c")
			ctx, cancel := context.WithCancel(t.Context())
			release := make(chan struct{})
			exec := new(upgradetest.Executor)
			exec.Func = func(ctx context.Context, s upgrade.Step) error {
				if s.ID == "a" {
					<-release
					return nil
				}
				<-ctx.Done()
				return ctx.Err()
			}
			j := &h5Journal{}
			var ev h5Events
			done := make(chan struct{})
			var rep *upgrade.Report
			var err error
			go func() {
				defer close(done)
				rep, err = upgrade.Run(ctx, plan, exec, upgrade.WithJournal(j), upgrade.WithConcurrency(2), upgrade.WithStepTimeout(timeout),
					upgrade.WithGracePeriod(time.Minute), upgrade.WithEvents(ev.add), upgrade.WithRollback(), upgrade.WithRetry(3, time.Second, 0))
			}()
			synctest.Wait()
			cancel()
			<-done
			require.ErrorIs(t, err, context.Canceled)
			o, _ := rep.Outcome("a")
			assert.Equal(t, upgrade.Failed, o.State)
			assert.True(t, o.Abandoned)
			assert.ErrorIs(t, o.Err, upgrade.ErrAbandoned)
			o, _ = rep.Outcome("b")
			assert.Equal(t, upgrade.Skipped, o.State)
			o, _ = rep.Outcome("c")
			assert.Equal(t, upgrade.Failed, o.State)
			assert.False(t, o.Abandoned)
			o, _ = rep.Outcome("d")
			assert.Equal(t, upgrade.Skipped, o.State)
			ev.check(t)
			assert.Equal(t, upgrade.RecordStarted, j.last()["a"])
			assert.Equal(t, upgrade.RecordStarted, j.last()["c"])
			snapshot := slices.Clone(rep.Outcomes)
			close(release)
			synctest.Wait()
			assert.Equal(t, snapshot, rep.Outcomes)

			exec2 := new(upgradetest.Executor)
			rep, err = upgrade.Run(t.Context(), plan, exec2, upgrade.WithJournal(j))
			require.NoError(t, err)
			assert.ElementsMatch(t, []upgrade.StepID{"a", "c"}, exec2.InDoubt())
		})
	}
}

// TestHunt5TimeoutRetry: an attempt that outlasts the step timeout is
// retried; the timeout's cause is kept.
func TestHunt5TimeoutRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := h5Plan("a", "b:a")
		n := 0
		exec := new(upgradetest.Executor)
		exec.Func = func(ctx context.Context, s upgrade.Step) error {
			if s.ID == "a" {
				n++
				if n < 3 {
					<-ctx.Done()
					return context.Cause(ctx)
				}
			}
			return nil
		}
		var ev h5Events
		rep, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithStepTimeout(time.Minute), upgrade.WithRetry(3, time.Second, 0), upgrade.WithEvents(ev.add))
		require.NoError(t, err)
		o, _ := rep.Outcome("a")
		assert.Equal(t, 3, o.Attempts)
		assert.Equal(t, []upgrade.EventKind{upgrade.StepStarted, upgrade.StepRetrying, upgrade.StepRetrying, upgrade.StepSucceeded}, ev.kinds("a"))
		ev.check(t)
	})
}

// TestHunt5RollOdd: rolling strategies, odd or refused, give plans in
// which a failure anywhere, run with ContinueIndependent and rollback,
// leaves nothing carried out, and Done never decreases.
func TestHunt5RollOdd(t *testing.T) {
	mk := func(n int) *upgrade.Plan {
		p := &upgrade.Plan{}
		p.Steps = append(p.Steps, upgrade.Step{ID: "platform/vm", Kind: upgrade.Platform, Node: "vm"})
		for i := range n {
			id := upgrade.StepID("app/" + string(rune('a'+i)))
			p.Steps = append(p.Steps, upgrade.Step{ID: id, Kind: upgrade.Application, App: "shop", Template: "t", Node: topology.NodeID(id), After: []upgrade.StepID{"platform/vm"}})
		}
		p.ID = p.ComputeID()
		return p
	}
	for _, n := range []int{0, 1, 2, 5} {
		for _, r := range []upgrade.Rolling{{}, {Canaries: 100}, {Canaries: 1, MaxInFlight: "1"}, {Canaries: 2, MaxInFlight: "100%"}, {MaxInFlight: "1%"}, {MaxInFlight: "2"},
			{MaxInFlight: "0"}, {MaxInFlight: "-1"}, {MaxInFlight: "101%"}, {MaxInFlight: "%"}, {MaxInFlight: "99999999999999999999"}, {MaxInFlight: "9223372036854775807"}, {Canaries: -1}} {
			rolled, err := mk(n).Roll(r)
			if err != nil {
				continue
			}
			requireTopological(t, rolled)
			if twice, err := rolled.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"}); err == nil {
				requireTopological(t, twice)
			}
			for _, fail := range []upgrade.StepID{"", "app/a", "app/b", "platform/vm"} {
				exec := new(upgradetest.Executor)
				if fail != "" {
					exec.FailAt(fail, errors.New("boom"))
				}
				var ev h5Events
				rep, err := upgrade.Run(t.Context(), rolled, exec, upgrade.WithConcurrency(3), upgrade.WithFailurePolicy(upgrade.ContinueIndependent), upgrade.WithRollback(), upgrade.WithEvents(ev.add))
				ev.check(t)
				if _, exists := rolled.Step(fail); !exists {
					require.NoError(t, err, "%d %+v %s", n, r, fail)
					continue
				}
				require.Error(t, err)
				assert.Zero(t, rep.Count(upgrade.Succeeded), "%d %+v %s: all undone", n, r, fail)
			}
		}
	}
}

// h5World is the nodes that random runs change: which steps are carried
// out. It checks that no step runs before its prerequisites are carried
// out, that a step carried out runs again only in doubt, and that no step
// is undone while a step after it is carried out.
type h5World struct {
	t       *testing.T
	plan    *upgrade.Plan
	mu      sync.Mutex
	applied map[upgrade.StepID]bool
	after   map[upgrade.StepID]map[upgrade.StepID]bool
	fail    map[upgrade.StepID]bool
	unroll  map[upgrade.StepID]bool
	failed  map[upgrade.StepID]bool
	// badVerify fails the Verify of a step carried out.
	badVerify map[upgrade.StepID]bool
}

func (w *h5World) Execute(ctx context.Context, s upgrade.Step) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.plan.Prerequisites(s.ID) {
		assert.True(w.t, w.applied[a], "%s runs before %s is carried out", s.ID, a)
	}
	if w.applied[s.ID] && !w.failed[s.ID] {
		assert.True(w.t, upgrade.InDoubt(ctx), "%s carried out runs again, not in doubt", s.ID)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if w.fail[s.ID] {
		// A failed step is offered again, not in doubt, even when an
		// earlier attempt carried it out (see the report).
		w.failed[s.ID] = true
		return upgrade.Permanent(errors.New("boom"))
	}
	w.applied[s.ID], w.failed[s.ID] = true, false
	return nil
}

func (w *h5World) Verify(ctx context.Context, s upgrade.Step) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.True(w.t, w.applied[s.ID], "%s verified, not carried out", s.ID)
	if w.badVerify[s.ID] {
		w.failed[s.ID] = true
		return errors.New("unhealthy")
	}
	return nil
}

func (w *h5World) Rollback(ctx context.Context, s upgrade.Step) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, set := range w.after {
		if set[s.ID] {
			assert.False(w.t, w.applied[id], "%s undone while %s after it is carried out", s.ID, id)
		}
	}
	if w.unroll[s.ID] {
		return errors.New("cannot undo")
	}
	w.applied[s.ID] = false
	return nil
}

// TestHunt5RandomResume runs random plans several times with one journal,
// each run stopped, cancelled or failing at random, some rolled back, and
// then once with nothing going wrong, which must finish the plan.
func TestHunt5RandomResume(t *testing.T) {
	for seed := uint64(1); seed <= 120; seed++ {
		plan := huntPlan(seed)
		rng := rand.New(rand.NewPCG(seed, 5))
		w := &h5World{t: t, plan: plan, applied: map[upgrade.StepID]bool{}, failed: map[upgrade.StepID]bool{}, after: huntAfter(plan)}
		j := &h5Journal{}
		for run := 0; run < 5; run++ {
			w.mu.Lock()
			w.fail, w.unroll, w.badVerify = map[upgrade.StepID]bool{}, map[upgrade.StepID]bool{}, map[upgrade.StepID]bool{}
			for _, s := range plan.Steps {
				if rng.IntN(12) == 0 {
					w.badVerify[s.ID] = true
				}
				if rng.IntN(8) == 0 {
					w.fail[s.ID] = true
				}
				if rng.IntN(10) == 0 {
					w.unroll[s.ID] = true
				}
			}
			w.mu.Unlock()
			ctx, cancel := context.WithCancel(t.Context())
			stop := make(chan struct{})
			mode, at := rng.IntN(3), rng.IntN(2*len(plan.Steps)+1)
			seen := 0
			var ev h5Events
			opts := []upgrade.RunOption{upgrade.WithJournal(j), upgrade.WithConcurrency(1 + rng.IntN(4)), upgrade.WithStop(stop),
				upgrade.WithFailurePolicy(upgrade.FailurePolicy(rng.IntN(2))),
				upgrade.WithEvents(func(e upgrade.Event) {
					ev.add(e)
					if seen++; seen == at {
						switch mode {
						case 0:
							close(stop)
						case 1:
							cancel()
						}
					}
				})}
			if rng.IntN(2) == 0 {
				opts = append(opts, upgrade.WithRollback())
			}
			if rng.IntN(3) == 0 {
				opts = append(opts, upgrade.WithRetry(2, 0, 0))
			}
			rep, _ := upgrade.Run(ctx, plan, w, opts...)
			cancel()
			ev.check(t)
			for _, o := range rep.Outcomes {
				switch o.State {
				case upgrade.Succeeded:
					assert.True(t, w.applied[o.Step], "seed %d run %d: %s succeeded, not carried out", seed, run, o.Step)
				case upgrade.RolledBack:
					assert.False(t, w.applied[o.Step], "seed %d run %d: %s rolled back, carried out", seed, run, o.Step)
				}
			}
			if t.Failed() {
				for _, r := range j.records {
					t.Logf("%s %s", r.Kind, r.Step)
				}
				for _, e := range ev.events {
					t.Logf("ev %v %s %v", e.Kind, e.Step.ID, e.Err)
				}
				t.Fatalf("seed %d run %d", seed, run)
			}
		}
		w.mu.Lock()
		w.fail, w.unroll, w.badVerify = nil, nil, nil
		w.mu.Unlock()
		rep, err := upgrade.Run(t.Context(), plan, w, upgrade.WithJournal(j), upgrade.WithConcurrency(3))
		require.NoError(t, err, "seed %d", seed)
		assert.Equal(t, len(plan.Steps), rep.Count(upgrade.Succeeded), "seed %d", seed)
		for _, s := range plan.Steps {
			assert.True(t, w.applied[s.ID], "seed %d: %s", seed, s.ID)
		}
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

// TestHunt5StaleCheckRolledBackAfterInDoubt: node db goes 12 → 13 → 14
// in two steps. An earlier run did both, the topology learnt 14, then its
// rollback undid the second (the topology had not learnt that yet) and
// failed undoing the first. The node may be at the To of a step the
// journal records as rolled back, as WithStaleCheck says, but the check
// stopped at the step in doubt before it and refused the plan as stale.
func TestHunt5StaleCheckRolledBackAfterInDoubt(t *testing.T) {
	plan := &upgrade.Plan{ID: "h5-pg", Steps: []upgrade.Step{
		{ID: "platform/db@13", Kind: upgrade.Platform, App: "infra", Node: "db", Template: "pg", Type: "postgres", From: v("12"), To: v("13")},
		{ID: "platform/db@14", Kind: upgrade.Platform, App: "infra", Node: "db", Template: "pg", Type: "postgres", From: v("13"), To: v("14"),
			After: []upgrade.StepID{"platform/db@13"}},
	}}
	rec := func(k upgrade.RecordKind, id upgrade.StepID) upgrade.Record { return upgrade.Record{Kind: k, Step: id} }
	for _, tt := range []struct {
		name    string
		journal []upgrade.Record
	}{
		{"undo of the first failed", []upgrade.Record{
			rec(upgrade.RecordStarted, "platform/db@13"), rec(upgrade.RecordSucceeded, "platform/db@13"),
			rec(upgrade.RecordStarted, "platform/db@14"), rec(upgrade.RecordSucceeded, "platform/db@14"),
			rec(upgrade.RecordRollingBack, "platform/db@14"), rec(upgrade.RecordRolledBack, "platform/db@14"),
			rec(upgrade.RecordRollingBack, "platform/db@13")}},
		{"first failed again since", []upgrade.Record{
			rec(upgrade.RecordStarted, "platform/db@13"), rec(upgrade.RecordSucceeded, "platform/db@13"),
			rec(upgrade.RecordStarted, "platform/db@14"), rec(upgrade.RecordSucceeded, "platform/db@14"),
			rec(upgrade.RecordRollingBack, "platform/db@14"), rec(upgrade.RecordRolledBack, "platform/db@14"),
			rec(upgrade.RecordRollingBack, "platform/db@13"),
			rec(upgrade.RecordStarted, "platform/db@13"), rec(upgrade.RecordFailed, "platform/db@13")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topo := build(t, new(topology.Builder).
				Template("infra", topology.Template{ID: "pg", Type: "postgres", Version: v("12")}).
				Node("infra", topology.Node{ID: "db", Template: "pg", Version: v("14")}))
			j := &h5Journal{records: tt.journal}
			exec := new(upgradetest.Executor)
			rep, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(j), upgrade.WithStaleCheck(topo))
			require.NoError(t, err)
			assert.Equal(t, 2, rep.Count(upgrade.Succeeded))
			assert.Equal(t, []upgrade.StepID{"platform/db@13", "platform/db@14"}, exec.Started())
		})
	}
	// A version no step gives is still stale.
	topo := build(t, new(topology.Builder).
		Template("infra", topology.Template{ID: "pg", Type: "postgres", Version: v("12")}).
		Node("infra", topology.Node{ID: "db", Template: "pg", Version: v("15")}))
	j := &h5Journal{records: []upgrade.Record{
		rec(upgrade.RecordSucceeded, "platform/db@13"), rec(upgrade.RecordSucceeded, "platform/db@14"),
		rec(upgrade.RecordRolledBack, "platform/db@14"), rec(upgrade.RecordRollingBack, "platform/db@13")}}
	_, err := upgrade.Run(t.Context(), plan, new(upgradetest.Executor), upgrade.WithJournal(j), upgrade.WithStaleCheck(topo))
	var se *upgrade.StaleError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, upgrade.StaleError{Node: "db", Step: "platform/db@13", Expected: "12, 13 or 14", Actual: "15"}, *se)
}
