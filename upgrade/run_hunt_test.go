package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
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

// huntPlan returns a random plan of steps and barriers, each after up to
// three earlier ones, steps listed in a shuffled order.
func huntPlan(seed uint64) *upgrade.Plan {
	rng := rand.New(rand.NewPCG(seed, 0xb4))
	n := 1 + rng.IntN(40)
	m := rng.IntN(8)
	p := &upgrade.Plan{ID: fmt.Sprintf("sha256:hunt-%d", seed)}
	var made []upgrade.StepID
	for len(p.Steps) < n || len(p.Barriers) < m {
		barrier := len(made) > 0 && len(p.Barriers) < m && (len(p.Steps) == n || rng.IntN(4) == 0)
		var after []upgrade.StepID
		k := rng.IntN(min(len(made), 3) + 1)
		if barrier {
			k = max(k, 1)
		}
		for range k {
			a := made[rng.IntN(len(made))]
			if !slices.Contains(after, a) {
				after = append(after, a)
			}
		}
		slices.Sort(after)
		if barrier {
			id := upgrade.StepID(fmt.Sprintf("b%02d", len(p.Barriers)))
			p.Barriers = append(p.Barriers, upgrade.Barrier{ID: id, After: after})
			made = append(made, id)
		} else {
			id := upgrade.StepID(fmt.Sprintf("s%02d", len(p.Steps)))
			p.Steps = append(p.Steps, upgrade.Step{ID: id, Node: topology.NodeID("node-" + id), After: after})
			made = append(made, id)
		}
	}
	rng.Shuffle(n, func(i, j int) { p.Steps[i], p.Steps[j] = p.Steps[j], p.Steps[i] })
	slices.SortFunc(p.Barriers, func(a, b upgrade.Barrier) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return p
}

// huntAfter returns, for every step, the steps it comes after, directly
// or not, through barriers.
func huntAfter(p *upgrade.Plan) map[upgrade.StepID]map[upgrade.StepID]bool {
	out := map[upgrade.StepID]map[upgrade.StepID]bool{}
	var walk func(id upgrade.StepID) map[upgrade.StepID]bool
	walk = func(id upgrade.StepID) map[upgrade.StepID]bool {
		if got, ok := out[id]; ok {
			return got
		}
		set := map[upgrade.StepID]bool{}
		for _, a := range p.Prerequisites(id) {
			set[a] = true
			for b := range walk(a) {
				set[b] = true
			}
		}
		out[id] = set
		return set
	}
	for _, s := range p.Steps {
		walk(s.ID)
	}
	return out
}

// huntExec checks, as each call begins, that the step's prerequisites
// have all succeeded (by the run's own events) and counts the host calls
// under way; it fails steps as told.
type huntExec struct {
	t         *testing.T
	plan      *upgrade.Plan
	mu        sync.Mutex
	succeeded map[upgrade.StepID]bool // by StepSucceeded events
	executed  map[upgrade.StepID]int
	rolled    []upgrade.StepID
	in, peak  atomic.Int32
	fail      map[upgrade.StepID]int // attempts that fail; -1: all
	verify    map[upgrade.StepID]bool
}

func (e *huntExec) enter() {
	n := e.in.Add(1)
	for {
		p := e.peak.Load()
		if n <= p || e.peak.CompareAndSwap(p, n) {
			break
		}
	}
	runtime.Gosched()
}

func (e *huntExec) Execute(ctx context.Context, s upgrade.Step) error {
	e.enter()
	defer e.in.Add(-1)
	e.mu.Lock()
	for _, a := range e.plan.Prerequisites(s.ID) {
		assert.True(e.t, e.succeeded[a], "%s started before %s succeeded", s.ID, a)
	}
	e.executed[s.ID]++
	n := e.executed[s.ID]
	f := e.fail[s.ID]
	e.mu.Unlock()
	runtime.Gosched()
	if f < 0 {
		return upgrade.Permanent(fmt.Errorf("boom at %s", s.ID))
	}
	if n <= f {
		return fmt.Errorf("flaky %s, attempt %d", s.ID, n)
	}
	return nil
}

func (e *huntExec) Verify(ctx context.Context, s upgrade.Step) error {
	e.enter()
	defer e.in.Add(-1)
	if e.verify[s.ID] {
		return errors.New("unhealthy")
	}
	return nil
}

func (e *huntExec) Rollback(ctx context.Context, s upgrade.Step) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rolled = append(e.rolled, s.ID)
	return nil
}

func (e *huntExec) event(ev upgrade.Event) {
	if ev.Kind == upgrade.StepSucceeded {
		e.mu.Lock()
		e.succeeded[ev.Step.ID] = true
		e.mu.Unlock()
	}
}

