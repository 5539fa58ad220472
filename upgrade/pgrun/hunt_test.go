package pgrun

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestConformanceAbandonedNotRolledBack: a step whose Execute ignores its
// context past the step timeout and the grace period is abandoned, and
// its Execute may still be changing the node; upgrade.Run does not undo
// it then, nor the steps before it, and says why. The workers must not
// call Rollback for it either.
func TestConformanceAbandonedNotRolledBack(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	release, returned := make(chan struct{}), make(chan struct{}, 10)
	free := sync.OnceFunc(func() { close(release) })
	set := func(e *upgradetest.Executor) {
		e.Func = func(ctx context.Context, st upgrade.Step) error {
			if st.ID == "b" {
				<-release // ignores ctx
				returned <- struct{}{}
			}
			return nil
		}
	}
	opts := Options{Rollback: true, StepTimeout: 20 * time.Millisecond}
	const grace = 20 * time.Millisecond
	inProc, remote := &upgradetest.Executor{}, &upgradetest.Executor{}
	set(inProc)
	set(remote)
	t.Cleanup(func() { // the calls abandoned end before the test
		free()
		for range inProc.Calls("b") + remote.Calls("b") {
			<-returned
		}
	})
	plan := chain3("")
	want, wantErr := upgrade.Run(ctx, plan, inProc, append(runOptions(opts), upgrade.WithGracePeriod(grace))...)
	require.NotNil(t, want)
	b, _ := want.Outcome("b")
	require.True(t, b.Abandoned, "the test's premise: Run abandons b")

	plan.ID = "abandoned"
	require.NoError(t, s.Submit(ctx, plan, opts))
	o := fastWorker
	o.GracePeriod = grace
	// The run finishes, b abandoned; the workers return once its call
	// has (see TestAbandonedCallKeepsNode).
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	errs := startWorkers(wctx, s, plan.ID, 2, remote, o)
	got, err := s.Wait(wctx, plan.ID, pollEvery)
	require.NoError(t, err)
	free()
	for range 2 {
		require.NoError(t, <-errs)
	}
	require.True(t, got.Finished)
	for i, w := range want.Outcomes {
		g := got.Report.Outcomes[i]
		assert.Equal(t, w.State.String(), g.State.String(), "state of %s", w.Step)
		assert.Equal(t, sentinels(w.Err), sentinels(g.Err), "error kinds of %s: %v, %v", w.Step, w.Err, g.Err)
		assert.Equal(t, w.Abandoned, g.Abandoned, "%s abandoned", w.Step)
	}
	assert.Equal(t, sentinels(wantErr), sentinels(got.Err), "run error kinds: %v, %v", wantErr, got.Err)
	assert.Equal(t, inProc.RolledBack(), remote.RolledBack(), "steps rolled back")
}

// TestRetryAbandonedStepInDoubt: a step whose Execute was abandoned may
// have been carried out, in full or in part, and may still be running.
// upgrade.Run leaves it started in its journal, so that the run resumed
// offers it in doubt; Retry must offer it in doubt too.
func TestRetryAbandonedStepInDoubt(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	release, returned := make(chan struct{}), make(chan struct{}, 10)
	free := sync.OnceFunc(func() { close(release) })
	inProcRelease := make(chan struct{}) // the in-process Run's, let go sooner
	freeInProc := sync.OnceFunc(func() { close(inProcRelease) })
	var execs []*upgradetest.Executor // each one's first call ignores its context
	t.Cleanup(func() {                // the calls abandoned end before the test
		free()
		freeInProc()
		for _, e := range execs {
			for range min(e.Calls("a"), 1) {
				<-returned
			}
		}
	})
	const grace = 20 * time.Millisecond
	newExec := func(release <-chan struct{}) *upgradetest.Executor {
		e := &upgradetest.Executor{}
		execs = append(execs, e)
		e.Func = func(ctx context.Context, st upgrade.Step) error {
			if e.Calls(st.ID) == 1 {
				<-release // ignores ctx
				returned <- struct{}{}
			}
			return nil
		}
		return e
	}
	plan := onNode("abandoned-retry", "a", "n-a")
	opts := Options{StepTimeout: 20 * time.Millisecond}

	// upgrade.Run with a journal, run twice.
	j, err := upgrade.OpenFileJournal(t.TempDir() + "/journal")
	require.NoError(t, err)
	defer j.Close()
	inProc := newExec(inProcRelease)
	runOpts := append(runOptions(opts), upgrade.WithGracePeriod(grace), upgrade.WithJournal(j))
	first, err := upgrade.Run(ctx, plan, inProc, runOpts...)
	require.Error(t, err)
	a, _ := first.Outcome("a")
	require.True(t, a.Abandoned, "the test's premise: Run abandons a")
	// Run keeps its journal until the call it abandoned returns, so that
	// no Run offers a again while a's first Execute may still run: let
	// that Execute return, and take the journal once Run gives it back,
	// as the call's goroutine ends.
	freeInProc()
	<-returned
	returned <- struct{}{} // for the cleanup
	for {
		_, err = upgrade.Run(ctx, plan, inProc, runOpts...)
		if !errors.Is(err, upgrade.ErrLocked) {
			break
		}
		runtime.Gosched()
	}
	require.NoError(t, err)
	require.Equal(t, []upgrade.StepID{"a"}, inProc.InDoubt(), "the test's premise: Run resumed offers a in doubt")

	// The workers, and Retry.
	remote := newExec(release)
	require.NoError(t, s.Submit(ctx, plan, opts))
	o := fastWorker
	o.GracePeriod = grace
	// Work returns once the call it abandoned has (see
	// TestAbandonedCallKeepsNode).
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- s.Work(wctx, plan.ID, remote, o) }()
	_, err = s.Wait(wctx, plan.ID, pollEvery)
	require.NoError(t, err)
	free()
	require.NoError(t, <-errs)
	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	work(t, s, plan.ID, 1, remote, o)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	assert.Equal(t, inProc.InDoubt(), remote.InDoubt(), "offered again in doubt")
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt)
}

