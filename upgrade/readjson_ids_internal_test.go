package upgrade

import (
	"bytes"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// TestReadJSONRefusesHostileIDs checks that a plan file whose identifiers
// lie outside the safe set is refused, naming the field, even when its ID
// is the hash of its content, as anyone can make it: its steps would hand
// the identifiers to an executor.
func TestReadJSONRefusesHostileIDs(t *testing.T) {
	write := func(p *Plan) []byte {
		p.ID = planID(p)
		var buf bytes.Buffer
		require.NoError(t, p.WriteJSON(&buf))
		return buf.Bytes()
	}
	// The fixture's identifiers are all in the safe set (its steps come
	// after steps it does not hold, which ReadJSON refuses after).
	require.NoError(t, checkPlanIDs(idFixture()))
	_, err := ReadJSON(bytes.NewReader(write(idFixture())))
	require.ErrorIs(t, err, ErrInvalidPlan)
	require.NotErrorIs(t, err, topology.ErrInvalidID)

	edits := map[string]func(p *Plan, id string){
		"requests[0].application":                   func(p *Plan, id string) { p.Requests[0].Application = topology.AppID(id) },
		"requests[0].replaces":                      func(p *Plan, id string) { p.Requests[0].Replaces = topology.TemplateID(id) },
		"requests[1].template.id":                   func(p *Plan, id string) { p.Requests[1].Template.ID = topology.TemplateID(id) },
		"requests[0].template.type":                 func(p *Plan, id string) { p.Requests[0].Template.Type = id },
		"requests[0].template.requirements[1].name": func(p *Plan, id string) { p.Requests[0].Template.Requirements[1].Name = id },
		"requests[0].template.requirements[0].template": func(p *Plan, id string) {
			p.Requests[0].Template.Requirements[0].Template = topology.TemplateID(id)
		},
		"steps[0].app":          func(p *Plan, id string) { p.Steps[0].App = topology.AppID(id) },
		"steps[0].node":         func(p *Plan, id string) { p.Steps[0].Node = topology.NodeID(id) },
		"steps[1].template":     func(p *Plan, id string) { p.Steps[1].Template = topology.TemplateID(id) },
		"steps[0].type":         func(p *Plan, id string) { p.Steps[0].Type = id },
		"steps[0].package.type": func(p *Plan, id string) { p.Steps[0].Package.Type = id },
		"steps[0].package.requires[1].type": func(p *Plan, id string) {
			p.Steps[0].Package.Requires = slices.Clone(p.Steps[0].Package.Requires)
			p.Steps[0].Package.Requires[1].Type = id
		},
		"steps[1].id":                  func(p *Plan, id string) { p.Steps[1].ID = StepID(id) },
		"steps[0].after[1]":            func(p *Plan, id string) { p.Steps[0].After[1] = StepID(id) },
		"decisions[0].demands[0].node": func(p *Plan, id string) { p.Decisions[0].Demands[0].Node = topology.NodeID(id) },
		"decisions[0].demands[0].app":  func(p *Plan, id string) { p.Decisions[0].Demands[0].App = topology.AppID(id) },
		"decisions[1].node":            func(p *Plan, id string) { p.Decisions[1].Node = topology.NodeID(id) },
		"barriers[1].id":               func(p *Plan, id string) { p.Barriers[1].ID = StepID(id) },
		"barriers[0].after[1]":         func(p *Plan, id string) { p.Barriers[0].After[1] = StepID(id) },
		"satisfied[0].node":            func(p *Plan, id string) { p.Satisfied[0].Node = topology.NodeID(id) },
		"satisfied[0].template":        func(p *Plan, id string) { p.Satisfied[0].Template = topology.TemplateID(id) },
		"satisfied[0].demand.template": func(p *Plan, id string) {
			p.Satisfied[0].Demand.Template = topology.TemplateID(id)
		},
	}
	for field, edit := range edits {
		for _, id := range []string{"tomcat-1$(touch pwned)", "x\nFAKE LINE", "\x1b[2J", "-rf", "t\u043emcat", "a'b"} {
			t.Run(field+"/"+id, func(t *testing.T) {
				p := idFixture()
				edit(p, id)
				plan, err := ReadJSON(bytes.NewReader(write(p)))
				assert.Nil(t, plan, "nothing is read")
				assert.ErrorIs(t, err, ErrInvalidPlan)
				assert.ErrorIs(t, err, topology.ErrInvalidID)
				var idErr *topology.IDError
				require.ErrorAs(t, err, &idErr)
				assert.Equal(t, id, idErr.ID)
				assert.ErrorContains(t, err, "upgrade: invalid plan: "+field+": ")
				assert.NotContains(t, err.Error(), "\n")
				assert.NotContains(t, err.Error(), "\x1b")
			})
		}
	}
}

// TestReadJSONQuotesHostilePlanID checks that a plan ID that does not
// match, however it is written, stays on the error's one line.
func TestReadJSONQuotesHostilePlanID(t *testing.T) {
	p := idFixture()
	p.ID = "sha256:x\nFAKE LINE\x1b[2J"
	var buf bytes.Buffer
	require.NoError(t, p.WriteJSON(&buf))
	_, err := ReadJSON(&buf)
	require.ErrorIs(t, err, ErrInvalidPlan)
	assert.ErrorContains(t, err, `id "sha256:x\nFAKE LINE\x1b[2J" does not match its content`)
	assert.NotContains(t, err.Error(), "\n")
}
