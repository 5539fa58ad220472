package pgrun

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// h8Work calls s.Work in a goroutine of its own and reports whether Work
// returned, with its error, or ended that goroutine with runtime.Goexit.
// It fails the test if Work has not ended within a minute (a bound on a
// hang, not a measure: Work ends as soon as its step does).
func h8Work(t *testing.T, s *Store, planID string, exec upgrade.Executor, o WorkerOptions) (returned bool, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type end struct {
		returned bool
		err      error
	}
	ended := make(chan end, 1)
	go func() {
		e := end{}
		defer func() { ended <- e }()
		e.err = s.Work(ctx, planID, exec, o)
		e.returned = true
	}()
	e := <-ended
	require.NoError(t, ctx.Err(), "Work hangs")
	return e.returned, e.err
}

// TestHunt7StatusSaysInDoubt: Status sets Outcome.InDoubt of the steps
// it lists in InDoubt, as upgrade.Run sets it of a step offered again in
// doubt: here a step taken over from a lost worker.
func TestHunt7StatusSaysInDoubt(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("status-in-doubt")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	lost := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "lost", Lease: time.Hour})
	c, _, _, err := lost.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() WHERE plan_id = $1`), plan.ID) // the worker is lost
	require.NoError(t, err)
	exec := &upgradetest.Executor{}
	exec.FailAt("d", errBoom)
	o := fastWorker
	o.Lease = time.Hour
	returned, err := h8Work(t, s, plan.ID, exec, o)
	require.True(t, returned)
	require.NoError(t, err)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.Equal(t, []upgrade.StepID{plan.Steps[c.idx].ID}, st.InDoubt)
	for _, o := range st.Report.Outcomes {
		assert.Equal(t, o.Step == plan.Steps[c.idx].ID, o.InDoubt, "step %s", o.Step)
	}
}
