package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
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

// scCharm is a Juju-like model: charm app-1 runs on machine-1 and depends
// on database pg-1 (postgres 12.4), which runs on machine-db.
func scCharm() *topology.Builder {
	return new(topology.Builder).
		Template("model", topology.Template{ID: "app_charm", Type: "charm", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "pg_charm", Constraint: c(">=12")}}}).
		Template("model", topology.Template{ID: "pg_charm", Type: "postgres", Version: v("12.4.0")}).
		Template("model", topology.Template{ID: "machine", Type: "ubuntu", Version: v("20.04")}).
		Node("model", topology.Node{ID: "machine-1", Template: "machine"}).
		Node("model", topology.Node{ID: "machine-db", Template: "machine"}).
		Node("model", topology.Node{ID: "pg-1", Template: "pg_charm", Relationships: on("machine-db")}).
		Node("model", topology.Node{ID: "app-1", Template: "app_charm", Relationships: []topology.Relationship{
			{Relation: topology.HostedOn, Target: "machine-1"}, {Relation: topology.DependsOn, Target: "pg-1"}}})
}

func scCharmRequest(pairs ...string) upgrade.Request {
	r := upgrade.Request{Application: "model", Replaces: "app_charm",
		Template: topology.Template{ID: "app_charm", Type: "charm", Version: v("2.0.0")}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.Template.Requirements = append(r.Template.Requirements,
			topology.Requirement{Template: topology.TemplateID(pairs[i]), Constraint: c(pairs[i+1])})
	}
	return r
}

// scPostgres offers major upgrades one major at a time, as pg_upgrade
// runs are planned: each major from the one before it.
func scPostgres(t testing.TB) *pkgsource.Memory {
	return source(t,
		from(pkg("postgres", "12.18.0"), "12.x"),
		from(pkg("postgres", "13.14.0"), "12.x"),
		from(pkg("postgres", "14.11.0"), "13.x"),
		from(pkg("postgres", "15.6.0"), "14.x"),
		from(pkg("postgres", "16.2.0"), "15.x"))
}

func TestScenarioPostgresMajorChain(t *testing.T) {
	for _, tt := range []struct {
		name   string
		policy upgrade.Policy
		want   []upgrade.StepID
	}{
		{"newest", upgrade.Newest, []upgrade.StepID{"platform/pg-1@13.14.0", "platform/pg-1@14.11.0", "platform/pg-1@15.6.0", "platform/pg-1@16.2.0", "app/app-1@2.0.0"}},
		{"nearest", upgrade.Nearest, []upgrade.StepID{"platform/pg-1@13.14.0", "platform/pg-1@14.11.0", "platform/pg-1@15.6.0", "app/app-1@2.0.0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topo := build(t, scCharm())
			req := scCharmRequest("pg_charm", ">=15")
			plan, err := upgrade.NewPlanner(topo, scPostgres(t), upgrade.WithPolicy(tt.policy)).Plan(t.Context(), req)
			require.NoError(t, err)
			requireTopological(t, plan)
			assert.Equal(t, tt.want, ids(plan))
			for i := 1; i < len(plan.Steps)-1; i++ {
				assert.Equal(t, []upgrade.StepID{plan.Steps[i-1].ID}, plan.Steps[i].After)
				assert.Equal(t, plan.Steps[i-1].To, plan.Steps[i].From)
			}
			app := plan.Steps[len(plan.Steps)-1]
			assert.Equal(t, []upgrade.StepID{plan.Steps[len(plan.Steps)-2].ID}, app.After, "the charm waits for the last hop of the database it depends on")

			// Re-planning after each hop gives the rest, with the same IDs,
			// until the database meets the requirement: from there on it
			// is a satisfied check, and only the charm is left.
			for done := 1; done < len(plan.Steps); done++ {
				after := cvApply(t, topo, plan, ids(plan)[:done])
				again, err := upgrade.NewPlanner(after, scPostgres(t), upgrade.WithPolicy(tt.policy)).Plan(t.Context(), req)
				require.NoError(t, err)
				want := ids(plan)[done:]
				if plan.Steps[done-1].Kind == upgrade.Platform && c(">=15").Allows(plan.Steps[done-1].To) {
					want = want[len(want)-1:]
				}
				assert.Equal(t, want, ids(again), "after %d steps", done)
			}
		})
	}
}

