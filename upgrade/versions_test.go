package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// writtenPlan plans shop 2.1 (written "v2.1") onto Ubuntu 22.04.5 and
// Tomcat 10.1 from the shop on Ubuntu 18.04, with the versions spelt as
// given.
func writtenPlan(t *testing.T, app, ubuntu, tomcat string) *upgrade.Plan {
	t.Helper()
	src := source(t, from(pkg("ubuntu", ubuntu), ">=18.04"), pkg("tomcat", tomcat))
	r := shop2("ubuntu_os", ">=22.04", "tomcat_server", ">=10")
	r.Template.Version = v(app)
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), r)
	require.NoError(t, err)
	return plan
}

// TestPlanShowsVersionsAsWritten attacks issue 14 item 4: versions print
// as the topology and the index wrote them (18.04, 22.04.5, 8.5, v10.1,
// v2.1) in steps, text, JSON, Explain and errors; step IDs stay canonical;
// the decisions are those of the canonical spellings.
func TestPlanShowsVersionsAsWritten(t *testing.T) {
	plan := writtenPlan(t, "v2.1", "22.04.5", "v10.1")
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.5", "platform/tomcat-1@10.1.0", "app/shop-1@2.1.0"}, ids(plan),
		"step IDs are canonical")
	vm, ok := plan.Step("platform/vm-1@22.4.5")
	require.True(t, ok)
	assert.Equal(t, "18.04", vm.From.String())
	assert.Equal(t, "22.04.5", vm.To.String())
	assert.Equal(t, "ubuntu 22.04.5", vm.Package.Key().String())
	app, ok := plan.Step("app/shop-1@2.1.0")
	require.True(t, ok)
	assert.Equal(t, "v2.1", app.To.String())
	assert.Contains(t, app.Reason, "shop_app@v2.1 replaces")

	var text bytes.Buffer
	require.NoError(t, plan.WriteText(&text))
	assert.Contains(t, text.String(), "18.04 → 22.04.5")
	assert.Contains(t, text.String(), "8.5.100 → v10.1")
	assert.Contains(t, text.String(), "with shop_app v2.1")
	assert.NotContains(t, strings.ReplaceAll(text.String(), "@22.4.5", ""), "22.4.5", "a version shown canonically outside an ID")
	assert.NotContains(t, text.String(), "18.4.0")

	var js bytes.Buffer
	require.NoError(t, plan.WriteJSON(&js))
	assert.Contains(t, js.String(), `"to": "22.04.5"`)
	assert.Contains(t, js.String(), `"from": "18.04"`)
	assert.Contains(t, js.String(), `"version": "v2.1"`)
	back, err := upgrade.ReadJSON(bytes.NewReader(js.Bytes()))
	require.NoError(t, err)
	var again bytes.Buffer
	require.NoError(t, back.WriteJSON(&again))
	assert.Equal(t, js.String(), again.String(), "the plan must round-trip byte for byte")
	assert.Equal(t, plan.ID, back.ID)

	var explain bytes.Buffer
	require.NoError(t, plan.Explain(&explain, "vm-1"))
	assert.Contains(t, explain.String(), "18.04 → 22.04.5")
	assert.NotContains(t, explain.String(), "18.4.0")

	// The canonical spellings make the same decisions and IDs; the plan
	// ID, which hashes the text as written, differs.
	canon := writtenPlan(t, "2.1.0", "22.4.5", "10.1.0")
	assert.Equal(t, ids(canon), ids(plan))
	for i := range plan.Steps {
		assert.True(t, plan.Steps[i].To.Same(canon.Steps[i].To))
		assert.Equal(t, plan.Steps[i].Node, canon.Steps[i].Node)
	}
	assert.NotEqual(t, canon.ID, plan.ID, "a plan is what it says")
}

// TestPlanErrorsShowVersionsAsWritten: an error names the installed and
// the available versions as written.
func TestPlanErrorsShowVersionsAsWritten(t *testing.T) {
	src := source(t, pkg("ubuntu", "22.04.5"), pkg("ubuntu", "v20.04"))
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), shop2("ubuntu_os", ">=24.04"))
	var np *upgrade.NoPackageError
	require.ErrorAs(t, err, &np)
	assert.Contains(t, err.Error(), `node "vm-1" (ubuntu 18.04)`)
	assert.Contains(t, err.Error(), "available: v20.04, 22.04.5")
	assert.NotContains(t, err.Error(), "18.4.0")
}

// TestPlanInstalledVersionMatchesPackageWrittenOtherwise: an installed
// 18.04 is the package 18.4.0 (catalog lookups use Same, not ==), so the
// installed version is not offered as an upgrade.
func TestPlanInstalledVersionMatchesPackageWrittenOtherwise(t *testing.T) {
	src := source(t, pkg("ubuntu", "18.4.0"), from(pkg("ubuntu", "v20.04"), ">=18.4"))
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), shop2("ubuntu_os", ">=18.04"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0"}, ids(plan))
	require.Len(t, plan.Satisfied, 1)
	assert.Equal(t, "18.04", plan.Satisfied[0].Version.String())
}

