package pgrun

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt14SuccessAsLeaseRunsOutIsRecorded: a step whose worker cannot
// renew its lease (the renewals lost on the way to the database) is cut
// short with ErrLeaseLost as the lease is about to run out; if its
// Execute succeeds all the same, as it returns, the worker records the
// success, fenced by the lease's token as every record is: nobody took
// the step over, so it is done, once, not in doubt. Before, the worker
// dropped the success, and the step, once its lease had expired, was
// taken over and executed again, in doubt, though it had succeeded.
func TestHunt14SuccessAsLeaseRunsOutIsRecorded(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := onNode("lease-runs-out-as-it-succeeds", "a", "n-a")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	s1, proxy := proxiedStore(t, s)
	// Every renewal of the lease is lost before the server has it, until
	// the worker gives the lease up: the third renewal never comes.
	for range 3 {
		proxy.loseStatement("SET lease_until = clock_timestamp() + $4 * interval")
	}
	var mu sync.Mutex
	var calls []bool // in doubt, for each call
	var cause error
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		mu.Lock()
		calls = append(calls, upgrade.InDoubt(ctx))
		first := len(calls) == 1
		mu.Unlock()
		if first {
			<-ctx.Done() // cut short as the lease runs out, and done all the same
			mu.Lock()
			cause = context.Cause(ctx)
			mu.Unlock()
		}
		return nil
	})
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	var recorded []error
	o := WorkerOptions{Name: "w1", Lease: 3 * time.Second, Poll: 20 * time.Millisecond,
		Recorded: func(_ string, _ upgrade.StepID, err error) { recorded = append(recorded, err) }}
	require.NoError(t, s1.Work(wctx, plan.ID, exec, o))

	mu.Lock()
	defer mu.Unlock()
	require.ErrorIs(t, cause, ErrLeaseLost, "the test's premise: the step was cut short by the lease")
	assert.Equal(t, []bool{false}, calls, "executed once, not in doubt")
	assert.Equal(t, []error{nil}, recorded, "its success recorded")
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Empty(t, st.InDoubt)
	o1, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, o1.State)
	assert.Equal(t, 1, o1.Attempts)
}
