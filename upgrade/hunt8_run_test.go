package upgrade_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// h8Plan is a → b → c, with a plan ID a file journal keeps.
func h8Plan() *upgrade.Plan {
	return &upgrade.Plan{ID: "sha256:h8", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}},
		{ID: "c", Kind: upgrade.Platform, Node: "n-c", After: []upgrade.StepID{"b"}},
	}}
}

// h8RunEnds runs plan in a goroutine of its own and reports whether Run
// returned (true) or ended that goroutine with runtime.Goexit (false).
func h8RunEnds(plan *upgrade.Plan, exec upgrade.Executor, opts ...upgrade.RunOption) (returned bool) {
	ended := make(chan bool, 1)
	go func() {
		returned := false
		defer func() { ended <- returned }()
		_, _ = upgrade.Run(context.Background(), plan, exec, opts...)
		returned = true
	}()
	return <-ended
}

// TestHunt7GoexitLeavesRunResumable: a host's executor that calls
// runtime.Goexit (t.FailNow in a host's test) in the middle of a run
// ends Run's caller's goroutine; the journal is let go and keeps the
// step started, so that the run resumes: the steps that succeeded are
// not run again, and the step cut short is offered again, in doubt.
func TestHunt7GoexitLeavesRunResumable(t *testing.T) {
	plan := h8Plan()
	path := jrPath(t)
	j := jrOpen(t, path)
	var ran []upgrade.StepID
	exiting := upgrade.ExecutorFunc(func(_ context.Context, s upgrade.Step) error {
		ran = append(ran, s.ID)
		if s.ID == "b" {
			runtime.Goexit()
		}
		return nil
	})
	require.False(t, h8RunEnds(plan, exiting, upgrade.WithJournal(j)), "Run ends its caller's goroutine")
	assert.Equal(t, []upgrade.StepID{"a", "b"}, ran)

	rec := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, rec, upgrade.WithJournal(j))
	require.NoError(t, err, "the journal is free again, and the run resumes")
	assert.Equal(t, []upgrade.StepID{"b", "c"}, rec.ran, "a, which succeeded, is not run again")
	assert.Equal(t, map[upgrade.StepID]bool{"b": true}, rec.inDoubt, "b, cut short, is offered in doubt")
	a, _ := report.Outcome("a")
	assert.True(t, a.Resumed)
	assert.Equal(t, 3, report.Count(upgrade.Succeeded))
}

// h8FailingKinds is a journal whose Append fails for the records of the
// kinds in fail, and keeps the others.
type h8FailingKinds struct {
	fail map[upgrade.RecordKind]bool
	recs []upgrade.Record
}

func (j *h8FailingKinds) Begin(context.Context, string) ([]upgrade.Record, error) { return nil, nil }

func (j *h8FailingKinds) Append(_ context.Context, r upgrade.Record) error {
	if j.fail[r.Kind] {
		return errors.New("journal disk gone")
	}
	j.recs = append(j.recs, r)
	return nil
}

// TestHunt7JournalErrorsNameStep: an error of the journal that Run
// returns names the step whose record it could not keep, as the runner's
// other errors do (quoted and shortened when it is unsafe), so that a hostile step ID of megabytes does not
// make an error of megabytes, nor an escape sequence reach a terminal: a
// FileJournal that can no longer write, and a journal of the caller's
// own that fails to record a start, a success or a failure.
func TestHunt7JournalErrorsNameStep(t *testing.T) {
	long := upgrade.StepID("platform/" + strings.Repeat("x", 1<<20))
	for name, id := range map[string]upgrade.StepID{"plain": "a", "long": long, "escape": "a\x1b[2Jb"} {
		plan := &upgrade.Plan{ID: "sha256:h8-names", Steps: []upgrade.Step{{ID: id, Kind: upgrade.Platform, Node: "n-a"}}}
		check := func(t *testing.T, err error) {
			t.Helper()
			jerr := h8JournalError(err)
			require.NotNil(t, jerr, "the run's error holds the journal's: %v", err)
			msg := jerr.Error()
			named := topology.Quote(string(id)) // quoted and shortened, as the runner's errors do an unsafe ID
			if name == "plain" {
				named = string(id)
			}
			assert.Contains(t, msg, "recording step "+named+" as ", "the error names the step")
			assert.Less(t, len(msg), 1000, "the step's ID is shortened")
			assert.NotContains(t, msg, "\x1b", "no escape sequence reaches a terminal")
		}
		t.Run("FileJournal/"+name, func(t *testing.T) {
			path := jrPath(t)
			j := jrOpen(t, path)
			ex := &jrRecorder{}
			_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(jrClosingJournal{j}))
			check(t, err)
			assert.Equal(t, 1, strings.Count(err.Error(), "upgrade: journal"), "the journal is named once")
			assert.Contains(t, err.Error(), path)
			assert.Empty(t, ex.ran)
		})
		for _, kind := range []upgrade.RecordKind{upgrade.RecordStarted, upgrade.RecordSucceeded, upgrade.RecordFailed} {
			t.Run(string(kind)+"/"+name, func(t *testing.T) {
				ex := &jrRecorder{fail: map[upgrade.StepID]error{id: errors.New("boom")}}
				if kind == upgrade.RecordSucceeded {
					ex.fail = nil
				}
				_, err := upgrade.Run(context.Background(), plan, ex,
					upgrade.WithJournal(&h8FailingKinds{fail: map[upgrade.RecordKind]bool{kind: true}}))
				check(t, err)
				assert.ErrorContains(t, err, "journal disk gone")
			})
		}
	}
}

