package topology_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

var (
	v = version.MustParse
	c = version.MustParseConstraint
)

func hostedOn(target topology.NodeID) topology.Relationship {
	return topology.Relationship{Relation: topology.HostedOn, Target: target}
}

func dependsOn(target topology.NodeID) topology.Relationship {
	return topology.Relationship{Relation: topology.DependsOn, Target: target}
}

func rels(rs ...topology.Relationship) []topology.Relationship { return rs }

// shopApps returns, freshly allocated on every call, the shop of
// testdata/shop.json built in Go: instances shop-N on tomcat-N on java-N on
// vm-N, and a billing application whose billing-1 runs on tomcat-1. Nodes
// leave their version to their template except java-3 and tomcat-3, which
// lag behind.
func shopApps(instances int) []topology.Application {
	shop := topology.Application{
		ID: "shop",
		Templates: []topology.Template{
			{ID: "shop_app", Type: "webapp", Version: v("1.4.0"), Requirements: []topology.Requirement{
				{Name: "host", Template: "tomcat_server", Constraint: c(">=8.5, <9"), Relation: topology.HostedOn}}},
			{ID: "tomcat_server", Type: "tomcat", Version: v("8.5.100"), Requirements: []topology.Requirement{
				{Name: "runtime", Template: "java_runtime", Constraint: c(">=8"), Relation: topology.HostedOn}}},
			{ID: "java_runtime", Type: "jdk", Version: v("8.0.402"), Requirements: []topology.Requirement{
				{Name: "os", Template: "ubuntu_os", Relation: topology.HostedOn}}},
			{ID: "ubuntu_os", Type: "ubuntu", Version: v("18.04")},
		},
	}
	for i := 1; i <= instances; i++ {
		id := func(p string) topology.NodeID { return topology.NodeID(fmt.Sprintf("%s-%d", p, i)) }
		java := topology.Node{ID: id("java"), Template: "java_runtime", Relationships: rels(hostedOn(id("vm")))}
		tomcat := topology.Node{ID: id("tomcat"), Template: "tomcat_server", Relationships: rels(hostedOn(id("java")))}
		if i == 3 {
			java.Version = v("8.0.392")
			tomcat.Version = v("8.5.96")
		}
		shop.Nodes = append(shop.Nodes,
			topology.Node{ID: id("vm"), Template: "ubuntu_os"},
			java,
			tomcat,
			topology.Node{ID: id("shop"), Template: "shop_app", Relationships: rels(hostedOn(id("tomcat")))},
		)
	}
	billing := topology.Application{
		ID: "billing",
		Templates: []topology.Template{
			{ID: "billing_app", Type: "webapp", Version: v("2.1.0"), Requirements: []topology.Requirement{
				{Name: "host", Template: "tomcat_server", Constraint: c(">=8.5.50"), Relation: topology.HostedOn}}},
		},
		Nodes: []topology.Node{
			{ID: "billing-1", Template: "billing_app", Relationships: rels(hostedOn("tomcat-1"))},
		},
	}
	return []topology.Application{shop, billing}
}

// mustShop builds shopApps(3) into a Memory.
func mustShop(t testing.TB) *topology.Memory {
	t.Helper()
	m, err := topology.New(shopApps(3)...)
	require.NoError(t, err)
	require.NotNil(t, m)
	return m
}

// problems returns the *topology.Error values inside err, which must be the
// *multierror.Error that Validate returns.
func problems(t testing.TB, err error) []*topology.Error {
	t.Helper()
	var merr *multierror.Error
	require.ErrorAs(t, err, &merr, "Validate must return a *multierror.Error")
	out := make([]*topology.Error, 0, len(merr.Errors))
	for _, e := range merr.Errors {
		var te *topology.Error
		require.ErrorAs(t, e, &te, "every problem must be a *topology.Error: %v", e)
		out = append(out, te)
	}
	return out
}

// normalize makes empty and nil slices alike, so that applications that say
// the same thing compare equal however they were decoded.
func normalize(apps []topology.Application) []topology.Application {
	for i := range apps {
		a := &apps[i]
		if len(a.Templates) == 0 {
			a.Templates = nil
		}
		if len(a.Nodes) == 0 {
			a.Nodes = nil
		}
		for j := range a.Templates {
			if len(a.Templates[j].Requirements) == 0 {
				a.Templates[j].Requirements = nil
			}
		}
		for j := range a.Nodes {
			if len(a.Nodes[j].Relationships) == 0 {
				a.Nodes[j].Relationships = nil
			}
		}
	}
	if len(apps) == 0 {
		return nil
	}
	return apps
}