// scKube is a Helm-like release: chart-1 runs on cluster node k8s-1
// (Kubernetes 1.26.3).
func scKube() *topology.Builder {
	return new(topology.Builder).
		Template("web", topology.Template{ID: "web_chart", Type: "helm", Version: v("1.0.0")}).
		Template("web", topology.Template{ID: "k8s", Type: "kubernetes", Version: v("1.26.3")}).
		Node("web", topology.Node{ID: "k8s-1", Template: "k8s"}).
		Node("web", topology.Node{ID: "chart-1", Template: "web_chart", Relationships: on("k8s-1")})
}

func TestScenarioKubernetesOneMinorAtATime(t *testing.T) {
	src := source(t, pkg("kubernetes", "1.27.0"), pkg("kubernetes", "1.27.5"), pkg("kubernetes", "1.28.2"), pkg("kubernetes", "1.28.9"),
		pkg("kubernetes", "1.29.1"), pkg("kubernetes", "1.29.4"), pkg("kubernetes", "1.30.0"))
	req := upgrade.Request{Application: "web", Replaces: "web_chart", Template: topology.Template{ID: "web_chart", Type: "helm", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "k8s", Constraint: c(">=1.29")}}}}
	for _, tt := range []struct {
		policy upgrade.Policy
		want   []string
	}{
		{upgrade.Newest, []string{"1.27.5", "1.28.9", "1.29.4", "1.30.0"}},
		{upgrade.Nearest, []string{"1.27.5", "1.28.9", "1.29.1"}},
		{upgrade.LatestPatch, []string{"1.27.5", "1.28.9", "1.29.4"}},
	} {
		plan, err := upgrade.NewPlanner(build(t, scKube()), src, upgrade.WithMaxMinorStep(1), upgrade.WithPolicy(tt.policy)).Plan(t.Context(), req)
		require.NoError(t, err, tt.policy)
		requireTopological(t, plan)
		var got []string
		for _, s := range plan.Steps {
			if s.Kind == upgrade.Platform {
				got = append(got, s.To.String())
			}
		}
		assert.Equal(t, tt.want, got, tt.policy)
	}
}

// TestScenarioRuntimeOSAndDatabase: one template needs a newer runtime, OS
// and database, the database's own OS by its package: each stack is
// upgraded bottom up, and the shop waits for the top of each.
func TestScenarioRuntimeOSAndDatabase(t *testing.T) {
	b := shopBuilder(0).
		Template("shop", topology.Template{ID: "pg", Type: "postgres", Version: v("12.4.0")}).
		Template("shop", topology.Template{ID: "db_os", Type: "rhel", Version: v("8.6")}).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("java-1")}).
		Node("shop", topology.Node{ID: "dbvm", Template: "db_os"}).
		Node("shop", topology.Node{ID: "pg-1", Template: "pg", Relationships: on("dbvm")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{
			{Relation: topology.HostedOn, Target: "tomcat-1"}, {Relation: topology.DependsOn, Target: "pg-1"}}})
	src := source(t, pkg("jdk", "17.0.10"), pkg("jdk", "21.0.2"), pkg("ubuntu", "22.04"), pkg("ubuntu", "24.04"),
		requires(pkg("postgres", "15.6"), "rhel", ">=9"), pkg("rhel", "9.3"))
	req := shop2("java_runtime", ">=17, <21", "ubuntu_os", ">=22.04, <24", "pg", ">=15")
	plan, err := upgrade.NewPlanner(build(t, b), src).Plan(t.Context(), req)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/dbvm@9.3.0", "platform/pg-1@15.6.0", "platform/vm-1@22.4.0", "platform/java-1@17.0.10", "app/shop-1@2.0.0"}, ids(plan))
	app, _ := plan.Step("app/shop-1@2.0.0")
	assert.Equal(t, []upgrade.StepID{"platform/java-1@17.0.10", "platform/pg-1@15.6.0"}, app.After)
	pg, _ := plan.Step("platform/pg-1@15.6.0")
	assert.Equal(t, []upgrade.StepID{"platform/dbvm@9.3.0"}, pg.After, "the database waits for its own OS only")
	java, _ := plan.Step("platform/java-1@17.0.10")
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0"}, java.After)
	require.Len(t, plan.Satisfied, 0)
}

