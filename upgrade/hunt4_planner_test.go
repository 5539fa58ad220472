package upgrade_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// h4Keycloak is an identity service: realm-1 of application "sso" runs on
// keycloak-1, which depends on two PostgreSQL nodes, listed in the given
// order, both at 12.
func h4Keycloak(dbs ...topology.NodeID) *topology.Builder {
	b := new(topology.Builder).
		Template("sso", topology.Template{ID: "realm", Type: "realm", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "keycloak_server", Constraint: c(">=22")}}}).
		Template("sso", topology.Template{ID: "keycloak_server", Type: "keycloak", Version: v("22.0.5")}).
		Template("sso", topology.Template{ID: "postgres_db", Type: "postgres", Version: v("12.18")})
	var rels []topology.Relationship
	for _, db := range dbs {
		b.Node("sso", topology.Node{ID: db, Template: "postgres_db"})
		rels = append(rels, topology.Relationship{Relation: topology.DependsOn, Target: db})
	}
	return b.Node("sso", topology.Node{ID: "keycloak-1", Template: "keycloak_server", Relationships: rels}).
		Node("sso", topology.Node{ID: "realm-1", Template: "realm", Relationships: on("keycloak-1")})
}

// h4Realm2 asks for realm 2.0.0, which needs the given Keycloak versions.
func h4Realm2(constraint string) upgrade.Request {
	r := shop2("keycloak_server", constraint)
	r.Application, r.Replaces, r.Template.ID, r.Template.Type = "sso", "realm", "realm", "realm"
	return r
}

// h4Keycloaks offers Keycloak 24, which needs PostgreSQL 13, Keycloak 25,
// which needs PostgreSQL 16, and the given PostgreSQL versions.
func h4Keycloaks(t *testing.T, postgres ...string) *pkgsource.Memory {
	pkgs := []pkgsource.Package{requires(pkg("keycloak", "24.0.5"), "postgres", ">=13"), requires(pkg("keycloak", "25.0.1"), "postgres", ">=16")}
	for _, p := range postgres {
		pkgs = append(pkgs, pkg("postgres", p))
	}
	return source(t, pkgs...)
}

// TestHunt4RelationshipOrderDoesNotChangePlan: Keycloak 25 needs PostgreSQL
// 16, which the mirror lacks, for both databases; the plan takes 24 and says
// why not 25 the same way whatever order keycloak-1 lists its databases in.
func TestHunt4RelationshipOrderDoesNotChangePlan(t *testing.T) {
	src := h4Keycloaks(t, "13.14", "14.11")
	var first *upgrade.Plan
	for _, order := range [][]topology.NodeID{{"pg-a", "pg-b"}, {"pg-b", "pg-a"}} {
		plan, err := upgrade.NewPlanner(build(t, h4Keycloak(order...)), src).Plan(t.Context(), h4Realm2(">=24"))
		require.NoError(t, err, order)
		assert.Equal(t, []upgrade.StepID{"platform/pg-a@14.11.0", "platform/pg-b@14.11.0", "platform/keycloak-1@24.0.5", "app/realm-1@2.0.0"}, ids(plan))
		assert.Equal(t, "requires postgres >=16, which no postgres package meets for node pg-a",
			decided(t, plan, "keycloak-1").Candidates[0].Rejected, "the least node by ID, whatever the order %v", order)
		if first == nil {
			first = plan
			continue
		}
		assert.Equal(t, first.Decisions, plan.Decisions)
		assert.Equal(t, first.ID, plan.ID)
	}
}

// h4Reversed lists every node's dependents, and the nodes above it, in the
// reverse of Memory's order.
type h4Reversed struct{ *topology.Memory }

func (r h4Reversed) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	d, err := r.Memory.Dependents(ctx, id)
	return h4Reverse(d), err
}

func (r h4Reversed) AppDependents(ctx context.Context, app topology.AppID) (map[topology.NodeID][]topology.Dependent, error) {
	byNode, err := r.Memory.AppDependents(ctx, app)
	return eachList(byNode, h4Reverse), err
}

func (r h4Reversed) Above(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	d, err := r.Memory.Above(ctx, id)
	return h4Reverse(d), err
}

