package upgrade_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

func requires(p pkgsource.Package, typ, constraint string) pkgsource.Package {
	p.Requires = append(p.Requires, pkgsource.Requirement{Type: typ, Constraint: c(constraint)})
	return p
}

func from(p pkgsource.Package, constraint string) pkgsource.Package {
	p.From = c(constraint)
	return p
}

func versions(vs ...string) []version.Version {
	out := make([]version.Version, len(vs))
	for i, s := range vs {
		out[i] = v(s)
	}
	return out
}

func TestPlanTransitiveRequirements(t *testing.T) {
	// Shop 2.0 needs only Tomcat 10; Tomcat 10 needs Java 11, and Java 21
	// needs Ubuntu 20.04: the plan goes down three layers, lowest first.
	src := source(t,
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"),
		requires(pkg("jdk", "21.0.2"), "ubuntu", ">=20.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"))
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0", "platform/java-1@21.0.2", "platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))
	java, _ := plan.Step("platform/java-1@21.0.2")
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0"}, java.After)
	assert.Equal(t, "package tomcat 10.1.34 for node tomcat-1 requires java_runtime >=11; node java-1 has 8.0.402", java.Reason)
	vm, _ := plan.Step("platform/vm-1@22.4.0")
	assert.Contains(t, vm.Reason, "package jdk 21.0.2 for node java-1 requires ubuntu_os >=20.04")
}

func TestPlanTransitiveRequirementAlreadyMet(t *testing.T) {
	src := source(t, requires(pkg("tomcat", "10.1.34"), "jdk", ">=8"))
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))
	require.Len(t, plan.Satisfied, 1)
	assert.Equal(t, topology.NodeID("java-1"), plan.Satisfied[0].Node)
	assert.Equal(t, "package tomcat 10.1.34 for node tomcat-1 requires >=8", plan.Satisfied[0].Demand.String())
}

func TestPlanPrefersCandidateWhoseRequirementsCanBeMet(t *testing.T) {
	// Tomcat 10.1.34 needs Java 17, which the repository does not have;
	// 10.1.18 needs Java 11, which it has.
	src := source(t,
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=17"),
		requires(pkg("tomcat", "10.1.18"), "jdk", ">=11"),
		pkg("jdk", "11.0.22"))
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/java-1@11.0.22", "platform/tomcat-1@10.1.18", "app/shop-1@2.0.0"}, ids(plan))
	tomcat, _ := plan.Step("platform/tomcat-1@10.1.18")
	assert.Equal(t, []upgrade.Candidate{
		{Version: v("10.1.34"), Rejected: "requires jdk >=17, which no jdk package meets for node java-1"},
		{Version: v("10.1.18"), Chosen: true},
	}, decided(t, plan, tomcat.Node).Candidates)
}

