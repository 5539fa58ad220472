package upgrade_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// h11FoldingTopology answers as an inventory whose database matches IDs
// without regard to case (MySQL's default collation, DNS names): a node
// asked for as "TOMCAT-2" comes back as tomcat-2. Its application lists
// shop-1 as running on the target, spelt so.
type h11FoldingTopology struct {
	*topology.Memory
	target topology.NodeID
	answer func(topology.NodeID) topology.NodeID
}

func (f h11FoldingTopology) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	return f.Memory.Node(ctx, f.answer(id))
}

func (f h11FoldingTopology) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	a, err := f.Memory.Application(ctx, id)
	if err != nil {
		return nil, err
	}
	c := *a
	c.Nodes = append([]topology.Node(nil), a.Nodes...)
	for i := range c.Nodes {
		if c.Nodes[i].ID == "shop-1" {
			c.Nodes[i].Relationships = on(f.target)
		}
	}
	return &c, nil
}

// TestHunt11NodeOfAnotherIDRefused: a topology that answers a lookup of
// one node with another, as a case-insensitive inventory does for
// "TOMCAT-2", made a plan with two steps of one ID, upgrading tomcat-2
// twice at once (shop-1 reached it by one spelling, shop-2 by the other).
// Planning now fails with an error that names both IDs and says what to
// do; a topology that answers exactly plans as before.
func TestHunt11NodeOfAnotherIDRefused(t *testing.T) {
	fold := func(id topology.NodeID) topology.NodeID { return topology.NodeID(strings.ToLower(string(id))) }
	for _, tt := range []struct {
		name   string
		target topology.NodeID
		answer func(topology.NodeID) topology.NodeID
		got    string
	}{
		{"case folded", "TOMCAT-2", fold, `"tomcat-2"`},
		{"another node", "tomcat-2", func(id topology.NodeID) topology.NodeID {
			if id == "tomcat-2" {
				return "tomcat-1"
			}
			return id
		}, `"tomcat-1"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topo := h11FoldingTopology{build(t, shopBuilder(2)), tt.target, tt.answer}
			plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=10"))
			require.Error(t, err, "plan: %v", plan)
			require.ErrorIs(t, err, topology.ErrInvalid)
			var te *topology.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, `node "`+string(tt.target)+`"`, te.Item)
			assert.Contains(t, err.Error(), "it returned node "+tt.got)
			assert.Contains(t, err.Error(), "case-sensitive")
		})
	}
	t.Run("exact", func(t *testing.T) {
		topo := h11FoldingTopology{build(t, shopBuilder(2)), "tomcat-2", func(id topology.NodeID) topology.NodeID { return id }}
		plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=10"))
		require.NoError(t, err)
		var ids []upgrade.StepID
		for _, s := range plan.Steps {
			ids = append(ids, s.ID)
		}
		assert.Equal(t, []upgrade.StepID{"platform/tomcat-2@11.0.2", "app/shop-1@2.0.0", "app/shop-2@2.0.0"}, ids)
	})
}

// h11StaleDependents is a topology of the four methods alone (no
// AboveLister: the planner walks Dependents up) whose Dependents index
// went stale: node shop-1 lists a dependent whose template is gone, which
// the walk up from tomcat-1 meets.
type h11StaleDependents struct{ m *topology.Memory }

func (s h11StaleDependents) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	return s.m.Application(ctx, id)
}

func (s h11StaleDependents) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	return s.m.Node(ctx, id)
}

func (s h11StaleDependents) Template(ctx context.Context, id topology.TemplateID) (*topology.Template, error) {
	return s.m.Template(ctx, id)
}

func (s h11StaleDependents) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	if id == "report-1" {
		return nil, nil // the index holds the node, nothing above it
	}
	ds, err := s.m.Dependents(ctx, id)
	if err != nil || id != "shop-1" {
		return ds, err
	}
	return append(slices.Clone(ds), topology.Dependent{App: "legacy", Node: "report-1", Template: "report_app",
		Relation: topology.DependsOn}), nil
}

// TestHunt11StaleDependentNamed: a dependent whose template the topology
// no longer has failed the plan with the topology's bare
// `template "report_app" not found`, which did not say where the planner
// met that name; the error now names the dependent, its node and the node
// whose Dependents listed it, and still matches topology.ErrNotFound.
func TestHunt11StaleDependentNamed(t *testing.T) {
	topo := h11StaleDependents{build(t, shopBuilder(1))}
	_, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, topology.ErrNotFound)
	assert.Contains(t, err.Error(), `of node "shop-1", node "report-1" of template "report_app"`)
}
