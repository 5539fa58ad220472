package pgrun

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// h8Work calls s.Work in a goroutine of its own and reports whether Work
// returned, with its error, or ended that goroutine with runtime.Goexit.
// It fails the test if Work has not ended within a minute (a bound on a
// hang, not a measure: Work ends as soon as its step does).
func h8Work(t *testing.T, s *Store, planID string, exec upgrade.Executor, o WorkerOptions) (returned bool, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type end struct {
		returned bool
		err      error
	}
	ended := make(chan end, 1)
	go func() {
		e := end{}
		defer func() { ended <- e }()
		e.err = s.Work(ctx, planID, exec, o)
		e.returned = true
	}()
	e := <-ended
	require.NoError(t, ctx.Err(), "Work hangs")
	return e.returned, e.err
}

// h8Held returns how many steps of run planID are leased, how many the
// run counts as running, and how many node locks it holds.
func h8Held(t *testing.T, s *Store, planID string) (leased, running, locks int) {
	t.Helper()
	require.NoError(t, s.pool.QueryRow(context.Background(), s.q(`SELECT
			(SELECT count(*) FROM {s}.steps WHERE plan_id = $1 AND lease_until IS NOT NULL),
			running, (SELECT count(*) FROM {s}.node_locks WHERE plan_id = $1)
		FROM {s}.runs WHERE plan_id = $1`), planID).Scan(&leased, &running, &locks))
	return leased, running, locks
}

// TestHunt7GoexitInStep: a host's Execute that calls runtime.Goexit, as
// t.FailNow does in a host's test, ends Work's caller's goroutine, as it
// would had the caller called Execute itself (upgrade.Run does the
// same); the step is handed back, in doubt, its lease, slot and node
// freed at once, rather than held until the lease expires, or the worker
// left waiting for ever; another worker then takes it up, in doubt.
// Before, the slot's goroutine ended, Work returned nil with the run
// unfinished, and the step stayed leased to nobody.
func TestHunt7GoexitInStep(t *testing.T) {
	for _, slots := range []int{1, 2} {
		t.Run(map[int]string{1: "one slot", 2: "two slots"}[slots], func(t *testing.T) {
			s, _ := testStore(t)
			plan := chain3("goexit-step") // a → b → c, and d
			require.NoError(t, s.Submit(context.Background(), plan, Options{Concurrency: 2}))
			var mu sync.Mutex
			var ran []upgrade.StepID
			exiting := upgrade.ExecutorFunc(func(_ context.Context, st upgrade.Step) error {
				mu.Lock()
				ran = append(ran, st.ID)
				mu.Unlock()
				if st.ID == "a" {
					runtime.Goexit()
				}
				return nil
			})
			o := fastWorker
			o.Slots, o.Lease = slots, time.Hour // a step not handed back would stay leased
			returned, err := h8Work(t, s, plan.ID, exiting, o)
			assert.False(t, returned, "Work ends its caller's goroutine (err %v)", err)
			mu.Lock()
			assert.Contains(t, ran, upgrade.StepID("a"))
			assert.NotContains(t, ran, upgrade.StepID("b"), "nothing after a ran")
			mu.Unlock()

			st, err := s.Status(context.Background(), plan.ID)
			require.NoError(t, err)
			assert.False(t, st.Finished)
			assert.Contains(t, st.InDoubt, upgrade.StepID("a"))
			leased, running, locks := h8Held(t, s, plan.ID)
			assert.Zero(t, leased, "no step left leased")
			assert.Zero(t, running)
			assert.Zero(t, locks)

			exec := &upgradetest.Executor{}
			work(t, s, plan.ID, 1, exec, fastWorker)
			st, err = s.Status(context.Background(), plan.ID)
			require.NoError(t, err)
			require.True(t, st.Finished)
			require.NoError(t, st.Err)
			assert.Equal(t, []upgrade.StepID{"a"}, exec.InDoubt(), "a is taken up again, in doubt")
			a, _ := st.Report.Outcome("a")
			assert.True(t, a.InDoubt)
		})
	}
}

