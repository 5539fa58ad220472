package upgrade_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt6Control is a control plane cp-1 at the installed version with a
// Helm release chart-1 on it.
func hunt6Control(installed string) *topology.Builder {
	return new(topology.Builder).
		Template("cluster", topology.Template{ID: "control_plane", Type: "kubernetes", Version: v(installed)}).
		Template("web", topology.Template{ID: "web_chart", Type: "helm", Version: v("1.0.0")}).
		Node("cluster", topology.Node{ID: "cp-1", Template: "control_plane"}).
		Node("web", topology.Node{ID: "chart-1", Template: "web_chart", Relationships: on("cp-1")})
}

func hunt6Chart(constraint string) upgrade.Request {
	return upgrade.Request{Application: "web", Replaces: "web_chart", Template: topology.Template{ID: "web_chart", Type: "helm", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(constraint)}}}}
}

// TestHunt6ConstraintsAndPolicies: versions and constraints as real
// systems write them, each policy's pick; pre-releases only when the
// constraint names one (Masterminds' rule), build metadata kept as
// written in From and To, and IDs in canonical form.
func TestHunt6ConstraintsAndPolicies(t *testing.T) {
	src := source(t, pkg("kubernetes", "v1.29.4"), pkg("kubernetes", "1.29.5+build.1"), pkg("kubernetes", "1.30.0-rc.1"),
		pkg("kubernetes", "1.30.0-rc.2"), pkg("kubernetes", "1.30.0"), pkg("kubernetes", "1.30.2"), pkg("kubernetes", "1.31.0-alpha.1"))
	none := "-"
	for _, tt := range []struct {
		constraint                   string
		newest, nearest, latestPatch string // To as written, or none: met already
	}{
		{">=1.29", "1.30.2", "v1.29.4", "1.29.5+build.1"},
		{">=1.30.0-0", "1.31.0-alpha.1", "1.30.0-rc.1", "1.30.2"},
		{"~1.30.0-0", "1.30.2", "1.30.0-rc.1", "1.30.2"},
		{">=1.30.0-rc.1, <1.30.0", "1.30.0-rc.2", "1.30.0-rc.1", "1.30.0-rc.2"},
		{"^1.29", "1.30.2", "v1.29.4", "1.29.5+build.1"},
		{"~1.29", "1.29.5+build.1", "v1.29.4", "1.29.5+build.1"},
		{"1.29.x", "1.29.5+build.1", "v1.29.4", "1.29.5+build.1"},
		{"!=1.30.2, >=1.30", "1.30.0", "1.30.0", "1.30.0"},
		{">=1.29.5", "1.30.2", "1.29.5+build.1", "1.29.5+build.1"},
		{"1.x", none, none, none},
		{"<1.29 || >=1.30", none, none, none},
		{">=1.28.3", none, none, none},
	} {
		for pol, want := range map[upgrade.Policy]string{upgrade.Newest: tt.newest, upgrade.Nearest: tt.nearest, upgrade.LatestPatch: tt.latestPatch} {
			name := fmt.Sprintf("%q %v", tt.constraint, pol)
			plan, err := upgrade.NewPlanner(build(t, hunt6Control("1.28.3")), src, upgrade.WithPolicy(pol)).Plan(t.Context(), hunt6Chart(tt.constraint))
			require.NoError(t, err, name)
			requireTopological(t, plan)
			if want == none {
				assert.Equal(t, []upgrade.StepID{"app/chart-1@2.0.0"}, ids(plan), name)
				require.Len(t, plan.Satisfied, 1, name)
				assert.Equal(t, topology.NodeID("cp-1"), plan.Satisfied[0].Node, name)
				assert.Equal(t, tt.constraint, plan.Satisfied[0].Demand.Constraint.String(), name)
				continue
			}
			require.Len(t, plan.Steps, 2, name)
			s := plan.Steps[0]
			assert.Equal(t, want, s.To.String(), name)
			assert.Equal(t, "1.28.3", s.From.String(), name)
			assert.Equal(t, upgrade.StepID("platform/cp-1@"+v(want).Canonical().String()), s.ID, name)
			assert.Equal(t, []upgrade.StepID{s.ID}, plan.Steps[1].After, name)
			assert.True(t, c(tt.constraint).Allows(s.To), name)
		}
	}
}

