package pgrun

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt15FrozenSubmitFreesThePlan: the process submitting a plan (a
// deployer's apply) freezes in the middle of Submit's transaction (its
// process stopped, its network cut without the server learning of it),
// having inserted the run's row: the same plan submitted again from
// elsewhere, as an operator does when the first apply hangs, is stored
// once the frozen transaction has been idle for DefaultLease, which the
// server then ends. Before, the second Submit waited on the frozen
// insert until the first process came back or TCP gave up (hours).
func TestHunt15FrozenSubmitFreesThePlan(t *testing.T) {
	s, _ := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	ps, proxy := proxiedStore(t, s)
	plan := chain3("frozen-submit")
	stop := h15Freeze(t, ctx, proxy, "max_backoff_us, timeout_us, total, state", func(ctx context.Context) error { // the run's row inserted
		return ps.Submit(ctx, plan, Options{})
	})
	defer stop()
	require.NoError(t, s.Submit(ctx, plan, Options{}), "the plan stayed locked by the frozen Submit")
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.Equal(t, len(plan.Steps), st.Report.Count(upgrade.NotStarted))
}
