package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// h18Nodes is an executor that notes every host call that starts while
// another runs on its node. The calls named in stubborn ("Execute a",
// "Rollback a") ignore their context and return only once release is
// closed; the steps in fail fail permanently.
type h18Nodes struct {
	stubborn map[string]bool
	fail     map[upgrade.StepID]bool
	release  chan struct{}

	mu      sync.Mutex
	running map[topology.NodeID][]string // the calls under way on each node
	overlap []string                     // each call that started while another ran on its node
	calls   []string
}

func newH18Nodes(fail []upgrade.StepID, stubborn ...string) *h18Nodes {
	e := &h18Nodes{stubborn: map[string]bool{}, fail: map[upgrade.StepID]bool{}, release: make(chan struct{}),
		running: map[topology.NodeID][]string{}}
	for _, c := range stubborn {
		e.stubborn[c] = true
	}
	for _, id := range fail {
		e.fail[id] = true
	}
	return e
}

func (e *h18Nodes) call(method string, s upgrade.Step) error {
	c := method + " " + string(s.ID)
	e.mu.Lock()
	e.calls = append(e.calls, c)
	if s.Node != "" {
		if len(e.running[s.Node]) > 0 {
			e.overlap = append(e.overlap, fmt.Sprintf("%s while %v ran on %s", c, e.running[s.Node], s.Node))
		}
		e.running[s.Node] = append(e.running[s.Node], c)
	}
	e.mu.Unlock()
	if e.stubborn[c] {
		<-e.release // deaf to its context
	}
	e.mu.Lock()
	if s.Node != "" {
		e.running[s.Node] = deleteOne(e.running[s.Node], c)
	}
	e.mu.Unlock()
	if method == "Execute" && e.fail[s.ID] {
		return upgrade.Permanent(errors.New("broken"))
	}
	return nil
}

func deleteOne(calls []string, c string) []string {
	for k, x := range calls {
		if x == c {
			return append(calls[:k:k], calls[k+1:]...)
		}
	}
	return calls
}

func (e *h18Nodes) Execute(_ context.Context, s upgrade.Step) error  { return e.call("Execute", s) }
func (e *h18Nodes) Rollback(_ context.Context, s upgrade.Step) error { return e.call("Rollback", s) }

func (e *h18Nodes) seen() (calls, overlap []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...), append([]string(nil), e.overlap...)
}

