package upgrade

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hashicorp/go-multierror"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade/internal/dag"
	"github.com/stackup/stackup/upgrade/internal/nilerr"
)

// Executor carries out plan steps: it installs a package on a platform node
// or deploys a new template on an application node.
//
// Execute must return once the step is done or has failed, and should
// return promptly with ctx.Err() when ctx is cancelled: Run waits only a
// grace period for an Execute that does not (see WithGracePeriod). With a concurrency
// above 1, Run calls Execute from several goroutines at once, each for a
// different step, so the executor must then be safe for concurrent use.
//
// An executor may also implement [Verifier] and [Rollbacker].
type Executor interface {
	Execute(ctx context.Context, s Step) error
}

// ExecutorFunc adapts a function to an [Executor].
type ExecutorFunc func(ctx context.Context, s Step) error

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, s Step) error { return f(ctx, s) }

// Verifier is implemented by executors that can check a node's health after
// a step. Run calls Verify after each successful Execute; an error fails the
// attempt as an Execute error would.
type Verifier interface {
	Verify(ctx context.Context, s Step) error
}

// Rollbacker is implemented by executors that can undo a step. With
// WithRollback, when the run fails, Run calls Rollback for the steps that
// succeeded and for those that failed, since a failed step may have changed
// its node in part, in the reverse order of their completion. Rollback must
// therefore cope with a step that was carried out only in part, or not at
// all.
type Rollbacker interface {
	Rollback(ctx context.Context, s Step) error
}

// Permanent marks err as one that retrying cannot mend: Run does not retry
// a step whose attempt returns it. errors.Is and errors.As see through the
// mark.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type inDoubtKey struct{}

// InDoubt reports whether the step being executed with ctx is in doubt: a
// resumed run found it started but never finished, so it may have been
// carried out in full, in part or not at all. An executor should check the
// node's state before acting on such a step.
func InDoubt(ctx context.Context) bool {
	v, _ := ctx.Value(inDoubtKey{}).(bool)
	return v
}

// State is what happened to a step in a run.
type State uint8

// The step states. The zero State is NotStarted.
const (
	// NotStarted: the run ended before the step's turn.
	NotStarted State = iota
	// Succeeded: the executor carried the step out (and verified it).
	Succeeded
	// Failed: the step's last attempt returned an error.
	Failed
	// Skipped: a step it comes after failed, so it was never run.
	Skipped
	// RolledBack: the step was carried out, in full or, if it failed, in
	// part, and then undone. The Outcome's Err keeps a failed step's error.
	RolledBack
)

