package upgrade_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt10Mongo is the orders application's orders-1, which talks to a
// MongoDB 4.4 replica set of three members, mongo-1 to mongo-3, of
// application "data", all of one template, each on a VM of its own.
func hunt10Mongo() *topology.Builder {
	b := new(topology.Builder).
		Template("data", topology.Template{ID: "rhel_os", Type: "rhel", Version: v("8.9")}).
		Template("data", topology.Template{ID: "mongodb_server", Type: "mongodb", Version: v("4.4.29")}).
		Template("orders", topology.Template{ID: "orders_app", Type: "webapp", Version: v("3.0.0"),
			Requirements: []topology.Requirement{{Template: "mongodb_server", Constraint: c(">=4.4")}}})
	var deps []topology.Relationship
	for i := 1; i <= 3; i++ {
		vm, db := topology.NodeID(fmt.Sprintf("vm-%d", i)), topology.NodeID(fmt.Sprintf("mongo-%d", i))
		b.Node("data", topology.Node{ID: vm, Template: "rhel_os"}).
			Node("data", topology.Node{ID: db, Template: "mongodb_server", Relationships: on(vm)})
		deps = append(deps, hunt6Dep(db))
	}
	return b.Node("orders", topology.Node{ID: "orders-1", Template: "orders_app", Relationships: deps})
}

// hunt10MongoPackages: MongoDB upgrades one major release at a time (the
// feature compatibility version must be the one before), 7.0 needs RHEL 8
// or later.
func hunt10MongoPackages() []pkgsource.Package {
	return []pkgsource.Package{
		from(pkg("mongodb", "5.0.26"), ">=4.4, <5.0"),
		from(pkg("mongodb", "6.0.15"), ">=5.0, <6.0"),
		requires(from(pkg("mongodb", "7.0.12"), ">=6.0, <7.0"), "rhel", ">=8"),
	}
}

// TestHunt10MongoReplicaSetOneMajorAtATime: orders 4.0 needs MongoDB 7.0;
// each member of the replica set goes 4.4 → 5.0 → 6.0 → 7.0, a step per
// hop, each after the one before, and orders-1 waits for the last hop of
// all three. RHEL 8.9 meets 7.0's own requirement: a check, no step.
func TestHunt10MongoReplicaSetOneMajorAtATime(t *testing.T) {
	topo := build(t, hunt10Mongo())
	plan, err := hunt9Plan(t, topo, hunt10MongoPackages(), nil, hunt9Request("orders", "orders_app", "4.0.0", "mongodb_server", ">=7.0"))
	require.NoError(t, err)
	requireTopological(t, plan)
	var want []hunt8Step
	var last []upgrade.StepID
	for _, m := range []string{"mongo-1", "mongo-2", "mongo-3"} {
		id := func(ver string) upgrade.StepID { return upgrade.StepID("platform/" + m + "@" + ver) }
		want = append(want,
			hunt8Step{id("5.0.26"), "4.4.29", "5.0.26", nil},
			hunt8Step{id("6.0.15"), "5.0.26", "6.0.15", []upgrade.StepID{id("5.0.26")}},
			hunt8Step{id("7.0.12"), "6.0.15", "7.0.12", []upgrade.StepID{id("6.0.15")}})
		last = append(last, id("7.0.12"))
	}
	want = append(want, hunt8Step{"app/orders-1@4.0.0", "3.0.0", "4.0.0", last})
	assert.Equal(t, want, hunt8Steps(plan))
	require.Len(t, plan.Satisfied, 3)
	for i, s := range plan.Satisfied {
		assert.Equal(t, topology.NodeID(fmt.Sprintf("vm-%d", i+1)), s.Node)
		assert.Equal(t, "8.9", s.Version.String())
	}
	assert.Empty(t, plan.Warnings)
}