// TestHunt18AbandonedCallKeepsItsNode: Run never runs two steps of one
// node at once, and a host call it abandons (its step timed out and the
// call ignored its context past the grace period) may still be changing
// the node. Before, Run freed the node at once: a step of the same node,
// with no order between them, started while the abandoned Execute still
// ran (under ContinueIndependent, at any concurrency), and the rollback
// undid a step of the node while an abandoned Execute, or an abandoned
// Rollback of another of its steps, still ran on it. Now no other call
// touches the node in that Run: its other steps stay NotStarted, with no
// event and no record, so that a resumed run carries them out, and the
// rollback leaves them, saying why.
func TestHunt18AbandonedCallKeepsItsNode(t *testing.T) {
	timing := []upgrade.RunOption{upgrade.WithStepTimeout(time.Minute), upgrade.WithGracePeriod(10 * time.Second)}
	for _, concurrency := range []int{1, 2} {
		t.Run(fmt.Sprintf("continue/concurrency %d", concurrency), func(t *testing.T) {
			path := jrPath(t)
			plan := &upgrade.Plan{ID: "sha256:h18", Steps: []upgrade.Step{
				{ID: "a", Node: "n1"}, {ID: "b", Node: "n1"}, {ID: "c", Node: "n2"}, {ID: "d", Node: "n1", After: []upgrade.StepID{"c"}}}}
			synctest.Test(t, func(t *testing.T) {
				exec := newH18Nodes(nil, "Execute a")
				j, err := upgrade.OpenFileJournal(path)
				require.NoError(t, err)
				var mu sync.Mutex
				started := map[upgrade.StepID]bool{}
				report, err := upgrade.Run(t.Context(), plan, exec, append(timing, upgrade.WithJournal(j),
					upgrade.WithConcurrency(concurrency), upgrade.WithFailurePolicy(upgrade.ContinueIndependent),
					upgrade.WithEvents(func(e upgrade.Event) {
						if e.Kind == upgrade.StepStarted {
							mu.Lock()
							started[e.Step.ID] = true
							mu.Unlock()
						}
					}))...)
				require.NoError(t, j.Close())
				require.ErrorIs(t, err, upgrade.ErrAbandoned)
				calls, overlap := exec.seen()
				assert.Empty(t, overlap, "a step of n1 ran while a's abandoned Execute did")
				assert.ElementsMatch(t, []string{"Execute a", "Execute c"}, calls)
				a, _ := report.Outcome("a")
				assert.Equal(t, upgrade.Failed, a.State)
				assert.True(t, a.Abandoned)
				for _, id := range []upgrade.StepID{"b", "d"} {
					o, _ := report.Outcome(id)
					assert.Equal(t, upgrade.NotStarted, o.State, "%s: its node may still be changed by a", id)
					assert.False(t, started[id], "%s: an event said it started", id)
				}
				c, _ := report.Outcome("c")
				assert.Equal(t, upgrade.Succeeded, c.State, "other nodes go on")
				close(exec.release)
			})
			last := hfLast(t, path, "sha256:h18")
			assert.Equal(t, upgrade.RecordStarted, last["a"], "a stays in doubt")
			assert.NotContains(t, last, upgrade.StepID("b"), "b never started: a resumed run carries it out")
			assert.NotContains(t, last, upgrade.StepID("d"))
		})
	}
	rollbacks := []struct {
		name     string
		plan     []upgrade.Step
		fail     []upgrade.StepID
		stubborn string
	}{
		// b, done, has no order with a, abandoned in its Execute.
		{"execute", []upgrade.Step{{ID: "b", Node: "n1"}, {ID: "a", Node: "n1"}}, nil, "Execute a"},
		// x fails; the rollback of a is abandoned, and b has no order with a.
		{"rollback", []upgrade.Step{{ID: "b", Node: "n1"}, {ID: "a", Node: "n1"}, {ID: "x"}}, []upgrade.StepID{"x"}, "Rollback a"},
	}
	for _, tc := range rollbacks {
		t.Run("rollback/"+tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				exec := newH18Nodes(tc.fail, tc.stubborn)
				report, err := upgrade.Run(t.Context(), &upgrade.Plan{Steps: tc.plan}, exec, append(timing, upgrade.WithRollback())...)
				require.ErrorIs(t, err, upgrade.ErrRollback)
				_, overlap := exec.seen()
				assert.Empty(t, overlap, "a call on n1 ran while %s, abandoned, did", tc.stubborn)
				b, _ := report.Outcome("b")
				assert.Equal(t, upgrade.Succeeded, b.State, "b stays")
				assert.ErrorIs(t, b.Err, upgrade.ErrAbandoned)
				assert.ErrorContains(t, b.Err, "step a")
				assert.ErrorContains(t, b.Err, "n1")
				close(exec.release)
			})
		})
	}
}

// h18Err is an error type whose methods, as many are, expect a non-nil
// receiver.
type h18Err struct{ cause error }

func (e *h18Err) Error() string { return "exec: " + e.cause.Error() }
func (e *h18Err) Unwrap() error { return e.cause }

// h18NilErrors returns, from the method named in where, a nil pointer of
// an error type: an error that is not nil.
type h18NilErrors struct {
	where string
	merr  bool // a nil *multierror.Error rather than a nil *h18Err
	calls int
}

func (e *h18NilErrors) err(method string) error {
	if method != e.where {
		return nil
	}
	e.calls++
	if e.merr {
		var merr *multierror.Error // the caller forgot ErrorOrNil
		return merr
	}
	var none *h18Err
	return none
}