// TestHunt6PrereleaseOnlyWhenAsked: a release candidate above every stable
// release is never picked for a constraint that names no pre-release,
// and when it alone is there, the error says how to ask for it.
func TestHunt6PrereleaseOnlyWhenAsked(t *testing.T) {
	src := source(t, pkg("kubernetes", "1.29.4"), pkg("kubernetes", "1.30.0-rc.1"))
	plan, err := upgrade.NewPlanner(build(t, hunt6Control("1.28.3")), src).Plan(t.Context(), hunt6Chart(">=1.29"))
	require.NoError(t, err)
	assert.Equal(t, []string{"1.29.4"}, hunt6Tos(plan, "cp-1"))

	// ">=1.30" refuses 1.30.0-rc.1 for being below 1.30.0 too: no hint.
	_, err = upgrade.NewPlanner(build(t, hunt6Control("1.28.3")), src).Plan(t.Context(), hunt6Chart(">=1.30"))
	require.ErrorIs(t, err, upgrade.ErrNoPackage)
	npe, ok := errors.AsType[*upgrade.NoPackageError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("cp-1"), npe.Node)
	assert.Equal(t, versions("1.29.4", "1.30.0-rc.1"), npe.Considered)
	assert.NotContains(t, err.Error(), "pre-release")
	// ">=1.29.5" refuses it only for being a pre-release: the hint.
	_, err = upgrade.NewPlanner(build(t, hunt6Control("1.28.3")), src).Plan(t.Context(), hunt6Chart(">=1.29.5"))
	require.ErrorIs(t, err, upgrade.ErrNoPackage)
	assert.Contains(t, err.Error(), "; 1.30.0-rc.1 is a pre-release, which >=1.29.5 excludes: write >=1.29.5-0 to allow pre-releases")

	plan, err = upgrade.NewPlanner(build(t, hunt6Control("1.28.3")), src).Plan(t.Context(), hunt6Chart(">=1.30.0-rc.1"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.30.0-rc.1", "app/chart-1@2.0.0"}, ids(plan))
}

// TestHunt6OneMinorAtATime: kubeadm's one minor version per upgrade, with
// From constraints of "~1.N" as kubeadm's own; a gap in the releases is a
// *NoPathError that says the hop limit is why.
func TestHunt6OneMinorAtATime(t *testing.T) {
	src := source(t, from(pkg("kubernetes", "1.27.4"), "~1.26"), from(pkg("kubernetes", "1.28.4"), "~1.27"),
		from(pkg("kubernetes", "1.29.4"), "~1.28"), pkg("kubernetes", "1.30.0-rc.1"))
	for _, tt := range []struct {
		step       int
		policy     upgrade.Policy
		constraint string
		want       []string
	}{
		{1, upgrade.Nearest, ">=1.28", []string{"1.27.4", "1.28.4"}},
		{1, upgrade.Newest, ">=1.28", []string{"1.27.4", "1.28.4", "1.29.4"}},
		{2, upgrade.Newest, ">=1.29", []string{"1.27.4", "1.28.4", "1.29.4"}}, // the From constraints still hold
		{1, upgrade.Newest, ">=1.30.0-0", []string{"1.27.4", "1.28.4", "1.29.4", "1.30.0-rc.1"}},
	} {
		plan, err := upgrade.NewPlanner(build(t, hunt6Control("1.26.3")), src, upgrade.WithMaxMinorStep(tt.step), upgrade.WithPolicy(tt.policy)).Plan(t.Context(), hunt6Chart(tt.constraint))
		require.NoError(t, err, tt)
		requireTopological(t, plan)
		assert.Equal(t, tt.want, hunt6Tos(plan, "cp-1"), tt)
		for i, s := range plan.Steps[:len(tt.want)] {
			assert.Equal(t, fmt.Sprintf("hop %d of %d to %s: web_chart@2.0.0 (web) requires control_plane %s; node cp-1 has 1.26.3", i+1, len(tt.want), tt.want[len(tt.want)-1], tt.constraint), s.Reason)
		}
	}

	gap := source(t, pkg("kubernetes", "1.27.4"), pkg("kubernetes", "1.29.4"), pkg("kubernetes", "1.30.1"))
	_, err := upgrade.NewPlanner(build(t, hunt6Control("1.26.3")), gap, upgrade.WithMaxMinorStep(1)).Plan(t.Context(), hunt6Chart(">=1.29"))
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	pe, ok := errors.AsType[*upgrade.NoPathError](err)
	require.True(t, ok, err)
	assert.Equal(t, versions("1.29.4", "1.30.1"), pe.Targets)
	assert.Equal(t, "1.27.4", pe.Furthest.String())
	assert.Contains(t, err.Error(), "(a hop may advance at most 1 minor version)")
	// Without the limit, one hop.
	plan, err := upgrade.NewPlanner(build(t, hunt6Control("1.26.3")), gap).Plan(t.Context(), hunt6Chart(">=1.29"))
	require.NoError(t, err)
	assert.Equal(t, []string{"1.30.1"}, hunt6Tos(plan, "cp-1"))
}

// hunt6Node is a Node.js runtime node-1 at the installed version with the
// api service on it, and when cotenant is not empty a jobs service of
// another team on it too, with that constraint.
func hunt6Node(installed, cotenant string) *topology.Builder {
	b := new(topology.Builder).
		Template("api", topology.Template{ID: "node_rt", Type: "nodejs", Version: v(installed)}).
		Template("api", topology.Template{ID: "api_svc", Type: "service", Version: v("1.0.0")}).
		Node("api", topology.Node{ID: "node-1", Template: "node_rt"}).
		Node("api", topology.Node{ID: "api-1", Template: "api_svc", Relationships: on("node-1")})
	if cotenant != "" {
		b.Template("jobs", topology.Template{ID: "jobs_svc", Type: "service", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "node_rt", Constraint: c(cotenant)}}}).
			Node("jobs", topology.Node{ID: "jobs-1", Template: "jobs_svc", Relationships: on("node-1")})
	}
	return b
}

