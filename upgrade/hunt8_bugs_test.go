package upgrade_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt8RHEL is a RHEL 8.6 VM, vm-1, of the platform team, hosting Python
// 3.9 (python-1), PostgreSQL 13 (postgres-1), Redis 6.2 (redis-1) and a
// Zabbix agent 6.0 of the monitoring team, node agent, whose template pins
// the OS below 9. The billing application's billing-1 runs on the Python
// and uses the rest.
func hunt8RHEL(t *testing.T, agent topology.NodeID) *topology.Memory {
	t.Helper()
	return build(t, new(topology.Builder).
		Template("platform", topology.Template{ID: "rhel_os", Type: "rhel", Version: v("8.6")}).
		Template("platform", topology.Template{ID: "python_rt", Type: "python", Version: v("3.9.16")}).
		Template("platform", topology.Template{ID: "postgres_db", Type: "postgresql", Version: v("13.14")}).
		Template("platform", topology.Template{ID: "redis_cache", Type: "redis", Version: v("6.2.14")}).
		Template("monitoring", topology.Template{ID: "zabbix_agent", Type: "zabbix-agent", Version: v("6.0.20"),
			Requirements: []topology.Requirement{{Template: "rhel_os", Constraint: c("<9")}}}).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("1.0.0")}).
		Node("platform", topology.Node{ID: "vm-1", Template: "rhel_os"}).
		Node("platform", topology.Node{ID: "python-1", Template: "python_rt", Relationships: on("vm-1")}).
		Node("platform", topology.Node{ID: "postgres-1", Template: "postgres_db", Relationships: on("vm-1")}).
		Node("platform", topology.Node{ID: "redis-1", Template: "redis_cache", Relationships: on("vm-1")}).
		Node("monitoring", topology.Node{ID: agent, Template: "zabbix_agent", Relationships: on("vm-1")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: []topology.Relationship{
			{Relation: topology.HostedOn, Target: "python-1"}, hunt6Dep("postgres-1"), hunt6Dep("redis-1"), hunt6Dep(agent)}}))
}

// hunt8RHELPackages: the newest Python, PostgreSQL and Redis builds are for
// RHEL 9 only, the older ones run on 8; every Zabbix agent 6.4 build is
// for RHEL 8.
func hunt8RHELPackages(t *testing.T, extra ...pkgsource.Package) *pkgsource.Memory {
	return source(t, append(hunt8RHELPackagesList(), extra...)...)
}

func hunt8RHELPackagesList() []pkgsource.Package {
	return []pkgsource.Package{
		requires(pkg("python", "3.11.9"), "rhel", ">=8.8"),
		requires(pkg("python", "3.12.3"), "rhel", ">=9"),
		requires(pkg("python", "3.12.4"), "rhel", ">=9"),
		requires(pkg("postgresql", "15.7"), "rhel", ">=8.6"),
		requires(pkg("postgresql", "16.2"), "rhel", ">=9"),
		requires(pkg("postgresql", "16.3"), "rhel", ">=9"),
		requires(pkg("redis", "7.2.5"), "rhel", ">=8.6"),
		requires(pkg("redis", "7.4.0"), "rhel", ">=9"),
		requires(pkg("redis", "7.4.1"), "rhel", ">=9"),
		requires(pkg("zabbix-agent", "6.4.14"), "rhel", ">=8, <9"),
		requires(pkg("zabbix-agent", "6.4.15"), "rhel", ">=8, <9"),
		pkg("rhel", "8.8"), pkg("rhel", "8.10"), pkg("rhel", "9.4"),
	}
}

// hunt8Billing asks for billing 2.0, which needs the given Redis, newer
// Python and PostgreSQL, and Zabbix agent 6.4 for its new metrics.
func hunt8Billing(redis string) upgrade.Request {
	return upgrade.Request{Application: "billing", Replaces: "billing_app", Template: topology.Template{ID: "billing_app", Type: "webapp", Version: v("2.0.0"),
		Requirements: []topology.Requirement{
			{Template: "python_rt", Constraint: c(">=3.11")}, {Template: "postgres_db", Constraint: c(">=15")},
			{Template: "redis_cache", Constraint: c(redis)}, {Template: "zabbix_agent", Constraint: c(">=6.4")}}}}
}