// TestLeaseTakenWhileExecuteBlocks: a worker's Execute blocks while its
// lease runs out (set in the past here, as a long pause of the worker's
// host would) and another worker takes the step over, in doubt, and runs
// the plan to its end; then the first Execute returns success. The first
// worker's outcome is refused: the step's success is the second's, once.
func TestLeaseTakenWhileExecuteBlocks(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := &upgrade.Plan{ID: "taken", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"}, {ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}}}}
	require.NoError(t, s.Submit(ctx, plan, Options{}))

	started, release := make(chan struct{}), make(chan struct{})
	first := &upgradetest.Executor{Func: func(ctx context.Context, st upgrade.Step) error {
		close(started)
		<-release // the lease is taken meanwhile; no renewal comes (an hour's lease)
		return nil
	}}
	var mu sync.Mutex
	recorded := map[string][]error{}
	record := func(name string) func(string, upgrade.StepID, error) {
		return func(_ string, id upgrade.StepID, err error) {
			mu.Lock()
			defer mu.Unlock()
			recorded[name+"/"+string(id)] = append(recorded[name+"/"+string(id)], err)
		}
	}
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- s.Work(ctx, plan.ID, first, WorkerOptions{Name: "first", Lease: time.Hour, Poll: time.Hour, Recorded: record("first")})
	}()
	<-started
	_, err := pool.Exec(ctx, s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() - interval '1 second' WHERE plan_id = $1 AND idx = 0`), plan.ID)
	require.NoError(t, err)
	second := &upgradetest.Executor{}
	o := fastWorker
	o.Name, o.Recorded = "second", record("second")
	work(t, s, plan.ID, 1, second, o)
	assert.Equal(t, []upgrade.StepID{"a", "b"}, second.Started())
	assert.Equal(t, []upgrade.StepID{"a"}, second.InDoubt(), "taken over in doubt")

	before, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, before.Finished)
	close(release)
	require.NoError(t, <-firstDone)
	mu.Lock()
	require.Len(t, recorded["first/a"], 1)
	assert.ErrorIs(t, recorded["first/a"][0], ErrNotRecorded)
	assert.ErrorIs(t, recorded["first/a"][0], ErrLeaseLost)
	assert.Equal(t, []error{nil}, recorded["second/a"])
	mu.Unlock()
	after, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the first worker changed nothing")
	assert.Equal(t, []upgrade.StepID{"a"}, after.InDoubt)
	a, _ := after.Report.Outcome("a")
	assert.Equal(t, 2, a.Attempts, "the lost attempt and the second's")
	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	succeeded := 0
	for _, e := range events {
		if e.Kind == upgrade.StepSucceeded && e.Step.ID == "a" {
			succeeded++
			assert.NotEqual(t, "first", e.Worker)
		}
	}
	assert.Equal(t, 1, succeeded)
}

// TestSharedNodeManyRuns: several runs, submitted at once, each with a
// step on node X among steps of its own, run by workers of their own:
// never two steps on X at once. A step on X holds it until a step of
// another run has been seen waiting for it, or no step on X is left to
// run, so that every run's step on X meets the lock.
func TestSharedNodeManyRuns(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	const runs = 5
	var plans []*upgrade.Plan
	for k := range runs {
		plans = append(plans, &upgrade.Plan{ID: fmt.Sprintf("run-%d", k), Steps: []upgrade.Step{
			{ID: "y", Kind: upgrade.Platform, Node: topologyNode("own-%d", k)},
			{ID: "x", Kind: upgrade.Platform, Node: "X", After: []upgrade.StepID{"y"}},
			{ID: "w", Kind: upgrade.Platform, Node: topologyNode("wide-%d", k)},
			{ID: "z", Kind: upgrade.Platform, Node: topologyNode("own-%d", k), After: []upgrade.StepID{"x"}},
		}})
	}
	var wg sync.WaitGroup
	for _, p := range plans {
		wg.Go(func() { assert.NoError(t, s.Submit(ctx, p, Options{Concurrency: 2})) })
	}
	wg.Wait()

	var mu sync.Mutex
	onX, peak := 0, 0
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.Node != "X" {
			return nil
		}
		mu.Lock()
		onX++
		peak = max(peak, onX)
		mu.Unlock()
		defer func() {
			mu.Lock()
			onX--
			mu.Unlock()
		}()
		deadline := time.Now().Add(time.Minute) // a failure bound
		for {
			var seen bool
			if err := pool.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM {s}.events WHERE kind = $1 AND wait_step = 'x'
					AND wait_plan = (SELECT plan_id FROM {s}.node_locks WHERE node = 'X'))
				OR NOT EXISTS (SELECT 1 FROM {s}.steps WHERE node = 'X' AND state IN ('waiting', 'ready'))`),
				int(upgrade.StepWaiting)).Scan(&seen); err != nil {
				return err
			}
			if seen {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no step waited for X")
			}
			time.Sleep(5 * time.Millisecond) // polling interval, not an ordering device
		}
	})
	for _, p := range plans {
		wg.Go(func() {
			o := fastWorker
			o.Slots = 2
			work(t, s, p.ID, 2, exec, o)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, peak, "steps on X at once")
	for _, p := range plans {
		st, err := s.Status(ctx, p.ID)
		require.NoError(t, err)
		assert.NoError(t, st.Err)
		assert.Equal(t, 4, st.Report.Count(upgrade.Succeeded))
	}
	var waits int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.events WHERE kind = $1`), int(upgrade.StepWaiting)).Scan(&waits))
	assert.GreaterOrEqual(t, waits, runs-1, "every run but the last met the lock")
	var locks int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.node_locks`)).Scan(&locks))
	assert.Zero(t, locks)
}

