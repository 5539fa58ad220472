package upgrade_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// hunt18Tomcat10 moves the shop's Tomcat nodes to a template of a new ID,
// tomcat10_server, as a platform team's request does.
func hunt18Tomcat10() upgrade.Request {
	return upgrade.Request{Application: "shop", Replaces: "tomcat_server",
		Template: topology.Template{ID: "tomcat10_server", Type: "tomcat", Version: v("10.1.34"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=11")}}}}
}

// hunt18RunAndApply runs the plan, failing the steps of fail, and returns
// the topology as a host records the steps that succeeded (see cvApply).
func hunt18RunAndApply(t *testing.T, topo *topology.Memory, plan *upgrade.Plan, fail ...upgrade.StepID) *topology.Memory {
	t.Helper()
	exec := new(upgradetest.Executor)
	for _, id := range fail {
		exec.FailAt(id, errors.New("unhealthy"))
	}
	report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithFailurePolicy(upgrade.ContinueIndependent))
	if len(fail) == 0 {
		require.NoError(t, err)
	}
	var done []upgrade.StepID
	for _, o := range report.Outcomes {
		if o.State == upgrade.Succeeded {
			done = append(done, o.Step)
		}
	}
	return cvApply(t, topo, plan, done)
}

// TestHunt18RequirementOnTemplateRenamedAway: a batch in which the
// platform team moves the shop's Tomcat nodes to a template of a new ID,
// tomcat10_server, and the shop team's release requires tomcat_server,
// the ID the nodes have now. The plan succeeded, the run moved the nodes
// to tomcat10_server, and planning the same batch again (to check it
// converged, or to finish a partial run) failed: no node of template
// tomcat_server beneath shop-1, though the requirement had been planned
// and met. Requiring the new ID has planned, and planned again, since
// hunt 17. The planner now refuses the old ID at plan time, naming both
// requests and the ID to require, in every state of the run; the batch
// that requires the new ID runs, part by part, to a plan with no steps.
func TestHunt18RequirementOnTemplateRenamedAway(t *testing.T) {
	topo := build(t, shopBuilder(2))
	requireOld := func(t *testing.T, topo *topology.Memory, shop, tomcat int, reqs []upgrade.Request) {
		t.Helper()
		_, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), reqs...)
		var re *upgrade.RequestError
		require.ErrorAs(t, err, &re)
		require.ErrorIs(t, err, upgrade.ErrInvalidRequest)
		assert.Equal(t, shop, re.Request)
		assert.Equal(t, "Template.Requirements[0].Template", re.Field)
		assert.ErrorContains(t, err, `request #`+string(rune('1'+tomcat))+` replaces template "tomcat_server" of application "shop" with "tomcat10_server"`)
		assert.ErrorContains(t, err, `require "tomcat10_server"`)
	}
	for name, order := range map[string][2]int{"shop first": {0, 1}, "tomcat first": {1, 0}} {
		t.Run(name, func(t *testing.T) {
			shop, tomcat := order[0], order[1]
			reqs := make([]upgrade.Request, 2)
			reqs[shop], reqs[tomcat] = shop2("tomcat_server", ">=10.1"), hunt18Tomcat10()
			requireOld(t, topo, shop, tomcat, reqs)

			reqs[shop] = shop2("tomcat10_server", ">=10.1")
			plan, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), reqs...)
			require.NoError(t, err)
			// Part of the run: tomcat-2's step fails, and shop-2's is
			// skipped.
			part := hunt18RunAndApply(t, topo, plan, "app/tomcat-2@10.1.34")
			reqs[shop] = shop2("tomcat_server", ">=10.1")
			requireOld(t, part, shop, tomcat, reqs)

			reqs[shop] = shop2("tomcat10_server", ">=10.1")
			rest, err := upgrade.NewPlanner(part, catalogue(t)).PlanAll(t.Context(), reqs...)
			require.NoError(t, err)
			assert.ElementsMatch(t, []upgrade.StepID{"app/tomcat-2@10.1.34", "app/shop-2@2.0.0"}, ids(rest))
			done := hunt18RunAndApply(t, part, rest)
			again, err := upgrade.NewPlanner(done, catalogue(t)).PlanAll(t.Context(), reqs...)
			require.NoError(t, err)
			assert.Empty(t, again.Steps)
			// The shop's release alone plans no step either.
			again, err = upgrade.NewPlanner(done, catalogue(t)).PlanAll(t.Context(), reqs[shop])
			require.NoError(t, err)
			assert.Empty(t, again.Steps)
		})
	}
}

