package upgrade_test

import (
	"context"
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

// TestHunt10MongoReplicaSetReplannedMidway: a run stopped with mongo-2
// on 6.0 and mongo-3 on 7.0. Planned again, mongo-1 takes its three hops,
// mongo-2 its last, mongo-3 is a check, and orders-1 waits for the last
// hop of the two members that move. Nearest to 6.0 leaves mongo-2 and
// mongo-3 as they are: no downgrade of mongo-3 to 6.0.
func TestHunt10MongoReplicaSetReplannedMidway(t *testing.T) {
	apps := build(t, hunt10Mongo()).Applications()
	for a := range apps {
		for k := range apps[a].Nodes {
			switch n := &apps[a].Nodes[k]; n.ID {
			case "mongo-2":
				n.Version = v("6.0.15")
			case "mongo-3":
				n.Version = v("7.0.12")
			}
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	plan, err := hunt9Plan(t, topo, hunt10MongoPackages(), nil, hunt9Request("orders", "orders_app", "4.0.0", "mongodb_server", ">=7.0"))
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/mongo-1@5.0.26", "4.4.29", "5.0.26", nil},
		{"platform/mongo-1@6.0.15", "5.0.26", "6.0.15", []upgrade.StepID{"platform/mongo-1@5.0.26"}},
		{"platform/mongo-1@7.0.12", "6.0.15", "7.0.12", []upgrade.StepID{"platform/mongo-1@6.0.15"}},
		{"platform/mongo-2@7.0.12", "6.0.15", "7.0.12", nil},
		{"app/orders-1@4.0.0", "3.0.0", "4.0.0", []upgrade.StepID{"platform/mongo-1@7.0.12", "platform/mongo-2@7.0.12"}},
	}, hunt8Steps(plan))
	assert.Equal(t, []string{"mongo-3 7.0.12", "vm-1 8.9", "vm-2 8.9"}, hunt10Satisfied(plan))

	plan, err = hunt9Plan(t, topo, hunt10MongoPackages(), []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)}, hunt9Request("orders", "orders_app", "4.0.0", "mongodb_server", ">=6.0"))
	require.NoError(t, err)
	assert.Equal(t, []string{"5.0.26", "6.0.15"}, hunt6Tos(plan, "mongo-1"))
	assert.Empty(t, hunt6Tos(plan, "mongo-2"))
	assert.Empty(t, hunt6Tos(plan, "mongo-3"))
	assert.Equal(t, []string{"mongo-2 6.0.15", "mongo-3 7.0.12"}, hunt10Satisfied(plan))
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

