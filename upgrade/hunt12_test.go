package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// Tests of features used together, as a host program uses them across
// calls: plan, roll, run with a journal, crash, resume, plan again.
// Helpers are prefixed "h12".

// h12CheckEvents checks that the events of a run agree with its report:
// Done never goes back and counts the steps finished, Total is the plan's
// steps, every step starts only once its prerequisites have succeeded (in
// this run or, resumed, in an earlier one) and once, its attempts (the
// start, then each retry) are numbered from 1 and as many as the report
// says (a failed step's last retry announced may not have started), and
// its events say how it ended and whether it was undone, as its state
// does.
func h12CheckEvents(t *testing.T, plan *upgrade.Plan, report *upgrade.Report, events []upgrade.Event) {
	t.Helper()
	succeeded := map[upgrade.StepID]bool{}
	for _, o := range report.Outcomes {
		if o.Resumed {
			succeeded[o.Step] = true
		}
	}
	started := map[upgrade.StepID]int{} // attempts, by their events
	ended := map[upgrade.StepID]upgrade.EventKind{}
	undone := map[upgrade.StepID]upgrade.EventKind{}
	done := 0
	for k, e := range events {
		require.NotNil(t, e.Step, "event %d", k)
		id := e.Step.ID
		assert.Equal(t, len(plan.Steps), e.Total, "event %d (%s %s)", k, e.Kind, id)
		assert.GreaterOrEqual(t, e.Done, done, "event %d (%s %s): Done went back", k, e.Kind, id)
		done = e.Done
		switch e.Kind {
		case upgrade.StepStarted:
			assert.Zero(t, started[id], "%s started twice", id)
			assert.Equal(t, 1, e.Attempt, "first attempt of %s", id)
			started[id] = 1
			for _, p := range plan.Prerequisites(id) {
				assert.True(t, succeeded[p], "%s started before %s, which it comes after, succeeded", id, p)
			}
		case upgrade.StepRetrying:
			started[id]++
			assert.Equal(t, started[id], e.Attempt, "attempts of %s numbered in turn", id)
			assert.Error(t, e.Err, "why %s is retried", id)
		case upgrade.StepFailed:
			// A retry announced may not start: the run stopped or was
			// cancelled in its backoff.
			assert.Contains(t, []int{started[id], started[id] - 1}, e.Attempt, "failed attempt of %s", id)
			started[id] = e.Attempt
			assert.Error(t, e.Err, "why %s failed", id)
		case upgrade.StepSucceeded:
			succeeded[id] = true
		}
		switch e.Kind {
		case upgrade.StepSucceeded, upgrade.StepFailed, upgrade.StepSkipped:
			assert.Zero(t, ended[id], "%s ended twice", id)
			ended[id] = e.Kind
		case upgrade.StepRolledBack, upgrade.StepRollbackFailed:
			assert.Zero(t, undone[id], "%s undone twice", id)
			undone[id] = e.Kind
		}
	}
	finished := 0
	for _, o := range report.Outcomes {
		end := map[upgrade.State]upgrade.EventKind{upgrade.Succeeded: upgrade.StepSucceeded, upgrade.Failed: upgrade.StepFailed,
			upgrade.Skipped: upgrade.StepSkipped, upgrade.RolledBack: upgrade.StepSucceeded}[o.State]
		if o.State == upgrade.RolledBack && o.Err != nil {
			end = upgrade.StepFailed
		}
		if o.Resumed || o.State == upgrade.NotStarted {
			end = 0
		}
		assert.Equal(t, end, ended[o.Step], "how %s ended, %s", o.Step, o.State)
		switch o.State {
		case upgrade.RolledBack:
			assert.Equal(t, upgrade.StepRolledBack, undone[o.Step], "%s undone", o.Step)
		case upgrade.Succeeded, upgrade.Failed:
			assert.Contains(t, []upgrade.EventKind{0, upgrade.StepRollbackFailed}, undone[o.Step], "%s in place", o.Step)
		default:
			assert.Zero(t, undone[o.Step], "%s never ran", o.Step)
		}
		if o.State != upgrade.Skipped {
			assert.Equal(t, o.Attempts, started[o.Step], "attempts of %s", o.Step)
		}
		if o.State != upgrade.NotStarted {
			finished++
		}
	}
	if len(events) > 0 {
		assert.Equal(t, finished, events[len(events)-1].Done, "Done of the last event")
	}
}

// h12Kinds returns the steps of the events of the given kinds, in order.
func h12Kinds(events []upgrade.Event, kinds ...upgrade.EventKind) []upgrade.StepID {
	var out []upgrade.StepID
	for _, e := range events {
		if slices.Contains(kinds, e.Kind) {
			out = append(out, e.Step.ID)
		}
	}
	return out
}

// h12Succeeded returns the steps the report has succeeded, in plan order.
func h12Succeeded(report *upgrade.Report) []upgrade.StepID {
	var out []upgrade.StepID
	for _, o := range report.Outcomes {
		if o.State == upgrade.Succeeded {
			out = append(out, o.Step)
		}
	}
	return out
}

// h12NewTemplate is an executor's function that fails an application
// step that lacks its new template.
func h12NewTemplate(_ context.Context, s upgrade.Step) error {
	if s.Kind == upgrade.Application && (s.NewTemplate == nil || s.NewTemplate.Version != s.To) {
		return upgrade.Permanent(fmt.Errorf("step %s has no new template at %s", s.ID, s.To))
	}
	return nil
}

// h12Crash runs plan with a file journal at path and the options given
// until step crash starts; the run is then cancelled, as a crash would end
// it, with crash cut short. It returns the run's report. Its executor
// fails an application step that lacks its new template (h12NewTemplate).
func h12Crash(t *testing.T, plan *upgrade.Plan, path string, crash upgrade.StepID, opts ...upgrade.RunOption) *upgrade.Report {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	exec := &upgradetest.Executor{Func: func(ctx context.Context, s upgrade.Step) error {
		if s.ID == crash {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
		return h12NewTemplate(ctx, s)
	}}
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	report, err := upgrade.Run(ctx, plan, exec, append(opts, upgrade.WithJournal(j))...)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, j.Close())
	return report
}

