package upgrade

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// platformStep returns a platform step of ID id taking node to Tomcat
// 2.0.0 after the steps of IDs after.
func platformStep(id StepID, node topology.NodeID, after ...StepID) Step {
	v := version.MustParse("2.0.0")
	return Step{ID: id, Kind: Platform, App: "a", Node: node, Template: "t", Type: "tomcat", To: v,
		Package: &pkgsource.Package{Type: "tomcat", Version: v}, After: after}
}

// TestReadJSONRefusesBadBarriers checks that a plan file whose barriers
// cannot be followed is refused, naming the barrier, even when its ID is
// the hash of its content.
func TestReadJSONRefusesBadBarriers(t *testing.T) {
	good := func() *Plan {
		return &Plan{Steps: []Step{
			platformStep("app/a-1@2.0.0", "a-1"),
			platformStep("app/a-2@2.0.0", "a-2"),
			platformStep("app/a-3@2.0.0", "a-3", "batch/a/t/1"),
		}, Barriers: []Barrier{{ID: "batch/a/t/1", After: []StepID{"app/a-1@2.0.0", "app/a-2@2.0.0"}}}}
	}
	read := func(p *Plan) (*Plan, error) {
		p.ID = planID(p)
		var buf bytes.Buffer
		require.NoError(t, p.WriteJSON(&buf))
		return ReadJSON(&buf)
	}
	back, err := read(good())
	require.NoError(t, err)
	assert.Equal(t, good().Barriers, back.Barriers)

	for name, tt := range map[string]struct {
		edit func(p *Plan)
		want string
	}{
		"unknown step": {func(p *Plan) { p.Barriers[0].After[1] = "app/ghost@1" },
			"barrier batch/a/t/1 comes after unknown step app/ghost@1"},
		"waits for nothing": {func(p *Plan) { p.Barriers[0].After = nil }, "barrier batch/a/t/1 waits for no step"},
		"same ID as a step": {func(p *Plan) { p.Barriers[0].ID = "app/a-3@2.0.0"; p.Steps[2].After = nil },
			"duplicate step ID app/a-3@2.0.0"},
		"two of one ID": {func(p *Plan) { p.Barriers = append(p.Barriers, p.Barriers[0]) }, "duplicate step ID batch/a/t/1"},
		// An empty ID is no ID: a journal could not name the step.
		"step without ID":    {func(p *Plan) { p.Steps[1].ID = ""; p.Steps[2].After = nil }, `step ""`},
		"barrier without ID": {func(p *Plan) { p.Barriers[0].ID = "" }, `barrier ""`},
		"cycle through a barrier": {func(p *Plan) { p.Steps[0].After = []StepID{"app/a-3@2.0.0"} },
			"steps form a cycle"},
		"cycle of barriers": {func(p *Plan) {
			p.Barriers = append(p.Barriers, Barrier{ID: "batch/a/t/2", After: []StepID{"batch/a/t/3"}},
				Barrier{ID: "batch/a/t/3", After: []StepID{"batch/a/t/2"}})
		}, "batch/a/t/2"},
	} {
		t.Run(name, func(t *testing.T) {
			p := good()
			tt.edit(p)
			plan, err := read(p)
			assert.Nil(t, plan)
			require.ErrorIs(t, err, ErrInvalidPlan)
			assert.ErrorContains(t, err, tt.want)
			_, err = Run(t.Context(), p, ExecutorFunc(func(context.Context, Step) error { return nil }))
			require.ErrorIs(t, err, ErrInvalidPlan, "Run refuses it too")
			if strings.HasSuffix(name, "without ID") {
				assert.ErrorContains(t, err, "has no ID")
			}
		})
	}
}

// TestReadJSONRefusesStepWithoutKind checks that a plan file with a step
// that leaves out "kind" is refused, naming the step, even when its ID is
// the hash of its content: neither a platform nor an application step,
// it would reach the executor as neither.
func TestReadJSONRefusesStepWithoutKind(t *testing.T) {
	p := &Plan{Steps: []Step{
		platformStep("platform/a-1@2.0.0", "a-1"),
		platformStep("platform/a-2@2.0.0", "a-2", "platform/a-1@2.0.0"),
	}}
	var buf bytes.Buffer
	p.ID = planID(p)
	require.NoError(t, p.WriteJSON(&buf))
	_, err := ReadJSON(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)

	p.Steps[1].Kind = 0
	p.ID = planID(p)
	p.Steps[1].Kind = Platform // for WriteJSON, which refuses kind 0
	buf.Reset()
	require.NoError(t, p.WriteJSON(&buf))
	data := bytes.Replace(buf.Bytes(), []byte(`"kind": "platform",`), nil, 2)
	data = bytes.Replace(data, []byte(`"id": "platform/a-1@2.0.0",`), []byte(`"id": "platform/a-1@2.0.0", "kind": "platform",`), 1)
	plan, err := ReadJSON(bytes.NewReader(data))
	assert.Nil(t, plan)
	require.ErrorIs(t, err, ErrInvalidPlan)
	assert.ErrorContains(t, err, "step platform/a-2@2.0.0 has no kind")
}
