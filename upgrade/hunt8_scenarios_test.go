package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt8Step is what a test asserts of a step: its ID, From, To and After.
type hunt8Step struct {
	ID       upgrade.StepID
	From, To string
	After    []upgrade.StepID
}

// hunt8Steps returns the plan's steps as hunt8Step values, in order.
func hunt8Steps(p *upgrade.Plan) []hunt8Step {
	out := make([]hunt8Step, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = hunt8Step{s.ID, s.From.String(), s.To.String(), s.After}
	}
	return out
}

// hunt8Inventory is an inventory application on a MySQL 5.7 server,
// db-1, on an Ubuntu 20.04 VM, vm-1.
func hunt8Inventory() *topology.Builder {
	return new(topology.Builder).
		Template("inventory", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("inventory", topology.Template{ID: "mysql_server", Type: "mysql", Version: v("5.7.44")}).
		Template("inventory", topology.Template{ID: "inventory_app", Type: "webapp", Version: v("4.2.0"),
			Requirements: []topology.Requirement{{Template: "mysql_server", Constraint: c(">=5.7")}}}).
		Node("inventory", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("inventory", topology.Node{ID: "db-1", Template: "mysql_server", Relationships: on("vm-1")}).
		Node("inventory", topology.Node{ID: "inventory-1", Template: "inventory_app", Relationships: []topology.Relationship{hunt6Dep("db-1")}})
}

func hunt8InventoryRequest(pairs ...string) upgrade.Request {
	r := upgrade.Request{Application: "inventory", Replaces: "inventory_app",
		Template: topology.Template{ID: "inventory_app", Type: "webapp", Version: v("5.0.0")}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.Template.Requirements = append(r.Template.Requirements, topology.Requirement{Template: topology.TemplateID(pairs[i]), Constraint: c(pairs[i+1])})
	}
	return r
}

// TestHunt8MySQLThroughEightZero: MySQL supports upgrades from 5.7 to 8.0
// only, and to the 8.4 LTS from 8.0 only: 5.7.44 goes to 8.4.2 through
// the newest 8.0 (8.0.39), never straight, a step per hop, each after the
// one before; the application waits for the last. Nearest stops at 8.0
// when the request allows it. The application's old ">=5.7" holds on
// every hop: no warning.
func TestHunt8MySQLThroughEightZero(t *testing.T) {
	src := source(t,
		from(pkg("mysql", "8.0.36"), ">=5.7, <8.0.36"),
		from(pkg("mysql", "8.0.39"), ">=5.7, <8.0.39"),
		from(pkg("mysql", "8.4.2"), ">=8.0, <8.4.2"),
		from(pkg("mysql", "9.0.1"), ">=8.4, <9.0.1"))
	topo := build(t, hunt8Inventory())
	plan, err := upgrade.NewPlanner(topo, src).Plan(t.Context(), hunt8InventoryRequest("mysql_server", "~8.4"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/db-1@8.0.39", "5.7.44", "8.0.39", nil},
		{"platform/db-1@8.4.2", "8.0.39", "8.4.2", []upgrade.StepID{"platform/db-1@8.0.39"}},
		{"app/inventory-1@5.0.0", "4.2.0", "5.0.0", []upgrade.StepID{"platform/db-1@8.4.2"}},
	}, hunt8Steps(plan))
	assert.Equal(t, "hop 1 of 2 to 8.4.2: inventory_app@5.0.0 (inventory) requires mysql_server ~8.4; node db-1 has 5.7.44", plan.Steps[0].Reason)
	assert.Empty(t, plan.Warnings)

	plan, err = upgrade.NewPlanner(topo, src, upgrade.WithPolicy(upgrade.Nearest)).Plan(t.Context(), hunt8InventoryRequest("mysql_server", ">=8.0"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/db-1@8.0.36", "app/inventory-1@5.0.0"}, ids(plan))

	// Converges: after every step, planning again gives no step, and a
	// satisfied check for the server and the application node each.
	plan, err = upgrade.NewPlanner(topo, src).Plan(t.Context(), hunt8InventoryRequest("mysql_server", "~8.4"))
	require.NoError(t, err)
	for done := range len(plan.Steps) + 1 {
		again, err := upgrade.NewPlanner(cvApply(t, topo, plan, ids(plan)[:done]), src).Plan(t.Context(), hunt8InventoryRequest("mysql_server", "~8.4"))
		require.NoError(t, err, done)
		assert.Equal(t, ids(plan)[done:], ids(again), "after %d steps", done)
		if done == len(plan.Steps) {
			assert.Empty(t, again.Steps)
			assert.Empty(t, again.Warnings)
			var met []string
			for _, c := range again.Satisfied {
				met = append(met, string(c.Node)+" "+c.Version.String())
			}
			assert.Equal(t, []string{"db-1 8.4.2", "inventory-1 5.0.0"}, met)
		}
	}
}

// TestHunt8UbuntuLTSHops: Ubuntu upgrades from one LTS to the next only;
// MySQL 8.4.2 needs Ubuntu 24.04. The VM goes 20.04 → 22.04 → 24.04
// first, then the server 5.7 → 8.0 → 8.4, each hop after the one before,
// the server's first after the VM's last, and the application last.
func TestHunt8UbuntuLTSHops(t *testing.T) {
	src := source(t,
		from(pkg("ubuntu", "22.04"), ">=20.04, <22.04"),
		from(pkg("ubuntu", "24.04"), ">=22.04, <24.04"),
		requires(from(pkg("mysql", "8.0.39"), ">=5.7, <8.0.39"), "ubuntu", ">=20.04"),
		requires(from(pkg("mysql", "8.4.2"), ">=8.0, <8.4.2"), "ubuntu", ">=24.04"))
	topo := build(t, hunt8Inventory())
	plan, err := upgrade.NewPlanner(topo, src).Plan(t.Context(), hunt8InventoryRequest("mysql_server", "~8.4"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/vm-1@22.4.0", "20.04", "22.04", nil},
		{"platform/vm-1@24.4.0", "22.04", "24.04", []upgrade.StepID{"platform/vm-1@22.4.0"}},
		{"platform/db-1@8.0.39", "5.7.44", "8.0.39", []upgrade.StepID{"platform/vm-1@24.4.0"}},
		{"platform/db-1@8.4.2", "8.0.39", "8.4.2", []upgrade.StepID{"platform/db-1@8.0.39"}},
		{"app/inventory-1@5.0.0", "4.2.0", "5.0.0", []upgrade.StepID{"platform/db-1@8.4.2"}},
	}, hunt8Steps(plan))
	assert.Contains(t, plan.Steps[0].Reason, "package mysql 8.4.2 for node db-1 requires ubuntu_os >=24.04; node vm-1 has 20.04")

	// Without the 22.04 release, no path reaches 24.04, and the error
	// says where the VM gets stuck.
	_, err = upgrade.NewPlanner(topo, source(t,
		from(pkg("ubuntu", "24.04"), ">=22.04, <24.04"),
		requires(from(pkg("mysql", "8.0.39"), ">=5.7, <8.0.39"), "ubuntu", ">=20.04"),
		requires(from(pkg("mysql", "8.4.2"), ">=8.0, <8.4.2"), "ubuntu", ">=24.04"))).Plan(t.Context(), hunt8InventoryRequest("mysql_server", "~8.4"))
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	pe, ok := errors.AsType[*upgrade.NoPathError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("vm-1"), pe.Node)
	assert.Equal(t, "20.04", pe.Furthest.String())
}

// hunt8NodeRuntime is a Node.js 18 runtime, node-1, that two applications
// run on: the storefront's sf-1 (any Node 18 or later) and the admin
// team's admin-1, whose template allows Node below 22 only.
func hunt8NodeRuntime() *topology.Builder {
	return new(topology.Builder).
		Template("web", topology.Template{ID: "node_runtime", Type: "nodejs", Version: v("18.20.4")}).
		Template("storefront", topology.Template{ID: "storefront_app", Type: "webapp", Version: v("2.3.0"),
			Requirements: []topology.Requirement{{Template: "node_runtime", Constraint: c(">=18")}}}).
		Template("admin", topology.Template{ID: "admin_ui", Type: "webapp", Version: v("1.9.0"),
			Requirements: []topology.Requirement{{Template: "node_runtime", Constraint: c(">=18, <22")}}}).
		Node("web", topology.Node{ID: "node-1", Template: "node_runtime"}).
		Node("storefront", topology.Node{ID: "sf-1", Template: "storefront_app", Relationships: on("node-1")}).
		Node("admin", topology.Node{ID: "admin-1", Template: "admin_ui", Relationships: on("node-1")})
}

func hunt8Storefront(constraint string) upgrade.Request {
	return upgrade.Request{Application: "storefront", Replaces: "storefront_app", Template: topology.Template{ID: "storefront_app", Type: "webapp", Version: v("3.0.0"),
		Requirements: []topology.Requirement{{Template: "node_runtime", Constraint: c(constraint)}}}}
}

// TestHunt8NodeRuntimeSharedByTwoApps: the storefront 3.0 needs Node 20
// or later; the newest, 22, would break the admin UI beside it, so the
// runtime goes to 20.17.0, and its decision says why not 22. Needing 22
// conflicts with the admin UI: a *ConflictError names it, its application
// and constraint. Upgrading the admin UI in the same plan to a version
// that runs on 22 lifts the conflict: one runtime step, and both
// application steps after it.
func TestHunt8NodeRuntimeSharedByTwoApps(t *testing.T) {
	src := source(t, pkg("nodejs", "20.17.0"), pkg("nodejs", "22.9.0"))
	topo := build(t, hunt8NodeRuntime())
	plan, err := upgrade.NewPlanner(topo, src).Plan(t.Context(), hunt8Storefront(">=20"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/node-1@20.17.0", "18.20.4", "20.17.0", nil},
		{"app/sf-1@3.0.0", "2.3.0", "3.0.0", []upgrade.StepID{"platform/node-1@20.17.0"}},
	}, hunt8Steps(plan))
	assert.Equal(t, []upgrade.Candidate{
		{Version: v("22.9.0"), Rejected: "not allowed by co-tenant node admin-1 (admin) requires >=18, <22"},
		{Version: v("20.17.0"), Chosen: true},
	}, decided(t, plan, "node-1").Candidates)

	_, err = upgrade.NewPlanner(topo, src).Plan(t.Context(), hunt8Storefront(">=22"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("node-1"), ce.Node)
	assert.Equal(t, `upgrade: node "node-1" (nodejs 18.20.4): storefront_app@3.0.0 (storefront) requires >=22, but node admin-1 (admin) requires >=18, <22; versions tried: 22.9.0; change the demands so that one version meets them all, or add such a version to the package source`, err.Error())

	admin := upgrade.Request{Application: "admin", Replaces: "admin_ui", Template: topology.Template{ID: "admin_ui", Type: "webapp", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "node_runtime", Constraint: c(">=20, <24")}}}}
	plan, err = upgrade.NewPlanner(topo, src).PlanAll(t.Context(), hunt8Storefront(">=22"), admin)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/node-1@22.9.0", "18.20.4", "22.9.0", nil},
		{"app/admin-1@2.0.0", "1.9.0", "2.0.0", []upgrade.StepID{"platform/node-1@22.9.0"}},
		{"app/sf-1@3.0.0", "2.3.0", "3.0.0", []upgrade.StepID{"platform/node-1@22.9.0"}},
	}, hunt8Steps(plan))
	assert.Equal(t, []string{"node admin-1 (admin_ui 1.9.0) requires node_runtime >=18, <22; it runs on node-1 22.9.0 from step platform/node-1@22.9.0 until its own step"}, plan.Warnings)
}

// hunt8Kafka is a Kafka 3.4 broker, kafka-1, that uses a ZooKeeper 3.6
// ensemble, zk-1, and the orders application's orders-1 that uses the
// broker.
func hunt8Kafka() *topology.Builder {
	return new(topology.Builder).
		Template("streaming", topology.Template{ID: "zk_ensemble", Type: "zookeeper", Version: v("3.6.4")}).
		Template("streaming", topology.Template{ID: "kafka_broker", Type: "kafka", Version: v("3.4.1"),
			Requirements: []topology.Requirement{{Template: "zk_ensemble", Constraint: c(">=3.5")}}}).
		Template("orders", topology.Template{ID: "orders_app", Type: "webapp", Version: v("1.8.0"),
			Requirements: []topology.Requirement{{Template: "kafka_broker", Constraint: c(">=3")}}}).
		Node("streaming", topology.Node{ID: "zk-1", Template: "zk_ensemble"}).
		Node("streaming", topology.Node{ID: "kafka-1", Template: "kafka_broker", Relationships: []topology.Relationship{hunt6Dep("zk-1")}}).
		Node("orders", topology.Node{ID: "orders-1", Template: "orders_app", Relationships: []topology.Relationship{hunt6Dep("kafka-1")}})
}

// TestHunt8KafkaZooKeeperToKRaft: Kafka 4.0 runs in KRaft mode only and
// upgrades from 3.9 only, the last release that migrates a cluster off
// ZooKeeper, and 3.9 needs ZooKeeper 3.8 or later for the migration. So
// an orders service that needs Kafka 4 gets ZooKeeper 3.9.2 first (for
// the 3.9 hop, though 4.0 needs no ZooKeeper), then Kafka 3.4.1 → 3.9.0 →
// 4.0.0, then the application. When only 3.9 is asked for, the same
// ZooKeeper step, and one Kafka step.
func TestHunt8KafkaZooKeeperToKRaft(t *testing.T) {
	src := source(t,
		pkg("zookeeper", "3.8.4"), pkg("zookeeper", "3.9.2"),
		requires(from(pkg("kafka", "3.9.0"), ">=3.3, <3.9"), "zookeeper", ">=3.8"),
		from(pkg("kafka", "4.0.0"), ">=3.9, <4"))
	orders := func(constraint string) upgrade.Request {
		return upgrade.Request{Application: "orders", Replaces: "orders_app", Template: topology.Template{ID: "orders_app", Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "kafka_broker", Constraint: c(constraint)}}}}
	}
	topo := build(t, hunt8Kafka())
	plan, err := upgrade.NewPlanner(topo, src).Plan(t.Context(), orders(">=4"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/zk-1@3.9.2", "3.6.4", "3.9.2", nil},
		{"platform/kafka-1@3.9.0", "3.4.1", "3.9.0", []upgrade.StepID{"platform/zk-1@3.9.2"}},
		{"platform/kafka-1@4.0.0", "3.9.0", "4.0.0", []upgrade.StepID{"platform/kafka-1@3.9.0"}},
		{"app/orders-1@2.0.0", "1.8.0", "2.0.0", []upgrade.StepID{"platform/kafka-1@4.0.0"}},
	}, hunt8Steps(plan))
	assert.Equal(t, "package kafka 3.9.0 for node kafka-1 requires zk_ensemble >=3.8; node zk-1 has 3.6.4", plan.Steps[0].Reason)

	plan, err = upgrade.NewPlanner(topo, src).Plan(t.Context(), orders("~3.9"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/zk-1@3.9.2", "platform/kafka-1@3.9.0", "app/orders-1@2.0.0"}, ids(plan))
}

// TestHunt8AlreadyNewerIsNotDowngraded: the inventory's MySQL is 8.4.2
// already. A request for ">=8.0" is met: a satisfied check, no platform
// step, whatever the policy and though 8.0 packages exist. A request for
// "~8.0" needs a downgrade: refused with a *DowngradeError naming the
// node, unless downgrades are allowed.
func TestHunt8AlreadyNewerIsNotDowngraded(t *testing.T) {
	apps := build(t, hunt8Inventory()).Applications()
	for i := range apps[0].Nodes {
		if n := &apps[0].Nodes[i]; n.ID == "db-1" {
			n.Version = v("8.4.2")
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	src := source(t, pkg("mysql", "8.0.36"), pkg("mysql", "8.0.39"), pkg("mysql", "8.4.2"))
	for _, pol := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
		plan, err := upgrade.NewPlanner(topo, src, upgrade.WithPolicy(pol), upgrade.AllowDowngrades()).Plan(t.Context(), hunt8InventoryRequest("mysql_server", ">=8.0"))
		require.NoError(t, err, pol)
		assert.Equal(t, []upgrade.StepID{"app/inventory-1@5.0.0"}, ids(plan), pol)
		assert.Empty(t, plan.Steps[0].After)
		require.Len(t, plan.Satisfied, 1, pol)
		assert.Equal(t, topology.NodeID("db-1"), plan.Satisfied[0].Node)
		assert.Equal(t, "8.4.2", plan.Satisfied[0].Version.String())
	}

	_, err = upgrade.NewPlanner(topo, src).Plan(t.Context(), hunt8InventoryRequest("mysql_server", "~8.0"))
	require.ErrorIs(t, err, upgrade.ErrDowngrade)
	de, ok := errors.AsType[*upgrade.DowngradeError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("db-1"), de.Node)
	assert.Equal(t, versions("8.0.36", "8.0.39"), de.Candidates)

	plan, err := upgrade.NewPlanner(topo, src, upgrade.AllowDowngrades()).Plan(t.Context(), hunt8InventoryRequest("mysql_server", "~8.0"))
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/db-1@8.0.39", "8.4.2", "8.0.39", nil},
		{"app/inventory-1@5.0.0", "4.2.0", "5.0.0", []upgrade.StepID{"platform/db-1@8.0.39"}},
	}, hunt8Steps(plan))
}

