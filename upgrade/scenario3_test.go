package upgrade_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// Scenarios modelled on real systems, third round. Helpers are prefixed
// "sc3".

// sc3Debian is a Debian host: app-1 (a Django site) runs on python-1
// (3.9.2, bullseye's) on deb-1 (Debian 11).
func sc3Debian() *topology.Builder {
	return new(topology.Builder).
		Template("site", topology.Template{ID: "django_app", Type: "django", Version: v("4.2.0")}).
		Template("site", topology.Template{ID: "python_rt", Type: "python", Version: v("3.9.2")}).
		Template("site", topology.Template{ID: "debian_os", Type: "debian", Version: v("11")}).
		Node("site", topology.Node{ID: "deb-1", Template: "debian_os"}).
		Node("site", topology.Node{ID: "python-1", Template: "python_rt", Relationships: on("deb-1")}).
		Node("site", topology.Node{ID: "app-1", Template: "django_app", Relationships: on("python-1")})
}

// sc3Django asks for Django 5.1 with the given requirements, as shop2.
func sc3Django(pairs ...string) upgrade.Request {
	r := shop2(pairs...)
	r.Application, r.Replaces = "site", "django_app"
	r.Template.ID, r.Template.Type, r.Template.Version = "django_app", "django", v("5.1.0")
	return r
}

// TestScenario3IntermediateHopRequirement: Python 3.12 installs only over
// 3.11; of the two 3.11 builds, 3.11.9 needs Debian 13, which the mirror
// does not have (or which a co-tenant on the host forbids), and 3.11.2
// needs Debian 12. The way through 3.11.2 is as short: the plan takes it,
// Debian first, rather than fail on Debian 13.
func TestScenario3IntermediateHopRequirement(t *testing.T) {
	for name, tt := range map[string]struct {
		debian []string
		b      *topology.Builder
	}{
		"mirror lacks 13": {[]string{"12.5"}, sc3Debian()},
		"co-tenant forbids 13": {[]string{"12.5", "13.0"}, sc3Debian().
			Template("mail", topology.Template{ID: "postfix", Type: "mta", Version: v("3.7.0"),
				Requirements: []topology.Requirement{{Template: "debian_os", Constraint: c("<13")}}}).
			Node("mail", topology.Node{ID: "mta-1", Template: "postfix", Relationships: on("deb-1")})},
	} {
		bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
			pkgs := []pkgsource.Package{
				from(requires(pkg("python", "3.11.2"), "debian", ">=12"), "3.9.x"),
				from(requires(pkg("python", "3.11.9"), "debian", ">=13"), "3.9.x"),
				from(pkg("python", "3.12.4"), "~3.11")}
			for _, d := range tt.debian {
				pkgs = append(pkgs, pkg("debian", d))
			}
			plan, err := upgrade.NewPlanner(topo(build(t, tt.b)), source(t, pkgs...)).Plan(t.Context(), sc3Django("python_rt", ">=3.12"))
			require.NoError(t, err, name)
			requireTopological(t, plan)
			assert.Equal(t, []upgrade.StepID{"platform/deb-1@12.5.0", "platform/python-1@3.11.2", "platform/python-1@3.12.4", "app/app-1@5.1.0"}, ids(plan), name)
			deb, _ := plan.Step("platform/deb-1@12.5.0")
			assert.Equal(t, "package python 3.11.2 for node python-1 requires debian_os >=12; node deb-1 has 11", deb.Reason, name)
		})
	}
}

