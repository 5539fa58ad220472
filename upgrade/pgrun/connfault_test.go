package pgrun

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// recordedCall is one call of WorkerOptions.Recorded.
type recordedCall struct {
	step upgrade.StepID
	err  error
}

// recordedInto returns a WorkerOptions.Recorded that sends each call on a
// channel, with room for n.
func recordedInto(n int) (func(string, upgrade.StepID, error), chan recordedCall) {
	ch := make(chan recordedCall, n)
	return func(_ string, step upgrade.StepID, err error) { ch <- recordedCall{step, err} }, ch
}

// TestRetryRecordUnansweredEndsStep: a step that failed and is to be
// tried again has its retry recorded first; a database that stops
// answering then must not hold the step up past its lease: the worker
// gives the step up, not recorded, once its lease is cut short, and never
// starts the attempt.
func TestRetryRecordUnansweredEndsStep(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	s1, proxy := proxiedStore(t, s)
	plan := onNode("retry-silent", "a", "n-a")
	require.NoError(t, s.Submit(ctx, plan, Options{Attempts: 2}))

	var calls atomic.Int32
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if calls.Add(1) == 1 {
			proxy.silence() // before the retry is recorded
		}
		return errors.New("flaky")
	})
	recorded, got := recordedInto(1)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- s1.Work(wctx, plan.ID, exec, WorkerOptions{Name: "w1", Lease: 3 * time.Second, Poll: 20 * time.Millisecond, Recorded: recorded})
	}()
	bound := time.NewTimer(time.Minute) // a failure bound
	defer bound.Stop()
	select {
	case r := <-got:
		assert.Equal(t, upgrade.StepID("a"), r.step)
		assert.ErrorIs(t, r.err, ErrNotRecorded)
		assert.ErrorIs(t, r.err, ErrLeaseLost)
	case <-bound.C:
		t.Error("the step was still held up by its retry's record a minute after the database stopped answering")
	}
	assert.Equal(t, int32(1), calls.Load(), "the attempt after the unrecorded retry started")
	stop()
	<-done
}

// eventKinds returns the kinds of the events of run planID, oldest first.
func eventKinds(t *testing.T, s *Store, planID string) []upgrade.EventKind {
	t.Helper()
	events, err := s.Events(context.Background(), planID, 0, 1000)
	require.NoError(t, err)
	var kinds []upgrade.EventKind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// TestFinishReplyLost: a worker whose record of a step's outcome
// committed, the reply lost with the connection, sends it again: it must
// learn that the outcome was recorded, and tell WorkerOptions.Recorded so,
// not that it could not record it (which says the step goes to another
// worker, in doubt). Both ways of recording: finish_and_claim, and finish
// alone, as the worker drains.
func TestFinishReplyLost(t *testing.T) {
	for _, tc := range []struct {
		name, statement string
		drain           bool
	}{
		{"finish_and_claim", ".finish_and_claim(", false},
		{"finish", ".finish(", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := testStore(t)
			s1, proxy := proxiedStore(t, s)
			plan := &upgrade.Plan{ID: "lost-" + tc.name, Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"}}}
			require.NoError(t, s.Submit(ctx, plan, Options{}))
			cut := proxy.loseReplyTo(tc.statement)
			drain := make(chan struct{})
			exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
				if tc.drain {
					close(drain)
				}
				return nil
			})
			recorded, got := recordedInto(2)
			wctx, cancel := context.WithTimeout(ctx, time.Minute) // a failure bound
			defer cancel()
			o := WorkerOptions{Name: "w", Lease: 3 * time.Second, Poll: 20 * time.Millisecond, Drain: drain, Recorded: recorded}
			err := s1.Work(wctx, plan.ID, exec, o)
			if tc.drain {
				require.ErrorIs(t, err, ErrDrained)
			} else {
				require.NoError(t, err)
			}
			select {
			case <-cut:
			default:
				t.Fatal("no reply was lost")
			}
			require.Len(t, got, 1)
			r := <-got
			assert.Equal(t, upgrade.StepID("a"), r.step)
			assert.NoError(t, r.err, "recorded, its reply lost")
			st, err := s.Status(ctx, plan.ID)
			require.NoError(t, err)
			assert.True(t, st.Finished)
			assert.NoError(t, st.Err)
			assert.Empty(t, st.InDoubt)
			assert.Equal(t, []upgrade.EventKind{upgrade.StepStarted, upgrade.StepSucceeded}, eventKinds(t, s, plan.ID))
		})
	}
}

