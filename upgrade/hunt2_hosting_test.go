package upgrade_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt2SearchBuilder is the shop of shopBuilder(1), whose node also
// depends on a search service, search-1, that runs on a JVM of its own,
// java-s, of the same template as the shop's (java_runtime), on vm-s.
func hunt2SearchBuilder() *topology.Builder {
	return shopBuilder(0).
		Template("shop", topology.Template{ID: "search", Type: "elasticsearch", Version: v("7.17.0")}).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("java-1")}).
		Node("shop", topology.Node{ID: "vm-s", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "java-s", Template: "java_runtime", Relationships: on("vm-s")}).
		Node("shop", topology.Node{ID: "search-1", Template: "search", Relationships: on("java-s")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{
			{Relation: topology.HostedOn, Target: "tomcat-1"}, {Relation: topology.DependsOn, Target: "search-1"}}})
}

// TestHunt2RequestFollowsHostingChain: shop 2.0 needs Java 17 and Ubuntu
// 22.04 of what it runs on (tomcat-1 on java-1 on vm-1). The JVM and the
// VM of the search service it depends on are of the same templates, but
// the shop does not run on them: they were upgraded too. A requirement
// binds the nodes down the hosting chain, as the README says ("down its
// hosting chain to the platform node it actually runs on"), and, as for a
// package's requirement, those it depends on only when none there is of
// the template: the search service itself, which the shop needs 8 of.
func TestHunt2RequestFollowsHostingChain(t *testing.T) {
	src := source(t, pkg("jdk", "17.0.10"), pkg("ubuntu", "22.04"), pkg("elasticsearch", "8.12.0"))
	plan, err := upgrade.NewPlanner(build(t, hunt2SearchBuilder()), src).Plan(t.Context(),
		shop2("java_runtime", ">=17", "ubuntu_os", ">=22.04", "search", ">=8"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/search-1@8.12.0", "platform/vm-1@22.4.0", "platform/java-1@17.0.10", "app/shop-1@2.0.0"}, ids(plan))
	_, ok := plan.Decision("java-s")
	assert.False(t, ok, "the search service's JVM is not the shop's")
	app, _ := plan.Step("app/shop-1@2.0.0")
	assert.Equal(t, []upgrade.StepID{"platform/java-1@17.0.10", "platform/search-1@8.12.0"}, app.After)
}
