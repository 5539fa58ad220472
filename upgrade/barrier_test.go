package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
	"github.com/stackup/stackup/version"
)

// Tests of barriers, which Plan.Roll puts between batches. Helpers are
// prefixed "br".

// brWaves returns the application steps of p in batches of the given
// sizes, by node ID, as Roll cuts them.
func brWaves(p *upgrade.Plan, sizes ...int) [][]upgrade.StepID {
	var app []upgrade.Step
	for _, s := range p.Steps {
		if s.Kind == upgrade.Application {
			app = append(app, s)
		}
	}
	slices.SortFunc(app, func(a, b upgrade.Step) int { return strings.Compare(string(a.Node), string(b.Node)) })
	var waves [][]upgrade.StepID
	for _, n := range sizes {
		var w []upgrade.StepID
		for _, s := range app[:n] {
			w = append(w, s.ID)
		}
		slices.Sort(w)
		waves = append(waves, w)
		app = app[n:]
	}
	if len(app) > 0 {
		panic(fmt.Sprintf("%d application steps in no batch", len(app)))
	}
	return waves
}

// brRolled is ten shop instances in batches of 2 (canaries), 3, 3 and 2:
// three barriers.
func brRolled(t *testing.T) (*upgrade.Plan, [][]upgrade.StepID) {
	t.Helper()
	rolled, err := shopPlan(t, 10).Roll(upgrade.Rolling{Canaries: 2, MaxInFlight: "3"})
	require.NoError(t, err)
	require.Len(t, rolled.Barriers, 3)
	requireTopological(t, rolled)
	return rolled, brWaves(rolled, 2, 3, 3, 2)
}

// TestRollBatchesRunInWaves checks, with every step held until the test
// lets it finish, that each batch starts whole, and only once the batch
// before it has finished: the barriers neither let a step through early
// nor serialise a batch.
func TestRollBatchesRunInWaves(t *testing.T) {
	rolled, waves := brRolled(t)
	app := map[upgrade.StepID]bool{}
	for _, w := range waves {
		for _, id := range w {
			app[id] = true
		}
	}
	synctest.Test(t, func(t *testing.T) {
		exec := newGated(rolled)
		done := stRun(t.Context(), rolled, exec, upgrade.WithConcurrency(100))
		var inFlight [][]upgrade.StepID // the application steps running at each pause
		released := 0
		for {
			synctest.Wait()
			started := exec.Started()
			if len(started) == released {
				break
			}
			var now []upgrade.StepID
			for _, id := range started[released:] {
				if app[id] {
					now = append(now, id)
				}
				exec.release(id)
			}
			released = len(started)
			if len(now) > 0 {
				slices.Sort(now)
				inFlight = append(inFlight, now)
			}
		}
		res := <-done
		require.NoError(t, res.err)
		assert.Equal(t, len(rolled.Steps), res.report.Count(upgrade.Succeeded))
		assert.Equal(t, waves, inFlight)
	})
}

func TestRollFailureSkipsLaterBatches(t *testing.T) {
	rolled, waves := brRolled(t)
	bad := waves[1][1]
	for name, policy := range map[string]upgrade.FailurePolicy{"fail fast": upgrade.FailFast, "continue independent": upgrade.ContinueIndependent} {
		t.Run(name, func(t *testing.T) {
			exec := new(upgradetest.Executor)
			exec.FailAt(bad, errors.New("unhealthy"))
			report, err := upgrade.Run(context.Background(), rolled, exec,
				upgrade.WithConcurrency(4), upgrade.WithFailurePolicy(policy))
			require.ErrorIs(t, err, upgrade.ErrStepFailed)
			assert.ErrorContains(t, err, string(bad))
			got := states(report)
			for _, w := range waves[2:] {
				for _, id := range w {
					assert.Contains(t, []upgrade.State{upgrade.Skipped, upgrade.NotStarted}, got[id], id)
					assert.Zero(t, exec.Calls(id), "%s ran after a failed batch", id)
				}
			}
			if policy == upgrade.ContinueIndependent {
				for _, w := range waves[2:] {
					for _, id := range w {
						assert.Equal(t, upgrade.Skipped, got[id], id)
					}
				}
				for _, id := range waves[1] {
					if id != bad {
						assert.Equal(t, upgrade.Succeeded, got[id], "%s is in the failed step's batch, not after it", id)
					}
				}
			}
			var total int
			for _, n := range []upgrade.State{upgrade.Succeeded, upgrade.Failed, upgrade.Skipped, upgrade.NotStarted} {
				total += report.Count(n)
			}
			assert.Equal(t, len(rolled.Steps), total, "the report has steps only, no barriers")
		})
	}
}

