package upgrade_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt18Runtimes is an Ubuntu 20.04 VM running a Python, a Node.js and a
// Ruby, each for an application of its own, decided in that order.
func hunt18Runtimes() *topology.Builder {
	b := hunt9Runtimes("a-py", "b-node").
		Template("base", topology.Template{ID: "ruby_runtime", Type: "ruby", Version: v("3.2.0")}).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "ruby_runtime", Constraint: c(">=3.2")}}}).
		Node("base", topology.Node{ID: "c-ruby", Template: "ruby_runtime", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("c-ruby")})
	return b
}

// TestHunt18ReplanBlamesThreeWayConflict: Python 3.12 runs on Ubuntu
// 22.04 and 24.04, Node.js 22 on 24.04 and 24.10, Ruby 3.3 on 22.04 and
// 24.10 (its build breaks on 24.04): each two of them share an Ubuntu,
// the three none. Python 3.11 runs on any. Python, decided first, takes
// 3.12, which meets Node.js 22 on 24.04; Ruby, decided last, goes through
// 3.3 whatever it takes (3.4 installs over 3.3 only), and the VM fails.
// The plan exists: Python 3.11, Node.js 22 and Ruby 3.3 then 3.4 on
// 24.10. Before, the
// planner made the plan again passing over Node.js 22 and then Ruby 3.3,
// the two that no version the error tried (those Python 3.12 allows)
// meets together, and never Python 3.12, part of the conflict as much as
// they: it failed naming the conflict.
func TestHunt18ReplanBlamesThreeWayConflict(t *testing.T) {
	topo := build(t, hunt18Runtimes())
	pkgs := []pkgsource.Package{
		pkg("ubuntu", "22.04"), pkg("ubuntu", "24.04"), pkg("ubuntu", "24.10"),
		requires(pkg("python", "3.11.9"), "ubuntu", ">=20.04"), requires(pkg("python", "3.12.7"), "ubuntu", ">=22.04, <24.10"),
		requires(pkg("nodejs", "22.9.0"), "ubuntu", ">=24.04"),
		requires(pkg("ruby", "3.3.5"), "ubuntu", "~22.04 || >=24.10"), from(pkg("ruby", "3.4.1"), ">=3.3"),
	}
	reqs := []upgrade.Request{
		hunt9Request("etl", "etl_app", "2.0.0", "python_runtime", ">=3.11"),
		hunt9Request("web", "web_app", "2.0.0", "node_runtime", ">=22"),
		hunt9Request("shop", "shop_app", "2.0.0", "ruby_runtime", ">=3.3"),
	}
	plan, err := hunt9Plan(t, topo, pkgs, nil, reqs...)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@24.10.0", "platform/a-py@3.11.9", "platform/b-node@22.9.0", "platform/c-ruby@3.3.5", "platform/c-ruby@3.4.1",
		"app/etl-1@2.0.0", "app/shop-1@2.0.0", "app/web-1@2.0.0"}, ids(plan))
}

// TestHunt18ReplanMovesNodeKeptInPlace: shop 2.0 needs Tomcat 10 or
// later and Ubuntu 22.04; the JDK 11 beneath Tomcat is of a template
// built for Ubuntu below 22.04. Under Nearest, Tomcat takes 10.1, which
// runs on the JDK 11 installed: the JDK stays, its template keeps the VM
// below 22.04, and the VM fails. The plan exists: Tomcat 11, which needs
// JDK 17, which runs on 22.04, takes the JDK off the old template. Before,
// the planner made the plan again only passing over packages the error
// named, and it named the JDK's template and the request alone: it
// failed, telling the user to change the demands.
func TestHunt18ReplanMovesNodeKeptInPlace(t *testing.T) {
	topo := build(t, new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.85")}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("11.0.22"),
			Requirements: []topology.Requirement{{Template: "ubuntu_os", Constraint: c("<22.04")}}}).
		Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("java-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")}))
	pkgs := []pkgsource.Package{
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), requires(pkg("tomcat", "11.0.2"), "jdk", ">=17"),
		requires(pkg("jdk", "17.0.10"), "ubuntu", ">=22.04"), pkg("ubuntu", "22.04"),
	}
	plan, err := hunt9Plan(t, topo, pkgs, []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)}, shop2("tomcat_server", ">=10", "ubuntu_os", ">=22.04"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0", "platform/java-1@17.0.10", "platform/tomcat-1@11.0.2", "app/shop-1@2.0.0"}, ids(plan))
}
