package upgrade_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt17Plan returns a plan made by hand of application steps of
// application shop, each with its ID as node, its ID set.
func hunt17Plan(steps []upgrade.Step, barriers []upgrade.Barrier) *upgrade.Plan {
	p := &upgrade.Plan{Requests: []upgrade.Request{{Application: "shop", Replaces: "shop_app",
		Template: topology.Template{ID: "shop_app", Version: v("2.0.0")}}}, Barriers: barriers}
	for _, s := range steps {
		s.Kind, s.App, s.Template, s.Node, s.From, s.To = upgrade.Application, "shop", "shop_app", topology.NodeID(s.ID), v("1.0.0"), v("2.0.0")
		p.Steps = append(p.Steps, s)
	}
	p.ID = p.ComputeID()
	return p
}

// TestHunt17ReadJSONRefusesStepsOutOfOrder reads plan files whose steps
// are not in the order the Plan documents (every step after all the
// steps in its After list, barriers standing for what they wait for),
// their IDs hashed again, as anyone can. ReadJSON used to accept them,
// and a host that deploys the steps of a plan file one by one, in order,
// as Plan promises it may, upgraded the shop before the Tomcat beneath
// it; WriteText numbered the steps in that order for the reviewer.
func TestHunt17ReadJSONRefusesStepsOutOfOrder(t *testing.T) {
	for name, p := range map[string]*upgrade.Plan{
		"direct": hunt17Plan([]upgrade.Step{{ID: "b", After: []upgrade.StepID{"a"}}, {ID: "a"}}, nil),
		"through a barrier": hunt17Plan([]upgrade.Step{{ID: "c"}, {ID: "b", After: []upgrade.StepID{"batch"}}, {ID: "a"}},
			[]upgrade.Barrier{{ID: "batch", After: []upgrade.StepID{"a", "c"}}}),
		"through two barriers": hunt17Plan([]upgrade.Step{{ID: "b", After: []upgrade.StepID{"y"}}, {ID: "a"}},
			[]upgrade.Barrier{{ID: "x", After: []upgrade.StepID{"a"}}, {ID: "y", After: []upgrade.StepID{"x"}}}),
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, p.WriteJSON(&buf))
			_, err := upgrade.ReadJSON(&buf)
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, "step b comes before a")
		})
	}
	// In order, the same plans are read.
	for _, p := range []*upgrade.Plan{
		hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}}, nil),
		hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "c"}, {ID: "b", After: []upgrade.StepID{"batch"}}},
			[]upgrade.Barrier{{ID: "batch", After: []upgrade.StepID{"a", "c"}}}),
	} {
		var buf bytes.Buffer
		require.NoError(t, p.WriteJSON(&buf))
		_, err := upgrade.ReadJSON(&buf)
		require.NoError(t, err)
	}
}
