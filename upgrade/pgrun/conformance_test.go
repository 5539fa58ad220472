package pgrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// The conformance suite runs small plans, with failures, retries, verify
// failures, timeouts and rollback, both through upgrade.Run and through
// workers over PostgreSQL, each with an upgradetest.Executor configured
// alike, and requires the same outcome of every step: state, attempts,
// whether it was resumed, in doubt or abandoned, calls of the executor,
// the sentinels its error matches; the same sentinels of the run's
// error; and the same events (see confEvent), in the same order when
// one step runs at a time. It is what keeps the two runners from
// drifting apart.

// confPlan is a plan of the suite and the step its faults hit.
type confPlan struct {
	name   string
	plan   func(t *testing.T) *upgrade.Plan
	target upgrade.StepID
}

func diamond() *upgrade.Plan {
	return &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}},
		{ID: "c", Kind: upgrade.Platform, Node: "n-c", After: []upgrade.StepID{"a"}},
		{ID: "d", Kind: upgrade.Platform, Node: "n-d", After: []upgrade.StepID{"b", "c"}},
		{ID: "e", Kind: upgrade.Platform, Node: "n-e"},
	}}
}

var confPlans = []confPlan{
	{"chain", func(*testing.T) *upgrade.Plan { return chain3("") }, "b"},
	{"diamond", func(*testing.T) *upgrade.Plan { return diamond() }, "b"},
	{"diamond-first", func(*testing.T) *upgrade.Plan { return diamond() }, "a"},
	{"rolled", func(t *testing.T) *upgrade.Plan {
		p := fleetPlan(t, 7, upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
		p.Steps = append(p.Steps, upgrade.Step{ID: "alone", Kind: upgrade.Platform, Node: "other-1"})
		return p
	}, "app/shop-0002"},
}

// confFault configures an executor for a plan's target step, and the
// options of the run.
type confFault struct {
	name string
	set  func(e *upgradetest.Executor, target upgrade.StepID)
	opts Options
}

var errBoom = errors.New("boom")

var confFaults = []confFault{
	{"none", func(*upgradetest.Executor, upgrade.StepID) {}, Options{}},
	{"fail", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailAt(id, errBoom) }, Options{}},
	{"fail-retried", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailAt(id, errBoom) },
		Options{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}},
	{"fail-once-retried", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailTimes(id, 1, errBoom) },
		Options{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}},
	{"permanent", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailAt(id, upgrade.Permanent(errBoom)) },
		Options{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}},
	{"verify", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailVerify(id, errBoom) }, Options{}},
	{"timeout", func(e *upgradetest.Executor, id upgrade.StepID) { e.Hang(id) }, Options{StepTimeout: 50 * time.Millisecond}},
	// Rollback: last completed first; a step whose rollback fails keeps
	// the steps before it in place.
	{"rollback-none", func(*upgradetest.Executor, upgrade.StepID) {}, Options{Rollback: true}},
	{"rollback", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailAt(id, errBoom) }, Options{Rollback: true}},
	{"rollback-verify", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailVerify(id, errBoom) }, Options{Rollback: true}},
	{"rollback-fails", func(e *upgradetest.Executor, id upgrade.StepID) {
		e.FailAt(id, errBoom)
		e.FailRollback(id, errors.New("cannot undo"))
	}, Options{Rollback: true}},
	{"rollback-first-fails", func(e *upgradetest.Executor, id upgrade.StepID) {
		e.FailAt(id, errBoom)
		e.FailRollback("a", errors.New("cannot undo"))
		e.FailRollback("base", errors.New("cannot undo"))
	}, Options{Rollback: true}},
}

// confSentinels are the errors whose matching the suite compares.
var confSentinels = []error{upgrade.ErrStepFailed, upgrade.ErrRollback, upgrade.ErrAbandoned, context.DeadlineExceeded, context.Canceled}

func sentinels(err error) []bool {
	out := make([]bool, len(confSentinels))
	for i, s := range confSentinels {
		out[i] = errors.Is(err, s)
	}
	return out
}

// runOptions are upgrade.Run's options for o.
func runOptions(o Options) []upgrade.RunOption {
	opts := []upgrade.RunOption{upgrade.WithConcurrency(o.Concurrency), upgrade.WithFailurePolicy(o.Policy),
		upgrade.WithRetry(o.Attempts, o.Backoff, o.MaxBackoff)}
	if o.StepTimeout > 0 {
		opts = append(opts, upgrade.WithStepTimeout(o.StepTimeout))
	}
	if o.Rollback {
		opts = append(opts, upgrade.WithRollback())
	}
	return opts
}