// h12Resume runs plan again with the journal at path, a new executor
// (whose Func is h12NewTemplate), events and the options given; it checks
// that the run succeeds and that its events agree with its report.
func h12Resume(t *testing.T, plan *upgrade.Plan, path string, opts ...upgrade.RunOption) (*upgradetest.Executor, *upgrade.Report) {
	t.Helper()
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	exec := &upgradetest.Executor{Func: h12NewTemplate}
	var ev h5Events
	report, err := upgrade.Run(t.Context(), plan, exec, append(opts, upgrade.WithJournal(j), upgrade.WithEvents(ev.add))...)
	require.NoError(t, err)
	h12CheckEvents(t, plan, report, ev.events)
	return exec, report
}

// h12Rolled plans req on shopBuilder(5) from catalogue and rolls the plan:
// one canary, then batches of two (waves {1}, {2, 3}, {4, 5}).
func h12Rolled(t *testing.T, req upgrade.Request) *upgrade.Plan {
	t.Helper()
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(5)), catalogue(t)).Plan(t.Context(), req)
	require.NoError(t, err)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	return rolled
}

// TestHunt12RolledCrashResumeConverges: a rolled plan run with a file
// journal is cut short (the process "crashes": the context is cancelled)
// while a step of the second wave runs. The same plan run again with the
// same journal does only what is left, offers the step cut short in doubt,
// keeps the waves' order, and its events agree with its report. The
// topology as the steps left it then plans to nothing, rolled or not; and
// the topology as the first run left it plans to exactly the rest.
func TestHunt12RolledCrashResumeConverges(t *testing.T) {
	topo := build(t, shopBuilder(5))
	src := catalogue(t)
	plan, err := upgrade.NewPlanner(topo, src).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	require.NotEqual(t, plan.ID, rolled.ID)
	path := filepath.Join(t.TempDir(), "run.journal")

	crash := upgrade.StepID("app/shop-3@2.0.0") // second wave: shop-2, shop-3
	var ev1 h5Events
	report1 := h12Crash(t, rolled, path, crash, upgrade.WithConcurrency(2), upgrade.WithEvents(ev1.add))
	h12CheckEvents(t, rolled, report1, ev1.events)
	done1 := h12Succeeded(report1)
	require.NotContains(t, done1, crash)
	require.Contains(t, done1, upgrade.StepID("app/shop-1@2.0.0"), "the canary went through")

	// Planning again from where the first run left the topology gives the
	// rest, with the same IDs.
	mid := cvApply(t, topo, plan, done1)
	rest, err := upgrade.NewPlanner(mid, src).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	var left []upgrade.StepID
	for _, id := range ids(plan) {
		if !slices.Contains(done1, id) {
			left = append(left, id)
		}
	}
	assert.ElementsMatch(t, left, ids(rest), "the plan of what is left")

	exec2, report2 := h12Resume(t, rolled, path, upgrade.WithConcurrency(2))
	assert.Equal(t, []upgrade.StepID{crash}, exec2.InDoubt(), "the step cut short is offered in doubt")
	assert.ElementsMatch(t, left, exec2.Started(), "the resumed run does only what is left, once each")
	assert.Equal(t, len(rolled.Steps), report2.Count(upgrade.Succeeded))
	for _, o := range report2.Outcomes {
		assert.Equal(t, slices.Contains(done1, o.Step), o.Resumed, "%s resumed", o.Step)
		assert.Equal(t, o.Step == crash, o.InDoubt, "%s in doubt", o.Step)
	}

	// Everything done: planning again gives nothing, and so does rolling it.
	after := cvApply(t, topo, plan, ids(plan))
	again, err := upgrade.NewPlanner(after, src).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	assert.Empty(t, again.Steps)
	assert.Empty(t, again.Warnings)
	rolledAgain, err := again.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	assert.Empty(t, rolledAgain.Steps)
	assert.Empty(t, rolledAgain.Barriers)
	report3, err := upgrade.Run(t.Context(), rolledAgain, new(upgradetest.Executor))
	require.NoError(t, err)
	assert.Empty(t, report3.Outcomes)

	// The rest, rolled and run with a journal of its own, converges too.
	restRolled, err := rest.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	requireTopological(t, restRolled)
	j3, err := upgrade.OpenFileJournal(filepath.Join(t.TempDir(), "rest.journal"))
	require.NoError(t, err)
	defer j3.Close()
	var ev3 h5Events
	report4, err := upgrade.Run(t.Context(), restRolled, new(upgradetest.Executor), upgrade.WithJournal(j3), upgrade.WithEvents(ev3.add))
	require.NoError(t, err)
	h12CheckEvents(t, restRolled, report4, ev3.events)
	final, err := upgrade.NewPlanner(cvApply(t, mid, rest, ids(rest)), src).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	assert.Empty(t, final.Steps)
}

