package pgrun

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestCancelLostWorkerSkipsAfter: a cancelled run whose worker was lost
// mid-step fails that step, in doubt, once its lease expires; the steps
// after it are skipped, as when a worker records a step cut short by the
// cancel, and as upgrade.Run reports a cancelled run. Before, they stayed
// not started, though the run was reported finished.
func TestCancelLostWorkerSkipsAfter(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := chain3("lost-cancelled") // a → b → c, and d
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	lost := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "lost", Lease: time.Hour})
	for range 2 { // a and d, by a worker that is then lost
		c, _, _, err := lost.claim(ctx, nil)
		require.NoError(t, err)
		require.NotNil(t, c)
	}
	require.NoError(t, s.Cancel(ctx, plan.ID))
	expireLeases(t, s, pool, plan.ID)

	st, err := s.Wait(ctx, plan.ID, time.Hour)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.True(t, st.Cancelled)
	for id, want := range map[upgrade.StepID]upgrade.State{"a": upgrade.Failed, "b": upgrade.Skipped, "c": upgrade.Skipped, "d": upgrade.Failed} {
		o, _ := st.Report.Outcome(id)
		assert.Equal(t, want, o.State, id)
	}
	assert.ElementsMatch(t, []upgrade.StepID{"a", "d"}, st.InDoubt)

	events, err := s.Events(ctx, plan.ID, 0, 100)
	require.NoError(t, err)
	var kinds []upgrade.EventKind
	var done []int
	for _, e := range events {
		if e.Kind != upgrade.StepStarted {
			kinds = append(kinds, e.Kind)
			done = append(done, e.Done)
		}
	}
	assert.Equal(t, []upgrade.EventKind{upgrade.StepFailed, upgrade.StepFailed, upgrade.StepSkipped, upgrade.StepSkipped}, kinds)
	assert.Equal(t, []int{1, 2, 3, 4}, done, "each step counted once, in the order of the events")
	var runDone int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT done FROM {s}.runs WHERE plan_id = $1`), plan.ID).Scan(&runDone))
	assert.Equal(t, 4, runDone)
}

// TestCancelledLostWorkerFreesNode: a run cancelled after its worker was
// lost mid-step holds that step's node until the step is failed, which
// its own claims and Wait do once the lease expires. Nobody may be left
// to make them: a claim of another run that wants the node fails the
// step for it, and takes the node. Before, the other run waited on the
// node for as long as nobody looked at the cancelled one.
func TestCancelledLostWorkerFreesNode(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	old := lostOnNode(t, s, "lost-holder")
	require.NoError(t, s.Cancel(ctx, old.ID))
	next, w := wantNode(t, s, "after-lost-holder")
	c, _, _, err := w.claim(ctx, nil)
	require.NoError(t, err)
	assert.Nil(t, c, "the lost worker's lease has not expired: its step may still run")

	expireLeases(t, s, pool, old.ID)
	c, _, _, err = w.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c, "the node is free once the cancelled run's lost step is failed")
	assert.Equal(t, "a2", string(next.Steps[c.idx].ID))

	st, err := s.Status(ctx, old.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.Failed, "b": upgrade.Skipped, "c": upgrade.Skipped, "d": upgrade.NotStarted},
		states(st))
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt)
	events, err := s.Events(ctx, old.ID, 0, 100)
	require.NoError(t, err)
	var failed int
	for _, e := range events {
		if e.Kind == upgrade.StepFailed {
			failed++
			assert.False(t, e.InDoubt, "an event says in doubt only of a step started so (upgrade.Event), Status of the step")
		}
	}
	assert.Equal(t, 1, failed, "the lost step fails once")
}

// TestLostWorkerOfRunningRunKeepsNode: a run not cancelled keeps the node
// of a step whose worker was lost, for its own workers to take the step
// over, in doubt: another run's claim waits, and changes nothing of it.
func TestLostWorkerOfRunningRunKeepsNode(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	old := lostOnNode(t, s, "lost-running-holder")
	expireLeases(t, s, pool, old.ID)
	_, w := wantNode(t, s, "after-lost-running-holder")
	c, _, _, err := w.claim(ctx, nil)
	require.NoError(t, err)
	assert.Nil(t, c, "the node is the running run's")

	st, err := s.Status(ctx, old.ID)
	require.NoError(t, err)
	assert.False(t, st.Finished)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.NotStarted, "b": upgrade.NotStarted, "c": upgrade.NotStarted, "d": upgrade.NotStarted},
		states(st))
	var worker string
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT worker FROM {s}.steps WHERE plan_id = $1 AND state = 'running'`), old.ID).Scan(&worker))
	assert.Equal(t, "lost", worker, "still the lost worker's, for the run's own workers to take over")
	events, err := s.Events(ctx, old.ID, 0, 100)
	require.NoError(t, err)
	assert.Len(t, events, 1, "one start, nothing else")
}

