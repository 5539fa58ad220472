package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// hunt2CoHosted is two applications, shop and billing, whose instances
// share VMs: hosts maps each VM to the shop and billing instances on it.
// Both move to 2.0.0, which needs Ubuntu 22.04.
func hunt2CoHosted(t *testing.T, hosts map[topology.NodeID][2]topology.NodeID) *upgrade.Plan {
	t.Helper()
	b := new(topology.Builder).
		Template("infra", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0.0")}).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("1.0.0")})
	for vm, apps := range hosts {
		b.Node("infra", topology.Node{ID: vm, Template: "ubuntu_os"}).
			Node("shop", topology.Node{ID: apps[0], Template: "shop_app", Relationships: on(vm)}).
			Node("billing", topology.Node{ID: apps[1], Template: "billing_app", Relationships: on(vm)})
	}
	req := func(app topology.AppID) upgrade.Request {
		id := topology.TemplateID(app + "_app")
		return upgrade.Request{Application: app, Replaces: id, Template: topology.Template{ID: id, Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "ubuntu_os", Constraint: c(">=22.04")}}}}
	}
	plan, err := upgrade.NewPlanner(build(t, b), source(t, pkg("ubuntu", "22.04"))).PlanAll(t.Context(), req("shop"), req("billing"))
	require.NoError(t, err)
	return plan
}

// TestHunt2RollHoldsPlatformOfSeveralApplications: shop-N and billing-N
// run on vm-N. With a canary each, the OS of vm-2 and vm-3, which only
// the later instances of both need, waited for nothing: a failed canary
// left every other VM upgraded. They now wait for both canaries.
func TestHunt2RollHoldsPlatformOfSeveralApplications(t *testing.T) {
	plan := hunt2CoHosted(t, map[topology.NodeID][2]topology.NodeID{
		"vm-1": {"shop-1", "billing-1"}, "vm-2": {"shop-2", "billing-2"}, "vm-3": {"shop-3", "billing-3"}})
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1})
	require.NoError(t, err)
	requireTopological(t, rolled)
	assert.Empty(t, rolled.Prerequisites("platform/vm-1@22.4.0"), "the canaries' VM")
	for _, id := range []upgrade.StepID{"platform/vm-2@22.4.0", "platform/vm-3@22.4.0"} {
		assert.Equal(t, []upgrade.StepID{"app/billing-1@2.0.0", "app/shop-1@2.0.0"}, rolled.Prerequisites(id), id)
	}

	exec := new(upgradetest.Executor)
	exec.FailAt("app/shop-1@2.0.0", errors.New("unhealthy"))
	_, err = upgrade.Run(t.Context(), rolled, exec, upgrade.WithConcurrency(16))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.NotContains(t, exec.Started(), upgrade.StepID("platform/vm-2@22.4.0"))
	assert.NotContains(t, exec.Started(), upgrade.StepID("platform/vm-3@22.4.0"))
}

// TestHunt2RollSeveralApplicationsCrossingWaves: vm-b holds the second
// shop instance and the third billing one, vm-a the other way round. Held
// for the wave before each's first instance, each VM would wait for a
// wave that waits for the other VM: a cycle. Both wait for the canaries.
func TestHunt2RollSeveralApplicationsCrossingWaves(t *testing.T) {
	plan := hunt2CoHosted(t, map[topology.NodeID][2]topology.NodeID{
		"vm-c": {"shop-1", "billing-1"}, "vm-b": {"shop-2", "billing-3"}, "vm-a": {"shop-3", "billing-2"}})
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"})
	require.NoError(t, err)
	requireTopological(t, rolled)
	for _, id := range []upgrade.StepID{"platform/vm-a@22.4.0", "platform/vm-b@22.4.0"} {
		assert.Equal(t, []upgrade.StepID{"app/billing-1@2.0.0", "app/shop-1@2.0.0"}, rolled.Prerequisites(id), id)
	}
	_, err = upgrade.Run(t.Context(), rolled, new(upgradetest.Executor))
	require.NoError(t, err)
}
