package upgrade_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

func TestPlanPlatformFirst(t *testing.T) {
	planner := upgrade.NewPlanner(build(t, shopBuilder(3)), catalogue(t))
	plan, err := planner.Plan(context.Background(), shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=11"))
	require.NoError(t, err)
	requireTopological(t, plan)

	assert.Equal(t, []upgrade.StepID{
		"platform/java-1@21.0.2", "platform/java-2@21.0.2", "platform/java-3@21.0.2",
		"platform/tomcat-1@10.1.34", "platform/tomcat-2@10.1.34", "platform/tomcat-3@10.1.34",
		"app/shop-1@2.0.0", "app/shop-2@2.0.0", "app/shop-3@2.0.0",
	}, ids(plan))

	tomcat, ok := plan.Step("platform/tomcat-2@10.1.34")
	require.True(t, ok)
	assert.Equal(t, upgrade.Platform, tomcat.Kind)
	assert.Equal(t, topology.AppID("shop"), tomcat.App)
	assert.Equal(t, topology.NodeID("tomcat-2"), tomcat.Node)
	assert.Equal(t, topology.TemplateID("tomcat_server"), tomcat.Template)
	assert.Equal(t, "tomcat", tomcat.Type)
	assert.Equal(t, v("8.5.100"), tomcat.From)
	assert.Equal(t, v("10.1.34"), tomcat.To)
	require.NotNil(t, tomcat.Package)
	assert.Equal(t, "tomcat 10.1.34", tomcat.Package.String())
	assert.Equal(t, []upgrade.StepID{"platform/java-2@21.0.2"}, tomcat.After, "the server comes after the runtime beneath it")
	assert.Equal(t, "shop_app@2.0.0 (shop) requires tomcat_server >=9.0, <11; node tomcat-2 has 8.5.100", tomcat.Reason)

	// Each instance waits only for the platform beneath it.
	app, ok := plan.Step("app/shop-2@2.0.0")
	require.True(t, ok)
	assert.Equal(t, upgrade.Application, app.Kind)
	assert.Equal(t, []upgrade.StepID{"platform/tomcat-2@10.1.34"}, app.After, "and the runtime beneath comes before that")
	assert.Equal(t, v("1.4.0"), app.From)
	assert.Equal(t, v("2.0.0"), app.To)
	assert.Equal(t, topology.TemplateID("shop_app"), app.Template)
	require.NotNil(t, app.NewTemplate)
	assert.Equal(t, v("2.0.0"), app.NewTemplate.Version)
	assert.Empty(t, plan.Satisfied)
}

func TestPlanSatisfiedRequirement(t *testing.T) {
	planner := upgrade.NewPlanner(build(t, shopBuilder(2)), catalogue(t))
	plan, err := planner.Plan(context.Background(), shop2("ubuntu_os", ">=18.04", "tomcat_server", ">=8"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0", "app/shop-2@2.0.0"}, ids(plan), "no platform step when every requirement holds")
	for _, s := range plan.Steps {
		assert.Empty(t, s.After)
	}
	require.Len(t, plan.Satisfied, 4)
	got := plan.Satisfied[0]
	assert.Equal(t, topology.NodeID("tomcat-1"), got.Node)
	assert.Equal(t, topology.TemplateID("tomcat_server"), got.Template)
	assert.Equal(t, v("8.5.100"), got.Version)
	assert.Equal(t, "shop_app@2.0.0 (shop) requires >=8", got.Demand.String())
	assert.Equal(t, topology.NodeID("vm-2"), plan.Satisfied[3].Node)
}

func TestPlanSharedServer(t *testing.T) {
	// Two shop instances on one Tomcat: one platform step, both after it.
	b := shopBuilder(1).Node("shop", topology.Node{ID: "shop-1b", Template: "shop_app", Relationships: on("tomcat-1")})
	plan, err := upgrade.NewPlanner(build(t, b), catalogue(t)).Plan(context.Background(), shop2("tomcat_server", "^9"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@9.0.98", "app/shop-1@2.0.0", "app/shop-1b@2.0.0"}, ids(plan))
	for _, s := range plan.Steps[1:] {
		assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@9.0.98"}, s.After)
	}
}

func TestPlanDependsOnFindsPlatformThroughOtherApplication(t *testing.T) {
	// The shop depends on a database that belongs to another application;
	// the requirement follows the relationship across applications and
	// down the hosting chain.
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.85")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server"}).
		Node("shop", topology.Node{ID: "shop-2", Template: "shop_app", Relationships: []topology.Relationship{
			{Relation: topology.HostedOn, Target: "tomcat-1"}, {Relation: topology.DependsOn, Target: "pg-1"}}}).
		Template("data", topology.Template{ID: "pg", Type: "postgres", Version: v("12.4")}).
		Template("data", topology.Template{ID: "db_os", Type: "ubuntu", Version: v("20.04")}).
		Node("data", topology.Node{ID: "dbvm", Template: "db_os"}).
		Node("data", topology.Node{ID: "pg-1", Template: "pg", Relationships: on("dbvm")})
	src := source(t, pkg("postgres", "15.2"), pkg("postgres", "16.1"), pkg("ubuntu", "22.04"))
	plan, err := upgrade.NewPlanner(build(t, b), src).Plan(context.Background(), shop2("pg", ">=15", "db_os", ">=22.04"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/dbvm@22.4.0", "platform/pg-1@16.1.0", "app/shop-2@2.0.0"}, ids(plan))
	pg, _ := plan.Step("platform/pg-1@16.1.0")
	assert.Equal(t, topology.AppID("data"), pg.App)
	assert.Equal(t, []upgrade.StepID{"platform/dbvm@22.4.0"}, pg.After, "the database comes after the OS beneath it")
}

func TestPlanPolicy(t *testing.T) {
	tests := []struct {
		name       string
		opts       []upgrade.Option
		constraint string
		want       string
	}{
		{"newest by default", nil, ">=9.0, <11", "10.1.34"},
		{"newest", []upgrade.Option{upgrade.WithPolicy(upgrade.Newest)}, ">=9.0, <11", "10.1.34"},
		{"nearest", []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)}, ">=9.0, <11", "9.0.85"},
		{"nearest within range", []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)}, ">=10", "10.1.18"},
		{"prerelease ignored", nil, ">=9", "11.0.2"},
		{"prerelease when asked for", nil, ">=12.0.0-0", "12.0.0-M1"},
	}
	src := source(t, pkg("tomcat", "9.0.85"), pkg("tomcat", "10.1.18"), pkg("tomcat", "10.1.34"), pkg("tomcat", "11.0.2"), pkg("tomcat", "12.0.0-M1"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src, tt.opts...).Plan(context.Background(), shop2("tomcat_server", tt.constraint))
			require.NoError(t, err)
			require.Equal(t, upgrade.Platform, plan.Steps[0].Kind)
			assert.Equal(t, v(tt.want), plan.Steps[0].To)
		})
	}
}