// hunt10Cassandra is a Cassandra 3.0 ring of two nodes, cass-1 and
// cass-2, that the events application's events-1 depends on.
func hunt10Cassandra() *topology.Builder {
	return new(topology.Builder).
		Template("ring", topology.Template{ID: "cassandra_node", Type: "cassandra", Version: v("3.0.29")}).
		Template("events", topology.Template{ID: "events_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "cassandra_node", Constraint: c(">=3.0")}}}).
		Node("ring", topology.Node{ID: "cass-1", Template: "cassandra_node"}).
		Node("ring", topology.Node{ID: "cass-2", Template: "cassandra_node"}).
		Node("events", topology.Node{ID: "events-1", Template: "events_app", Relationships: []topology.Relationship{hunt6Dep("cass-1"), hunt6Dep("cass-2")}})
}

// hunt10CassandraPackages: 3.11 upgrades from 3.0; 4.0 and 4.1 from 3.11
// only (4.1 from 4.0 too).
func hunt10CassandraPackages() []pkgsource.Package {
	return []pkgsource.Package{
		from(pkg("cassandra", "3.11.17"), ">=3.0, <3.11"),
		from(pkg("cassandra", "4.0.13"), ">=3.11, <4.0"),
		from(pkg("cassandra", "4.1.5"), ">=3.11, <4.1"),
	}
}

// TestHunt10CassandraThroughThreeEleven: events 2.0 needs Cassandra 4;
// both nodes of the ring go through 3.11 first, then to 4.1 (Newest) or
// 4.0 (Nearest), never straight from 3.0. Without 3.11 in the source
// there is no path, and the error names the first node and where it is
// stuck.
func TestHunt10CassandraThroughThreeEleven(t *testing.T) {
	topo := build(t, hunt10Cassandra())
	for p, four := range map[upgrade.Policy]string{upgrade.Newest: "4.1.5", upgrade.Nearest: "4.0.13"} {
		plan, err := hunt9Plan(t, topo, hunt10CassandraPackages(), []upgrade.Option{upgrade.WithPolicy(p)}, hunt9Request("events", "events_app", "2.0.0", "cassandra_node", ">=4.0"))
		require.NoError(t, err, p)
		requireTopological(t, plan)
		assert.Equal(t, []hunt8Step{
			{"platform/cass-1@3.11.17", "3.0.29", "3.11.17", nil},
			{upgrade.StepID("platform/cass-1@" + four), "3.11.17", four, []upgrade.StepID{"platform/cass-1@3.11.17"}},
			{"platform/cass-2@3.11.17", "3.0.29", "3.11.17", nil},
			{upgrade.StepID("platform/cass-2@" + four), "3.11.17", four, []upgrade.StepID{"platform/cass-2@3.11.17"}},
			{"app/events-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{upgrade.StepID("platform/cass-1@" + four), upgrade.StepID("platform/cass-2@" + four)}},
		}, hunt8Steps(plan), p)
	}
	_, err := hunt9Plan(t, topo, hunt10CassandraPackages()[1:], nil, hunt9Request("events", "events_app", "2.0.0", "cassandra_node", ">=4.0"))
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	pe, ok := errors.AsType[*upgrade.NoPathError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("cass-1"), pe.Node)
	assert.Equal(t, "3.0.29", pe.Furthest.String())
	assert.Equal(t, versions("4.0.13", "4.1.5"), pe.Targets)
	assert.Contains(t, err.Error(), "add packages that lead on to the package source")
}

// hunt10Windows is a Windows Server 2016 VM, win-1, of application
// "infra", with IIS 10, iis-1, and a .NET 6 runtime, dotnet-1, on it; the
// portal's portal-1 is a site on iis-1 that depends on dotnet-1 (both
// kinds of relationships). With legacy, the legacy application's
// legacy-1, another site on iis-1, supports Windows below 2022 only.
func hunt10Windows(legacy bool) *topology.Builder {
	b := new(topology.Builder).
		Template("infra", topology.Template{ID: "windows_server", Type: "windows", Version: v("2016.0.0")}).
		Template("infra", topology.Template{ID: "iis_server", Type: "iis", Version: v("10.0.14393")}).
		Template("infra", topology.Template{ID: "dotnet_runtime", Type: "dotnet", Version: v("6.0.25")}).
		Template("portal", topology.Template{ID: "portal_app", Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "dotnet_runtime", Constraint: c("~6.0")}}}).
		Node("infra", topology.Node{ID: "win-1", Template: "windows_server"}).
		Node("infra", topology.Node{ID: "iis-1", Template: "iis_server", Relationships: on("win-1")}).
		Node("infra", topology.Node{ID: "dotnet-1", Template: "dotnet_runtime", Relationships: on("win-1")}).
		Node("portal", topology.Node{ID: "portal-1", Template: "portal_app", Relationships: append(on("iis-1"), hunt6Dep("dotnet-1"))})
	if legacy {
		b.Template("legacy", topology.Template{ID: "legacy_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "windows_server", Constraint: c("<2022")}}}).
			Node("legacy", topology.Node{ID: "legacy-1", Template: "legacy_app", Relationships: on("iis-1")})
	}
	return b
}

// hunt10WindowsPackages: in-place upgrades go one Windows Server release
// at a time; .NET 8 needs 2019 or later, .NET 9 2022.
func hunt10WindowsPackages() []pkgsource.Package {
	return []pkgsource.Package{
		from(pkg("windows", "2019.0.0"), ">=2016, <2019"),
		from(pkg("windows", "2022.0.0"), ">=2019, <2022"),
		requires(pkg("dotnet", "8.0.11"), "windows", ">=2019"),
		requires(pkg("dotnet", "9.0.0"), "windows", ">=2022"),
		pkg("iis", "10.0.17763"), pkg("iis", "10.0.20348"),
	}
}

// TestHunt10WindowsDotNetNeedsNewerServer: portal 3.0 needs .NET 8 or
// later. Without the legacy site, .NET 9 is newest: the VM goes 2016 →
// 2019 → 2022 first, then the runtime, then the site, after both (it runs
// on the VM through IIS, and on the runtime); IIS 10 is a check. The
// legacy site holds Windows below 2022: .NET 8 on 2019. Asking for .NET 9
// then fails naming legacy-1 and what it requires.
func TestHunt10WindowsDotNetNeedsNewerServer(t *testing.T) {
	portal := hunt9Request("portal", "portal_app", "3.0.0", "dotnet_runtime", ">=8", "iis_server", ">=10")
	plan, err := hunt9Plan(t, build(t, hunt10Windows(false)), hunt10WindowsPackages(), nil, portal)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/win-1@2019.0.0", "2016.0.0", "2019.0.0", nil},
		{"platform/win-1@2022.0.0", "2019.0.0", "2022.0.0", []upgrade.StepID{"platform/win-1@2019.0.0"}},
		{"platform/dotnet-1@9.0.0", "6.0.25", "9.0.0", []upgrade.StepID{"platform/win-1@2022.0.0"}},
		{"app/portal-1@3.0.0", "2.0.0", "3.0.0", []upgrade.StepID{"platform/dotnet-1@9.0.0", "platform/win-1@2022.0.0"}},
	}, hunt8Steps(plan))
	require.Len(t, plan.Satisfied, 1)
	assert.Equal(t, topology.NodeID("iis-1"), plan.Satisfied[0].Node)
	assert.Equal(t, []string{"node portal-1 (portal_app 2.0.0) requires dotnet_runtime ~6.0; it runs on dotnet-1 9.0.0 from step platform/dotnet-1@9.0.0 until its own step"}, plan.Warnings)

	topo := build(t, hunt10Windows(true))
	plan, err = hunt9Plan(t, topo, hunt10WindowsPackages(), nil, portal)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/win-1@2019.0.0", "2016.0.0", "2019.0.0", nil},
		{"platform/dotnet-1@8.0.11", "6.0.25", "8.0.11", []upgrade.StepID{"platform/win-1@2019.0.0"}},
		{"app/portal-1@3.0.0", "2.0.0", "3.0.0", []upgrade.StepID{"platform/dotnet-1@8.0.11", "platform/win-1@2019.0.0"}},
	}, hunt8Steps(plan))

	_, err = hunt9Plan(t, topo, hunt10WindowsPackages(), nil, hunt9Request("portal", "portal_app", "3.0.0", "dotnet_runtime", ">=9"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("win-1"), ce.Node)
	assert.Equal(t, []upgrade.Demand{{App: "legacy", Node: "legacy-1", Template: "legacy_app", Constraint: c("<2022")}}, ce.Blocking)
	assert.Equal(t, versions("2022.0.0"), ce.Tried)
	assert.Contains(t, err.Error(), `node "win-1" (windows 2016.0.0): package dotnet 9.0.0 for node dotnet-1 requires >=2022, but node legacy-1 (legacy) requires <2022`)
}

