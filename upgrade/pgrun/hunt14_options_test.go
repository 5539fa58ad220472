package pgrun

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14UnboundedOptions: Options that upgrade.Run takes (a
// concurrency, a number of attempts as large as an int holds, to mean no
// limit) are taken by Submit too, and run as upgrade.Run runs them. Before,
// Submit failed with the database's "greater than maximum value for int4"
// error: the runs table holds them as PostgreSQL integers.
func TestHunt14UnboundedOptions(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("unbounded-options")
	opts := Options{Concurrency: math.MaxInt, Attempts: math.MaxInt, Policy: upgrade.ContinueIndependent}
	require.NoError(t, s.Submit(ctx, plan, opts))
	require.NoError(t, s.Submit(ctx, plan, opts), "the same run, submitted again")
	exec := &upgradetest.Executor{}
	exec.FailTimes("b", 2, errBoom)
	work(t, s, plan.ID, 2, exec, fastWorker)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, 3, b.Attempts, "retried until it succeeded")
}