func h4Reverse[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestHunt4SettledCotenantsInOneOrder: Keycloak 25 needs PostgreSQL 16,
// which reporting-1 (bi) and crm-1 (crm), on pg-a, forbid; audit-1 (audit)
// also runs there. Why 25 is passed over names those that rule it out, and
// not audit-1, in one order whatever order the topology lists them in.
func TestHunt4SettledCotenantsInOneOrder(t *testing.T) {
	b := h4Keycloak("pg-a").
		Template("bi", topology.Template{ID: "reporting", Type: "etl", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "postgres_db", Constraint: c("<16")}}}).
		Node("bi", topology.Node{ID: "reporting-1", Template: "reporting", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "pg-a"}}}).
		Template("audit", topology.Template{ID: "auditor", Type: "etl", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "postgres_db", Constraint: c(">=12")}}}).
		Node("audit", topology.Node{ID: "audit-1", Template: "auditor", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "pg-a"}}}).
		Template("crm", topology.Template{ID: "crm_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "postgres_db", Constraint: c("~14")}}}).
		Node("crm", topology.Node{ID: "crm-1", Template: "crm_app", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "pg-a"}}})
	mem := build(t, b)
	src := h4Keycloaks(t, "14.11", "16.2")
	for name, topo := range map[string]topology.Topology{
		"memory": mem, "reversed": h4Reversed{mem}, "walk": walkOnly{mem}, "reversed walk": walkOnly{h4Reversed{mem}},
	} {
		plan, err := upgrade.NewPlanner(topo, src).Plan(t.Context(), h4Realm2(">=24"))
		require.NoError(t, err, name)
		assert.Equal(t, []upgrade.StepID{"platform/pg-a@14.11.0", "platform/keycloak-1@24.0.5", "app/realm-1@2.0.0"}, ids(plan), name)
		assert.Equal(t, "requires postgres >=16, which the co-tenants of node pg-a do not allow: node reporting-1 (bi) requires <16 and node crm-1 (crm) requires ~14",
			decided(t, plan, "keycloak-1").Candidates[0].Rejected, name)
	}
}

// TestHunt4PlatformNodeWithoutVersion: a CMDB knows db-1 runs PostgreSQL
// but not which version, on the node or its template. The planner cannot
// tell whether the shop's requirement is met: it refuses, naming the node,
// rather than read the version as 0.0.0, which would meet "<16" and take
// any package.
func TestHunt4PlatformNodeWithoutVersion(t *testing.T) {
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
		Template("shop", topology.Template{ID: "postgres_db", Type: "postgres"}).
		Node("shop", topology.Node{ID: "db-1", Template: "postgres_db"}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "db-1"}}})
	for _, constraint := range []string{">=15", "<16"} {
		plan, err := upgrade.NewPlanner(build(t, b), source(t, pkg("postgres", "15.6"))).Plan(t.Context(), shop2("postgres_db", constraint))
		require.ErrorIs(t, err, topology.ErrInvalid, constraint)
		assert.ErrorContains(t, err, `node "db-1": invalid topology: no version, nor has its template "postgres_db": give the version installed`)
		assert.Nil(t, plan)
	}
	b.Node("shop", topology.Node{ID: "db-2", Template: "postgres_db", Version: v("14.11")}).
		Node("shop", topology.Node{ID: "shop-2", Template: "shop_app", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "db-2"}}})
	_, err := upgrade.NewPlanner(build(t, b), source(t, pkg("postgres", "15.6"))).Plan(t.Context(), shop2("postgres_db", ">=15"))
	assert.ErrorContains(t, err, `node "db-1"`, "db-2 has its version")
}

// TestHunt4ChainHopsRequireTogether: Python 3.12.4 installs over 3.11 and
// needs Debian 12; of the two 3.11 builds, 3.11.9 is bullseye's and needs
// Debian below 12, 3.11.2 runs on 11 or later. Debian is upgraded before
// Python's first hop, so only the way through 3.11.2 works: the plan takes
// it rather than fail on deb-1 with 3.11.9's "<12" against 3.12.4's
// ">=12". Without 3.11.2, and with 3.12.1 installing over 3.9 directly,
// the plan takes 3.12.1 and says why not 3.12.4.
func TestHunt4ChainHopsRequireTogether(t *testing.T) {
	pkgs := []pkgsource.Package{pkg("debian", "12.5"),
		from(requires(pkg("python", "3.11.9"), "debian", "<12"), "3.9.x"),
		from(requires(pkg("python", "3.12.4"), "debian", ">=12"), "~3.11")}
	src := source(t, append(pkgs, from(requires(pkg("python", "3.11.2"), "debian", ">=11"), "3.9.x"))...)
	plan, err := upgrade.NewPlanner(build(t, sc3Debian()), src).Plan(t.Context(), sc3Django("python_rt", ">=3.12"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/deb-1@12.5.0", "platform/python-1@3.11.2", "platform/python-1@3.12.4", "app/app-1@5.1.0"}, ids(plan))

	src = source(t, append(pkgs, from(pkg("python", "3.12.1"), "3.9.x"))...)
	plan, err = upgrade.NewPlanner(build(t, sc3Debian()), src).Plan(t.Context(), sc3Django("python_rt", ">=3.12"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/python-1@3.12.1", "app/app-1@5.1.0"}, ids(plan))
	assert.Equal(t, "3.11.9 on the way requires debian <12, which no debian package meets for node deb-1 along with python 3.12.4's debian >=12",
		decided(t, plan, "python-1").Candidates[0].Rejected)
}