// TestHunt8PlanDoesNotDependOnAgentName: the agent's every 6.4 build needs
// RHEL <9, so none of the RHEL 9 builds of the others will do: RHEL 8.10
// with Python 3.11.9, PostgreSQL 15.7 and Redis 7.2.5 meets everything.
// Nodes of one height are decided in the order of their IDs; with the
// agent called zabbix-agent-1 it came last, each of the others took its
// RHEL 9 build, and the plans made again passing over them one at a time
// (see replan) ran out before the last, so the plan failed with a
// *ConflictError on vm-1 that agent-1 did not meet. And when Redis 7.4 is
// required, no plan exists whatever the agent is called: the error is the
// same but for its name.
func TestHunt8PlanDoesNotDependOnAgentName(t *testing.T) {
	for _, agent := range []topology.NodeID{"agent-1", "monitor-1", "zabbix-agent-1"} {
		topo := hunt8RHEL(t, agent)
		for _, topo := range []*topology.Memory{topo, hunt6ReversedTopology(t, topo)} {
			plan, err := upgrade.NewPlanner(topo, hunt8RHELPackages(t)).Plan(t.Context(), hunt8Billing(">=7.2"))
			require.NoError(t, err, agent)
			requireTopological(t, plan)
			want := []upgrade.StepID{"platform/postgres-1@15.7.0", "platform/python-1@3.11.9", "platform/redis-1@7.2.5", upgrade.StepID("platform/" + agent + "@6.4.15")}
			slices.Sort(want) // of one height: in the order of their IDs
			want = append(append([]upgrade.StepID{"platform/vm-1@8.10.0"}, want...), "app/billing-1@2.0.0")
			assert.Equal(t, want, ids(plan), agent)
			for _, s := range plan.Steps[1:5] {
				assert.Equal(t, []upgrade.StepID{"platform/vm-1@8.10.0"}, s.After, s.ID)
			}
			vm := decided(t, plan, "vm-1")
			assert.Equal(t, "9.4", vm.Candidates[0].Version.String())
			assert.Contains(t, vm.Candidates[0].Rejected, "package zabbix-agent 6.4.15 for node "+string(agent)+" requires >=8, <9", agent)
		}

		_, err := upgrade.NewPlanner(topo, hunt8RHELPackages(t)).Plan(t.Context(), hunt8Billing(">=7.4"))
		require.ErrorIs(t, err, upgrade.ErrConflict, agent)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("vm-1"), ce.Node)
		assert.Contains(t, err.Error(), "package redis 7.4.1 for node redis-1 requires >=9")
		assert.Contains(t, err.Error(), "package zabbix-agent 6.4.15 for node "+string(agent)+" requires >=8, <9")
	}
}

