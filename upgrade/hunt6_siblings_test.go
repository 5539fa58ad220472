package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt6SidecarShop is the shop of shopBuilder(1) whose instance also
// depends on a Python runtime (node python, of template python_rt) that
// runs on the same VM as its JDK.
func hunt6SidecarShop(t *testing.T, python topology.NodeID) topology.Topology {
	t.Helper()
	b := shopBuilder(1).
		Template("shop", topology.Template{ID: "python_rt", Type: "python", Version: v("3.10.12")}).
		Node("shop", topology.Node{ID: python, Template: "python_rt", Relationships: on("vm-1")})
	apps := build(t, b).Applications()
	for i := range apps[0].Nodes {
		if n := &apps[0].Nodes[i]; n.ID == "shop-1" {
			n.Relationships = append(n.Relationships, topology.Relationship{Relation: topology.DependsOn, Target: python})
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	return topo
}

// TestHunt6SiblingsDoNotDependOnNodeIDs: shop 2.0 needs Java >=17 and
// Python >=3.12, both on vm-1 (Ubuntu 18.04). JDK 21 needs Ubuntu >=22.04,
// JDK 17 needs >=20.04, and the only Python 3.12 build needs
// >=20.04, <22.04. JDK 17 + Python 3.12.3 + Ubuntu 20.04 meets everything.
// Nodes of one height are decided in the order of their IDs: when the
// Python node is called "interp-1" it is decided first, and JDK 21 is
// passed over at once for the Ubuntu it needs; when it is called
// "python-1", java-1 is decided first, and JDK 21 is passed over all the
// same, as every Python package the request allows needs an Ubuntu below
// 22.04 (see sureDemand), which java-1's decision says. Whether a plan
// exists does not depend on what a node is called.
func TestHunt6SiblingsDoNotDependOnNodeIDs(t *testing.T) {
	src := source(t,
		requires(pkg("jdk", "17.0.10"), "ubuntu", ">=20.04"),
		requires(pkg("jdk", "21.0.2"), "ubuntu", ">=22.04"),
		requires(pkg("python", "3.12.3"), "ubuntu", ">=20.04, <22.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"))
	req := shop2("java_runtime", ">=17", "python_rt", ">=3.12")

	plan, err := upgrade.NewPlanner(hunt6SidecarShop(t, "interp-1"), src).Plan(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@20.4.0", "platform/interp-1@3.12.3", "platform/java-1@17.0.10", "app/shop-1@2.0.0"}, ids(plan))

	plan, err = upgrade.NewPlanner(hunt6SidecarShop(t, "python-1"), src).Plan(t.Context(), req)
	require.NoError(t, err, "the same deployment with the Python node renamed")
	assert.ElementsMatch(t, []upgrade.StepID{"platform/vm-1@20.4.0", "platform/python-1@3.12.3", "platform/java-1@17.0.10", "app/shop-1@2.0.0"}, ids(plan))
	assert.Equal(t, []upgrade.Candidate{
		{Version: v("21.0.2"), Rejected: "requires ubuntu >=22.04, which the co-tenants of node vm-1 do not allow: package python 3.12.3 for node python-1 requires >=20.04, <22.04"},
		{Version: v("17.0.10"), Chosen: true},
	}, decided(t, plan, "java-1").Candidates)
}

// TestHunt6ReplanKeepsFirstError: when no plan made again succeeds, the
// error is that of the first plan, whatever the others met: here every
// JDK needs an Ubuntu >=22.04 that the only Python does not run on, and
// passing over the Python package would fail on python-1 instead.
func TestHunt6ReplanKeepsFirstError(t *testing.T) {
	src := source(t,
		requires(pkg("jdk", "17.0.10"), "ubuntu", ">=22.04"),
		requires(pkg("jdk", "21.0.2"), "ubuntu", ">=22.04"),
		requires(pkg("python", "3.12.3"), "ubuntu", ">=20.04, <22.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"))
	req := shop2("java_runtime", ">=17", "python_rt", ">=3.12")
	_, err := upgrade.NewPlanner(hunt6SidecarShop(t, "python-1"), src).Plan(t.Context(), req)
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("vm-1"), ce.Node)
	assert.Contains(t, err.Error(), "package jdk 21.0.2 for node java-1 requires >=22.04")
	assert.Contains(t, err.Error(), "package python 3.12.3 for node python-1 requires >=20.04, <22.04")
}