// TestHuntRandomPlansWithBarriers runs random plans with barriers, at
// random concurrency and policy, with permanent, transient and verify
// failures and sometimes rollback, the host's code called in each of the
// ways Run has (watched, with a step timeout, waited for), and checks that no step starts before
// its prerequisites (through barriers) succeeded by the run's own events,
// that no more host calls (Execute and Verify) run at once than the
// limit, that exactly the steps after a failure are skipped and never
// run, that independent steps go on under ContinueIndependent, that Done
// never decreases and ends at the steps finished, and that the rollback
// undoes the steps carried out, last completed first.
func TestHuntRandomPlansWithBarriers(t *testing.T) {
	for seed := uint64(1); seed <= 150; seed++ {
		plan := huntPlan(seed)
		rng := rand.New(rand.NewPCG(seed, 7))
		conc := 1 + rng.IntN(5)
		policy := upgrade.FailurePolicy(rng.IntN(2))
		rollback := rng.IntN(3) == 0
		exec := &huntExec{t: t, plan: plan, succeeded: map[upgrade.StepID]bool{}, executed: map[upgrade.StepID]int{},
			fail: map[upgrade.StepID]int{}, verify: map[upgrade.StepID]bool{}}
		for _, s := range plan.Steps {
			switch rng.IntN(12) {
			case 0:
				exec.fail[s.ID] = -1
			case 1:
				exec.fail[s.ID] = 1 + rng.IntN(3) // 3 fails all attempts
			case 2:
				exec.verify[s.ID] = true
			}
		}
		msg := fmt.Sprintf("seed %d: %d steps, %d barriers, concurrency %d, policy %d, rollback %t",
			seed, len(plan.Steps), len(plan.Barriers), conc, policy, rollback)
		var events []upgrade.Event
		opts := []upgrade.RunOption{upgrade.WithConcurrency(conc), upgrade.WithFailurePolicy(policy),
			upgrade.WithRetry(3, 0, 0), upgrade.WithEvents(func(e upgrade.Event) {
				events = append(events, e)
				exec.event(e)
			})}
		if rollback {
			opts = append(opts, upgrade.WithRollback())
		}
		switch rng.IntN(3) { // each way Run calls the host's code
		case 1:
			opts = append(opts, upgrade.WithStepTimeout(time.Hour))
		case 2:
			opts = append(opts, upgrade.WithGracePeriod(0))
		}
		report, err := upgrade.Run(context.Background(), plan, exec, opts...)
		rnCheckReport(t, plan, report, msg)
		assert.LessOrEqual(t, int(exec.peak.Load()), conc, msg)

		after := huntAfter(plan)
		st := states(report)
		failed := map[upgrade.StepID]bool{}
		var completed []upgrade.StepID
		for _, e := range events {
			switch e.Kind {
			case upgrade.StepFailed:
				failed[e.Step.ID] = true
				completed = append(completed, e.Step.ID)
			case upgrade.StepSucceeded:
				completed = append(completed, e.Step.ID)
			}
		}
		if len(failed) == 0 {
			assert.NoError(t, err, msg)
			assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded), msg)
		} else {
			assert.ErrorIs(t, err, upgrade.ErrStepFailed, msg)
		}
		for _, s := range plan.Steps {
			behindFailure := false
			for a := range after[s.ID] {
				if failed[a] {
					behindFailure = true
				}
			}
			switch {
			case behindFailure:
				assert.Equal(t, upgrade.Skipped, st[s.ID], "%s: %s comes after a failed step", msg, s.ID)
				assert.Zero(t, exec.executed[s.ID], "%s: %s ran after a failed step", msg, s.ID)
			case policy == upgrade.ContinueIndependent && !failed[s.ID]:
				want := upgrade.Succeeded
				if rollback && len(failed) > 0 {
					want = upgrade.RolledBack
				}
				assert.Equal(t, want, st[s.ID], "%s: %s is independent of every failure", msg, s.ID)
			}
			if st[s.ID] == upgrade.NotStarted {
				assert.Zero(t, exec.executed[s.ID], msg)
			}
		}
		// Events: Done never decreases, Total is the number of steps.
		done := 0
		for _, e := range events {
			assert.GreaterOrEqual(t, e.Done, done, msg)
			done = e.Done
			assert.Equal(t, len(plan.Steps), e.Total, msg)
		}
		assert.Equal(t, len(plan.Steps)-report.Count(upgrade.NotStarted), done, msg)
		if rollback && len(failed) > 0 {
			assert.Equal(t, rnReversed(completed), exec.rolled, msg)
		} else {
			assert.Empty(t, exec.rolled, msg)
		}
		if t.Failed() {
			return
		}
	}
}