// TestScenario3IntermediateHopRequirementFallsBack: Python 3.12.4 installs
// only over 3.11.9, which needs Debian 13, which the mirror does not have;
// 3.12.1 installs over bullseye's 3.9 directly. The plan takes 3.12.1
// rather than fail on Debian, and says why not 3.12.4. With no 3.12.1, the
// plan fails on Debian, naming the package on the way.
func TestScenario3IntermediateHopRequirementFallsBack(t *testing.T) {
	pkgs := []pkgsource.Package{pkg("debian", "12.5"),
		from(requires(pkg("python", "3.11.9"), "debian", ">=13"), "3.9.x"),
		from(pkg("python", "3.12.4"), "=3.11.9")}
	src := source(t, append(pkgs, from(pkg("python", "3.12.1"), "3.9.x"))...)
	plan, err := upgrade.NewPlanner(build(t, sc3Debian()), src).Plan(t.Context(), sc3Django("python_rt", ">=3.12"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/python-1@3.12.1", "app/app-1@5.1.0"}, ids(plan))
	assert.Equal(t, []upgrade.Candidate{
		{Version: v("3.12.4"), Rejected: "3.11.9 on the way requires debian >=13, which no debian package meets for node deb-1"},
		{Version: v("3.12.1"), Chosen: true},
		{Version: v("3.11.9"), Rejected: "does not satisfy django_app@5.1.0 (site) requires >=3.12"},
	}, decided(t, plan, "python-1").Candidates)

	_, err = upgrade.NewPlanner(build(t, sc3Debian()), source(t, pkgs...)).Plan(t.Context(), sc3Django("python_rt", ">=3.12"))
	require.ErrorIs(t, err, upgrade.ErrNoPackage)
	np, ok := errors.AsType[*upgrade.NoPackageError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("deb-1"), np.Node)
	assert.ErrorContains(t, err, "package python 3.11.9 for node python-1 requires >=13")
}

// sc3Kube is a cluster: control plane cp-1 (Kubernetes 1.27.6), a kubelet
// per worker on its own OS, each depending on the control plane, whose
// template allows an API server up to three minor versions newer, and a
// Helm release chart-1 of another application on the cluster.
func sc3Kube(workers int) *topology.Builder {
	b := new(topology.Builder).
		Template("web", topology.Template{ID: "web_chart", Type: "helm", Version: v("1.0.0")}).
		Template("cluster", topology.Template{ID: "control_plane", Type: "kubernetes", Version: v("1.27.6")}).
		Template("cluster", topology.Template{ID: "kubelet", Type: "kubelet", Version: v("1.27.6"),
			Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.27, <1.31")}}}).
		Template("cluster", topology.Template{ID: "worker_os", Type: "flatcar", Version: v("3815.2.0")}).
		Node("cluster", topology.Node{ID: "cp-1", Template: "control_plane"}).
		Node("web", topology.Node{ID: "chart-1", Template: "web_chart", Relationships: on("cp-1")})
	for i := 1; i <= workers; i++ {
		osID, kubelet := topology.NodeID(fmt.Sprintf("os-%d", i)), topology.NodeID(fmt.Sprintf("kubelet-%d", i))
		b.Node("cluster", topology.Node{ID: osID, Template: "worker_os"}).
			Node("cluster", topology.Node{ID: kubelet, Template: "kubelet", Relationships: []topology.Relationship{
				{Relation: topology.HostedOn, Target: osID}, {Relation: topology.DependsOn, Target: "cp-1"}}})
	}
	return b
}

// TestScenario3KubeletsNeverNewerThanControlPlane: a chart needs the
// control plane at 1.30, one minor version per hop; the kubelets allow
// it. At 1.31 they do not, and the plan fails naming every kubelet; with
// the kubelets upgraded in the same plan, the control plane goes first,
// hop by hop, and every kubelet comes after its last hop (a kubelet is
// never newer than the API server), each with a warning for the time its
// old template's skew is broken.
func TestScenario3KubeletsNeverNewerThanControlPlane(t *testing.T) {
	src := source(t, pkg("kubernetes", "1.28.4"), pkg("kubernetes", "1.28.15"), pkg("kubernetes", "1.29.10"),
		pkg("kubernetes", "1.30.6"), pkg("kubernetes", "1.31.2"), pkg("kubernetes", "1.32.0"))
	chart := func(constraint string) upgrade.Request {
		return upgrade.Request{Application: "web", Replaces: "web_chart", Template: topology.Template{ID: "web_chart", Type: "helm", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(constraint)}}}}
	}
	kubelets := upgrade.Request{Application: "cluster", Replaces: "kubelet", Template: topology.Template{ID: "kubelet", Type: "kubelet", Version: v("1.31.2"),
		Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.31, <1.35")}}}}
	bothWays(t, func(t *testing.T, topo func(*topology.Memory) topology.Topology) {
		planner := upgrade.NewPlanner(topo(build(t, sc3Kube(3))), src, upgrade.WithMaxMinorStep(1), upgrade.WithPolicy(upgrade.LatestPatch))
		plan, err := planner.Plan(t.Context(), chart(">=1.30"))
		require.NoError(t, err)
		assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.28.15", "platform/cp-1@1.29.10", "platform/cp-1@1.30.6", "app/chart-1@2.0.0"}, ids(plan))
		assert.Empty(t, plan.Warnings)

		_, err = planner.Plan(t.Context(), chart(">=1.31"))
		require.ErrorIs(t, err, upgrade.ErrConflict)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("cp-1"), ce.Node)
		assert.Equal(t, versions("1.31.2", "1.32.0"), ce.Tried)
		var blocking []topology.NodeID
		for _, d := range ce.Blocking {
			blocking = append(blocking, d.Node)
		}
		assert.Equal(t, []topology.NodeID{"kubelet-1", "kubelet-2", "kubelet-3"}, blocking)

		plan, err = planner.PlanAll(t.Context(), chart(">=1.31"), kubelets)
		require.NoError(t, err)
		requireTopological(t, plan)
		assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.28.15", "platform/cp-1@1.29.10", "platform/cp-1@1.30.6", "platform/cp-1@1.31.2",
			"app/chart-1@2.0.0", "app/kubelet-1@1.31.2", "app/kubelet-2@1.31.2", "app/kubelet-3@1.31.2"}, ids(plan))
		for _, s := range plan.Steps[4:] {
			assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.31.2"}, s.After, s.ID)
		}
		require.Len(t, plan.Warnings, 3)
		assert.Equal(t, "node kubelet-1 (kubelet 1.27.6) requires control_plane >=1.27, <1.31; it runs on cp-1 1.31.2 from step platform/cp-1@1.31.2 until its own step", plan.Warnings[0])
	})
}

// sc3Redis is a Helm release chart-1 that depends on a Redis release
// redis-1 (chart 17.3.0), and with cache, a release of another team that
// depends on it too and requires it at 17 or later.
func sc3Redis(cache bool) *topology.Builder {
	b := new(topology.Builder).
		Template("web", topology.Template{ID: "web_chart", Type: "helm", Version: v("1.0.0")}).
		Template("web", topology.Template{ID: "redis_chart", Type: "redis", Version: v("17.3.0")}).
		Node("web", topology.Node{ID: "redis-1", Template: "redis_chart"}).
		Node("web", topology.Node{ID: "chart-1", Template: "web_chart", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "redis-1"}}})
	if cache {
		b.Template("other", topology.Template{ID: "cache_chart", Type: "helm", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "redis_chart", Constraint: c(">=17")}}}).
			Node("other", topology.Node{ID: "cache-1", Template: "cache_chart", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "redis-1"}}})
	}
	return b
}

