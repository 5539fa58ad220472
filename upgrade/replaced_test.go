package upgrade_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// Tests of a node that one request replaces and that something else in
// the same plan demands a version of: another request's requirement, or a
// package's. Its application step takes it to its request's version, and
// nothing else may take it elsewhere: what is demanded of it must allow
// that version, and what runs on it waits for that step.

// replaceTemplate asks for the shop's nodes of template id to be replaced
// by the same template at version ver, with the requirements given in
// pairs as for shop2.
func replaceTemplate(id topology.TemplateID, typ, ver string, pairs ...string) upgrade.Request {
	r := shop2(pairs...)
	r.Replaces, r.Template.ID, r.Template.Type, r.Template.Version = id, id, typ, v(ver)
	return r
}

// stepsOn returns the plan's steps on node n.
func stepsOn(p *upgrade.Plan, n topology.NodeID) []upgrade.Step {
	var out []upgrade.Step
	for _, s := range p.Steps {
		if s.Node == n {
			out = append(out, s)
		}
	}
	return out
}

// planBothWays plans the two requests in both orders, checks that the
// steps are the same, and returns the plan of the first order.
func planBothWays(t *testing.T, topo topology.Topology, src pkgsource.Source, a, b upgrade.Request) (*upgrade.Plan, error) {
	t.Helper()
	p, err := upgrade.NewPlanner(topo, src).PlanAll(context.Background(), a, b)
	q, errQ := upgrade.NewPlanner(topo, src).PlanAll(context.Background(), b, a)
	if err != nil {
		require.Error(t, errQ)
		assert.Equal(t, err.Error(), errQ.Error(), "the requests' order changes nothing")
		return nil, err
	}
	require.NoError(t, errQ)
	requireTopological(t, p)
	assert.ElementsMatch(t, ids(p), ids(q), "the requests' order changes nothing")
	for _, s := range p.Steps {
		other, ok := q.Step(s.ID)
		require.True(t, ok, s.ID)
		assert.Equal(t, s.After, other.After, s.ID)
	}
	return p, nil
}

