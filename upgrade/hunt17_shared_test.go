package upgrade_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt17SharedPostgres is a PostgreSQL 14 that four teams' Keycloak
// servers and one Git server, named git, depend on (not hosted on it),
// each server hosting its team's application, and the requests that
// move every team to a release needing Keycloak 24 or 25 and the code
// team to one needing Gitea 1.22.
func hunt17SharedPostgres(t *testing.T, git topology.NodeID) (*topology.Memory, []upgrade.Request) {
	b := new(topology.Builder).
		Template("data", topology.Template{ID: "postgres", Type: "postgresql", Version: v("14.11")}).
		Node("data", topology.Node{ID: "pg-1", Template: "postgres"}).
		Template("data", topology.Template{ID: "keycloak", Type: "keycloak", Version: v("22.0.5"),
			Requirements: []topology.Requirement{{Template: "postgres", Constraint: c(">=12"), Relation: topology.DependsOn}}}).
		Template("data", topology.Template{ID: "gitea", Type: "gitea", Version: v("1.20.6"),
			Requirements: []topology.Requirement{{Template: "postgres", Constraint: c(">=12"), Relation: topology.DependsOn}}})
	var reqs []upgrade.Request
	team := func(app topology.AppID, server, template topology.TemplateID, node topology.NodeID, constraint string) {
		b.Node("data", topology.Node{ID: node, Template: template, Relationships: []topology.Relationship{hunt6Dep("pg-1")}}).
			Template(app, topology.Template{ID: topology.TemplateID(app) + "_app", Type: "webapp", Version: v("1.0.0"),
				Requirements: []topology.Requirement{{Template: server, Constraint: c(">=1")}}}).
			Node(app, topology.Node{ID: topology.NodeID(app) + "-1", Template: topology.TemplateID(app) + "_app", Relationships: on(node)})
		reqs = append(reqs, upgrade.Request{Application: app, Replaces: topology.TemplateID(app) + "_app",
			Template: topology.Template{ID: topology.TemplateID(app) + "_app", Type: "webapp", Version: v("2.0.0"),
				Requirements: []topology.Requirement{{Template: server, Constraint: c(constraint)}}}})
	}
	for i := 1; i <= 4; i++ {
		team(topology.AppID(fmt.Sprintf("team%d", i)), "keycloak", "keycloak", topology.NodeID(fmt.Sprintf("keycloak-%d", i)), ">=24, <26")
	}
	team("code", "gitea", "gitea", git, ">=1.22")
	return build(t, b), reqs
}

// hunt17SharedPlan plans reqs and checks that the plan's platform steps are
// want, in any order, and that it is in topological order.
func hunt17SharedPlan(t *testing.T, topo topology.Topology, src *pkgsource.Memory, reqs []upgrade.Request, want ...upgrade.StepID) *upgrade.Plan {
	t.Helper()
	plan, err := upgrade.NewPlanner(topo, src).PlanAll(t.Context(), reqs...)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.ElementsMatch(t, want, platformIDs(plan))
	return plan
}

// TestHunt17DependentSiblingsDoNotDependOnNodeIDs: servers that depend on
// one database, rather than run on one host, each looked ahead at it
// without what the servers beside it not yet decided will surely ask of
// it. Gitea 1.22, the only release the code team's request allows, needs
// PostgreSQL below 16, and Keycloak 24.0.5 runs on it: with the Git
// server called gitea-1, decided first, every Keycloak passed over 25.0.6,
// which needs PostgreSQL 16; called scm-1, each Keycloak took 25.0.6, and
// the plans made again, passing over one Keycloak's package at a time, ran
// out before all four were: PlanAll failed with a *ConflictError on pg-1
// that named 25.0.6 as if nothing else would do. The look-ahead now counts
// what a server that depends on the node will surely ask of it, as it did
// for one hosted on it, and the plan is the same whatever the names.
func TestHunt17DependentSiblingsDoNotDependOnNodeIDs(t *testing.T) {
	src := source(t,
		requires(pkg("keycloak", "24.0.5"), "postgresql", ">=12"),
		requires(pkg("keycloak", "25.0.6"), "postgresql", ">=16"),
		requires(pkg("gitea", "1.22.3"), "postgresql", ">=12, <16"),
		pkg("postgresql", "15.8"), pkg("postgresql", "16.4"))
	for _, git := range []topology.NodeID{"gitea-1", "scm-1"} {
		topo, reqs := hunt17SharedPostgres(t, git)
		plan := hunt17SharedPlan(t, topo, src, reqs, "platform/keycloak-1@24.0.5", "platform/keycloak-2@24.0.5", "platform/keycloak-3@24.0.5",
			"platform/keycloak-4@24.0.5", upgrade.StepID("platform/"+git+"@1.22.3"))
		assert.Empty(t, plan.Warnings, git)
		kc := decided(t, plan, "keycloak-1")
		require.Equal(t, "25.0.6", kc.Candidates[0].Version.String())
		assert.Contains(t, kc.Candidates[0].Rejected, "requires postgresql >=16, which ", git)
	}
}

