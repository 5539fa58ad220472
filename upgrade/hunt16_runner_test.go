package upgrade_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt16NegativeGracePeriodRefused: a negative grace period (one
// computed from a deadline already past, say) is refused before anything
// runs, with an error naming the option and saying what to give, where
// Run took it for 0 and waited for ever for host code that ignores its
// context.
func TestHunt16NegativeGracePeriodRefused(t *testing.T) {
	ran := false
	exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { ran = true; return nil })
	rep, err := upgrade.Run(context.Background(), h5Plan("a"), exec, upgrade.WithGracePeriod(-time.Second))
	require.Error(t, err)
	assert.ErrorIs(t, err, upgrade.ErrInvalidOption)
	assert.Contains(t, err.Error(), "WithGracePeriod(-1s)")
	assert.Contains(t, err.Error(), "0 to wait for ever")
	assert.Nil(t, rep)
	assert.False(t, ran, "nothing runs")
}

// h16DeafOpener is an Opener that ignores its context: it blocks until
// released, as a mirror read over a hung connection with no deadline does.
type h16DeafOpener struct {
	opened  chan struct{} // closed at the first Open
	once    sync.Once
	release chan struct{}
}

func (o *h16DeafOpener) Open(context.Context, pkgsource.Package) (io.ReadCloser, error) {
	o.once.Do(func() { close(o.opened) })
	<-o.release
	return nil, errors.New("mirror gone")
}

func h16PackagePlan() *upgrade.Plan {
	pk := &pkgsource.Package{Type: "tomcat", Version: v("10.1.34"), Location: "tomcat-10.1.34.tar.gz",
		Digest: pkgsource.Digest([]byte("tarball")), Size: 7}
	return &upgrade.Plan{ID: "h16d", Steps: []upgrade.Step{
		{ID: "platform/tomcat-1@10.1.34", Kind: upgrade.Platform, Node: "tomcat-1", Package: pk},
	}}
}

// TestHunt16DeafOpenerAbandoned: under WithPackages (and WithPrefetch),
// an Opener that ignores its context is abandoned after the grace
// period, as Execute, Verify and Rollback are: Run returns once the run
// is cancelled and the grace is over, with the step Abandoned and an
// error matching ErrAbandoned that names Open. Run waited for the Opener
// for ever.
func TestHunt16DeafOpenerAbandoned(t *testing.T) {
	for _, prefetch := range []bool{false, true} {
		for _, timeout := range []time.Duration{0, time.Minute} {
			synctest.Test(t, func(t *testing.T) {
				o := &h16DeafOpener{opened: make(chan struct{}), release: make(chan struct{})}
				defer close(o.release)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				opts := []upgrade.RunOption{upgrade.WithPackages(o, t.TempDir()), upgrade.WithGracePeriod(time.Second), upgrade.WithStepTimeout(timeout)}
				if prefetch {
					opts = append(opts, upgrade.WithPrefetch(o))
				}
				exec := &upgradetest.Executor{}
				type ret struct {
					rep *upgrade.Report
					err error
				}
				done := make(chan ret, 1)
				go func() {
					rep, err := upgrade.Run(ctx, h16PackagePlan(), exec, opts...)
					done <- ret{rep, err}
				}()
				<-o.opened
				cancel()
				r := <-done
				err := r.err
				if prefetch {
					assert.ErrorIs(t, err, upgrade.ErrPrefetch)
				} else {
					require.ErrorIs(t, err, context.Canceled, "a cancelled run returns the context's error")
					require.NotNil(t, r.rep)
					assert.True(t, r.rep.Outcomes[0].Abandoned)
					assert.Equal(t, upgrade.Failed, r.rep.Outcomes[0].State)
					err = r.rep.Outcomes[0].Err
				}
				require.ErrorIs(t, err, upgrade.ErrAbandoned)
				var ae *upgrade.AbandonedError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, "Open", ae.Method)
				assert.Empty(t, exec.Started(), "nothing executed")
			})
		}
	}
}