// TestScenarioBatchSharesRuntime plans two applications whose servers run
// on one JDK: one step, to a version both allow; or a *ConflictError that
// names both requests when none does.
func TestScenarioBatchSharesRuntime(t *testing.T) {
	b := shopBuilder(1).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0")}).
		Template("billing", topology.Template{ID: "billing_tomcat", Type: "tomcat", Version: v("9.0.85")}).
		Node("billing", topology.Node{ID: "tomcat-b", Template: "billing_tomcat", Relationships: on("java-1")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-b")})
	billing := func(constraint string) upgrade.Request {
		return upgrade.Request{Application: "billing", Replaces: "billing_app", Template: topology.Template{ID: "billing_app", Type: "webapp", Version: v("4.0.0"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(constraint)}}}}
	}
	topo := build(t, b)
	plan, err := planBothWays(t, topo, catalogue(t), shop2("java_runtime", ">=11"), billing("<21"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/java-1@17.0.10", "app/billing-1@4.0.0", "app/shop-1@2.0.0"}, ids(plan))
	for _, s := range plan.Steps[1:] {
		assert.Equal(t, []upgrade.StepID{"platform/java-1@17.0.10"}, s.After, s.ID)
	}
	assert.Len(t, decided(t, plan, "java-1").Demands, 2)

	_, err = upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), shop2("java_runtime", ">=21"), billing("<17"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("java-1"), ce.Node)
	assert.ErrorContains(t, err, "shop_app@2.0.0 (shop) requires >=21")
	assert.ErrorContains(t, err, "billing_app@4.0.0 (billing) requires <17")
	assert.Equal(t, versions("21.0.2"), ce.Tried)
}

// TestScenarioDiamond: the shop depends on an API and a worker that run on
// one VM; the VM gets one step, which the shop waits for.
func TestScenarioDiamond(t *testing.T) {
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0.0")}).
		Template("shop", topology.Template{ID: "api", Type: "svc", Version: v("1.0.0")}).
		Template("shop", topology.Template{ID: "worker", Type: "svc", Version: v("1.0.0")}).
		Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "api-1", Template: "api", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "worker-1", Template: "worker", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{
			{Relation: topology.DependsOn, Target: "api-1"}, {Relation: topology.DependsOn, Target: "worker-1"}}})
	plan, err := upgrade.NewPlanner(build(t, b), source(t, pkg("ubuntu", "22.04"))).Plan(t.Context(), shop2("ubuntu_os", ">=22.04"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0", "app/shop-1@2.0.0"}, ids(plan))
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0"}, plan.Steps[1].After)
	require.Len(t, decided(t, plan, "vm-1").Demands, 1, "one demand, though two ways lead to the VM")
}

// TestScenarioNoRelationship: an application node with no relationship at
// all gets its step; a requirement it cannot meet names it.
func TestScenarioNoRelationship(t *testing.T) {
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0.0")}).
		Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app"})
	plan, err := upgrade.NewPlanner(build(t, b), source(t)).Plan(t.Context(), shop2())
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0"}, ids(plan))
	assert.Empty(t, plan.Steps[0].After)

	_, err = upgrade.NewPlanner(build(t, b), source(t, pkg("ubuntu", "22.04"))).Plan(t.Context(), shop2("ubuntu_os", ">=22.04"))
	require.ErrorIs(t, err, topology.ErrNotFound)
	me, ok := errors.AsType[*upgrade.MissingNodeError](err)
	require.True(t, ok, err)
	assert.Equal(t, upgrade.MissingNodeError{App: "shop", Template: "ubuntu_os", Beneath: "shop-1"}, *me)
}

func TestScenarioConstraintForms(t *testing.T) {
	for _, tt := range []struct {
		constraint      string
		newest, nearest string
	}{
		{"~9.0", "9.0.98", "9.0.85"},
		{"^10", "10.1.34", "10.1.18"},
		{"10.x", "10.1.34", "10.1.18"},
		{"10.1.*", "10.1.34", "10.1.18"},
		{">=9, !=10.1.34, <11", "10.1.18", "9.0.85"},
		{"9.0.x || >=11", "11.0.2", "9.0.85"},
		{">=10 <10.1.30 || ~9.0.90", "10.1.18", "9.0.98"},
		{"~>10.1.20", "10.1.34", "10.1.34"},
		{">= 9.0.90, < 10", "9.0.98", "9.0.98"},
		{"=11.0.2", "11.0.2", "11.0.2"},
		{"11", "11.0.2", "11.0.2"},
	} {
		for policy, want := range map[upgrade.Policy]string{upgrade.Newest: tt.newest, upgrade.Nearest: tt.nearest} {
			plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t), upgrade.WithPolicy(policy)).Plan(t.Context(), shop2("tomcat_server", tt.constraint))
			require.NoError(t, err, "%s %s", tt.constraint, policy)
			assert.Equal(t, want, plan.Steps[0].To.String(), "%s %s", tt.constraint, policy)
		}
	}
}