// hunt8RHELPlugin is hunt8RHEL with a MySQL plugin on the agent, whose
// template allows only an agent below 7.
func hunt8RHELPlugin(t *testing.T, agent topology.NodeID) *topology.Memory {
	apps := hunt8RHEL(t, agent).Applications()
	for i := range apps {
		if apps[i].ID == "monitoring" {
			apps[i].Templates = append(apps[i].Templates, topology.Template{ID: "mysql_plugin", Type: "zabbix-plugin", Version: v("6.0.0"),
				Requirements: []topology.Requirement{{Template: "zabbix_agent", Constraint: c("<7")}}})
			apps[i].Nodes = append(apps[i].Nodes, topology.Node{ID: "plugin-1", Template: "mysql_plugin", Relationships: on(agent)})
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	return topo
}

// TestHunt8AgentPluginSeenAhead: a Zabbix agent 7.0 for RHEL 9 is among
// the packages, but the agent's MySQL plugin allows only an agent below
// 7: what the agent will need of the VM is RHEL 8 all the same, which the
// look-ahead of its siblings sees (see sureDemand), whatever its name.
func TestHunt8AgentPluginSeenAhead(t *testing.T) {
	src := hunt8RHELPackages(t, requires(pkg("zabbix-agent", "7.0.0"), "rhel", ">=9"))
	for _, agent := range []topology.NodeID{"agent-1", "zabbix-agent-1"} {
		plan, err := upgrade.NewPlanner(hunt8RHELPlugin(t, agent), src).Plan(t.Context(), hunt8Billing(">=7.2"))
		require.NoError(t, err, agent)
		requireTopological(t, plan)
		want := []upgrade.StepID{"platform/postgres-1@15.7.0", "platform/python-1@3.11.9", "platform/redis-1@7.2.5", upgrade.StepID("platform/" + agent + "@6.4.15")}
		slices.Sort(want)
		want = append(append([]upgrade.StepID{"platform/vm-1@8.10.0"}, want...), "app/billing-1@2.0.0")
		assert.Equal(t, want, ids(plan), agent)
		assert.Equal(t, "not allowed by co-tenant node plugin-1 (monitoring) requires <7", decided(t, plan, agent).Candidates[0].Rejected)
		assert.Contains(t, decided(t, plan, "postgres-1").Candidates[0].Rejected, "requires rhel >=9", agent)
		assert.NotContains(t, decided(t, plan, "postgres-1").Candidates[0].Rejected, "passed over", agent)
	}
}

// TestHunt8ReplanPassesOverWhatConflicts: Zabbix agent 7.0 (for RHEL 9)
// installs only over 6.4 (for RHEL 8), so no VM can take the agent there
// and the agent stays on 6.4; but the look-ahead of its siblings cannot
// know it before the agent is decided. When it is decided last each of
// the others takes its RHEL 9 build and vm-1 fails. The plans made again
// pass over only the packages that conflict there (not PostgreSQL 15.7's
// ">=8.6", which the first plan made again leaves on the VM), and with
// each every build of its node that requires the same of the VM
// (PostgreSQL 16.2 as 16.3): before, the eight plans made again ran out a
// build at a time, and the plan failed with a *ConflictError that agent-1
// did not meet.
func TestHunt8ReplanPassesOverWhatConflicts(t *testing.T) {
	src := hunt8RHELPackages(t, from(requires(pkg("zabbix-agent", "7.0.0"), "rhel", ">=9"), ">=6.4, <7"))
	for _, agent := range []topology.NodeID{"agent-1", "zabbix-agent-1"} {
		plan, err := upgrade.NewPlanner(hunt8RHEL(t, agent), src).Plan(t.Context(), hunt8Billing(">=7.2"))
		require.NoError(t, err, agent)
		requireTopological(t, plan)
		want := []upgrade.StepID{"platform/postgres-1@15.7.0", "platform/python-1@3.11.9", "platform/redis-1@7.2.5", upgrade.StepID("platform/" + agent + "@6.4.15")}
		slices.Sort(want)
		want = append(append([]upgrade.StepID{"platform/vm-1@8.10.0"}, want...), "app/billing-1@2.0.0")
		assert.Equal(t, want, ids(plan), agent)
	}
	plan, err := upgrade.NewPlanner(hunt8RHEL(t, "zabbix-agent-1"), src).Plan(t.Context(), hunt8Billing(">=7.2"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.Candidate{
		{Version: v("16.3"), Rejected: "passed over: with package postgresql 16.3, node vm-1 could not be planned"},
		{Version: v("16.2"), Rejected: "passed over: it requires rhel >=9, as package postgresql 16.3 does, with which node vm-1 could not be planned"},
		{Version: v("15.7"), Chosen: true},
	}, decided(t, plan, "postgres-1").Candidates)
}

// hunt8Permutations returns every order of 0, 1, …, n-1.
func hunt8Permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range hunt8Permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestHunt8SiblingOrderDoesNotMatter: the Python, PostgreSQL, Redis and
// agent nodes of the RHEL VM, named so as to be decided in each of the 24
// orders, get the same plan: RHEL 8.10 with Redis 7.2.5 and the others'
// RHEL 8 builds; with the agent's plugin (seen ahead) and with an agent
// 7.0 that installs only over 6.4 (which plans made again get round) too.
func TestHunt8SiblingOrderDoesNotMatter(t *testing.T) {
	roles := []topology.NodeID{"python-1", "postgres-1", "redis-1", "agent"}
	for _, variant := range []struct{ plugin, chained bool }{{false, false}, {true, false}, {false, true}} {
		plugin, chained := variant.plugin, variant.chained
		for _, perm := range hunt8Permutations(4) {
			rename := map[topology.NodeID]topology.NodeID{}
			for i, r := range roles {
				rename[r] = topology.NodeID(fmt.Sprintf("%c-%s", 'a'+perm[i], r))
			}
			topo := hunt8RHEL(t, "agent")
			if plugin {
				topo = hunt8RHELPlugin(t, "agent")
			}
			apps := topo.Applications()
			for a := range apps {
				for k := range apps[a].Nodes {
					n := &apps[a].Nodes[k]
					if r, ok := rename[n.ID]; ok {
						n.ID = r
					}
					n.Relationships = append([]topology.Relationship{}, n.Relationships...)
					for j := range n.Relationships {
						if r, ok := rename[n.Relationships[j].Target]; ok {
							n.Relationships[j].Target = r
						}
					}
				}
			}
			topo2, err := topology.New(apps...)
			require.NoError(t, err)
			src := hunt8RHELPackages(t)
			if chained {
				src = hunt8RHELPackages(t, from(requires(pkg("zabbix-agent", "7.0.0"), "rhel", ">=9"), ">=6.4, <7"))
			}
			plan, err := upgrade.NewPlanner(topo2, src).Plan(t.Context(), hunt8Billing(">=7.2"))
			if !assert.NoError(t, err, "%+v: %v", variant, rename) {
				continue
			}
			got := map[topology.NodeID]string{}
			for _, s := range plan.Steps {
				if s.Kind == upgrade.Platform {
					got[s.Node] = s.To.String()
				}
			}
			assert.Equal(t, map[topology.NodeID]string{"vm-1": "8.10", rename["python-1"]: "3.11.9", rename["postgres-1"]: "15.7",
				rename["redis-1"]: "7.2.5", rename["agent"]: "6.4.15"}, got, "%+v: %v", variant, rename)
		}
	}
}

// TestHunt8ConflictErrorIsBounded: a Tomcat 9 that ten thousand legacy
// applications run on, each requiring it below 10 (half of them "<10",
// half "~9.0" when mixed), and a shop that needs 10. The error names the
// first three of each constraint and counts the rest; its Blocking field
// holds them all. Before, its text was 510 kB.
func TestHunt8ConflictErrorIsBounded(t *testing.T) {
	const n = 10000
	for _, mixed := range []bool{false, true} {
		b := shopBuilder(1).
			Template("legacy", topology.Template{ID: "legacy_app", Type: "webapp", Version: v("3.2.0"),
				Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("<10")}}}).
			Template("legacy", topology.Template{ID: "legacy_api", Type: "webapp", Version: v("1.7.0"),
				Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("~9.0")}}})
		for i := range n {
			tmpl := topology.TemplateID("legacy_app")
			if mixed && i%2 == 1 {
				tmpl = "legacy_api"
			}
			b.Node("legacy", topology.Node{ID: topology.NodeID(fmt.Sprintf("legacy-%05d", i)), Template: tmpl, Relationships: on("tomcat-1")})
		}
		_, err := upgrade.NewPlanner(build(t, b), catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=10"))
		require.ErrorIs(t, err, upgrade.ErrConflict)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Len(t, ce.Blocking, n, "the field keeps every co-tenant")
		msg := err.Error()
		assert.Less(t, len(msg), 2048, "mixed %v", mixed)
		if !mixed {
			assert.Equal(t, `upgrade: node "tomcat-1" (tomcat 8.5.100): shop_app@2.0.0 (shop) requires >=10, but `+
				`node legacy-00000 (legacy) requires <10 and node legacy-00001 (legacy) requires <10 and node legacy-00002 (legacy) requires <10, and 9997 more with the same constraint; `+
				`versions tried: 10.1.18, 10.1.34, 11.0.2; change the demands so that one version meets them all, or add such a version to the package source`, msg)
			continue
		}
		assert.Contains(t, msg, "node legacy-00000 (legacy) requires <10 and node legacy-00002 (legacy) requires <10 and node legacy-00004 (legacy) requires <10, and 4997 more with the same constraint")
		assert.Contains(t, msg, "node legacy-00001 (legacy) requires ~9.0 and node legacy-00003 (legacy) requires ~9.0 and node legacy-00005 (legacy) requires ~9.0, and 4997 more with the same constraint")
	}
}