func topologyNode(format string, k int) topology.NodeID {
	return topology.NodeID(fmt.Sprintf(format, k))
}

// TestHostileAndLongestIDs: IDs with SQL metacharacters, quotes, NUL or
// too many bytes are refused by Submit and unknown to every call that
// takes a run's ID, nothing stored; IDs as long as allowed, made of every
// character allowed, run through as values.
func TestHostileAndLongestIDs(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	hostile := []string{`a'; DROP TABLE steps; --`, `a"b`, "a\x00b", "a\\b", "$pgrun$", strings.Repeat("a", maxStepIDLength+1), "ä", "a b", "a\nb"}
	none := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { panic("nothing may run") })
	for _, id := range hostile {
		for _, plan := range []*upgrade.Plan{
			{ID: id, Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n"}}},
			{ID: "p", Steps: []upgrade.Step{{ID: upgrade.StepID(id), Kind: upgrade.Platform, Node: "n"}}},
			{ID: "p", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: topology.NodeID(id)}}},
			{ID: "p", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n"}}, Barriers: []upgrade.Barrier{{ID: upgrade.StepID(id)}}},
		} {
			assert.ErrorIs(t, s.Submit(ctx, plan, Options{}), upgrade.ErrInvalidPlan, "%q", id)
		}
		_, err := s.Status(ctx, id)
		assert.ErrorIs(t, err, ErrUnknownRun, "%q", id)
		_, err = s.Events(ctx, id, 0, 10)
		assert.ErrorIs(t, err, ErrUnknownRun, "%q", id)
		assert.ErrorIs(t, s.Cancel(ctx, id), ErrUnknownRun, "%q", id)
		_, err = s.Retry(ctx, id)
		assert.ErrorIs(t, err, ErrUnknownRun, "%q", id)
		assert.ErrorIs(t, s.Work(ctx, id, none, fastWorker), ErrUnknownRun, "%q", id)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT (SELECT count(*) FROM {s}.runs) + (SELECT count(*) FROM {s}.steps)`)).Scan(&n))
	assert.Zero(t, n, "nothing stored")

	// The longest IDs, of every character allowed.
	long := func(prefix string, max int) string {
		id := prefix
		for len(id) < max {
			id += "azAZ09._-:/@+"
		}
		return id[:max]
	}
	planID := long("p", maxStepIDLength)
	ids := []upgrade.StepID{upgrade.StepID(long("s1", maxStepIDLength)), upgrade.StepID(long("s2", maxStepIDLength))}
	nodes := []topology.NodeID{topology.NodeID(long("n1", topology.MaxIDLength)), topology.NodeID(long("n2", topology.MaxIDLength))}
	plan := &upgrade.Plan{ID: planID, Steps: []upgrade.Step{
		{ID: ids[0], Kind: upgrade.Platform, Node: nodes[0]},
		{ID: ids[1], Kind: upgrade.Platform, Node: nodes[1], After: []upgrade.StepID{"b:" + ids[0][2:]}}},
		Barriers: []upgrade.Barrier{{ID: "b:" + ids[0][2:], After: []upgrade.StepID{ids[0]}}}}
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	exec := &upgradetest.Executor{}
	exec.FailAt(ids[1], errBoom)
	work(t, s, planID, 1, exec, fastWorker)
	assert.Equal(t, ids, exec.Started())
	st, err := s.Status(ctx, planID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	var se *upgrade.StepError
	require.ErrorAs(t, st.Err, &se)
	assert.Equal(t, ids[1], se.Step)
	assert.Equal(t, nodes[1], se.Node)
	events, err := s.Events(ctx, planID, 0, 100)
	require.NoError(t, err)
	assert.Len(t, events, 4)
	retried, err := s.Retry(ctx, planID)
	require.NoError(t, err)
	assert.True(t, retried)
	require.NoError(t, s.Cancel(ctx, planID))
}

// TestOpenConcurrently: hosts opening one new schema at once all succeed,
// the schema migrated once, and a run goes through it.
func TestOpenConcurrently(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	name := s.name + "_c"
	const hosts = 6
	stores := make([]*Store, hosts)
	errs := make([]error, hosts)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range hosts {
		wg.Go(func() {
			<-start
			stores[k], errs[k] = Open(ctx, pool, name)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var version, rows int
	require.NoError(t, pool.QueryRow(ctx, stores[0].q(`SELECT max(version), count(*) FROM {s}.schema_version`)).Scan(&version, &rows))
	assert.Equal(t, SchemaVersion, version)
	assert.Equal(t, 1, rows)
	plan := chain3("p")
	require.NoError(t, stores[1].Submit(ctx, plan, Options{}))
	work(t, stores[2], plan.ID, 2, &upgradetest.Executor{}, fastWorker)
	st, err := stores[3].Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.NoError(t, st.Err)
	_, err = pool.Exec(ctx, `DROP SCHEMA `+stores[0].schema+` CASCADE`)
	require.NoError(t, err)
}

// TestOpenNewerSchema: a program opening a schema that a newer program
// has migrated past its SchemaVersion gets an error it can tell apart
// (ErrSchemaVersion), naming both versions, and changes nothing.
func TestOpenNewerSchema(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, s.q(`UPDATE {s}.schema_version SET version = $1`), SchemaVersion+1)
	require.NoError(t, err)
	_, err = Open(ctx, pool, s.name)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrSchemaVersion)
	assert.ErrorContains(t, err, fmt.Sprintf("version %d", SchemaVersion+1))
	assert.ErrorContains(t, err, fmt.Sprint(SchemaVersion))
	var version int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT version FROM {s}.schema_version`)).Scan(&version))
	assert.Equal(t, SchemaVersion+1, version, "unchanged")
}

