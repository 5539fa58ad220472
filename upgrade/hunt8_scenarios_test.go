package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