// TestHunt12PlanFileAppliedAfterCrash: as `plan --out` then `apply
// PLANFILE` do it, a rolled plan is written as JSON and read back for each
// run. The plan read has the rolled plan's ID and content, the
// application steps their new template; a run of it cut short resumes from
// its journal in a run of the plan read once more; the text and the
// explanations of the plan read are the rolled plan's.
func TestHunt12PlanFileAppliedAfterCrash(t *testing.T) {
	topo := build(t, shopBuilder(4))
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "50%"})
	require.NoError(t, err)
	var file bytes.Buffer
	require.NoError(t, rolled.WriteJSON(&file))
	read := func() *upgrade.Plan {
		t.Helper()
		p, err := upgrade.ReadJSON(bytes.NewReader(file.Bytes()))
		require.NoError(t, err)
		return p
	}
	back := read()
	assert.Equal(t, rolled.ID, back.ID)
	assert.Equal(t, back.ComputeID(), back.ID)
	assert.Equal(t, rolled.String(), back.String())
	for _, node := range []topology.NodeID{"shop-3", "tomcat-3", "java-1"} {
		var want, got bytes.Buffer
		require.NoError(t, rolled.Explain(&want, node))
		require.NoError(t, back.Explain(&got, node))
		assert.Equal(t, want.String(), got.String(), node)
	}
	var explained bytes.Buffer
	require.NoError(t, back.Explain(&explained, "shop-3"))
	assert.Contains(t, explained.String(), "app/shop-1@2.0.0", "shop-3 waits for the canary")

	path := filepath.Join(t.TempDir(), "plan.json.journal")
	crash := upgrade.StepID("platform/tomcat-2@10.1.34")
	report1 := h12Crash(t, back, path, crash)
	done1 := h12Succeeded(report1)
	require.Contains(t, done1, upgrade.StepID("app/shop-1@2.0.0"))

	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	exec2 := &upgradetest.Executor{Func: h12NewTemplate}
	report2, err := upgrade.Run(t.Context(), read(), exec2, upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{crash}, exec2.InDoubt())
	assert.Equal(t, len(back.Steps)-len(done1), len(exec2.Started()))
	assert.Equal(t, len(back.Steps), report2.Count(upgrade.Succeeded))
}

// TestHunt12EditedPlanFileRefused: a plan file edited by hand, a step's
// target or a rolled step's After, is refused with ErrInvalidPlan saying
// that its ID does not match. A plan changed by a program that sets its
// ID to ComputeID is read, but its journal is not the first plan's; one
// whose change breaks its order is refused naming the step.
func TestHunt12EditedPlanFileRefused(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(3)), catalogue(t)).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1})
	require.NoError(t, err)
	var file bytes.Buffer
	require.NoError(t, rolled.WriteJSON(&file))
	text := file.String()
	canaryAfter := `"after": [
        "app/shop-1@2.0.0",`
	require.Contains(t, text, canaryAfter)
	for name, edited := range map[string]string{
		"target": strings.Replace(text, `"to": "10.1.34"`, `"to": "11.0.2"`, 1),
		"after":  strings.Replace(text, canaryAfter, `"after": [`, 1),
	} {
		require.NotEqual(t, text, edited, name)
		p, err := upgrade.ReadJSON(strings.NewReader(edited))
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
		assert.ErrorContains(t, err, "does not match its content", name)
		assert.True(t, p == nil, name)
	}
	// Changed by a program, with its ID recomputed.
	changed := *rolled
	changed.Steps = slices.Clone(rolled.Steps)
	changed.Steps[0].Reason = "approved by change CHG-1234"
	changed.ID = changed.ComputeID()
	file.Reset()
	require.NoError(t, changed.WriteJSON(&file))
	back, err := upgrade.ReadJSON(&file)
	require.NoError(t, err)
	j, err := upgrade.OpenFileJournal(filepath.Join(t.TempDir(), "journal"))
	require.NoError(t, err)
	defer j.Close()
	_, err = upgrade.Run(t.Context(), rolled, new(upgradetest.Executor), upgrade.WithJournal(j))
	require.NoError(t, err)
	exec := new(upgradetest.Executor)
	report, err := upgrade.Run(t.Context(), back, exec, upgrade.WithJournal(j))
	require.ErrorIs(t, err, upgrade.ErrPlanMismatch)
	assert.Nil(t, report)
	assert.Empty(t, exec.Started())

	// After naming a step the plan does not have, or closing a cycle.
	for name, after := range map[string][]upgrade.StepID{
		"unknown": {"app/shop-9@2.0.0"},
		"cycle":   {ids(rolled)[len(rolled.Steps)-1]},
	} {
		broken := *rolled
		broken.Steps = slices.Clone(rolled.Steps)
		broken.Steps[0].After = after
		broken.ID = broken.ComputeID()
		file.Reset()
		require.NoError(t, broken.WriteJSON(&file))
		_, err := upgrade.ReadJSON(&file)
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
		assert.ErrorContains(t, err, string(after[0]), name)
		_, err = upgrade.Run(t.Context(), &broken, exec)
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
		assert.Empty(t, exec.Started())
	}
}

// TestHunt12PlanFileDataAfterPlan: a plan file holding more than one plan
// (`stackup plan >> plan.json` twice) or data after the plan is refused,
// as the topology and index readers refuse data after their object: the
// reviewer may have read the second plan, and ReadJSON would run the
// first. White space after the plan is no data.
func TestHunt12PlanFileDataAfterPlan(t *testing.T) {
	planner := upgrade.NewPlanner(build(t, shopBuilder(2)), catalogue(t))
	first, err := planner.Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	second, err := planner.Plan(t.Context(), shop2("tomcat_server", ">=9.0, <10"))
	require.NoError(t, err)
	var a, b bytes.Buffer
	require.NoError(t, first.WriteJSON(&a))
	require.NoError(t, second.WriteJSON(&b))
	for name, data := range map[string]string{
		"two plans": a.String() + b.String(),
		"object":    a.String() + "{}",
		"text":      a.String() + "# reviewed by ops\n",
	} {
		p, err := upgrade.ReadJSON(strings.NewReader(data))
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
		assert.ErrorContains(t, err, "after the plan", name)
		assert.True(t, p == nil, name)
	}
	p, err := upgrade.ReadJSON(strings.NewReader(a.String() + "\n \t\r\n"))
	require.NoError(t, err)
	assert.Equal(t, first.ID, p.ID)
}