// TestScenarioDowngrades: a Tomcat above the requirement is refused unless
// downgrades are allowed, and then goes to the highest version below it
// that meets the requirement, whatever the policy; a package that does not
// install over it is no way down.
func TestScenarioDowngrades(t *testing.T) {
	b := shopBuilder(0).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Version: v("11.0.2")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
	for _, policy := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
		_, err := upgrade.NewPlanner(build(t, b), catalogue(t), upgrade.WithPolicy(policy)).Plan(t.Context(), shop2("tomcat_server", "^9 || ^10"))
		require.ErrorIs(t, err, upgrade.ErrDowngrade, policy)
		plan, err := upgrade.NewPlanner(build(t, b), catalogue(t), upgrade.WithPolicy(policy), upgrade.AllowDowngrades()).Plan(t.Context(), shop2("tomcat_server", "^9 || ^10"))
		require.NoError(t, err, policy)
		assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan), policy)
	}
	src := source(t, from(pkg("tomcat", "10.1.34"), "<11"), pkg("tomcat", "9.0.98"))
	plan, err := upgrade.NewPlanner(build(t, b), src, upgrade.AllowDowngrades()).Plan(t.Context(), shop2("tomcat_server", "<11"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@9.0.98", "app/shop-1@2.0.0"}, ids(plan), "10.1.34 does not install over 11.0.2")
}

// shuffledTopology lists applications' nodes and nodes' dependents in an
// order drawn from rng.
type shuffledTopology struct {
	*topology.Memory
	rng *rand.Rand
}

func (s shuffledTopology) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	a, err := s.Memory.Application(ctx, id)
	if err != nil {
		return nil, err
	}
	c := *a
	c.Nodes = shuffled(s.rng, a.Nodes)
	c.Templates = shuffled(s.rng, a.Templates)
	return &c, nil
}

func (s shuffledTopology) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	d, err := s.Memory.Dependents(ctx, id)
	return shuffled(s.rng, d), err
}

func (s shuffledTopology) AppDependents(ctx context.Context, app topology.AppID) (map[topology.NodeID][]topology.Dependent, error) {
	byNode, err := s.Memory.AppDependents(ctx, app)
	return eachList(byNode, func(d []topology.Dependent) []topology.Dependent { return shuffled(s.rng, d) }), err
}

// eachList returns what f makes of each list of byNode, called in the
// order of the node IDs (f may draw from a random source in turn).
func eachList(byNode map[topology.NodeID][]topology.Dependent,
	f func([]topology.Dependent) []topology.Dependent) map[topology.NodeID][]topology.Dependent {
	out := make(map[topology.NodeID][]topology.Dependent, len(byNode))
	for _, id := range slices.Sorted(maps.Keys(byNode)) {
		out[id] = f(byNode[id])
	}
	return out
}

type shuffledAbove struct{ shuffledTopology }