func (e *h18NilErrors) Execute(context.Context, upgrade.Step) error  { return e.err("Execute") }
func (e *h18NilErrors) Verify(context.Context, upgrade.Step) error   { return e.err("Verify") }
func (e *h18NilErrors) Rollback(context.Context, upgrade.Step) error { return e.err("Rollback") }

// TestHunt18NilPointerErrorFromHostCode: host code that returns a nil
// pointer of an error type (a nil *multierror.Error without ErrorOrNil,
// say) returns an error that is not nil, the classic Go slip. Before, Run
// panicked, crashing the caller, when the type's Unwrap used its
// receiver, as Run looked through the error; otherwise it retried the
// step and failed it with "upgrade: step a on node "n": <nil>", which
// says neither what went wrong nor what to do. Now the call fails, at
// once (it is not retried), with an error that names the method, the
// step and the type, and says to return nil for success.
func TestHunt18NilPointerErrorFromHostCode(t *testing.T) {
	for _, where := range []string{"Execute", "Verify", "Rollback"} {
		for _, merr := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/multierror %v", where, merr), func(t *testing.T) {
				exec := &h18NilErrors{where: where, merr: merr}
				plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "a", Node: "n"}, {ID: "b", Node: "m"}}}
				opts := []upgrade.RunOption{upgrade.WithRetry(3, 0, 0)}
				if where == "Rollback" {
					// b fails, and the rollback undoes it.
					plan.Steps[1].After = []upgrade.StepID{"a"}
					opts = append(opts, upgrade.WithRollback())
				}
				var report *upgrade.Report
				var err error
				require.NotPanics(t, func() {
					report, err = upgrade.Run(t.Context(), plan, h18FailB{exec, where == "Rollback"}, opts...)
				})
				require.Error(t, err)
				typ := "*upgrade_test.h18Err"
				if merr {
					typ = "*multierror.Error"
				}
				step := "a"
				if where == "Rollback" {
					step = "b" // undone first, and a stays for it
				}
				msg := err.Error()
				assert.Contains(t, msg, where+" of step "+step+" returned a nil "+typ)
				assert.Contains(t, msg, "return nil")
				assert.NotContains(t, msg, "<nil>")
				assert.Equal(t, 1, exec.calls, "not retried")
				a, _ := report.Outcome("a")
				if where == "Rollback" {
					assert.Equal(t, upgrade.Succeeded, a.State, "not undone")
					assert.ErrorIs(t, err, upgrade.ErrRollback)
				} else {
					assert.Equal(t, upgrade.Failed, a.State)
				}
			})
		}
	}
}

// h18FailB fails step b, when fail is set, and is otherwise its
// executor.
type h18FailB struct {
	*h18NilErrors
	fail bool
}

func (e h18FailB) Execute(ctx context.Context, s upgrade.Step) error {
	if e.fail && s.ID == "b" {
		return upgrade.Permanent(errors.New("b is broken"))
	}
	return e.h18NilErrors.Execute(ctx, s)
}

// h18Nested carries out step a by running a plan of its own with Run, as
// an executor for a group of nodes may, and returns that Run's error:
// the inner Run abandons its stubborn step, then the executor lets it
// go, so that when Execute returns nothing of it runs any more.
type h18Nested struct {
	mu     sync.Mutex
	undone []upgrade.StepID
}

func (e *h18Nested) Execute(ctx context.Context, s upgrade.Step) error {
	if s.ID != "a" {
		return nil
	}
	release := make(chan struct{})
	defer close(release)
	inner := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
		<-release // deaf to its context
		return nil
	})
	_, err := upgrade.Run(ctx, &upgrade.Plan{Steps: []upgrade.Step{{ID: "inner"}}}, inner,
		upgrade.WithStepTimeout(time.Minute), upgrade.WithGracePeriod(time.Second))
	return fmt.Errorf("sub-plan of %s: %w", s.ID, err)
}

