package upgrade

import (
	"context"
	"fmt"
)

// Executor carries out plan steps: it installs a package on a platform node
// or deploys a new template on an application node.
//
// Execute must return only once the step is done or has failed, and should
// return promptly with ctx.Err() when ctx is cancelled. Run calls it for one
// step at a time.
type Executor interface {
	Execute(ctx context.Context, s Step) error
}

// ExecutorFunc adapts a function to an [Executor].
type ExecutorFunc func(ctx context.Context, s Step) error

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, s Step) error { return f(ctx, s) }

// State is what happened to a step in a run.
type State uint8

// The step states. The zero State is NotStarted.
const (
	// NotStarted: the run ended before the step's turn.
	NotStarted State = iota
	// Succeeded: the executor returned nil.
	Succeeded
	// Failed: the executor returned an error.
	Failed
	// Skipped: a step it comes after failed, so it was never run.
	Skipped
)

func (s State) String() string {
	switch s {
	case NotStarted:
		return "not started"
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Outcome is what happened to one step.
type Outcome struct {
	Step  StepID
	State State
	Err   error // the executor's error, for a Failed step
}

// Report lists the outcome of every step of a plan, in the order of the
// plan's steps.
type Report struct {
	Outcomes []Outcome
}

// Count returns how many steps ended in state s.
func (r *Report) Count(s State) int {
	n := 0
	for _, o := range r.Outcomes {
		if o.State == s {
			n++
		}
	}
	return n
}

// Outcome returns the outcome of step id.
func (r *Report) Outcome(id StepID) (Outcome, bool) {
	for _, o := range r.Outcomes {
		if o.Step == id {
			return o, true
		}
	}
	return Outcome{}, false
}

// Run executes the steps of plan one at a time with exec, each only after
// every step in its After list has succeeded. It stops at the first failure:
// the steps that come after the failed one, directly or not, are reported
// Skipped, and the others that had not run NotStarted.
//
// Run returns the report and nil when every step succeeded; a *StepError
// (matching ErrStepFailed) when a step failed; ctx.Err() when ctx was
// cancelled between steps; and an error matching ErrInvalidPlan, with no
// step run, when the plan's After lists name unknown steps or form a cycle.
// The report is never nil unless the plan is invalid.
func Run(ctx context.Context, plan *Plan, exec Executor) (*Report, error) {
	if exec == nil {
		panic("upgrade: Run needs an Executor")
	}
	order, err := topoSort(plan.Steps)
	if err != nil {
		return nil, err
	}
	report := &Report{Outcomes: make([]Outcome, len(plan.Steps))}
	at := make(map[StepID]*Outcome, len(plan.Steps))
	for i, s := range plan.Steps {
		report.Outcomes[i] = Outcome{Step: s.ID}
		at[s.ID] = &report.Outcomes[i]
	}
	var failure error
	for _, i := range order {
		s := plan.Steps[i]
		o := at[s.ID]
		if failure != nil {
			for _, a := range s.After {
				if st := at[a].State; st == Failed || st == Skipped {
					o.State = Skipped
				}
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return report, err
		}
		if err := exec.Execute(ctx, s); err != nil {
			o.State, o.Err = Failed, err
			failure = &StepError{Step: s.ID, Node: s.Node, Err: err}
			continue
		}
		o.State = Succeeded
	}
	return report, failure
}