// hunt10API is the api application's api-1, on a JRE 11, jre-1, of its
// own, that depends on a PostgreSQL 12 server, db-1, of application
// "data" on an Ubuntu 20.04 VM, vm-db; the worker application's worker-1
// depends on db-1 too.
func hunt10API() *topology.Builder {
	return new(topology.Builder).
		Template("data", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("data", topology.Template{ID: "pg_server", Type: "postgresql", Version: v("12.18")}).
		Template("api", topology.Template{ID: "jre", Type: "jdk", Version: v("11.0.22")}).
		Template("api", topology.Template{ID: "api_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c(">=12")}, {Template: "jre", Constraint: c(">=11")}}}).
		Template("worker", topology.Template{ID: "worker_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c(">=12")}}}).
		Node("data", topology.Node{ID: "vm-db", Template: "ubuntu_os"}).
		Node("data", topology.Node{ID: "db-1", Template: "pg_server", Relationships: on("vm-db")}).
		Node("api", topology.Node{ID: "jre-1", Template: "jre"}).
		Node("api", topology.Node{ID: "api-1", Template: "api_app", Relationships: append(on("jre-1"), hunt6Dep("db-1"))}).
		Node("worker", topology.Node{ID: "worker-1", Template: "worker_app", Relationships: []topology.Relationship{hunt6Dep("db-1")}})
}

// TestHunt10DependsOnDatabaseFirst: api 2.0 needs PostgreSQL 16, which
// needs Ubuntu 22.04, and Java 17. The database it depends on goes first,
// after its VM; api-1 waits for the database and for the JRE it runs on,
// not for the VM, which it reaches through the database only. worker-1,
// another client of the database, allows 16: planned with it, it waits
// for the database only. When the database is itself replaced by a
// request, api-1 waits for that application step.
func TestHunt10DependsOnDatabaseFirst(t *testing.T) {
	topo := build(t, hunt10API())
	pk := []pkgsource.Package{requires(pkg("postgresql", "16.2"), "ubuntu", ">=22.04"), from(pkg("ubuntu", "22.04"), ">=20.04, <22.04"), pkg("jdk", "21.0.2")}
	api := hunt9Request("api", "api_app", "2.0.0", "pg_server", ">=16", "jre", ">=17")
	steps := []hunt8Step{
		{"platform/jre-1@21.0.2", "11.0.22", "21.0.2", nil},
		{"platform/vm-db@22.4.0", "20.04", "22.04", nil},
		{"platform/db-1@16.2.0", "12.18", "16.2", []upgrade.StepID{"platform/vm-db@22.4.0"}},
		{"app/api-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/db-1@16.2.0", "platform/jre-1@21.0.2"}},
	}
	plan, err := hunt9Plan(t, topo, pk, nil, api)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, steps, hunt8Steps(plan))

	plan, err = hunt9Plan(t, topo, pk, nil, api, hunt9Request("worker", "worker_app", "2.0.0", "pg_server", ">=15"))
	require.NoError(t, err)
	assert.Equal(t, append(steps, hunt8Step{"app/worker-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/db-1@16.2.0"}}), hunt8Steps(plan))

	db := upgrade.Request{Application: "data", Replaces: "pg_server", Template: topology.Template{ID: "pg_server", Type: "postgresql", Version: v("16.2")}}
	plan, err = hunt9Plan(t, topo, pk, nil, hunt9Request("api", "api_app", "2.0.0", "pg_server", ">=16"), db)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"app/db-1@16.2.0", "12.18", "16.2", nil},
		{"app/api-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"app/db-1@16.2.0"}},
	}, hunt8Steps(plan))
}

// TestHunt10ReportingThroughPoolerBlocks: the reporting application's
// rep-1 reaches the PostgreSQL server through a PgBouncer pool, two
// depends_on relationships away, and supports PostgreSQL below 15: a
// co-tenant all the same. api 2.0 asking for 16 fails naming it; asking
// for 13 gets 14.11, the newest it allows.
func TestHunt10ReportingThroughPoolerBlocks(t *testing.T) {
	topo := build(t, new(topology.Builder).
		Template("data", topology.Template{ID: "pg_server", Type: "postgresql", Version: v("12.18")}).
		Template("data", topology.Template{ID: "pgbouncer", Type: "pgbouncer", Version: v("1.20.0")}).
		Template("api", topology.Template{ID: "api_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c(">=12")}}}).
		Template("rep", topology.Template{ID: "rep_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c("<15")}}}).
		Node("data", topology.Node{ID: "db-1", Template: "pg_server"}).
		Node("data", topology.Node{ID: "bouncer-1", Template: "pgbouncer", Relationships: []topology.Relationship{hunt6Dep("db-1")}}).
		Node("api", topology.Node{ID: "api-1", Template: "api_app", Relationships: []topology.Relationship{hunt6Dep("bouncer-1")}}).
		Node("rep", topology.Node{ID: "rep-1", Template: "rep_app", Relationships: []topology.Relationship{hunt6Dep("bouncer-1")}}))
	pk := []pkgsource.Package{pkg("postgresql", "14.11"), pkg("postgresql", "16.2")}
	_, err := hunt9Plan(t, topo, pk, nil, hunt9Request("api", "api_app", "2.0.0", "pg_server", ">=16"))
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("db-1"), ce.Node)
	assert.Equal(t, []upgrade.Demand{{App: "rep", Node: "rep-1", Template: "rep_app", Constraint: c("<15")}}, ce.Blocking)

	plan, err := hunt9Plan(t, topo, pk, nil, hunt9Request("api", "api_app", "2.0.0", "pg_server", ">=13"))
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/db-1@14.11.0", "12.18", "14.11", nil},
		{"app/api-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/db-1@14.11.0"}},
	}, hunt8Steps(plan))
}