// TestHunt12PlanFileKeyTwice: a plan file that gives a key twice is
// refused naming the key and its place, as the topology and index readers
// refuse one. encoding/json keeps the last value, while a person
// reviewing the file, or another program, may read the first: here the
// reviewer sees Tomcat 11.0.2 where 10.1.34 would be installed, under an
// ID that matches what would run.
func TestHunt12PlanFileKeyTwice(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	var file bytes.Buffer
	require.NoError(t, plan.WriteJSON(&file))
	for name, edited := range map[string]string{
		"same":    strings.Replace(file.String(), `"to": "10.1.34"`, `"to": "11.0.2", "to": "10.1.34"`, 1),
		"folded":  strings.Replace(file.String(), `"to": "10.1.34"`, `"To": "11.0.2", "to": "10.1.34"`, 1),
		"barrier": strings.Replace(file.String(), `"schema"`, `"barriers": [{"id": "x", "after": ["app/shop-1@2.0.0"]}], "barriers": null, "schema"`, 1),
	} {
		require.NotEqual(t, file.String(), edited, name)
		p, err := upgrade.ReadJSON(strings.NewReader(edited))
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
		assert.ErrorContains(t, err, "line ", name)
		assert.True(t, p == nil, name)
	}
}

// TestHunt12RolledRunAllOptions: a rolled plan run with every option at
// once: retries, health checks, a step timeout, a concurrency limit,
// rollback, events and a journal. The canary's JDK fails once and is
// retried; an instance of the second wave hangs, times out on each of its
// three attempts and fails the run. Nothing of the third wave starts;
// every step done, the failed one included, is undone in the reverse
// order of completion; the events, the journal's next run and the report
// agree. Run again with the same journal once the hang is mended, the plan
// does it all again, nothing resumed nor in doubt: all was undone.
func TestHunt12RolledRunAllOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rolled := h12Rolled(t, cvRequest())
		path := filepath.Join(t.TempDir(), "run.journal")
		j, err := upgrade.OpenFileJournal(path)
		require.NoError(t, err)
		exec := new(upgradetest.Executor)
		exec.FailTimes("platform/java-1@21.0.2", 1, errors.New("mirror busy"))
		hung := upgrade.StepID("app/shop-3@2.0.0")
		exec.Hang(hung)
		var ev h5Events
		opts := []upgrade.RunOption{upgrade.WithRetry(3, time.Second, time.Minute), upgrade.WithStepTimeout(time.Minute),
			upgrade.WithConcurrency(3), upgrade.WithRollback(), upgrade.WithEvents(ev.add)}
		report, err := upgrade.Run(t.Context(), rolled, exec, append(opts, upgrade.WithJournal(j))...)
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "step timed out after 1m0s")
		require.NoError(t, j.Close())

		o, _ := report.Outcome(hung)
		assert.Equal(t, upgrade.RolledBack, o.State, "a failed step is undone too")
		assert.Equal(t, 3, o.Attempts)
		assert.ErrorContains(t, o.Err, "step timed out after 1m0s")
		o, _ = report.Outcome("platform/java-1@21.0.2")
		assert.Equal(t, 2, o.Attempts)
		assert.Equal(t, 3, exec.Calls(hung))
		assert.Equal(t, 2, exec.Calls("platform/java-1@21.0.2"))

		completed := h12Kinds(ev.events, upgrade.StepSucceeded, upgrade.StepFailed)
		rolledBack := h12Kinds(ev.events, upgrade.StepRolledBack)
		assert.Empty(t, h12Kinds(ev.events, upgrade.StepRollbackFailed))
		undo := slices.Clone(completed)
		slices.Reverse(undo)
		assert.Equal(t, undo, exec.RolledBack(), "undone last first")
		assert.Equal(t, undo, rolledBack, "one event per step undone, as undone")
		assert.Contains(t, completed, upgrade.StepID("app/shop-2@2.0.0"), "the hung step's wave-mate finished")
		for _, id := range completed {
			o, _ := report.Outcome(id)
			assert.Equal(t, upgrade.RolledBack, o.State, id)
		}
		for _, i := range []string{"4", "5"} {
			for _, id := range []upgrade.StepID{upgrade.StepID("platform/java-" + i + "@21.0.2"), upgrade.StepID("platform/tomcat-" + i + "@10.1.34"), upgrade.StepID("app/shop-" + i + "@2.0.0")} {
				o, _ := report.Outcome(id)
				assert.Equal(t, upgrade.Skipped, o.State, "%s: its wave comes after the failed one", id)
				assert.Zero(t, exec.Calls(id), id)
			}
		}
		var verified []upgrade.StepID
		for _, id := range completed {
			if id != hung {
				verified = append(verified, id)
			}
		}
		assert.ElementsMatch(t, verified, exec.Verified(), "each step that succeeded verified once")
		assert.LessOrEqual(t, exec.Peak(), 3)
		h12CheckEvents(t, rolled, report, ev.events)

		// The hang mended, the plan is run again with the same journal.
		exec2, report2 := h12Resume(t, rolled, path, opts...)
		assert.Len(t, exec2.Started(), len(rolled.Steps), "all was undone: all runs again")
		assert.Empty(t, exec2.InDoubt())
		for _, o := range report2.Outcomes {
			assert.Equal(t, upgrade.Succeeded, o.State, o.Step)
			assert.False(t, o.Resumed, o.Step)
			assert.False(t, o.InDoubt, o.Step)
		}
	})
}

// h12Shared is shopBuilder(n) with two more applications on each
// tomcat-N: blog-N (blog_app 1.0.0, which needs Tomcat 8 or later) and
// wiki-N (wiki_app 3.0.0, current, which needs Tomcat 8 or later).
func h12Shared(n int) *topology.Builder {
	b := shopBuilder(n).
		Template("blog", topology.Template{ID: "blog_app", Type: "php", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8")}}}).
		Template("wiki", topology.Template{ID: "wiki_app", Type: "wiki", Version: v("3.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8")}}})
	for i := 1; i <= n; i++ {
		tomcat := on(topology.NodeID(fmt.Sprintf("tomcat-%d", i)))
		b.Node("blog", topology.Node{ID: topology.NodeID(fmt.Sprintf("blog-%d", i)), Template: "blog_app", Relationships: tomcat}).
			Node("wiki", topology.Node{ID: topology.NodeID(fmt.Sprintf("wiki-%d", i)), Template: "wiki_app", Relationships: tomcat})
	}
	return b
}

