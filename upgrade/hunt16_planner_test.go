package upgrade_test

import (
	"context"
	"fmt"
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