func TestPlanTransitiveErrors(t *testing.T) {
	ctx := context.Background()

	// Every candidate needs a Java no package provides: the error names
	// the Java node and the package that asks.
	src := source(t, requires(pkg("tomcat", "10.1.34"), "jdk", ">=17"), pkg("jdk", "11.0.22"))
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(ctx, shop2("tomcat_server", ">=10"))
	var none *upgrade.NoPackageError
	require.ErrorAs(t, err, &none)
	assert.Equal(t, topology.NodeID("java-1"), none.Node)
	assert.Contains(t, err.Error(), "package tomcat 10.1.34 for node tomcat-1 requires >=17")

	// A package needs a type that is not beneath its node.
	src = source(t, requires(pkg("tomcat", "10.1.34"), "postgres", ">=15"))
	_, err = upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(ctx, shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, topology.ErrNotFound)
	var missing *upgrade.MissingNodeError
	require.ErrorAs(t, err, &missing)
	assert.Equal(t, upgrade.MissingNodeError{App: "shop", Type: "postgres", Beneath: "tomcat-1", Package: "tomcat 10.1.34"}, *missing)

	// A requirement cycle: Tomcat needs a JDK that needs a Tomcat.
	src = source(t, requires(pkg("tomcat", "10.1.34"), "jdk", ">=21"), requires(pkg("jdk", "21.0.2"), "tomcat", ">=10"))
	_, err = upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(ctx, shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, upgrade.ErrCycle)
	require.ErrorIs(t, err, topology.ErrCycle)
	var cycle *upgrade.CycleError
	require.ErrorAs(t, err, &cycle)
	assert.Equal(t, []string{"tomcat 10.1.34", "jdk 21.0.2", "tomcat"}, cycle.Path)
	assert.True(t, cycle.Requirements)
	assert.Contains(t, err.Error(), "package requirement cycle: tomcat 10.1.34 → jdk 21.0.2 → tomcat")
	assert.NotContains(t, err.Error(), "relationship", "packages have requirements, not relationships")

	// The same cycle when the request names the JDK too, whose demand
	// reaches java-1 before the Tomcat package's.
	_, err = upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(ctx, shop2("tomcat_server", ">=10", "java_runtime", ">=11"))
	require.ErrorIs(t, err, upgrade.ErrCycle, "the same cycle, when the request also names java_runtime")
	require.ErrorAs(t, err, &cycle)
	assert.Equal(t, []string{"tomcat 10.1.34", "jdk 21.0.2", "tomcat"}, cycle.Path)
}

// withBilling adds application billing, whose node billing-1 runs on
// tomcat-1 and needs the given Tomcat versions.
func withBilling(b *topology.Builder, constraint string) *topology.Builder {
	return b.Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
		Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(constraint)}}}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-1")})
}

func TestPlanCotenants(t *testing.T) {
	topo := build(t, withBilling(shopBuilder(2), "<10"))
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=9"))
	require.NoError(t, err)
	s1, ok := plan.Step("platform/tomcat-1@9.0.98")
	require.True(t, ok, "the shared Tomcat stays below 10 for billing: %v", ids(plan))
	_, ok = plan.Step("platform/tomcat-2@11.0.2")
	assert.True(t, ok, "tomcat-2 has no co-tenant and takes the newest: %v", ids(plan))
	d1 := decided(t, plan, s1.Node)
	assert.Contains(t, d1.Candidates, upgrade.Candidate{Version: v("10.1.34"),
		Rejected: "not allowed by co-tenant node billing-1 (billing) requires <10"})
	assert.Contains(t, d1.Candidates, upgrade.Candidate{Version: v("9.0.85"), Rejected: "policy newest prefers 9.0.98"})
	require.Len(t, d1.Demands, 2)
	assert.Equal(t, topology.NodeID("billing-1"), d1.Demands[1].Node)

	var explain strings.Builder
	require.NoError(t, plan.Explain(&explain, "tomcat-1"))
	assert.Contains(t, explain.String(), "10.1.34      rejected: not allowed by co-tenant node billing-1 (billing) requires <10")
	assert.Contains(t, explain.String(), "9.0.98       chosen")
}

func TestPlanCotenantConflict(t *testing.T) {
	topo := build(t, withBilling(shopBuilder(1), "<9"))
	_, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=9"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	var conflict *upgrade.ConflictError
	require.ErrorAs(t, err, &conflict)
	assert.Equal(t, topology.NodeID("tomcat-1"), conflict.Node)
	require.Len(t, conflict.Blocking, 1)
	assert.Equal(t, topology.NodeID("billing-1"), conflict.Blocking[0].Node)
	assert.Equal(t, topology.AppID("billing"), conflict.Blocking[0].App)
	assert.Equal(t, "<9", conflict.Blocking[0].Constraint.String())
	assert.Equal(t, versions("9.0.85", "9.0.98", "10.1.18", "10.1.34", "11.0.2"), conflict.Tried)
	for _, m := range []string{`node "tomcat-1"`, "node billing-1 (billing) requires <9", "9.0.85", "11.0.2"} {
		assert.Contains(t, err.Error(), m)
	}
}

