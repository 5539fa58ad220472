package pgrun

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// sleepy workers poll once an hour and hold leases for an hour: within a
// test, only a notification wakes them.
var sleepy = WorkerOptions{Lease: time.Hour, Poll: time.Hour}

// chainPlan is n steps, each after the one before, on nodes of their own.
func chainPlan(id string, n int) *upgrade.Plan {
	p := &upgrade.Plan{ID: id}
	for i := range n {
		st := upgrade.Step{ID: upgrade.StepID(fmt.Sprintf("s%02d", i)), Kind: upgrade.Platform, Node: topology.NodeID(fmt.Sprintf("n%02d", i))}
		if i > 0 {
			st.After = []upgrade.StepID{p.Steps[i-1].ID}
		}
		p.Steps = append(p.Steps, st)
	}
	return p
}

// runChainAsleep runs a 10-step chain with two sleepy workers of two
// slots each, on two Stores of the schema: those not running the step
// wait, and must be woken for the run to end (a worker returns once the
// run finished). A wake from one Store to the other goes through
// PostgreSQL: no in-process wake can stand for it.
func runChainAsleep(t *testing.T, s *Store, id string) {
	t.Helper()
	plan := chainPlan(id, 10)
	require.NoError(t, s.Submit(context.Background(), plan, Options{Concurrency: 2}))
	o := sleepy
	o.Slots = 2
	exec := &memExec{}
	other := secondStore(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	var wg sync.WaitGroup
	for k, store := range []*Store{s, other} {
		wg.Go(func() {
			o := o
			o.Name = fmt.Sprintf("w%d", k)
			assert.NoError(t, store.Work(ctx, plan.ID, exec, o))
		})
	}
	wg.Wait()
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.NoError(t, st.Err)
	assert.Equal(t, 10, st.Report.Count(upgrade.Succeeded))
}

// secondStore opens another Store on s's schema, as another process
// would: it shares no waker with s.
func secondStore(t *testing.T, s *Store) *Store {
	t.Helper()
	other, err := Open(context.Background(), s.pool, s.name)
	require.NoError(t, err)
	return other
}

// TestNotifyWakesWorkers: workers that would poll only hourly run a chain
// to its end, woken by notifications.
func TestNotifyWakesWorkers(t *testing.T) {
	s, _ := testStore(t)
	runChainAsleep(t, s, "chain")
}

// TestNotifyAcrossRuns: a step waiting for a node another run holds starts
// when that run's step ends, woken by its notification.
func TestNotifyAcrossRuns(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	exec, release := holdSharedNode(t, s, sleepy)
	other := secondStore(t, s) // run two's worker is another process's
	twoDone := make(chan error, 1)
	go func() { twoDone <- other.Work(ctx, "two", exec, sleepy) }()
	waitForEvent(t, s, "two", upgrade.StepWaiting)

	// The listening connections, one per Store, are cut: they listen
	// again.
	// Each Store's listener LISTENs once its Work has begun, which the
	// event does not wait for.
	var old []int32
	require.Eventually(t, func() bool { // a failure bound
		old = listeners(t, pool, s)
		return len(old) == 2
	}, defaultBound, pollEvery, "one listener per Store")
	_, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)`, old)
	require.NoError(t, err)
	require.Eventually(t, func() bool { // a failure bound
		now := listeners(t, pool, s)
		return len(now) == 2 && !slices.Contains(old, now[0]) && !slices.Contains(old, now[1])
	}, defaultBound, pollEvery)

	require.NoError(t, release())
	require.NoError(t, <-twoDone)
	st, err := s.Status(ctx, "two")
	require.NoError(t, err)
	assert.NoError(t, st.Err)
}

// listeners returns the backends listening on s's channel.
func listeners(t *testing.T, pool *pgxpool.Pool, s *Store) []int32 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE query = $1 ORDER BY pid`,
		"LISTEN "+pgx.Identifier{s.channel}.Sanitize())
	require.NoError(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	return pids
}

// waitForEvent waits, as a failure bound, for an event of kind in run id.
func waitForEvent(t *testing.T, s *Store, id string, kind upgrade.EventKind) {
	t.Helper()
	require.Eventually(t, func() bool {
		events, err := s.Events(context.Background(), id, 0, 1000)
		require.NoError(t, err)
		for _, e := range events {
			if e.Kind == kind {
				return true
			}
		}
		return false
	}, defaultBound, pollEvery)
}

