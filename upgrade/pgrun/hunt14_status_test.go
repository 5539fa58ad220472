package pgrun

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14RunErrorsInRunsOrder: Status.Err of a finished run is what
// upgrade.Run returns for it: the steps' failures in the order they
// failed, then the rollback's, in the order the rollback met them (last
// completed first), so that the rollback that could not undo its step
// comes before those it kept in place. Before, both came in the plan's
// order: the first rollback error named was a step kept in place because
// of a later one, the cause last; and steps that failed in another order
// than the plan's were listed out of it.
func TestHunt14RunErrorsInRunsOrder(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	// x comes after z, though listed first: y fails, then x.
	outOfOrder := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "x", Kind: upgrade.Platform, Node: "n-x", After: []upgrade.StepID{"z"}},
		{ID: "y", Kind: upgrade.Platform, Node: "n-y"},
		{ID: "z", Kind: upgrade.Platform, Node: "n-z"}}}
	for k, p := range []struct {
		plan *upgrade.Plan
		set  func(*upgradetest.Executor)
		opts Options
	}{
		{chain3(""), func(e *upgradetest.Executor) {
			e.FailAt("b", errBoom)
			e.FailRollback("b", errors.New("cannot undo"))
		}, Options{Rollback: true}},
		{fleetPlan(t, 4, upgrade.Rolling{Canaries: 1, MaxInFlight: "2"}), func(e *upgradetest.Executor) {
			e.FailAt("app/shop-0002", errBoom)
			e.FailRollback("app/shop-0002", errors.New("cannot undo"))
		}, Options{Rollback: true}},
		{outOfOrder, func(e *upgradetest.Executor) {
			e.FailAt("x", errors.New("x failed"))
			e.FailAt("y", errors.New("y failed"))
		}, Options{Policy: upgrade.ContinueIndependent}},
	} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			set, opts := p.set, p.opts
			inProc, remote := &upgradetest.Executor{}, &upgradetest.Executor{}
			set(inProc)
			set(remote)
			_, wantErr := upgrade.Run(ctx, p.plan, inProc, runOptions(opts)...)
			require.Error(t, wantErr)

			p.plan.ID = fmt.Sprintf("run-errors-order-%d", k)
			require.NoError(t, s.Submit(ctx, p.plan, opts))
			work(t, s, p.plan.ID, 2, remote, fastWorker)
			st, err := s.Wait(ctx, p.plan.ID, time.Hour)
			require.NoError(t, err)
			require.True(t, st.Finished)
			require.Error(t, st.Err)
			assert.Equal(t, wantErr.Error(), st.Err.Error(), "Status.Err is upgrade.Run's error")
		})
	}
}
