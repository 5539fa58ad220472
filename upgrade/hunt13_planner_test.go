package upgrade_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt13SiblingNeedsOSMovedOverInstalled: a Tomcat and a monitoring
// agent run on one VM. The shop's new version needs both upgraded. Every
// Tomcat 10 build needs Ubuntu >=22, and the newest agent needs Ubuntu
// <24, which the installed 20.04 meets. The only Ubuntu a package takes
// 20.04 to is 24.04 (22.04 upgrades from 21.10 only), so the agent must
// take 7.0.0, which needs nothing of the OS. The plan must not depend on
// which of the two is decided first: it did, as the agent's look ahead
// saw that 20.04 meets "<24" and stopped there, without what the Tomcat
// beside it will surely ask of the VM.
func TestHunt13SiblingNeedsOSMovedOverInstalled(t *testing.T) {
	ctx := context.Background()
	for _, agent := range []topology.NodeID{"agent-1", "zagent-1"} {
		t.Run(string(agent), func(t *testing.T) {
			topo := build(t, new(topology.Builder).
				Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
				Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.85")}).
				Template("shop", topology.Template{ID: "monitor_agent", Type: "agent", Version: v("6.2.0")}).
				Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
				Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
				Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("vm-1")}).
				Node("shop", topology.Node{ID: agent, Template: "monitor_agent", Relationships: on("vm-1")}).
				Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{
					{Relation: topology.HostedOn, Target: "tomcat-1"}, {Relation: topology.DependsOn, Target: agent}}}))
			src := source(t,
				requires(pkg("tomcat", "10.1.34"), "ubuntu", ">=22"),
				pkg("agent", "7.0.0"),
				requires(pkg("agent", "7.1.0"), "ubuntu", "<24"),
				from(pkg("ubuntu", "22.04"), ">=21.10"), pkg("ubuntu", "24.04"))
			plan, err := upgrade.NewPlanner(topo, src).Plan(ctx, shop2("tomcat_server", ">=10", "monitor_agent", ">=7"))
			require.NoError(t, err)
			to := map[topology.NodeID]string{}
			for _, s := range plan.Steps {
				to[s.Node] = s.To.String()
			}
			assert.Equal(t, map[topology.NodeID]string{"vm-1": "24.04", "tomcat-1": "10.1.34", agent: "7.0.0", "shop-1": "2.0.0"}, to)
		})
	}
}