// TestHunt16DeafOpenerTimeoutRollsBack: a step whose package read
// outlasts the step timeout and the grace period fails Abandoned; with
// WithRollback, the step before it is still undone, since no Execute of
// the abandoned step may be changing its node.
func TestHunt16DeafOpenerTimeoutRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &h16DeafOpener{opened: make(chan struct{}), release: make(chan struct{})}
		defer close(o.release)
		plan := h16PackagePlan()
		plan.Steps[0].After = []upgrade.StepID{"app/x"}
		plan.Steps = append([]upgrade.Step{{ID: "app/x", Kind: upgrade.Application, Node: "x"}}, plan.Steps...)
		exec := &upgradetest.Executor{}
		rep, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithPackages(o, t.TempDir()),
			upgrade.WithGracePeriod(time.Second), upgrade.WithStepTimeout(time.Minute), upgrade.WithRollback())
		require.ErrorIs(t, err, upgrade.ErrAbandoned)
		assert.ErrorIs(t, rep.Outcomes[1].Err, upgrade.ErrAbandoned, "the step keeps its error")
		assert.Equal(t, upgrade.RolledBack, rep.Outcomes[0].State, "the step before is undone")
	})
}

// h16CountingOpener counts its Opens and has no package.
type h16CountingOpener struct{ opened atomic.Int32 }

func (o *h16CountingOpener) Open(context.Context, pkgsource.Package) (io.ReadCloser, error) {
	o.opened.Add(1)
	return nil, errors.New("no such package here")
}

// h16TarballOpener gives every package the content "tarball".
type h16TarballOpener struct{}

func (h16TarballOpener) Open(context.Context, pkgsource.Package) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("tarball")), nil
}

// TestHunt16PrefetchWithPackagesReadsThroughPackages checks WithPrefetch's
// doc: with WithPackages, the prefetch makes the copies through
// WithPackages' Opener, and WithPrefetch's is not called.
func TestHunt16PrefetchWithPackagesReadsThroughPackages(t *testing.T) {
	plan := h16PackagePlan()
	src := h16TarballOpener{}
	unused := &h16CountingOpener{}
	exec := &upgradetest.Executor{}
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithPackages(src, t.TempDir()), upgrade.WithPrefetch(unused))
	require.NoError(t, err)
	assert.Zero(t, unused.opened.Load())
	assert.Len(t, exec.Started(), 1)
}

// TestHunt16CancelDuringRollbackHeldSteps checks WithRollback's doc: a run
// cancelled during its rollback leaves the steps not undone yet as they
// were; one held by a step after it that stays in place says so, naming
// that step, rather than giving the context's error; one not held gives
// the context's error.
func TestHunt16CancelDuringRollbackHeldSteps(t *testing.T) {
	p := rgChain("sha256:h16-cancel-rollback")
	p.Steps = append(p.Steps, upgrade.Step{ID: "d", Node: "n-d"}) // independent, done before c fails
	p.Steps[2], p.Steps[3] = p.Steps[3], p.Steps[2]               // a, b, d, c
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	exec := &rgCancelInRollback{cancel: cancel}
	exec.FailAt("c", errors.New("c broken"))
	report, err := upgrade.Run(ctx, p, exec, upgrade.WithRollback())
	require.ErrorIs(t, err, upgrade.ErrRollback)
	assert.Equal(t, []upgrade.StepID{"c"}, exec.calls, "once cancelled, no further Rollback starts")
	for id, want := range map[upgrade.StepID]string{"b": "step c after it is still in place", "a": "step b after it is still in place"} {
		o, _ := report.Outcome(id)
		assert.Equal(t, upgrade.Succeeded, o.State, id)
		assert.ErrorContains(t, o.Err, want, id)
		assert.NotErrorIs(t, o.Err, context.Canceled, id)
	}
	d, _ := report.Outcome("d")
	assert.ErrorIs(t, d.Err, context.Canceled)
}

// rgStopInRollback closes stop in its first Rollback.
type rgStopInRollback struct {
	upgradetest.Executor
	stop chan struct{}
	once sync.Once
}

func (e *rgStopInRollback) Rollback(ctx context.Context, s upgrade.Step) error {
	e.once.Do(func() { close(e.stop) })
	return e.Executor.Rollback(ctx, s)
}

// TestHunt16StopDuringRollbackFinishesIt checks WithStop's doc: stop
// closed once the rollback has begun does not cut it short, and the run's
// error does not match ErrStopped.
func TestHunt16StopDuringRollbackFinishesIt(t *testing.T) {
	exec := &rgStopInRollback{stop: make(chan struct{})}
	exec.FailAt("c", errors.New("c broken"))
	report, err := upgrade.Run(t.Context(), rgChain("sha256:h16-stop-rollback"), exec, upgrade.WithRollback(), upgrade.WithStop(exec.stop))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.NotErrorIs(t, err, upgrade.ErrStopped)
	assert.Equal(t, 3, report.Count(upgrade.RolledBack), "every step is undone")
}