// h12Requests are requests for the applications of h12Shared: shop 2.0
// (Tomcat 9 or 10, JDK 17), blog 2.0 under a template of its own
// (Tomcat 10 or later) and wiki 3.0.0, which it has.
func h12Requests() []upgrade.Request {
	blog := upgrade.Request{Application: "blog", Replaces: "blog_app",
		Template: topology.Template{ID: "blog_ng", Type: "php", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=10")}}}}
	wiki := upgrade.Request{Application: "wiki", Replaces: "wiki_app",
		Template: topology.Template{ID: "wiki_app", Type: "wiki", Version: v("3.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8")}}}}
	return []upgrade.Request{cvRequest(), blog, wiki}
}

// h12Shape is what a plan does, whatever the order of its requests: each
// step's ID, versions, package and prerequisites, and the checks.
func h12Shape(p *upgrade.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		pk := ""
		if s.Package != nil {
			pk = s.Package.Location
		}
		tmpl := ""
		if s.NewTemplate != nil {
			tmpl = string(s.NewTemplate.ID) + "@" + s.NewTemplate.Version.String()
		}
		out = append(out, fmt.Sprintf("%s %s→%s %s%s after %v", s.ID, s.From, s.To, pk, tmpl, p.Prerequisites(s.ID)))
	}
	for _, c := range p.Satisfied {
		out = append(out, fmt.Sprintf("check %s %s %s %s", c.Node, c.Version, c.Demand.Source(), c.Demand.Constraint))
	}
	slices.Sort(out)
	return out
}

// TestHunt12PlanAllAnyOrder: three requests over shared Tomcats, one of
// them for a template with an ID of its own and one for an application
// already current, planned in every order, give the same steps (one Tomcat
// step per node that satisfies both requests that need it) and the same
// checks; a request given twice is refused naming it. Rolled, run and
// planned again, in any order, there is nothing left to do.
func TestHunt12PlanAllAnyOrder(t *testing.T) {
	topo := build(t, h12Shared(3))
	src := catalogue(t)
	planner := upgrade.NewPlanner(topo, src)
	reqs := h12Requests()
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	var want []string
	var first *upgrade.Plan
	for _, o := range orders {
		plan, err := planner.PlanAll(t.Context(), reqs[o[0]], reqs[o[1]], reqs[o[2]])
		require.NoError(t, err, o)
		requireTopological(t, plan)
		if first == nil {
			first, want = plan, h12Shape(plan)
			continue
		}
		assert.Equal(t, want, h12Shape(plan), "order %v", o)
	}
	assert.Contains(t, ids(first), upgrade.StepID("platform/tomcat-1@10.1.34"))
	assert.Len(t, first.Steps, 3*4, "per instance: JDK, Tomcat, shop, blog")
	for _, c := range first.Satisfied {
		assert.Contains(t, []topology.TemplateID{"wiki_app", "tomcat_server"}, c.Template, "only wiki is current")
	}

	_, err := planner.PlanAll(t.Context(), reqs[0], reqs[1], reqs[0])
	require.ErrorIs(t, err, upgrade.ErrInvalidRequest)
	re, ok := errors.AsType[*upgrade.RequestError](err)
	require.True(t, ok, err)
	assert.Equal(t, 2, re.Request)
	assert.Equal(t, "Replaces", re.Field)

	rolled, err := first.Roll(upgrade.Rolling{Canaries: 1})
	require.NoError(t, err)
	exec := new(upgradetest.Executor)
	_, err = upgrade.Run(t.Context(), rolled, exec, upgrade.WithConcurrency(2))
	require.NoError(t, err)
	after := cvApply(t, topo, first, exec.Finished())
	for _, o := range orders {
		again, err := upgrade.NewPlanner(after, src).PlanAll(t.Context(), reqs[o[0]], reqs[o[1]], reqs[o[2]])
		require.NoError(t, err, o)
		assert.Empty(t, again.Steps, "order %v", o)
		assert.Empty(t, again.Warnings, "order %v", o)
	}
}

// TestHunt12ResumeWithStaleCheck: the batch of h12Requests, rolled, is cut
// short; the host had recorded in its topology each step that succeeded,
// and perhaps the one in doubt (it crashed before or after that write).
// The resumed run checks the plan against that topology and goes on,
// either way; and the topology as the resumed run leaves it plans to
// nothing.
func TestHunt12ResumeWithStaleCheck(t *testing.T) {
	for _, recorded := range []bool{false, true} {
		t.Run(fmt.Sprint("in doubt recorded ", recorded), func(t *testing.T) {
			topo := build(t, h12Shared(3))
			src := catalogue(t)
			plan, err := upgrade.NewPlanner(topo, src).PlanAll(t.Context(), h12Requests()...)
			require.NoError(t, err)
			rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"})
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "run.journal")
			crash := upgrade.StepID("app/blog-2@2.0.0")
			report := h12Crash(t, rolled, path, crash, upgrade.WithStaleCheck(topo))
			done := h12Succeeded(report)
			require.Contains(t, done, upgrade.StepID("app/blog-1@2.0.0"))
			if recorded {
				done = append(done, crash)
			}
			mid := cvApply(t, topo, plan, done)

			j, err := upgrade.OpenFileJournal(path)
			require.NoError(t, err)
			defer j.Close()
			exec2 := new(upgradetest.Executor)
			_, err = upgrade.Run(t.Context(), rolled, exec2, upgrade.WithJournal(j), upgrade.WithStaleCheck(mid))
			require.NoError(t, err)
			assert.Equal(t, []upgrade.StepID{crash}, exec2.InDoubt())
			after := cvApply(t, mid, plan, exec2.Finished())
			again, err := upgrade.NewPlanner(after, src).PlanAll(t.Context(), h12Requests()...)
			require.NoError(t, err)
			assert.Empty(t, again.Steps)
		})
	}
}