func TestPlanReplacedNodeIsNotACotenant(t *testing.T) {
	// shop_app 1.4 requires Tomcat <9 but is being replaced: no conflict,
	// only a warning.
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=9"))
	require.NoError(t, err)
	assert.Equal(t, []string{"node shop-1 (shop_app 1.4.0) requires tomcat_server >=8.5, <9; it runs on tomcat-1 11.0.2 from step platform/tomcat-1@11.0.2 until its own step"}, plan.Warnings)
}

// chainShop is shopBuilder(1) with Tomcat at 1.2.0, for path tests.
func chainShop() *topology.Builder {
	b := shopBuilder(0).Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Version: v("1.2.0")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
	return b
}

func TestPlanUpgradePaths(t *testing.T) {
	tests := []struct {
		name string
		opts []upgrade.Option
		pkgs []pkgsource.Package
		want []string // the versions of the hops
	}{
		{"direct", nil, []pkgsource.Package{from(pkg("tomcat", "2.0.0"), ">=1.0")}, []string{"2.0.0"}},
		{"chain", nil, []pkgsource.Package{
			from(pkg("tomcat", "1.5.0"), ">=1.2, <1.5"), from(pkg("tomcat", "2.0.0"), ">=1.5, <2")}, []string{"1.5.0", "2.0.0"}},
		{"shortest chain", nil, []pkgsource.Package{
			from(pkg("tomcat", "1.3.0"), "1.2.x"), from(pkg("tomcat", "1.4.0"), "1.3.x"), from(pkg("tomcat", "1.5.0"), ">=1.2, <1.5"),
			from(pkg("tomcat", "2.0.0"), ">=1.4, <2")}, []string{"1.5.0", "2.0.0"}},
		{"equal chains take the highest versions", nil, []pkgsource.Package{
			from(pkg("tomcat", "1.5.0"), "1.2.x"), from(pkg("tomcat", "1.6.0"), "1.2.x"),
			from(pkg("tomcat", "2.0.0"), ">=1.5, <2")}, []string{"1.6.0", "2.0.0"}},
		{"newest reachable when the newest is not", nil, []pkgsource.Package{
			from(pkg("tomcat", "2.0.0"), ">=1.0"), from(pkg("tomcat", "3.0.0"), ">=2.5")}, []string{"2.0.0"}},
		{"one minor per hop", []upgrade.Option{upgrade.WithMaxMinorStep(1)}, []pkgsource.Package{
			pkg("tomcat", "1.3.0"), pkg("tomcat", "1.3.4"), pkg("tomcat", "1.4.2"), pkg("tomcat", "1.5.1")}, []string{"1.3.4", "1.4.2", "1.5.1"}},
		{"minor limit does not bind across majors", []upgrade.Option{upgrade.WithMaxMinorStep(1)}, []pkgsource.Package{
			pkg("tomcat", "2.3.0")}, []string{"2.3.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := upgrade.NewPlanner(build(t, chainShop()), source(t, tt.pkgs...), tt.opts...).
				Plan(context.Background(), shop2("tomcat_server", ">=1.5"))
			require.NoError(t, err)
			requireTopological(t, plan)
			var got []string
			prev := v("1.2.0")
			for i, s := range plan.Steps[:len(plan.Steps)-1] {
				got = append(got, s.To.String())
				assert.Equal(t, prev, s.From, "hop %d starts where the one before ended", i)
				if i > 0 {
					assert.Equal(t, []upgrade.StepID{plan.Steps[i-1].ID}, s.After)
				}
				prev = s.To
			}
			assert.Equal(t, tt.want, got)
			app := plan.Steps[len(plan.Steps)-1]
			assert.Equal(t, []upgrade.StepID{plan.Steps[len(plan.Steps)-2].ID}, app.After)
		})
	}
}

