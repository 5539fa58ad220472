package upgrade_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// A server's package is chosen before the runtime beneath it is decided,
// yet it must respect what other requests already demand of that runtime:
// tomcat 11 needs a JDK that the agent's new version rules out, so the
// plan takes tomcat 10.
func TestPlanChoiceHeedsDemandsBeneathNotYetDecided(t *testing.T) {
	b := shopBuilder(1).
		Template("agent", topology.Template{ID: "agent_app", Type: "agent", Version: v("1.0.0")}).
		Node("agent", topology.Node{ID: "agent-1", Template: "agent_app", Relationships: on("java-1")})
	topo := build(t, b)
	tomcat := func(ver, jdk string) pkgsource.Package {
		p := pkg("tomcat", ver)
		p.Requires = []pkgsource.Requirement{{Type: "jdk", Constraint: c(jdk)}}
		return p
	}
	src := source(t, tomcat("10.1.34", ">=11"), tomcat("11.0.2", ">=17"), pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"))
	agent := upgrade.Request{Application: "agent", Replaces: "agent_app",
		Template: topology.Template{ID: "agent_app", Type: "agent", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=11, <17")}}}}
	for _, reqs := range [][]upgrade.Request{
		{shop2("tomcat_server", ">=10"), agent},
		{agent, shop2("tomcat_server", ">=10")},
	} {
		plan, err := upgrade.NewPlanner(topo, src).PlanAll(context.Background(), reqs...)
		require.NoError(t, err)
		to := map[topology.NodeID]string{}
		for _, s := range plan.Steps {
			to[s.Node] = s.To.String()
		}
		require.Equal(t, "10.1.34", to["tomcat-1"])
		require.Equal(t, "11.0.22", to["java-1"])
	}
}

// A node that one request replaces can lie beneath a node that another
// request replaces: the walk down from the shop passes the cache it depends
// on. Whichever request comes first, the cache node is one node with one
// step, and the plans are the same.
func TestPlanReplacedNodeBeneathAnotherReplacedNode(t *testing.T) {
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{
			{Relation: topology.DependsOn, Target: "cache-1"}}}).
		Template("cache", topology.Template{ID: "cache_app", Type: "cache", Version: v("1.0.0")}).
		Template("cache", topology.Template{ID: "cache_os", Type: "ubuntu", Version: v("20.04")}).
		Node("cache", topology.Node{ID: "vm-1", Template: "cache_os"}).
		Node("cache", topology.Node{ID: "cache-1", Template: "cache_app", Relationships: on("vm-1")})
	topo := build(t, b)
	src := source(t, pkg("ubuntu", "22.04"), pkg("ubuntu", "24.04"))
	shop := shop2("cache_os", ">=22.04")
	cache := upgrade.Request{Application: "cache", Replaces: "cache_app",
		Template: topology.Template{ID: "cache_app", Type: "cache", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "cache_os", Constraint: c(">=24.04")}}}}
	var got [][]upgrade.StepID
	for _, reqs := range [][]upgrade.Request{{shop, cache}, {cache, shop}} {
		plan, err := upgrade.NewPlanner(topo, src).PlanAll(context.Background(), reqs...)
		require.NoError(t, err)
		requireTopological(t, plan)
		got = append(got, ids(plan))
		vm, ok := plan.Step("platform/vm-1@24.4.0")
		require.True(t, ok)
		require.Len(t, decided(t, plan, vm.Node).Demands, 2, "both requests' demands meet on the VM")
	}
	require.Equal(t, []upgrade.StepID{"platform/vm-1@24.4.0", "app/cache-1@2.0.0", "app/shop-1@2.0.0"}, got[0])
	require.Equal(t, got[0], got[1])
}

// Versions that differ only in build metadata have equal precedence; the
// planner breaks the tie by their text, whatever order the source lists
// them in (issue 3: ties are broken deterministically).
func TestPlanBreaksTiesOfEqualPrecedenceByText(t *testing.T) {
	topo := build(t, shopBuilder(1))
	a, b := pkg("tomcat", "10.1.34+build.a"), pkg("tomcat", "10.1.34+build.b")
	var ids []string
	var to []string
	for _, pkgs := range [][]pkgsource.Package{{a, b}, {b, a}} {
		src := pkgsource.SourceFunc(func(context.Context, string) ([]pkgsource.Package, error) {
			return slices.Clone(pkgs), nil
		})
		plan, err := upgrade.NewPlanner(topo, src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
		require.NoError(t, err)
		step, ok := plan.Step("platform/tomcat-1@10.1.34+build.b")
		require.True(t, ok, "the tie goes to the later text: %v", plan.Steps)
		ids, to = append(ids, plan.ID), append(to, step.To.String())
	}
	require.Equal(t, ids[0], ids[1])
	require.Equal(t, to[0], to[1])
}

// A node that one request replaces, met first beneath a node that another
// request replaces, in a topology whose nodes leave Version unset (their
// template's): whichever request comes first, a node on the new version
// already is a satisfied check, and one above it a refused downgrade.
func TestPlanReplacedNodeBeneathAnotherWithVersionUnset(t *testing.T) {
	topo := func(cache string) topology.Topology {
		return newSharedTopology(build(t, new(topology.Builder).
			Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
			Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{
				{Relation: topology.DependsOn, Target: "cache-1"}}}).
			Template("cache", topology.Template{ID: "cache_app", Type: "cache", Version: v(cache)}).
			Template("cache", topology.Template{ID: "cache_os", Type: "ubuntu", Version: v("24.04")}).
			Node("cache", topology.Node{ID: "vm-1", Template: "cache_os"}).
			Node("cache", topology.Node{ID: "cache-1", Template: "cache_app", Relationships: on("vm-1")})))
	}
	src := source(t, pkg("ubuntu", "24.04"))
	shop := shop2("cache_os", ">=22.04")
	cache := upgrade.Request{Application: "cache", Replaces: "cache_app",
		Template: topology.Template{ID: "cache_app", Type: "cache", Version: v("2.0.0")}}
	for _, reqs := range [][]upgrade.Request{{cache, shop}, {shop, cache}} {
		plan, err := upgrade.NewPlanner(topo("2.0.0"), src).PlanAll(context.Background(), reqs...)
		require.NoError(t, err)
		require.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0"}, ids(plan), "cache-1 has 2.0.0")
		require.True(t, slices.ContainsFunc(plan.Satisfied, func(c upgrade.Check) bool { return c.Node == "cache-1" }))

		_, err = upgrade.NewPlanner(topo("3.0.0"), src).PlanAll(context.Background(), reqs...)
		require.ErrorIs(t, err, upgrade.ErrDowngrade, "cache-1 has 3.0.0")
	}
}