func TestReplacedNodeDemandedByRequest(t *testing.T) {
	topo := build(t, shopBuilder(2))
	tomcat := replaceTemplate("tomcat_server", "tomcat", "10.1.34", "java_runtime", ">=11")
	p, err := planBothWays(t, topo, catalogue(t), tomcat, shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	for _, n := range []string{"1", "2"} {
		on := stepsOn(p, topology.NodeID("tomcat-"+n))
		require.Len(t, on, 1, "the application step alone changes tomcat-%s", n)
		assert.Equal(t, upgrade.Application, on[0].Kind)
		assert.Equal(t, upgrade.StepID("app/tomcat-"+n+"@10.1.34"), on[0].ID)
		assert.Equal(t, []upgrade.StepID{upgrade.StepID("platform/java-" + n + "@21.0.2")}, on[0].After)

		shop := stepsOn(p, topology.NodeID("shop-"+n))
		require.Len(t, shop, 1)
		assert.Equal(t, []upgrade.StepID{on[0].ID}, shop[0].After, "the shop waits for the Tomcat it needs")
		_, ok := p.Decision(topology.NodeID("tomcat-" + n))
		assert.False(t, ok, "no platform decision for a replaced node")
	}
	for _, c := range p.Satisfied {
		assert.NotEqual(t, "tomcat_server", string(c.Template), "a demand met only once a step has run is no satisfied check: %+v", c)
	}
}

func TestReplacedNodeDemandConflict(t *testing.T) {
	topo := build(t, shopBuilder(1))
	tomcat := replaceTemplate("tomcat_server", "tomcat", "10.1.34", "java_runtime", ">=11")
	_, err := planBothWays(t, topo, catalogue(t), tomcat, shop2("tomcat_server", ">=9, <10"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("tomcat-1"), ce.Node)
	assert.Equal(t, v("8.5.100"), ce.Installed)
	require.Len(t, ce.Wanted, 1)
	assert.Equal(t, topology.TemplateID("tomcat_server"), ce.Wanted[0].Template)
	assert.Equal(t, "=10.1.34", ce.Wanted[0].Constraint.String())
	require.Len(t, ce.Blocking, 1)
	assert.Equal(t, topology.TemplateID("shop_app"), ce.Blocking[0].Template)
	assert.Equal(t, ">=9, <10", ce.Blocking[0].Constraint.String())
	require.Len(t, ce.Tried, 1)
	assert.Equal(t, "10.1.34", ce.Tried[0].String())
}

func TestReplacedNodeCurrentDemanded(t *testing.T) {
	b := shopBuilder(1)
	b.Node("shop", topology.Node{ID: "tomcat-9", Template: "tomcat_server", Version: v("10.1.34"), Relationships: on("java-1")})
	b.Node("shop", topology.Node{ID: "shop-9", Template: "shop_app", Relationships: on("tomcat-9")})
	topo := build(t, b)
	tomcat := replaceTemplate("tomcat_server", "tomcat", "10.1.34")
	p, err := planBothWays(t, topo, catalogue(t), tomcat, shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Empty(t, stepsOn(p, "tomcat-9"), "on the version already")
	assert.Equal(t, []upgrade.StepID{"app/tomcat-1@10.1.34"}, stepsOn(p, "shop-1")[0].After)
	assert.Empty(t, stepsOn(p, "shop-9")[0].After, "nothing to wait for")
	var met []string
	for _, c := range p.Satisfied {
		if c.Node == "tomcat-9" {
			met = append(met, string(c.Demand.Template)+" "+c.Demand.Constraint.String()+" at "+c.Version.String())
		}
	}
	assert.ElementsMatch(t, []string{"tomcat_server =10.1.34 at 10.1.34", "shop_app >=10 at 10.1.34"}, met)
}

func TestReplacedNodeDemandedByPackage(t *testing.T) {
	tomcat10 := pkg("tomcat", "10.1.34")
	tomcat10.Requires = []pkgsource.Requirement{{Type: "jdk", Constraint: c(">=11")}}
	src := source(t, pkg("tomcat", "9.0.98"), tomcat10, pkg("jdk", "21.0.2"))
	topo := build(t, shopBuilder(1))

	p, err := planBothWays(t, topo, src, replaceTemplate("java_runtime", "jdk", "17.0.10"), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/java-1@17.0.10"}, ids(&upgrade.Plan{Steps: stepsOn(p, "java-1")}),
		"the JDK's own request decides its version, not the package's need")
	tomcat := stepsOn(p, "tomcat-1")
	require.Len(t, tomcat, 1)
	assert.Equal(t, upgrade.StepID("platform/tomcat-1@10.1.34"), tomcat[0].ID)
	assert.Equal(t, []upgrade.StepID{"app/java-1@17.0.10"}, tomcat[0].After, "Tomcat 10 waits for the JDK it needs")

	// A JDK request that Tomcat 10's package rules out.
	_, err = planBothWays(t, topo, src, replaceTemplate("java_runtime", "jdk", "8.0.500"), shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("java-1"), ce.Node)
	require.Len(t, ce.Blocking, 1)
	assert.Equal(t, "tomcat 10.1.34", ce.Blocking[0].Package)
	assert.Contains(t, err.Error(), "package tomcat 10.1.34 for node tomcat-1 requires >=11")
}

// TestReplacedNodeCotenantBlocks replaces the Tomcats that the shop's new
// version requires, while billing-1, which no request replaces, runs on
// tomcat-1 and requires it below 10: the application step would break it,
// as a platform step would, so the plan fails naming billing-1. A billing
// that allows the new version lets the plan be.
func TestReplacedNodeCotenantBlocks(t *testing.T) {
	billing := func(constraint string) *topology.Memory {
		return build(t, shopBuilder(2).
			Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
				Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(constraint)}}}).
			Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-1")}))
	}
	tomcat := replaceTemplate("tomcat_server", "tomcat", "10.1.34", "java_runtime", ">=11")
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		_, err := planBothWays(t, topo(billing("<10")), catalogue(t), tomcat, shop2("tomcat_server", ">=10"))
		require.ErrorIs(t, err, upgrade.ErrConflict)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("tomcat-1"), ce.Node)
		assert.Equal(t, []upgrade.Demand{{App: "billing", Node: "billing-1", Template: "billing_app", Constraint: c("<10")}}, ce.Blocking)
		assert.Equal(t, versions("10.1.34"), ce.Tried)
		assert.ErrorContains(t, err, "node billing-1 (billing) requires <10")

		p, err := planBothWays(t, topo(billing("<11")), catalogue(t), tomcat, shop2("tomcat_server", ">=10"))
		require.NoError(t, err)
		assert.Len(t, stepsOn(p, "tomcat-1"), 1)
	})
}

// TestReplacedNodeCotenantBlocksUndemanded replaces the Tomcats, which
// nothing in the plan demands a version of, while shop-1 runs on tomcat-1
// and requires it below 9: the application step would break it, so the
// plan fails naming shop-1. The billing application, replaced in the same
// plan, has nothing depending on its nodes, which the planner then need
// not look at one by one: that must not skip the shop's. With a shop that
// is replaced too, and allows the new Tomcat, the plan is made.
func TestReplacedNodeCotenantBlocksUndemanded(t *testing.T) {
	b := shopBuilder(2).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("java-1")}).
		Node("billing", topology.Node{ID: "billing-2", Template: "billing_app", Relationships: on("java-2")})
	billing := upgrade.Request{Application: "billing", Replaces: "billing_app",
		Template: topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.2.0")}}
	tomcat := replaceTemplate("tomcat_server", "tomcat", "10.1.34")
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		_, err := planBothWays(t, topo(build(t, b)), catalogue(t), billing, tomcat)
		require.ErrorIs(t, err, upgrade.ErrConflict)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("tomcat-1"), ce.Node)
		assert.Equal(t, []upgrade.Demand{{App: "shop", Node: "shop-1", Template: "shop_app", Constraint: c(">=8.5, <9")}}, ce.Blocking)

		p, err := upgrade.NewPlanner(topo(build(t, b)), catalogue(t)).PlanAll(t.Context(), billing, tomcat, shop2("tomcat_server", ">=10"))
		require.NoError(t, err)
		assert.Len(t, stepsOn(p, "billing-2"), 1)
		assert.Len(t, stepsOn(p, "tomcat-2"), 1)
	})
}