// TestPlanUpgradePathAvoidsPrereleaseHop checks that a path takes no
// pre-release on the way when an equally short one without does:
// Elasticsearch 7.10 goes to 8.12 by 7.17 (8.12's From, ">=7.17.0-0, <9",
// also admits the 8.0.0 release candidate, installable over 7.10), under
// either policy.
func TestPlanUpgradePathAvoidsPrereleaseHop(t *testing.T) {
	b := new(topology.Builder).
		Template("search", topology.Template{ID: "es", Type: "elasticsearch", Version: v("7.10.2")}).
		Template("search", topology.Template{ID: "kibana", Type: "kibana", Version: v("7.10.2")}).
		Node("search", topology.Node{ID: "es-1", Template: "es"}).
		Node("search", topology.Node{ID: "kibana-1", Template: "kibana", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "es-1"}}})
	src := source(t,
		from(pkg("elasticsearch", "7.17.18"), ">=7.0, <7.17"),
		from(pkg("elasticsearch", "8.0.0-rc.2"), ">=7.10, <8.0.0-0"),
		from(pkg("elasticsearch", "8.12.0"), ">=7.17.0-0, <9"),
	)
	req := upgrade.Request{Application: "search", Replaces: "kibana", Template: topology.Template{ID: "kibana", Type: "kibana", Version: v("8.12.0"),
		Requirements: []topology.Requirement{{Template: "es", Constraint: c(">=8.12")}}}}
	for _, pol := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest} {
		plan, err := upgrade.NewPlanner(build(t, b), src, upgrade.WithPolicy(pol)).Plan(context.Background(), req)
		require.NoError(t, err)
		assert.Equal(t, []upgrade.StepID{"platform/es-1@7.17.18", "platform/es-1@8.12.0", "app/kibana-1@8.12.0"}, ids(plan), pol.String())
	}
}

func TestPlanNoUpgradePath(t *testing.T) {
	src := source(t, from(pkg("tomcat", "1.5.0"), ">=1.2, <1.5"), from(pkg("tomcat", "2.0.0"), ">=1.8"))
	_, err := upgrade.NewPlanner(build(t, chainShop()), src).Plan(context.Background(), shop2("tomcat_server", ">=2"))
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	var np *upgrade.NoPathError
	require.ErrorAs(t, err, &np)
	assert.Equal(t, topology.NodeID("tomcat-1"), np.Node)
	assert.Equal(t, v("1.5.0"), np.Furthest)
	assert.Equal(t, versions("2.0.0"), np.Targets)
	assert.Contains(t, err.Error(), "furthest reachable is 1.5.0: no package upgrades from there to a higher version")

	// The intermediate version is one a co-tenant does not allow.
	b := withBilling(chainShop(), "!=1.5.0")
	src = source(t, from(pkg("tomcat", "1.5.0"), ">=1.2, <1.5"), from(pkg("tomcat", "2.0.0"), ">=1.5"))
	_, err = upgrade.NewPlanner(build(t, b), src).Plan(context.Background(), shop2("tomcat_server", ">=2"))
	require.ErrorAs(t, err, &np)
	assert.Equal(t, v("1.2.0"), np.Furthest)
	assert.Equal(t, "the co-tenants do not allow 1.5.0: node billing-1 (billing) requires !=1.5.0", np.Reason)
	require.Len(t, np.Blocking, 1)
	assert.Equal(t, upgrade.Demand{Constraint: c("!=1.5.0"), App: "billing", Template: "billing_app", Node: "billing-1"}, np.Blocking[0])
}

func TestPlanLatestPatchPolicy(t *testing.T) {
	src := source(t, pkg("tomcat", "9.0.85"), pkg("tomcat", "9.0.98"), pkg("tomcat", "9.1.2"), pkg("tomcat", "10.1.18"), pkg("tomcat", "10.1.34"))
	for _, tt := range []struct{ constraint, want string }{
		{">=9", "9.0.98"},
		{">=9.1", "9.1.2"},
		{">=10", "10.1.34"},
	} {
		plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src, upgrade.WithPolicy(upgrade.LatestPatch)).
			Plan(context.Background(), shop2("tomcat_server", tt.constraint))
		require.NoError(t, err)
		assert.Equal(t, v(tt.want), plan.Steps[0].To, tt.constraint)
	}
	assert.Equal(t, "latest patch", upgrade.LatestPatch.String())
}