// hunt10Redis is a Redis 6.2 server, redis-1, on a VM, vm-1, that the
// cache application's session-1 depends on; a Sentinel of application
// "ha", sentinel-1, on the same VM, monitors it and supports Redis from
// 6.2 and below 7.2.
func hunt10Redis() *topology.Builder {
	return new(topology.Builder).
		Template("cache", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("22.04")}).
		Template("cache", topology.Template{ID: "redis_server", Type: "redis", Version: v("6.2.14")}).
		Template("cache", topology.Template{ID: "session_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "redis_server", Constraint: c(">=6.2")}}}).
		Template("ha", topology.Template{ID: "sentinel", Type: "redis-sentinel", Version: v("6.2.14"),
			Requirements: []topology.Requirement{{Template: "redis_server", Constraint: c(">=6.2, <7.2")}}}).
		Node("cache", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("cache", topology.Node{ID: "redis-1", Template: "redis_server", Relationships: on("vm-1")}).
		Node("ha", topology.Node{ID: "sentinel-1", Template: "sentinel", Relationships: append(on("vm-1"), hunt6Dep("redis-1"))}).
		Node("cache", topology.Node{ID: "session-1", Template: "session_app", Relationships: []topology.Relationship{hunt6Dep("redis-1")}})
}

func hunt10RedisPackages() []pkgsource.Package {
	return []pkgsource.Package{pkg("redis", "7.0.15"), pkg("redis", "7.2.5"), pkg("redis", "7.4.1")}
}

// TestHunt10RedisSentinelCapsServer: session 2.0 needs Redis 7; the
// Sentinel on the VM caps it below 7.2, so 7.0.15 it is, and Explain says
// why not 7.4 and 7.2. Asking for 7.2 fails naming the Sentinel; upgrading
// the Sentinel in the same plan lifts the cap: 7.4.1, both application
// steps after it, and a warning for the Sentinel in between.
func TestHunt10RedisSentinelCapsServer(t *testing.T) {
	topo := build(t, hunt10Redis())
	plan, err := hunt9Plan(t, topo, hunt10RedisPackages(), nil, hunt9Request("cache", "session_app", "2.0.0", "redis_server", ">=7"))
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/redis-1@7.0.15", "6.2.14", "7.0.15", nil},
		{"app/session-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/redis-1@7.0.15"}},
	}, hunt8Steps(plan))
	var why strings.Builder
	require.NoError(t, plan.Explain(&why, "redis-1"))
	assert.Contains(t, why.String(), "7.4.1        rejected: not allowed by co-tenant node sentinel-1 (ha) requires >=6.2, <7.2")
	assert.Contains(t, why.String(), "7.2.5        rejected: not allowed by co-tenant node sentinel-1 (ha) requires >=6.2, <7.2")

	seven2 := hunt9Request("cache", "session_app", "2.0.0", "redis_server", ">=7.2")
	_, err = hunt9Plan(t, topo, hunt10RedisPackages(), nil, seven2)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("redis-1"), ce.Node)
	assert.Equal(t, versions("7.2.5", "7.4.1"), ce.Tried)
	assert.Contains(t, err.Error(), "but node sentinel-1 (ha) requires >=6.2, <7.2")

	sentinel := upgrade.Request{Application: "ha", Replaces: "sentinel", Template: topology.Template{ID: "sentinel", Type: "redis-sentinel", Version: v("7.2.5"),
		Requirements: []topology.Requirement{{Template: "redis_server", Constraint: c(">=7.2")}}}}
	plan, err = hunt9Plan(t, topo, hunt10RedisPackages(), nil, seven2, sentinel)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/redis-1@7.4.1", "6.2.14", "7.4.1", nil},
		{"app/sentinel-1@7.2.5", "6.2.14", "7.2.5", []upgrade.StepID{"platform/redis-1@7.4.1"}},
		{"app/session-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/redis-1@7.4.1"}},
	}, hunt8Steps(plan))
	assert.Equal(t, []string{"node sentinel-1 (sentinel 6.2.14) requires redis_server >=6.2, <7.2; it runs on redis-1 7.4.1 from step platform/redis-1@7.4.1 until its own step"}, plan.Warnings)
}