// TestPlanRefusesSameVersionListedTwice: a source that lists one version
// in two spellings lists it twice.
func TestPlanRefusesSameVersionListedTwice(t *testing.T) {
	_, err := pkgsource.NewMemory(pkg("ubuntu", "22.04.5"), pkg("ubuntu", "22.4.5"))
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	assert.Contains(t, err.Error(), "ubuntu 22.4.5")

	// Listed with a build-metadata variant whose text sorts between the
	// two spellings: they must still be found next to each other.
	src := twice{pkg("ubuntu", "22.4.5"), pkg("ubuntu", "22.04.5+a"), pkg("ubuntu", "22.04.5"), pkg("ubuntu", "22.04.6")}
	_, err = upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), shop2("ubuntu_os", ">=22.04"))
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	assert.Contains(t, err.Error(), "listed twice")
	assert.Contains(t, err.Error(), "ubuntu 22.")

	// Build metadata alone makes another package, as before.
	src = twice{pkg("ubuntu", "22.04.5+a"), pkg("ubuntu", "22.04.5")}
	_, err = upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), shop2("ubuntu_os", ">=22.04"))
	assert.NotErrorIs(t, err, pkgsource.ErrInvalid)
}

// twice is a Source that lists what it holds, duplicates and all.
type twice []pkgsource.Package

