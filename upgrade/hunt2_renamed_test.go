package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt2RenamedTemplateOtherVersionIsCotenant: a run of an earlier plan
// moved shop-ng-1 to template shop_ng at 2.0.0, which needs Tomcat below
// 10, and the shop now asks for shop_ng at 2.1.0, which needs 10. The
// request replaces the nodes of shop_app and those of shop_ng at 2.1.0
// (see TestReplanRenamedTemplate), not shop-ng-1: it stays on shop_ng
// 2.0.0, on tomcat-1, and upgrading tomcat-1 to 10 would break it. The
// plan fails naming it, as for any co-tenant, rather than leave it out.
func TestHunt2RenamedTemplateOtherVersionIsCotenant(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		b := shopBuilder(1).
			Template("shop", topology.Template{ID: "shop_ng", Type: "webapp", Version: v("2.0.0"),
				Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("<10")}}}).
			Node("shop", topology.Node{ID: "shop-ng-1", Template: "shop_ng", Relationships: on("tomcat-1")})
		req := shop2("tomcat_server", ">=10")
		req.Template.ID, req.Template.Version = "shop_ng", v("2.1.0")
		plan, err := upgrade.NewPlanner(topo(build(t, b)), catalogue(t)).Plan(t.Context(), req)
		require.ErrorIs(t, err, upgrade.ErrConflict, "plan: %v", plan)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("tomcat-1"), ce.Node)
		assert.Equal(t, []upgrade.Demand{{App: "shop", Node: "shop-ng-1", Template: "shop_ng", Constraint: c("<10")}}, ce.Blocking)

		// At 2.1.0, shop-ng-1 is the request's (current): no co-tenant.
		b = shopBuilder(1).
			Template("shop", topology.Template{ID: "shop_ng", Type: "webapp", Version: v("2.1.0"),
				Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("<10")}}}).
			Node("shop", topology.Node{ID: "shop-ng-1", Template: "shop_ng", Relationships: on("tomcat-1")})
		plan, err = upgrade.NewPlanner(topo(build(t, b)), catalogue(t)).Plan(t.Context(), req)
		require.NoError(t, err)
		assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@11.0.2", "app/shop-1@2.1.0"}, ids(plan))
	})
}

// TestHunt2RenamedTemplateOtherVersionKeepsItsVersion: shop-ng-1 is on
// shop_ng 2.0.0, which the shop's request to shop_ng 2.1.0 leaves as it is
// (see above), and plugin-1 runs on it; the plugins' request needs shop_ng
// below 2.1 of it. shop-ng-1 was held to 2.1.0 as if the shop's request
// replaced it, and the plan failed with a conflict; it meets the demand as
// it is.
func TestHunt2RenamedTemplateOtherVersionKeepsItsVersion(t *testing.T) {
	b := shopBuilder(1).
		Template("shop", topology.Template{ID: "shop_ng", Type: "webapp", Version: v("2.0.0")}).
		Node("shop", topology.Node{ID: "shop-ng-1", Template: "shop_ng", Relationships: on("tomcat-1")}).
		Template("plugins", topology.Template{ID: "plugin", Type: "plugin", Version: v("1.0.0")}).
		Node("plugins", topology.Node{ID: "plugin-1", Template: "plugin", Relationships: on("shop-ng-1")})
	shop := shop2()
	shop.Template.ID, shop.Template.Version = "shop_ng", v("2.1.0")
	plugins := upgrade.Request{Application: "plugins", Replaces: "plugin", Template: topology.Template{ID: "plugin", Type: "plugin", Version: v("1.1.0"),
		Requirements: []topology.Requirement{{Template: "shop_ng", Constraint: c(">=2.0, <2.1")}}}}
	plan, err := upgrade.NewPlanner(build(t, b), catalogue(t)).PlanAll(t.Context(), shop, plugins)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/plugin-1@1.1.0", "app/shop-1@2.1.0"}, ids(plan))
	require.Len(t, plan.Satisfied, 1)
	assert.Equal(t, topology.NodeID("shop-ng-1"), plan.Satisfied[0].Node)
	assert.Equal(t, "2.0.0", plan.Satisfied[0].Version.String())
}