// TestHunt12RollPlanFile: a plan saved unrolled and rolled once read back
// (a reviewer approves the plan, the deployer picks the strategy) is the
// plan rolled before saving: same ID, same JSON, same text and pictures;
// and so for a batch with versions as the index spells them.
func TestHunt12RollPlanFile(t *testing.T) {
	topo := build(t, h12Shared(4))
	batch, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), h12Requests()...)
	require.NoError(t, err)
	single, err := upgrade.NewPlanner(build(t, shopBuilder(3)), source(t, pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"))).
		Plan(t.Context(), shop2("ubuntu_os", ">=20.4"))
	require.NoError(t, err)
	vm, ok := single.Step("platform/vm-1@22.4.0")
	require.True(t, ok, ids(single))
	require.Equal(t, "22.04", vm.To.String(), "as the index writes it")
	for name, plan := range map[string]*upgrade.Plan{"batch": batch, "versions as written": single} {
		for _, r := range []upgrade.Rolling{{Canaries: 1}, {Canaries: 1, MaxInFlight: "50%"}, {MaxInFlight: "1"}} {
			direct, err := plan.Roll(r)
			require.NoError(t, err)
			var file bytes.Buffer
			require.NoError(t, plan.WriteJSON(&file))
			back, err := upgrade.ReadJSON(&file)
			require.NoError(t, err)
			later, err := back.Roll(r)
			require.NoError(t, err, name)
			assert.Equal(t, direct.ID, later.ID, "%s %+v", name, r)
			for _, write := range []func(*upgrade.Plan, *bytes.Buffer) error{
				func(p *upgrade.Plan, b *bytes.Buffer) error { return p.WriteJSON(b) },
				func(p *upgrade.Plan, b *bytes.Buffer) error { return p.WriteText(b) },
				func(p *upgrade.Plan, b *bytes.Buffer) error { return p.WriteDOT(b) },
				func(p *upgrade.Plan, b *bytes.Buffer) error { return p.WriteMermaid(b) },
			} {
				var a, b bytes.Buffer
				require.NoError(t, write(direct, &a))
				require.NoError(t, write(later, &b))
				assert.Equal(t, a.String(), b.String(), "%s %+v", name, r)
			}
		}
	}
}

// TestHunt12RolledRollbackHeld: in a rolled plan whose third wave fails,
// the rollback of an instance of the second wave fails. That instance
// stays, and so does all it comes after: its platform, and the canary
// wave before it with the canary's platform; everything else is undone,
// last completed first. Each step kept has a StepRollbackFailed event that
// says why, and its outcome the same error; the run's error holds the
// step's failure and every rollback failure. Run again with the journal,
// the steps kept are not done again, but for the one whose undo failed,
// which is offered in doubt.
func TestHunt12RolledRollbackHeld(t *testing.T) {
	rolled := h12Rolled(t, cvRequest())
	exec := new(upgradetest.Executor)
	exec.FailAt("app/shop-4@2.0.0", errors.New("unhealthy"))
	exec.FailRollback("app/shop-2@2.0.0", errors.New("snapshot gone"))
	path := filepath.Join(t.TempDir(), "run.journal")
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	var ev h5Events
	report, err := upgrade.Run(t.Context(), rolled, exec, upgrade.WithRollback(), upgrade.WithEvents(ev.add), upgrade.WithJournal(j))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	require.ErrorIs(t, err, upgrade.ErrRollback)
	assert.ErrorContains(t, err, "snapshot gone")

	kept := []upgrade.StepID{"app/shop-2@2.0.0", "platform/tomcat-2@10.1.34", "platform/java-2@21.0.2",
		"app/shop-1@2.0.0", "platform/tomcat-1@10.1.34", "platform/java-1@21.0.2"}
	completed := h12Kinds(ev.events, upgrade.StepSucceeded, upgrade.StepFailed)
	undone := h12Kinds(ev.events, upgrade.StepRolledBack)
	assert.ElementsMatch(t, kept, h12Kinds(ev.events, upgrade.StepRollbackFailed))
	for _, e := range ev.events {
		if e.Kind == upgrade.StepRollbackFailed {
			o, _ := report.Outcome(e.Step.ID)
			assert.Error(t, e.Err, e.Step.ID)
			assert.Equal(t, e.Err, o.Err, "%s: the outcome says why, as the event does", e.Step.ID)
		}
	}
	var want []upgrade.StepID
	for _, id := range slices.Backward(completed) {
		if !slices.Contains(kept, id) {
			want = append(want, id)
		}
	}
	assert.Equal(t, want, undone, "the others undone, last completed first")
	assert.Equal(t, undone, exec.RolledBack())
	for _, id := range kept {
		o, _ := report.Outcome(id)
		assert.Equal(t, upgrade.Succeeded, o.State, id)
		assert.ErrorContains(t, err, string(id), "the run's error names %s", id)
	}
	o, _ := report.Outcome("app/shop-3@2.0.0")
	assert.Equal(t, upgrade.RolledBack, o.State, "shop-3 comes after nothing kept")
	h12CheckEvents(t, rolled, report, ev.events)

	// Run again with the journal, all mended: what stayed is kept, but for
	// the instance whose undo failed, which may be undone in part: it is
	// done again, in doubt; what was undone, or never ran, runs.
	exec2 := new(upgradetest.Executor)
	var ev2 h5Events
	report2, err := upgrade.Run(t.Context(), rolled, exec2, upgrade.WithRollback(), upgrade.WithEvents(ev2.add), upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/shop-2@2.0.0"}, exec2.InDoubt())
	for _, o := range report2.Outcomes {
		assert.Equal(t, upgrade.Succeeded, o.State, o.Step)
		assert.Equal(t, slices.Contains(kept[1:], o.Step), o.Resumed, "%s resumed", o.Step)
		assert.Equal(t, slices.Contains(kept[1:], o.Step), exec2.Calls(o.Step) == 0, "%s run again", o.Step)
	}
	h12CheckEvents(t, rolled, report2, ev2.events)
}

// TestHunt12StaleCheckAgreesWithPlanner: a batch holds a request for an
// application whose nodes have its version already (wiki 3.0.0; the
// request's template needs nothing of Tomcat, where the topology's says
// below 10) beside one that takes their Tomcats to 11. The planner takes
// those nodes for the request's, not co-tenants (see
// TestHunt2RenamedTemplateOtherVersionIsCotenant), and plans; the plan,
// run at once against the topology it was made from, must not be refused
// as stale because of them: "plan again" would give the same plan. A node
// of the replaced template that is not at the request's version, deployed
// since, still makes the plan stale.
func TestHunt12StaleCheckAgreesWithPlanner(t *testing.T) {
	wikis := func(versions ...string) *topology.Memory {
		b := shopBuilder(2).
			Template("wiki", topology.Template{ID: "wiki_app", Type: "wiki", Version: v("3.0.0"),
				Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8, <10")}}})
		for i, ver := range versions {
			b.Node("wiki", topology.Node{ID: topology.NodeID(fmt.Sprintf("wiki-%d", i+1)), Template: "wiki_app", Version: v(ver),
				Relationships: on(topology.NodeID(fmt.Sprintf("tomcat-%d", i%2+1)))})
		}
		return build(t, b)
	}
	for name, renamed := range map[string]bool{"same template": false, "renamed": true} {
		t.Run(name, func(t *testing.T) {
			topo := wikis("3.0.0", "3.0.0")
			wiki := upgrade.Request{Application: "wiki", Replaces: "wiki_app",
				Template: topology.Template{ID: "wiki_app", Type: "wiki", Version: v("3.0.0")}}
			if renamed {
				wiki.Template.ID = "wiki_ng"
			}
			plan, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), shop2("tomcat_server", ">=10"), wiki)
			require.NoError(t, err)
			require.Contains(t, ids(plan), upgrade.StepID("platform/tomcat-1@11.0.2"))
			require.Len(t, plan.Satisfied, 2, "wiki-1 and wiki-2 are the request's already")

			exec := new(upgradetest.Executor)
			_, err = upgrade.Run(t.Context(), plan, exec, upgrade.WithStaleCheck(topo))
			require.NoError(t, err)
			assert.Len(t, exec.Started(), len(plan.Steps))

			// wiki-3 at 2.0.0, deployed since on tomcat-1, would get a
			// step from a new plan: this one is stale.
			exec = new(upgradetest.Executor)
			_, err = upgrade.Run(t.Context(), plan, exec, upgrade.WithStaleCheck(wikis("3.0.0", "3.0.0", "2.0.0")))
			require.ErrorIs(t, err, upgrade.ErrStalePlan)
			se, ok := errors.AsType[*upgrade.StaleError](err)
			require.True(t, ok, err)
			require.NotNil(t, se.Dependent)
			assert.Equal(t, topology.NodeID("wiki-3"), se.Dependent.Node)
			assert.Empty(t, exec.Started())
		})
	}
}

// TestHunt12PropertyRunConverges takes the generated cases of
// TestPropertyPlanner that plan, and for each checks what a host relies
// on across calls: the plan, rolled (one canary, then halves), passes the
// stale check against the topology it was made from; cut short as its
// middle step starts, it resumes from its journal, passing the stale check
// against the topology as the first run left it; and the topology as the
// steps leave it plans to nothing.
func TestHunt12PropertyRunConverges(t *testing.T) {
	seeds := 1000
	if testing.Short() {
		seeds = 100
	}
	planned := 0
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		pc := propCaseFor(seed)
		topo, err := pc.topology(nil)
		require.NoError(t, err)
		src, err := pkgsource.NewMemory(pc.pkgs...)
		require.NoError(t, err)
		plan, err := upgrade.NewPlanner(topo, src, pc.options()...).PlanAll(t.Context(), pc.reqs...)
		if err != nil {
			continue
		}
		planned++
		rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "50%"})
		require.NoError(t, err, "seed %d", seed)
		path := filepath.Join(t.TempDir(), fmt.Sprint(seed))
		crash := rolled.Steps[len(rolled.Steps)/2].ID
		report := h12Crash(t, rolled, path, crash, upgrade.WithStaleCheck(topo), upgrade.WithConcurrency(4))
		mid := cvApply(t, topo, plan, h12Succeeded(report))
		j, err := upgrade.OpenFileJournal(path)
		require.NoError(t, err)
		exec := new(upgradetest.Executor)
		_, err = upgrade.Run(t.Context(), rolled, exec, upgrade.WithJournal(j), upgrade.WithStaleCheck(mid), upgrade.WithConcurrency(4))
		require.NoError(t, j.Close())
		if !assert.NoError(t, err, "seed %d: resuming\n%s\n%s", seed, pc.String(), plan) {
			continue
		}
		after := cvApply(t, mid, plan, exec.Finished())
		again, err := upgrade.NewPlanner(after, src, pc.options()...).PlanAll(t.Context(), pc.reqs...)
		if assert.NoError(t, err, "seed %d: planning again after the run\n%s\n%s", seed, pc.String(), plan) {
			assert.Empty(t, ids(again), "seed %d: planning again after the run\n%s\n%s", seed, pc.String(), plan)
		}
	}
	t.Logf("%d of %d cases planned", planned, seeds)
	require.Positive(t, planned)
}