// TestHunt7GoexitInRecorded: a WorkerOptions.Recorded that calls
// runtime.Goexit ends Work's caller's goroutine; the step it was told of
// stays recorded, and the step the slot claimed with that record is
// handed back, not in doubt (it never started), rather than left leased.
func TestHunt7GoexitInRecorded(t *testing.T) {
	s, _ := testStore(t)
	plan := chain3("goexit-recorded")
	require.NoError(t, s.Submit(context.Background(), plan, Options{}))
	o := fastWorker
	o.Lease = time.Hour
	o.Recorded = func(_ string, id upgrade.StepID, _ error) {
		if id == "a" {
			runtime.Goexit()
		}
	}
	exec := &upgradetest.Executor{}
	returned, err := h8Work(t, s, plan.ID, exec, o)
	assert.False(t, returned, "Work ends its caller's goroutine (err %v)", err)
	assert.Equal(t, []upgrade.StepID{"a"}, exec.Started())
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State, "a's success was recorded before Recorded was told")
	assert.Empty(t, st.InDoubt)
	leased, running, locks := h8Held(t, s, plan.ID)
	assert.Zero(t, leased, "the step claimed with a's record is handed back")
	assert.Zero(t, running)
	assert.Zero(t, locks)

	exec = &upgradetest.Executor{}
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err = s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.ElementsMatch(t, []upgrade.StepID{"b", "c", "d"}, exec.Started())
	assert.Empty(t, exec.InDoubt())
}

// h8Rollbacker runs every step, fails b, and calls runtime.Goexit in
// Rollback when exit is set; it records the rollbacks in doubt.
type h8Rollbacker struct {
	exit    bool
	mu      sync.Mutex
	rolled  []upgrade.StepID
	inDoubt []upgrade.StepID
}

func (e *h8Rollbacker) Execute(_ context.Context, st upgrade.Step) error {
	if st.ID == "b" {
		return errBoom
	}
	return nil
}

func (e *h8Rollbacker) Rollback(ctx context.Context, st upgrade.Step) error {
	if e.exit {
		runtime.Goexit()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rolled = append(e.rolled, st.ID)
	if upgrade.InDoubt(ctx) {
		e.inDoubt = append(e.inDoubt, st.ID)
	}
	return nil
}

// TestHunt7GoexitInRollback: a Rollback that calls runtime.Goexit ends
// Work's caller's goroutine; the rollback is handed over, in doubt, for
// another worker to take up at once. Before, the worker waited for ever
// for the Rollback's goroutine, which had ended.
func TestHunt7GoexitInRollback(t *testing.T) {
	s, _ := testStore(t)
	plan := rollingBack(t, s, "goexit-rollback") // a succeeded, b failed: b's rollback to claim
	o := fastWorker
	o.Lease = time.Hour
	returned, err := h8Work(t, s, plan.ID, &h8Rollbacker{exit: true}, o)
	assert.False(t, returned, "Work ends its caller's goroutine (err %v)", err)
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished)

	rb := &h8Rollbacker{}
	work(t, s, plan.ID, 1, rb, fastWorker)
	st, err = s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, []upgrade.StepID{"b", "a"}, rb.rolled, "b, which failed last, is undone first")
	assert.Equal(t, []upgrade.StepID{"b"}, rb.inDoubt, "the rollback cut short is taken up in doubt")
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.RolledBack, "b": upgrade.RolledBack, "c": upgrade.Skipped, "d": upgrade.NotStarted},
		states(st))
	leased, running, locks := h8Held(t, s, plan.ID)
	assert.Zero(t, leased)
	assert.Zero(t, running)
	assert.Zero(t, locks)
}