func (s shuffledAbove) Above(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	d, err := s.Memory.Above(ctx, id)
	return shuffled(s.rng, d), err
}

// TestScenarioDeterministicWhateverTheOrder plans a fleet with co-tenants,
// a package's requirement and a batch from topologies and sources that
// list things in different orders: the JSON is byte for byte the same,
// and so the ID.
func TestScenarioDeterministicWhateverTheOrder(t *testing.T) {
	b := withBilling(shopBuilder(4), "<11")
	b.Node("billing", topology.Node{ID: "billing-2", Template: "billing_app", Relationships: on("tomcat-2")}).
		Template("crm", topology.Template{ID: "crm_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}).
		Node("crm", topology.Node{ID: "crm-1", Template: "crm_app", Relationships: on("tomcat-3")})
	mem := build(t, b)
	all := map[string][]pkgsource.Package{
		"tomcat": {pkg("tomcat", "9.0.85"), pkg("tomcat", "9.0.98"), from(pkg("tomcat", "10.1.18"), ">=9"), requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), pkg("tomcat", "11.0.2")},
		"jdk":    {pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"), pkg("jdk", "21.0.2")},
		"ubuntu": {pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04")},
	}
	reqs := []upgrade.Request{shop2("tomcat_server", ">=10", "ubuntu_os", ">=20.04"), billing2(">=9")}
	var want []byte
	var wantID string
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 7))
		src := pkgsource.SourceFunc(func(_ context.Context, typ string) ([]pkgsource.Package, error) {
			return shuffled(rng, all[typ]), nil
		})
		var topo topology.Topology = shuffledTopology{mem, rng}
		if seed%2 == 1 {
			topo = shuffledAbove{shuffledTopology{mem, rng}}
		}
		plan, err := upgrade.NewPlanner(topo, src).PlanAll(t.Context(), reqs...)
		require.NoError(t, err, seed)
		var buf bytes.Buffer
		require.NoError(t, plan.WriteJSON(&buf))
		if want == nil {
			want, wantID = buf.Bytes(), plan.ID
			continue
		}
		require.Equal(t, string(want), buf.String(), "seed %d", seed)
		require.Equal(t, wantID, plan.ID)
	}
}

// scBosh is a BOSH-like director: the VMs vm-<d>-<i> of every deployment
// run stemcell ubuntu_stemcell 1.351 (held by application "stemcells"),
// each deployment's job instances job-<d>-<i> run on them, and a
// node_exporter add-on of application "addons", which requires stemcells
// below 1.500, runs on the VMs of the deployments listed in exported.
func scBosh(deployments []string, instances int, exported ...string) *topology.Builder {
	b := new(topology.Builder).
		Template("stemcells", topology.Template{ID: "ubuntu_stemcell", Type: "stemcell", Version: v("1.351")}).
		Template("addons", topology.Template{ID: "node_exporter", Type: "addon", Version: v("1.7.0"),
			Requirements: []topology.Requirement{{Template: "ubuntu_stemcell", Constraint: c("<1.500")}}})
	for _, d := range deployments {
		b.Template(topology.AppID(d), topology.Template{ID: topology.TemplateID(d + "_job"), Type: "job", Version: v("1.0.0")})
		for i := 1; i <= instances; i++ {
			vm := topology.NodeID(fmt.Sprintf("vm-%s-%d", d, i))
			b.Node("stemcells", topology.Node{ID: vm, Template: "ubuntu_stemcell"}).
				Node(topology.AppID(d), topology.Node{ID: topology.NodeID(fmt.Sprintf("job-%s-%d", d, i)), Template: topology.TemplateID(d + "_job"), Relationships: on(vm)})
			if slices.Contains(exported, d) {
				b.Node("addons", topology.Node{ID: topology.NodeID(fmt.Sprintf("exporter-%s-%d", d, i)), Template: "node_exporter", Relationships: on(vm)})
			}
		}
	}
	return b
}