// TestHunt18RenameWarnsCotenantsOfOldTemplate: the blog, another team's
// application, runs on tomcat-1 and its template requires tomcat_server
// >=8.5, <11; the wiki runs on a context on tomcat-1 and requires
// tomcat_server >=9. A batch moves the shop's Tomcat nodes to
// tomcat10_server 10.1.34, which both allow: the plan said nothing of
// them. Once it had run, their requirements named a template no node
// beneath them had: the next plan of the shop's that took tomcat-1 to
// 11.0.2 broke the blog without a word (before the move, the blog's
// constraint refused it), and the blog's own next plan failed, no node of
// tomcat_server beneath blog-1. The plan now warns, naming the node, the
// co-tenants and their requirements, and what to do, whether the topology
// lists the nodes above or the planner walks up to them; a batch that has
// them require the new ID has no such warning, nor one that keeps the
// template's ID.
func TestHunt18RenameWarnsCotenantsOfOldTemplate(t *testing.T) {
	b := shopBuilder(1).
		Template("blog", topology.Template{ID: "blog_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8.5, <11")}}}).
		Node("blog", topology.Node{ID: "blog-1", Template: "blog_app", Relationships: on("tomcat-1")}).
		Template("wiki", topology.Template{ID: "wiki_ctx", Type: "context", Version: v("1.0.0")}).
		Template("wiki", topology.Template{ID: "wiki_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=9")}}}).
		Node("wiki", topology.Node{ID: "ctx-1", Template: "wiki_ctx", Relationships: on("tomcat-1")}).
		Node("wiki", topology.Node{ID: "wiki-1", Template: "wiki_app", Relationships: on("ctx-1")})
	mem := build(t, b)
	shop := shop2("tomcat10_server", ">=10.1")
	release := func(app, id string) upgrade.Request {
		return upgrade.Request{Application: topology.AppID(app), Replaces: topology.TemplateID(id), Template: topology.Template{
			ID: topology.TemplateID(id), Type: "webapp", Version: v("1.1.0"),
			Requirements: []topology.Requirement{{Template: "tomcat10_server", Constraint: c(">=9, <11")}}}}
	}
	noWarning := func(t *testing.T, p *upgrade.Plan) {
		t.Helper()
		for _, w := range p.Warnings {
			assert.NotContains(t, w, "moves from template")
		}
	}
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		plan, err := upgrade.NewPlanner(topo(mem), catalogue(t)).PlanAll(t.Context(), hunt18Tomcat10(), shop)
		require.NoError(t, err)
		assert.Contains(t, plan.Warnings, "node tomcat-1 moves from template tomcat_server to tomcat10_server at step app/tomcat-1@10.1.34, "+
			"and node blog-1 (blog) requires tomcat_server >=8.5, <11, node wiki-1 (wiki) requires tomcat_server >=9 of it: "+
			"once the step has run, no plan finds those requirements or holds the node to it; have blog_app, wiki_app require tomcat10_server")

		// The releases of the blog and the wiki in the batch require the
		// new ID: no warning.
		plan, err = upgrade.NewPlanner(topo(mem), catalogue(t)).PlanAll(t.Context(), hunt18Tomcat10(), shop, release("blog", "blog_app"), release("wiki", "wiki_app"))
		require.NoError(t, err)
		noWarning(t, plan)
		// Nor when the nodes keep their template's ID.
		same := hunt18Tomcat10()
		same.Template.ID = "tomcat_server"
		plan, err = upgrade.NewPlanner(topo(mem), catalogue(t)).PlanAll(t.Context(), same, shop2("tomcat_server", ">=10.1"))
		require.NoError(t, err)
		noWarning(t, plan)
	})

	// What the warning warns of: once the batch has run, the shop's next
	// release takes tomcat-1 beyond what the blog allows.
	plan, err := upgrade.NewPlanner(mem, catalogue(t)).PlanAll(t.Context(), hunt18Tomcat10(), shop)
	require.NoError(t, err)
	next, err := upgrade.NewPlanner(hunt18RunAndApply(t, mem, plan), catalogue(t)).PlanAll(t.Context(), shop2("tomcat10_server", ">=11"))
	require.NoError(t, err)
	assert.Contains(t, ids(next), upgrade.StepID("platform/tomcat-1@11.0.2"))
}

