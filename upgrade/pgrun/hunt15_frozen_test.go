package pgrun

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt15FrozenWorkerInTransactionFreesTheRun: a worker freezes (its
// process stopped with SIGSTOP, its container paused, its network cut
// without the server learning of it) in the middle of a transaction that
// holds its run's row lock: the one that records a step's retry, between
// its SELECT … FOR UPDATE and its next statement. The other workers of
// the run go on once the frozen worker's lease has passed: the server
// ends the frozen transaction, as the worker has lost its lease by then,
// and the run finishes, each step succeeded. Before, the frozen session
// held the run's row until the worker came back or TCP gave up (hours):
// every claim and every record of every worker of the run waited on it,
// the run stalled, and so did Cancel.
func TestHunt15FrozenWorkerInTransactionFreesTheRun(t *testing.T) {
	s, _ := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a failure bound
	defer cancel()
	plan := hunt10Independent("frozen", 2)
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2, Attempts: 2}))

	ps, proxy := proxiedStore(t, s)
	frozen := proxy.freezeAfter("SELECT stopping FROM") // recordRetry's lock of the run's row
	var mu sync.Mutex
	failedOnce := false
	flaky := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
		mu.Lock()
		defer mu.Unlock()
		if !failedOnce {
			failedOnce = true
			return errBoom // retried: its retry is recorded
		}
		return nil
	})
	o := fastWorker
	o.Name, o.Lease = "frozen", 2*time.Second
	firstDone := make(chan error, 1)
	go func() { firstDone <- ps.Work(ctx, plan.ID, flaky, o) }()
	select {
	case <-frozen:
	case err := <-firstDone:
		t.Fatalf("the worker ended before its retry was recorded: %v", err)
	}

	other := fastWorker
	other.Name, other.Slots = "other", 2
	otherDone := make(chan error, 1)
	go func() { otherDone <- s.Work(ctx, plan.ID, &upgradetest.Executor{}, other) }()
	st, err := s.Wait(ctx, plan.ID, pollEvery)
	require.NoError(t, err, "the run stalled behind the frozen transaction")
	require.True(t, st.Finished)
	assert.NoError(t, st.Err)
	assert.Equal(t, 2, st.Report.Count(upgrade.Succeeded))
	assert.NoError(t, <-otherDone)
	<-firstDone // it finishes, or gives up on its step, once the run is over
}