// TestHunt12RolledStopAndResume: a deployment window closes (WithStop)
// while the second wave of a rolled plan runs, one of its steps waiting
// out a retry's backoff and the other running. The running one finishes;
// the one waiting is failed with its last error, not tried again; nothing
// new starts. The events agree with the report. The next window's run
// with the same journal does exactly what the first did not finish,
// nothing in doubt, in the waves' order.
func TestHunt12RolledStopAndResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rolled := h12Rolled(t, shop2("tomcat_server", ">=9.0, <10"))
		path := filepath.Join(t.TempDir(), "run.journal")
		j, err := upgrade.OpenFileJournal(path)
		require.NoError(t, err)
		stop := make(chan struct{})
		release := make(chan struct{})
		flaky, slow := upgrade.StepID("app/shop-2@2.0.0"), upgrade.StepID("app/shop-3@2.0.0")
		exec := &upgradetest.Executor{Func: func(ctx context.Context, s upgrade.Step) error {
			switch s.ID {
			case flaky:
				return errors.New("health endpoint 503")
			case slow:
				<-release
			}
			return nil
		}}
		var ev h5Events
		done := make(chan struct{})
		var report *upgrade.Report
		go func() {
			defer close(done)
			report, err = upgrade.Run(t.Context(), rolled, exec, upgrade.WithJournal(j), upgrade.WithConcurrency(2),
				upgrade.WithRetry(5, time.Minute, time.Hour), upgrade.WithStop(stop), upgrade.WithEvents(ev.add))
		}()
		synctest.Wait() // shop-2 waits out its backoff, shop-3 runs
		require.Equal(t, 1, exec.Calls(flaky))
		close(stop)
		close(release)
		<-done
		require.ErrorIs(t, err, upgrade.ErrStopped)
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		require.NoError(t, j.Close())
		o, _ := report.Outcome(flaky)
		assert.Equal(t, upgrade.Failed, o.State)
		assert.Equal(t, 1, o.Attempts)
		assert.ErrorContains(t, o.Err, "health endpoint 503")
		o, _ = report.Outcome(slow)
		assert.Equal(t, upgrade.Succeeded, o.State, "the running step finished")
		for i := 4; i <= 5; i++ {
			o, _ := report.Outcome(hunt9App(i))
			assert.Equal(t, upgrade.Skipped, o.State, "after the failed wave")
		}
		h12CheckEvents(t, rolled, report, ev.events)

		exec2, report2 := h12Resume(t, rolled, path, upgrade.WithConcurrency(2))
		assert.Empty(t, exec2.InDoubt())
		var left []upgrade.StepID
		for _, o := range report.Outcomes {
			if o.State != upgrade.Succeeded {
				left = append(left, o.Step)
			}
		}
		assert.ElementsMatch(t, left, exec2.Started())
		assert.Equal(t, len(rolled.Steps), report2.Count(upgrade.Succeeded))
	})
}