// TestHunt7RecordedPanics: a panic in WorkerOptions.Recorded does not
// crash the process: Work returns it, as an *upgrade.PanicError naming
// the step, once its other slots' steps are recorded; the step the slot
// claimed with the record is handed back, and another Work finishes the
// run.
func TestHunt7RecordedPanics(t *testing.T) {
	s, _ := testStore(t)
	plan := chain3("recorded-panics")
	require.NoError(t, s.Submit(context.Background(), plan, Options{Concurrency: 2}))
	o := fastWorker
	o.Lease, o.Slots = time.Hour, 2
	o.Recorded = func(_ string, id upgrade.StepID, _ error) {
		if id == "a" {
			panic("recorded: out of cheese")
		}
	}
	exec := &upgradetest.Executor{}
	returned, err := h8Work(t, s, plan.ID, exec, o)
	require.True(t, returned, "Work returns")
	pe, ok := errors.AsType[*upgrade.PanicError](err)
	require.True(t, ok, "Work returns the panic: %v", err)
	assert.Equal(t, "Recorded", pe.Method)
	assert.Equal(t, upgrade.StepID("a"), pe.Step)
	assert.Equal(t, "recorded: out of cheese", pe.Value)
	assert.NotEmpty(t, pe.Stack)
	assert.NotContains(t, exec.Started(), upgrade.StepID("c"), "no step starts after the panic but those claimed")
	leased, running, locks := h8Held(t, s, plan.ID)
	assert.Zero(t, leased, "nothing left leased")
	assert.Zero(t, running)
	assert.Zero(t, locks)

	exec = &upgradetest.Executor{}
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Empty(t, st.InDoubt)
}

// TestHunt7RecordErrorsNameStep: the errors of a worker that could not
// record a step's outcome name the step, quoted as topology.Quote does
// (the longest IDs shortened): the database's, and the one
// WorkerOptions.Recorded is told of.
func TestHunt7RecordErrorsNameStep(t *testing.T) {
	id := upgrade.StepID(strings.Repeat("s", maxStepIDLength))
	plan := &upgrade.Plan{ID: "p", Steps: []upgrade.Step{{ID: id, Kind: upgrade.Platform, Node: "n"}}}
	t.Run("database", func(t *testing.T) {
		s, _ := testStore(t)
		require.NoError(t, s.Submit(context.Background(), plan, Options{}))
		w := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "w", Lease: time.Hour})
		c, _, _, err := w.claim(context.Background(), nil)
		require.NoError(t, err)
		require.NotNil(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the database out of reach, as far as the worker can tell
		err = w.finish(ctx, c, 1, "", 0)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "step "+topology.Quote(string(id)))
		_, _, _, _, err = w.finishAndClaim(ctx, c, 1, "", 0, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "step "+topology.Quote(string(id)))
	})
	t.Run("Recorded", func(t *testing.T) {
		s, pool := testStore(t)
		require.NoError(t, s.Submit(context.Background(), plan, Options{}))
		stolen := false
		exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
			if !stolen { // another worker takes the step over
				stolen = true
				_, err := pool.Exec(context.Background(), s.q(`UPDATE {s}.steps SET token = token + 1 WHERE plan_id = $1`), plan.ID)
				require.NoError(t, err)
				<-ctx.Done() // the lease's renewal finds it lost
				return ctx.Err()
			}
			return nil
		})
		var mu sync.Mutex
		var got []error
		o := WorkerOptions{Lease: 300 * time.Millisecond, Poll: 10 * time.Millisecond, Recorded: func(_ string, _ upgrade.StepID, err error) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, err)
		}}
		require.NoError(t, s.Work(context.Background(), plan.ID, exec, o))
		require.NotEmpty(t, got)
		require.ErrorIs(t, got[0], ErrNotRecorded)
		assert.Contains(t, got[0].Error(), "step "+topology.Quote(string(id)))
		assert.Less(t, len(got[0].Error()), 300, "the ID is shortened: %s", got[0])
	})
}