// hunt10Moved returns the shop of four instances of shopBuilder with
// template shop_ng 2.0.0 (which needs Tomcat 10) and the given nodes moved
// by an earlier run: each shop-N to shop_ng 2.0.0, its tomcat-N to 10.1.18.
func hunt10Moved(t *testing.T, moved ...int) *topology.Memory {
	return hunt10MovedAt(t, "2.0.0", moved...)
}

// hunt10MovedAt is hunt10Moved with the moved shops on version ver of
// shop_ng.
func hunt10MovedAt(t *testing.T, ver string, moved ...int) *topology.Memory {
	b := shopBuilder(4).
		Template("shop", topology.Template{ID: "shop_ng", Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=10")}}})
	apps := build(t, b).Applications()
	for _, i := range moved {
		for k := range apps[0].Nodes {
			switch n := &apps[0].Nodes[k]; n.ID {
			case topology.NodeID(fmt.Sprintf("shop-%d", i)):
				n.Template, n.Version = "shop_ng", v(ver)
			case topology.NodeID(fmt.Sprintf("tomcat-%d", i)):
				n.Version = v("10.1.18")
			}
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	return topo
}

// hunt10Satisfied returns the plan's checks as "node version", in order.
func hunt10Satisfied(p *upgrade.Plan) []string {
	var out []string
	for _, s := range p.Satisfied {
		out = append(out, string(s.Node)+" "+s.Version.String())
	}
	return out
}

// TestHunt10RenamedHalfMoved: the shop's new template has an ID of its
// own, shop_ng, and a run moved shop-3 and shop-4 to it before it
// stopped. Planned again, the request replaces shop-1 and shop-2 (steps
// after their Tomcats) and finds shop-3 and shop-4 current, with their
// Tomcats satisfied: checks, no steps. With all four moved, there is
// nothing to do, not a missing node of shop_app.
func TestHunt10RenamedHalfMoved(t *testing.T) {
	req := shop2("tomcat_server", ">=10")
	req.Template.ID = "shop_ng"
	pk := []pkgsource.Package{pkg("tomcat", "10.1.18"), pkg("tomcat", "10.1.34")}
	plan, err := hunt9Plan(t, hunt10Moved(t, 3, 4), pk, nil, req)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/tomcat-1@10.1.34", "8.5.100", "10.1.34", nil},
		{"platform/tomcat-2@10.1.34", "8.5.100", "10.1.34", nil},
		{"app/shop-1@2.0.0", "1.4.0", "2.0.0", []upgrade.StepID{"platform/tomcat-1@10.1.34"}},
		{"app/shop-2@2.0.0", "1.4.0", "2.0.0", []upgrade.StepID{"platform/tomcat-2@10.1.34"}},
	}, hunt8Steps(plan))
	sat := hunt10Satisfied(plan)
	assert.Equal(t, []string{"shop-3 2.0.0", "shop-4 2.0.0", "tomcat-3 10.1.18", "tomcat-4 10.1.18"}, sat)

	plan, err = hunt9Plan(t, hunt10Moved(t, 1, 2, 3, 4), pk, nil, req)
	require.NoError(t, err)
	assert.Empty(t, plan.Steps)
	assert.Len(t, plan.Satisfied, 8)
}

// TestHunt10MaxMinorStepGaps: with one minor version a hop, as kubeadm
// allows, the control plane goes 1.26 → 1.27 → 1.28 (its newest patch,
// not 1.28.0) → 1.29 (Nearest) or on to 1.30 (Newest), past a release
// candidate and a 2.0 the request excludes; a catalog without a 1.28
// stops at 1.27, and one without a 1.27 at 1.26, and the error says why.
func TestHunt10MaxMinorStepGaps(t *testing.T) {
	topo := build(t, new(topology.Builder).
		Template("k", topology.Template{ID: "cp", Type: "kubernetes", Version: v("1.26.9")}).
		Template("k", topology.Template{ID: "chart", Type: "helm", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "cp", Constraint: c(">=1.26")}}}).
		Node("k", topology.Node{ID: "cp-1", Template: "cp"}).
		Node("k", topology.Node{ID: "chart-1", Template: "chart", Relationships: on("cp-1")}))
	req := hunt9Request("k", "chart", "2.0.0", "cp", ">=1.29, <2")
	full := []pkgsource.Package{pkg("kubernetes", "1.27.3"), pkg("kubernetes", "1.28.0"), pkg("kubernetes", "1.28.5"), pkg("kubernetes", "1.29.1"),
		pkg("kubernetes", "1.30.0-rc.1"), pkg("kubernetes", "1.30.2"), pkg("kubernetes", "2.0.0")}
	for p, tos := range map[upgrade.Policy][]string{upgrade.Nearest: {"1.27.3", "1.28.5", "1.29.1"}, upgrade.Newest: {"1.27.3", "1.28.5", "1.29.1", "1.30.2"}} {
		plan, err := hunt9Plan(t, topo, full, []upgrade.Option{upgrade.WithMaxMinorStep(1), upgrade.WithPolicy(p)}, req)
		require.NoError(t, err, p)
		requireTopological(t, plan)
		assert.Equal(t, tos, hunt6Tos(plan, "cp-1"), p)
		last := plan.Steps[len(plan.Steps)-1]
		assert.Equal(t, []upgrade.StepID{upgrade.StepID("platform/cp-1@" + tos[len(tos)-1])}, last.After, p)
	}
	for furthest, pk := range map[string][]pkgsource.Package{
		"1.27.3": {pkg("kubernetes", "1.27.3"), pkg("kubernetes", "1.29.1"), pkg("kubernetes", "1.30.2")},
		"1.26.9": {pkg("kubernetes", "1.28.5"), pkg("kubernetes", "1.29.1")},
	} {
		_, err := hunt9Plan(t, topo, pk, []upgrade.Option{upgrade.WithMaxMinorStep(1)}, req)
		pe, ok := errors.AsType[*upgrade.NoPathError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("cp-1"), pe.Node)
		assert.Equal(t, furthest, pe.Furthest.String())
		assert.Contains(t, err.Error(), "(a hop may advance at most 1 minor version)")
	}
}

