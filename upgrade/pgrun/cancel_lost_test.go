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
			assert.True(t, e.InDoubt)
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
