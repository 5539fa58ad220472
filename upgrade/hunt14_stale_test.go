package upgrade_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14StaleSatisfiedCheck: the shop's new version needs a Tomcat
// below 10, which tomcat-1 meets at 8.5.100: the plan leaves it alone
// (a satisfied check) and deploys shop-1 on it. If another run takes
// tomcat-1 to 10.1.34 before the plan runs, the stale check must refuse
// the plan, as planning again would fail: it ran, and deployed shop 2.0
// onto a Tomcat it does not run on. A Tomcat moved within the demand
// (9.0.98) leaves the plan good; one gone makes it stale.
func TestHunt14StaleSatisfiedCheck(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=8.5, <10"))
	require.NoError(t, err)
	require.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0"}, ids(plan))
	require.Len(t, plan.Satisfied, 1)
	require.Equal(t, topology.NodeID("tomcat-1"), plan.Satisfied[0].Node)

	t.Run("moved out of the demand", func(t *testing.T) {
		ex := &jrRecorder{}
		_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(pfTopo(t, 1, map[topology.NodeID]string{"tomcat-1": "10.1.34"})))
		require.ErrorIs(t, err, upgrade.ErrStalePlan)
		se, ok := errors.AsType[*upgrade.StaleError](err)
		require.True(t, ok)
		assert.Equal(t, topology.NodeID("tomcat-1"), se.Node)
		assert.Equal(t, "10.1.34", se.Actual)
		assert.Equal(t, ">=8.5, <10", se.Expected)
		require.NotNil(t, se.Check)
		assert.Equal(t, plan.Satisfied[0], *se.Check)
		assert.Equal(t, `upgrade: stale plan: node "tomcat-1" has 10.1.34, which no longer meets >=8.5, <10, required by shop_app@2.0.0 (shop) (the plan found it at 8.5.100): plan again`, err.Error())
		assert.Empty(t, ex.ran, "a stale plan runs nothing")
	})
	t.Run("moved within the demand", func(t *testing.T) {
		ex := &jrRecorder{}
		_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(pfTopo(t, 1, map[topology.NodeID]string{"tomcat-1": "9.0.98"})))
		require.NoError(t, err)
		assert.Equal(t, ids(plan), ex.ran)
	})
	t.Run("gone", func(t *testing.T) {
		topo := build(t, new(topology.Builder).
			Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
			Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("18.04")}).
			Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
			Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("vm-1")}))
		ex := &jrRecorder{}
		_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(topo))
		require.ErrorIs(t, err, upgrade.ErrStalePlan)
		require.ErrorIs(t, err, topology.ErrNotFound)
		assert.Contains(t, err.Error(), `the plan found node "tomcat-1" at 8.5.100, meeting >=8.5, <10, required by shop_app@2.0.0 (shop), but the topology no longer has it`)
		assert.Empty(t, ex.ran)
	})
}

// TestHunt14StaleCurrentApplicationNode: a node a request replaces that
// had the request's version already is a satisfied check too; rolled
// back to its old version since, it would be left there by the plan.
func TestHunt14StaleCurrentApplicationNode(t *testing.T) {
	plan, err := upgrade.NewPlanner(pfTopo(t, 2, map[topology.NodeID]string{"shop-2": "2.0.0"}), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=8.5, <10"))
	require.NoError(t, err)
	require.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0"}, ids(plan))
	ex := &jrRecorder{}
	_, err = upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(pfTopo(t, 2, nil)))
	require.ErrorIs(t, err, upgrade.ErrStalePlan)
	se, ok := errors.AsType[*upgrade.StaleError](err)
	require.True(t, ok)
	assert.Equal(t, topology.NodeID("shop-2"), se.Node)
	assert.Equal(t, "1.4.0", se.Actual)
	assert.Empty(t, ex.ran)
}

// countingNodes counts the lookups of each node.
type countingNodes struct {
	topology.Topology
	mu    sync.Mutex
	asked map[topology.NodeID]int
}

func (c *countingNodes) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	c.mu.Lock()
	c.asked[id]++
	c.mu.Unlock()
	return c.Topology.Node(ctx, id)
}

// TestHunt14StaleSatisfiedAskedOnce: a node has a satisfied check per
// demand on it; the stale check asks the topology, which may be a remote
// inventory, for the node once, not once per check.
func TestHunt14StaleSatisfiedAskedOnce(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=8.5", "tomcat_server", "<10"))
	require.NoError(t, err)
	require.Len(t, plan.Satisfied, 2)
	require.Equal(t, plan.Satisfied[0].Node, plan.Satisfied[1].Node)
	topo := &countingNodes{Topology: pfTopo(t, 1, nil), asked: map[topology.NodeID]int{}}
	_, err = upgrade.Run(context.Background(), plan, new(upgradetest.Executor), upgrade.WithStaleCheck(topo))
	require.NoError(t, err)
	assert.Equal(t, 1, topo.asked[plan.Satisfied[0].Node])
}
