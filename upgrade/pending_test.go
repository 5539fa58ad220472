package upgrade_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// A server's package is chosen before the runtime beneath it is decided,
// yet it must respect what other requests already demand of that runtime:
// tomcat 11 needs a JDK that the agent's new version rules out, so the
// plan takes tomcat 10.
func TestPlanChoiceHeedsDemandsBeneathNotYetDecided(t *testing.T) {
	b := shopBuilder(1).
		Template("agent", topology.Template{ID: "agent_app", Type: "agent", Version: v("1.0.0")}).
		Node("agent", topology.Node{ID: "agent-1", Template: "agent_app", Relationships: on("java-1")})
	topo := build(t, b)
	tomcat := func(ver, jdk string) pkgsource.Package {
		p := pkg("tomcat", ver)
		p.Requires = []pkgsource.Requirement{{Type: "jdk", Constraint: c(jdk)}}
		return p
	}
	src := source(t, tomcat("10.1.34", ">=11"), tomcat("11.0.2", ">=17"), pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"))
	agent := upgrade.Request{Application: "agent", Replaces: "agent_app",
		Template: topology.Template{ID: "agent_app", Type: "agent", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=11, <17")}}}}
	for _, reqs := range [][]upgrade.Request{
		{shop2("tomcat_server", ">=10"), agent},
		{agent, shop2("tomcat_server", ">=10")},
	} {
		plan, err := upgrade.NewPlanner(topo, src).PlanAll(context.Background(), reqs...)
		require.NoError(t, err)
		to := map[topology.NodeID]string{}
		for _, s := range plan.Steps {
			to[s.Node] = s.To.String()
		}
		require.Equal(t, "10.1.34", to["tomcat-1"])
		require.Equal(t, "11.0.22", to["java-1"])
	}
}