// waiters returns how many slots of s wait to be woken.
func waiters(s *Store) int {
	s.listener.mu.Lock()
	k := s.listener.k
	s.listener.mu.Unlock()
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.waiters)
}

// TestNotifyWakesTheRunsSlot: one process works on two runs, as the
// stackup worker does on every run not finished, through one Store, its
// slots asleep (an hour's poll). A step of run A that another process
// finishes, claiming nothing after it (drained), makes the next step of
// A ready: the notification must reach A's slot, though a slot of run B,
// which has nothing to claim, has waited longer.
func TestNotifyWakesTheRunsSlot(t *testing.T) {
	s, pool := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	a, b := chainPlan("run-a", 2), chainPlan("run-b", 2)
	for k := range b.Steps {
		b.Steps[k].Node += "-b"
	}
	require.NoError(t, s.Submit(ctx, a, Options{}))
	require.NoError(t, s.Submit(ctx, b, Options{}))
	other := secondStore(t, s) // another process

	// The other process holds B's first step, and runs A's first, drained.
	holdB, releaseB := make(chan struct{}), make(chan struct{})
	execB := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.ID == "s00" {
			close(holdB)
			<-releaseB
		}
		return nil
	})
	holdA, releaseA := make(chan struct{}), make(chan struct{})
	execA := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.ID == "s00" {
			close(holdA)
			<-releaseA
		}
		return nil
	})
	otherB, otherA := make(chan error, 1), make(chan error, 1)
	go func() { otherB <- other.Work(ctx, b.ID, execB, sleepy) }()
	<-holdB
	drain := make(chan struct{})
	oa := sleepy
	oa.Drain = drain
	go func() { otherA <- other.Work(ctx, a.ID, execA, oa) }()
	<-holdA

	// This process: B's slot waits first, then A's.
	mine := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil })
	doneB, doneA := make(chan error, 1), make(chan error, 1)
	go func() { doneB <- s.Work(ctx, b.ID, mine, sleepy) }()
	require.Eventually(t, func() bool { return waiters(s) == 1 && len(listeners(t, pool, s)) == 2 }, defaultBound, pollEvery)
	go func() { doneA <- s.Work(ctx, a.ID, mine, sleepy) }()
	require.Eventually(t, func() bool { return waiters(s) == 2 }, defaultBound, pollEvery)

	close(drain)
	close(releaseA)
	require.ErrorIs(t, <-otherA, ErrDrained)
	select {
	case err := <-doneA:
		require.NoError(t, err, "A's second step ran here")
	case <-ctx.Done():
		t.Fatal("A's slot was never woken for its second step")
	}
	close(releaseB)
	require.NoError(t, <-otherB)
	require.NoError(t, <-doneB)
}

