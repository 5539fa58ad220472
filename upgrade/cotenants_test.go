package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// billingAbove adds application billing, whose template requires the JDK
// template java_runtime within constraint, with node billing-1 standing on
// tomcat-1 through hops-1 nodes of a template that requires nothing (hops
// = 1: hosted on tomcat-1 itself, two relationships above java-1).
func billingAbove(b *topology.Builder, hops int, constraint string) *topology.Builder {
	b.Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
		Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(constraint)}}})
	host := topology.NodeID("tomcat-1")
	if hops > 1 {
		b.Template("billing", topology.Template{ID: "web_context", Type: "context", Version: v("1.0.0")})
	}
	for i := 1; i < hops; i++ {
		id := topology.NodeID(fmt.Sprintf("ctx-%d", i))
		b.Node("billing", topology.Node{ID: id, Template: "web_context", Relationships: on(host)})
		host = id
	}
	return b.Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on(host)})
}

var billingDemand = upgrade.Demand{App: "billing", Node: "billing-1", Template: "billing_app", Constraint: c("<17")}

// walkOnly hides a Memory's Above: the planner walks its Dependents up,
// as it does over a host's topology.
type walkOnly struct{ topology.Topology }

// perNode hides a Memory's AppDependents but not its Above: the planner
// asks for each node's Dependents, and for the nodes above it.
type perNode struct{ walkOnly }

func (p perNode) Above(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	return p.Topology.(*topology.Memory).Above(ctx, id)
}

// bothWays runs f with a Memory as it is (the planner asks it for the
// nodes above, topology.AboveLister, and for an application's dependents,
// topology.DependentsLister), behind perNode, and behind walkOnly.
func bothWays(t *testing.T, f func(t *testing.T, topo func(*topology.Memory) topology.Topology)) {
	t.Run("above", func(t *testing.T) { f(t, func(m *topology.Memory) topology.Topology { return m }) })
	t.Run("each node", func(t *testing.T) { f(t, func(m *topology.Memory) topology.Topology { return perNode{walkOnly{m}} }) })
	t.Run("walk", func(t *testing.T) { f(t, func(m *topology.Memory) topology.Topology { return walkOnly{m} }) })
}

// TestPlanRefusesBreakingCotenantAbove is issue 14's example: billing-1
// runs on tomcat-1, which runs on java-1, and requires the JDK below 17;
// upgrading java-1 to 21 for the shop would break it, however many nodes
// lie between billing-1 and java-1. The plan fails with a *ConflictError
// naming billing-1, its application and its constraint, as it does when
// billing-1 is hosted on java-1 itself.
func TestPlanRefusesBreakingCotenantAbove(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		for hops := 0; hops <= 3; hops++ {
			t.Run(fmt.Sprintf("hops=%d", hops), func(t *testing.T) {
				b := shopBuilder(2)
				if hops == 0 { // direct: hosted on java-1
					b.Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
						Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}).
						Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("java-1")})
				} else {
					billingAbove(b, hops, "<17")
				}
				plan, err := upgrade.NewPlanner(topo(build(t, b)), catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
				require.Error(t, err)
				assert.Nil(t, plan)
				var ce *upgrade.ConflictError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, topology.NodeID("java-1"), ce.Node)
				assert.Equal(t, []upgrade.Demand{billingDemand}, ce.Blocking)
				assert.Contains(t, err.Error(), "billing-1 (billing) requires <17")
			})
		}
	})
}

