// Package upgradetest provides a test double for code that runs upgrade
// plans, in the spirit of net/http/httptest.
//
// An [Executor] carries out no change: it records what [upgrade.Run] asks
// of it (which steps started and finished, in what order, how many ran at
// once, which were verified and rolled back) and injects the faults it is
// told to: failures, transient failures, hangs, failed verifications and
// rollbacks, and slowness.
//
//	exec := new(upgradetest.Executor)
//	exec.FailTimes("platform/java-1@21.0.2", 1, errors.New("flaky"))
//	report, err := upgrade.Run(ctx, plan, exec, upgrade.WithRetry(2, time.Millisecond, 0))
//	// err == nil; exec.Calls("platform/java-1@21.0.2") == 2
//
// What is recorded, and in what order, is what the runner did; the doubles
// promise nothing about how long they take beyond the configured Delay.
package upgradetest

import (
	"context"
	"sync"
	"time"

	"github.com/stackup/stackup/upgrade"
)

var (
	_ upgrade.Executor   = (*Executor)(nil)
	_ upgrade.Verifier   = (*Executor)(nil)
	_ upgrade.Rollbacker = (*Executor)(nil)
)

// Executor is an [upgrade.Executor], [upgrade.Verifier] and
// [upgrade.Rollbacker] that records its calls and fails as configured.
//
// A zero Executor is ready to use: every step succeeds at once. Configure
// faults with FailAt, FailTimes, Hang, FailVerify, FailRollback and Delay
// before the run; the recording methods may be called at any time. All
// methods are safe for concurrent use. An Executor must not be copied
// after first use.
type Executor struct {
	// Func, if not nil, is called by Execute for every attempt, after the
	// attempt is recorded as started and before any configured delay or
	// fault; a non-nil error from it is the attempt's error. It may call
	// the Executor's recording methods, and is called from several
	// goroutines at once when the run's concurrency is above 1.
	Func func(ctx context.Context, s upgrade.Step) error

	mu       sync.Mutex
	delay    time.Duration
	faults   map[upgrade.StepID]fault
	calls    map[upgrade.StepID]int
	started  []upgrade.StepID
	finished []upgrade.StepID
	verified []upgrade.StepID
	rolled   []upgrade.StepID
	inDoubt  []upgrade.StepID
	running  int
	peak     int
}

// fault is what to do to one step.
type fault struct {
	err         error // Execute's error
	times       int   // the first times attempts fail with err; 0: all
	hang        bool
	verifyErr   error
	rollbackErr error
}

func (e *Executor) setFault(id upgrade.StepID, f func(*fault)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.faults == nil {
		e.faults = map[upgrade.StepID]fault{}
	}
	ft := e.faults[id]
	f(&ft)
	e.faults[id] = ft
}

// FailAt makes every attempt to execute step id fail with err.
func (e *Executor) FailAt(id upgrade.StepID, err error) {
	e.setFault(id, func(f *fault) { f.err, f.times = err, 0 })
}

// FailTimes makes the first n attempts to execute step id fail with err;
// the later ones succeed. With n of 0 or less, every attempt succeeds,
// whatever FailAt or FailTimes said before.
func (e *Executor) FailTimes(id upgrade.StepID, n int, err error) {
	if n <= 0 {
		e.setFault(id, func(f *fault) { f.err, f.times = nil, 0 })
		return
	}
	e.setFault(id, func(f *fault) { f.err, f.times = err, n })
}

// Heal clears every fault set for step id (by FailAt, FailTimes, Hang,
// FailVerify and FailRollback): from now on it executes, verifies and
// rolls back without error, as when a test resumes a run after fixing
// what failed. What was recorded of it stays.
func (e *Executor) Heal(id upgrade.StepID) {
	e.setFault(id, func(f *fault) { *f = fault{} })
}

// Hang makes every attempt to execute step id block until its context is
// done, and then return the context's error.
func (e *Executor) Hang(id upgrade.StepID) {
	e.setFault(id, func(f *fault) { f.hang = true })
}

// FailVerify makes every verification of step id fail with err.
func (e *Executor) FailVerify(id upgrade.StepID, err error) {
	e.setFault(id, func(f *fault) { f.verifyErr = err })
}

// FailRollback makes every rollback of step id fail with err.
func (e *Executor) FailRollback(id upgrade.StepID, err error) {
	e.setFault(id, func(f *fault) { f.rollbackErr = err })
}

// Delay makes every attempt to execute a step take d, or until its context
// is done, when it returns the context's error.
func (e *Executor) Delay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.delay = d
}

// Execute records the attempt and then, in turn: calls Func, waits for the
// configured delay, hangs, or fails, as configured for s.ID. It returns nil
// when nothing is configured.
func (e *Executor) Execute(ctx context.Context, s upgrade.Step) error {
	e.mu.Lock()
	if e.calls == nil {
		e.calls = map[upgrade.StepID]int{}
	}
	e.calls[s.ID]++
	n := e.calls[s.ID]
	e.started = append(e.started, s.ID)
	if upgrade.InDoubt(ctx) {
		e.inDoubt = append(e.inDoubt, s.ID)
	}
	e.running++
	e.peak = max(e.peak, e.running)
	f, delay := e.faults[s.ID], e.delay
	e.mu.Unlock()

	defer func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.running--
		e.finished = append(e.finished, s.ID)
	}()

	if e.Func != nil {
		if err := e.Func(ctx, s); err != nil {
			return err
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if f.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.err != nil && (f.times == 0 || n <= f.times) {
		return f.err
	}
	return nil
}

// Verify records the verification and returns the error set with
// FailVerify for s.ID, or nil.
func (e *Executor) Verify(_ context.Context, s upgrade.Step) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.verified = append(e.verified, s.ID)
	return e.faults[s.ID].verifyErr
}

// Rollback returns the error set with FailRollback for s.ID; otherwise it
// records the step as rolled back and returns nil.
func (e *Executor) Rollback(_ context.Context, s upgrade.Step) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.faults[s.ID].rollbackErr; err != nil {
		return err
	}
	e.rolled = append(e.rolled, s.ID)
	return nil
}

// Started returns the steps in the order their attempts started, one entry
// per call of Execute.
func (e *Executor) Started() []upgrade.StepID { return e.list(&e.started) }

// Finished returns the steps in the order their attempts returned, one
// entry per call of Execute, whether it failed or not.
func (e *Executor) Finished() []upgrade.StepID { return e.list(&e.finished) }

// Verified returns the steps in the order Verify was called for them.
func (e *Executor) Verified() []upgrade.StepID { return e.list(&e.verified) }

// RolledBack returns the steps successfully rolled back, in order.
func (e *Executor) RolledBack() []upgrade.StepID { return e.list(&e.rolled) }

// InDoubt returns the steps whose attempts ran in doubt (see
// [upgrade.InDoubt]), in the order they started.
func (e *Executor) InDoubt() []upgrade.StepID { return e.list(&e.inDoubt) }

func (e *Executor) list(l *[]upgrade.StepID) []upgrade.StepID {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]upgrade.StepID(nil), *l...)
}

// Calls returns how many times Execute was called for step id.
func (e *Executor) Calls(id upgrade.StepID) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[id]
}

// Peak returns the largest number of Execute calls that were in progress
// at once.
func (e *Executor) Peak() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peak
}
