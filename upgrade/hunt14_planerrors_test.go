package upgrade_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14PlanErrorsQuoteHostileIDs: Run refuses a plan made by hand
// whose steps cannot be ordered, naming the steps; an ID that holds a
// newline reached the error as it was, and forged a line of its own in
// the caller's log. Such IDs are quoted, as in Run's other errors.
func TestHunt14PlanErrorsQuoteHostileIDs(t *testing.T) {
	const hostile = upgrade.StepID("a\nupgrade: all steps succeeded")
	step := func(id upgrade.StepID, after ...upgrade.StepID) upgrade.Step {
		return upgrade.Step{ID: id, Kind: upgrade.Platform, Node: "n", After: after}
	}
	for name, plan := range map[string]*upgrade.Plan{
		"duplicate":     {Steps: []upgrade.Step{step(hostile), step(hostile)}},
		"unknown after": {Steps: []upgrade.Step{step("b", hostile)}},
		"unknown step":  {Steps: []upgrade.Step{step(hostile, "b")}},
		"cycle":         {Steps: []upgrade.Step{step(hostile, "b"), step("b", hostile)}},
		"barrier":       {Steps: []upgrade.Step{step("b")}, Barriers: []upgrade.Barrier{{ID: hostile}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := upgrade.Run(context.Background(), plan, new(upgradetest.Executor))
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.False(t, strings.Contains(err.Error(), "\n"), "a raw newline: %q", err.Error())
			assert.Contains(t, err.Error(), `"a\nupgrade: all steps succeeded"`)
		})
	}
}