// hunt17ShopAndData is the shop of shopBuilder(1), its JDK node named
// java, beside a data application on a Python node of vm-1, and the
// requests that move the shop to a release needing Tomcat 10 or later
// and the data application to one needing Python 3.12.
func hunt17ShopAndData(t *testing.T, java topology.NodeID) (*topology.Memory, []upgrade.Request) {
	apps := build(t, shopBuilder(1).
		Template("data", topology.Template{ID: "python_rt", Type: "python", Version: v("3.10.12")}).
		Node("data", topology.Node{ID: "python-1", Template: "python_rt", Relationships: on("vm-1")}).
		Template("data", topology.Template{ID: "etl_app", Type: "job", Version: v("1.0.0")}).
		Node("data", topology.Node{ID: "etl-1", Template: "etl_app", Relationships: on("python-1")})).Applications()
	for i := range apps {
		for k := range apps[i].Nodes {
			switch n := &apps[i].Nodes[k]; {
			case n.ID == "java-1":
				n.ID = java
			case n.ID == "tomcat-1":
				n.Relationships = on(java)
			}
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	etl := upgrade.Request{Application: "data", Replaces: "etl_app", Template: topology.Template{ID: "etl_app", Type: "job", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "python_rt", Constraint: c(">=3.12")}}}}
	return topo, []upgrade.Request{shop2("tomcat_server", ">=10"), etl}
}

// TestHunt17ReplanFollowsTheRetryThatLeadsOn: when no plan made again
// passing over one package succeeded, the next round kept the first of
// them passed over, whatever its plan's error said, though passing over it
// left a request nothing to install and named no package to try next.
// Tomcat 11 needs JDK 21, which needs Ubuntu 22.04, and the data team's
// only Python 3.12 build needs Ubuntu below 22.04; Tomcat 10.1.34 runs on
// JDK 17 on Ubuntu 20.04 with it. With the JDK node called java-1,
// decided before python-1, the retries went from passing over JDK 21 to
// passing over Tomcat 11 and found the plan; called temurin-1, decided
// after python-1, they kept Python 3.12.3 passed over, and PlanAll failed
// with a *ConflictError on vm-1. The next round now goes on from the first
// retry whose error names packages to pass over.
func TestHunt17ReplanFollowsTheRetryThatLeadsOn(t *testing.T) {
	src := source(t,
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"),
		requires(pkg("tomcat", "11.0.2"), "jdk", ">=21"),
		requires(pkg("jdk", "17.0.10"), "ubuntu", ">=20.04"),
		requires(pkg("jdk", "21.0.2"), "ubuntu", ">=22.04"),
		requires(pkg("python", "3.12.3"), "ubuntu", ">=20.04, <22.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"))
	for _, java := range []topology.NodeID{"java-1", "temurin-1"} {
		topo, reqs := hunt17ShopAndData(t, java)
		hunt17SharedPlan(t, topo, src, reqs, "platform/vm-1@20.4.0", upgrade.StepID("platform/"+java+"@17.0.10"), "platform/python-1@3.12.3", "platform/tomcat-1@10.1.34")
	}
}