// h8JournalError returns the journal's error among those a run's error
// holds, directly or as a *StepError's cause: the one that says
// "journal".
func h8JournalError(err error) error {
	errs := []error{err}
	if m, ok := err.(interface{ WrappedErrors() []error }); ok { // go-multierror
		errs = m.WrappedErrors()
	}
	for _, e := range errs {
		if se, ok := errors.AsType[*upgrade.StepError](e); ok {
			e = se.Err
		}
		if strings.Contains(e.Error(), "journal") {
			return e
		}
	}
	return nil
}

// TestHunt7ReportSaysInDoubt: a step that a resumed run offers again in
// doubt, found started but not finished in the journal, says so in its
// Outcome, as its StepStarted event does; the others do not.
func TestHunt7ReportSaysInDoubt(t *testing.T) {
	plan := h8Plan()
	path := jrPath(t)
	jrSeed(t, path, plan.ID, jrRec(upgrade.RecordStarted, "a"), jrRec(upgrade.RecordSucceeded, "a"), jrRec(upgrade.RecordStarted, "b"))
	j := jrOpen(t, path)
	var startedInDoubt []upgrade.StepID
	report, err := upgrade.Run(context.Background(), plan, &jrRecorder{}, upgrade.WithJournal(j), upgrade.WithEvents(func(e upgrade.Event) {
		if e.Kind == upgrade.StepStarted && e.InDoubt {
			startedInDoubt = append(startedInDoubt, e.Step.ID)
		}
	}))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"b"}, startedInDoubt)
	for _, o := range report.Outcomes {
		assert.Equal(t, o.Step == "b", o.InDoubt, "step %s", o.Step)
		assert.Equal(t, upgrade.Succeeded, o.State)
	}
}

// TestHunt7InDoubtStepThatFails: a step offered again in doubt that then
// fails is Failed, in doubt, with its error, and the steps after it are
// skipped; its failure is recorded, so that the next run offers it again
// as a step that failed, not in doubt.
func TestHunt7InDoubtStepThatFails(t *testing.T) {
	plan := h8Plan()
	path := jrPath(t)
	jrSeed(t, path, plan.ID, jrRec(upgrade.RecordStarted, "a"))
	j := jrOpen(t, path)
	boom := errors.New("boom")
	ex := &jrRecorder{fail: map[upgrade.StepID]error{"a": boom}}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorIs(t, err, boom)
	a, _ := report.Outcome("a")
	assert.Equal(t, upgrade.Failed, a.State)
	assert.True(t, a.InDoubt)
	assert.ErrorIs(t, a.Err, boom)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.Failed, "b": upgrade.Skipped, "c": upgrade.Skipped}, states(report))
	assert.Equal(t, map[upgrade.StepID]bool{"a": true}, ex.inDoubt)

	ex = &jrRecorder{}
	report, err = upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"a", "b", "c"}, ex.ran)
	assert.Empty(t, ex.inDoubt, "a's failure was recorded: it is no longer in doubt")
	a, _ = report.Outcome("a")
	assert.False(t, a.InDoubt)
}

// TestHunt8JournalValuesQuoted: what a journal file holds may be
// anything (a file damaged, or written by hand or by an attacker): the
// errors that name a plan ID, a step or a record kind read from it
// quote them as topology.Quote does, so that an escape sequence does not
// reach a terminal, nor an ID of megabytes make an error of megabytes.
// So are a caller's plan ID that the journal cannot keep. Before, they
// were written as they were.
func TestHunt8JournalValuesQuoted(t *testing.T) {
	hostile := "\x1b[2J" + strings.Repeat("p", 1<<20)
	plan := h8Plan()
	check := func(t *testing.T, err error, target error) {
		t.Helper()
		require.ErrorIs(t, err, target)
		assert.Less(t, len(err.Error()), 1000, "the value is shortened")
		assert.NotContains(t, err.Error(), "\x1b", "no escape sequence reaches a terminal")
	}
	t.Run("header", func(t *testing.T) {
		path := jrPath(t)
		jrSeed(t, path, hostile, jrRec(upgrade.RecordStarted, "a")) // a record of it: a journal without is taken over
		_, err := upgrade.Run(context.Background(), plan, &jrRecorder{}, upgrade.WithJournal(jrOpen(t, path)))
		check(t, err, upgrade.ErrPlanMismatch)
		assert.ErrorContains(t, err, topology.Quote(hostile))
	})
	t.Run("unknown step", func(t *testing.T) {
		path := jrPath(t)
		jrSeed(t, path, plan.ID, jrRec(upgrade.RecordStarted, upgrade.StepID(hostile)))
		ex := &jrRecorder{}
		_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(jrOpen(t, path)))
		check(t, err, upgrade.ErrPlanMismatch)
		assert.ErrorContains(t, err, topology.Quote(hostile))
		assert.Empty(t, ex.ran)
	})
	t.Run("unknown kind", func(t *testing.T) {
		path := jrPath(t)
		jrSeed(t, path, plan.ID, jrRec(upgrade.RecordKind(hostile), "a"))
		ex := &jrRecorder{}
		_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(jrOpen(t, path)))
		check(t, err, upgrade.ErrCorruptJournal)
		assert.ErrorContains(t, err, topology.Quote(hostile))
		assert.Empty(t, ex.ran)
	})
	t.Run("plan ID not UTF-8", func(t *testing.T) {
		_, err := jrOpen(t, jrPath(t)).Begin(context.Background(), "\xff"+hostile)
		check(t, err, upgrade.ErrInvalidPlan)
	})
}