// TestPlanKeepsCotenantAboveSatisfied checks that a co-tenant two or three
// relationships up rules out the versions it does not allow, as a direct
// one does: java-1, under billing, stops below 17, java-2 takes the newest.
func TestPlanKeepsCotenantAboveSatisfied(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		for _, hops := range []int{1, 2} {
			t.Run(fmt.Sprintf("hops=%d", hops), func(t *testing.T) {
				mem := build(t, billingAbove(shopBuilder(2), hops, "<17"))
				plan, err := upgrade.NewPlanner(topo(mem), catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=11"))
				require.NoError(t, err)
				s1, ok := plan.Step("platform/java-1@11.0.22")
				require.True(t, ok, "java-1 stays below 17 for billing: %v", ids(plan))
				_, ok = plan.Step("platform/java-2@21.0.2")
				assert.True(t, ok, "java-2 has no co-tenant and takes the newest: %v", ids(plan))
				assert.Contains(t, decided(t, plan, s1.Node).Candidates, upgrade.Candidate{Version: v("21.0.2"),
					Rejected: "not allowed by co-tenant node billing-1 (billing) requires <17"})
				requireTopological(t, plan)
			})
		}
	})
}

// TestPlanCotenantAboveInSameApplication checks the rule within one
// application too: the shop's own tomcat template requires the JDK below
// 17, and a second shop template, above the Tomcat, asks for 21.
func TestPlanCotenantAboveInSameApplication(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		b := shopBuilder(1).
			Template("shop", topology.Template{ID: "admin_app", Type: "webapp", Version: v("1.0.0"),
				Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}).
			Node("shop", topology.Node{ID: "admin-1", Template: "admin_app", Relationships: on("tomcat-1")})
		_, err := upgrade.NewPlanner(topo(build(t, b)), catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
		var ce *upgrade.ConflictError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, []upgrade.Demand{{App: "shop", Node: "admin-1", Template: "admin_app", Constraint: c("<17")}}, ce.Blocking)
	})
}

// TestPlanExemptsReplacedNodeAbove checks that a node being replaced is no
// co-tenant, however high above: billing is upgraded itself, to a version
// that needs the JDK at 21, and the plan warns that billing-1 runs on a
// JDK its old template rules out until its own step.
func TestPlanExemptsReplacedNodeAbove(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		mem := build(t, billingAbove(shopBuilder(1), 2, "<17"))
		req := upgrade.Request{Application: "billing", Replaces: "billing_app",
			Template: topology.Template{ID: "billing_app", Type: "webapp", Version: v("4.0.0"),
				Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=21")}}}}
		plan, err := upgrade.NewPlanner(topo(mem), catalogue(t)).Plan(t.Context(), req)
		require.NoError(t, err)
		_, ok := plan.Step("platform/java-1@21.0.2")
		require.True(t, ok, "%v", ids(plan))
		require.Len(t, plan.Warnings, 1)
		assert.Contains(t, plan.Warnings[0], "node billing-1 (billing_app 3.1.0) requires java_runtime <17")
		assert.Contains(t, plan.Warnings[0], "java-1 21.0.2")
	})
}