// TestHunt18NewTemplateIDOfTwoApplications: a batch in which the shop's
// and the blog's platform teams each move their Tomcat nodes to a new
// template, both of ID tomcat10_server. The planner refuses a new ID that
// another application's template has, as a host recording the run could
// not tell the two apart, but two new ones alike it planned: once the
// batch had run, the topology recording it held template tomcat10_server
// in both applications, which topology.New refuses ("a template belongs
// to one application"). The batch is now refused, naming both requests
// and what to do, before anything is asked of the topology.
func TestHunt18NewTemplateIDOfTwoApplications(t *testing.T) {
	b := shopBuilder(1).
		Template("blog", topology.Template{ID: "blog_tomcat", Type: "tomcat", Version: v("8.5.100")}).
		Node("blog", topology.Node{ID: "btomcat-1", Template: "blog_tomcat"})
	topo := build(t, b)
	shop := hunt18Tomcat10()
	shop.Template.Requirements = nil
	blog := shop
	blog.Application, blog.Replaces = "blog", "blog_tomcat"
	_, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), shop, shop2("tomcat10_server", ">=10"), blog)
	var re *upgrade.RequestError
	require.ErrorAs(t, err, &re)
	require.ErrorIs(t, err, upgrade.ErrInvalidRequest)
	assert.Equal(t, 2, re.Request)
	assert.Equal(t, "Template.ID", re.Field)
	assert.ErrorContains(t, err, `request #1 gives the new template of application "shop" the ID "tomcat10_server" too, `+
		`and a template belongs to one application: give each application's new template an ID of its own`)

	// Each its own ID: planned, run and recorded.
	blog.Template.ID = "blog_tomcat10"
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), shop, shop2("tomcat10_server", ">=10"), blog)
	require.NoError(t, err)
	done := hunt18RunAndApply(t, topo, plan)
	again, err := upgrade.NewPlanner(done, catalogue(t)).PlanAll(t.Context(), shop, shop2("tomcat10_server", ">=10"), blog)
	require.NoError(t, err)
	assert.Empty(t, again.Steps)
}

