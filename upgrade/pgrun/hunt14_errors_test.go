package pgrun

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt14DatabaseErrorsNameTheCall: a database error of Submit,
// Cancel or Unfinished (here, the caller's context ended before the
// transaction began) says which call of the package failed, and for
// which run, as Status's, Events' and Retry's do, and still matches the
// cause. Before, Cancel and Submit returned pgx's error bare ("context
// canceled"), which names neither the package, the call nor the run,
// and so did Unfinished.
func TestHunt14DatabaseErrorsNameTheCall(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("errors-named")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	dead, cancel := context.WithCancel(ctx)
	cancel()

	_, err := s.Status(dead, plan.ID)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "pgrun: reading run errors-named", "the reference: Status names the call and the run")

	err = s.Cancel(dead, plan.ID)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "pgrun: cancelling run errors-named")

	other := chain3("errors-named-2")
	err = s.Submit(dead, other, Options{})
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "pgrun: submitting plan errors-named-2")

	_, err = s.Unfinished(dead)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "pgrun: listing the runs not finished")

	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.False(t, st.Cancelled, "nothing changed")
	_, err = s.Status(ctx, other.ID)
	assert.ErrorIs(t, err, ErrUnknownRun, "nothing stored")
}