// TestPlanExemptsUpgradedPlatformNode checks that a platform node the plan
// upgrades is no co-tenant of the nodes beneath it, as a replaced node is
// not: PostGIS 3.1's template needs PostgreSQL 11 to 14, and the map app
// 2.0 needs PostGIS 3.4, whose package needs PostgreSQL 15. postgis-1 is
// upgraded by the plan, so its old "<15" does not bind what pg-1 becomes;
// the plan warns that postgis-1 runs on a PostgreSQL its old template
// rules out until its own step. A PostGIS node the plan leaves alone is a
// co-tenant still.
func TestPlanExemptsUpgradedPlatformNode(t *testing.T) {
	gis := func() *topology.Builder {
		return new(topology.Builder).
			Template("gis", topology.Template{ID: "pg", Type: "postgres", Version: v("13.4")}).
			Template("gis", topology.Template{ID: "postgis", Type: "postgis", Version: v("3.1.4"),
				Requirements: []topology.Requirement{{Template: "pg", Constraint: c(">=11, <15")}}}).
			Template("gis", topology.Template{ID: "map_app", Type: "webapp", Version: v("1.0.0")}).
			Node("gis", topology.Node{ID: "pg-1", Template: "pg"}).
			Node("gis", topology.Node{ID: "postgis-1", Template: "postgis", Relationships: on("pg-1")}).
			Node("gis", topology.Node{ID: "map-1", Template: "map_app", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "postgis-1"}}})
	}
	src := source(t, requires(pkg("postgis", "3.4.2"), "postgres", ">=15"), pkg("postgres", "15.5"), pkg("postgres", "16.1"))
	req := upgrade.Request{Application: "gis", Replaces: "map_app", Template: topology.Template{ID: "map_app", Type: "webapp", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "postgis", Constraint: c(">=3.4")}}}}
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		plan, err := upgrade.NewPlanner(topo(build(t, gis())), src).Plan(t.Context(), req)
		require.NoError(t, err, "postgis-1 does not block the upgrade its own new package needs")
		assert.Equal(t, []upgrade.StepID{"platform/pg-1@16.1.0", "platform/postgis-1@3.4.2", "app/map-1@2.0.0"}, ids(plan))
		assert.Equal(t, []string{"node postgis-1 (postgis 3.1.4) requires pg >=11, <15; it runs on pg-1 16.1 from step platform/pg-1@16.1.0 until its own step"}, plan.Warnings)
		requireTopological(t, plan)

		b := gis().Node("gis", topology.Node{ID: "postgis-2", Template: "postgis", Relationships: on("pg-1")})
		_, err = upgrade.NewPlanner(topo(build(t, b)), src).Plan(t.Context(), req)
		var ce *upgrade.ConflictError
		require.ErrorAs(t, err, &ce, "postgis-2, left as it is, is a co-tenant of pg-1")
		assert.Equal(t, []upgrade.Demand{{App: "gis", Node: "postgis-2", Template: "postgis", Constraint: c(">=11, <15")}}, ce.Blocking)
	})
}

// TestPlanExemptsUpgradedPlatformNodeAbove checks the same of a node above
// the platform node, directly on it or with a node between: the shop 2.0
// needs Tomcat >=10 and Java >=17, and Tomcat 8.5's template says Java
// <17, but tomcat-1 is upgraded by the plan itself.
func TestPlanExemptsUpgradedPlatformNodeAbove(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		for _, between := range []bool{false, true} {
			t.Run(fmt.Sprintf("between=%t", between), func(t *testing.T) {
				b := new(topology.Builder).
					Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0"),
						Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8.5, <9")}}}).
					Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("8.5.100"),
						Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=8, <17")}}}).
					Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("8.0.402")}).
					Node("shop", topology.Node{ID: "java-1", Template: "java_runtime"})
				host := topology.NodeID("java-1")
				if between {
					b.Template("shop", topology.Template{ID: "jvm_host", Type: "container", Version: v("1.0.0")}).
						Node("shop", topology.Node{ID: "host-1", Template: "jvm_host", Relationships: on("java-1")})
					host = "host-1"
				}
				b.Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on(host)}).
					Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
				plan, err := upgrade.NewPlanner(topo(build(t, b)), catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=10", "java_runtime", ">=17"))
				require.NoError(t, err, "tomcat-1 is upgraded by this very plan")
				assert.Equal(t, []upgrade.StepID{"platform/java-1@21.0.2", "platform/tomcat-1@11.0.2", "app/shop-1@2.0.0"}, ids(plan))
				assert.Equal(t, []string{
					"node tomcat-1 (tomcat_server 8.5.100) requires java_runtime >=8, <17; it runs on java-1 21.0.2 from step platform/java-1@21.0.2 until its own step",
					"node shop-1 (shop_app 1.4.0) requires tomcat_server >=8.5, <9; it runs on tomcat-1 11.0.2 from step platform/tomcat-1@11.0.2 until its own step",
				}, plan.Warnings)
			})
		}
	})
}