func (e *h18Nested) Rollback(_ context.Context, s upgrade.Step) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.undone = append(e.undone, s.ID)
	return nil
}

// TestHunt18HostErrorMatchingErrAbandoned: Outcome.Abandoned says that
// Run stopped waiting for the host's code, and only then does Run leave
// the step started in the journal, refuse to undo it and keep its node.
// An Execute that returns, in time, an error that matches ErrAbandoned
// (that of a Run of its own, which abandoned a call of its plan) has not
// been abandoned. Before, Run took it for abandoned: the report said
// Abandoned, the journal kept the step in doubt rather than failed, and
// the rollback left it, and the step before it, saying that its Execute
// "may still be running". Now only the abandonments of the Run itself
// count.
func TestHunt18HostErrorMatchingErrAbandoned(t *testing.T) {
	path := jrPath(t)
	plan := &upgrade.Plan{ID: "sha256:h18n", Steps: []upgrade.Step{{ID: "b", Node: "n1"}, {ID: "a", Node: "n1", After: []upgrade.StepID{"b"}}}}
	synctest.Test(t, func(t *testing.T) {
		exec := &h18Nested{}
		j, err := upgrade.OpenFileJournal(path)
		require.NoError(t, err)
		report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(j), upgrade.WithRollback())
		require.NoError(t, j.Close())
		require.ErrorIs(t, err, upgrade.ErrStepFailed)
		assert.ErrorIs(t, err, upgrade.ErrAbandoned, "the step's error is kept as the executor gave it")
		a, _ := report.Outcome("a")
		assert.False(t, a.Abandoned, "its Execute returned")
		assert.Equal(t, upgrade.RolledBack, a.State)
		assert.ErrorContains(t, a.Err, "sub-plan of a")
		b, _ := report.Outcome("b")
		assert.Equal(t, upgrade.RolledBack, b.State)
		assert.Equal(t, []upgrade.StepID{"a", "b"}, exec.undone)
	})
	assert.Equal(t, upgrade.RecordRolledBack, hfLast(t, path, "sha256:h18n")["a"])
}

