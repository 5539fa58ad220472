package pgrun

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestLeaseRenewedWhileStepRuns: a step that runs for several leases
// keeps its lease, renewed again and again, while another worker looks
// for expired leases all along: the step runs once, not in doubt, and no
// one takes it over. The step ends once it has seen its lease renewed
// three times (polling the database, with a deadline only as a failure
// bound).
func TestLeaseRenewedWhileStepRuns(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	plan := &upgrade.Plan{ID: "long", Steps: []upgrade.Step{{ID: "a", Node: "n-a", Kind: upgrade.Platform}}}
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	rec := &upgradetest.Executor{}
	var renewals atomic.Int32
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if err := rec.Execute(ctx, st); err != nil {
			return err
		}
		var last time.Time
		seen := int32(0)
		deadline := time.Now().Add(time.Minute) // a failure bound
		for seen < 4 {                          // the claim's lease, then three renewals
			var until time.Time
			if err := pool.QueryRow(ctx, s.q(`SELECT lease_until FROM {s}.steps WHERE plan_id = 'long' AND idx = 0`)).Scan(&until); err != nil {
				return err
			}
			if !until.Equal(last) {
				seen++
				last = until
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return context.Cause(ctx)
			}
			time.Sleep(20 * time.Millisecond) // polling interval, not an ordering device
		}
		renewals.Add(seen)
		return nil
	})
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for k, e := range []upgrade.Executor{exec, exec} {
		wg.Go(func() {
			o := WorkerOptions{Name: []string{"w0", "w1"}[k], Lease: 3 * time.Second, Poll: 10 * time.Millisecond}
			errs[k] = s.Work(wctx, plan.ID, e, o)
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	assert.Equal(t, []upgrade.StepID{"a"}, rec.Started(), "once, never taken over")
	assert.Empty(t, rec.InDoubt())
	assert.Equal(t, int32(4), renewals.Load())
}

// cuttable returns a pool whose connections can all be cut at once, and
// new ones refused, as when a worker's host loses the database.
func cuttable(t *testing.T) (*pgxpool.Pool, func()) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	cut := false
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		if cut {
			return nil, errors.New("network unreachable (test)")
		}
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			conns = append(conns, c)
		}
		return c, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, func() {
		mu.Lock()
		defer mu.Unlock()
		cut = true
		for _, c := range conns {
			c.Close()
		}
	}
}

// TestLeaseRunningOutCutsStepShort: a worker that can no longer reach the
// database cannot renew its lease: it cuts its step short, with
// ErrLeaseLost, before the lease runs out, so that the worker that takes
// the step over, in doubt, once it has, never runs it at the same time.
// (The lease is long enough that the last renewal's third of it is a wide
// margin on a loaded machine.)
func TestLeaseRunningOutCutsStepShort(t *testing.T) {
	s, _ := testStore(t)
	pool1, cut := cuttable(t)
	s1, err := Open(context.Background(), pool1, s.name)
	require.NoError(t, err)
	checkCutShort(t, s, s1, cut) // w1's host loses the database
}

// TestLeaseRenewalUnansweredCutsStepShort: a worker whose database stops
// answering (the connection open, nothing coming back: a network that
// drops packets) cannot renew its lease either; its renewal must not wait
// for an answer past the time it cuts the step short, or the step would
// still run when another worker takes it over once the lease has expired.
func TestLeaseRenewalUnansweredCutsStepShort(t *testing.T) {
	s, _ := testStore(t)
	s1, proxy := proxiedStore(t, s)
	checkCutShort(t, s, s1, proxy.silence)
}

// checkCutShort has a worker of s1 run a step, calls fault once it has
// started, which keeps s1 from renewing the lease, and has a worker of s
// take the step over: in doubt, once the first one's step was cut short
// with ErrLeaseLost, never while it still ran.
func checkCutShort(t *testing.T, s, s1 *Store, fault func()) {
	ctx := context.Background()
	plan := onNode("partitioned", "a", "n-a")
	require.NoError(t, s.Submit(ctx, plan, Options{}))

	started1 := make(chan context.Context, 1)
	exec1 := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		started1 <- ctx
		<-ctx.Done()
		return ctx.Err()
	})
	o := WorkerOptions{Lease: 3 * time.Second, Poll: 20 * time.Millisecond}
	o1, o2 := o, o
	o1.Name, o2.Name = "w1", "w2"
	w1ctx, stop1 := context.WithCancel(ctx)
	defer stop1()
	w1done := make(chan error, 1)
	go func() { w1done <- s1.Work(w1ctx, plan.ID, exec1, o1) }()
	ctx1 := <-started1
	fault()

	var overlapping, inDoubt atomic.Bool
	exec2 := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		inDoubt.Store(upgrade.InDoubt(ctx))
		overlapping.Store(ctx1.Err() == nil)
		return nil
	})
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // a failure bound
	defer cancel()
	require.NoError(t, s.Work(wctx, plan.ID, exec2, o2))
	assert.True(t, inDoubt.Load(), "taken over in doubt")
	assert.False(t, overlapping.Load(), "w2 ran the step while w1, its lease run out, still did")
	assert.ErrorIs(t, context.Cause(ctx1), ErrLeaseLost)
	stop1()
	<-w1done
}