// hunt8Redis is a Redis 7.4.1, redis-1, that the sessions application's
// sessions-1 uses, and, when queue is not empty, the queue application's
// queue-1 too, requiring that of it.
func hunt8Redis(t *testing.T, queue string) *topology.Memory {
	b := new(topology.Builder).
		Template("sessions", topology.Template{ID: "redis_cache", Type: "redis", Version: v("7.4.1")}).
		Template("sessions", topology.Template{ID: "session_app", Type: "webapp", Version: v("3.0.0")}).
		Node("sessions", topology.Node{ID: "redis-1", Template: "redis_cache"}).
		Node("sessions", topology.Node{ID: "sessions-1", Template: "session_app", Relationships: []topology.Relationship{hunt6Dep("redis-1")}})
	if queue != "" {
		b.Template("queue", topology.Template{ID: "queue_worker", Type: "worker", Version: v("1.2.0"),
			Requirements: []topology.Requirement{{Template: "redis_cache", Constraint: c(queue)}}}).
			Node("queue", topology.Node{ID: "queue-1", Template: "queue_worker", Relationships: []topology.Relationship{hunt6Dep("redis-1")}})
	}
	return build(t, b)
}

func hunt8Sessions() upgrade.Request {
	return upgrade.Request{Application: "sessions", Replaces: "session_app", Template: topology.Template{ID: "session_app", Type: "webapp", Version: v("3.1.0"),
		Requirements: []topology.Requirement{{Template: "redis_cache", Constraint: c("~7.2")}}}}
}

