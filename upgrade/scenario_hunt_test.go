package upgrade_test

import (
	"context"
	"errors"
	"slices"
	"strings"
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

// nilTopology answers some lookups with nil and no error, as a host's
// map-backed inventory may for an ID it does not hold.
type nilTopology struct {
	*topology.Memory
	app, node bool
	template  topology.TemplateID // "*": all
}

func (n nilTopology) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	if n.app {
		return nil, nil
	}
	return n.Memory.Application(ctx, id)
}

func (n nilTopology) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	if n.node {
		return nil, nil
	}
	return n.Memory.Node(ctx, id)
}

func (n nilTopology) Template(ctx context.Context, id topology.TemplateID) (*topology.Template, error) {
	if n.template == "*" || n.template == id {
		return nil, nil
	}
	return n.Memory.Template(ctx, id)
}

func TestScenarioTopologyAnswersNil(t *testing.T) {
	mem := build(t, withBilling(shopBuilder(1), "<11"))
	for _, tt := range []struct {
		name, kind string
		topo       topology.Topology
	}{
		{"application", "application", nilTopology{Memory: mem, app: true}},
		{"node", "node", nilTopology{Memory: mem, node: true}},
		{"template", "template", nilTopology{Memory: mem, template: "*"}},
		{"template above", "template", walkOnly{nilTopology{Memory: mem, template: "billing_app"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := upgrade.NewPlanner(tt.topo, catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=17"))
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.ErrorContains(t, err, "the topology returned topology: "+tt.kind+" ")
			assert.Nil(t, plan)
		})
	}
}

// nilTemplates is a sharedTopology, whose nodes have no version, that
// answers every template lookup with nil and no error.
type nilTemplates struct{ sharedTopology }

func (nilTemplates) Template(context.Context, topology.TemplateID) (*topology.Template, error) {
	return nil, nil
}

// TestScenarioStaleCheckTopologyAnswersNil: the stale check before a run
// refuses a topology that answers nil, and nothing runs.
func TestScenarioStaleCheckTopologyAnswersNil(t *testing.T) {
	mem := build(t, shopBuilder(1))
	plan, err := upgrade.NewPlanner(mem, catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=17"))
	require.NoError(t, err)
	for _, topo := range []topology.Topology{nilTopology{Memory: mem, node: true}, nilTemplates{newSharedTopology(mem)}} {
		ran := 0
		_, err := upgrade.Run(t.Context(), plan, upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { ran++; return nil }), upgrade.WithStaleCheck(topo))
		require.ErrorIs(t, err, topology.ErrInvalid)
		assert.Zero(t, ran)
	}
}

// appWithout is a topology whose applications lack one template, though
// nodes of it are listed.
type appWithout struct {
	*topology.Memory
	template topology.TemplateID
}

func (a appWithout) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	app, err := a.Memory.Application(ctx, id)
	if err != nil {
		return nil, err
	}
	c := *app
	c.Templates = slices.DeleteFunc(slices.Clone(app.Templates), func(t topology.Template) bool { return t.ID == a.template })
	return &c, nil
}

// TestScenarioApplicationLacksReplacedTemplate: an application that lists
// nodes of the replaced template without the template is refused, not
// planned with a nil template.
func TestScenarioApplicationLacksReplacedTemplate(t *testing.T) {
	topo := appWithout{build(t, shopBuilder(1)), "shop_app"}
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.ErrorContains(t, err, `node "shop-1": invalid topology: unknown template "shop_app"`)
	assert.Nil(t, plan)
}

// TestScenarioLookAheadSeesCotenantsAbove: Tomcat 10.1.34 needs Java 17,

// TestScenarioWarnsOfReplacedNodeBeneath replaces the shop's Tomcats and
// its web application in one plan: the shop's old template requires the
// Tomcat below 9, which the Tomcat's own step breaks until the shop's step.
func TestScenarioWarnsOfReplacedNodeBeneath(t *testing.T) {
	tomcat := replaceTemplate("tomcat_server", "tomcat", "10.1.34")
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(2)), catalogue(t)).PlanAll(t.Context(), tomcat, shop2())
	require.NoError(t, err)
	assert.Equal(t, []string{
		"node shop-1 (shop_app 1.4.0) requires tomcat_server >=8.5, <9; it runs on tomcat-1 10.1.34 from step app/tomcat-1@10.1.34 until its own step",
		"node shop-2 (shop_app 1.4.0) requires tomcat_server >=8.5, <9; it runs on tomcat-2 10.1.34 from step app/tomcat-2@10.1.34 until its own step",
	}, plan.Warnings)
	for _, w := range plan.Warnings {
		_, ok := plan.Step(upgrade.StepID(w[strings.Index(w, "step ")+5 : strings.Index(w, " until")]))
		assert.True(t, ok, "the warning names a step of the plan: %s", w)
	}

	// The Tomcat a second time, with the shop asking for it: the shop's
	// step comes after the Tomcat's, and the warning is the same.
	plan, err = upgrade.NewPlanner(build(t, shopBuilder(2)), catalogue(t)).PlanAll(t.Context(), tomcat, shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Len(t, plan.Warnings, 2)
	s, _ := plan.Step("app/shop-1@2.0.0")
	assert.Equal(t, []upgrade.StepID{"app/tomcat-1@10.1.34"}, s.After)

	// None when the shop's old template allows the new version.
	plan, err = upgrade.NewPlanner(build(t, shopBuilder(2)), catalogue(t)).PlanAll(t.Context(), replaceTemplate("tomcat_server", "tomcat", "8.5.101"), shop2())
	require.NoError(t, err)
	assert.Empty(t, plan.Warnings)
}

// TestScenarioLookAheadAtReplacedNodeBeneath: one request replaces the shop's JDK
// template by 21 (an application step), another needs Tomcat 10: 10.1.34
// needs a JDK below 17, which the JDK will not have; 10.1.18 needs 11 or
// later, which it will.
func TestScenarioLookAheadAtReplacedNodeBeneath(t *testing.T) {
	src := source(t, requires(pkg("tomcat", "10.1.34"), "jdk", "<17"), requires(pkg("tomcat", "10.1.18"), "jdk", ">=11"))
	jdk := replaceTemplate("java_runtime", "jdk", "21.0.2")
	plan, err := planBothWays(t, build(t, shopBuilder(1)), src, jdk, shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/java-1@21.0.2", "platform/tomcat-1@10.1.18", "app/shop-1@2.0.0"}, ids(plan))
	assert.Equal(t, "requires jdk <17, which node java-1 will not meet: a request replaces it with 21.0.2", decided(t, plan, "tomcat-1").Candidates[0].Rejected)
}