// TestHunt18RenameToTemplateOfAnotherType: a request that moves the
// shop's Tomcat nodes to a template whose ID, by a slip, is that of the
// shop's JDK template, and that gives no type (Template.Type is
// optional). The planner refuses such an ID when the request gives a
// type, but without one it planned: tomcat-1 was to be replaced with
// java_runtime 10.1.34, a host recording the run would have a Tomcat
// node of the JDK's template, and the shop's requirement on java_runtime
// was answered by tomcat-1, java-1 beneath it never looked at. A request
// without a type now has the type of the template it replaces, which the
// template of the ID it names must have.
func TestHunt18RenameToTemplateOfAnotherType(t *testing.T) {
	topo := build(t, shopBuilder(1))
	slip := upgrade.Request{Application: "shop", Replaces: "tomcat_server", Template: topology.Template{ID: "java_runtime", Version: v("10.1.34")}}
	_, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), slip, shop2("java_runtime", ">=10"))
	var re *upgrade.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 0, re.Request)
	assert.Equal(t, "Template.ID", re.Field)
	assert.ErrorContains(t, err, `application "shop" has a template "java_runtime" of type "jdk", not "tomcat", the type of "tomcat_server", which the request replaces: `+
		`give the new template an ID of its own`)

	// A template of the ID and of the replaced one's type, which a run
	// has moved no node to yet, is taken.
	b := shopBuilder(1).Template("shop", topology.Template{ID: "tomcat10_server", Type: "tomcat", Version: v("10.1.34")})
	ok := slip
	ok.Template.ID = "tomcat10_server"
	plan, err := upgrade.NewPlanner(build(t, b), catalogue(t)).PlanAll(t.Context(), ok, shop2("tomcat10_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))
}

// hunt18NoApp is a host's topology whose Node leaves Node.App empty,
// which Topology.Node requires set.
type hunt18NoApp struct{ topology.Topology }

func (n hunt18NoApp) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	nd, err := n.Topology.Node(ctx, id)
	if nd != nil {
		c := *nd
		c.App = ""
		nd = &c
	}
	return nd, err
}

// TestHunt18NodeWithoutApp: a batch of the shop's release, which requires
// tomcat_server >=10.1, and the platform team's request that replaces
// tomcat_server with 10.1.34, over a host's topology whose Node returns
// nodes without their application. The planner could not tell that the
// Tomcat node the shop runs on was one the batch replaces: the plan
// upgraded tomcat-1 to 11.0.2 with a package and then replaced it with
// template 10.1.34, two steps on one node, the second a downgrade, the
// shop's step before it. The planner now refuses the node, naming it and
// what to do, as it refuses other answers of the topology that break its
// contract.
func TestHunt18NodeWithoutApp(t *testing.T) {
	mem := build(t, shopBuilder(1))
	tomcat := hunt18Tomcat10()
	tomcat.Template.ID = "tomcat_server"
	_, err := upgrade.NewPlanner(hunt18NoApp{mem}, catalogue(t)).PlanAll(t.Context(), shop2("tomcat_server", ">=10.1"), tomcat)
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.ErrorContains(t, err, `node "tomcat-1"`)
	assert.ErrorContains(t, err, "no application: return each node with Node.App set to the application it belongs to")

	plan, err := upgrade.NewPlanner(mem, catalogue(t)).PlanAll(t.Context(), shop2("tomcat_server", ">=10.1"), tomcat)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/java-1@21.0.2", "app/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))
}

// TestHunt18RenameWarnsUpgradedNodeAbove: a batch moves the shop's JDK
// nodes to a template of a new ID, jdk21_runtime, while the shop's release
// has the plan upgrade tomcat-1, above java-1, with a package; the Tomcat
// template requires java_runtime >=8. A node the plan upgrades is no
// co-tenant of the nodes beneath it, as its packages' requirements take
// the place of its template's for the plan; but its template keeps its
// requirement on java_runtime, which no node beneath tomcat-1 has once
// the batch has run. The plan warned when tomcat-1 kept its version, and
// not when the plan upgraded it.
func TestHunt18RenameWarnsUpgradedNodeAbove(t *testing.T) {
	topo := build(t, shopBuilder(1))
	jdk := upgrade.Request{Application: "shop", Replaces: "java_runtime", Template: topology.Template{ID: "jdk21_runtime", Version: v("21.0.2")}}
	const want = "node java-1 moves from template java_runtime to jdk21_runtime at step app/java-1@21.0.2, and node tomcat-1 (shop) " +
		"requires java_runtime >=8 of it: once the step has run, no plan finds that requirement or holds the node to it; have tomcat_server require jdk21_runtime"
	for _, shop := range []upgrade.Request{shop2("jdk21_runtime", ">=17"), shop2("tomcat_server", ">=10")} {
		plan, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), shop, jdk)
		require.NoError(t, err)
		assert.Contains(t, plan.Warnings, want, ids(plan))
	}
}
