package upgrade_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt14WriteJSONNamesStepOfNoKind writes a plan built by hand, one
// of whose steps was given no Kind: WriteJSON failed with encoding/json's
// "json: error calling MarshalText for type upgrade.StepKind: upgrade:
// unknown step kind 0", which named neither the step nor what to set.
// The error now names the step and the kinds to give, matches
// ErrInvalidPlan as ReadJSON's does for such a step, and nothing is
// written.
func TestHunt14WriteJSONNamesStepOfNoKind(t *testing.T) {
	p := h5Plan("a", "b:a")
	p.Steps[1].Kind = 0
	var b strings.Builder
	err := p.WriteJSON(&b)
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.Equal(t, `upgrade: invalid plan: step b has no kind: want "platform" or "application"`, err.Error())
	assert.Empty(t, b.String())

	p.Steps[1].Kind = 7
	err = p.WriteJSON(&b)
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.Equal(t, `upgrade: invalid plan: step b has kind StepKind(7): want "platform" or "application"`, err.Error())
}