// hunt10Agents is a monitoring agent 1.2.3 on two Ubuntu 18.04 VMs, of
// builds b7 (agent-1, the template's) and b8 (agent-2, a node's own), the
// second VM's version spelled "18.4.0"; svc-1 (build b1) and svc-2 (b2)
// of application "svc" run on them.
func hunt10Agents() *topology.Builder {
	return new(topology.Builder).
		Template("base", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("18.04")}).
		Template("base", topology.Template{ID: "agent", Type: "agent", Version: v("1.2.3+b7")}).
		Template("svc", topology.Template{ID: "svc_app", Type: "webapp", Version: v("1.0.0+b1"),
			Requirements: []topology.Requirement{{Template: "agent", Constraint: c(">=1.2")}}}).
		Node("base", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("base", topology.Node{ID: "vm-2", Template: "ubuntu_os", Version: v("18.4.0")}).
		Node("base", topology.Node{ID: "agent-1", Template: "agent", Relationships: on("vm-1")}).
		Node("base", topology.Node{ID: "agent-2", Template: "agent", Version: v("1.2.3+b8"), Relationships: on("vm-2")}).
		Node("svc", topology.Node{ID: "svc-1", Template: "svc_app", Relationships: on("agent-1")}).
		Node("svc", topology.Node{ID: "svc-2", Template: "svc_app", Version: v("1.0.0+b2"), Relationships: on("agent-2")})
}