// The run's logger says what the rollback did, as it says what the steps
// did: each step undone, and each not, with why.
func TestHuntLoggerRollback(t *testing.T) {
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a", Node: "node-a"}, {ID: "b", Node: "node-b", After: []upgrade.StepID{"a"}},
		{ID: "c", Node: "node-c", After: []upgrade.StepID{"b"}},
	}}
	var buf bytes.Buffer
	logger := timelessLogger(&buf)
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

// A FileJournal takes records only once Begin has tied it to a plan:
// before, an Append wrote over the header and the first records; after a
// refused Begin, into another plan's journal.
func TestHuntFileJournalAppendBeforeBegin(t *testing.T) {
	path := jrPath(t)
	jrSeed(t, path, "sha256:p", jrRec(upgrade.RecordSucceeded, "a"))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	j := jrOpen(t, path)
	require.ErrorContains(t, j.Append(context.Background(), jrRec(upgrade.RecordStarted, "b")), "Append before a Begin")
	_, err = j.Begin(context.Background(), "sha256:other")
	require.ErrorIs(t, err, upgrade.ErrPlanMismatch)
	require.Error(t, j.Append(context.Background(), jrRec(upgrade.RecordStarted, "b")), "refused after a refused Begin")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the journal is unchanged")

	got, err := j.Begin(context.Background(), "sha256:p")
	require.NoError(t, err)
	assert.Equal(t, []string{"succeeded a"}, jrSteps(got))
	require.NoError(t, j.Append(context.Background(), jrRec(upgrade.RecordStarted, "b")))
	require.NoError(t, j.Close())
	assert.Equal(t, []string{"succeeded a", "started b"}, jrSteps(huntRecords(t, path, "sha256:p")))
}

func huntRecords(t *testing.T, path, plan string) []upgrade.Record {
	t.Helper()
	j := jrOpen(t, path)
	defer j.Close()
	recs, err := j.Begin(context.Background(), plan)
	require.NoError(t, err)
	return recs
}

// A node whose steps an earlier run rolled back may still be at their To
// in the topology, which may not have learnt of the rollback yet (a
// crash between the journal's record and that write), as it may not have
// learnt of a step done: a resumed run checks against the topology as it
// is, rather than refusing and sending the operator to plan again from a
// topology that says the node is where it is not.
func TestHuntStaleCheckAfterRollback(t *testing.T) {
	plan := shopPlan(t, 2)
	s := ids(plan) // java-1, java-2, tomcat-1, tomcat-2, shop-1, shop-2
	journal := []upgrade.Record{
		jrRec(upgrade.RecordStarted, s[0]), jrRec(upgrade.RecordSucceeded, s[0]),
		jrRec(upgrade.RecordStarted, s[2]), jrRec(upgrade.RecordFailed, s[2]),
		jrRec(upgrade.RecordRollingBack, s[2]), jrRec(upgrade.RecordRolledBack, s[2]),
		jrRec(upgrade.RecordRollingBack, s[0]), jrRec(upgrade.RecordRolledBack, s[0]),
	}
	for _, tt := range []struct {
		name     string
		versions map[topology.NodeID]string
		stale    *upgrade.StaleError // nil: passes
	}{
		{name: "rollback learnt", versions: nil},
		{name: "rollback not learnt yet", versions: map[topology.NodeID]string{"java-1": "21.0.2"}},
		{name: "rollbacks of two nodes not learnt yet", versions: map[topology.NodeID]string{"java-1": "21.0.2", "tomcat-1": "10.1.34"}},
		{name: "at neither end", versions: map[topology.NodeID]string{"java-1": "17.0.10"},
			stale: &upgrade.StaleError{Node: "java-1", Step: s[0], Expected: "8.0.402 or 21.0.2", Actual: "17.0.10"}},
		{name: "a node never touched, new", versions: map[topology.NodeID]string{"java-2": "21.0.2"},
			stale: &upgrade.StaleError{Node: "java-2", Step: s[1], Expected: "8.0.402", Actual: "21.0.2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := jrPath(t)
			jrSeed(t, path, plan.ID, journal...)
			ex := &jrRecorder{}
			report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(jrOpen(t, path)),
				upgrade.WithStaleCheck(pfTopo(t, 2, tt.versions)))
			if tt.stale == nil {
				require.NoError(t, err)
				assert.Equal(t, s, ex.ran, "every step runs again, the rolled back ones too")
				assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
				return
			}
			var se *upgrade.StaleError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.stale, se)
			assert.Empty(t, ex.ran)
		})
	}
}