func TestScenarioBoshStemcellUnderManyDeployments(t *testing.T) {
	deployments := []string{"cf", "redis", "mysql"}
	topo := build(t, scBosh(deployments, 3, "redis"))
	src := source(t, pkg("stemcell", "1.406"), pkg("stemcell", "1.445"), pkg("stemcell", "1.506"))
	var reqs []upgrade.Request
	for _, d := range deployments {
		reqs = append(reqs, upgrade.Request{Application: topology.AppID(d), Replaces: topology.TemplateID(d + "_job"),
			Template: topology.Template{ID: topology.TemplateID(d + "_job"), Type: "job", Version: v("2.0.0"),
				Requirements: []topology.Requirement{{Template: "ubuntu_stemcell", Constraint: c(">=1.406")}}}})
	}
	plan, err := upgrade.NewPlanner(topo, src).PlanAll(t.Context(), reqs...)
	require.NoError(t, err)
	requireTopological(t, plan)
	require.Len(t, plan.Steps, 18)
	for _, s := range plan.Steps {
		switch s.Kind {
		case upgrade.Platform:
			want := "1.506"
			if strings.HasPrefix(string(s.Node), "vm-redis-") {
				want = "1.445" // the exporters there require below 1.500
			}
			assert.Equal(t, want, s.To.String(), s.Node)
			assert.Equal(t, topology.AppID("stemcells"), s.App)
		case upgrade.Application:
			vm := "vm-" + strings.TrimPrefix(string(s.Node), "job-")
			require.Len(t, s.After, 1, s.ID)
			assert.True(t, strings.HasPrefix(string(s.After[0]), "platform/"+vm+"@"), "%s after %v", s.ID, s.After)
		}
	}

	// The director's own view: the stemcell template itself replaced.
	// The exporters forbid 1.506 on the VMs they run on.
	stemcell := upgrade.Request{Application: "stemcells", Replaces: "ubuntu_stemcell",
		Template: topology.Template{ID: "ubuntu_stemcell", Type: "stemcell", Version: v("1.506")}}
	_, err = upgrade.NewPlanner(topo, src).Plan(t.Context(), stemcell)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("vm-redis-1"), ce.Node)
	assert.Equal(t, []upgrade.Demand{{App: "addons", Node: "exporter-redis-1", Template: "node_exporter", Constraint: c("<1.500")}}, ce.Blocking)
	stemcell.Template.Version = v("1.445")
	plan, err = upgrade.NewPlanner(topo, src).Plan(t.Context(), stemcell)
	require.NoError(t, err)
	assert.Len(t, plan.Steps, 9)
}

// which billing-1 does not allow: it requires java_runtime below 17 and
// stands on tomcat-1 (one or two nodes above java-1), or on a Tomcat of
// its own on java-1. 9.0.98 needs nothing. The Tomcat looks ahead at what
// its package would ask of the Java beneath, co-tenants further up
// included, and takes 9.0.98 rather than fail on the Java.
func TestScenarioLookAheadSeesCotenantsAbove(t *testing.T) {
	src := source(t, pkg("tomcat", "9.0.98"), requires(pkg("tomcat", "10.1.34"), "jdk", ">=17"), pkg("jdk", "17.0.10"))
	ownTomcat := withBilling(shopBuilder(1), ">=8").
		Template("billing", topology.Template{ID: "billing_tomcat", Type: "tomcat", Version: v("9.0.85")}).
		Template("billing", topology.Template{ID: "billing_web", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}).
		Node("billing", topology.Node{ID: "tomcat-b", Template: "billing_tomcat", Relationships: on("java-1")}).
		Node("billing", topology.Node{ID: "web-1", Template: "billing_web", Relationships: on("tomcat-b")})
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		for name, b := range map[string]*topology.Builder{
			"on tomcat-1":        billingAbove(shopBuilder(1), 1, "<17"),
			"above tomcat-1":     billingAbove(shopBuilder(1), 2, "<17"),
			"on a Tomcat of its": ownTomcat,
		} {
			plan, err := upgrade.NewPlanner(topo(build(t, b)), src).Plan(t.Context(), shop2("tomcat_server", ">=9"))
			require.NoError(t, err, name)
			assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@9.0.98", "app/shop-1@2.0.0"}, ids(plan), name)
			assert.Contains(t, decided(t, plan, "tomcat-1").Candidates[0].Rejected, "requires jdk >=17, which the co-tenants of node java-1 do not allow: node ", name)
		}
	})
}