func TestPlanDowngrade(t *testing.T) {
	// tomcat-1 runs 11.0.2, above what shop 2.0 allows.
	b2 := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("11.0.2")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server"}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
	req := shop2("tomcat_server", ">=9.0, <11")

	_, err := upgrade.NewPlanner(build(t, b2), catalogue(t)).Plan(context.Background(), req)
	require.ErrorIs(t, err, upgrade.ErrDowngrade)
	var down *upgrade.DowngradeError
	require.ErrorAs(t, err, &down)
	assert.Equal(t, topology.NodeID("tomcat-1"), down.Node)
	assert.Equal(t, v("11.0.2"), down.Installed)
	assert.Equal(t, []version.Version{v("9.0.85"), v("9.0.98"), v("10.1.18"), v("10.1.34")}, down.Candidates)
	assert.Contains(t, err.Error(), `node "tomcat-1"`)
	assert.Contains(t, err.Error(), ">=9.0, <11")

	for _, tt := range []struct {
		policy upgrade.Policy
		want   string
	}{{upgrade.Newest, "10.1.34"}, {upgrade.Nearest, "10.1.34"}} {
		plan, err := upgrade.NewPlanner(build(t, b2), catalogue(t), upgrade.AllowDowngrades(), upgrade.WithPolicy(tt.policy)).Plan(context.Background(), req)
		require.NoError(t, err, tt.policy)
		assert.Equal(t, v("11.0.2"), plan.Steps[0].From)
		assert.Equal(t, v(tt.want), plan.Steps[0].To, tt.policy)
	}
}

