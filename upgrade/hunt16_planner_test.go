package upgrade_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt16KubeReleases is a catalogue of Kubernetes releases as a
// distribution lists them: ten patch releases of each minor version from
// 1.18 to 1.30, 130 versions.
func hunt16KubeReleases() []pkgsource.Package {
	var out []pkgsource.Package
	for minor := 18; minor <= 30; minor++ {
		for patch := range 10 {
			out = append(out, pkg("kubernetes", fmt.Sprintf("1.%d.%d", minor, patch)))
		}
	}
	return out
}

// TestHunt16ErrorsNameVersionsAtBothEnds: an error that lists more
// versions than it names names those at both ends of the list, where it
// named the lowest 32 only. A chart that needs Kubernetes 1.31 was told
// that 1.18.0 to 1.21.1 were available, "and 98 more", and not that 1.30.9
// is the newest, what to relax its kubeVersion to; a control plane above
// what a chart allows was offered a downgrade to 1.18.0 to 1.21.1, and
// not to 1.29.9, the nearest.
func TestHunt16ErrorsNameVersionsAtBothEnds(t *testing.T) {
	src := source(t, hunt16KubeReleases()...)

	_, err := upgrade.NewPlanner(build(t, hunt6Control("1.28.3")), src).Plan(t.Context(), hunt6Chart(">=1.31"))
	var noPackage *upgrade.NoPackageError
	require.ErrorAs(t, err, &noPackage)
	assert.Len(t, noPackage.Considered, 130)
	assert.Contains(t, err.Error(), "kubernetes packages available: 1.18.0, 1.18.1, ")
	assert.Contains(t, err.Error(), ", 1.30.8, 1.30.9; ")

	_, err = upgrade.NewPlanner(build(t, hunt6Control("1.30.3")), src).Plan(t.Context(), hunt6Chart("<1.30"))
	var downgrade *upgrade.DowngradeError
	require.ErrorAs(t, err, &downgrade)
	assert.Len(t, downgrade.Candidates, 120)
	assert.Contains(t, err.Error(), "a downgrade to one of 1.18.0, 1.18.1, ")
	assert.Contains(t, err.Error(), ", 1.29.8, 1.29.9, and downgrades are not allowed")
}

// TestHunt16UnknownApplicationNamesRequest: a request for an application
// the topology does not hold failed with the topology's "application
// "shpo" not found" alone, naming neither the request nor what to do,
// where an unknown Replaces names both. In a batch of a fleet's requests
// the error now says which request and field, and what to name.
func TestHunt16UnknownApplicationNamesRequest(t *testing.T) {
	typo := shop2("tomcat_server", ">=10")
	typo.Application = "shpo"
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).PlanAll(t.Context(), shop2("tomcat_server", ">=10"), typo)
	require.ErrorIs(t, err, topology.ErrNotFound)
	var nf *topology.NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "shpo", nf.ID)
	assert.Equal(t, `upgrade: request #2: Application: topology: application "shpo" not found; `+
		`name the deployed application whose nodes of template "shop_app" the request upgrades, as the topology spells it`, err.Error())
}

// hunt16CMDB is the shop of shopBuilder(1) as a CMDB serves it, whose
// record of tomcat-1 says it is hosted on java-9, a node it does not
// hold: a record left behind when the JVM was rebuilt under a new name.
type hunt16CMDB struct{ *topology.Memory }

func (c hunt16CMDB) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	n, err := c.Memory.Node(ctx, id)
	if err != nil || id != "tomcat-1" {
		return n, err
	}
	stale := *n
	stale.Relationships = on("java-9")
	return &stale, nil
}

// TestHunt16DanglingRelationshipNamesNode: a relationship of a host's
// topology to a node it does not hold failed the plan with the topology's
// `node "java-9" not found` alone, naming neither the node whose
// relationship it is nor what to do; a CMDB's operator was left to search
// it for the node that names java-9. The error now names the node and the
// relationship, and says to add the node or remove the relationship.
func TestHunt16DanglingRelationshipNamesNode(t *testing.T) {
	_, err := upgrade.NewPlanner(hunt16CMDB{build(t, shopBuilder(1))}, catalogue(t)).Plan(t.Context(), shop2("java_runtime", ">=17"))
	require.ErrorIs(t, err, topology.ErrNotFound)
	var nf *topology.NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "java-9", nf.ID)
	assert.Contains(t, err.Error(), `node "tomcat-1" relationship #1`)
	assert.Contains(t, err.Error(), `hosted_on node "java-9", which the topology does not hold: add the node to the topology, or remove the relationship`)
}