// TestScenarioSharedDatabaseCotenant: a second charm, of another model,
// depends on the same database and requires it below 16: the chain stops
// at 15; when it also rules out 14.11.0, on the way, no path is left, and
// the error names it.
func TestScenarioSharedDatabaseCotenant(t *testing.T) {
	other := func(constraint string) *topology.Builder {
		return scCharm().
			Template("reports", topology.Template{ID: "reports_charm", Type: "charm", Version: v("3.0.0"),
				Requirements: []topology.Requirement{{Template: "pg_charm", Constraint: c(constraint)}}}).
			Node("reports", topology.Node{ID: "reports-1", Template: "reports_charm", Relationships: []topology.Relationship{
				{Relation: topology.DependsOn, Target: "pg-1"}}})
	}
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		plan, err := upgrade.NewPlanner(topo(build(t, other("<16"))), scPostgres(t)).Plan(t.Context(), scCharmRequest("pg_charm", ">=14"))
		require.NoError(t, err)
		assert.Equal(t, []upgrade.StepID{"platform/pg-1@13.14.0", "platform/pg-1@14.11.0", "platform/pg-1@15.6.0", "app/app-1@2.0.0"}, ids(plan))
		assert.Contains(t, decided(t, plan, "pg-1").Candidates, upgrade.Candidate{Version: v("16.2.0"),
			Rejected: "not allowed by co-tenant node reports-1 (reports) requires <16"})

		_, err = upgrade.NewPlanner(topo(build(t, other("<16, !=14.11.0"))), scPostgres(t)).Plan(t.Context(), scCharmRequest("pg_charm", ">=15"))
		require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
		np, ok := errors.AsType[*upgrade.NoPathError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("pg-1"), np.Node)
		assert.Equal(t, v("13.14.0"), np.Furthest)
		assert.Equal(t, []upgrade.Demand{{App: "reports", Node: "reports-1", Template: "reports_charm", Constraint: c("<16, !=14.11.0")}}, np.Blocking)
	})
}

// TestScenarioReplanConvergesAfterEveryPrefix runs the Java shop's plan
// (runtime, OS and database, a chain, a package's own requirement, a
// co-tenant) step by step: planning again after any prefix of the steps
// gives only steps of the rest, with the same IDs, and after all of them
// none.
func TestScenarioReplanConvergesAfterEveryPrefix(t *testing.T) {
	b := shopBuilder(0).
		Template("shop", topology.Template{ID: "pg", Type: "postgres", Version: v("12.4.0")}).
		Template("shop", topology.Template{ID: "db_os", Type: "rhel", Version: v("8.6")}).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("java-1")}).
		Node("shop", topology.Node{ID: "dbvm", Template: "db_os"}).
		Node("shop", topology.Node{ID: "pg-1", Template: "pg", Relationships: on("dbvm")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{
			{Relation: topology.HostedOn, Target: "tomcat-1"}, {Relation: topology.DependsOn, Target: "pg-1"}}})
	b = withBilling(b, "<11")
	src := source(t, requires(pkg("tomcat", "10.1.34"), "jdk", ">=17"), pkg("tomcat", "11.0.2"),
		pkg("jdk", "17.0.10"), pkg("jdk", "21.0.2"), pkg("ubuntu", "22.04"),
		from(pkg("postgres", "13.14.0"), "12.x"), from(pkg("postgres", "14.11.0"), "13.x"),
		from(requires(pkg("postgres", "15.6.0"), "rhel", ">=9"), "14.x"), pkg("rhel", "9.3"))
	req := shop2("tomcat_server", ">=10", "ubuntu_os", ">=22.04", "pg", ">=15")
	topo := build(t, b)
	plan, err := upgrade.NewPlanner(topo, src).Plan(t.Context(), req)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.ElementsMatch(t, []upgrade.StepID{"platform/vm-1@22.4.0", "platform/java-1@21.0.2", "platform/tomcat-1@10.1.34",
		"platform/dbvm@9.3.0", "platform/pg-1@13.14.0", "platform/pg-1@14.11.0", "platform/pg-1@15.6.0", "app/shop-1@2.0.0"}, ids(plan))
	all := ids(plan)
	for done := 0; done <= len(all); done++ {
		again, err := upgrade.NewPlanner(cvApply(t, topo, plan, all[:done]), src).Plan(t.Context(), req)
		require.NoError(t, err, "after %d steps", done)
		assert.Subset(t, all[done:], ids(again), "after %d steps", done)
		if done == len(all) {
			assert.Empty(t, again.Steps)
			assert.Empty(t, again.Warnings)
		}
	}
}