var stateNames = [...]string{"not started", "succeeded", "failed", "skipped", "rolled back"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Outcome is what happened to one step.
type Outcome struct {
	Step     StepID
	State    State
	Attempts int   // how many attempts this run made: calls of Execute, and attempts that failed before it (fetching the package, say)
	Err      error // the last attempt's error, for a Failed step (whether or not it is undone); for a Succeeded step, why WithRollback did not undo it
	// Resumed says that a journal recorded the step as succeeded in an
	// earlier run, so this run did not execute it.
	Resumed bool
	// Abandoned says that the host's code for the step (Execute, Verify
	// or Rollback, or the Opener reading its package) ignored its context
	// past the grace period, so Run stopped waiting for it; see
	// WithGracePeriod. An error of the host's own that matches
	// ErrAbandoned, as that of a Run of its own may, does not make it so:
	// that call returned.
	Abandoned bool
	// InDoubt says that the step was offered to the executor in doubt
	// (see InDoubt): a journal recorded that an earlier run started it,
	// or started to roll it back, and never recorded the end, so it may
	// have been carried out, or undone, in full, in part or not at all
	// before this run's attempts, whatever State says of them.
	InDoubt bool
}

// Report lists the outcome of every step of a plan, in the order of the
// plan's steps. Every step has exactly one state.
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

// FailurePolicy says what Run does when a step fails.
type FailurePolicy uint8

const (
	// FailFast starts no new step once one has failed; steps already
	// running finish. It is the default.
	FailFast FailurePolicy = iota
	// ContinueIndependent goes on with every step that does not come after
	// a failed one, but for the steps of a node on which Run abandoned a
	// host call (see WithGracePeriod).
	ContinueIndependent
)

// EventKind says what happened in an Event.
type EventKind uint8

// The event kinds.
const (
	StepStarted EventKind = iota + 1
	StepRetrying
	StepSucceeded
	StepFailed
	StepSkipped
	StepRolledBack
	StepWaiting // see Holder; Run never emits it
	// StepRollbackFailed: with WithRollback, a step that the rollback
	// leaves in place, its Rollback having failed or a step after it
	// being still in place; Err says why.
	StepRollbackFailed
)

var eventNames = map[EventKind]string{StepStarted: "started", StepRetrying: "retrying", StepSucceeded: "succeeded",
	StepFailed: "failed", StepSkipped: "skipped", StepRolledBack: "rolled back", StepWaiting: "waiting",
	StepRollbackFailed: "rollback failed"}

func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event reports progress of a run.
type Event struct {
	Kind    EventKind
	Step    *Step
	Attempt int   // the attempt that started, failed or is retried, from 1
	Err     error // for StepRetrying, StepFailed and StepRollbackFailed
	InDoubt bool  // for StepStarted: the step is offered again after a crash
	// WaitingFor, for StepWaiting, is what keeps the step from starting.
	WaitingFor *Holder
	// Done counts the steps finished (succeeded, failed or skipped) so far,
	// of Total.
	Done, Total int
}

// RunOption configures Run.
type RunOption func(*runConfig)

type runConfig struct {
	concurrency int
	policy      FailurePolicy
	rollback    bool
	attempts    int
	backoff     time.Duration
	maxBackoff  time.Duration
	timeout     time.Duration
	events      func(Event)
	logger      *slog.Logger
	journal     Journal
	stale       topology.Topology
	prefetch    pkgsource.Opener
	packages    pkgsource.Opener
	packageDir  string
	stop        <-chan struct{}
	grace       time.Duration
}

// WithConcurrency lets Run execute up to n steps at once. The default is 1,
// and n < 1 means 1, not "no limit" (as it does for [WithMaxMinorStep]).
// A host call abandoned past its grace period (see WithGracePeriod) no
// longer counts: it may still run while n others do.
func WithConcurrency(n int) RunOption { return func(c *runConfig) { c.concurrency = max(n, 1) } }

// WithFailurePolicy sets what Run does when a step fails. The default is
// FailFast. A policy not defined here is refused: Run returns an error
// matching ErrInvalidOption and runs nothing.
func WithFailurePolicy(p FailurePolicy) RunOption { return func(c *runConfig) { c.policy = p } }

// WithRollback makes Run undo, when a step fails, every step that
// succeeded or failed, in the reverse order of completion, if the executor
// is a Rollbacker. A step is not undone while a step after it could not
// be, nor under a step that failed or was cut short in an earlier run of
// the journal and did not run again (it is not undone either), nor while
// its own Execute may still run (Outcome.Abandoned), nor while an
// abandoned call of another step of its node may (see WithGracePeriod). A
// cancelled run is not rolled back; cancelled during the rollback, it
// undoes nothing more: the steps not undone yet stay as they were, each
// with an error (a StepRollbackFailed event, and its Outcome's Err if it
// had succeeded): the context's, or, for a step held by a step after it
// that stays, one naming that step ("step c after it is still in
// place").
func WithRollback() RunOption { return func(c *runConfig) { c.rollback = true } }

// WithRetry makes Run try a failing step up to attempts times in all,
// waiting about backoff before the second attempt and about twice as long
// before each next one, at most about max (DefaultMaxBackoff if max is
// 0). Each wait is drawn at random within 50% of its nominal length, so
// that runners retrying at once spread out. Errors marked Permanent are
// not retried, and under FailFast no step tries again once another has
// failed. The default is one attempt, as is any attempts < 1; a backoff
// < 0 is 0, and a max beyond about 97 years is that.
func WithRetry(attempts int, backoff, max time.Duration) RunOption {
	return func(c *runConfig) { c.attempts, c.backoff, c.maxBackoff = attempts, backoff, max }
}

// DefaultMaxBackoff is the longest nominal wait between two attempts of a
// step when WithRetry gives none.
const DefaultMaxBackoff = 5 * time.Minute

// WithStepTimeout bounds each attempt of a step (Execute and Verify
// together, after reading the step's package with WithPackages, which
// the bound covers too), and each Rollback. The default, like any d <= 0,
// is no bound. A call that outlasts it has its context cancelled with a cause
// (see context.Cause) that says so, such as "step timed out after 30s",
// and matches context.DeadlineExceeded; so does the step's error, which
// says it too when the host's code returned the context's error itself
// ("step timed out after 30s: context deadline exceeded"). A Rollback that
// returns then leaves its step, and the steps before it, in place.
func WithStepTimeout(d time.Duration) RunOption { return func(c *runConfig) { c.timeout = d } }

// stepTimedOut is the cause of the context of an attempt that outlasted
// the step timeout.
type stepTimedOut struct{ after time.Duration }

func (e *stepTimedOut) Error() string { return fmt.Sprintf("step timed out after %v", e.after) }

func (e *stepTimedOut) Unwrap() error { return context.DeadlineExceeded }

// WithEvents makes Run report progress to fn. Run calls fn from one
// goroutine at a time, in the order things happen; fn should return
// quickly, as no step starts while it runs.
func WithEvents(fn func(Event)) RunOption { return func(c *runConfig) { c.events = fn } }

// WithRunLogger makes Run log what it does at info level (debug for
// retries).
func WithRunLogger(l *slog.Logger) RunOption { return func(c *runConfig) { c.logger = l } }

// WithJournal makes Run record every step's start and end in j before it
// goes on, and resume from what j holds: steps recorded as succeeded are
// not run again, and a step recorded as started but not finished is
// offered to the executor again, in doubt (see InDoubt). A step whose
// failed attempt was waiting out its retry backoff (WithRetry) when ctx
// was cancelled is recorded as failed, since nothing of it was running: a
// resumed run tries it again, not in doubt. So is a step cut short while
// its package was read (WithPackages), before its Execute, unless it was
// in doubt already. A *FileJournal
// serves one Run at a time: another Run with it meanwhile gets a
// *LockError (ErrLocked) and runs nothing, and so does one while a call
// of the host's code that the earlier Run abandoned has not returned
// (see WithGracePeriod).
func WithJournal(j Journal) RunOption { return func(c *runConfig) { c.journal = j } }

// WithStaleCheck makes Run, before the first step, read from t the version
// of every node the plan changes and refuse to run, with a *StaleError,
// when one is not what the plan expects (Terraform refuses a saved plan
// whose state has changed). With a journal (WithJournal), a node whose
// steps the journal records as succeeded, or started and in doubt, may be
// at the From of its first step or at the To of any of those steps: the
// topology may not have recorded them yet, as when the process that keeps
// it crashed between a step and that write, so that a resumed run can
// check against the topology as it is. So may a node whose steps the
// journal records as rolled back, at the To of any of those steps: the
// topology may not have learnt of the rollback yet. A version any other
// step would give, or none, is stale, and so is a node the topology no
// longer has (its *StaleError matches topology.ErrNotFound too). So is a
// plan one of whose satisfied checks (Plan.Satisfied) no longer holds: a
// node the plan leaves alone, as it met a demand, that no longer meets it
// or is gone, as when another run has upgraded a platform node the plan's
// applications share. So is a plan that would take a node
// to a version that a node running on it or needing it, which the plan
// does not change, does not allow now (a dependent deployed or changed
// since the plan was made; see topology.Topology's Dependents), but for a
// node that a request of the plan replaces and that has the request's
// version already: the planner takes it for the request's, as the stale
// check does.
func WithStaleCheck(t topology.Topology) RunOption { return func(c *runConfig) { c.stale = t } }

// WithPrefetch makes Run, before the first step, open and read in full the
// package of every platform step it will run through o, which verifies
// it: each package once, and none of a step a journal (WithJournal)
// records as succeeded, which does not run again. With WithPackages, the
// packages are read through its Opener instead, into the copies the steps
// will install, and o is not called. If any cannot be had, Run executes
// nothing and returns an error matching ErrPrefetch.
func WithPrefetch(o pkgsource.Opener) RunOption { return func(c *runConfig) { c.prefetch = o } }

// DefaultGracePeriod is how long Run waits, by default, for the host's
// code to return once its context is done; see WithGracePeriod.
const DefaultGracePeriod = 30 * time.Second

// WithGracePeriod sets how long Run waits for an Executor, Verifier or
// Rollbacker that ignores its context to return, once that context is
// done (the run cancelled, or the step's timeout passed), and for the
// Opener of WithPackages or WithPrefetch reading a package. The default is
// DefaultGracePeriod; 0 waits for ever. A negative d is refused: Run
// returns an error matching ErrInvalidOption and runs nothing.
//
// After the grace period Run stops waiting: the call fails with an error
// matching ErrAbandoned, the step's Outcome says Abandoned, a journal
// keeps the step as started, so that a resumed run offers it again in
// doubt, and the goroutine making the call is left to end whenever the
// host's code returns. It is the one goroutine Run may leave behind.
// The call may still be changing the step's node, so Run leaves the node
// to it: no other step of the node starts in that run, and none is rolled
// back (WithRollback); those not started stay NotStarted, as do the steps
// after them, for a later run to carry out. For the same reason a
// *FileJournal (WithJournal) stays held, its lock included, until every
// call Run abandoned has returned, even past its Close. An Opener
// abandoned reading a step's package fails the step before its Execute:
// a journal records it failed, not in doubt (unless an earlier run left
// it so), and it does not keep the node, nor the steps before it from
// being rolled back. One abandoned under WithPrefetch fails the prefetch
// (ErrPrefetch).
func WithGracePeriod(d time.Duration) RunOption { return func(c *runConfig) { c.grace = d } }

// WithStop makes Run stop once stop is closed, gently: it starts no new
// step and no new attempt of a step being retried, lets the attempts
// already running finish (their context is not cancelled), and returns.
// The steps it did not start stay NotStarted, and so do the steps after
// them; a step whose retry it did not start is Failed with its last
// attempt's error, and the steps after it Skipped, as for any failure.
// When stop closed before every step had run, or before the rollback a
// failed run was due (WithRollback), the error matches ErrStopped (and
// holds any step failures), and the report says what ran. A stopped run
// is not rolled back. Stop closed once the rollback has begun does not cut
// it short: Run undoes all it can, as without stop, and its error does
// not match ErrStopped; cancel ctx to end a rollback early.
//
// With a journal (WithJournal), a stopped run is resumable: a later Run of
// the same plan with the same journal runs every step this one did not
// carry out (those it did not start, and those that failed or were
// skipped, which run again) and none that succeeded. Closing stop before
// Run is called runs no step at all. A nil
// stop never stops the run; cancel ctx to cut running steps short.
func WithStop(stop <-chan struct{}) RunOption { return func(c *runConfig) { c.stop = stop } }

// More sentinel errors of Run.
var (
	// ErrStopped reports a run that stopped, at the caller's request
	// (WithStop), before every step had run.
	ErrStopped = errors.New("stopped")
	// ErrAbandoned reports host code that ignored its context for longer
	// than the grace period (WithGracePeriod).
	ErrAbandoned = errors.New("abandoned: the host's code ignored its context")
	// ErrStalePlan reports a node whose version is not the one the plan
	// was made for.
	ErrStalePlan = errors.New("stale plan")
	// ErrPrefetch reports a package that could not be fetched and verified
	// before the run.
	ErrPrefetch = errors.New("prefetch failed")
	// ErrRollback reports a step that could not be undone.
	ErrRollback = errors.New("rollback failed")
)

// StaleError reports a node whose current version differs from what the
// plan expects, or, with Dependent set, a node that runs on or needs it
// and now requires of it what step Step would not leave. It matches
// ErrStalePlan.
type StaleError struct {
	Node     topology.NodeID
	Step     StepID
	Expected string // the version or versions the plan allows; with Dependent, the version Step takes Node to
	Actual   string // Node's version
	// Dependent, when not nil, is the node, not changed by the plan,
	// whose constraint Step's version breaks.
	Dependent *topology.Dependent
	// Check, when not nil, is the plan's satisfied check that Node no
	// longer meets; Expected is its demand's constraint.
	Check *Check
	// Err, when not nil, is the topology's error for Node, or for its
	// template, matching topology.ErrNotFound: it is gone since the plan
	// was made, as when an application was scaled in.
	Err error
}

func (e *StaleError) Error() string {
	node := topology.Quote(string(e.Node)) // a plan built by hand may hold any ID: quoted, and shortened
	if d := e.Dependent; d != nil {
		return fmt.Sprintf("upgrade: %v: node %s (%s) now requires %s of node %s, which step %s takes to %s: plan again",
			ErrStalePlan, topology.Quote(string(d.Node)), d.App, d.Constraint, node, textID(e.Step), e.Expected)
	}
	if c := e.Check; c != nil {
		if e.Err != nil {
			return fmt.Sprintf("upgrade: %v: the plan found node %s at %s, meeting %s, required by %s, but the topology no longer has it (%v): plan again",
				ErrStalePlan, node, c.Version, e.Expected, c.Demand.Source(), e.Err)
		}
		return fmt.Sprintf("upgrade: %v: node %s has %s, which no longer meets %s, required by %s (the plan found it at %s): plan again",
			ErrStalePlan, node, e.Actual, e.Expected, c.Demand.Source(), c.Version)
	}
	if e.Err != nil {
		return fmt.Sprintf("upgrade: %v: step %s expects node %s at %s, but the topology no longer has it (%v): plan again",
			ErrStalePlan, textID(e.Step), node, e.Expected, e.Err)
	}
	return fmt.Sprintf("upgrade: %v: node %s has %s, but step %s expects %s: plan again", ErrStalePlan, node, e.Actual, textID(e.Step), e.Expected)
}

// Is reports whether target is ErrStalePlan.
func (e *StaleError) Is(target error) bool { return target == ErrStalePlan }

// Unwrap returns Err: a node gone matches topology.ErrNotFound too.
func (e *StaleError) Unwrap() error { return e.Err }

// Run executes plan with exec: every step only after all the steps in its
// After list succeeded, up to the concurrency limit at once, and never two
// steps of one node at once (those of no node share none): of two such
// steps with no order between them, as a plan built by hand may hold, the
// second waits for the node, as it would in pgrun (nor, once Run has
// abandoned a call of one step, does any other step of its node start:
// see WithGracePeriod). One at a time,
// steps run in the plan's order; with more, of the steps ready those with
// the longest chain of steps after them go first, then in the plan's
// order. See the RunOption functions for concurrency, failure
// policy, retries, timeouts, rollback, progress events, journal and resume,
// stale-plan checks, prefetching and stopping gently (WithStop); by default Run executes one step at a
// time and stops starting steps at the first failure.
//
// When a step fails, the steps after it, directly or not, are Skipped.
// Run returns the report and nil when every step succeeded. Otherwise the
// error holds every step failure (*StepError, matching ErrStepFailed) and
// every rollback failure (matching ErrRollback); or it is ctx's error when
// ctx was cancelled before every step succeeded: running steps get the
// cancellation, nothing new starts, and Run returns once they have. Before any step runs, Run
// returns an error matching ErrInvalidPlan for a nil plan or one whose
// steps cannot be ordered, one matching ErrInvalidOption for an option
// value it does not take, and the errors of the journal, the stale-plan
// check and the prefetch; the report is nil then. A nil exec is a
// programming error: Run panics, as NewPlanner does on nil arguments.
//
// Run calls the host's code (Execute, Verify, Rollback) in goroutines of
// its own. A panic there fails the call with a *PanicError, which is not
// retried; the process lives on. A call that ignores its context, an
// Opener's reading a package included (WithPackages, WithPrefetch), is
// waited for a grace period (WithGracePeriod) after the context is done,
// then abandoned. A panic in the caller's other code that Run calls
// (events, journal, logger, Opener) reaches the caller: no step starts
// after it, the running ones finish, and Run panics with it. So does a call of
// runtime.Goexit in any of the caller's code, as t.FailNow makes in a
// test's executor: Run then calls runtime.Goexit itself, ending the
// caller's goroutine as if it had called that code. Run does not return
// before every goroutine it started has ended, but for abandoned calls.
func Run(ctx context.Context, plan *Plan, exec Executor, opts ...RunOption) (*Report, error) {
	if exec == nil {
		panic("upgrade: Run needs an Executor")
	}
	if plan == nil {
		return nil, fmt.Errorf("upgrade: %w: the plan is nil: pass the *Plan that Plan, PlanAll or ReadJSON returned", ErrInvalidPlan)
	}
	cfg := runConfig{concurrency: 1, attempts: 1, grace: DefaultGracePeriod}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.attempts = max(cfg.attempts, 1)
	if cfg.policy > ContinueIndependent {
		return nil, fmt.Errorf("upgrade: WithFailurePolicy(%d): %w: use FailFast or ContinueIndependent", cfg.policy, ErrInvalidOption)
	}
	if cfg.grace < 0 {
		return nil, fmt.Errorf("upgrade: WithGracePeriod(%v): %w: give a positive grace period, or 0 to wait for ever", cfg.grace, ErrInvalidOption)
	}
	var h *hold // of the FileJournal
	if j, ok := cfg.journal.(*FileJournal); ok {
		if j == nil { // OpenFileJournal failed: running without the journal asked for would lose what it is for
			return nil, errors.New("upgrade: WithJournal was given a nil *FileJournal: pass the journal OpenFileJournal returned, or no journal")
		}
		var err error
		if h, err = j.claim(); err != nil {
			return nil, err
		}
		defer h.ran()
	}
	var store *packageStore
	if cfg.packages != nil {
		store = newPackageStore(cfg.packages, cfg.packageDir)
		defer store.Close()
	}
	r, err := newRun(ctx, plan, exec, &cfg, store, h)
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// A run is the state of one Run call. Its workers (see work) share it:
// what they change while steps run is guarded by mu.
type run struct {
	plan     *Plan
	exec     Executor
	cfg      *runConfig
	graph    *dag.Graph // the steps, then the barriers (see edgesOf)
	topo     []int      // the vertices in a topological order
	pos      []int      // pos[i]: i's place in topo
	rank     []uint64   // rank[i]: step i's place among ready steps (see newRun)
	report   *Report
	barriers []State // of each barrier: NotStarted, Succeeded (passed) or Skipped
	held     []int32 // during rollback, per barrier, the vertices after it still in place
	waiting  []int32 // unfinished dependencies per vertex
	inDoubt  []bool
	failed   map[int]bool // the steps an earlier run failed (see resume), which may have changed their nodes
	undone   map[int]bool // the steps an earlier run rolled back, which the topology may not know of yet (see checkStale)
	finished int
	order    []int // completion order of the steps that succeeded or failed
	// The nodes that more than one step changes, which no two steps
	// change at once (see shareNodes): shared[i] is step i's, or -1; and
	// of each, the step that holds it, or -1, and the ready steps that
	// wait for it, by rank. Nil when no node has two steps.
	shared  []int32
	holder  []int32
	waitFor []readyQueue
	// lost holds, of each node on which Run abandoned a host call (see
	// loseNode), that call, which may still be changing the node: no
	// other step of the node starts, nor is undone. Nil until one is.
	lost  map[topology.NodeID]*AbandonedError
	errs  *multierror.Error
	store *packageStore // nil without WithPackages
	mark  *runMark      // on the run's abandonments (see abandoned)
	hold  *hold         // of the FileJournal, which the run's abandoned calls hold on

	mu       sync.Mutex
	wake     sync.Cond // a step is ready, or the run is over
	ready    readyQueue
	running  int           // steps being attempted
	idle     int           // workers waiting on wake
	stopping bool          // a failure (FailFast) or the journal keeps steps from starting
	halting  chan struct{} // closed once stopping is set: no retry starts either (see halt)
	halted   bool          // stop kept an attempt from starting
	workers  sync.WaitGroup
	panicked any  // what the caller's code called by a worker panicked with, first; goexited{} for runtime.Goexit
	broken   bool // a worker panicked, or called runtime.Goexit: the others leave
}

type result struct {
	i        int
	err      error
	attempts int  // Execute calls made
	stopped  bool // an attempt failed and stop kept the next from starting
	// settled says that err is the error of an attempt that ended before
	// the run was cancelled, the step then waiting to try again with
	// nothing of it running, whether the cancellation, the stop or a halt
	// ended the wait; or of one that failed before its Execute (see
	// unchanged), however: the step is not in doubt (see finish).
	settled bool
}

func newRun(ctx context.Context, plan *Plan, exec Executor, cfg *runConfig, store *packageStore, h *hold) (*run, error) {
	graph, order, err := stepGraph(plan)
	if err != nil {
		return nil, err
	}
	n := len(plan.Steps)
	r := &run{plan: plan, exec: exec, cfg: cfg, graph: graph, topo: order, pos: make([]int, graph.Len()),
		report: &Report{Outcomes: make([]Outcome, n)}, barriers: make([]State, len(plan.Barriers)),
		waiting: make([]int32, graph.Len()), inDoubt: make([]bool, n), halting: make(chan struct{}),
		errs: &multierror.Error{ErrorFormat: topology.JoinErrors}, store: store, mark: new(runMark), hold: h}
	r.wake.L = &r.mu
	for i, s := range plan.Steps {
		r.report.Outcomes[i].Step = s.ID
	}
	for p, i := range order {
		r.pos[i] = p
	}
	r.rankSteps()
	r.shareNodes()
	if cfg.journal != nil {
		if err := r.resume(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.stale != nil {
		if err := r.checkStale(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.prefetch != nil {
		if err := r.fetchAll(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// rankSteps sets the rank of each step among ready steps: its place in
// topo in the low 32 bits, so that topo[rank&rankPos] is the step. One at
// a time, that is all: the plan's order is as good as any and what people
// read. With more, the steps with the longest chain of steps after them go
// first, since the critical path is what bounds the run: the high bits
// hold how much shorter a step's chain is than the longest.
func (r *run) rankSteps() {
	n := len(r.plan.Steps)
	r.rank = make([]uint64, n)
	var chain []int32
	var longest int32
	if r.cfg.concurrency > 1 {
		chain = make([]int32, r.graph.Len())
		for k := len(r.topo) - 1; k >= 0; k-- {
			i := r.topo[k]
			for _, j := range r.graph.Next(i) {
				chain[i] = max(chain[i], chain[j]+r.weight(int(j)))
			}
			longest = max(longest, chain[i])
		}
	}
	for i := range n {
		r.rank[i] = uint64(r.pos[i])
		if chain != nil {
			r.rank[i] |= uint64(longest-chain[i]) << 32
		}
	}
}

// rankPos masks a rank's place in topo.
const rankPos = 1<<32 - 1

// run attempts the steps not yet succeeded with a pool of workers and
// returns the report, stopping or rolling back as the configuration says.
func (r *run) run(ctx context.Context) (*Report, error) {
	r.seedReady()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.runWorkers(ctx, runCtx)
	if r.broken {
		if _, ok := r.panicked.(goexited); ok {
			runtime.Goexit() // likewise
		}
		panic(r.panicked) // in the caller's goroutine, as if it had called the code that panicked
	}
	if err := ctx.Err(); err != nil && r.report.Count(Succeeded) < len(r.plan.Steps) {
		return r.report, err // a run cancelled as its last step completed has done all it was asked
	}
	if r.stopped() {
		r.noteStopped()
		return r.report, r.errs.ErrorOrNil() // no rollback: the caller asked to stop
	}
	if r.errs.Len() > 0 && r.cfg.rollback {
		r.rollback(ctx)
	}
	return r.report, r.errs.ErrorOrNil()
}

// seedReady counts each step's and barrier's dependencies not yet
// succeeded, in topo order so that a barrier's dependencies come before
// it, and readies the steps and passes the barriers that wait for none.
func (r *run) seedReady() {
	for _, i := range r.topo {
		if r.state(i) == Succeeded {
			continue
		}
		for _, d := range r.graph.Deps(i) {
			if r.state(int(d)) != Succeeded {
				r.waiting[i]++
			}
		}
		switch {
		case r.waiting[i] > 0:
		case i >= len(r.plan.Steps):
			r.barriers[i-len(r.plan.Steps)] = Succeeded
		default:
			r.ready.push(r.rank[i])
		}
	}
}

// runWorkers starts a pool of workers, one per step that may run at once,
// and the watch if host calls are watched, and waits for the workers to
// leave: each takes the next ready step itself, attempts it, records its
// end and releases the steps after it.
func (r *run) runWorkers(ctx, runCtx context.Context) {
	n := min(r.cfg.concurrency, len(r.plan.Steps))
	var w *watch // nil when no host call needs watching (see run_watch.go)
	if r.cfg.grace > 0 && r.cfg.timeout == 0 {
		w = newWatch(ctx, r, n)
		go w.run(runCtx)
	}
	r.workers.Add(n)
	for k := range n {
		go r.work(ctx, runCtx, w.slot(k))
	}
	r.workers.Wait()
	w.close()
}

// noteStopped adds ErrStopped to the run's errors, and logs it, if the
// stop halted the run, left steps not started or kept a rollback from
// starting.
func (r *run) noteStopped() {
	_, undoable := r.exec.(Rollbacker)
	unrolled := r.cfg.rollback && undoable && r.errs.Len() > 0
	if !r.halted && r.report.Count(NotStarted) == 0 && !unrolled {
		return
	}
	what := ""
	if unrolled {
		what = ", and nothing rolled back"
	}
	r.errs = multierror.Append(r.errs, fmt.Errorf("upgrade: %w: %d of %s not started%s", ErrStopped,
		r.report.Count(NotStarted), count(len(r.plan.Steps), "step"), what))
	if r.cfg.logger != nil {
		r.cfg.logger.Info("upgrade: run stopped", "not_started", r.report.Count(NotStarted))
	}
}

// work is a worker: it takes ready steps and attempts them until none is
// left to start and none running, or none may start any more. Host calls
// run in it, watched through s (nil: unwatched). If the watch gives up on
// a call, the worker leaves at once, touching nothing: the watch has
// finished the step and the worker for it.
//
// A panic of the caller's code the worker calls outside the host calls
// (events, journal, logger) ends the run: the workers leave once their
// steps end, and Run panics with it (see fault). So does a call of
// runtime.Goexit in any of the caller's code, host calls included (as
// t.FailNow makes in a test): Run then calls runtime.Goexit.
func (r *run) work(ctx, runCtx context.Context, s *slot) {
	held := true  // whether the worker holds mu
	left := false // whether the worker left by returning, not by runtime.Goexit
	r.mu.Lock()
	defer func() {
		v := recover()
		if v == nil {
			if left {
				return
			}
			if !s.end() {
				// The watch gave up on the host call, which called
				// runtime.Goexit, and ended the worker.
				r.hold.done()
				return
			}
			v = goexited{}
		}
		if !held {
			r.mu.Lock()
		}
		r.fault(v)
		r.mu.Unlock()
		r.workers.Done()
	}()
	for {
		i, ok := r.next(ctx)
		if !ok {
			if r.running == 0 || r.broken {
				r.wake.Broadcast() // the run is over: the others leave too
				break
			}
			r.idle++
			r.wake.Wait()
			r.idle--
			continue
		}
		r.running++
		held = false
		r.mu.Unlock()
		res, abandoned := r.attempt(runCtx, i, s)
		if abandoned {
			left = true
			return
		}
		r.mu.Lock()
		held = true
		r.done(ctx, res)
	}
	left = true
	r.mu.Unlock()
	r.workers.Done()
}

// goexited is what a run's panicked holds when the caller's code called
// runtime.Goexit in a worker.
type goexited struct{}

// errGoexit is what a host call in a goroutine of its own returns when
// the host's code called runtime.Goexit (see call).
var errGoexit = errors.New("upgrade: the host's code called runtime.Goexit")

// fault records the panic v of the caller's code (goexited{} for
// runtime.Goexit) and ends the run: no step starts, and the workers
// leave. Called with mu held.
func (r *run) fault(v any) {
	if !r.broken {
		r.broken, r.panicked = true, v
	}
	r.halt()
	r.wake.Broadcast()
}

// halt keeps steps from starting, and retries too: a step waiting to
// try again ends with its last attempt's error. Called with mu held.
func (r *run) halt() {
	if !r.stopping {
		r.stopping = true
		close(r.halting)
	}
}

// next takes the next ready step whose node no other step holds, records
// and reports its start, if a step may start. Called with mu held.
func (r *run) next(ctx context.Context) (int, bool) {
	if r.stopping || ctx.Err() != nil || r.stopped() {
		return 0, false
	}
	for r.ready.len() > 0 {
		rank := r.ready.pop()
		if i := r.topo[rank&rankPos]; r.takeNode(i, rank) {
			return i, r.start(ctx, i)
		}
	}
	return 0, false
}

// start records and reports the start of step i, and reports whether it
// may run. Called with mu held.
func (r *run) start(ctx context.Context, i int) bool {
	if err := r.record(ctx, i, RecordStarted); err != nil {
		r.errs = multierror.Append(r.errs, err)
		r.halt()
		return false
	}
	r.report.Outcomes[i].InDoubt = r.inDoubt[i]
	r.emit(Event{Kind: StepStarted, Step: &r.plan.Steps[i], Attempt: 1, InDoubt: r.inDoubt[i]})
	return true
}

// shareNodes finds the nodes that more than one step changes. Two steps
// never change one node at once, as pgrun's node locks keep them apart:
// the planner orders the steps of a node itself, but a plan built by hand,
// or read from a file, may leave them unordered. Steps without a node
// share none. One at a time, no two steps run at once anyway.
func (r *run) shareNodes() {
	if r.cfg.concurrency <= 1 {
		return
	}
	first := make(map[topology.NodeID]int, len(r.plan.Steps)) // each node's first step
	for i := range r.plan.Steps {
		node := r.plan.Steps[i].Node
		if node == "" {
			continue
		}
		f, seen := first[node]
		if !seen {
			first[node] = i
			continue
		}
		if r.shared == nil {
			r.shared = slices.Repeat([]int32{-1}, len(r.plan.Steps))
		}
		if r.shared[f] < 0 { // its second step: the node is shared
			r.shared[f] = int32(len(r.holder))
			r.holder = append(r.holder, -1)
		}
		r.shared[i] = r.shared[f]
	}
	r.waitFor = make([]readyQueue, len(r.holder))
}

// takeNode reports whether ready step i, of rank rank, may start: its
// node is no other step's, or it is one no other step holds, which i
// then holds. Otherwise i waits for the node; or, when an abandoned call
// may still be changing the node (see loseNode), it does not start in
// this run. Called with mu held.
func (r *run) takeNode(i int, rank uint64) bool {
	if len(r.lost) > 0 && r.lost[r.plan.Steps[i].Node] != nil {
		return false
	}
	if r.shared == nil || r.shared[i] < 0 {
		return true
	}
	g := r.shared[i]
	switch r.holder[g] {
	case -1:
		r.holder[g] = int32(i)
	case int32(i): // handed over by the step before it (see freeNode)
	default:
		r.waitFor[g].push(rank)
		return false
	}
	return true
}

// freeNode frees the node of step i, which has ended, handing it over to
// the first step waiting for it, which is ready again. Called with mu
// held.
func (r *run) freeNode(i int) {
	if r.shared == nil || r.shared[i] < 0 {
		return
	}
	g := r.shared[i]
	if r.waitFor[g].len() == 0 {
		r.holder[g] = -1
		return
	}
	rank := r.waitFor[g].pop()
	r.holder[g] = int32(r.topo[rank&rankPos])
	r.ready.push(rank)
}

// loseNode notes, when err, step i's, says that Run abandoned a host
// call of the step that may change its node (not the Opener's), that the
// call may still be changing the node: Run leaves the node to it, as
// pgrun keeps its node lock until the call returns, and no other step of
// the node starts or is undone in this run. It reports whether it did.
// Called with mu held, or once the workers have left.
func (r *run) loseNode(i int, err error) bool {
	a := r.abandoned(err)
	if a == nil || a.Method == string(callOpen) {
		return false
	}
	if node := r.plan.Steps[i].Node; node != "" && r.lost[node] == nil {
		if r.lost == nil {
			r.lost = make(map[topology.NodeID]*AbandonedError)
		}
		r.lost[node] = a
	}
	return true
}

// done records the end of an attempted step, and wakes as many idle
// workers as there are steps it made ready beyond the one the calling
// worker takes next. Called with mu held.
func (r *run) done(ctx context.Context, res result) {
	r.running--
	if !r.loseNode(res.i, res.err) {
		r.freeNode(res.i)
	}
	if res.stopped {
		r.halted = true
	}
	if r.finish(ctx, res) && r.cfg.policy == FailFast {
		r.halt()
	}
	switch extra := min(r.ready.len()-1, r.idle); {
	case extra <= 0:
	case extra == r.idle:
		r.wake.Broadcast()
	default:
		for range extra {
			r.wake.Signal()
		}
	}
}

// stopped reports whether the caller's stop channel is closed.
func (r *run) stopped() bool {
	select {
	case <-r.cfg.stop:
		return true
	default:
		return false
	}
}

// attempt runs step i, with retries, and returns the result; or abandoned,
// when the watch gave up on a host call of the step (see work).
func (r *run) attempt(ctx context.Context, i int, s *slot) (res result, abandoned bool) {
	if r.inDoubt[i] {
		ctx = context.WithValue(ctx, inDoubtKey{}, true)
	}
	var wait *backoff.ExponentialBackOff
	for n := 1; ; n++ {
		executed, err := r.once(ctx, i, n, s)
		if err == errGone {
			return result{}, true
		}
		if err == nil || n >= r.cfg.attempts || IsPermanent(err) || ctx.Err() != nil {
			return result{i: i, err: err, attempts: n, settled: r.unchanged(i, executed)}, false
		}
		// The attempt ended before any cancellation: from here on, the
		// step waits to try again with nothing of it running, however
		// the wait ends (see result.settled).
		last := result{i: i, err: err, attempts: n, settled: true}
		if no, stopped := r.retrying(ctx, i, n+1, err); no {
			last.stopped = stopped
			return last, false
		}
		if wait == nil {
			wait = newBackoff(r.cfg.backoff, r.cfg.maxBackoff)
		}
		t := time.NewTimer(wait.NextBackOff())
		select {
		case <-t.C:
			// The run may have halted or stopped as the wait ended, and
			// select picks at random among what is ready.
			r.mu.Lock()
			no, stopped := r.noRetry(ctx)
			r.mu.Unlock()
			if no {
				last.stopped = stopped
				return last, false
			}
		case <-ctx.Done():
			t.Stop()
			return last, false // the last attempt's error
		case <-r.halting:
			t.Stop()
			return last, false
		case <-r.cfg.stop:
			t.Stop()
			last.stopped = true
			return last, false
		}
	}
}

// unchanged reports whether an attempt of step i that failed, Execute
// called or not (executed), left the step as this run found it, with
// nothing of it running: when it failed reading the step's package, of a
// step not in doubt. (One in doubt stays so: no Execute was told.)
func (r *run) unchanged(i int, executed bool) bool {
	return !executed && !r.inDoubt[i]
}

// retrying reports that attempt n of step i comes after one failed with
// err, unless no attempt may start (see noRetry): it then reports that,
// and whether the stop is why.
func (r *run) retrying(ctx context.Context, i, n int, err error) (no, stopped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if no, stopped := r.noRetry(ctx); no {
		return true, stopped
	}
	r.emit(Event{Kind: StepRetrying, Step: &r.plan.Steps[i], Attempt: n, Err: err})
	if r.cfg.logger != nil {
		r.cfg.logger.Debug("upgrade: retrying step", "step", r.plan.Steps[i].ID, "attempt", n, "err", err)
	}
	return false, false
}

// noRetry reports whether no new attempt of a step may start: not once
// stop is closed (stopped), nor once the run halted, as FailFast does
// after another step's failure, nor once ctx is done. Called with mu
// held, so that a failure is either recorded before, and halts the
// retry, or after the attempt started.
func (r *run) noRetry(ctx context.Context) (no, stopped bool) {
	if r.stopped() {
		return true, true
	}
	return r.stopping || ctx.Err() != nil, false
}

// newBackoff returns the waits between attempts: first about initial,
// then twice as long each time, at most about longest (DefaultMaxBackoff
// if longest is 0), each drawn within 50% of its nominal length.
func newBackoff(initial, longest time.Duration) *backoff.ExponentialBackOff {
	if longest <= 0 {
		longest = DefaultMaxBackoff
	}
	// A wait drawn at random goes up to half as long again as its nominal
	// length: at most a third of the longest Duration, so that no wait
	// overflows into a negative one (an attempt at once) however long the
	// caller's longest is. A negative backoff is none.
	longest = min(longest, math.MaxInt64/3)
	initial = max(initial, 0)
	return &backoff.ExponentialBackOff{InitialInterval: min(initial, longest), RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: longest}
}

// once executes and verifies step i, within the step timeout: attempt n
// of it. It returns whether Execute was called (not when reading the
// step's package failed), and errGone when the watch gave up on a host
// call (see work).
func (r *run) once(ctx context.Context, i, n int, s *slot) (executed bool, err error) {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	if p := r.plan.Steps[i].Package; r.store != nil && p != nil {
		if err := r.fetch(ctx, i, n, s); err != nil {
			return false, err
		}
		ctx = context.WithValue(ctx, packageFileKey{}, r.store.Made(*p))
	}
	if err := r.host(ctx, callExecute, i, n, s); err != nil {
		return true, timedOut(ctx, err)
	}
	if _, ok := r.exec.(Verifier); ok {
		if err := r.host(ctx, callVerify, i, n, s); err != nil {
			return true, verifyError(callVerify, timedOut(ctx, err))
		}
	}
	return true, nil
}

// fetch reads the package of step i through the host's Opener, for
// attempt n (0 for the prefetch): into its private copy with WithPackages,
// or else through WithPrefetch's Opener. It is a host call, abandoned as
// Execute is when the Opener ignores its context (see host); a panic of
// the Opener reaches the caller, as WithPackages says, not the step.
func (r *run) fetch(ctx context.Context, i, n int, s *slot) error {
	err := r.host(ctx, callOpen, i, n, s)
	if p, ok := errors.AsType[*PanicError](err); ok && p.Method == string(callOpen) {
		panic(p.Value)
	}
	return timedOut(ctx, err)
}

// timedOut returns err, a host call's error, saying that the step
// timeout ended the call when it did and err is ctx.Err() itself, as
// Executor asks: "context deadline exceeded" alone names neither the
// timeout nor its length. An error of the host's own is left as it is.
func timedOut(ctx context.Context, err error) error {
	var t *stepTimedOut
	if err == context.DeadlineExceeded && errors.As(context.Cause(ctx), &t) {
		return fmt.Errorf("%w: %w", t, err)
	}
	return err
}

// host calls the host's method m for attempt n of step i: in the worker,
// watched through s, when that is enough to abandon it (see run_watch.go);
// otherwise in a goroutine of its own (see call). It returns errGone when
// the watch gave up on the call.
func (r *run) host(ctx context.Context, m hostMethod, i, n int, s *slot) error {
	switch {
	case r.cfg.grace == 0:
		return r.invokeHere(ctx, m, i) // waited for, however long
	case s == nil:
		return r.call(ctx, m, i)
	}
	return s.call(ctx, m, i, n)
}

// hostMethod names a method of the host's code.
type hostMethod string

const (
	callExecute  hostMethod = "Execute"
	callVerify   hostMethod = "Verify"
	callRollback hostMethod = "Rollback"
	callOpen     hostMethod = "Open" // the Opener's, reading a step's package (see fetch)
)

// call calls the host's method m for step i in a goroutine of its own, and
// returns its error; a panic, recovered, as a permanent *PanicError. Once
// ctx is done, it waits for m at most the grace period, then returns an
// *AbandonedError and leaves the goroutine behind. If m calls
// runtime.Goexit, so does call, as if it had called m itself.
func (r *run) call(ctx context.Context, m hostMethod, i int) error {
	done := make(chan error, 1) // the goroutine never blocks, even abandoned
	var settled atomic.Bool     // set by the goroutine as m returns, or as the call is abandoned, whichever comes first
	go func() {
		defer func() {
			if !settled.CompareAndSwap(false, true) {
				r.hold.done() // the call, abandoned, has ended
			}
		}()
		r.invoke(ctx, m, i, done)
	}()
	select {
	case err := <-done:
		return exitIf(err)
	case <-ctx.Done():
	}
	if r.cfg.grace == 0 {
		return exitIf(<-done)
	}
	t := time.NewTimer(r.cfg.grace)
	defer t.Stop()
	select {
	case err := <-done:
		return exitIf(err)
	case <-t.C:
		r.hold.add() // before the goroutine may count the call's end
		if !settled.CompareAndSwap(false, true) {
			r.hold.done()
			return exitIf(<-done) // it returned meanwhile
		}
		return r.abandonment(m, i, context.Cause(ctx))
	}
}

// runMark tells the abandonments of one run from those of any other (see
// abandoned). It is not empty, so that each is at an address of its own.
type runMark struct{ _ byte }

// abandonment returns the error of the host's method m for step i, which
// the run gave up on after the grace period that followed its context's
// end, with cause: a permanent *AbandonedError.
func (r *run) abandonment(m hostMethod, i int, cause error) error {
	return Permanent(&AbandonedError{Method: string(m), Step: r.plan.Steps[i].ID, Grace: r.cfg.grace, Cause: cause, by: r.mark})
}

// abandoned returns the *AbandonedError of err, an error of a host call,
// when the run gave up on the call, and nil otherwise: an error of the
// host's own that matches ErrAbandoned, such as that of a Run of its own
// that gave up on a call of its plan, comes from a call that returned.
func (r *run) abandoned(err error) *AbandonedError {
	if a, ok := errors.AsType[*AbandonedError](err); ok && a.by == r.mark {
		return a
	}
	return nil
}

// exitIf calls runtime.Goexit if err is errGoexit, and returns err
// otherwise.
func exitIf(err error) error {
	if err == errGoexit {
		runtime.Goexit()
	}
	return err
}

// invoke calls the host's method m for step i and sends its error to done,
// errGoexit if m calls runtime.Goexit.
func (r *run) invoke(ctx context.Context, m hostMethod, i int, done chan<- error) {
	err := errGoexit // unless invokeHere returns
	defer func() { done <- err }()
	err = r.invokeHere(ctx, m, i)
}

// invokeHere calls the host's method m for step i and returns its error;
// a panic, recovered, as a permanent *PanicError; a nil pointer of an
// error type as a permanent error saying so (see nilError).
func (r *run) invokeHere(ctx context.Context, m hostMethod, i int) (err error) {
	s := &r.plan.Steps[i]
	defer func() {
		if v := recover(); v != nil {
			err = Permanent(&PanicError{Method: string(m), Step: s.ID, Value: v, Stack: debug.Stack()})
		}
	}()
	switch m {
	case callExecute:
		err = r.exec.Execute(ctx, *s)
	case callVerify:
		err = r.exec.(Verifier).Verify(ctx, *s)
	case callRollback:
		err = r.exec.(Rollbacker).Rollback(ctx, *s)
	case callOpen:
		if r.store != nil {
			_, err = r.store.file(ctx, *s.Package)
		} else {
			err = fetch(ctx, r.cfg.prefetch, *s.Package)
		}
	}
	return nilError(m, s.ID, err)
}

// nilError returns err, the error of the host's method m for step id,
// unless it is a nil pointer (or map, slice, func or channel) of an error
// type, as a function that returns a nil *multierror.Error as its error
// returns: an error, not nil, whose methods may expect a receiver that is
// not nil, and whose message says nothing. It is then a permanent error
// that says so, which Run looks through safely.
func nilError(m hostMethod, id StepID, err error) error {
	if e := nilerr.Of(string(m), textID(id), err); e != nil {
		return Permanent(e)
	}
	return err
}

// finish records the end of a step and releases or skips the steps after
// it. It reports whether the step failed.
func (r *run) finish(ctx context.Context, res result) (failed bool) {
	o := &r.report.Outcomes[res.i]
	s := &r.plan.Steps[res.i]
	o.Attempts = res.attempts
	r.finished++
	unrecorded := false
	if res.err == nil {
		if err := r.record(ctx, res.i, RecordSucceeded); err != nil {
			// Not durable: treat as a failure, so nothing after it runs.
			res.err, unrecorded = err, true
		}
	}
	if res.err != nil {
		o.State, o.Err = Failed, res.err
		r.order = append(r.order, res.i)
		// A step cut short by cancellation, or abandoned, may be done in
		// part, and one whose success could not be recorded is done: leave
		// it started in the journal, so that a resumed run offers it in
		// doubt. One cancelled while it waited to try again is not cut
		// short: its last attempt had failed, and nothing of it ran; nor
		// is one cut short, or abandoned, reading its package, before its
		// Execute.
		o.Abandoned = r.abandoned(res.err) != nil
		if (ctx.Err() == nil && !o.Abandoned || res.settled) && !unrecorded {
			if err := r.record(ctx, res.i, RecordFailed); err != nil {
				r.errs = multierror.Append(r.errs, err)
			}
		}
		r.errs = multierror.Append(r.errs, &StepError{Step: s.ID, Node: s.Node, Err: res.err})
		if r.cfg.logger != nil {
			r.cfg.logger.Info("upgrade: step failed", "step", s.ID, "node", s.Node, "err", res.err)
		}
		r.emit(Event{Kind: StepFailed, Step: s, Attempt: res.attempts, Err: res.err})
		r.skipAfter(res.i)
		return true
	}
	o.State = Succeeded
	r.order = append(r.order, res.i)
	if r.cfg.logger != nil {
		r.cfg.logger.Info("upgrade: step succeeded", "step", s.ID, "node", s.Node, "to", s.To)
	}
	r.emit(Event{Kind: StepSucceeded, Step: s, Attempt: res.attempts})
	r.release(res.i)
	return false
}

// release counts vertex i as succeeded for the vertices after it: a step
// left with nothing to wait for is ready, a barrier passed, and so on
// past it. It walks with a stack of its own rather than by recursion: a
// plan may chain barriers by the million, more than a goroutine's stack
// holds.
func (r *run) release(i int) {
	for passed := []int{i}; len(passed) > 0; {
		v := passed[len(passed)-1]
		passed = passed[:len(passed)-1]
		for _, j := range r.graph.Next(v) {
			if r.waiting[j]--; r.waiting[j] > 0 || r.state(int(j)) != NotStarted {
				continue
			}
			if b := int(j) - len(r.plan.Steps); b >= 0 {
				r.barriers[b] = Succeeded
				passed = append(passed, int(j))
			} else {
				r.ready.push(r.rank[j])
			}
		}
	}
}

// skipAfter marks every step after vertex i, directly or not, Skipped,
// depth first and each vertex's next ones in order, as a recursive walk
// would, but with a stack of its own (see release).
func (r *run) skipAfter(i int) {
	next := r.graph.Next(i)
	var stack [][]int32 // the vertices still to look at after each vertex on the way
	for {
		for len(next) == 0 {
			if len(stack) == 0 {
				return
			}
			next, stack = stack[len(stack)-1], stack[:len(stack)-1]
		}
		j := int(next[0])
		next = next[1:]
		if r.state(j) != NotStarted {
			continue
		}
		if b := j - len(r.plan.Steps); b >= 0 {
			r.barriers[b] = Skipped
		} else {
			r.report.Outcomes[j].State = Skipped
			r.finished++
			r.emit(Event{Kind: StepSkipped, Step: &r.plan.Steps[j]})
		}
		if len(next) > 0 {
			stack = append(stack, next)
		}
		next = r.graph.Next(j)
	}
}

// state returns the state of vertex i, a step or a barrier.
func (r *run) state(i int) State {
	if b := i - len(r.plan.Steps); b >= 0 {
		return r.barriers[b]
	}
	return r.report.Outcomes[i].State
}

// weight is 1 for a step and 0 for a barrier, which takes no time.
func (r *run) weight(i int) int32 {
	if i < len(r.plan.Steps) {
		return 1
	}
	return 0
}

// inPlace reports whether vertex i keeps the vertices before it from being
// rolled back: a step that succeeded or failed (it may have changed its
// node), one that failed or was cut short in an earlier run and has not
// run again (not started, or skipped), or a barrier with such a step
// after it.
func (r *run) inPlace(i int) bool {
	if b := i - len(r.plan.Steps); b >= 0 {
		return r.held[b] > 0
	}
	switch r.report.Outcomes[i].State {
	case Succeeded, Failed:
		return true
	case NotStarted, Skipped: // not run again
		return r.failed[i] || r.inDoubt[i]
	}
	return false
}

// countHeld sets, for each barrier, how many vertices after it are in
// place, the last barriers first.
func (r *run) countHeld() {
	n := len(r.plan.Steps)
	r.held = make([]int32, len(r.plan.Barriers))
	for k := len(r.topo) - 1; k >= 0; k-- {
		if v := r.topo[k]; v >= n {
			for _, j := range r.graph.Next(v) {
				if r.inPlace(int(j)) {
					r.held[v-n]++
				}
			}
		}
	}
}

// heldBy says why a step is not undone: step i, after it, is in place.
func (r *run) heldBy(i int) error {
	if st := r.report.Outcomes[i].State; st == NotStarted || st == Skipped {
		return fmt.Errorf("step %s after it failed, or was cut short, in an earlier run, and may have changed its node", textID(r.plan.Steps[i].ID))
	}
	return fmt.Errorf("step %s after it is still in place", textID(r.plan.Steps[i].ID))
}

// stillInPlace returns the index of a step in place at or after vertex i,
// which is in place.
func (r *run) stillInPlace(i int) int {
	for i >= len(r.plan.Steps) {
		for _, j := range r.graph.Next(i) {
			if r.inPlace(int(j)) {
				i = int(j)
				break
			}
		}
	}
	return i
}

// unhold tells the barriers before vertex i, which is no longer in place,
// and those before them in turn when they are no longer held, with a
// stack of its own (see release).
func (r *run) unhold(i int) {
	for freed := []int{i}; len(freed) > 0; {
		v := freed[len(freed)-1]
		freed = freed[:len(freed)-1]
		for _, d := range r.graph.Deps(v) {
			if b := int(d) - len(r.plan.Steps); b >= 0 {
				if r.held[b]--; r.held[b] == 0 {
					freed = append(freed, int(d))
				}
			}
		}
	}
}

// notUndone returns why the rollback leaves step i in place, or nil when
// it undoes it.
func (r *run) notUndone(ctx context.Context, i int) error {
	for _, j := range r.graph.Next(i) {
		if r.inPlace(int(j)) {
			if err := r.heldBy(r.stillInPlace(int(j))); err != nil {
				return err
			}
			break
		}
	}
	s := &r.plan.Steps[i]
	switch {
	case r.report.Outcomes[i].Abandoned && !fetching(r.report.Outcomes[i].Err):
		// Its Execute may still be changing the node: undoing it now
		// would race it, and the steps before it stay for it. An
		// Opener still reading its package changes no node.
		return fmt.Errorf("%w: its Execute may still be running, so it is not undone", ErrAbandoned)
	case s.Node != "" && r.lost[s.Node] != nil:
		// So may another step's call on its node.
		a := r.lost[s.Node]
		return fmt.Errorf("%w: the %s of step %s, abandoned, may still be changing node %s, so it is not undone",
			ErrAbandoned, a.Method, textID(a.Step), topology.Quote(string(s.Node)))
	case ctx.Err() != nil:
		// Cancelled during the rollback: what is not undone yet stays,
		// unrecorded, as it was.
		return fmt.Errorf("not undone, the run being cancelled: %w", context.Cause(ctx))
	}
	return nil
}

// rollback undoes the steps that succeeded or failed, last completed first,
// keeping a step while a step after it could not be undone.
func (r *run) rollback(ctx context.Context) {
	if _, ok := r.exec.(Rollbacker); !ok {
		return
	}
	r.countHeld()
	for k := len(r.order) - 1; k >= 0; k-- {
		i := r.order[k]
		s := &r.plan.Steps[i]
		o := &r.report.Outcomes[i]
		err := r.notUndone(ctx, i)
		if err == nil {
			// Recorded first, so that a crash during the rollback leaves
			// the step in doubt, neither done nor undone.
			err = r.record(ctx, i, RecordRollingBack)
		}
		if err == nil {
			err = r.undo(ctx, i)
			o.Abandoned = r.abandoned(err) != nil
			r.loseNode(i, err)
		}
		if err == nil {
			err = r.record(ctx, i, RecordRolledBack)
		}
		if err != nil {
			if o.State == Succeeded {
				o.Err = err
			}
			r.errs = multierror.Append(r.errs, fmt.Errorf("upgrade: %w: step %s on node %s: %w", ErrRollback, textID(s.ID), topology.Quote(string(s.Node)), err))
			if r.cfg.logger != nil {
				r.cfg.logger.Info("upgrade: step not rolled back", "step", s.ID, "node", s.Node, "err", err)
			}
			r.emit(Event{Kind: StepRollbackFailed, Step: s, Err: err})
			continue
		}
		o.State = RolledBack
		r.unhold(i)
		if r.cfg.logger != nil {
			r.cfg.logger.Info("upgrade: step rolled back", "step", s.ID, "node", s.Node)
		}
		r.emit(Event{Kind: StepRolledBack, Step: s})
	}
}

// fetching reports whether err, an abandoned step's, abandoned the
// Opener reading its package, before any Execute.
func fetching(err error) bool {
	a, ok := errors.AsType[*AbandonedError](err)
	return ok && a.Method == string(callOpen)
}

// bounded returns ctx bounded by the step timeout, if there is one, and
// the function that releases it.
func (r *run) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.cfg.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, r.cfg.timeout, &stepTimedOut{r.cfg.timeout})
}

// undo calls the host's Rollback for step i, within the step timeout.
func (r *run) undo(ctx context.Context, i int) error {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	if p := r.plan.Steps[i].Package; r.store != nil && p != nil {
		ctx = context.WithValue(ctx, packageFileKey{}, r.store.Made(*p))
	}
	return timedOut(ctx, r.call(ctx, callRollback, i))
}

func (r *run) emit(e Event) {
	if r.cfg.events == nil {
		return
	}
	e.Done, e.Total = r.finished, len(r.plan.Steps)
	r.cfg.events(e)
}