// TestHunt6DowngradeToLTS: the api's new version wants the Node.js 20
// LTS where 21 is installed: refused with a *DowngradeError listing the
// candidates unless downgrades are allowed; then the highest 20 that the
// co-tenant allows, whatever the policy.
func TestHunt6DowngradeToLTS(t *testing.T) {
	src := source(t, pkg("nodejs", "18.20.2"), pkg("nodejs", "20.11.1"), pkg("nodejs", "20.12.2"), pkg("nodejs", "21.7.3"), pkg("nodejs", "22.1.0"))
	req := upgrade.Request{Application: "api", Replaces: "api_svc", Template: topology.Template{ID: "api_svc", Type: "service", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "node_rt", Constraint: c("^20")}}}}
	for cotenant, want := range map[string]string{"": "20.12.2", ">=20.12": "20.12.2", "!=20.12.2": "20.11.1"} {
		for _, pol := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
			_, err := upgrade.NewPlanner(build(t, hunt6Node("21.7.3", cotenant)), src, upgrade.WithPolicy(pol)).Plan(t.Context(), req)
			require.ErrorIs(t, err, upgrade.ErrDowngrade)
			de, ok := errors.AsType[*upgrade.DowngradeError](err)
			require.True(t, ok, err)
			assert.Equal(t, topology.NodeID("node-1"), de.Node)
			assert.Equal(t, "21.7.3", de.Installed.String())
			assert.Contains(t, de.Candidates, v(want))
			assert.Contains(t, err.Error(), "upgrade.AllowDowngrades")

			plan, err := upgrade.NewPlanner(build(t, hunt6Node("21.7.3", cotenant)), src, upgrade.WithPolicy(pol), upgrade.AllowDowngrades()).Plan(t.Context(), req)
			require.NoError(t, err)
			assert.Equal(t, []upgrade.StepID{upgrade.StepID("platform/node-1@" + want), "app/api-1@2.0.0"}, ids(plan), "%q %v", cotenant, pol)
			assert.Contains(t, plan.String(), "downgrade node-1 (node_rt, nodejs) 21.7.3 → "+want)
		}
	}
}
