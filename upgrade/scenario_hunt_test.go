package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// Scenarios modelled on real systems. Helpers are prefixed "sc".

// TestScenarioReplacedPlatformTemplateHeldToCotenants replaces the shop's
// Tomcat template itself (an operator moving tomcat_server to 10), while
// shop-1 (whose template requires Tomcat below 9) and billing-1, of
// another application, run on tomcat-1: the application step would break
// them as a platform step to 10 would, so the plan fails naming them.
// When the shop is replaced in the same plan and billing allows 10, the
// plan is made.
func TestScenarioReplacedPlatformTemplateHeldToCotenants(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		tomcat := replaceTemplate("tomcat_server", "tomcat", "10.1.34")
		_, err := upgrade.NewPlanner(topo(build(t, withBilling(shopBuilder(2), "<10"))), catalogue(t)).Plan(t.Context(), tomcat)
		require.ErrorIs(t, err, upgrade.ErrConflict)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("tomcat-1"), ce.Node)
		assert.Equal(t, []upgrade.Demand{
			{App: "billing", Node: "billing-1", Template: "billing_app", Constraint: c("<10")},
			{App: "shop", Node: "shop-1", Template: "shop_app", Constraint: c(">=8.5, <9")},
		}, ce.Blocking)
		assert.Equal(t, versions("10.1.34"), ce.Tried)
		assert.ErrorContains(t, err, "node billing-1 (billing) requires <10")

		_, err = upgrade.NewPlanner(topo(build(t, withBilling(shopBuilder(2), "<11"))), catalogue(t)).Plan(t.Context(), tomcat)
		require.ErrorIs(t, err, upgrade.ErrConflict, "the shop requires Tomcat below 9")
		assert.ErrorContains(t, err, "node shop-1 (shop) requires >=8.5, <9")
		assert.NotContains(t, err.Error(), "billing-1")

		plan, err := upgrade.NewPlanner(topo(build(t, withBilling(shopBuilder(2), "<11"))), catalogue(t)).PlanAll(t.Context(), tomcat, shop2())
		require.NoError(t, err)
		assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0", "app/shop-2@2.0.0", "app/tomcat-1@10.1.34", "app/tomcat-2@10.1.34"}, ids(plan))
	})
}

// TestScenarioReplacedCotenantConflictWhateverTheRequestOrder replaces two
// Tomcat templates whose nodes both host a co-tenant that forbids the new
// version: whichever request comes first, the error names the same node.
func TestScenarioReplacedCotenantConflictWhateverTheRequestOrder(t *testing.T) {
	b := withBilling(shopBuilder(1), "<10").
		Template("billing", topology.Template{ID: "billing_tomcat", Type: "tomcat", Version: v("9.0.85")}).
		Template("billing", topology.Template{ID: "billing_web", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "billing_tomcat", Constraint: c("<10")}}}).
		Node("billing", topology.Node{ID: "a-tomcat", Template: "billing_tomcat"}).
		Node("billing", topology.Node{ID: "web-1", Template: "billing_web", Relationships: on("a-tomcat")})
	shopTomcat := replaceTemplate("tomcat_server", "tomcat", "10.1.34")
	billingTomcat := upgrade.Request{Application: "billing", Replaces: "billing_tomcat",
		Template: topology.Template{ID: "billing_tomcat", Type: "tomcat", Version: v("10.1.34")}}
	_, err := planBothWays(t, build(t, b), catalogue(t), shopTomcat, billingTomcat)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("a-tomcat"), ce.Node)
	assert.Equal(t, []upgrade.Demand{{App: "billing", Node: "web-1", Template: "billing_web", Constraint: c("<10")}}, ce.Blocking)
}