// TestHunt8ReplanConverges: for each scenario, planning again after the
// first n steps ran (applied to the topology by hand) gives exactly the
// rest of the steps, with the same From and To, and after the last, no
// step and no warning.
func TestHunt8ReplanConverges(t *testing.T) {
	ubuntu := source(t,
		from(pkg("ubuntu", "22.04"), ">=20.04, <22.04"),
		from(pkg("ubuntu", "24.04"), ">=22.04, <24.04"),
		requires(from(pkg("mysql", "8.0.39"), ">=5.7, <8.0.39"), "ubuntu", ">=20.04"),
		requires(from(pkg("mysql", "8.4.2"), ">=8.0, <8.4.2"), "ubuntu", ">=24.04"))
	kafka := source(t,
		pkg("zookeeper", "3.8.4"), pkg("zookeeper", "3.9.2"),
		requires(from(pkg("kafka", "3.9.0"), ">=3.3, <3.9"), "zookeeper", ">=3.8"),
		from(pkg("kafka", "4.0.0"), ">=3.9, <4"))
	admin := upgrade.Request{Application: "admin", Replaces: "admin_ui", Template: topology.Template{ID: "admin_ui", Type: "webapp", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "node_runtime", Constraint: c(">=20, <24")}}}}
	orders := upgrade.Request{Application: "orders", Replaces: "orders_app", Template: topology.Template{ID: "orders_app", Type: "webapp", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "kafka_broker", Constraint: c(">=4")}}}}
	for _, tc := range []struct {
		name  string
		topo  *topology.Memory
		src   *pkgsource.Memory
		opts  []upgrade.Option
		reqs  []upgrade.Request
		steps int
	}{
		{"ubuntu+mysql", build(t, hunt8Inventory()), ubuntu, nil, []upgrade.Request{hunt8InventoryRequest("mysql_server", "~8.4")}, 5},
		{"kafka", build(t, hunt8Kafka()), kafka, nil, []upgrade.Request{orders}, 4},
		{"node", build(t, hunt8NodeRuntime()), source(t, pkg("nodejs", "20.17.0"), pkg("nodejs", "22.9.0")), nil, []upgrade.Request{hunt8Storefront(">=22"), admin}, 3},
		{"rhel", hunt8RHEL(t, "zabbix-agent-1"), hunt8RHELPackages(t), nil, []upgrade.Request{hunt8Billing(">=7.2")}, 6},
		{"redis down", hunt8Redis(t, ""), source(t, from(pkg("redis", "7.3.0"), ">=7.4"), from(pkg("redis", "7.2.6"), "<7.4")), []upgrade.Option{upgrade.AllowDowngrades()}, []upgrade.Request{hunt8Sessions()}, 3},
	} {
		plan, err := upgrade.NewPlanner(tc.topo, tc.src, tc.opts...).PlanAll(t.Context(), tc.reqs...)
		require.NoError(t, err, tc.name)
		all := ids(plan)
		require.Len(t, all, tc.steps, tc.name)
		for done := 0; done <= len(all); done++ {
			again, err := upgrade.NewPlanner(cvApply(t, tc.topo, plan, all[:done]), tc.src, tc.opts...).PlanAll(t.Context(), tc.reqs...)
			require.NoError(t, err, "%s after %d steps", tc.name, done)
			requireTopological(t, again)
			assert.Equal(t, all[done:], ids(again), "%s after %d steps", tc.name, done)
			for _, s := range again.Steps {
				orig, _ := plan.Step(s.ID)
				assert.Equal(t, [2]string{orig.From.String(), orig.To.String()}, [2]string{s.From.String(), s.To.String()}, "%s after %d steps: %s", tc.name, done, s.ID)
			}
			if done == len(all) {
				assert.Empty(t, again.Warnings, tc.name)
			}
		}
	}
}