// TestHunt10BuildMetadataAndSpellings: build metadata decides whether an
// application node is current (svc-2 at b2 is, svc-1 at b1 is not) but
// not whether a platform node meets a constraint: both agents meet
// "=1.2.3", with no step to another build. "18.04" and "18.4.0" are one
// version: both VMs meet "=18.4.0", both go to "20.04", each step ID in
// canonical form, From as the node spells it. Of two builds of one
// version in the source the planner takes the same, whatever the order,
// and a source listing one version in two spellings is refused.
func TestHunt10BuildMetadataAndSpellings(t *testing.T) {
	topo := build(t, hunt10Agents())
	pk := []pkgsource.Package{requires(pkg("agent", "1.2.3+b8"), "ubuntu", ">=18.4"), requires(pkg("agent", "1.3.0"), "ubuntu", ">=20.04"), from(pkg("ubuntu", "20.04"), "~18.04")}
	opts := []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)}
	plan, err := hunt9Plan(t, topo, pk, opts, hunt9Request("svc", "svc_app", "1.0.0+b2", "agent", "=1.2.3", "ubuntu_os", "=18.4.0"))
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{{"app/svc-1@1.0.0+b2", "1.0.0+b1", "1.0.0+b2", nil}}, hunt8Steps(plan))
	sat := hunt10Satisfied(plan)
	assert.ElementsMatch(t, []string{"agent-1 1.2.3+b7", "agent-2 1.2.3+b8", "svc-2 1.0.0+b2", "vm-1 18.04", "vm-2 18.4.0"}, sat)

	plan, err = hunt9Plan(t, topo, pk, opts, hunt9Request("svc", "svc_app", "1.0.0+b3", "agent", ">=1.3"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/vm-1@20.4.0", "18.04", "20.04", nil},
		{"platform/agent-1@1.3.0", "1.2.3+b7", "1.3.0", []upgrade.StepID{"platform/vm-1@20.4.0"}},
		{"platform/vm-2@20.4.0", "18.4.0", "20.04", nil},
		{"platform/agent-2@1.3.0", "1.2.3+b8", "1.3.0", []upgrade.StepID{"platform/vm-2@20.4.0"}},
		{"app/svc-1@1.0.0+b3", "1.0.0+b1", "1.0.0+b3", []upgrade.StepID{"platform/agent-1@1.3.0"}},
		{"app/svc-2@1.0.0+b3", "1.0.0+b2", "1.0.0+b3", []upgrade.StepID{"platform/agent-2@1.3.0"}},
	}, hunt8Steps(plan))

	plan, err = hunt9Plan(t, topo, []pkgsource.Package{pkg("agent", "1.4.0+b2"), pkg("agent", "1.4.0+b1")}, nil, hunt9Request("svc", "svc_app", "2.0.0", "agent", ">=1.4"))
	require.NoError(t, err)
	assert.Equal(t, []string{"1.4.0+b2"}, hunt6Tos(plan, "agent-1"))

	src := pkgsource.SourceFunc(func(context.Context, string) ([]pkgsource.Package, error) {
		return []pkgsource.Package{pkg("ubuntu", "20.04"), pkg("ubuntu", "20.4.0")}, nil
	})
	_, err = upgrade.NewPlanner(topo, src).Plan(t.Context(), hunt9Request("svc", "svc_app", "2.0.0", "ubuntu_os", ">=20.4"))
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	assert.Contains(t, err.Error(), `version "20.4.0" listed twice, also as "20.04"`)
}