// TestClaimReplyLost: a worker whose claim committed, the reply lost with
// the connection, claims again: it must get the step its first claim
// took, not leave that step leased to nobody until the lease expires, to
// be taken over in doubt though it never ran (and started twice in the
// run's events). Both ways of claiming: claim, and finish_and_claim as
// the step before it is recorded.
func TestClaimReplyLost(t *testing.T) {
	for _, tc := range []struct{ name, statement string }{
		{"claim", ".claim("},
		{"finish_and_claim", ".finish_and_claim("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := testStore(t)
			s1, proxy := proxiedStore(t, s)
			plan := &upgrade.Plan{ID: "lost-" + tc.name, Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
				{ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}}}}
			require.NoError(t, s.Submit(ctx, plan, Options{}))
			cut := proxy.loseReplyTo(tc.statement)
			exec := &upgradetest.Executor{}
			recorded, got := recordedInto(3)
			wctx, cancel := context.WithTimeout(ctx, time.Minute) // a failure bound
			defer cancel()
			o := WorkerOptions{Name: "w", Lease: 3 * time.Second, Poll: 20 * time.Millisecond, Recorded: recorded}
			require.NoError(t, s1.Work(wctx, plan.ID, exec, o))
			select {
			case <-cut:
			default:
				t.Fatal("no reply was lost")
			}
			assert.Equal(t, []upgrade.StepID{"a", "b"}, exec.Started(), "each step once")
			assert.Empty(t, exec.InDoubt())
			require.Len(t, got, 2)
			for range 2 {
				assert.NoError(t, (<-got).err)
			}
			st, err := s.Status(ctx, plan.ID)
			require.NoError(t, err)
			assert.NoError(t, st.Err)
			assert.Empty(t, st.InDoubt)
			assert.Equal(t, []upgrade.EventKind{upgrade.StepStarted, upgrade.StepSucceeded, upgrade.StepStarted, upgrade.StepSucceeded},
				eventKinds(t, s, plan.ID))
		})
	}
}

// TestRetryCommitReplyLost: Store.Retry whose COMMIT reached the server,
// the reply lost with the connection, took the run up: it must say so,
// not return an error after which the caller, trying again, is told the
// run is still going (ErrNotFinished) and cannot tell that its own Retry
// did it.
func TestRetryCommitReplyLost(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	s1, proxy := proxiedStore(t, s)
	plan := onNode("retry-lost", "a", "n-a")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	broken := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return errors.New("disk full") })
	work(t, s, plan.ID, 1, broken, fastWorker)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.Error(t, st.Err)

	cut := proxy.loseReply(func(sql string) bool { return strings.EqualFold(sql, "commit") })
	retried, err := s1.Retry(ctx, plan.ID)
	select {
	case <-cut:
	default:
		t.Fatal("no reply was lost")
	}
	require.NoError(t, err, "the Retry committed")
	assert.True(t, retried)
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished, "taken up")
	retried, err = s1.Retry(ctx, plan.ID)
	assert.ErrorIs(t, err, ErrNotFinished, "a second Retry finds the run going")
	assert.False(t, retried)
}

// TestRetryRecordReplyLost: the record of a step's retry that meets a
// database error (its connection cut before the transaction committed,
// or after, its reply lost) is sent again, as a finish is: the run's
// events hold the retry once, not never nor twice.
func TestRetryRecordReplyLost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match func(sql string) bool
	}{
		{"before commit", func(sql string) bool { return strings.Contains(sql, "SET attempts = $4") }},
		{"after commit", func(sql string) bool { return strings.EqualFold(sql, "commit") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := testStore(t)
			s1, proxy := proxiedStore(t, s)
			plan := onNode("retry-record-lost", "a", "n-a")
			require.NoError(t, s.Submit(ctx, plan, Options{Attempts: 2}))
			// The rule is the first statement tc matches once the retry's
			// UPDATE has been sent.
			var mu sync.Mutex
			updated := false
			cut := proxy.loseReply(func(sql string) bool {
				mu.Lock()
				defer mu.Unlock()
				if strings.Contains(sql, "SET attempts = $4") {
					updated = true
				}
				return updated && tc.match(sql)
			})
			var calls atomic.Int32
			exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
				if calls.Add(1) == 1 {
					return errors.New("flaky")
				}
				return nil
			})
			wctx, cancel := context.WithTimeout(ctx, time.Minute) // a failure bound
			defer cancel()
			require.NoError(t, s1.Work(wctx, plan.ID, exec, WorkerOptions{Name: "w", Lease: 3 * time.Second, Poll: 20 * time.Millisecond}))
			select {
			case <-cut:
			default:
				t.Fatal("no reply was lost")
			}
			assert.Equal(t, int32(2), calls.Load())
			st, err := s.Status(ctx, plan.ID)
			require.NoError(t, err)
			assert.True(t, st.Finished)
			assert.NoError(t, st.Err)
			assert.Empty(t, st.InDoubt)
			assert.Equal(t, []upgrade.EventKind{upgrade.StepStarted, upgrade.StepRetrying, upgrade.StepSucceeded}, eventKinds(t, s, plan.ID))
			events, err := s.Events(ctx, plan.ID, 0, 10)
			require.NoError(t, err)
			require.Len(t, events, 3)
			assert.Equal(t, 2, events[1].Attempt)
			assert.ErrorContains(t, events[1].Err, "flaky", "the retry says what failed")
		})
	}
}