// confOutcome is what the suite compares of a step's outcome.
type confOutcome struct {
	Step                        upgrade.StepID
	State                       string
	Attempts                    int
	Resumed, InDoubt, Abandoned bool
	Err                         bool
}

// confOutcomes returns what the suite compares of each outcome of r.
func confOutcomes(r *upgrade.Report) []confOutcome {
	out := make([]confOutcome, 0, len(r.Outcomes))
	for _, o := range r.Outcomes {
		out = append(out, confOutcome{Step: o.Step, State: o.State.String(), Attempts: o.Attempts, Resumed: o.Resumed,
			InDoubt: o.InDoubt, Abandoned: o.Abandoned, Err: o.Err != nil})
	}
	return out
}

// inDoubtOf returns, in the plan's order, the steps of r in doubt: what
// Status.InDoubt lists of a run that upgrade.Run reported as r.
func inDoubtOf(r *upgrade.Report) []upgrade.StepID {
	var out []upgrade.StepID
	for _, o := range r.Outcomes {
		if o.InDoubt {
			out = append(out, o.Step)
		}
	}
	return out
}

// confEvent is what the suite compares of an event: every field of
// upgrade.Event both runners can equal. Left out are WaitingFor (of
// StepWaiting, which upgrade.Run never emits), the error's text (a
// worker's is recorded as text, a RemoteError: compared are whether
// there is one and the sentinels it matches), the Step beyond its ID
// (the workers' is read back from the stored plan), and the fields only
// pgrun's Event has (Seq, Worker, Time).
type confEvent struct {
	Kind        upgrade.EventKind
	Step        upgrade.StepID
	Attempt     int
	InDoubt     bool
	Err         bool
	Sentinels   string // which of confSentinels Err matches
	Done, Total int
}

func toConfEvent(e upgrade.Event) confEvent {
	return confEvent{Kind: e.Kind, Step: e.Step.ID, Attempt: e.Attempt, InDoubt: e.InDoubt, Err: e.Err != nil,
		Sentinels: fmt.Sprint(sentinels(e.Err)), Done: e.Done, Total: e.Total}
}

// recordEvents returns an option of upgrade.Run that appends what the
// suite compares of each event to *into.
func recordEvents(into *[]confEvent) upgrade.RunOption {
	return upgrade.WithEvents(func(e upgrade.Event) { *into = append(*into, toConfEvent(e)) })
}

// storeEvents returns what the suite compares of the events of run planID
// after sequence number after, and the last one's sequence number (after,
// if there is none).
func storeEvents(t *testing.T, s *Store, planID string, after int64) ([]confEvent, int64) {
	t.Helper()
	events, err := s.Events(context.Background(), planID, after, 1<<20)
	require.NoError(t, err)
	var out []confEvent
	for _, e := range events {
		out = append(out, toConfEvent(e.Event))
		after = e.Seq
	}
	return out, after
}

// sameEvents reports whether the runners' events agree, failing t where
// they do not: one step at a time (ordered), the same sequence; with
// more, which step starts or ends first is timing, and so are the Done
// counts: the same events, Done aside, in any order.
func sameEvents(t *testing.T, what string, ordered bool, want, got []confEvent) bool {
	t.Helper()
	if ordered {
		return assert.Equal(t, want, got, "%s: events, in order", what)
	}
	unordered := func(es []confEvent) []confEvent {
		out := slices.Clone(es)
		for i := range out {
			out[i].Done = 0
		}
		return out
	}
	return assert.ElementsMatch(t, unordered(want), unordered(got), "%s: events", what)
}

// conform runs plan with opts through upgrade.Run and through two workers
// of s, each runner with its own executor configured by set, and requires
// the same outcomes and events.
func conform(t *testing.T, s *Store, id string, plan *upgrade.Plan, opts Options, set func(*upgradetest.Executor)) {
	t.Helper()
	ctx := context.Background()
	inProc, remote := &upgradetest.Executor{}, &upgradetest.Executor{}
	set(inProc)
	set(remote)
	var wantEvents []confEvent
	want, wantErr := upgrade.Run(ctx, plan, inProc, append(runOptions(opts), recordEvents(&wantEvents))...)
	require.NotNil(t, want)

	plan.ID = id
	require.NoError(t, s.Submit(ctx, plan, opts))
	work(t, s, plan.ID, 2, remote, fastWorker)
	got, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, got.Finished)
	require.Len(t, got.Report.Outcomes, len(want.Outcomes))
	assert.Equal(t, confOutcomes(want), confOutcomes(got.Report), "outcomes")
	for i, w := range want.Outcomes {
		g := got.Report.Outcomes[i]
		assert.Equal(t, inProc.Calls(w.Step), remote.Calls(w.Step), "Execute calls of %s", w.Step)
		assert.Equal(t, sentinels(w.Err), sentinels(g.Err), "error kinds of %s: %v, %v", w.Step, w.Err, g.Err)
	}
	assert.Equal(t, wantErr != nil, got.Err != nil, "run error: %v, %v", wantErr, got.Err)
	assert.Equal(t, sentinels(wantErr), sentinels(got.Err), "run error kinds: %v, %v", wantErr, got.Err)
	if opts.Concurrency == 1 {
		assert.Equal(t, inProc.RolledBack(), remote.RolledBack(), "steps rolled back, in order")
	} else {
		assert.ElementsMatch(t, inProc.RolledBack(), remote.RolledBack(), "steps rolled back")
	}
	assert.Empty(t, got.InDoubt)
	gotEvents, _ := storeEvents(t, s, plan.ID, 0)
	sameEvents(t, "run", opts.Concurrency == 1, wantEvents, gotEvents)
}

