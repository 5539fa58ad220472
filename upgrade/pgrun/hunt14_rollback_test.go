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

// h14Undoer is an upgrade.Rollbacker whose steps succeed, and which notes
// each Rollback call, and whether it was in doubt. The first Rollback of
// step block (if set) says it started on started, then waits for its
// context and undoes the step all the same: it returns nil.
type h14Undoer struct {
	block   upgrade.StepID
	started chan context.Context
	mu      sync.Mutex
	calls   []string
}

func (u *h14Undoer) Execute(context.Context, upgrade.Step) error { return nil }

func (u *h14Undoer) Rollback(ctx context.Context, st upgrade.Step) error {
	u.mu.Lock()
	first := true
	for _, c := range u.calls {
		if c == string(st.ID) || c == string(st.ID)+" in doubt" {
			first = false
		}
	}
	call := string(st.ID)
	if upgrade.InDoubt(ctx) {
		call += " in doubt"
	}
	u.calls = append(u.calls, call)
	u.mu.Unlock()
	if first && st.ID == u.block {
		u.started <- ctx
		<-ctx.Done()
	}
	return nil
}

func (u *h14Undoer) rollbacks() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.calls...)
}

// TestHunt14RollbackDoneAsWorkerStopsIsRecorded: a Rollback that undoes
// its step as the worker stops (its context cancelled as the call ran,
// the call returning nil all the same) is recorded, as a step that
// succeeds as the worker stops is: the step is rolled back, once. Before,
// the worker handed the rollback over in doubt, and the next worker
// undid the step again.
func TestHunt14RollbackDoneAsWorkerStopsIsRecorded(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := rollingBack(t, s, "rollback-done-as-worker-stops") // a succeeded, b failed: b's rollback first
	u := &h14Undoer{block: "b", started: make(chan context.Context, 1)}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Work(wctx, plan.ID, u, fastWorker) }()
	bound, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	select {
	case <-u.started:
	case <-bound.Done():
		t.Fatal("b's rollback never started")
	}
	stop() // the worker stops as b's Rollback runs, which undoes b all the same
	require.ErrorIs(t, <-done, context.Canceled)

	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, upgrade.RolledBack, b.State, "b's rollback recorded")
	assert.Empty(t, st.InDoubt)

	work(t, s, plan.ID, 1, u, fastWorker)
	assert.Equal(t, []string{"b", "a"}, u.rollbacks(), "each step undone once, not in doubt")
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.RolledBack, "b": upgrade.RolledBack,
		"c": upgrade.Skipped, "d": upgrade.NotStarted}, states(st))
	assert.Empty(t, st.InDoubt)
}

// TestHunt14RollbackDoneAsLeaseRunsOutIsRecorded: a Rollback that undoes
// its step as its lease runs out (the renewals lost on the way to the
// database: the worker cuts it short with ErrLeaseLost) is recorded,
// fenced by the lease's token, as a step that succeeds so is: nobody took
// it over. Before, the worker dropped it, and once the lease had expired
// the rollback was taken over, in doubt, and the step undone again.
func TestHunt14RollbackDoneAsLeaseRunsOutIsRecorded(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := rollingBack(t, s, "rollback-done-as-lease-runs-out")
	s1, proxy := proxiedStore(t, s)
	for range 3 { // every renewal lost, until the worker gives the lease up
		proxy.loseStatement("SET lease_until = clock_timestamp() + $4 * interval")
	}
	u := &h14Undoer{block: "b", started: make(chan context.Context, 1)}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a failure bound
	defer cancel()
	require.NoError(t, s1.Work(wctx, plan.ID, u, WorkerOptions{Name: "w1", Lease: 3 * time.Second, Poll: 20 * time.Millisecond}))

	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	assert.Equal(t, []string{"b", "a"}, u.rollbacks(), "each step undone once, not in doubt")
	assert.Equal(t, map[upgrade.StepID]upgrade.State{"a": upgrade.RolledBack, "b": upgrade.RolledBack,
		"c": upgrade.Skipped, "d": upgrade.NotStarted}, states(st))
	assert.Empty(t, st.InDoubt)
	// b's Rollback returned only once its context was done: the lease's
	// loss, the only end of it before the failure bound.
	require.ErrorIs(t, context.Cause(<-u.started), ErrLeaseLost)
}