// TestHandBackReplyLost: a worker that stops between its claim and the
// step's start gives the step back; a give-back whose connection is cut
// before it commits is sent again, so that the step is ready at once for
// another worker, not leased to nobody until the lease expires and then
// in doubt though it never started.
func TestHandBackReplyLost(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	s1, proxy := proxiedStore(t, s)
	plan := onNode("handback-lost", "a", "n")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	o := WorkerOptions{Name: "stopped", Lease: time.Hour, Poll: 20 * time.Millisecond}
	stopped := testWorker(t, s1, plan.ID, &memExec{}, o)
	c, _, _, err := stopped.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	cut := proxy.loseReplyTo(".hand_back(")
	cancelled, cancel := context.WithCancel(ctx)
	cancel() // as the worker's is
	stopped.handBack(cancelled, c, false)
	select {
	case <-cut:
	default:
		t.Fatal("no reply was lost")
	}
	next := testWorker(t, s, plan.ID, &memExec{}, o)
	c2, _, _, err := next.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c2, "ready again at once, though the lease had an hour to go")
	assert.False(t, c2.inDoubt, "it never started")
	assert.Equal(t, 1, c2.attempts, "the given-back claim is not an attempt")
}

// TestHandOverReplyLost: a worker stopped while it undoes a step hands the
// rollback over, its lease ended at once; a hand-over whose connection
// breaks before the server has it is sent again, so that another worker takes the
// rollback up at once, not once the stopped worker's lease (an hour here)
// expires.
func TestHandOverReplyLost(t *testing.T) {
	s, _ := testStore(t)
	s1, proxy := proxiedStore(t, s)
	ctx := context.Background()
	plan := chain3("handover-lost")
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	plain := upgrade.ExecutorFunc(func(_ context.Context, st upgrade.Step) error {
		if st.ID == "b" {
			return errors.New("boom")
		}
		return nil
	})
	pctx, stopPlain := context.WithCancel(ctx)
	defer stopPlain()
	plainDone := make(chan error, 1)
	go func() { plainDone <- s.Work(pctx, plan.ID, plain, fastWorker) }() // runs a, fails b, leaves the rollback
	require.Eventually(t, func() bool {                                   // a failure bound, not an ordering device
		st, err := s.Status(ctx, plan.ID)
		require.NoError(t, err)
		o, _ := st.Report.Outcome("b")
		return o.State == upgrade.Failed
	}, defaultBound, pollEvery)

	first := &blockingRollback{Executor: &upgradetest.Executor{}, hold: "b", entered: make(chan struct{})}
	fctx, stopFirst := context.WithCancel(ctx)
	firstDone := make(chan error, 1)
	o := fastWorker
	o.Lease = time.Hour
	go func() { firstDone <- s1.Work(fctx, plan.ID, first, o) }()
	<-first.entered
	cut := proxy.loseStatement("SET lease_until = clock_timestamp() - interval '1 second'")
	stopFirst()
	assert.ErrorIs(t, <-firstDone, context.Canceled)
	select {
	case <-cut:
	default:
		t.Fatal("no reply was lost")
	}

	second := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, second, fastWorker)
	require.NoError(t, <-plainDone)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, []upgrade.StepID{"b", "a"}, second.RolledBack())
}
