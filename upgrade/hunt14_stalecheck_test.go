package upgrade_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// h14HostileDependent is a topology whose Dependents of tomcat-1 list,
// besides the shop, a node deployed since the plan was made whose
// application ID holds a newline, as a CMDB fed by hand may.
type h14HostileDependent struct{ *topology.Memory }

func (h h14HostileDependent) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	ds, err := h.Memory.Dependents(ctx, id)
	if err != nil || id != "tomcat-1" {
		return ds, err
	}
	return append(slices.Clone(ds), topology.Dependent{App: "legacy\nupgrade: all checks passed", Node: "report-1",
		Template: "report_app", Constraint: c("<10"), Relation: topology.HostedOn}), nil
}

// TestHunt14StaleCheckRefusesHostileDependent: the stale check read the
// IDs of a dependent as the topology gave them, where the planner refuses
// one outside the safe set (topology.CheckID: "every identifier stackup
// reads is checked against this set, on every input path"), and put its
// application's ID in the *StaleError's message as it was: a newline
// there forged a line of its own in the caller's log. The dependent is
// now refused, as the planner refuses a co-tenant's, named quoted, and
// nothing runs.
func TestHunt14StaleCheckRefusesHostileDependent(t *testing.T) {
	mem := build(t, shopBuilder(1))
	plan, err := upgrade.NewPlanner(mem, catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	exec := new(upgradetest.Executor)
	_, err = upgrade.Run(t.Context(), plan, exec, upgrade.WithStaleCheck(h14HostileDependent{mem}))
	require.ErrorIs(t, err, topology.ErrInvalidID)
	assert.NotContains(t, err.Error(), "\n", "no line of the topology's own")
	assert.Contains(t, err.Error(), `"legacy\nupgrade: all checks passed"`)
	assert.Contains(t, err.Error(), "tomcat-1")
	assert.Empty(t, exec.Started())
}
