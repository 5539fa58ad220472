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
