package upgrade_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt13AgentBesideTomcat is a VM, vm-1, with Ubuntu 20.04, hosting
// Tomcat 9 (tomcat-1), on which shop-1 runs, and a monitoring agent 6.2,
// node agent, which shop-1 depends on.
func hunt13AgentBesideTomcat(t *testing.T, agent topology.NodeID) *topology.Memory {
	t.Helper()
	return build(t, new(topology.Builder).
		Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.85")}).
		Template("shop", topology.Template{ID: "monitor_agent", Type: "agent", Version: v("6.2.0")}).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: agent, Template: "monitor_agent", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{
			{Relation: topology.HostedOn, Target: "tomcat-1"}, {Relation: topology.DependsOn, Target: agent}}}))
}

// TestHunt13SiblingNeedsOSMovedOverInstalled: a Tomcat and a monitoring
// agent run on one VM. The shop's new version needs both upgraded. Every
// Tomcat 10 build needs Ubuntu >=22, and the newest agent needs Ubuntu
// <24, which the installed 20.04 meets. The only Ubuntu a package takes
// 20.04 to is 24.04 (22.04 upgrades from 21.10 only), so the agent must
// take 7.0.0, which needs nothing of the OS. The plan must not depend on
// which of the two is decided first: it did, as the agent's look ahead
// saw that 20.04 meets "<24" and stopped there, without what the Tomcat
// beside it will surely ask of the VM. Now that a plan failing with a
// *NoPathError is made again passing over the agent's 7.1.0, it is
// found either way; the agent's decision says at once why not 7.1.0.
func TestHunt13SiblingNeedsOSMovedOverInstalled(t *testing.T) {
	ctx := context.Background()
	for _, agent := range []topology.NodeID{"agent-1", "zagent-1"} {
		t.Run(string(agent), func(t *testing.T) {
			topo := hunt13AgentBesideTomcat(t, agent)
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
			// The look ahead says why, not a plan made again passing
			// over 7.1.0 (see TestHunt13NoPathNamesItsDemands).
			dec, ok := plan.Decision(agent)
			require.True(t, ok)
			require.Equal(t, "7.1.0", dec.Candidates[0].Version.String())
			assert.Equal(t, "requires ubuntu <24, to which no upgrade path takes node vm-1 from 20.04", dec.Candidates[0].Rejected)
		})
	}
}

// TestHunt13NoPathNamesItsDemands: as in
// TestHunt13SiblingNeedsOSMovedOverInstalled, but Tomcat 10.0 builds need
// a JDK of their own, which the VM has not, and ask nothing of Ubuntu, so
// nothing tells the agent, decided first, what the Tomcat will ask of the
// VM. It takes 7.1.0, which needs Ubuntu <24; the Tomcat then takes
// 10.1.34, which needs >=22; and no package takes 20.04 to 22.04. The
// *NoPathError on the VM named neither package, so the plan was not made
// again passing over one of them, as a *ConflictError's would be, and it
// failed where agent 7.0.0 plans; nor did its message say why the VM must
// go to 22.04. Now it holds the demands and names them, and the plan made
// again passing over the agent's 7.1.0 succeeds. Without agent 7.0.0 no
// plan exists, and the error names both packages.
func TestHunt13NoPathNamesItsDemands(t *testing.T) {
	ctx := context.Background()
	pkgs := []pkgsource.Package{
		requires(pkg("tomcat", "10.0.27"), "jdk", ">=11"),
		requires(pkg("tomcat", "10.1.34"), "ubuntu", ">=22"),
		requires(pkg("agent", "7.1.0"), "ubuntu", "<24"),
		from(pkg("ubuntu", "22.04"), ">=21.10"), pkg("ubuntu", "24.04"),
	}
	req := shop2("tomcat_server", ">=10", "monitor_agent", ">=7")
	for _, agent := range []topology.NodeID{"agent-1", "zagent-1"} {
		t.Run(string(agent), func(t *testing.T) {
			topo := hunt13AgentBesideTomcat(t, agent)
			plan, err := upgrade.NewPlanner(topo, source(t, append(pkgs, pkg("agent", "7.0.0"))...)).Plan(ctx, req)
			require.NoError(t, err)
			to := map[topology.NodeID]string{}
			for _, s := range plan.Steps {
				to[s.Node] = s.To.String()
			}
			assert.Equal(t, map[topology.NodeID]string{"vm-1": "24.04", "tomcat-1": "10.1.34", agent: "7.0.0", "shop-1": "2.0.0"}, to)

			_, err = upgrade.NewPlanner(topo, source(t, pkgs...)).Plan(ctx, req)
			require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
			np, ok := errors.AsType[*upgrade.NoPathError](err)
			require.True(t, ok, err)
			assert.Equal(t, topology.NodeID("vm-1"), np.Node)
			assert.Contains(t, err.Error(), "package agent 7.1.0 for node "+string(agent)+" requires <24")
			assert.Contains(t, err.Error(), "package tomcat 10.1.34 for node tomcat-1 requires >=22")
		})
	}
}