// TestNotifyHostileSchema: the channel of a schema whose name is an attack
// is a name of its own, and the workers of that schema are woken on it;
// nothing else is touched.
func TestNotifyHostileSchema(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, databaseURL)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS notify_victim (x int); INSERT INTO notify_victim VALUES (1)`)
	require.NoError(t, err)
	for k, hostile := range []string{
		`n1"; DROP TABLE notify_victim; --`,
		`n2'); DROP TABLE notify_victim; --`,
		`n3$$; DROP TABLE notify_victim; $$`,
		"n4\"\n; LISTEN x; UNLISTEN *; --",
		fmt.Sprintf("n5%058d", 0), // 60 bytes: no room for a suffix
	} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			s, err := Open(ctx, pool, hostile)
			require.NoError(t, err)
			defer pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{hostile}.Sanitize()+` CASCADE`)
			assert.Regexp(t, regexp.MustCompile(`^pgrun_[0-9a-f]{32}$`), s.channel)
			runChainAsleep(t, s, "chain")
			var n int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM notify_victim`).Scan(&n))
			assert.Equal(t, 1, n, "the victim table is intact")
		})
	}
	_, err = pool.Exec(ctx, `DROP TABLE notify_victim`)
	require.NoError(t, err)
}

// TestWaitWokenByNotify: Store.Wait, looking only hourly, returns when the
// run finishes, woken by its notification.
func TestWaitWokenByNotify(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := chainPlan("waited", 3)
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	type result struct {
		st  *Status
		err error
	}
	waited := make(chan result, 1)
	go func() {
		st, err := s.Wait(ctx, plan.ID, time.Hour)
		waited <- result{st, err}
	}()
	require.Eventually(t, func() bool { return len(listeners(t, pool, s)) == 1 }, defaultBound, pollEvery) // a failure bound
	work(t, secondStore(t, s), plan.ID, 1, &memExec{}, fastWorker)                                         // its notifications reach Wait through PostgreSQL
	r := <-waited
	require.NoError(t, r.err)
	assert.True(t, r.st.Finished)
	assert.Equal(t, 3, r.st.Report.Count(upgrade.Succeeded))
}

// TestWaitCancelled: Store.Wait, looking only hourly at a run no worker
// runs, returns its context's error once that is cancelled.
func TestWaitCancelled(t *testing.T) {
	s, pool := testStore(t)
	plan := chainPlan("waited-cancelled", 2)
	require.NoError(t, s.Submit(context.Background(), plan, Options{}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waited := make(chan error, 1)
	go func() {
		_, err := s.Wait(ctx, plan.ID, time.Hour)
		waited <- err
	}()
	require.Eventually(t, func() bool { return len(listeners(t, pool, s)) == 1 }, defaultBound, pollEvery) // a failure bound
	cancel()
	assert.ErrorIs(t, <-waited, context.Canceled)
	require.Eventually(t, func() bool { return len(listeners(t, pool, s)) == 0 }, defaultBound, pollEvery, "Wait's listener stopped")
}

// TestNotifyWakesEnoughSlots: a step whose end readies four steps gets
// four sleepy slots running them at once, each woken by the one before
// it: the four wait for each other, so the run ends only if all four run
// together.
func TestNotifyWakesEnoughSlots(t *testing.T) {
	s, _ := testStore(t)
	plan := onNode("fan", "root", "n-root")
	for i := range 4 {
		plan.Steps = append(plan.Steps, upgrade.Step{ID: upgrade.StepID(fmt.Sprintf("c%d", i)), Kind: upgrade.Platform,
			Node: topology.NodeID(fmt.Sprintf("n%d", i)), After: []upgrade.StepID{"root"}})
	}
	require.NoError(t, s.Submit(context.Background(), plan, Options{Concurrency: 4}))
	var started sync.WaitGroup
	started.Add(4)
	all := make(chan struct{})
	go func() {
		started.Wait()
		close(all)
	}()
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if st.ID == "root" {
			return nil
		}
		started.Done()
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	o := sleepy
	o.Slots = 2
	work(t, s, plan.ID, 2, exec, o)
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	assert.NoError(t, st.Err)
}

// cancelledLostWorker submits a run of two steps, has a worker that is
// then lost claim the first (a lease of 300ms), and cancels the run.
func cancelledLostWorker(t *testing.T, s *Store) *upgrade.Plan {
	t.Helper()
	ctx := context.Background()
	plan := chainPlan("cancel-lost", 2)
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	dead := testWorker(t, s, plan.ID, &memExec{}, WorkerOptions{Name: "dead", Lease: 300 * time.Millisecond, Poll: time.Hour})
	c, _, _, err := dead.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.NoError(t, s.Cancel(ctx, plan.ID))
	return plan
}

// TestCancelledRunLostWorker: a run cancelled while a lost worker held a
// step is finished by a sleepy worker once that lease expires: it looks
// again then, without a notification.
func TestCancelledRunLostWorker(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := cancelledLostWorker(t, s)
	work(t, s, plan.ID, 1, &memExec{}, sleepy)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.Equal(t, []upgrade.StepID{"s00"}, st.InDoubt)
	assert.ErrorIs(t, st.Err, ErrCancelled)
}