// TestHunt8DowngradeThroughIntermediate: Redis 7.4.1 installed, the new
// sessions template needs ~7.2, and downgrades are allowed; 7.3.0
// installs over 7.4 and later, 7.2.6 over anything below 7.4. As an
// upgrade goes through intermediate versions, the downgrade does: 7.4.1 →
// 7.3.0 → 7.2.6, a step per hop. Before, the plan failed with a
// *NoPathError whose reason, "no package that downgrades allows 7.4.1 in
// its From constraint", was false: 7.3.0 does. Without 7.3.0 the reason
// is true; with a co-tenant that rules 7.3 out, the error names it; and
// without AllowDowngrades it is a *DowngradeError, as before.
func TestHunt8DowngradeThroughIntermediate(t *testing.T) {
	src := source(t, from(pkg("redis", "7.3.0"), ">=7.4"), from(pkg("redis", "7.2.6"), "<7.4"), pkg("redis", "7.4.2"))
	plan, err := upgrade.NewPlanner(hunt8Redis(t, ""), src, upgrade.AllowDowngrades()).Plan(t.Context(), hunt8Sessions())
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/redis-1@7.3.0", "platform/redis-1@7.2.6", "app/sessions-1@3.1.0"}, ids(plan))
	for i, want := range [][2]string{{"7.4.1", "7.3.0"}, {"7.3.0", "7.2.6"}} {
		s := plan.Steps[i]
		assert.Equal(t, want, [2]string{s.From.String(), s.To.String()}, s.ID)
		assert.Equal(t, want[1], s.Package.Version.String())
		assert.Contains(t, s.Reason, "session_app@3.1.0 (sessions) requires redis_cache ~7.2; node redis-1 has 7.4.1")
	}
	assert.Empty(t, plan.Steps[0].After)
	assert.Equal(t, []upgrade.StepID{"platform/redis-1@7.3.0"}, plan.Steps[1].After)
	assert.Equal(t, []upgrade.StepID{"platform/redis-1@7.2.6"}, plan.Steps[2].After)

	// Planning again after the first hop gives the second.
	again, err := upgrade.NewPlanner(cvApply(t, hunt8Redis(t, ""), plan, ids(plan)[:1]), src, upgrade.AllowDowngrades()).Plan(t.Context(), hunt8Sessions())
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/redis-1@7.2.6", "app/sessions-1@3.1.0"}, ids(again))

	_, err = upgrade.NewPlanner(hunt8Redis(t, ""), source(t, from(pkg("redis", "7.2.6"), "<7.4")), upgrade.AllowDowngrades()).Plan(t.Context(), hunt8Sessions())
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	pe, ok := errors.AsType[*upgrade.NoPathError](err)
	require.True(t, ok, err)
	assert.Equal(t, "7.4.1", pe.Furthest.String())
	assert.Equal(t, "no package that downgrades allows 7.4.1 in its From constraint", pe.Reason)

	_, err = upgrade.NewPlanner(hunt8Redis(t, "<7.3 || >=7.4"), src, upgrade.AllowDowngrades()).Plan(t.Context(), hunt8Sessions())
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	pe, ok = errors.AsType[*upgrade.NoPathError](err)
	require.True(t, ok, err)
	assert.Equal(t, "7.4.1", pe.Furthest.String())
	require.Len(t, pe.Blocking, 1)
	assert.Equal(t, topology.NodeID("queue-1"), pe.Blocking[0].Node)
	assert.Equal(t, "the co-tenants do not allow 7.3.0: node queue-1 (queue) requires <7.3 || >=7.4", pe.Reason)

	_, err = upgrade.NewPlanner(hunt8Redis(t, ""), src).Plan(t.Context(), hunt8Sessions())
	require.ErrorIs(t, err, upgrade.ErrDowngrade)
}

// TestHunt8DowngradeNotThroughPrerelease: a downgrade, like an upgrade,
// passes through released versions only: with 7.3.0-rc.1 beside 7.3.0,
// both installing over 7.4, the chain goes through 7.3.0 (the lowest at
// its distance would be the release candidate).
func TestHunt8DowngradeNotThroughPrerelease(t *testing.T) {
	src := source(t, from(pkg("redis", "7.3.0-rc.1"), ">=7.4"), from(pkg("redis", "7.3.0"), ">=7.4"), from(pkg("redis", "7.2.6"), "<7.4.0-0"))
	plan, err := upgrade.NewPlanner(hunt8Redis(t, ""), src, upgrade.AllowDowngrades()).Plan(t.Context(), hunt8Sessions())
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/redis-1@7.3.0", "platform/redis-1@7.2.6", "app/sessions-1@3.1.0"}, ids(plan))
}
