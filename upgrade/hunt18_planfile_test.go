package upgrade_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// hunt18Read writes p, its ID hashed again as anyone can, and reads it
// back.
func hunt18Read(t *testing.T, p *upgrade.Plan) (*upgrade.Plan, error) {
	t.Helper()
	p.ID = p.ComputeID()
	var buf bytes.Buffer
	require.NoError(t, p.WriteJSON(&buf))
	return upgrade.ReadJSON(&buf)
}

// TestHunt18ReadJSONRefusesUnsortedAfter reads plan files whose After
// lists are out of order or name a step twice, as a hand edit leaves
// them: the planner and Plan.Roll write every After list sorted and
// without repeats (Step.After says so), and ReadJSON read them back, a
// plan that no planner made, with an ID of its own for the same steps.
func TestHunt18ReadJSONRefusesUnsortedAfter(t *testing.T) {
	after := func(ids ...upgrade.StepID) []upgrade.StepID { return ids }
	for name, tc := range map[string]struct {
		steps    []upgrade.Step
		barriers []upgrade.Barrier
		want     string
	}{
		"step out of order": {[]upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("b", "a")}}, nil,
			"step c lists b before a in its After"},
		"step twice": {[]upgrade.Step{{ID: "a"}, {ID: "c", After: after("a", "a")}}, nil,
			"step c lists a twice in its After"},
		"barrier out of order": {[]upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("x")}},
			[]upgrade.Barrier{{ID: "x", After: after("b", "a")}}, "barrier x lists b before a in its After"},
		"barrier twice": {[]upgrade.Step{{ID: "a"}, {ID: "c", After: after("x")}},
			[]upgrade.Barrier{{ID: "x", After: after("a", "a")}}, "barrier x lists a twice in its After"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := hunt18Read(t, hunt17Plan(tc.steps, tc.barriers))
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, "list each step once, sorted")
		})
	}
	// Sorted, the same plans are read.
	_, err := hunt18Read(t, hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("a", "b")}}, nil))
	require.NoError(t, err)
	_, err = hunt18Read(t, hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("x")}},
		[]upgrade.Barrier{{ID: "x", After: after("a", "b")}}))
	require.NoError(t, err)
}