// TestPlanCountsDiamondCotenantOnce checks that a node reaching the
// platform node by two ways (hosted on one Tomcat, depending on another,
// both on java-1; and directly too) places one demand, named once.
func TestPlanCountsDiamondCotenantOnce(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		for name, rels := range map[string][]topology.Relationship{
			"two tomcats": {{Relation: topology.HostedOn, Target: "tomcat-1"}, {Relation: topology.DependsOn, Target: "tomcat-x"}},
			"and direct": {{Relation: topology.HostedOn, Target: "tomcat-1"}, {Relation: topology.DependsOn, Target: "tomcat-x"},
				{Relation: topology.DependsOn, Target: "java-1"}},
		} {
			t.Run(name, func(t *testing.T) {
				b := shopBuilder(1).
					Node("shop", topology.Node{ID: "tomcat-x", Template: "tomcat_server", Relationships: on("java-1")}).
					Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
						Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}).
					Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: rels})
				_, err := upgrade.NewPlanner(topo(build(t, b)), catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
				var ce *upgrade.ConflictError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, []upgrade.Demand{billingDemand}, ce.Blocking)
				assert.Equal(t, 1, strings.Count(err.Error(), "billing-1"), err.Error())
			})
		}
	})
}

// TestPlanStopsAtNodeOfSameTemplate checks that a node's requirement binds
// the first node of the required template down its way, not those beneath
// that one: billing-1 runs on a JDK (java-top, allowed <17) that runs on
// java-1, and java-1 is free to go to 21.
func TestPlanStopsAtNodeOfSameTemplate(t *testing.T) {
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		b := shopBuilder(1).
			Node("shop", topology.Node{ID: "java-top", Template: "java_runtime", Relationships: on("tomcat-1")}).
			Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
				Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}).
			Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("java-top")})
		plan, err := upgrade.NewPlanner(topo(build(t, b)), catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
		require.NoError(t, err)
		_, ok := plan.Step("platform/java-1@21.0.2")
		assert.True(t, ok, "%v", ids(plan))
	})
}

// inventingTopology answers Dependents as its Topology does, then adds to
// the dependents of the nodes in extra what extra says: a hostile host.
type inventingTopology struct {
	topology.Topology
	extra func(id topology.NodeID) []topology.Dependent
	calls int
	limit int
}

func (c *inventingTopology) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	c.calls++
	if c.limit > 0 && c.calls > c.limit {
		return nil, errors.New("test: too many calls to Dependents: the walk does not end")
	}
	ds, err := c.Topology.Dependents(ctx, id)
	if err != nil && c.extra(id) == nil {
		return nil, err
	}
	return append(ds[:len(ds):len(ds)], c.extra(id)...), nil
}

// TestPlanRefusesCyclicDependents checks that a host whose Dependents
// form a cycle (which Validate refuses in a Memory) fails the plan with a
// *CycleError naming the nodes, rather than walking for ever.
func TestPlanRefusesCyclicDependents(t *testing.T) {
	topo := &inventingTopology{Topology: build(t, shopBuilder(1)), limit: 10_000, extra: func(id topology.NodeID) []topology.Dependent {
		if id == "shop-1" { // shop-1 "runs" tomcat-1, which runs shop-1
			return []topology.Dependent{{App: "shop", Node: "tomcat-1", Template: "tomcat_server", Relation: topology.HostedOn}}
		}
		return nil
	}}
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
	require.Error(t, err)
	assert.Nil(t, plan)
	assert.ErrorIs(t, err, upgrade.ErrCycle)
	var ce *upgrade.CycleError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{"tomcat-1", "shop-1", "tomcat-1"}, ce.Path)
}

// TestPlanBoundsEndlessDependents checks that a host whose Dependents
// invent a new node above every node fails the plan with an error naming
// a node, after a bounded walk.
func TestPlanBoundsEndlessDependents(t *testing.T) {
	topo := &inventingTopology{Topology: build(t, shopBuilder(1)), limit: 100_000, extra: func(id topology.NodeID) []topology.Dependent {
		var k int
		if id == "shop-1" || func() bool { _, err := fmt.Sscanf(string(id), "n%d", &k); return err == nil }() {
			return []topology.Dependent{{App: "shop", Node: topology.NodeID(fmt.Sprintf("n%d", k+1)), Template: "shop_app", Relation: topology.HostedOn}}
		}
		return nil
	}}
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
	require.Error(t, err)
	assert.Nil(t, plan)
	assert.ErrorIs(t, err, topology.ErrInvalid)
	assert.NotContains(t, err.Error(), "too many calls")
	assert.Contains(t, err.Error(), "nodes above it")
	var te *topology.Error
	require.ErrorAs(t, err, &te)
	assert.True(t, strings.HasPrefix(te.Item, `node "n`), te.Item)
}