// TestFinishIsOneTransaction: the transaction that records a step's
// success fails at its last statement (a trigger, while the test says
// so): nothing of it stays, neither the step's success nor the steps
// after it made ready, nor its node freed or its slot; the worker tries
// again, and the step's dependents run once each.
func TestFinishIsOneTransaction(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := &upgrade.Plan{ID: "atomic", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}},
		{ID: "c", Kind: upgrade.Platform, Node: "n-c", After: []upgrade.StepID{"a"}}}}
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	// runs is updated last in finish: fail that update while the table
	// fail holds a row, counting the tries in a sequence (which a
	// rollback does not undo).
	_, err := pool.Exec(ctx, s.q(`CREATE TABLE {s}.fail (x int); INSERT INTO {s}.fail VALUES (1);
		CREATE SEQUENCE {s}.tries;
		CREATE FUNCTION {s}.fail_finish() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.running < OLD.running AND EXISTS (SELECT 1 FROM {s}.fail) THEN
				PERFORM nextval('{s}.tries');
				RAISE EXCEPTION 'injected failure';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER fail_finish BEFORE UPDATE ON {s}.runs FOR EACH ROW EXECUTE FUNCTION {s}.fail_finish();`))
	require.NoError(t, err)
	exec := &upgradetest.Executor{}
	done := make(chan error, 1)
	o := fastWorker
	o.Slots = 2
	go func() { done <- s.Work(ctx, plan.ID, exec, o) }()
	require.Eventually(t, func() bool { // a failure bound
		var tries int64
		var called bool
		require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT last_value, is_called FROM {s}.tries`)).Scan(&tries, &called))
		return called && tries >= 2
	}, defaultBound, pollEvery, "the worker tried to record a's end twice")
	var states []string
	var running, doneN, locks int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT array_agg(state ORDER BY idx), (SELECT running FROM {s}.runs),
		(SELECT done FROM {s}.runs), (SELECT count(*) FROM {s}.node_locks) FROM {s}.steps WHERE plan_id = 'atomic'`)).
		Scan(&states, &running, &doneN, &locks))
	assert.Equal(t, []string{"running", "waiting", "waiting"}, states)
	assert.Equal(t, 1, running)
	assert.Equal(t, 0, doneN)
	assert.Equal(t, 1, locks, "a's node still held")
	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	assert.Len(t, events, 1, "a's start only")

	_, err = pool.Exec(ctx, s.q(`DELETE FROM {s}.fail`))
	require.NoError(t, err)
	require.NoError(t, <-done)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	assert.Equal(t, 3, st.Report.Count(upgrade.Succeeded))
	assert.ElementsMatch(t, []upgrade.StepID{"a", "b", "c"}, exec.Started(), "each once")
	assert.Empty(t, st.InDoubt)
}

// TestCancelFromAnotherHost: another process follows a run in flight
// (Status, Wait) and cancels it: the steps running are cut short, in
// doubt, nothing starts after, and both processes see the same end.
func TestCancelFromAnotherHost(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := &upgrade.Plan{ID: "cancelled", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}},
		{ID: "c", Kind: upgrade.Platform, Node: "n-c"}}}
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2, Policy: upgrade.ContinueIndependent}))
	var running sync.WaitGroup
	running.Add(2)
	exec := &upgradetest.Executor{Func: func(ctx context.Context, st upgrade.Step) error {
		running.Done()
		<-ctx.Done()
		return ctx.Err()
	}}
	done := make(chan error, 1)
	o := fastWorker
	o.Slots = 2
	o.Lease = 1500 * time.Millisecond // the cancel reaches the steps at a renewal; long enough that one is not missed under load
	go func() { done <- s.Work(ctx, plan.ID, exec, o) }()
	running.Wait()

	other := secondStore(t, s)
	st, err := other.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished)
	assert.False(t, st.Cancelled)
	assert.NoError(t, st.Err)
	for _, id := range []upgrade.StepID{"a", "c"} {
		o, _ := st.Report.Outcome(id)
		assert.Equal(t, upgrade.NotStarted, o.State, id)
		assert.Equal(t, 1, o.Attempts, "running: its attempts so far")
	}
	waited := make(chan *Status, 1)
	go func() {
		st, err := other.Wait(ctx, plan.ID, time.Hour) // woken by notifications only
		assert.NoError(t, err)
		waited <- st
	}()
	require.NoError(t, other.Cancel(ctx, plan.ID))
	require.NoError(t, <-done)
	final := <-waited
	require.True(t, final.Finished)
	assert.True(t, final.Cancelled)
	assert.ErrorIs(t, final.Err, ErrCancelled)
	mine, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Equal(t, mine.Report, final.Report)
	assert.Equal(t, mine.Err.Error(), final.Err.Error())
	// As upgrade.Run cancelled: a step cut short fails, the steps after
	// it are skipped.
	for id, want := range map[upgrade.StepID]upgrade.State{"a": upgrade.Failed, "b": upgrade.Skipped, "c": upgrade.Failed} {
		o, _ := final.Report.Outcome(id)
		assert.Equal(t, want, o.State, id)
	}
	assert.ElementsMatch(t, []upgrade.StepID{"a", "c"}, final.InDoubt, "cut short")
	assert.ElementsMatch(t, []upgrade.StepID{"a", "c"}, exec.Started(), "nothing started after the cancel")
	require.NoError(t, other.Cancel(ctx, plan.ID), "cancelling a finished run does nothing")
}

