package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

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

// rpGoexitRun runs plan in a goroutine of its own and reports whether Run
// returned (true) or ended that goroutine (false), once nothing in the
// bubble can move; it fails the test if Run is still under way then.
func rpGoexitRun(t *testing.T, plan *upgrade.Plan, exec upgrade.Executor, opts ...upgrade.RunOption) (returned bool) {
	t.Helper()
	ended := make(chan bool, 1)
	go func() {
		returned := false
		defer func() { ended <- returned }()
		_, _ = upgrade.Run(t.Context(), plan, exec, opts...)
		returned = true
	}()
	synctest.Wait()
	select {
	case returned = <-ended:
		return returned
	default:
		t.Fatal("Run hangs")
		return false
	}
}

// rpGoexitRollbacker is an executor whose Rollback calls runtime.Goexit.
type rpGoexitRollbacker struct{ upgrade.ExecutorFunc }

func (rpGoexitRollbacker) Rollback(context.Context, upgrade.Step) error {
	runtime.Goexit()
	return nil
}

// The caller's code may call runtime.Goexit, as t.FailNow does in a
// test's executor or event function (a require assertion that fails):
// Run then ends the run, as for a panic of the caller's code it calls
// outside Execute, and ends its caller's goroutine in turn, rather than
// wait for ever for the goroutine that ended. The steps running are let
// finish and no step starts after it.
func TestRunPassesGoexitToCaller(t *testing.T) {
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a"}, {ID: "b"}, {ID: "after-a", After: []upgrade.StepID{"a"}}, {ID: "after-b", After: []upgrade.StepID{"b"}},
	}}
	for _, tt := range []struct {
		name string
		opts []upgrade.RunOption
	}{
		{"watched", nil},
		{"step timeout", []upgrade.RunOption{upgrade.WithStepTimeout(time.Hour)}},
		{"no grace period", []upgrade.RunOption{upgrade.WithGracePeriod(0)}},
	} {
		t.Run("Execute "+tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bRunning, bEnd := make(chan struct{}), make(chan struct{})
				var ran []upgrade.StepID
				var mu sync.Mutex
				exec := upgrade.ExecutorFunc(func(_ context.Context, s upgrade.Step) error {
					mu.Lock()
					ran = append(ran, s.ID)
					mu.Unlock()
					switch s.ID {
					case "a":
						<-bRunning
						runtime.Goexit()
					case "b":
						close(bRunning)
						<-bEnd
					}
					return nil
				})
				ended := make(chan bool, 1)
				go func() {
					returned := false
					defer func() { ended <- returned }()
					_, _ = upgrade.Run(t.Context(), plan, exec, append(tt.opts, upgrade.WithConcurrency(2))...)
					returned = true
				}()
				synctest.Wait()
				select {
				case <-ended:
					t.Fatal("Run ended while b was running")
				default:
				}
				close(bEnd)
				synctest.Wait()
				select {
				case returned := <-ended:
					assert.False(t, returned, "Run ends its caller's goroutine")
				default:
					t.Fatal("Run hangs")
				}
				assert.ElementsMatch(t, []upgrade.StepID{"a", "b"}, ran, "b finishes, and nothing starts after a")
			})
		})
	}
	t.Run("events", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var started []upgrade.StepID
			events := func(e upgrade.Event) {
				if e.Kind == upgrade.StepStarted {
					started = append(started, e.Step.ID)
				}
				if e.Kind == upgrade.StepSucceeded && e.Step.ID == "a" {
					runtime.Goexit()
				}
			}
			exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil })
			assert.False(t, rpGoexitRun(t, plan, exec, upgrade.WithEvents(events)))
			assert.Equal(t, []upgrade.StepID{"a"}, started)
		})
	})
	t.Run("Rollback", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			exec := rpGoexitRollbacker{func(_ context.Context, s upgrade.Step) error {
				if s.ID == "b" {
					return errors.New("boom")
				}
				return nil
			}}
			assert.False(t, rpGoexitRun(t, plan, exec, upgrade.WithRollback()))
		})
	})
}