// hunt10Fifty is fifty applications, svc00 to svc49, each with one node
// on one shared Ubuntu 20.04 VM, vm-1, and a template that supports
// 20.04 only; and a request for each to 2.0.0, which needs 22.04 or later.
func hunt10Fifty(t *testing.T) (*topology.Memory, []upgrade.Request) {
	b := new(topology.Builder).
		Template("base", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Node("base", topology.Node{ID: "vm-1", Template: "ubuntu_os"})
	var reqs []upgrade.Request
	for i := range 50 {
		app, tmpl := topology.AppID(fmt.Sprintf("svc%02d", i)), topology.TemplateID(fmt.Sprintf("svc%02d_app", i))
		b.Template(app, topology.Template{ID: tmpl, Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "ubuntu_os", Constraint: c("~20.04")}}}).
			Node(app, topology.Node{ID: topology.NodeID(fmt.Sprintf("svc%02d-1", i)), Template: tmpl, Relationships: on("vm-1")})
		reqs = append(reqs, hunt9Request(app, tmpl, "2.0.0", "ubuntu_os", ">=22.04"))
	}
	return build(t, b), reqs
}

// TestHunt10FiftyRequestsShareOneOS: planned together, the fifty requests
// give the VM one step per hop (20.04 → 22.04 → 24.04), each application
// one step after the last hop, and a warning for each application node
// that its old template is broken until its own step: 52 steps, no more.
// Leaving one request out leaves its node a co-tenant on 20.04 only: the
// plan fails naming it, and the error counts the others rather than
// listing 49 demands.
func TestHunt10FiftyRequestsShareOneOS(t *testing.T) {
	topo, reqs := hunt10Fifty(t)
	pk := []pkgsource.Package{from(pkg("ubuntu", "22.04"), ">=20.04, <22.04"), from(pkg("ubuntu", "24.04"), ">=22.04, <24.04")}
	plan, err := hunt9Plan(t, topo, pk, nil, reqs...)
	require.NoError(t, err)
	requireTopological(t, plan)
	want := []hunt8Step{
		{"platform/vm-1@22.4.0", "20.04", "22.04", nil},
		{"platform/vm-1@24.4.0", "22.04", "24.04", []upgrade.StepID{"platform/vm-1@22.4.0"}},
	}
	for i := range 50 {
		want = append(want, hunt8Step{upgrade.StepID(fmt.Sprintf("app/svc%02d-1@2.0.0", i)), "1.0.0", "2.0.0", []upgrade.StepID{"platform/vm-1@24.4.0"}})
	}
	assert.Equal(t, want, hunt8Steps(plan))
	require.Len(t, plan.Warnings, 50)
	assert.Equal(t, "node svc49-1 (svc49_app 1.0.0) requires ubuntu_os ~20.04; it runs on vm-1 22.04 from step platform/vm-1@22.4.0 until its own step", plan.Warnings[49])

	_, err = hunt9Plan(t, topo, pk, nil, reqs[1:]...)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("vm-1"), ce.Node)
	assert.Equal(t, []upgrade.Demand{{App: "svc00", Node: "svc00-1", Template: "svc00_app", Constraint: c("~20.04")}}, ce.Blocking)
	assert.Contains(t, err.Error(), "and 46 more with the same constraint, but node svc00-1 (svc00) requires ~20.04; versions tried: 22.04, 24.04")
}