// hunt16StaleIndex is the shop of shopBuilder(1) as a host serves it
// from an index of dependents gone stale: it lists, among the dependents
// of some nodes, nodes removed since, which it does not hold: an agent-7
// hosted on tomcat-1, a jmx-1 exporter on java-1. It is no
// topology.AboveLister, so the planner walks its Dependents up.
type hunt16StaleIndex struct {
	h11StaleDependents                                     // for its Application, Node and Template: the Memory's
	gone               map[topology.NodeID]topology.NodeID // by the node listing it
}

func (s hunt16StaleIndex) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	deps, err := s.m.Dependents(ctx, id)
	if gone, ok := s.gone[id]; ok {
		deps = append(slices.Clip(deps), topology.Dependent{App: "shop", Node: gone, Template: "shop_app", Relation: topology.HostedOn})
	}
	return deps, err
}

// TestHunt16StaleDependentNamesIt: a node that a host's Dependents list
// and that the host does not hold failed the plan with `node "agent-7"
// not found` alone, as the planner walked up from it for co-tenants (of
// tomcat-1 being decided, or of java-1 beneath it looked at ahead):
// nothing said that the node was a dependent in a stale index, of which
// node, nor what to do. The error now names where the index lists it and
// says to bring the index up to date.
func TestHunt16StaleDependentNamesIt(t *testing.T) {
	for _, tt := range []struct {
		name, template, constraint, dependent string
		gone                                  map[topology.NodeID]topology.NodeID
		src                                   *pkgsource.Memory
	}{
		{"co-tenants", "java_runtime", ">=17", `dependent #2 of node "tomcat-1", node "agent-7"`, map[topology.NodeID]topology.NodeID{"tomcat-1": "agent-7"}, catalogue(t)},
		{"look-ahead", "tomcat_server", ">=10", `dependent #2 of node "java-1", node "jmx-1"`, map[topology.NodeID]topology.NodeID{"java-1": "jmx-1"},
			source(t, requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), pkg("jdk", "17.0.10"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topo := hunt16StaleIndex{h11StaleDependents{build(t, shopBuilder(1))}, tt.gone}
			_, err := upgrade.NewPlanner(topo, tt.src).Plan(t.Context(), shop2(tt.template, tt.constraint))
			require.ErrorIs(t, err, topology.ErrNotFound)
			assert.Contains(t, err.Error(), tt.dependent+` of template "shop_app": topology: node "`)
			assert.Contains(t, err.Error(), `not found; the topology lists among the dependents a node or template it does not hold: bring its index of dependents up to date`)
		})
	}
}

// hunt16GoneTemplate is the shop of shopBuilder(1) as a CMDB serves it,
// whose record of java-1 names java_runtime_old, a template it no longer
// holds.
type hunt16GoneTemplate struct{ hunt16StaleIndex }

func (g hunt16GoneTemplate) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	n, err := g.m.Node(ctx, id)
	if err != nil || id != "java-1" {
		return n, err
	}
	stale := *n
	stale.Template = "java_runtime_old"
	return &stale, nil
}

// TestHunt16NodeOfGoneTemplateNamed: a node whose template the topology
// does not hold failed the plan with `template "java_runtime_old" not
// found` alone, naming neither the node nor what to do; and, met through
// a relationship, it was said to be a node the topology does not hold.
// The error now names the node and its template, and says what to do.
func TestHunt16NodeOfGoneTemplateNamed(t *testing.T) {
	topo := hunt16GoneTemplate{hunt16StaleIndex{h11StaleDependents{build(t, shopBuilder(1))}, nil}}
	_, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, topology.ErrNotFound)
	assert.Contains(t, err.Error(), `node "java-1": invalid topology: of template "java_runtime_old", which the topology does not hold: `+
		`add the template to the topology, or give the node its template (topology: template "java_runtime_old" not found)`)
	assert.NotContains(t, err.Error(), "which the topology does not hold: add the node")
}