// TestHunt7StatusSaysInDoubt: Status sets Outcome.InDoubt of the steps
// it lists in InDoubt, as upgrade.Run sets it of a step offered again in
// doubt: here a step taken over from a lost worker.
func TestHunt7StatusSaysInDoubt(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("status-in-doubt")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	lost := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "lost", Lease: time.Hour})
	c, _, _, err := lost.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() WHERE plan_id = $1`), plan.ID) // the worker is lost
	require.NoError(t, err)
	exec := &upgradetest.Executor{}
	exec.FailAt("d", errBoom)
	o := fastWorker
	o.Lease = time.Hour
	returned, err := h8Work(t, s, plan.ID, exec, o)
	require.True(t, returned)
	require.NoError(t, err)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.Equal(t, []upgrade.StepID{plan.Steps[c.idx].ID}, st.InDoubt)
	for _, o := range st.Report.Outcomes {
		assert.Equal(t, o.Step == plan.Steps[c.idx].ID, o.InDoubt, "step %s", o.Step)
	}
}

// TestHunt8GoexitStopsRetriesOfOtherSlots: when the host's code ends a
// slot (runtime.Goexit), a step another slot of the worker waits to try
// again does not hold Work up for its backoff (an hour here): its retry
// does not start, as upgrade.Run starts no retry once the caller's code
// ended it, and the step is handed back, in doubt (an attempt of it
// ran), for another worker to take up. Before, Work ended only once the
// backoff had passed and the retry had run.
func TestHunt8GoexitStopsRetriesOfOtherSlots(t *testing.T) {
	s, _ := testStore(t)
	plan := chain3("goexit-retry") // a → b → c, and d
	require.NoError(t, s.Submit(context.Background(), plan, Options{Concurrency: 2, Attempts: 2, Backoff: time.Hour, MaxBackoff: time.Hour}))
	dFailed := make(chan struct{})
	var once sync.Once
	exec := upgrade.ExecutorFunc(func(_ context.Context, st upgrade.Step) error {
		switch st.ID {
		case "a":
			<-dFailed
			runtime.Goexit()
		case "d":
			once.Do(func() { close(dFailed) })
			return errors.New("flaky")
		}
		return nil
	})
	o := fastWorker
	o.Slots, o.Lease = 2, time.Hour
	returned, err := h8Work(t, s, plan.ID, exec, o)
	assert.False(t, returned, "Work ends its caller's goroutine (err %v)", err)
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished)
	assert.ElementsMatch(t, []upgrade.StepID{"a", "d"}, st.InDoubt)
	leased, running, locks := h8Held(t, s, plan.ID)
	assert.Zero(t, leased, "no step left leased")
	assert.Zero(t, running)
	assert.Zero(t, locks)

	good := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, good, fastWorker)
	st, err = s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.ElementsMatch(t, []upgrade.StepID{"a", "d"}, good.InDoubt())
}

// TestHunt7InDoubtStepThatFails: a step taken over in doubt from a lost
// worker that then fails is reported Failed, in doubt, with its error,
// and the steps after it skipped, as upgrade.Run reports such a step
// (the upgrade package's test of the same name).
func TestHunt7InDoubtStepThatFails(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("in-doubt-fails")
	require.NoError(t, s.Submit(ctx, plan, Options{Policy: upgrade.ContinueIndependent}))
	lost := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "lost", Lease: time.Hour})
	c, _, _, err := lost.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Equal(t, upgrade.StepID("a"), plan.Steps[c.idx].ID)
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() WHERE plan_id = $1`), plan.ID) // the worker is lost
	require.NoError(t, err)
	exec := &upgradetest.Executor{}
	exec.FailAt("a", errBoom)
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, []upgrade.StepID{"a"}, exec.InDoubt())
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.Failed, "b": upgrade.Skipped, "c": upgrade.Skipped, "d": upgrade.Succeeded},
		states(st))
	a, _ := st.Report.Outcome("a")
	assert.True(t, a.InDoubt)
	assert.ErrorContains(t, a.Err, "boom")
	se, ok := errors.AsType[*upgrade.StepError](st.Err)
	require.True(t, ok, "%v", st.Err)
	assert.Equal(t, upgrade.StepID("a"), se.Step)
	for _, o := range st.Report.Outcomes {
		assert.Equal(t, o.Step == "a", o.InDoubt, "step %s", o.Step)
	}
}