// TestScenarioLookAheadRefusesHostileDependent: looking ahead from the
// Tomcat at the Java beneath walks up the Java's other server, whose
// dependent has a hostile ID: the plan fails, and the ID never goes back
// to the topology.
func TestScenarioLookAheadRefusesHostileDependent(t *testing.T) {
	const hostile = "web-1;reboot"
	b := shopBuilder(1).
		Template("billing", topology.Template{ID: "billing_tomcat", Type: "tomcat", Version: v("9.0.85")}).
		Template("billing", topology.Template{ID: "billing_web", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}).
		Node("billing", topology.Node{ID: "tomcat-b", Template: "billing_tomcat", Relationships: on("java-1")}).
		Node("billing", topology.Node{ID: "web-1", Template: "billing_web", Relationships: on("tomcat-b")})
	var asked []topology.NodeID
	topo := &hostileTopology{Topology: build(t, b), dependents: func(ds []topology.Dependent) {
		for i := range ds {
			if ds[i].Node == "web-1" {
				ds[i].Node = hostile
			}
		}
	}}
	src := source(t, pkg("tomcat", "9.0.98"), requires(pkg("tomcat", "10.1.34"), "jdk", ">=17"), pkg("jdk", "17.0.10"))
	plan, err := upgrade.NewPlanner(&recordingTopology{Topology: topo, asked: &asked}, src).Plan(t.Context(), shop2("tomcat_server", ">=9"))
	assert.Nil(t, plan)
	require.ErrorIs(t, err, topology.ErrInvalidID)
	assert.ErrorContains(t, err, `dependent #1 of node "tomcat-b"`)
	assert.NotContains(t, asked, topology.NodeID(hostile))
}

// TestScenarioBatchConflictMetByInstalled: two requests share java-1, one
// needing 21 and the other below 17, which the installed 8 is: no version
// does both, and the error says so, naming both requests, whatever their
// order, though no package is below 17.
func TestScenarioBatchConflictMetByInstalled(t *testing.T) {
	b := shopBuilder(1).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0")}).
		Template("billing", topology.Template{ID: "billing_tomcat", Type: "tomcat", Version: v("9.0.85")}).
		Node("billing", topology.Node{ID: "tomcat-b", Template: "billing_tomcat", Relationships: on("java-1")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-b")})
	billing := upgrade.Request{Application: "billing", Replaces: "billing_app", Template: topology.Template{ID: "billing_app", Type: "webapp", Version: v("4.0.0"),
		Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}}
	src := source(t, pkg("jdk", "17.0.10"), pkg("jdk", "21.0.2"))
	for _, tt := range []struct {
		reqs  []upgrade.Request
		tried string
	}{
		{[]upgrade.Request{shop2("java_runtime", ">=21"), billing}, "21.0.2"},
		{[]upgrade.Request{billing, shop2("java_runtime", ">=21")}, "8.0.402"},
	} {
		_, err := upgrade.NewPlanner(build(t, b), src).PlanAll(t.Context(), tt.reqs...)
		require.ErrorIs(t, err, upgrade.ErrConflict)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("java-1"), ce.Node)
		assert.ErrorContains(t, err, "shop_app@2.0.0 (shop) requires >=21")
		assert.ErrorContains(t, err, "billing_app@4.0.0 (billing) requires <17")
		assert.Equal(t, versions(tt.tried), ce.Tried)
		require.Len(t, ce.Blocking, 1)
	}
}