// TestHunt18AbandonedCallKeepsItsJournal: a FileJournal serves one Run at
// a time, and a Run's abandoned call is still that Run's: it may go on
// changing its node after Run returned. Before, Run gave the journal up
// as it returned, so a host that runs the plan again at once (a retry
// loop, or a server's resume, reopening the journal after Close) had its
// next Run offer the step again, in doubt, while the abandoned Execute
// still ran on the node. Now the journal stays held, its lock included,
// until the abandoned call returns: a Run meanwhile gets a *LockError
// that says what holds it, and runs nothing; Close leaves the lock to
// the call. Once the call returns, a Run resumes as before.
func TestHunt18AbandonedCallKeepsItsJournal(t *testing.T) {
	plan := &upgrade.Plan{ID: "sha256:h18j", Steps: []upgrade.Step{{ID: "a", Node: "n1"}, {ID: "b", Node: "n2", After: []upgrade.StepID{"a"}}}}
	timing := []upgrade.RunOption{upgrade.WithStepTimeout(time.Minute), upgrade.WithGracePeriod(10 * time.Second)}
	resume := func(t *testing.T, j *upgrade.FileJournal) {
		t.Helper()
		exec := newH18Nodes(nil)
		report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(j))
		require.NoError(t, err)
		a, _ := report.Outcome("a")
		assert.True(t, a.InDoubt, "a is offered again, in doubt")
		calls, _ := exec.seen()
		assert.Equal(t, []string{"Execute a", "Execute b"}, calls)
	}
	// abandonA opens the journal at path and runs the plan with it, a's
	// Execute abandoned; letGo lets that Execute return.
	abandonA := func(t *testing.T, path string) (exec *h18Nodes, j *upgrade.FileJournal, letGo func()) {
		exec = newH18Nodes(nil, "Execute a")
		letGo = sync.OnceFunc(func() { close(exec.release) })
		t.Cleanup(letGo)
		j, err := upgrade.OpenFileJournal(path)
		require.NoError(t, err)
		_, err = upgrade.Run(t.Context(), plan, exec, append(timing, upgrade.WithJournal(j))...)
		require.ErrorIs(t, err, upgrade.ErrAbandoned)
		return exec, j, letGo
	}
	t.Run("the same journal", func(t *testing.T) {
		path := jrPath(t)
		synctest.Test(t, func(t *testing.T) {
			exec, j, letGo := abandonA(t, path)
			defer j.Close()
			report, err := upgrade.Run(t.Context(), plan, exec, append(timing, upgrade.WithJournal(j))...)
			require.ErrorIs(t, err, upgrade.ErrLocked, "a's Execute still runs")
			assert.ErrorContains(t, err, "abandoned")
			assert.Nil(t, report)
			calls, overlap := exec.seen()
			assert.Empty(t, overlap)
			assert.Equal(t, []string{"Execute a"}, calls, "nothing ran again")
			letGo()
			synctest.Wait() // a's Execute has returned
			resume(t, j)
		})
	})
	t.Run("cancelled", func(t *testing.T) {
		// Without a step timeout, the workers call the host's code
		// themselves, and the watch gives up on them.
		path := jrPath(t)
		synctest.Test(t, func(t *testing.T) {
			exec := newH18Nodes(nil, "Execute a")
			letGo := sync.OnceFunc(func() { close(exec.release) })
			t.Cleanup(letGo)
			j, err := upgrade.OpenFileJournal(path)
			require.NoError(t, err)
			defer j.Close()
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				synctest.Wait() // a's Execute has started
				cancel()
			}()
			_, err = upgrade.Run(ctx, plan, exec, upgrade.WithJournal(j), upgrade.WithGracePeriod(10*time.Second))
			require.ErrorIs(t, err, context.Canceled)
			_, err = upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(j))
			require.ErrorIs(t, err, upgrade.ErrLocked, "a's Execute still runs")
			letGo()
			synctest.Wait()
			resume(t, j)
		})
	})
	t.Run("closed and opened again", func(t *testing.T) {
		if !slices.Contains([]string{"darwin", "dragonfly", "freebsd", "linux", "netbsd", "openbsd"}, runtime.GOOS) {
			t.Skip("no flock(2): the journal's lock is not enforced")
		}
		path := jrPath(t)
		synctest.Test(t, func(t *testing.T) {
			_, j, letGo := abandonA(t, path)
			require.NoError(t, j.Close())
			_, err := upgrade.OpenFileJournal(path)
			require.ErrorIs(t, err, upgrade.ErrLocked, "a's Execute still runs")
			letGo()
			synctest.Wait()
			j, err = upgrade.OpenFileJournal(path)
			require.NoError(t, err)
			defer j.Close()
			resume(t, j)
		})
	})
}

// TestHunt18PanicWithNilPointerError: host code that panics with an
// error that is a nil pointer (`if err != nil { panic(err) }` where err
// holds a nil *T, the same slip as TestHunt18NilPointerErrorFromHostCode)
// fails its step with a *PanicError, as any panic does. Before, Run
// panicked itself, crashing the caller, as it looked through the
// *PanicError into the value, whose Unwrap used its nil receiver.
func TestHunt18PanicWithNilPointerError(t *testing.T) {
	exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
		var none *h18Err
		var err error = none
		if err != nil {
			panic(err)
		}
		return nil
	})
	var report *upgrade.Report
	var err error
	require.NotPanics(t, func() {
		report, err = upgrade.Run(t.Context(), &upgrade.Plan{Steps: []upgrade.Step{{ID: "a", Node: "n"}}}, exec)
	})
	pe, ok := errors.AsType[*upgrade.PanicError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "Execute", pe.Method)
	assert.NoError(t, pe.Unwrap(), "a nil pointer is no error to look into")
	a, _ := report.Outcome("a")
	assert.Equal(t, upgrade.Failed, a.State)
}