func billing2(constraint string) upgrade.Request {
	return upgrade.Request{Application: "billing", Replaces: "billing_app",
		Template: topology.Template{ID: "billing_app", Type: "webapp", Version: v("4.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(constraint)}}}}
}

func TestPlanAllSharesPlatformSteps(t *testing.T) {
	topo := build(t, withBilling(shopBuilder(1), ">=8"))
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(context.Background(),
		shop2("tomcat_server", ">=9"), billing2("<10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@9.0.98", "app/billing-1@4.0.0", "app/shop-1@2.0.0"}, ids(plan),
		"one Tomcat step whose version suits both requests")
	for _, s := range plan.Steps[1:] {
		assert.Equal(t, []upgrade.StepID{"platform/tomcat-1@9.0.98"}, s.After)
	}
	assert.Len(t, plan.Requests, 2)
}

func TestPlanAllConflictingRequests(t *testing.T) {
	topo := build(t, withBilling(shopBuilder(1), ">=8"))
	_, err := upgrade.NewPlanner(topo, catalogue(t)).PlanAll(context.Background(),
		shop2("tomcat_server", ">=10"), billing2("<10"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	var conflict *upgrade.ConflictError
	require.ErrorAs(t, err, &conflict)
	assert.Equal(t, "shop_app@2.0.0 (shop) requires >=10", conflict.Wanted[0].String())
	require.Len(t, conflict.Blocking, 1)
	assert.Equal(t, "billing_app@4.0.0 (billing) requires <10", conflict.Blocking[0].String())
	assert.Equal(t, versions("10.1.18", "10.1.34", "11.0.2"), conflict.Tried)

	_, err = upgrade.NewPlanner(topo, catalogue(t)).PlanAll(context.Background(), shop2(), shop2())
	require.ErrorIs(t, err, upgrade.ErrInvalidRequest, "the same template replaced twice")
	assert.Contains(t, err.Error(), "request #2")

	_, err = upgrade.NewPlanner(topo, catalogue(t)).PlanAll(context.Background())
	require.ErrorIs(t, err, upgrade.ErrInvalidRequest)
}

func TestPlanSourceReturnsBadPackages(t *testing.T) {
	ctx := context.Background()
	for name, pkgs := range map[string][]pkgsource.Package{
		"wrong type": {pkg("jdk", "21.0.2")},
		"invalid":    {{Type: "tomcat"}},
		"duplicate":  {pkg("tomcat", "10.1.34"), pkg("tomcat", "10.1.34")},
	} {
		src := pkgsource.SourceFunc(func(context.Context, string) ([]pkgsource.Package, error) { return pkgs, nil })
		_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(ctx, shop2("tomcat_server", ">=10"))
		require.ErrorIs(t, err, pkgsource.ErrInvalid, name)
		var pe *pkgsource.PackageError
		require.ErrorAs(t, err, &pe, name)
	}
}

func TestNoPathReasons(t *testing.T) {
	// A downgrade whose package does not allow the installed version.
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0.0")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("3.0.2")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server"}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
	_, err := upgrade.NewPlanner(build(t, b), source(t, from(pkg("tomcat", "2.4.2"), ">=1.0, <2.4")), upgrade.AllowDowngrades()).
		Plan(context.Background(), shop2("tomcat_server", "<3"))
	var np *upgrade.NoPathError
	require.ErrorAs(t, err, &np)
	assert.Equal(t, v("3.0.2"), np.Furthest)
	assert.Equal(t, "no package that downgrades allows 3.0.2 in its From constraint", np.Reason)

	// The minor-step limit is named when it is what stops the path.
	_, err = upgrade.NewPlanner(build(t, chainShop()), source(t, pkg("tomcat", "1.4.0")), upgrade.WithMaxMinorStep(1)).
		Plan(context.Background(), shop2("tomcat_server", ">=1.4"))
	require.ErrorAs(t, err, &np)
	assert.Contains(t, np.Reason, "(a hop may advance at most 1 minor version)")
}

// TestDowngradeWhenNoUpgradeIsReached: with AllowDowngrades, a node whose
// fitting upgrades no path reaches is downgraded when a downgrade fits,
// as the only way to meet the requirement; without, it is a NoPathError.
func TestDowngradeWhenNoUpgradeIsReached(t *testing.T) {
	topo := build(t, new(topology.Builder).
		Template("infra", topology.Template{ID: "jdk_t", Type: "jdk", Version: v("1.0.0")}).
		Template("shop", topology.Template{ID: "web", Type: "web", Version: v("1.0.0")}).
		Node("infra", topology.Node{ID: "jdk-1", Template: "jdk_t", Version: v("2.5.0")}).
		Node("shop", topology.Node{ID: "web-1", Template: "web", Relationships: on("jdk-1")}))
	jdk3 := pkg("jdk", "3.0.0")
	jdk3.From = c("=2.1.0") // from 2.1.0 only: 2.5.0 cannot reach it
	src := source(t, pkg("jdk", "1.3.0"), jdk3)
	req := upgrade.Request{Application: "shop", Replaces: "web", Template: topology.Template{ID: "web", Type: "web", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "jdk_t", Constraint: c("<2.0.0 || >=3.0.0")}}}}

	_, err := upgrade.NewPlanner(topo, src).Plan(context.Background(), req)
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)

	plan, err := upgrade.NewPlanner(topo, src, upgrade.AllowDowngrades()).Plan(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, plan.Steps, 2)
	s := plan.Steps[0]
	assert.Equal(t, upgrade.StepID("platform/jdk-1@1.3.0"), s.ID)
	assert.Equal(t, "2.5.0", s.From.String())
	assert.Equal(t, "1.3.0", s.To.String())
}

// TestDowngradeWhenUpgradeRequirementsUnmet checks that, with
// AllowDowngrades, a downgrade is tried when the only upgrade that fits
// has requirements that cannot be met: Tomcat 10.1.20 (excluded by the
// request) can go up to 11.0.2, which needs a JDK 21 no package provides,
// or down to 10.1.18, which needs JDK 11, available.
func TestDowngradeWhenUpgradeRequirementsUnmet(t *testing.T) {
	b := shopBuilder(0).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Version: v("10.1.20"), Relationships: on("java-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
	src := source(t,
		requires(pkg("tomcat", "10.1.18"), "jdk", ">=11"),
		requires(pkg("tomcat", "11.0.2"), "jdk", ">=21"),
		pkg("jdk", "11.0.22"))
	plan, err := upgrade.NewPlanner(build(t, b), src, upgrade.AllowDowngrades()).Plan(context.Background(), shop2("tomcat_server", ">=10, !=10.1.20"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/java-1@11.0.22", "platform/tomcat-1@10.1.18", "app/shop-1@2.0.0"}, ids(plan))

	// Without AllowDowngrades, the error says why the upgrade cannot be had.
	_, err = upgrade.NewPlanner(build(t, b), src).Plan(context.Background(), shop2("tomcat_server", ">=10, !=10.1.20"))
	require.Error(t, err)
	assert.ErrorContains(t, err, "jdk")
}

func TestPlanPackageRequirementFollowsHostingChain(t *testing.T) {
	// Tomcat 10 needs Java 11 of the JDK it runs on. tomcat-1 also depends
	// on a database of another application, which runs on a JDK of its
	// own: that JDK is not the one Tomcat's package asks about, and is left
	// alone.
	tomcat1 := topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: []topology.Relationship{
		{Relation: topology.DependsOn, Target: "db-1"}, {Relation: topology.HostedOn, Target: "java-1"}}}
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8.5, <9")}}}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("8.5.100")}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("8.0.402")}).
		Template("billing", topology.Template{ID: "db_jdk", Type: "jdk", Version: v("8.0.402")}).
		Template("billing", topology.Template{ID: "db", Type: "derby", Version: v("10.14.2")}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime"}).
		Node("shop", tomcat1).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")}).
		Node("billing", topology.Node{ID: "db-jdk", Template: "db_jdk"}).
		Node("billing", topology.Node{ID: "db-1", Template: "db", Relationships: on("db-jdk")})
	src := source(t, requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), pkg("jdk", "11.0.22"))
	plan, err := upgrade.NewPlanner(build(t, b), src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/java-1@11.0.22", "platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))

	// A package may ask for a node it does not run on, such as a database
	// it needs: when nothing of the type is in its hosting chain, the
	// nodes it depends on are searched.
	src = source(t, requires(pkg("tomcat", "10.1.34"), "derby", ">=10.15"), pkg("derby", "10.15.2"))
	plan, err = upgrade.NewPlanner(build(t, b), src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/db-1@10.15.2", "platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))
}

func TestPlanRefusesUnknownPolicy(t *testing.T) {
	p := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t), upgrade.WithPolicy(upgrade.LatestPatch+1))
	plan, err := p.Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, upgrade.ErrInvalidOption)
	assert.Nil(t, plan)
	assert.Contains(t, err.Error(), "Policy(3)")
	assert.Contains(t, err.Error(), "use Newest, Nearest or LatestPatch")
}