// TestHunt16HeaderOnlyJournalTakenOver: a journal that holds only the
// header of another plan (its run was refused before any step, as a stale
// plan is, and the plan was made again) records nothing: Run takes it
// over for the new plan and runs, where it refused it with
// ErrPlanMismatch and the caller had to delete the file. A journal of
// another plan that records a step is still refused, unchanged.
func TestHunt16HeaderOnlyJournalTakenOver(t *testing.T) {
	path := jrPath(t)
	jrSeed(t, path, "sha256:old")
	plan := h5Plan("a", "b:a")
	plan.ID = "sha256:new"
	exec := &upgradetest.Executor{}
	j := jrOpen(t, path)
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(j))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	assert.Equal(t, []upgrade.StepID{"a", "b"}, exec.Started())
	lines, _ := jrLines(t, path)
	require.NotEmpty(t, lines)
	assert.Equal(t, `{"plan":"sha256:new"}`, lines[0])
	assert.Len(t, lines, 5, "the new plan's records follow its header")

	// Recording a step, it is the new plan's: another plan is refused.
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	other := h5Plan("a")
	other.ID = "sha256:other"
	_, err = upgrade.Run(context.Background(), other, exec, upgrade.WithJournal(jrOpen(t, path)))
	require.ErrorIs(t, err, upgrade.ErrPlanMismatch)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "a journal with records is left as it was")
}

// TestHunt16RollbackKeepsStepsBeneathSkippedEarlierFailure: a step that
// failed, or was cut short, in an earlier run and is Skipped in this one
// (a step it also comes after failed now) may have changed its node: the
// rollback keeps the step beneath it, as it does when that step is not
// started. It undid it. (A journal edited by hand reaches this: the
// step beneath is not recorded as done.)
func TestHunt16RollbackKeepsStepsBeneathSkippedEarlierFailure(t *testing.T) {
	for name, x := range map[string]upgrade.RecordKind{"failed": upgrade.RecordFailed, "in doubt": upgrade.RecordStarted} {
		t.Run(name, func(t *testing.T) {
			plan := &upgrade.Plan{ID: "sha256:h16-skipped-earlier", Steps: []upgrade.Step{
				{ID: "y", Node: "n-y"}, {ID: "w", Node: "n-w"}, {ID: "x", Node: "n-x", After: []upgrade.StepID{"y", "w"}},
			}}
			path := jrPath(t)
			jrSeed(t, path, plan.ID, jrRec(upgrade.RecordStarted, "x"), jrRec(x, "x"))
			exec := &upgradetest.Executor{}
			exec.FailAt("w", upgrade.Permanent(errors.New("w broke")))
			report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(jrOpen(t, path)), upgrade.WithRollback())
			require.Error(t, err)
			o, _ := report.Outcome("x")
			require.Equal(t, upgrade.Skipped, o.State)
			assert.Empty(t, exec.RolledBack(), "y and w stay beneath x")
			y, _ := report.Outcome("y")
			assert.Equal(t, upgrade.Succeeded, y.State)
			assert.ErrorContains(t, y.Err, "step x after it failed, or was cut short, in an earlier run")
		})
	}
}

// TestHunt16UnknownFailurePolicyRefused: a FailurePolicy Run does not know
// (a number from a configuration file, say) is refused before anything
// runs, naming the option and the policies there are, as the Planner
// refuses an undefined Policy. Run took it for ContinueIndependent.
func TestHunt16UnknownFailurePolicyRefused(t *testing.T) {
	exec := &upgradetest.Executor{}
	rep, err := upgrade.Run(context.Background(), h5Plan("a"), exec, upgrade.WithFailurePolicy(upgrade.FailurePolicy(7)))
	require.ErrorIs(t, err, upgrade.ErrInvalidOption)
	assert.Contains(t, err.Error(), "WithFailurePolicy(7)")
	assert.Contains(t, err.Error(), "FailFast or ContinueIndependent")
	assert.Nil(t, rep)
	assert.Empty(t, exec.Started(), "nothing runs")
}