// TestConformanceMore runs cases the conformance suite lacks through both
// runners: a panicking Execute, a Verify failing under retries, a
// timeout retried, a transient failure under rollback, and a panicking
// Rollback.
func TestConformanceMore(t *testing.T) {
	s, _ := testStore(t)
	retry := Options{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}
	faults := []confFault{
		{"panic", func(e *upgradetest.Executor, id upgrade.StepID) {
			e.Func = func(_ context.Context, st upgrade.Step) error {
				if st.ID == id {
					panic("executor bug")
				}
				return nil
			}
		}, retry},
		{"verify-retried", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailVerify(id, errBoom) }, retry},
		{"timeout-retried", func(e *upgradetest.Executor, id upgrade.StepID) { e.Hang(id) },
			Options{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, StepTimeout: 20 * time.Millisecond}},
		{"flaky-rollback", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailTimes(id, 1, errBoom) },
			Options{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Rollback: true}},
		{"permanent-rollback", func(e *upgradetest.Executor, id upgrade.StepID) { e.FailAt(id, upgrade.Permanent(errBoom)) },
			Options{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Rollback: true}},
	}
	k := 0
	for _, p := range confPlans {
		for _, f := range faults {
			for _, pol := range []struct {
				name        string
				policy      upgrade.FailurePolicy
				concurrency int
			}{{"failfast", upgrade.FailFast, 1}, {"continue", upgrade.ContinueIndependent, 2}} {
				t.Run(fmt.Sprintf("%s/%s/%s", p.name, f.name, pol.name), func(t *testing.T) {
					k++
					opts := f.opts
					opts.Policy, opts.Concurrency = pol.policy, pol.concurrency
					conform(t, s, fmt.Sprintf("more-%d", k), p.plan(t), opts, func(e *upgradetest.Executor) { f.set(e, p.target) })
				})
			}
		}
	}
}

// TestSubmitConcurrently: hosts submitting one plan at once make one run;
// hosts submitting different plans under one ID make one run, of one of
// them, and the others are refused with ErrPlanConflict.
func TestSubmitConcurrently(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	const hosts = 6
	submit := func(plan func(k int) *upgrade.Plan) []error {
		errs := make([]error, hosts)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for k := range hosts {
			p, host := plan(k), secondStore(t, s)
			wg.Go(func() {
				<-start
				errs[k] = host.Submit(ctx, p, Options{Concurrency: 2})
			})
		}
		close(start)
		wg.Wait()
		return errs
	}
	for _, err := range submit(func(int) *upgrade.Plan { return dagPlan("same", 30, 1) }) {
		assert.NoError(t, err)
	}
	errs := submit(func(k int) *upgrade.Plan { return dagPlan("clash", 10+k, 1) })
	won := -1
	for k, err := range errs {
		if err == nil {
			assert.Equal(t, -1, won, "two plans won")
			won = k
		} else {
			assert.ErrorIs(t, err, ErrPlanConflict)
		}
	}
	require.NotEqual(t, -1, won)
	var runs, same, clash int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT (SELECT count(*) FROM {s}.runs),
		(SELECT count(*) FROM {s}.steps WHERE plan_id = 'same'), (SELECT count(*) FROM {s}.steps WHERE plan_id = 'clash')`)).
		Scan(&runs, &same, &clash))
	assert.Equal(t, 2, runs)
	assert.Equal(t, 30, same)
	assert.Equal(t, 10+won, clash, "the steps of the plan that won")
	exec := &upgradetest.Executor{}
	work(t, s, "clash", 2, exec, fastWorker)
	assert.Len(t, exec.Started(), 10+won)
}

// TestNoGoroutineLeftAfterWork: once Work and Wait have returned, however
// they ended (the run finished, the context cancelled while idle or while
// a step ran), no goroutine of theirs is left: not the listener, not a
// lease's renewal.
func TestNoGoroutineLeftAfterWork(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	require.NoError(t, s.Submit(ctx, chain3("p"), Options{}))
	baseline := goleak.IgnoreCurrent()

	// Cancelled while idle: nothing to claim (the limit is 1, a runs).
	holding, release := make(chan struct{}), make(chan struct{})
	hold := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.ID == "a" {
			close(holding)
			<-release
		}
		return nil
	})
	holderDone := make(chan error, 1)
	go func() { holderDone <- s.Work(ctx, "p", hold, sleepy) }()
	<-holding
	idleCtx, cancelIdle := context.WithCancel(ctx)
	idleDone := make(chan error, 1)
	go func() { idleDone <- secondStore(t, s).Work(idleCtx, "p", hold, sleepy) }()
	waitCtx, cancelWait := context.WithCancel(ctx)
	waitDone := make(chan error, 1)
	go func() {
		_, err := s.Wait(waitCtx, "p", time.Hour)
		waitDone <- err
	}()
	require.Eventually(t, func() bool { // a failure bound
		var starved bool
		require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT starved FROM {s}.runs WHERE plan_id = 'p'`)).Scan(&starved))
		return starved
	}, defaultBound, pollEvery, "the idle worker never looked")
	cancelIdle()
	assert.ErrorIs(t, <-idleDone, context.Canceled)
	cancelWait()
	assert.ErrorIs(t, <-waitDone, context.Canceled)
	close(release)
	require.NoError(t, <-holderDone)
	goleak.VerifyNone(t, baseline)
}