// sharedJava is one Java under two Tomcats: the shop's tomcat-1 and
// billing's tomcat-b, whose template wants a Java below 17.
func sharedJava() *topology.Builder {
	return new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8.5, <9")}}}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("8.5.100"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=8")}}}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("8.0.402")}).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
			Requirements: []topology.Requirement{{Template: "billing_tomcat", Constraint: c(">=8.5")}}}).
		Template("billing", topology.Template{ID: "billing_tomcat", Type: "tomcat", Version: v("8.5.100"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=8, <17")}}}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime"}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("java-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")}).
		Node("billing", topology.Node{ID: "tomcat-b", Template: "billing_tomcat", Relationships: on("java-1")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-b")})
}

func TestPlanPrefersCandidateWhoseRequirementTheCotenantsBeneathAllow(t *testing.T) {
	// Tomcat 10.1.34 needs Java 17, which billing's Tomcat on the same
	// Java does not allow; 10.1.18 needs Java 11, which it does.
	src := source(t,
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=17"),
		requires(pkg("tomcat", "10.1.18"), "jdk", ">=11"),
		pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"))
	plan, err := upgrade.NewPlanner(build(t, sharedJava()), src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/java-1@11.0.22", "platform/tomcat-1@10.1.18", "app/shop-1@2.0.0"}, ids(plan))
	assert.Equal(t, []upgrade.Candidate{
		{Version: v("10.1.34"), Rejected: "requires jdk >=17, which the co-tenants of node java-1 do not allow: node tomcat-b (billing) requires >=8, <17"},
		{Version: v("10.1.18"), Chosen: true},
	}, decided(t, plan, "tomcat-1").Candidates)

	// When billing's Tomcat is upgraded in the same plan, its old
	// constraint on Java binds nothing: both go to 10.1.34 on Java 17.
	billing := upgrade.Request{Application: "billing", Replaces: "billing_app",
		Template: topology.Template{ID: "billing_app", Type: "webapp", Version: v("4.0.0"),
			Requirements: []topology.Requirement{{Template: "billing_tomcat", Constraint: c(">=10")}}}}
	plan, err = upgrade.NewPlanner(build(t, sharedJava()), src).PlanAll(context.Background(), shop2("tomcat_server", ">=10"), billing)
	require.NoError(t, err)
	assert.ElementsMatch(t, []upgrade.StepID{"platform/java-1@17.0.10", "platform/tomcat-1@10.1.34", "platform/tomcat-b@10.1.34",
		"app/shop-1@2.0.0", "app/billing-1@4.0.0"}, ids(plan))
}