func TestPlanErrors(t *testing.T) {
	ctx := context.Background()
	shop := build(t, shopBuilder(1))
	tests := []struct {
		name    string
		topo    topology.Topology
		src     pkgsource.Source
		req     upgrade.Request
		is      error
		mention []string
	}{
		{name: "unknown application", req: upgrade.Request{Application: "nope", Replaces: "shop_app", Template: shop2().Template},
			is: topology.ErrNotFound, mention: []string{`application "nope"`}},
		{name: "unknown replaced template", req: upgrade.Request{Application: "shop", Replaces: "nope", Template: shop2().Template},
			is: topology.ErrNotFound, mention: []string{"nope"}},
		{name: "required template not beneath", req: shop2("postgres", ">=15"),
			is: topology.ErrNotFound, mention: []string{`"postgres"`, `"shop-1"`}},
		{name: "no package satisfies", req: shop2("tomcat_server", ">=12"),
			is: upgrade.ErrNoPackage, mention: []string{`node "tomcat-1"`, ">=12", "11.0.2"}},
		{name: "no package of the type", src: source(t, pkg("jdk", "21.0.2")), req: shop2("tomcat_server", ">=9"),
			is: upgrade.ErrNoPackage, mention: []string{`node "tomcat-1"`, "available: none"}},
		{name: "source fails", src: pkgsource.SourceFunc(func(context.Context, string) ([]pkgsource.Package, error) {
			return nil, errors.New("repository offline")
		}), req: shop2("tomcat_server", ">=9"), is: nil, mention: []string{"tomcat", "repository offline"}},
		{name: "empty application", req: upgrade.Request{Replaces: "shop_app", Template: shop2().Template},
			is: upgrade.ErrInvalidRequest, mention: []string{"Application"}},
		{name: "empty replaces", req: upgrade.Request{Application: "shop", Template: shop2().Template},
			is: upgrade.ErrInvalidRequest, mention: []string{"Replaces"}},
		{name: "template without ID", req: upgrade.Request{Application: "shop", Replaces: "shop_app", Template: topology.Template{Version: v("2.0.0")}},
			is: upgrade.ErrInvalidRequest, mention: []string{"Template.ID"}},
		{name: "template without version", req: upgrade.Request{Application: "shop", Replaces: "shop_app", Template: topology.Template{ID: "shop_app"}},
			is: upgrade.ErrInvalidRequest, mention: []string{"Template.Version", `"shop_app"`}},
		{name: "requirement without template", req: shop2("", ">=1"),
			is: upgrade.ErrInvalidRequest, mention: []string{"Template.Requirements[0].Template"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, src := tt.topo, tt.src
			if topo == nil {
				topo = shop
			}
			if src == nil {
				src = catalogue(t)
			}
			plan, err := upgrade.NewPlanner(topo, src).Plan(ctx, tt.req)
			require.Error(t, err)
			assert.Nil(t, plan)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			for _, m := range tt.mention {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestPlanErrorTypes(t *testing.T) {
	ctx := context.Background()
	shop := build(t, shopBuilder(1))

	_, err := upgrade.NewPlanner(shop, catalogue(t)).Plan(ctx, shop2("postgres", ">=15"))
	var missing *upgrade.MissingNodeError
	require.ErrorAs(t, err, &missing)
	assert.Equal(t, upgrade.MissingNodeError{App: "shop", Template: "postgres", Beneath: "shop-1"}, *missing)

	_, err = upgrade.NewPlanner(shop, catalogue(t)).Plan(ctx, shop2("tomcat_server", ">=12"))
	var none *upgrade.NoPackageError
	require.ErrorAs(t, err, &none)
	assert.Equal(t, topology.NodeID("tomcat-1"), none.Node)
	assert.Equal(t, "tomcat", none.Type)
	assert.Equal(t, v("8.5.100"), none.Installed)
	assert.Len(t, none.Considered, 5)
	require.Len(t, none.Demands, 1)
	assert.Equal(t, "shop_app@2.0.0 (shop)", none.Demands[0].Source())

	_, err = upgrade.NewPlanner(shop, catalogue(t)).Plan(ctx, upgrade.Request{Application: "shop", Template: shop2().Template})
	var bad *upgrade.RequestError
	require.ErrorAs(t, err, &bad)
	assert.Equal(t, "Replaces", bad.Field)

	// An application whose replaced template has no node.
	empty := build(t, new(topology.Builder).Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0")}))
	_, err = upgrade.NewPlanner(empty, catalogue(t)).Plan(ctx, shop2())
	require.ErrorAs(t, err, &missing)
	assert.Equal(t, upgrade.MissingNodeError{App: "shop", Template: "shop_app"}, *missing)
}

func TestPlanCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(ctx, shop2("tomcat_server", ">=9"))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestPlanDoesNotChangeRequest(t *testing.T) {
	req := shop2("tomcat_server", ">=9", "java_runtime", ">=11")
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), req)
	require.NoError(t, err)
	app := plan.Steps[len(plan.Steps)-1]
	app.NewTemplate.Requirements[0].Template = "changed"
	plan.Requests[0].Template.ID = "changed"
	assert.Equal(t, topology.TemplateID("tomcat_server"), req.Template.Requirements[0].Template, "the plan holds copies")
	assert.Equal(t, topology.TemplateID("shop_app"), req.Template.ID)
}

func TestPlanDeterministic(t *testing.T) {
	req := shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=11", "ubuntu_os", ">=18")
	want, err := upgrade.NewPlanner(build(t, shopBuilder(4)), catalogue(t)).Plan(context.Background(), req)
	require.NoError(t, err)
	all := map[string][]pkgsource.Package{}
	for _, typ := range []string{"tomcat", "jdk"} {
		all[typ], err = catalogue(t).Packages(context.Background(), typ)
		require.NoError(t, err)
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		shuffled := pkgsource.SourceFunc(func(_ context.Context, typ string) ([]pkgsource.Package, error) {
			ps := append([]pkgsource.Package(nil), all[typ]...)
			rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
			return ps, nil
		})
		got, err := upgrade.NewPlanner(build(t, shopBuilder(4)), shuffled).Plan(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, want, got, "seed %d", seed)
		require.Equal(t, want.String(), got.String())
	}
}

// sharedTopology hands out what it holds, as a Topology may, for the
// caller to read. Its nodes leave Version unset, and those of its
// applications App too, as a host's inventory may: the planner fills them
// in on copies.
type sharedTopology struct {
	*topology.Memory
	apps  map[topology.AppID]*topology.Application
	nodes map[topology.NodeID]*topology.Node
}

// newSharedTopology returns the sharedTopology of m's applications.
func newSharedTopology(m *topology.Memory) sharedTopology {
	s := sharedTopology{Memory: m, apps: map[topology.AppID]*topology.Application{}, nodes: map[topology.NodeID]*topology.Node{}}
	for _, a := range m.Applications() { // copies
		for i := range a.Nodes {
			n := a.Nodes[i] // Node sets App
			n.Version = version.Version{}
			s.nodes[n.ID] = &n
			a.Nodes[i].App, a.Nodes[i].Version = "", version.Version{}
		}
		s.apps[a.ID] = &a
	}
	return s
}

func (s sharedTopology) Application(_ context.Context, id topology.AppID) (*topology.Application, error) {
	return s.apps[id], nil
}

func (s sharedTopology) Node(_ context.Context, id topology.NodeID) (*topology.Node, error) {
	return s.nodes[id], nil
}

func TestPlanLeavesTopologyAlone(t *testing.T) {
	ctx := context.Background()
	shop := build(t, shopBuilder(2))
	topo := newSharedTopology(shop)
	req := shop2("tomcat_server", ">=10", "java_runtime", ">=17")

	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(ctx, req)
	require.NoError(t, err)
	want, err := upgrade.NewPlanner(shop, catalogue(t)).Plan(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, want, plan, "App and Version filled in as Memory fills them in")
	pristine := newSharedTopology(shop)
	assert.Equal(t, pristine.apps, topo.apps, "the topology's applications are not changed")
	assert.Equal(t, pristine.nodes, topo.nodes, "the topology's nodes are not changed")
}

// A request's template may have any number of requirements (the planner
// once packed a request's and a requirement's index into one int, and
// refused templates with 2^20 or more): the last of many still binds.
func TestPlanTakesManyRequirements(t *testing.T) {
	const n = 5000
	req := shop2()
	req.Template.Requirements = make([]topology.Requirement, n)
	for i := range req.Template.Requirements {
		req.Template.Requirements[i] = topology.Requirement{Template: "tomcat_server", Constraint: c(">=9")}
	}
	req.Template.Requirements[n-1].Constraint = c(">=10, <11")
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), req)
	require.NoError(t, err)
	s, ok := plan.Step("platform/tomcat-1@10.1.34")
	require.True(t, ok, "the last requirement, >=10, <11, rules out 11.0.2: %v", ids(plan))
	demands := decided(t, plan, s.Node).Demands
	require.Len(t, demands, n)
	assert.Equal(t, ">=10, <11", demands[n-1].Constraint.String())
}