// TestHunt17RequirementOnRenamedTemplate: a batch in which the platform
// team moves the shop's Tomcat nodes to a template of a new ID,
// tomcat10_server, and the shop team's release requires that template,
// as it will be, failed with "no node of template "tomcat10_server"
// beneath node "shop-1"", telling the user to relate the node to one, or
// to fix a requirement that was right: the nodes are of it once request
// #1's steps have run, and planning the shop alone afterwards finds them.
// (Requiring the old ID planned, and then no longer found a node of it
// once the batch had run.) A node that a request replaces with a template
// of a new ID now answers a requirement of that ID, with that request's
// version, as a node the request replaces under its own ID does.
func TestHunt17RequirementOnRenamedTemplate(t *testing.T) {
	topo := build(t, shopBuilder(1))
	tomcat := upgrade.Request{Application: "shop", Replaces: "tomcat_server",
		Template: topology.Template{ID: "tomcat10_server", Type: "tomcat", Version: v("10.1.34"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=11")}}}}
	for _, reqs := range [][]upgrade.Request{
		{tomcat, shop2("tomcat10_server", ">=10.1")},
		{shop2("tomcat10_server", ">=10.1"), tomcat},
	} {
		plan, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), reqs...)
		require.NoError(t, err)
		requireTopological(t, plan)
		assert.Equal(t, []upgrade.StepID{"platform/java-1@21.0.2", "app/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))
		shop, ok := plan.Step("app/shop-1@2.0.0")
		require.True(t, ok)
		assert.Equal(t, []upgrade.StepID{"app/tomcat-1@10.1.34"}, shop.After)

		again, err := upgrade.NewPlanner(cvApply(t, topo, plan, ids(plan)), catalogue(t)).PlanAll(t.Context(), reqs...)
		require.NoError(t, err)
		assert.Empty(t, again.Steps)
	}

	// The new template's version must meet the requirement, as must
	// that of a request that keeps its template's ID.
	_, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(t.Context(), tomcat, shop2("tomcat10_server", ">=11"))
	var conflict *upgrade.ConflictError
	require.ErrorAs(t, err, &conflict)
	assert.Equal(t, topology.NodeID("tomcat-1"), conflict.Node)
	assert.Contains(t, err.Error(), "shop_app@2.0.0 (shop) requires >=11")
}

// hunt17TwoTomcats is vm-1 (Ubuntu 20.04) hosting two JDKs: shopJDK
// (11.0.22) under the shop's Tomcat, blogJDK (17.0.10) under the blog's,
// each Tomcat 9.0.85, and the requests that move the shop to a release
// needing Tomcat 10.1 and the blog to one needing Tomcat 11.
func hunt17TwoTomcats(t *testing.T, shopJDK, blogJDK topology.NodeID) (*topology.Memory, []upgrade.Request) {
	b := new(topology.Builder).
		Template("plat", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("plat", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("11.0.22")}).
		Template("plat", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.85")}).
		Node("plat", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("plat", topology.Node{ID: shopJDK, Template: "java_runtime", Relationships: on("vm-1")}).
		Node("plat", topology.Node{ID: blogJDK, Template: "java_runtime", Version: v("17.0.10"), Relationships: on("vm-1")}).
		Node("plat", topology.Node{ID: "tomcat-shop", Template: "tomcat_server", Relationships: on(shopJDK)}).
		Node("plat", topology.Node{ID: "tomcat-blog", Template: "tomcat_server", Relationships: on(blogJDK)})
	var reqs []upgrade.Request
	for _, a := range []struct {
		app      topology.AppID
		on       topology.NodeID
		requires string
	}{{"shop", "tomcat-shop", ">=10.1, <10.2"}, {"blog", "tomcat-blog", ">=11"}} {
		id := topology.TemplateID(a.app) + "_app"
		b.Template(a.app, topology.Template{ID: id, Type: "webapp", Version: v("1.0.0")}).
			Node(a.app, topology.Node{ID: topology.NodeID(a.app) + "-1", Template: id, Relationships: on(a.on)})
		reqs = append(reqs, upgrade.Request{Application: a.app, Replaces: id, Template: topology.Template{ID: id, Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(a.requires)}}}})
	}
	return build(t, b), reqs
}

// TestHunt17ReplanBacktracks: the plans made again followed one line of
// packages passed over, and gave up when it led nowhere, though another
// retry's error had named packages that led to a plan. The shop's Tomcat
// 10.1.34 needs JDK 17, built for Ubuntu 22.04 only; the blog's Tomcat
// 11.0.5 needs JDK 21, and the mirror's JDK 21 and 22 are builds for
// Ubuntu 20.04 only; Tomcat 11.0.2 runs on the blog's JDK 17 as it is.
// With the blog's JDK node decided first the retries passed over JDK 21
// and 22 on it, then Tomcat 11.0.5, and found the plan; with the shop's
// decided first they passed over JDK 17 on the shop's, then Tomcat
// 10.1.34, which left the shop's request nothing, and PlanAll failed with
// a *ConflictError on vm-1. They now go back to the next retry whose
// error named packages, within the same number of plans.
func TestHunt17ReplanBacktracks(t *testing.T) {
	src := source(t,
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=17, <18"),
		requires(pkg("tomcat", "11.0.2"), "jdk", ">=17"),
		requires(pkg("tomcat", "11.0.5"), "jdk", ">=21"),
		requires(pkg("jdk", "17.0.12"), "ubuntu", ">=22.04"),
		requires(pkg("jdk", "21.0.2"), "ubuntu", ">=20.04, <22.04"),
		requires(pkg("jdk", "22.0.1"), "ubuntu", ">=20.04, <22.04"),
		pkg("ubuntu", "22.04"))
	for _, jdks := range [][2]topology.NodeID{{"java-1", "java-2"}, {"java-2", "java-1"}} {
		topo, reqs := hunt17TwoTomcats(t, jdks[0], jdks[1])
		hunt17SharedPlan(t, topo, src, reqs, "platform/vm-1@22.4.0", upgrade.StepID("platform/"+jdks[0]+"@17.0.12"),
			"platform/tomcat-blog@11.0.2", "platform/tomcat-shop@10.1.34")
	}
}