// lostOnNode submits chain3(id) and has a worker, then lost, claim its
// step a, on node n-a.
func lostOnNode(t *testing.T, s *Store, id string) *upgrade.Plan {
	t.Helper()
	ctx := context.Background()
	plan := chain3(id)
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	lost := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "lost", Lease: time.Hour})
	c, _, _, err := lost.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Equal(t, "a", string(plan.Steps[c.idx].ID))
	return plan
}

// wantNode submits a plan of one step, a2, on node n-a, and returns it
// with a worker of it.
func wantNode(t *testing.T, s *Store, id string) (*upgrade.Plan, *worker) {
	t.Helper()
	plan := &upgrade.Plan{ID: id, Steps: []upgrade.Step{{ID: "a2", Kind: upgrade.Platform, Node: "n-a"}}}
	require.NoError(t, s.Submit(context.Background(), plan, Options{}))
	return plan, testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "w", Lease: time.Hour})
}

// expireLeases makes the leases of run planID's running steps run out: no
// sleep, the database's clock is not waited on.
func expireLeases(t *testing.T, s *Store, pool *pgxpool.Pool, planID string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() - interval '1 second'
		WHERE plan_id = $1 AND state = 'running'`), planID)
	require.NoError(t, err)
}

// TestRetryRacesSweep: Retry of a cancelled run whose lost worker's lease
// has expired, and a claim of another run that wants that step's node,
// one after the other either way, and at once. Each would fail the lost
// step (Retry sweeps the run before it takes it up); the run's row, which
// both lock, lets one of them. Whichever goes first, the step fails once,
// in doubt, the run is taken up again, and the other run gets the node:
// the retried run's step waits for it, to be offered in doubt.
func TestRetryRacesSweep(t *testing.T) {
	ctx := context.Background()
	for _, order := range []string{"retry first", "claim first", "at once", "at once", "at once", "at once", "at once", "at once"} {
		s, pool := testStore(t) // a schema each: the plans share node n-a
		old := lostOnNode(t, s, "race-holder")
		require.NoError(t, s.Cancel(ctx, old.ID))
		expireLeases(t, s, pool, old.ID)
		next, w := wantNode(t, s, "race-taker")

		var retried bool
		var retryErr error
		retry := func() { retried, retryErr = s.Retry(ctx, old.ID) }
		var c *claim
		var err error
		switch order {
		case "retry first":
			retry()
			c, _, _, err = w.claim(ctx, nil)
		case "claim first":
			c, _, _, err = w.claim(ctx, nil)
			retry()
		default:
			done := make(chan struct{})
			go func() {
				defer close(done)
				retry()
			}()
			c, _, _, err = w.claim(ctx, nil)
			<-done
		}
		require.NoError(t, err, order)
		require.NoError(t, retryErr, order)
		assert.True(t, retried, "%s: the run had a failed step to take up", order)
		require.NotNil(t, c, "%s: the node is free once the lost step is failed, by either", order)
		assert.Equal(t, "a2", string(next.Steps[c.idx].ID), order)

		st, err := s.Status(ctx, old.ID)
		require.NoError(t, err)
		assert.False(t, st.Finished, "%s: taken up again", order)
		assert.Empty(t, st.InDoubt, "%s: the lost step is in doubt once offered again (see TestRetryInDoubtOnceOffered)", order)
		events, err := s.Events(ctx, old.ID, 0, 100)
		require.NoError(t, err)
		failed := 0
		for _, e := range events {
			if e.Kind == upgrade.StepFailed {
				failed++
			}
		}
		assert.Equal(t, 1, failed, "%s: the lost step fails once, whoever fails it", order)
		var state string
		var doubt bool
		require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT state, doubt_before FROM {s}.steps WHERE plan_id = $1 AND idx = 0`), old.ID).
			Scan(&state, &doubt))
		assert.Equal(t, "ready", state, "%s: step a waits for the node the other run holds", order)
		assert.True(t, doubt, "%s: step a is to be offered in doubt", order)
	}
}