// TestCancelDuringRollbackClaim: a worker whose context ends while its
// claim waits in the database, the claim then taking a rollback, hands
// the rollback back at once, as it hands back a step: another worker
// takes it up without waiting for the lease, and not in doubt, since it
// never started.
func TestCancelDuringRollbackClaim(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := rollingBack(t, s, "rb-claim")
	var state string
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT state FROM {s}.runs WHERE plan_id = $1`), plan.ID).Scan(&state))
	require.Equal(t, "rolling_back", state)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, s.q(`SELECT 1 FROM {s}.runs WHERE plan_id = $1 FOR UPDATE`), plan.ID)
	require.NoError(t, err)
	workCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	never := &rbFunc{exec: func(context.Context, upgrade.Step) error { return nil },
		rollback: func(context.Context, upgrade.Step) error { panic("the rollback ran though the worker had stopped") }}
	go func() {
		done <- s.Work(workCtx, plan.ID, never, WorkerOptions{Name: "stopped", Lease: time.Hour, Poll: time.Hour})
	}()
	require.Eventually(t, func() bool { // a failure bound
		var waiting bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND position($1 in a.query) > 0)`, s.schema+".claim(").Scan(&waiting))
		return waiting
	}, defaultBound, pollEvery)
	cancel()
	require.NoError(t, tx.Rollback(ctx)) // the claim goes on, and takes b's rollback
	require.ErrorIs(t, <-done, context.Canceled)

	var leased bool
	var running int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT coalesce(lease_until > clock_timestamp(), false), (SELECT running FROM {s}.runs WHERE plan_id = $1)
		FROM {s}.steps WHERE plan_id = $1 AND idx = 1`), plan.ID).Scan(&leased, &running))
	assert.False(t, leased, "b's rollback is not left leased for an hour")
	assert.Zero(t, running, "its slot freed")
	rb := &upgradetest.Executor{}
	o := fastWorker
	o.Lease = time.Hour
	work(t, s, plan.ID, 1, rb, o)
	assert.Equal(t, []upgrade.StepID{"b", "a"}, rb.RolledBack())
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Empty(t, st.InDoubt, "the rollback handed back never started")
}

// TestSweepClaimsNothing: Wait sweeps a run it read as cancelled and not
// finished; by the time it does, the run may have finished and been taken
// up again (Retry). The sweep must then claim nothing: a step claimed by
// it would wait for its lease, run by no one, then be taken over in doubt
// though it never ran.
func TestSweepClaimsNothing(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := chain3("swept")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	st, err := s.sweepCancelled(ctx, plan.ID) // as Wait does, late
	require.NoError(t, err)
	assert.False(t, st.Finished)
	var running, claimed int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT (SELECT running FROM {s}.runs WHERE plan_id = $1),
		(SELECT count(*) FROM {s}.steps WHERE plan_id = $1 AND (state = 'running' OR attempts > 0))`), plan.ID).Scan(&running, &claimed))
	assert.Zero(t, running)
	assert.Zero(t, claimed)
	events, err := s.Events(ctx, plan.ID, 0, 10)
	require.NoError(t, err)
	assert.Empty(t, events)
}