// TestHunt12StaleCheckDependentOfApplicationNode: a plugin that needs
// shop 1.x, deployed on shop-1 since the shop's plan to 2.0.0 was made,
// makes that plan stale, as a billing application needing Tomcat below 9
// deployed on tomcat-1 does: planned now, either would be a conflict (the
// co-tenants of a node that a request replaces must allow the new
// template's version, as they must a platform step's). The stale check
// refuses the plan naming the plugin, and nothing runs.
func TestHunt12StaleCheckDependentOfApplicationNode(t *testing.T) {
	req := shop2("tomcat_server", ">=9.0, <10")
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(t.Context(), req)
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		app, template string
		node, on      topology.NodeID
		needs         topology.TemplateID
		constraint    string
	}{
		"plugin on the shop":  {"plugins", "plugin", "plugin-1", "shop-1", "shop_app", ">=1, <2"},
		"billing on tomcat-1": {"billing", "billing_app", "billing-1", "tomcat-1", "tomcat_server", "<9"},
	} {
		t.Run(name, func(t *testing.T) {
			now := build(t, shopBuilder(1).
				Template(topology.AppID(tc.app), topology.Template{ID: topology.TemplateID(tc.template), Type: "plugin", Version: v("1.0.0"),
					Requirements: []topology.Requirement{{Template: tc.needs, Constraint: c(tc.constraint)}}}).
				Node(topology.AppID(tc.app), topology.Node{ID: tc.node, Template: topology.TemplateID(tc.template), Relationships: on(tc.on)}))
			_, err := upgrade.NewPlanner(now, catalogue(t)).Plan(t.Context(), req)
			require.ErrorIs(t, err, upgrade.ErrConflict, "planned now")

			exec := new(upgradetest.Executor)
			_, err = upgrade.Run(t.Context(), plan, exec, upgrade.WithStaleCheck(now))
			require.ErrorIs(t, err, upgrade.ErrStalePlan)
			se, ok := errors.AsType[*upgrade.StaleError](err)
			require.True(t, ok, err)
			require.NotNil(t, se.Dependent)
			assert.Equal(t, tc.node, se.Dependent.Node)
			assert.Equal(t, tc.on, se.Node)
			assert.Empty(t, exec.Started())
		})
	}
}

// TestHunt12PlanFileByteOrderMark: a plan file that an editor saved with a
// byte-order mark while it was reviewed reads as the plan, as the topology
// and index readers read such files; a mark anywhere else is refused.
func TestHunt12PlanFileByteOrderMark(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(2)), catalogue(t)).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	p, err := upgrade.ReadJSON(strings.NewReader("\ufeff" + buf.String()))
	require.NoError(t, err)
	assert.Equal(t, plan.ID, p.ID)
	assert.Equal(t, plan.Steps, p.Steps)

	_, err = upgrade.ReadJSON(strings.NewReader("\ufeff\ufeff" + buf.String()))
	assert.ErrorIs(t, err, upgrade.ErrInvalidPlan)
}

// TestHunt12StaleCheckRefusesBadRequests: the stale check finds the
// request of each node by the templates the plan's requests replace; of
// a plan whose requests do not say that once (a plan built by hand, two
// requests of one template), it says so, and runs nothing.
func TestHunt12StaleCheckRefusesBadRequests(t *testing.T) {
	topo := build(t, shopBuilder(2))
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), cvRequest())
	require.NoError(t, err)
	plan.Requests = append(plan.Requests, plan.Requests[0])
	exec := new(upgradetest.Executor)
	_, err = upgrade.Run(t.Context(), plan, exec, upgrade.WithStaleCheck(topo))
	var re *upgrade.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 1, re.Request)
	assert.ErrorContains(t, err, "checking for a stale plan")
	assert.Empty(t, exec.Started())
}