func TestConformance(t *testing.T) {
	s, _ := testStore(t)
	k := 0
	for _, p := range confPlans {
		for _, f := range confFaults {
			for _, pol := range []struct {
				name        string
				policy      upgrade.FailurePolicy
				concurrency int
			}{
				// One at a time, FailFast leaves the same steps not
				// started; with more, which ones depends on timing.
				{"failfast", upgrade.FailFast, 1},
				{"continue", upgrade.ContinueIndependent, 2},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", p.name, f.name, pol.name), func(t *testing.T) {
					k++
					opts := f.opts
					opts.Policy, opts.Concurrency = pol.policy, pol.concurrency
					conform(t, s, fmt.Sprintf("conformance-%d", k), p.plan(t), opts,
						func(e *upgradetest.Executor) { f.set(e, p.target) })
				})
			}
		}
	}
}

// TestConformanceTakenOverEvents: a step whose worker is lost as it runs
// is taken over, in doubt, by another, as upgrade.Run resumed from a
// journal that recorded the step started offers it in doubt. From the
// step taken over on, both runners emit the same events and report the
// same outcomes, the steps before it aside (the workers' run executed
// them, upgrade.Run resumed did not), but for one count: the workers'
// attempts of the step include the lost worker's, which upgrade.Run
// resumed, a run of its own, does not; so does its retry budget (one
// attempt here, so that the attempts differ by that count alone).
func TestConformanceTakenOverEvents(t *testing.T) {
	s, pool := testStore(t)
	for k, f := range []struct {
		name string
		set  func(*upgradetest.Executor)
	}{
		{"succeeds", func(*upgradetest.Executor) {}},
		{"fails", func(e *upgradetest.Executor) { e.FailAt("b", errBoom) }},
		{"verify-fails", func(e *upgradetest.Executor) { e.FailVerify("b", errBoom) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			plan := chain3(fmt.Sprintf("taken-over-%d", k))
			inProc, remote := &upgradetest.Executor{}, &upgradetest.Executor{}
			f.set(inProc)
			f.set(remote)
			// upgrade.Run: a crash as b ran, a done before.
			j := &memJournal{records: []upgrade.Record{{Kind: upgrade.RecordStarted, Step: "a"},
				{Kind: upgrade.RecordSucceeded, Step: "a"}, {Kind: upgrade.RecordStarted, Step: "b"}}}
			var wantEvents []confEvent
			want, wantErr := upgrade.Run(ctx, plan, inProc, append(runOptions(Options{}), upgrade.WithJournal(j), recordEvents(&wantEvents))...)
			require.NotNil(t, want, "%v", wantErr)
			require.Equal(t, []upgrade.StepID{"b"}, inProc.InDoubt(), "the test's premise: Run resumed offers b in doubt")

			// pgrun: a worker runs a, then is lost as it runs b.
			require.NoError(t, s.Submit(ctx, plan, Options{}))
			dead := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "dead", Lease: time.Hour})
			for _, id := range []upgrade.StepID{"a", "b"} {
				c, _, _, err := dead.claim(ctx, nil)
				require.NoError(t, err)
				require.NotNil(t, c)
				require.Equal(t, id, plan.Steps[c.idx].ID)
				if id == "a" {
					require.NoError(t, dead.finish(ctx, c, 1, "", 0))
				}
			}
			expireLeases(t, s, pool, plan.ID)
			work(t, s, plan.ID, 2, remote, fastWorker)
			require.Equal(t, []upgrade.StepID{"b"}, remote.InDoubt(), "the test's premise: b taken over in doubt")
			got, err := s.Status(ctx, plan.ID)
			require.NoError(t, err)
			require.True(t, got.Finished)

			const lost = 1 // the lost worker's attempt of b
			wantOutcomes := confOutcomes(want)[1:]
			wantOutcomes[0].Attempts += lost
			assert.Equal(t, wantOutcomes, confOutcomes(got.Report)[1:], "outcomes from b on")
			assert.Equal(t, inDoubtOf(want), got.InDoubt)
			assert.Equal(t, sentinels(wantErr), sentinels(got.Err), "run error kinds: %v, %v", wantErr, got.Err)
			for i, e := range wantEvents {
				if e.Step == "b" && e.Attempt > 0 {
					wantEvents[i].Attempt += lost
				}
			}
			gotEvents, _ := storeEvents(t, s, plan.ID, 0)
			takeover := slices.IndexFunc(gotEvents, func(e confEvent) bool {
				return e.Kind == upgrade.StepStarted && e.Step == "b" && e.Attempt == 1+lost
			})
			require.Positive(t, takeover, "b taken over: %v", gotEvents)
			sameEvents(t, "from b taken over on", true, wantEvents, gotEvents[takeover:])
		})
	}
}

