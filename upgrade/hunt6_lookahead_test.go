package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt6SatisfiedRequestKeepsBatch: shop 2.0 needs Tomcat >=10 on
// tomcat-1, which runs on java-1 (JDK 8) beside billing's tomcat-b
// (Tomcat 9, whose template requires java_runtime <17). Tomcat 10.1.34
// needs JDK >=17, 10.1.18 needs >=11. Planned alone, the shop gets JDK 11
// and Tomcat 10.1.18: the look-ahead sees tomcat-b's "<17". Planned in one
// batch with a billing request whose own requirement (billing_tomcat >=9)
// tomcat-b already meets, tomcat-b is a platform node of the plan, not yet
// decided when tomcat-1 (before it by ID) is; but every demand on it is
// known and met, so it keeps its version and its "<17" still binds
// (staysPut). Adding a request that needs nothing does not break the
// others.
func TestHunt6SatisfiedRequestKeepsBatch(t *testing.T) {
	b := shopBuilder(1).
		Template("billing", topology.Template{ID: "billing_tomcat", Type: "tomcat", Version: v("9.0.85"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c("<17")}}}).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "billing_tomcat", Constraint: c(">=9")}}}).
		Node("billing", topology.Node{ID: "tomcat-b", Template: "billing_tomcat", Relationships: on("java-1")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-b")})
	src := source(t,
		requires(pkg("tomcat", "10.1.18"), "jdk", ">=11"),
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=17"),
		pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"))
	billing := upgrade.Request{Application: "billing", Replaces: "billing_app", Template: topology.Template{ID: "billing_app", Type: "webapp", Version: v("1.1.0"),
		Requirements: []topology.Requirement{{Template: "billing_tomcat", Constraint: c(">=9")}}}}
	planner := upgrade.NewPlanner(build(t, b), src)

	alone, err := planner.Plan(t.Context(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/java-1@11.0.22", "platform/tomcat-1@10.1.18", "app/shop-1@2.0.0"}, ids(alone))
	alone, err = planner.Plan(t.Context(), billing)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/billing-1@1.1.0"}, ids(alone))

	plan, err := planner.PlanAll(t.Context(), shop2("tomcat_server", ">=10"), billing)
	require.NoError(t, err, "each request plans alone, and a plan meets both")
	assert.ElementsMatch(t, []upgrade.StepID{"platform/java-1@11.0.22", "platform/tomcat-1@10.1.18", "app/billing-1@1.1.0", "app/shop-1@2.0.0"}, ids(plan))
}

// TestHunt6LookAheadFollowsPathBeneath: the shop's database needs
// PostgreSQL >=16 on pg-1, which runs on db-vm (Debian 10.13). PostgreSQL
// 16.2 runs on Debian >=10, 17.0 needs Debian >=12, and the mirror holds
// Debian 12.5 only, which upgrades from 11.x: Debian 12 cannot be reached
// from 10. The look-ahead asks whether db-vm can get to a Debian that
// meets ">=12", not only whether some package does (reachesAny), so
// Newest passes over 17.0 for 16.2, as Nearest takes it, rather than fail
// on db-vm, a node the request does not need changed.
func TestHunt6LookAheadFollowsPathBeneath(t *testing.T) {
	b := new(topology.Builder).
		Template("dbhost", topology.Template{ID: "debian_os", Type: "debian", Version: v("10.13")}).
		Template("dbhost", topology.Template{ID: "pg_server", Type: "postgres", Version: v("12.17")}).
		Node("dbhost", topology.Node{ID: "db-vm", Template: "debian_os"}).
		Node("dbhost", topology.Node{ID: "pg-1", Template: "pg_server", Relationships: on("db-vm")}).
		Template("shop", topology.Template{ID: "shop_db", Type: "pg_database", Version: v("1.0.0")}).
		Node("shop", topology.Node{ID: "shop-db", Template: "shop_db", Relationships: on("pg-1")})
	src := source(t,
		requires(pkg("postgres", "16.2"), "debian", ">=10"),
		requires(pkg("postgres", "17.0"), "debian", ">=12"),
		from(pkg("debian", "12.5"), "11.x"))
	req := upgrade.Request{Application: "shop", Replaces: "shop_db", Template: topology.Template{ID: "shop_db", Type: "pg_database", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c(">=16")}}}}

	plan, err := upgrade.NewPlanner(build(t, b), src, upgrade.WithPolicy(upgrade.Nearest)).Plan(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/pg-1@16.2.0", "app/shop-db@2.0.0"}, ids(plan))

	plan, err = upgrade.NewPlanner(build(t, b), src).Plan(t.Context(), req)
	require.NoError(t, err, "PostgreSQL 16.2 meets the request on the Debian installed")
	assert.Equal(t, []upgrade.StepID{"platform/pg-1@16.2.0", "app/shop-db@2.0.0"}, ids(plan))
	d := decided(t, plan, "pg-1")
	require.NotEmpty(t, d.Candidates)
	assert.Contains(t, d.Candidates[0].Rejected, "debian", "17.0 is passed over for its Debian requirement")
}

// TestHunt6LookAheadRefusesDowngradesBeneath: the look-ahead does not count
// versions below the installed one of the node beneath, which it may not
// take without AllowDowngrades. java-1 has JDK 17; Tomcat 9.0.85 needs a
// JDK >=8, <17, Tomcat 10.1.18 one >=11. Nearest and LatestPatch, which
// try 9.0.85 first, pass over it for 10.1.18 on the installed JDK 17, as
// Newest does, rather than fail with a *DowngradeError on java-1.
func TestHunt6LookAheadRefusesDowngradesBeneath(t *testing.T) {
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("8.5.100")}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("17.0.10")}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime"}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("java-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
	src := source(t, requires(pkg("tomcat", "9.0.85"), "jdk", ">=8, <17"), requires(pkg("tomcat", "10.1.18"), "jdk", ">=11"),
		pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"))
	for _, pol := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
		plan, err := upgrade.NewPlanner(build(t, b), src, upgrade.WithPolicy(pol)).Plan(t.Context(), shop2("tomcat_server", ">=9"))
		if !assert.NoError(t, err, pol) {
			continue
		}
		assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@10.1.18", "app/shop-1@2.0.0"}, ids(plan), pol)
	}
}

// TestHunt6NoPrereleaseOnTheWay: DESIGN.md's selection policy says
// "prereleases only when the constraint asks for them". A kubeadm control
// plane at 1.26.9 goes one minor version per hop (WithMaxMinorStep(1)).
// The repository holds 1.27.0-rc.1 and 1.28.4 but no stable 1.27. A chain
// to 1.28 does not pass through the release candidate, even when the
// demand asks for pre-releases ("-0"): that asks for one at the end, not on
// the way. The *NoPathError says that only pre-releases lead on. A stable
// 1.27 makes the way, and a demand that asks for a pre-release gets the
// release candidate as its target.
func TestHunt6NoPrereleaseOnTheWay(t *testing.T) {
	topo := new(topology.Builder).
		Template("cluster", topology.Template{ID: "control_plane", Type: "kubernetes", Version: v("1.26.9")}).
		Template("web", topology.Template{ID: "web_chart", Type: "helm", Version: v("1.0.0")}).
		Node("cluster", topology.Node{ID: "cp-1", Template: "control_plane"}).
		Node("web", topology.Node{ID: "chart-1", Template: "web_chart", Relationships: on("cp-1")})
	req := func(constraint string) upgrade.Request {
		return upgrade.Request{Application: "web", Replaces: "web_chart", Template: topology.Template{ID: "web_chart", Type: "helm", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(constraint)}}}}
	}
	plan := func(constraint string, pkgs ...pkgsource.Package) (*upgrade.Plan, error) {
		return upgrade.NewPlanner(build(t, topo), source(t, pkgs...), upgrade.WithMaxMinorStep(1)).Plan(t.Context(), req(constraint))
	}
	for _, constraint := range []string{">=1.28", ">=1.28.0-0"} {
		_, err := plan(constraint, pkg("kubernetes", "1.27.0-rc.1"), pkg("kubernetes", "1.28.4"))
		require.ErrorIs(t, err, upgrade.ErrNoUpgradePath, constraint)
		pe, ok := errors.AsType[*upgrade.NoPathError](err)
		require.True(t, ok, err)
		assert.Equal(t, "1.26.9", pe.Furthest.String())
		assert.Empty(t, pe.Blocking)
		assert.Contains(t, err.Error(), "only pre-releases lead on from there (1.27.0-rc.1), and a chain of upgrades passes through released versions only")
	}

	p, err := plan(">=1.28", pkg("kubernetes", "1.27.0-rc.1"), pkg("kubernetes", "1.27.2"), pkg("kubernetes", "1.28.4"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.27.2", "platform/cp-1@1.28.4", "app/chart-1@2.0.0"}, ids(p))

	p, err = plan(">=1.27.0-0", pkg("kubernetes", "1.27.0-rc.1"), pkg("kubernetes", "1.28.4"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.27.0-rc.1", "app/chart-1@2.0.0"}, ids(p))
}

// TestHunt6NoPathCotenantsAndPrereleases: with the kubelets of
// hunt6Cluster (">=1.26, <1.29") on the control plane, the only way from
// 1.26.9 to 1.28.4, one minor version at a time, is through 1.27.0-rc.1:
// no co-tenant is named as blocking it, as no chain passes through a
// pre-release whatever the co-tenants allow.
func TestHunt6NoPathCotenantsAndPrereleases(t *testing.T) {
	src := source(t, pkg("kubernetes", "1.27.0-rc.1"), pkg("kubernetes", "1.28.4"))
	req := upgrade.Request{Application: "web", Replaces: "web_chart", Template: topology.Template{ID: "web_chart", Type: "helm", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.28")}}}}
	_, err := upgrade.NewPlanner(build(t, hunt6Cluster()), src, upgrade.WithMaxMinorStep(1)).Plan(t.Context(), req)
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	pe, ok := errors.AsType[*upgrade.NoPathError](err)
	require.True(t, ok, err)
	assert.Empty(t, pe.Blocking)
	assert.Contains(t, err.Error(), "only pre-releases lead on from there (1.27.0-rc.1)")
}
