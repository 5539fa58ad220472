package upgrade_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14RollBarrierPassesOverStepIDs rolls a plan made by hand one of
// whose steps has the ID Roll would give its barrier between the
// batches: barriers share the namespace of steps, so the barrier takes
// the next free ID, as it does for two groups whose IDs read alike. Roll
// used to refuse the plan as holding a duplicate step ID, one the caller
// never gave twice.
func TestHunt14RollBarrierPassesOverStepIDs(t *testing.T) {
	p := &upgrade.Plan{Requests: []upgrade.Request{{Application: "shop", Replaces: "shop_app",
		Template: topology.Template{ID: "shop_app", Version: v("2.0.0")}}}}
	for _, n := range []string{"1", "2", "3", "4"} {
		p.Steps = append(p.Steps, upgrade.Step{ID: upgrade.StepID("app/shop-" + n + "@2.0.0"), Kind: upgrade.Application,
			App: "shop", Template: "shop_app", Node: topology.NodeID("shop-" + n), From: v("1.0.0"), To: v("2.0.0")})
	}
	p.Steps = append(p.Steps, upgrade.Step{ID: "batch/shop/shop_app/1", Kind: upgrade.Platform, App: "shop",
		Template: "os", Node: "vm", From: v("1.0.0"), To: v("2.0.0")})
	p.ID = p.ComputeID()

	rolled, err := p.Roll(upgrade.Rolling{Canaries: 2, MaxInFlight: "2"})
	require.NoError(t, err)
	require.Len(t, rolled.Barriers, 1)
	assert.Equal(t, upgrade.StepID("batch/shop/shop_app/1+2"), rolled.Barriers[0].ID)
	for _, id := range []upgrade.StepID{"app/shop-3@2.0.0", "app/shop-4@2.0.0"} {
		assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0", "app/shop-2@2.0.0"}, rolled.Prerequisites(id), id)
	}
	assert.Empty(t, rolled.Prerequisites("batch/shop/shop_app/1"), "the step keeps its place")
	report, err := upgrade.Run(t.Context(), rolled, new(upgradetest.Executor))
	require.NoError(t, err)
	assert.Equal(t, len(rolled.Steps), report.Count(upgrade.Succeeded))
}