// TestRollResumesThroughBarriers stops a run in its second batch and
// resumes it from the journal: the batches that succeeded are not run
// again, and the barrier after them counts as passed.
func TestRollResumesThroughBarriers(t *testing.T) {
	rolled, waves := brRolled(t)
	path := filepath.Join(t.TempDir(), "run.journal")
	bad := waves[1][2]

	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	first := new(upgradetest.Executor)
	first.FailAt(bad, errors.New("flaky"))
	_, err = upgrade.Run(context.Background(), rolled, first, upgrade.WithJournal(j), upgrade.WithConcurrency(1))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	require.NoError(t, j.Close())

	j, err = upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	second := new(upgradetest.Executor)
	report, err := upgrade.Run(context.Background(), rolled, second, upgrade.WithJournal(j), upgrade.WithConcurrency(4))
	require.NoError(t, err)
	assert.Equal(t, len(rolled.Steps), report.Count(upgrade.Succeeded))
	for _, id := range first.Finished() {
		if id != bad {
			assert.Zero(t, second.Calls(id), "%s ran again", id)
		}
	}
	assert.Equal(t, 1, second.Calls(bad))
	for _, w := range waves[2:] {
		for _, id := range w {
			assert.Equal(t, 1, second.Calls(id), id)
		}
	}
}

// TestRollRollbackKeepsBatchesBeneathAStep fails the third batch and the
// rollback of one step of the second: the rest of the second batch is
// undone, but the first batch stays, as steps after it (through the
// barrier) are still in place, and the error names one.
func TestRollRollbackKeepsBatchesBeneathAStep(t *testing.T) {
	rolled, waves := brRolled(t)
	exec := new(upgradetest.Executor)
	exec.FailAt(waves[2][0], errors.New("unhealthy"))
	stuck := waves[1][1]
	exec.FailRollback(stuck, errors.New("cannot undo"))
	report, err := upgrade.Run(context.Background(), rolled, exec, upgrade.WithRollback(), upgrade.WithConcurrency(1))
	require.ErrorIs(t, err, upgrade.ErrRollback)
	got := states(report)
	assert.Equal(t, upgrade.RolledBack, got[waves[2][0]])
	for _, id := range waves[1] {
		if id == stuck {
			assert.Equal(t, upgrade.Succeeded, got[id], "its rollback failed")
		} else {
			assert.Equal(t, upgrade.RolledBack, got[id], id)
		}
	}
	for _, id := range waves[0] {
		assert.Equal(t, upgrade.Succeeded, got[id], "%s is kept: %s after it is in place", id, stuck)
		// What is after it through the barrier: the stuck step, or the
		// platform beneath the stuck step, which waits for the barrier too.
		assert.Regexp(t, regexp.QuoteMeta("step "+string(id)+" on node ")+`"[^"]*": step \S+ after it is still in place`, err.Error())
	}
	assert.NotContains(t, exec.RolledBack(), waves[0][0])

	// Without the stuck step, everything is undone, barriers and all.
	exec = new(upgradetest.Executor)
	exec.FailAt(waves[2][0], errors.New("unhealthy"))
	report, err = upgrade.Run(context.Background(), rolled, exec, upgrade.WithRollback(), upgrade.WithConcurrency(3))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	require.NotErrorIs(t, err, upgrade.ErrRollback)
	for _, o := range report.Outcomes {
		assert.Contains(t, []upgrade.State{upgrade.RolledBack, upgrade.Skipped, upgrade.NotStarted}, o.State, o.Step)
	}
}

