package upgrade_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stackup/stackup/upgrade"
)

// rpRun runs plan and returns what Run panicked with, nil if it returned.
func rpRun(plan *upgrade.Plan, exec upgrade.Executor, opts ...upgrade.RunOption) (v any) {
	defer func() { v = recover() }()
	_, _ = upgrade.Run(context.Background(), plan, exec, opts...)
	return nil
}

// rpPlan is a plan of wide independent steps and a chain, for several
// workers to be busy when the caller's code panics.
func rpPlan() *upgrade.Plan {
	plan := rnIndependent("w", 30)
	for i := range 30 {
		s := upgrade.Step{ID: upgrade.StepID(fmt.Sprintf("c%02d", i))}
		if i > 0 {
			s.After = []upgrade.StepID{upgrade.StepID(fmt.Sprintf("c%02d", i-1))}
		}
		plan.Steps = append(plan.Steps, s)
	}
	return plan
}

// A panic in the caller's event function, called by one of Run's workers,
// reaches the caller of Run, not the workers' goroutines (which would end
// the process), once the steps running have ended; no step starts after
// it, and Run leaves no goroutine behind.
func TestRunPassesEventPanicsToCaller(t *testing.T) {
	for _, c := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", c), func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			var panicked atomic.Bool
			var startedAfter atomic.Int32
			events := func(e upgrade.Event) {
				if panicked.Load() && e.Kind == upgrade.StepStarted {
					startedAfter.Add(1)
				}
				if e.Kind == upgrade.StepSucceeded && e.Step.ID == "c10" {
					panicked.Store(true)
					panic("event bug")
				}
			}
			var ran atomic.Int32
			exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { ran.Add(1); return nil })
			v := rpRun(rpPlan(), exec, upgrade.WithConcurrency(c), upgrade.WithEvents(events))
			assert.Equal(t, "event bug", v, "Run panics with the event function's value")
			assert.Zero(t, startedAfter.Load(), "no step starts after the panic")
			assert.Less(t, int(ran.Load()), 60, "the run ended early")
		})
	}
}

// rpPanickingJournal panics when asked to record that step at succeeded.
type rpPanickingJournal struct{ at upgrade.StepID }

func (j *rpPanickingJournal) Begin(context.Context, string) ([]upgrade.Record, error) {
	return nil, nil
}
func (j *rpPanickingJournal) Append(_ context.Context, r upgrade.Record) error {
	if r.Step == j.at && r.Kind == upgrade.RecordSucceeded {
		panic(fmt.Sprintf("journal bug at %s", r.Step))
	}
	return nil
}

func TestRunPassesJournalPanicsToCaller(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var ran atomic.Int32
	exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { ran.Add(1); return nil })
	v := rpRun(rpPlan(), exec, upgrade.WithConcurrency(4), upgrade.WithJournal(&rpPanickingJournal{at: "c05"}))
	require.Equal(t, "journal bug at c05", v)
	assert.Less(t, int(ran.Load()), 60, "the run ended early")
}
