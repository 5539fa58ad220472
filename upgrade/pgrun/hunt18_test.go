package pgrun

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// nilRollback's Rollback of step a returns a nil *multierror.Error as its
// error, as a function that forgets ErrorOrNil does: an error that is
// not nil, whose Error panics.
type nilRollback struct{ *upgradetest.Executor }

func (e nilRollback) Rollback(ctx context.Context, s upgrade.Step) error {
	if s.ID == "a" {
		var errs *multierror.Error
		return errs
	}
	return e.Executor.Rollback(ctx, s)
}

// TestHunt18RollbackNilPointerError: a worker whose Rollback returned a nil
// pointer as its error panicked recording it (its Error method needs a
// receiver), where upgrade.Run fails the rollback with an error that says
// what to return. The worker now records the same error as Run.
func TestHunt18RollbackNilPointerError(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	opts := Options{Rollback: true}
	newExec := func() nilRollback {
		e := nilRollback{new(upgradetest.Executor)}
		e.FailAt("b", errors.New("boom"))
		return e
	}
	plan := chain3("rb-nil-pointer")
	want, _ := upgrade.Run(ctx, plan, newExec(), runOptions(opts)...)
	wa, _ := want.Outcome("a")
	require.Error(t, wa.Err)
	require.Contains(t, wa.Err.Error(), "Rollback of step a returned a nil *multierror.Error as its error", "the reference: upgrade.Run")

	require.NoError(t, s.Submit(ctx, plan, opts))
	require.NoError(t, s.Work(ctx, plan.ID, newExec(), fastWorker))
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Succeeded, a.State, "its Rollback failed")
	require.Error(t, a.Err)
	assert.Equal(t, wa.Err.Error(), a.Err.Error(), "the same error as upgrade.Run's")
}
