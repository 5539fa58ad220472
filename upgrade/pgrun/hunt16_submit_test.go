package pgrun

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt16SubmitRefusesUnknownPolicy: Submit refuses a FailurePolicy
// upgrade does not define, as upgrade.Run does, and stores nothing. Before,
// the run was stored and its workers ran it as ContinueIndependent (the
// schema stops a run on a failure only under FailFast), starting steps
// after a failure that the caller may have meant to stop at.
func TestHunt16SubmitRefusesUnknownPolicy(t *testing.T) {
	s, _ := testStore(t)
	plan := &upgrade.Plan{ID: "unknown-policy", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"}}}
	err := s.Submit(t.Context(), plan, Options{Policy: upgrade.ContinueIndependent + 1})
	require.ErrorIs(t, err, upgrade.ErrInvalidOption)
	assert.ErrorContains(t, err, "Policy")
	assert.ErrorContains(t, err, "use upgrade.FailFast or upgrade.ContinueIndependent")
	_, err = s.Status(t.Context(), plan.ID)
	assert.ErrorIs(t, err, ErrUnknownRun, "nothing stored")

	require.NoError(t, s.Submit(t.Context(), plan, Options{Policy: upgrade.ContinueIndependent}))
}