// TestRollGrowsLinearly rolls many instances in two halves and in batches
// of ten: the plan holds a number of After entries in proportion to its
// steps, where an edge per pair of consecutive batches would need
// instances²/4.
func TestRollGrowsLinearly(t *testing.T) {
	plan := shopPlan(t, 2000)
	for _, r := range []upgrade.Rolling{{Canaries: 1, MaxInFlight: "50%"}, {MaxInFlight: "10"}, {Canaries: 100, MaxInFlight: "25%"}} {
		rolled, err := plan.Roll(r)
		require.NoError(t, err)
		requireTopological(t, rolled)
		edges := 0
		for _, s := range rolled.Steps {
			edges += len(s.After)
		}
		for _, b := range rolled.Barriers {
			edges += len(b.After)
		}
		assert.LessOrEqual(t, edges, 3*len(rolled.Steps), "%+v", r)
	}
}

func TestRolledGolden(t *testing.T) {
	rolled, err := shopPlan(t, 6).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	require.Len(t, rolled.Barriers, 1, "batches of 1, 2, 2, 1: one barrier, between the batches of 2")
	var text, js, mermaid, dot strings.Builder
	require.NoError(t, rolled.WriteText(&text))
	require.NoError(t, rolled.WriteJSON(&js))
	require.NoError(t, rolled.WriteMermaid(&mermaid))
	require.NoError(t, rolled.WriteDOT(&dot))
	golden(t, "rolled.txt", []byte(text.String()))
	golden(t, "rolled.json", []byte(js.String()))
	golden(t, "rolled.mmd", []byte(mermaid.String()))
	golden(t, "rolled.dot", []byte(dot.String()))

	back, err := upgrade.ReadJSON(strings.NewReader(js.String()))
	require.NoError(t, err)
	assert.Equal(t, rolled.ID, back.ID)
	assert.Equal(t, rolled.Barriers, back.Barriers)
	var again bytes.Buffer
	require.NoError(t, back.WriteJSON(&again))
	assert.Equal(t, js.String(), again.String())
}

func TestPrerequisites(t *testing.T) {
	rolled, waves := brRolled(t)
	for w := 1; w < len(waves); w++ {
		for _, id := range waves[w] {
			var app []upgrade.StepID
			for _, p := range rolled.Prerequisites(id) {
				if strings.HasPrefix(string(p), "app/") {
					app = append(app, p)
				}
			}
			assert.Equal(t, waves[w-1], app, id)
		}
	}
	assert.Nil(t, rolled.Prerequisites("no/such@1"))
	assert.Nil(t, rolled.Prerequisites(rolled.Barriers[0].ID), "a barrier is not a step")
}

// TestRollTwiceRefused rolls a rolled plan: refused, naming the batches,
// rather than a plan with two sets of batches.
func TestRollTwiceRefused(t *testing.T) {
	rolled, _ := brRolled(t)
	again, err := rolled.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "5"})
	require.ErrorIs(t, err, upgrade.ErrInvalidRolling)
	assert.Nil(t, again)
	assert.ErrorContains(t, err, "the instances of shop_app in shop are rolled already (barrier batch/shop/shop_app/2)")
}

// TestRollPlanWithStepsOfNoKind rolls a plan made by hand whose steps
// leave Kind unset, as the runner's own benchmarks do: Roll keeps every
// step, in order, rather than take them for barriers and panic.
func TestRollPlanWithStepsOfNoKind(t *testing.T) {
	p := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a", Node: "n-1"},
		{ID: "b", Node: "n-2", After: []upgrade.StepID{"a"}},
		{ID: "c", Kind: upgrade.Application, App: "shop", Node: "shop-1", Template: "shop_app"},
		{ID: "d", Kind: upgrade.Application, App: "shop", Node: "shop-2", Template: "shop_app"},
	}}
	out, err := p.Roll(upgrade.Rolling{Canaries: 1})
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"a", "b", "c", "d"}, ids(out))
	requireTopological(t, out)
	assert.Equal(t, []upgrade.StepID{"c"}, out.Prerequisites("d"))
}