// TestScenario3HelmPrereleaseSelection: a chart whose dependency range
// names a pre-release gets pre-releases, by the policy, unless a co-tenant
// whose range names none is on the node: Masterminds' rule, which holds
// for every constraint on the node, co-tenants' included.
func TestScenario3HelmPrereleaseSelection(t *testing.T) {
	src := source(t, pkg("redis", "18.0.0-rc.1"), pkg("redis", "18.0.0-rc.2"), pkg("redis", "18.0.0"),
		pkg("redis", "18.1.0-beta.1"), pkg("redis", "19.0.0-alpha.1"))
	for _, tt := range []struct {
		constraint string
		cache      bool
		policy     upgrade.Policy
		want       string
	}{
		{">=18.0.0-rc.1", false, upgrade.Newest, "19.0.0-alpha.1"},
		{">=18.0.0-rc.1", false, upgrade.Nearest, "18.0.0-rc.1"},
		{"^18.0.0-rc.2", false, upgrade.Nearest, "18.0.0-rc.2"},
		{"^18.0.0-rc.2", false, upgrade.Newest, "18.1.0-beta.1"},
		{"~18.0.0-0", false, upgrade.Newest, "18.0.0"},
		{">=18.0.0-rc.1", true, upgrade.Newest, "18.0.0"},
		{">=18.0.0-rc.1", true, upgrade.Nearest, "18.0.0"},
		{">=18", false, upgrade.Newest, "18.0.0"},
	} {
		name := fmt.Sprintf("%s cache=%v %v", tt.constraint, tt.cache, tt.policy)
		plan, err := upgrade.NewPlanner(build(t, sc3Redis(tt.cache)), src, upgrade.WithPolicy(tt.policy)).Plan(t.Context(), sc3Chart("redis_chart", tt.constraint))
		require.NoError(t, err, name)
		assert.Equal(t, []upgrade.StepID{upgrade.StepID("platform/redis-1@" + tt.want), "app/chart-1@2.0.0"}, ids(plan), name)
		if tt.cache {
			assert.Contains(t, decided(t, plan, "redis-1").Candidates, upgrade.Candidate{Version: v("18.0.0-rc.2"),
				Rejected: "not allowed by co-tenant node cache-1 (other) requires >=17"}, name)
		}
	}
	// Ranges that meet only at pre-releases, which the co-tenant rules out.
	_, err := upgrade.NewPlanner(build(t, sc3Redis(true)), src).Plan(t.Context(), sc3Chart("redis_chart", ">=18.0.0-0 <18.0.0"))
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, versions("18.0.0-rc.1", "18.0.0-rc.2"), ce.Tried)
	assert.Equal(t, []upgrade.Demand{{App: "other", Node: "cache-1", Template: "cache_chart", Constraint: c(">=17")}}, ce.Blocking)
}

