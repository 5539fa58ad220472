package pgrun

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