// aboveListing is a host topology that answers Above itself.
type aboveListing struct {
	topology.Topology
	above func(id topology.NodeID) ([]topology.Dependent, error)
}

func (a aboveListing) Above(_ context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	return a.above(id)
}

// TestPlanRefusesHostileAboveLister checks what a host's Above returns:
// an unsafe identifier in a co-tenant fails the plan, naming it, and an
// error is passed on.
func TestPlanRefusesHostileAboveLister(t *testing.T) {
	const hostile = "b$(touch pwned)"
	mem := build(t, shopBuilder(1))
	topo := aboveListing{Topology: mem, above: func(id topology.NodeID) ([]topology.Dependent, error) {
		return []topology.Dependent{{App: "billing", Node: hostile, Template: "billing_app", Constraint: c("<17")}}, nil
	}}
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
	require.Error(t, err)
	assert.Nil(t, plan)
	var idErr *topology.IDError
	require.ErrorAs(t, err, &idErr)
	assert.Equal(t, hostile, idErr.ID)
	assert.Contains(t, err.Error(), `node #1 above node "java-1"`)

	failing := aboveListing{Topology: mem, above: func(id topology.NodeID) ([]topology.Dependent, error) {
		return nil, fmt.Errorf("cmdb down while listing above %s", id)
	}}
	_, err = upgrade.NewPlanner(failing, catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cmdb down while listing above java-1")
}

// templateAsking records the templates a topology was asked for.
type templateAsking struct {
	topology.Topology
	asked *[]topology.TemplateID
}

func (a templateAsking) Template(ctx context.Context, id topology.TemplateID) (*topology.Template, error) {
	*a.asked = append(*a.asked, id)
	return a.Topology.Template(ctx, id)
}

// TestPlanWalkRefusesHostileDependents checks what a host's Dependents
// return to the walk up: an unsafe template, or an unsafe application in a
// co-tenant above, fails the plan naming the dependent, and the unsafe
// template is never asked for; a template or node the topology does not
// know, or a failing Dependents further up, fails it with their error.
func TestPlanWalkRefusesHostileDependents(t *testing.T) {
	mem := build(t, billingAbove(shopBuilder(1), 1, "<17"))
	cases := map[string]struct {
		change func([]topology.Dependent)
		want   string
	}{
		"template": {func(ds []topology.Dependent) {
			for i := range ds {
				if ds[i].Node == "billing-1" {
					ds[i].Template = "billing_app$(touch pwned)"
				}
			}
		}, `dependent #1 of node "tomcat-1"`},
		"application": {func(ds []topology.Dependent) {
			for i := range ds {
				if ds[i].Node == "billing-1" {
					ds[i].App = "billing;rm"
				}
			}
		}, `dependent #1 of node "tomcat-1"`},
		"unknown template": {func(ds []topology.Dependent) {
			for i := range ds {
				if ds[i].Node == "billing-1" {
					ds[i].Template = "nowhere"
				}
			}
		}, `template "nowhere" not found`},
		"unknown node": {func(ds []topology.Dependent) {
			for i := range ds {
				if ds[i].Node == "tomcat-1" {
					ds[i].Node = "ghost-1"
				}
			}
		}, `node "ghost-1" not found`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var asked []topology.TemplateID
			topo := templateAsking{Topology: &hostileTopology{Topology: mem, dependents: tc.change}, asked: &asked}
			plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=21"))
			require.Error(t, err)
			assert.Nil(t, plan)
			assert.Contains(t, err.Error(), tc.want)
			for _, id := range asked {
				assert.NotContains(t, string(id), "pwned")
			}
			checkOneLine(t, err.Error())
		})
	}
}