// sc3Chart asks for chart-1 at 2.0.0 with the given requirements, as
// shop2.
func sc3Chart(pairs ...string) upgrade.Request {
	r := shop2(pairs...)
	r.Application, r.Replaces = "web", "web_chart"
	r.Template.ID, r.Template.Type = "web_chart", "helm"
	return r
}

// TestScenario3ExcludedBrokenRelease: a Terraform-like provider range that
// excludes a broken release with "!=": the newest, and the nearest, skip
// it, and the decision says why; a range that leaves nothing else fails
// naming the exclusion.
func TestScenario3ExcludedBrokenRelease(t *testing.T) {
	b := new(topology.Builder).
		Template("infra", topology.Template{ID: "stack", Type: "tfconfig", Version: v("1.0.0")}).
		Template("infra", topology.Template{ID: "aws_provider", Type: "provider", Version: v("5.29.0")}).
		Node("infra", topology.Node{ID: "aws-1", Template: "aws_provider"}).
		Node("infra", topology.Node{ID: "stack-1", Template: "stack", Relationships: on("aws-1")})
	src := source(t, pkg("provider", "5.30.0"), pkg("provider", "5.31.0"), pkg("provider", "5.32.1"), pkg("provider", "6.0.0"))
	stack := func(constraint string) upgrade.Request {
		return upgrade.Request{Application: "infra", Replaces: "stack", Template: topology.Template{ID: "stack", Type: "tfconfig", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "aws_provider", Constraint: c(constraint)}}}}
	}
	for _, tt := range []struct {
		constraint string
		policy     upgrade.Policy
		want       string
	}{
		{">=5.31, <6, !=5.32.1", upgrade.Newest, "5.31.0"},
		{">=5.30, <6, !=5.30.0", upgrade.Nearest, "5.31.0"},
		{"^5.30, !=5.31.0", upgrade.LatestPatch, "5.30.0"},
		{">5.29, !=5.30.0, !=5.31.0", upgrade.Nearest, "5.32.1"},
	} {
		plan, err := upgrade.NewPlanner(build(t, b), src, upgrade.WithPolicy(tt.policy)).Plan(t.Context(), stack(tt.constraint))
		require.NoError(t, err, tt.constraint)
		assert.Equal(t, []upgrade.StepID{upgrade.StepID("platform/aws-1@" + tt.want), "app/stack-1@2.0.0"}, ids(plan), tt.constraint)
	}
	plan, err := upgrade.NewPlanner(build(t, b), src).Plan(t.Context(), stack(">=5.31, <6, !=5.32.1"))
	require.NoError(t, err)
	assert.Contains(t, decided(t, plan, "aws-1").Candidates, upgrade.Candidate{Version: v("5.32.1"),
		Rejected: "does not satisfy stack@2.0.0 (infra) requires >=5.31, <6, !=5.32.1"})

	_, err = upgrade.NewPlanner(build(t, b), src).Plan(t.Context(), stack("~5.32, !=5.32.1"))
	require.ErrorIs(t, err, upgrade.ErrNoPackage)
	assert.ErrorContains(t, err, "requires ~5.32, !=5.32.1")
}

