package upgrade_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt9ReplanPassesOverBuildsAlike: an Ubuntu 20.04 VM runs a Python
// and a Node.js runtime. Node.js 22 needs Ubuntu 24.04; the Python 3.12
// builds 3.12.1 and up run on 22.04 only, each saying so in its own words
// ("~22.04", "=22.04", "22.04.x", …), and only 3.12.0 runs on 24.04 too. A
// plan that takes a 22.04-only build fails on the VM; made again, it must
// pass over every build that asks the same of Ubuntu, however written,
// and take 3.12.0. Before, each spelling cost a plan made again, and past
// four of them the planner ran out of tries and reported a conflict that
// told the operator to add packages the mirror did not need.
func TestHunt9ReplanPassesOverBuildsAlike(t *testing.T) {
	topo := build(t, hunt9Runtimes("a-py", "b-node")) // Python decided first
	base := []pkgsource.Package{from(pkg("ubuntu", "22.04"), ">=20.04, <22.04"), from(pkg("ubuntu", "24.04"), ">=22.04, <24.04"),
		requires(pkg("nodejs", "22.9.0"), "ubuntu", ">=24.04"), requires(pkg("python", "3.12.0"), "ubuntu", ">=22.04")}
	alike := []string{"~22.04", "=22.04", ">=22.04, <24.04", "22.04.x", ">=22.04, <=22.04", "~22.4", "^22.04, <23", "22.x", ">=22, <23", ">22.03, <22.05"}
	reqs := []upgrade.Request{hunt9Request("etl", "etl_app", "2.0.0", "python_runtime", ">=3.12"), hunt9Request("web", "web_app", "2.0.0", "node_runtime", ">=22")}
	for n := range len(alike) + 1 {
		pkgs := base
		for i, cn := range alike[:n] {
			pkgs = append(pkgs, requires(pkg("python", fmt.Sprintf("3.12.%d", i+1)), "ubuntu", cn))
		}
		plan, err := hunt9Plan(t, topo, pkgs, nil, reqs...)
		require.NoError(t, err, "%d builds for 22.04 only", n)
		assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0", "platform/vm-1@24.4.0", "platform/a-py@3.12.0", "platform/b-node@22.9.0",
			"app/etl-1@2.0.0", "app/web-1@2.0.0"}, ids(plan), "%d builds for 22.04 only", n)
	}
}

// TestHunt9BuildForTheInstalledOSTaken: an agent that stays keeps the
// VM on Ubuntu 20.04; of two Python 3.12 builds that the mirror's Ubuntu
// packages meet alike, the newer runs on 22.04 only and the older on
// 20.04 too: the older is taken, with no step for the VM. (Which of two
// requirements ask alike of a node that failed counts its installed
// version too: see TestAsksAlike.)
func TestHunt9BuildForTheInstalledOSTaken(t *testing.T) {
	// The agent stays, and its template allows Ubuntu below 22.04 only.
	topo := build(t, new(topology.Builder).
		Template("base", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("base", topology.Template{ID: "python_runtime", Type: "python", Version: v("3.8.10")}).
		Template("base", topology.Template{ID: "agent_runtime", Type: "agent", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "ubuntu_os", Constraint: c("<22.04")}}}).
		Template("etl", topology.Template{ID: "etl_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "python_runtime", Constraint: c(">=3.8")}}}).
		Node("base", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("base", topology.Node{ID: "a-py", Template: "python_runtime", Relationships: on("vm-1")}).
		Node("base", topology.Node{ID: "b-agent", Template: "agent_runtime", Relationships: on("vm-1")}).
		Node("etl", topology.Node{ID: "etl-1", Template: "etl_app", Relationships: on("a-py")}))
	pkgs := []pkgsource.Package{from(pkg("ubuntu", "22.04"), ">=20.04, <22.04"),
		requires(pkg("python", "3.12.1"), "ubuntu", ">=20.04, <=22.04"), requires(pkg("python", "3.12.2"), "ubuntu", "~22.04")}
	plan, err := hunt9Plan(t, topo, pkgs, nil, hunt9Request("etl", "etl_app", "2.0.0", "python_runtime", ">=3.12"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/a-py@3.12.1", "app/etl-1@2.0.0"}, ids(plan))
}