// TestHunt10ErrorsSayWhatToDo: a Redis server already on 7.0 under a
// request for ~6.2 is a *DowngradeError naming the node and the way out;
// allowed, it goes down to 6.2.16. A Redis package that needs an Ubuntu
// whose package needs Redis is a *CycleError naming both packages; a
// requirement of a template the application's nodes do not run on is a
// *MissingNodeError naming the node and the template.
func TestHunt10ErrorsSayWhatToDo(t *testing.T) {
	apps := build(t, hunt10Redis()).Applications()
	for a := range apps {
		for k := range apps[a].Nodes {
			if apps[a].Nodes[k].ID == "redis-1" {
				apps[a].Nodes[k].Version = v("7.0.15")
			}
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	pk := append(hunt10RedisPackages(), pkg("redis", "6.2.16"))
	down := hunt9Request("cache", "session_app", "2.0.0", "redis_server", "~6.2")
	_, err = hunt9Plan(t, topo, pk, nil, down)
	de, ok := errors.AsType[*upgrade.DowngradeError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("redis-1"), de.Node)
	assert.Contains(t, err.Error(), `node "redis-1" (redis 7.0.15) is above the requirement: session_app@2.0.0 (cache) requires ~6.2; meeting it needs a downgrade to one of 6.2.16`)
	assert.Contains(t, err.Error(), "allow them (upgrade.AllowDowngrades), or relax the demands")
	plan, err := hunt9Plan(t, topo, pk, []upgrade.Option{upgrade.AllowDowngrades()}, down)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/redis-1@6.2.16", "7.0.15", "6.2.16", nil},
		{"app/session-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/redis-1@6.2.16"}},
	}, hunt8Steps(plan))

	cyc := []pkgsource.Package{requires(pkg("redis", "7.0.15"), "ubuntu", ">=24.04"), requires(pkg("ubuntu", "24.04"), "redis", ">=7")}
	_, err = hunt9Plan(t, build(t, hunt10Redis()), cyc, nil, hunt9Request("cache", "session_app", "2.0.0", "redis_server", ">=7"))
	require.ErrorIs(t, err, upgrade.ErrCycle)
	_, ok = errors.AsType[*upgrade.CycleError](err)
	require.True(t, ok, err)
	assert.Contains(t, err.Error(), "redis 7.0.15 → ubuntu 24.04 → redis")

	_, err = hunt9Plan(t, build(t, hunt10Redis()), pk, nil, hunt9Request("cache", "session_app", "2.0.0", "memcached_server", ">=1.6"))
	me, ok := errors.AsType[*upgrade.MissingNodeError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.TemplateID("memcached_server"), me.Template)
	assert.Contains(t, err.Error(), `no node of template "memcached_server" beneath node "session-1" of application "cache"; relate the node to one, or fix the requirement`)
}

// TestHunt10RenamedOlderBuildRedeployed: a run of build 2.0.0+b1 moved
// shop-3 and shop-4 to the renamed template shop_ng; the request is for
// build 2.0.0+b2. Those two get the new build too, as a node of the
// replaced template one build behind does (see Version.Same), rather than
// be left out of the plan in silence, the fleet ending on two builds.
func TestHunt10RenamedOlderBuildRedeployed(t *testing.T) {
	req := shop2("tomcat_server", ">=10")
	req.Template.ID, req.Template.Version = "shop_ng", v("2.0.0+b2")
	plan, err := hunt9Plan(t, hunt10MovedAt(t, "2.0.0+b1", 3, 4), []pkgsource.Package{pkg("tomcat", "10.1.34")}, nil, req)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/tomcat-1@10.1.34", "8.5.100", "10.1.34", nil},
		{"platform/tomcat-2@10.1.34", "8.5.100", "10.1.34", nil},
		{"app/shop-1@2.0.0+b2", "1.4.0", "2.0.0+b2", []upgrade.StepID{"platform/tomcat-1@10.1.34"}},
		{"app/shop-2@2.0.0+b2", "1.4.0", "2.0.0+b2", []upgrade.StepID{"platform/tomcat-2@10.1.34"}},
		{"app/shop-3@2.0.0+b2", "2.0.0+b1", "2.0.0+b2", nil},
		{"app/shop-4@2.0.0+b2", "2.0.0+b1", "2.0.0+b2", nil},
	}, hunt8Steps(plan))
	assert.Equal(t, []string{"tomcat-3 10.1.18", "tomcat-4 10.1.18"}, hunt10Satisfied(plan))
	// Another release on the renamed template is not this request's to
	// move: a downgrade, or a later run's, it is left as it is.
	plan, err = hunt9Plan(t, hunt10MovedAt(t, "2.1.0", 3, 4), []pkgsource.Package{pkg("tomcat", "10.1.34")}, nil, req)
	require.NoError(t, err)
	assert.Len(t, plan.Steps, 4)
}