// TestScenario3BuildMetadataFromTwoSources: two mirrors chained publish
// rebuilds of one Tomcat release (+b1 and +b2 of 10.1.34, +b3 and +b7 of
// 10.1.35). A node on 10.1.34+b1 meets "=10.1.34" (build metadata does
// not order versions); above it, Newest takes the latest rebuild
// and Nearest the first, the step ID keeping the build, and whichever
// mirror comes first the plan is the same. An application moving to a
// rebuild of its version gets a step; to the same version written
// otherwise, a check.
func TestScenario3BuildMetadataFromTwoSources(t *testing.T) {
	b := shopBuilder(0).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Version: v("10.1.34+b1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
	one := source(t, pkg("tomcat", "10.1.34+b1"), pkg("tomcat", "10.1.35+b7"))
	two := source(t, pkg("tomcat", "10.1.34+b2"), pkg("tomcat", "10.1.35+b3"))
	for _, tt := range []struct {
		policy     upgrade.Policy
		constraint string
		want       []upgrade.StepID
	}{
		{upgrade.Newest, "=10.1.34", []upgrade.StepID{"app/shop-1@2.0.0"}},
		{upgrade.Newest, ">10.1.34", []upgrade.StepID{"platform/tomcat-1@10.1.35+b7", "app/shop-1@2.0.0"}},
		{upgrade.LatestPatch, ">10.1.34", []upgrade.StepID{"platform/tomcat-1@10.1.35+b7", "app/shop-1@2.0.0"}},
		{upgrade.Nearest, ">10.1.34", []upgrade.StepID{"platform/tomcat-1@10.1.35+b3", "app/shop-1@2.0.0"}},
	} {
		var first string
		for _, src := range []pkgsource.Chain{{one, two}, {two, one}} {
			plan, err := upgrade.NewPlanner(build(t, b), src, upgrade.WithPolicy(tt.policy)).Plan(t.Context(), shop2("tomcat_server", tt.constraint))
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(plan), "%v %s", tt.policy, tt.constraint)
			if first == "" {
				first = plan.ID
			}
			assert.Equal(t, first, plan.ID, "%v %s: the order of the mirrors", tt.policy, tt.constraint)
		}
	}

	rebuild := shop2()
	rebuild.Template.Version = v("1.4.0+b2")
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(t.Context(), rebuild)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/shop-1@1.4.0+b2"}, ids(plan))
	assert.Equal(t, v("1.4.0"), plan.Steps[0].From)
	rebuild.Template.Version = v("v1.4")
	plan, err = upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(t.Context(), rebuild)
	require.NoError(t, err)
	assert.Empty(t, plan.Steps)
	require.Len(t, plan.Satisfied, 1)
	assert.Equal(t, topology.NodeID("shop-1"), plan.Satisfied[0].Node)
}

// TestScenario3InstalledNewerThanEveryPackage: a Tomcat on 10.1.40, which
// the repository lists too, above every other package. A range it meets
// is a check; one only lower versions meet is a downgrade, refused, or
// when allowed the highest below (never the installed version itself,
// which is no change); one nothing meets names every package.
func TestScenario3InstalledNewerThanEveryPackage(t *testing.T) {
	b := shopBuilder(0).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Version: v("10.1.40")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
	src := source(t, pkg("tomcat", "9.0.98"), pkg("tomcat", "10.1.34"), pkg("tomcat", "10.1.40"))
	plan, err := upgrade.NewPlanner(build(t, b), src).Plan(t.Context(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0"}, ids(plan))
	require.Len(t, plan.Satisfied, 1)
	assert.Equal(t, topology.NodeID("tomcat-1"), plan.Satisfied[0].Node)

	_, err = upgrade.NewPlanner(build(t, b), src).Plan(t.Context(), shop2("tomcat_server", "!=10.1.40"))
	de, ok := errors.AsType[*upgrade.DowngradeError](err)
	require.True(t, ok, err)
	assert.Equal(t, versions("9.0.98", "10.1.34"), de.Candidates)
	plan, err = upgrade.NewPlanner(build(t, b), src, upgrade.AllowDowngrades()).Plan(t.Context(), shop2("tomcat_server", "!=10.1.40"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))

	_, err = upgrade.NewPlanner(build(t, b), src, upgrade.AllowDowngrades()).Plan(t.Context(), shop2("tomcat_server", ">=11"))
	np, ok := errors.AsType[*upgrade.NoPackageError](err)
	require.True(t, ok, err)
	assert.Equal(t, versions("9.0.98", "10.1.34", "10.1.40"), np.Considered)
}