// TestHunt16OutcomeErrOfStepNotUndone checks Outcome.Err's doc: a failed
// step whose Rollback fails keeps its own error (the rollback's is in
// Run's error); a step that succeeded and is not undone gets the
// rollback's.
func TestHunt16OutcomeErrOfStepNotUndone(t *testing.T) {
	exec := &upgradetest.Executor{}
	broke, stuck := errors.New("b broke"), errors.New("b will not undo")
	exec.FailAt("b", upgrade.Permanent(broke))
	exec.FailRollback("b", stuck)
	report, err := upgrade.Run(t.Context(), rgChain("sha256:h16-outcome-err"), exec, upgrade.WithRollback())
	require.ErrorIs(t, err, stuck)
	b, _ := report.Outcome("b")
	assert.Equal(t, upgrade.Failed, b.State)
	assert.ErrorIs(t, b.Err, broke)
	assert.NotErrorIs(t, b.Err, stuck)
	a, _ := report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State)
	assert.ErrorContains(t, a.Err, "step b after it is still in place")
}

// TestHunt16RollingMaxInFlightShortened: a MaxInFlight of a megabyte (a
// field of a request body, a configuration file gone wrong) is refused
// with a message that quotes its start and says how long it is, as the
// package's other errors name a value read from outside, not with the
// whole megabyte.
func TestHunt16RollingMaxInFlightShortened(t *testing.T) {
	huge := strings.Repeat("9", 1<<20) + "x"
	_, err := h5Plan("a").Roll(upgrade.Rolling{MaxInFlight: huge})
	require.ErrorIs(t, err, upgrade.ErrInvalidRolling)
	assert.Less(t, len(err.Error()), 1000, "the value is shortened")
	assert.Contains(t, err.Error(), "(1048577 bytes)")
	assert.Contains(t, err.Error(), "give a count from 1")
}

// h16CtxOpener blocks in Open until its context is done, unless deaf, in
// which case it blocks until released.
type h16CtxOpener struct {
	opened  chan struct{}
	deaf    bool
	release chan struct{}
}

func (o *h16CtxOpener) Open(ctx context.Context, _ pkgsource.Package) (io.ReadCloser, error) {
	close(o.opened)
	if o.deaf {
		<-o.release
		return nil, errors.New("mirror gone")
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestHunt16CutShortReadingPackageNotInDoubt: a step whose package read
// is cut short by cancellation (or abandoned past the grace period) never
// reached its Execute: the journal records it failed, so that a resumed
// run tries it again, not in doubt, as for a step cancelled while it
// waited to retry. It was left started, and offered again in doubt.
func TestHunt16CutShortReadingPackageNotInDoubt(t *testing.T) {
	for _, deaf := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			o := &h16CtxOpener{opened: make(chan struct{}), deaf: deaf, release: make(chan struct{})}
			defer close(o.release)
			plan := h16PackagePlan()
			j := &h2CtxJournal{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := upgrade.Run(ctx, plan, &upgradetest.Executor{}, upgrade.WithJournal(j), upgrade.WithPackages(o, t.TempDir()),
					upgrade.WithGracePeriod(time.Second))
				done <- err
			}()
			<-o.opened
			cancel()
			require.ErrorIs(t, <-done, context.Canceled)
			assert.Equal(t, upgrade.RecordFailed, j.last(plan.Steps[0].ID), "nothing of the step ran")

			exec := &upgradetest.Executor{}
			_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(j), upgrade.WithPackages(h16TarballOpener{}, t.TempDir()))
			require.NoError(t, err)
			assert.Empty(t, exec.InDoubt(), "not offered in doubt")
		})
	}
}

// TestHunt16CutShortReadingPackageStaysInDoubt: a step in doubt from an
// earlier run whose package read is cut short stays in doubt: no Execute
// of it was told, and the earlier run may have carried it out in part.
func TestHunt16CutShortReadingPackageStaysInDoubt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &h16CtxOpener{opened: make(chan struct{}), release: make(chan struct{})}
		plan := h16PackagePlan()
		j := &h2CtxJournal{records: []upgrade.Record{{Kind: upgrade.RecordStarted, Step: plan.Steps[0].ID}}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := upgrade.Run(ctx, plan, &upgradetest.Executor{}, upgrade.WithJournal(j), upgrade.WithPackages(o, t.TempDir()))
			done <- err
		}()
		<-o.opened
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		assert.Equal(t, upgrade.RecordStarted, j.last(plan.Steps[0].ID))
	})
}
