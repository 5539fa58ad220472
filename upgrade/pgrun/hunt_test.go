package pgrun

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	release := make(chan struct{})
	var hung sync.WaitGroup
	set := func(e *upgradetest.Executor) {
		e.Func = func(ctx context.Context, st upgrade.Step) error {
			if st.ID == "b" {
				hung.Add(1)
				defer hung.Done()
				<-release // ignores ctx
			}
			return nil
		}
	}
	t.Cleanup(func() { close(release); hung.Wait() })
	opts := Options{Rollback: true, StepTimeout: 20 * time.Millisecond}
	const grace = 20 * time.Millisecond
	inProc, remote := &upgradetest.Executor{}, &upgradetest.Executor{}
	set(inProc)
	set(remote)
	plan := chain3("")
	want, wantErr := upgrade.Run(ctx, plan, inProc, append(runOptions(opts), upgrade.WithGracePeriod(grace))...)
	require.NotNil(t, want)
	b, _ := want.Outcome("b")
	require.True(t, b.Abandoned, "the test's premise: Run abandons b")

	plan.ID = "abandoned"
	require.NoError(t, s.Submit(ctx, plan, opts))
	o := fastWorker
	o.GracePeriod = grace
	work(t, s, plan.ID, 2, remote, o)
	got, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, got.Finished)
	for i, w := range want.Outcomes {
		g := got.Report.Outcomes[i]
		assert.Equal(t, w.State.String(), g.State.String(), "state of %s", w.Step)
		assert.Equal(t, sentinels(w.Err), sentinels(g.Err), "error kinds of %s: %v, %v", w.Step, w.Err, g.Err)
		assert.Equal(t, w.Abandoned, g.Abandoned, "%s abandoned", w.Step)
	}
	assert.Equal(t, sentinels(wantErr), sentinels(got.Err), "run error kinds: %v, %v", wantErr, got.Err)
	assert.Equal(t, inProc.RolledBack(), remote.RolledBack(), "steps rolled back")
	_ = fmt.Sprint
}

// TestRetryAbandonedStepInDoubt: a step whose Execute was abandoned may
// have been carried out, in full or in part, and may still be running.
// upgrade.Run leaves it started in its journal, so that the run resumed
// offers it in doubt; Retry must offer it in doubt too.
func TestRetryAbandonedStepInDoubt(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	release := make(chan struct{})
	var hung sync.WaitGroup
	t.Cleanup(func() { close(release); hung.Wait() })
	const grace = 20 * time.Millisecond
	newExec := func() *upgradetest.Executor {
		e := &upgradetest.Executor{}
		e.Func = func(ctx context.Context, st upgrade.Step) error {
			if e.Calls(st.ID) == 1 {
				hung.Add(1)
				defer hung.Done()
				<-release // ignores ctx
			}
			return nil
		}
		return e
	}
	plan := &upgrade.Plan{ID: "abandoned-retry", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"}}}
	opts := Options{StepTimeout: 20 * time.Millisecond}

	// upgrade.Run with a journal, run twice.
	j, err := upgrade.OpenFileJournal(t.TempDir() + "/journal")
	require.NoError(t, err)
	defer j.Close()
	inProc := newExec()
	runOpts := append(runOptions(opts), upgrade.WithGracePeriod(grace), upgrade.WithJournal(j))
	first, err := upgrade.Run(ctx, plan, inProc, runOpts...)
	require.Error(t, err)
	a, _ := first.Outcome("a")
	require.True(t, a.Abandoned, "the test's premise: Run abandons a")
	_, err = upgrade.Run(ctx, plan, inProc, runOpts...)
	require.NoError(t, err)
	require.Equal(t, []upgrade.StepID{"a"}, inProc.InDoubt(), "the test's premise: Run resumed offers a in doubt")

	// The workers, and Retry.
	remote := newExec()
	require.NoError(t, s.Submit(ctx, plan, opts))
	o := fastWorker
	o.GracePeriod = grace
	work(t, s, plan.ID, 1, remote, o)
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

// TestCancelDuringRollbackClaim: a worker whose context ends while its
// claim waits in the database, the claim then taking a rollback, hands
// the rollback back at once, as it hands back a step: another worker
// takes it up without waiting for the lease, and not in doubt, since it
// never started.
func TestCancelDuringRollbackClaim(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := chain3("rb-claim")
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	// By hand: a succeeds, b fails; the run is rolling back.
	hand := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "hand", Lease: time.Hour})
	for _, failed := range []string{"", "boom"} {
		c, _, _, err := hand.claim(ctx)
		require.NoError(t, err)
		require.NotNil(t, c)
		require.NoError(t, hand.finish(ctx, c, 1, failed, 0))
	}
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
	plan := chain3("rb-wake")
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	hand := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "hand", Lease: time.Hour})
	for _, failed := range []string{"", "boom"} {
		c, _, _, err := hand.claim(ctx)
		require.NoError(t, err)
		require.NotNil(t, c)
		require.NoError(t, hand.finish(ctx, c, 1, failed, 0))
	}
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