func (s twice) Packages(_ context.Context, typ string) ([]pkgsource.Package, error) {
	var out []pkgsource.Package
	for _, p := range s {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	return out, nil
}

// eksBuilder is a cluster of Kubernetes at the given version, with an
// application deployed on it.
func eksBuilder(installed string) *topology.Builder {
	return new(topology.Builder).
		Template("web", topology.Template{ID: "web_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "k8s", Constraint: c(">=1.28")}}}).
		Template("web", topology.Template{ID: "k8s", Type: "kubernetes", Version: v(installed)}).
		Node("web", topology.Node{ID: "cluster-1", Template: "k8s"}).
		Node("web", topology.Node{ID: "web-1", Template: "web_app", Relationships: on("cluster-1")})
}

func webRequest(constraint string) upgrade.Request {
	return upgrade.Request{Application: "web", Replaces: "web_app",
		Template: topology.Template{ID: "web_app", Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "k8s", Constraint: c(constraint)}}}}
}

// TestPrereleaseHintNoPackage attacks issue 14 item 5a with EKS versions:
// >=1.30 refuses 1.30.4-eks-a1 only because of semver's pre-release rule,
// and the error says to write >=1.30.0-0.
func TestPrereleaseHintNoPackage(t *testing.T) {
	src := source(t, pkg("kubernetes", "1.30.4-eks-a1"))
	_, err := upgrade.NewPlanner(build(t, eksBuilder("1.29.3")), src).Plan(context.Background(), webRequest(">=1.30"))
	var np *upgrade.NoPackageError
	require.ErrorAs(t, err, &np)
	assert.True(t, strings.HasSuffix(err.Error(),
		"; 1.30.4-eks-a1 is a pre-release, which >=1.30 excludes: write >=1.30.0-0 to allow pre-releases"), err.Error())

	// The fix works.
	plan, err := upgrade.NewPlanner(build(t, eksBuilder("1.29.3")), src).Plan(context.Background(), webRequest(">=1.30.0-0"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/cluster-1@1.30.4-eks-a1", "app/web-1@2.0.0"}, ids(plan))

	// A version below the bound gets no hint.
	src = source(t, pkg("kubernetes", "1.29.9-eks-a1"))
	_, err = upgrade.NewPlanner(build(t, eksBuilder("1.29.3")), src).Plan(context.Background(), webRequest(">=1.30"))
	require.ErrorAs(t, err, &np)
	assert.NotContains(t, err.Error(), "pre-release")
}

// TestPrereleaseHintNoPath: a package whose From is >=1.29, <1.30 does
// not upgrade an installed 1.29.3-eks-1, and the error says why and how.
func TestPrereleaseHintNoPath(t *testing.T) {
	src := source(t, from(pkg("kubernetes", "1.30.4"), ">=1.29, <1.30"))
	_, err := upgrade.NewPlanner(build(t, eksBuilder("1.29.3-eks-1")), src).Plan(context.Background(), webRequest(">=1.30"))
	var np *upgrade.NoPathError
	require.ErrorAs(t, err, &np)
	assert.True(t, errors.Is(err, upgrade.ErrNoUpgradePath))
	assert.Contains(t, err.Error(),
		"; package kubernetes 1.30.4: 1.29.3-eks-1 is a pre-release, which >=1.29, <1.30 excludes: write >=1.29.0-0, <1.30 to allow pre-releases;")

	// The fix works.
	src = source(t, from(pkg("kubernetes", "1.30.4"), ">=1.29.0-0, <1.30"))
	_, err = upgrade.NewPlanner(build(t, eksBuilder("1.29.3-eks-1")), src).Plan(context.Background(), webRequest(">=1.30"))
	require.NoError(t, err)
}

// TestPrereleaseHintRejectedCandidate: a candidate refused only for being
// a pre-release says so in its Rejected reason.
func TestPrereleaseHintRejectedCandidate(t *testing.T) {
	src := source(t, pkg("kubernetes", "1.30.2"), pkg("kubernetes", "1.30.4-eks-a1"))
	plan, err := upgrade.NewPlanner(build(t, eksBuilder("1.29.3")), src).Plan(context.Background(), webRequest(">=1.30"))
	require.NoError(t, err)
	s, ok := plan.Step("platform/cluster-1@1.30.2")
	require.True(t, ok)
	cs := decided(t, plan, s.Node).Candidates
	require.NotEmpty(t, cs)
	assert.Equal(t, "1.30.4-eks-a1", cs[0].Version.String())
	assert.Equal(t, "does not satisfy web_app@2.0.0 (web) requires >=1.30; 1.30.4-eks-a1 is a pre-release, which >=1.30 excludes: write >=1.30.0-0 to allow pre-releases",
		cs[0].Rejected)
}

// TestPlanPartialVersionIsExact attacks the places that make a constraint
// from a version's text: written "2.1", a version is 2.1.0, while the
// constraint "=2.1" would mean 2.1.x. A node at 2.1.5 is not already on
// the new template's version 2.1.
func TestPlanPartialVersionIsExact(t *testing.T) {
	b := shopBuilder(1)
	b.Node("shop", topology.Node{ID: "shop-9", Template: "shop_app", Version: v("2.1.5"), Relationships: on("tomcat-1")})
	r := shop2()
	r.Template.Version = v("2.1")
	_, err := upgrade.NewPlanner(build(t, b), source(t)).Plan(context.Background(), r)
	var de *upgrade.DowngradeError
	require.ErrorAs(t, err, &de)
	assert.Contains(t, err.Error(), "requires =2.1.0;", "the demand is exact, and says so")

	plan, err := upgrade.NewPlanner(build(t, b), source(t), upgrade.AllowDowngrades()).Plan(context.Background(), r)
	require.NoError(t, err)
	assert.Contains(t, ids(plan), upgrade.StepID("app/shop-9@2.1.0"), "2.1.5 is not 2.1 (2.1.0)")
	for _, c := range plan.Satisfied {
		assert.NotEqual(t, topology.NodeID("shop-9"), c.Node, "shop-9 is not on 2.1: %v", c)
	}
}

// TestPrereleaseHintDowngrade: an installed pre-release above the bound
// looks "above the requirement" only through semver's rule; the error
// says so and how to write the constraint.
func TestPrereleaseHintDowngrade(t *testing.T) {
	src := source(t, pkg("kubernetes", "1.30.4"))
	_, err := upgrade.NewPlanner(build(t, eksBuilder("1.31.0-eks-a1")), src).Plan(context.Background(), webRequest(">=1.30"))
	var de *upgrade.DowngradeError
	require.ErrorAs(t, err, &de)
	assert.True(t, strings.HasSuffix(err.Error(),
		"; 1.31.0-eks-a1 is a pre-release, which >=1.30 excludes: write >=1.30.0-0 to allow pre-releases"), err.Error())

	// The fix works: the installed version meets the demand.
	plan, err := upgrade.NewPlanner(build(t, eksBuilder("1.31.0-eks-a1")), src).Plan(context.Background(), webRequest(">=1.30.0-0"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/web-1@2.0.0"}, ids(plan))
}

// TestPrereleaseHintConflict: a co-tenant's >=1.30 blocks 1.30.4-eks-a1
// only through semver's rule; the conflict says so.
func TestPrereleaseHintConflict(t *testing.T) {
	b := eksBuilder("1.29.3").
		Template("api", topology.Template{ID: "api_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "k8s", Constraint: c(">=1.29")}}}).
		Node("api", topology.Node{ID: "api-1", Template: "api_app", Relationships: on("cluster-1")})
	src := source(t, pkg("kubernetes", "1.30.4-eks-a1"))
	_, err := upgrade.NewPlanner(build(t, b), src).Plan(context.Background(), webRequest(">=1.30.0-0"))
	var ce *upgrade.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.True(t, strings.HasSuffix(err.Error(),
		"; 1.30.4-eks-a1 is a pre-release, which >=1.29 excludes: write >=1.29.0-0 to allow pre-releases"), err.Error())
}