// TestRunDeepBarrierChain runs a plan whose steps are joined by a long
// chain of barriers, each after the one before, as a hand-made plan or a
// plan file can hold (ReadJSON takes millions of them): passing the
// chain, skipping through it and undoing through it take no stack in
// proportion to its length, where a process's stack is bounded (1 GB by
// default; less here, so that the test stays small) and overflowing it
// is fatal.
func TestRunDeepBarrierChain(t *testing.T) {
	const n = 200_000
	plan := &upgrade.Plan{ID: "deep", Steps: []upgrade.Step{
		{ID: "first", Node: "n1"},
		{ID: "last", Node: "n2", After: []upgrade.StepID{upgrade.StepID(fmt.Sprintf("b%06d", n-1))}},
		{ID: "after", Node: "n3", After: []upgrade.StepID{"last"}},
	}}
	for i := range n {
		prev := upgrade.StepID("first")
		if i > 0 {
			prev = upgrade.StepID(fmt.Sprintf("b%06d", i-1))
		}
		plan.Barriers = append(plan.Barriers, upgrade.Barrier{ID: upgrade.StepID(fmt.Sprintf("b%06d", i)), After: []upgrade.StepID{prev}})
	}
	defer debug.SetMaxStack(debug.SetMaxStack(8 << 20))

	// Passed, then undone through the chain once "after" fails.
	exec := new(upgradetest.Executor)
	exec.FailAt("after", errors.New("unhealthy"))
	report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRollback())
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	require.NotErrorIs(t, err, upgrade.ErrRollback)
	assert.Equal(t, []upgrade.StepID{"first", "last", "after"}, exec.Started())
	assert.Equal(t, []upgrade.StepID{"after", "last", "first"}, exec.RolledBack())
	assert.Equal(t, 3, report.Count(upgrade.RolledBack))

	// Skipped through the chain once "first" fails.
	exec = new(upgradetest.Executor)
	exec.FailAt("first", errors.New("disk full"))
	report, err = upgrade.Run(context.Background(), plan, exec)
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.Equal(t, []upgrade.StepID{"first"}, exec.Started())
	assert.Equal(t, 2, report.Count(upgrade.Skipped))

	assert.Equal(t, []upgrade.StepID{"first"}, plan.Prerequisites("last"))
}

// TestRollBarrierIDsOfLookAlikeGroups: IDs may hold "/", so application
// "a/b" with template "c" and application "a" with template "b/c" would
// name their barriers alike; Roll refused such a plan as having a
// duplicate step ID. The later group's barriers now get a suffix, and
// each group waits for its own batches only.
func TestRollBarrierIDsOfLookAlikeGroups(t *testing.T) {
	p := &upgrade.Plan{}
	groups := []struct{ app, template string }{{"a", "b/c"}, {"a/b", "c"}}
	for _, g := range groups {
		for i := range 4 {
			node := fmt.Sprintf("%s-%s-%d", g.app, g.template, i)
			p.Steps = append(p.Steps, upgrade.Step{ID: upgrade.StepID("app/" + node + "@2.0.0"), Kind: upgrade.Application,
				App: topology.AppID(g.app), Template: topology.TemplateID(g.template), Node: topology.NodeID(node),
				From: version.MustParse("1.0.0"), To: version.MustParse("2.0.0")})
		}
	}
	rolled, err := p.Roll(upgrade.Rolling{MaxInFlight: "2"})
	require.NoError(t, err)
	var barriers []upgrade.StepID
	for _, b := range rolled.Barriers {
		barriers = append(barriers, b.ID)
	}
	assert.ElementsMatch(t, []upgrade.StepID{"batch/a/b/c/1", "batch/a/b/c/1+2"}, barriers)
	requireTopological(t, rolled)
	for _, g := range groups {
		var ids []upgrade.StepID
		for i := range 4 {
			ids = append(ids, upgrade.StepID(fmt.Sprintf("app/%s-%s-%d@2.0.0", g.app, g.template, i)))
		}
		for _, id := range ids[2:] {
			assert.Equal(t, ids[:2], rolled.Prerequisites(id), "the second batch of %s waits for the first only", id)
		}
	}
	_, err = rolled.Roll(upgrade.Rolling{MaxInFlight: "2"})
	assert.ErrorIs(t, err, upgrade.ErrInvalidRolling, "rolled already")
	report, err := upgrade.Run(t.Context(), rolled, &upgradetest.Executor{})
	require.NoError(t, err)
	assert.Len(t, report.Outcomes, 8)
}