// TestConformanceCancelEvents: a run cancelled as a step runs (upgrade.Run's
// context, Store.Cancel) fails that step, skips the steps after it and
// starts no other, with the same events and outcomes, with rollback asked
// for or not: a cancelled run is not rolled back. The step's error matches
// context.Canceled in both. Two things differ, as pgrun documents them:
// the step cut short is in doubt in Status (and its Outcome), where
// upgrade.Run says so only of a step it offered in doubt; and the run's
// error (Status.Err) holds the step's failure and ErrCancelled, where
// upgrade.Run returns its context's error alone: not compared.
func TestConformanceCancelEvents(t *testing.T) {
	s, _ := testStore(t)
	for k, opts := range []Options{{}, {Rollback: true}} {
		t.Run(fmt.Sprint(opts.Rollback), func(t *testing.T) {
			ctx := context.Background()
			plan := chain3(fmt.Sprintf("cancel-events-%d", k))
			// b's Execute: says it runs, then waits for its context.
			blocking := func(running func()) *upgradetest.Executor {
				return &upgradetest.Executor{Func: func(ctx context.Context, st upgrade.Step) error {
					if st.ID != "b" {
						return nil
					}
					running()
					<-ctx.Done()
					return ctx.Err()
				}}
			}
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			inProc := blocking(cancel)
			var wantEvents []confEvent
			want, wantErr := upgrade.Run(runCtx, plan, inProc, append(runOptions(opts), recordEvents(&wantEvents))...)
			require.ErrorIs(t, wantErr, context.Canceled)

			require.NoError(t, s.Submit(ctx, plan, opts))
			running := make(chan struct{})
			remote := blocking(func() { close(running) })
			wctx, stop := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
			defer stop()
			errs := startWorkers(wctx, s, plan.ID, 2, remote, lapsingWorker)
			select {
			case <-running:
			case <-wctx.Done():
				t.Fatal("b never ran")
			}
			require.NoError(t, s.Cancel(ctx, plan.ID))
			for range 2 {
				require.NoError(t, <-errs)
			}
			got, err := s.Status(ctx, plan.ID)
			require.NoError(t, err)
			require.True(t, got.Finished)
			require.True(t, got.Cancelled)

			gotOutcomes := confOutcomes(got.Report)
			assert.Equal(t, []upgrade.StepID{"b"}, got.InDoubt, "cut short, as pgrun documents it")
			gotOutcomes[1].InDoubt = false // see above
			assert.Equal(t, confOutcomes(want), gotOutcomes, "outcomes")
			for i, w := range want.Outcomes {
				g := got.Report.Outcomes[i]
				assert.Equal(t, sentinels(w.Err), sentinels(g.Err), "error kinds of %s: %v, %v", w.Step, w.Err, g.Err)
			}
			assert.Equal(t, inProc.Started(), remote.Started(), "steps executed")
			assert.Empty(t, remote.RolledBack(), "a cancelled run is not rolled back")
			gotEvents, _ := storeEvents(t, s, plan.ID, 0)
			sameEvents(t, "cancelled", true, wantEvents, gotEvents)
		})
	}
}

// startWorkers starts n workers of run planID with exec and o, named w0,
// w1, …, and returns the channel on which each sends what Work returned.
func startWorkers(ctx context.Context, s *Store, planID string, n int, exec upgrade.Executor, o WorkerOptions) <-chan error {
	errs := make(chan error, n)
	for k := range n {
		go func() {
			o := o
			o.Name = fmt.Sprintf("w%d", k)
			errs <- s.Work(ctx, planID, exec, o)
		}()
	}
	return errs
}