// TestOpenCurrentSchemaNeedsNoDDL: a worker whose role may only use the
// schema's tables and functions (no CREATE on the database or the
// schema) opens a schema that is current, as Open creates or migrates
// only "as needed", and runs a step.
func TestOpenCurrentSchemaNeedsNoDDL(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	role := s.name + "_worker"
	_, err := pool.Exec(ctx, s.q(`CREATE ROLE `+pgx.Identifier{role}.Sanitize()+` LOGIN;
		GRANT USAGE ON SCHEMA {s} TO `+pgx.Identifier{role}.Sanitize()+`;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO `+pgx.Identifier{role}.Sanitize()+`;
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO `+pgx.Identifier{role}.Sanitize()+`;`))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP OWNED BY `+pgx.Identifier{role}.Sanitize()+`; DROP ROLE `+pgx.Identifier{role}.Sanitize())
	})
	cfg, err := pgxpool.ParseConfig(databaseURL)
	require.NoError(t, err)
	cfg.ConnConfig.User = role
	limited, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer limited.Close()
	ws, err := Open(ctx, limited, s.name)
	require.NoError(t, err)
	// A schema newer than the program is refused as such, not for the
	// role's rights.
	_, err = pool.Exec(ctx, s.q(`UPDATE {s}.schema_version SET version = $1`), SchemaVersion+1)
	require.NoError(t, err)
	_, err = Open(ctx, limited, s.name)
	assert.ErrorIs(t, err, ErrSchemaVersion)
	_, err = pool.Exec(ctx, s.q(`UPDATE {s}.schema_version SET version = $1`), SchemaVersion)
	require.NoError(t, err)
	require.NoError(t, s.Submit(ctx, chain3("p"), Options{}))
	exec := &upgradetest.Executor{}
	require.NoError(t, ws.Work(ctx, "p", exec, fastWorker))
	assert.Len(t, exec.Started(), 4)
}

// TestRollbackHandOverWakesWorkers: a worker stopped in the middle of a
// rollback hands it over at once (its lease expired); a worker of another
// process waiting for work (an hour's poll, its wake set by the hour's
// lease it saw) is told, and takes it over, in doubt.
func TestRollbackHandOverWakesWorkers(t *testing.T) {
	s, _ := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	plan := rollingBack(t, s, "rb-wake")
	first := &blockingRollback{Executor: &upgradetest.Executor{}, hold: "b", entered: make(chan struct{})}
	fctx, stopFirst := context.WithCancel(ctx)
	firstDone := make(chan error, 1)
	go func() { firstDone <- s.Work(fctx, plan.ID, first, sleepy) }()
	<-first.entered

	other := secondStore(t, s)
	second := &upgradetest.Executor{}
	secondDone := make(chan error, 1)
	go func() { secondDone <- other.Work(ctx, plan.ID, second, sleepy) }()
	require.Eventually(t, func() bool { return waiters(other) == 1 }, defaultBound, pollEvery, "the second worker waits")
	stopFirst()
	assert.ErrorIs(t, <-firstDone, context.Canceled)
	require.NoError(t, <-secondDone, "the second worker was told of the rollback handed over")
	assert.Equal(t, []upgrade.StepID{"b", "a"}, second.RolledBack())
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.Equal(t, []upgrade.StepID{"b"}, st.InDoubt, "b's rollback was cut short")
}

// TestEventsReadInFlight: a reader following a run's events, from the
// last one it saw, while workers of several processes run it, misses none
// and sees them in order.
func TestEventsReadInFlight(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := dagPlan("followed", 60, 11)
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 4, Attempts: 2, Backoff: time.Millisecond}))
	exec := &upgradetest.Executor{}
	for _, st := range plan.Steps[:10] {
		exec.FailTimes(st.ID, 1, errBoom) // retried: retry events too
	}
	reader := secondStore(t, s)
	bound, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	var seen []Event
	readDone := make(chan error, 1)
	go func() {
		k, unsubscribe := reader.subscribe(&WorkerOptions{Poll: time.Hour})
		defer unsubscribe()
		var last int64
		for {
			woken := k.add(plan.ID)
			st, err := reader.Status(ctx, plan.ID)
			if err != nil {
				readDone <- err
				return
			}
			events, err := reader.Events(ctx, plan.ID, last, 7) // a few at a time
			if err != nil {
				readDone <- err
				return
			}
			seen = append(seen, events...)
			if len(events) > 0 {
				last = events[len(events)-1].Seq
				k.pass(plan.ID, woken)
				continue
			}
			if st.Finished {
				k.pass(plan.ID, woken)
				readDone <- nil
				return
			}
			select {
			case <-woken: // a notification: something changed
			case <-bound.Done():
				k.pass(plan.ID, woken)
				readDone <- bound.Err()
				return
			}
		}
	}()
	o := fastWorker
	o.Slots = 2
	var wg sync.WaitGroup
	for range 2 {
		store := secondStore(t, s)
		wg.Go(func() { assert.NoError(t, store.Work(ctx, plan.ID, exec, o)) })
	}
	wg.Wait()
	require.NoError(t, <-readDone)
	all, err := s.Events(ctx, plan.ID, 0, 100000)
	require.NoError(t, err)
	require.Equal(t, len(all), len(seen))
	for i := range all {
		assert.Equal(t, all[i].Seq, seen[i].Seq)
	}
	assert.Greater(t, len(all), 2*len(plan.Steps), "starts, ends and retries")
}