// TestHunt8HugeErrorBounded: a step whose error is megabytes long (a
// command's whole output in it, say) is recorded with the start of its
// error, cut and marked as cut, so that Status, Events and the table
// of events do not carry megabytes per step and per retry; the run goes
// on as usual. Before, every record of it held the whole error.
func TestHunt8HugeErrorBounded(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("huge-error")
	require.NoError(t, s.Submit(ctx, plan, Options{Attempts: 2, Policy: upgrade.ContinueIndependent}))
	huge := "disk full: " + strings.Repeat("x", 4<<20)
	exec := &upgradetest.Executor{}
	exec.FailAt("a", errors.New(huge))
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	a, _ := st.Report.Outcome("a")
	require.Equal(t, upgrade.Failed, a.State)
	assert.Equal(t, 2, a.Attempts)
	msg := a.Err.Error()
	assert.Less(t, len(msg), 100<<10, "the error is cut")
	assert.True(t, strings.HasPrefix(msg, "disk full: xxx"), "its start is kept")
	assert.Contains(t, msg, "bytes", "it says how long it was")
	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	var withErr int
	for _, e := range events {
		if e.Err != nil {
			withErr++
			assert.Less(t, len(e.Err.Error()), 100<<10, "event %s", e.Kind)
		}
	}
	assert.Equal(t, 2, withErr, "the retry and the failure")
	d, _ := st.Report.Outcome("d")
	assert.Equal(t, upgrade.Succeeded, d.State)
}

// TestHunt8ErrorNotText: a step whose error holds bytes that PostgreSQL
// text cannot (a NUL, invalid UTF-8: a command's binary output in it) is
// recorded, those bytes replaced, and the run goes on. Before, every
// record of its failure was refused by the database, sent again until
// the lease ran out, and the step then taken over, in doubt, to fail the
// same way, for ever.
func TestHunt8ErrorNotText(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("error-not-text")
	require.NoError(t, s.Submit(ctx, plan, Options{Attempts: 2, Policy: upgrade.ContinueIndependent}))
	exec := &upgradetest.Executor{}
	exec.FailAt("a", errors.New("exit 1: \x00\xff\xfe garbage"))
	o := fastWorker
	returned, err := h8Work(t, s, plan.ID, exec, o)
	require.True(t, returned)
	require.NoError(t, err)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	a, _ := st.Report.Outcome("a")
	require.Equal(t, upgrade.Failed, a.State)
	assert.Contains(t, a.Err.Error(), "exit 1: ")
	assert.Contains(t, a.Err.Error(), "garbage")
	assert.Equal(t, 2, exec.Calls("a"), "a is not taken over again")
	assert.Empty(t, st.InDoubt)
}

// TestHunt8WorkerNameNotText: a worker name that PostgreSQL text cannot
// hold (a NUL, invalid UTF-8) is refused by Work at once, nothing
// claimed. Before, every claim was refused by the database, and Work
// logged and tried again until its context ended.
func TestHunt8WorkerNameNotText(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("name-not-text")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	for _, name := range []string{"w\x00", "w\xff"} {
		o := fastWorker
		o.Name = name
		exec := &upgradetest.Executor{}
		returned, err := h8Work(t, s, plan.ID, exec, o)
		require.True(t, returned)
		require.Error(t, err, "%q", name)
		assert.ErrorContains(t, err, "Name")
		assert.Empty(t, exec.Started())
	}
	leased, running, _ := h8Held(t, s, plan.ID)
	assert.Zero(t, leased)
	assert.Zero(t, running)
}
