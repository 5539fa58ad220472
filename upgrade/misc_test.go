package upgrade_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// cyclicTopology is a host's Topology that does not validate: tomcat-1 and
// java-1 are hosted on each other.
type cyclicTopology struct{ *topology.Memory }

func (c cyclicTopology) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	n, err := c.Memory.Node(ctx, id)
	if err == nil && id == "java-1" {
		cyclic := *n // the Memory's own: change a copy
		cyclic.Relationships = on("tomcat-1")
		return &cyclic, nil
	}
	return n, err
}

func TestPlanRelationshipCycleInHostTopology(t *testing.T) {
	topo := cyclicTopology{build(t, shopBuilder(1))}
	_, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=9"))
	require.ErrorIs(t, err, upgrade.ErrCycle)
	var cycle *upgrade.CycleError
	require.ErrorAs(t, err, &cycle)
	assert.Equal(t, []string{"tomcat-1", "java-1", "tomcat-1"}, cycle.Path)
	assert.False(t, cycle.Requirements)
	assert.ErrorContains(t, err, "relationship cycle: tomcat-1 → java-1 → tomcat-1")
}

// selfHostedTopology is a host's Topology that does not validate: the
// application node shop-1 is hosted on itself as well as on tomcat-1.
type selfHostedTopology struct{ *topology.Memory }

func (s selfHostedTopology) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	a, err := s.Memory.Application(ctx, id)
	if err != nil {
		return a, err
	}
	self := *a // the Memory's own: change a copy
	self.Nodes = slices.Clone(a.Nodes)
	for i, n := range self.Nodes {
		if n.ID == "shop-1" {
			self.Nodes[i].Relationships = append(on("shop-1"), n.Relationships...)
		}
	}
	return &self, nil
}

// TestPlanReplacedNodeHostedOnItself checks that an application node
// related to itself is a relationship cycle, as a platform node's is,
// rather than a relationship the plan overlooks.
func TestPlanReplacedNodeHostedOnItself(t *testing.T) {
	plan, err := upgrade.NewPlanner(selfHostedTopology{build(t, shopBuilder(1))}, catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=10"))
	assert.Nil(t, plan)
	var cycle *upgrade.CycleError
	require.ErrorAs(t, err, &cycle)
	assert.Equal(t, []string{"shop-1", "shop-1"}, cycle.Path)
	assert.ErrorIs(t, err, upgrade.ErrCycle)
}

// duplicatingTopology is a host's Topology whose application "shop" lists
// node shop-1 twice, as a CMDB joining two tables might.
type duplicatingTopology struct{ *topology.Memory }

func (d duplicatingTopology) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	a, err := d.Memory.Application(ctx, id)
	if err != nil || id != "shop" {
		return a, err
	}
	dup := *a // the Memory's own: change a copy
	dup.Nodes = slices.Clone(a.Nodes)
	for _, n := range a.Nodes {
		if n.ID == "shop-1" {
			dup.Nodes = append(dup.Nodes, n)
		}
	}
	return &dup, nil
}

// TestPlanRefusesNodeListedTwiceInApplication checks that an application
// listing a node twice is refused while planning, naming the application
// and the node, rather than giving a plan with two steps of one ID, which
// Run refuses.
func TestPlanRefusesNodeListedTwiceInApplication(t *testing.T) {
	plan, err := upgrade.NewPlanner(duplicatingTopology{build(t, shopBuilder(1))}, catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=10"))
	assert.Nil(t, plan)
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.ErrorContains(t, err, `application "shop"`)
	assert.ErrorContains(t, err, `node "shop-1" is listed more than once: list each node of an application once`)
}

// brokenTopology fails every Dependents and AppDependents call.
type brokenTopology struct{ *topology.Memory }

func (brokenTopology) Dependents(context.Context, topology.NodeID) ([]topology.Dependent, error) {
	return nil, errors.New("inventory offline")
}

func (brokenTopology) AppDependents(context.Context, topology.AppID) (map[topology.NodeID][]topology.Dependent, error) {
	return nil, errors.New("inventory offline")
}

func TestPlanTopologyErrorsPropagate(t *testing.T) {
	for name, topo := range map[string]topology.Topology{
		"Dependents and AppDependents": brokenTopology{build(t, shopBuilder(1))},
		"Dependents":                   walkOnly{brokenTopology{build(t, shopBuilder(1))}},
	} {
		_, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=9"))
		assert.ErrorContains(t, err, "inventory offline", name)
	}
}

func TestPlanLogsDecisions(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t), upgrade.WithLogger(logger)).
		Plan(context.Background(), shop2("tomcat_server", ">=9"))
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "node=tomcat-1")
	assert.Contains(t, buf.String(), "to=11.0.2")
}

func TestNewPlannerMisuse(t *testing.T) {
	assert.Panics(t, func() { upgrade.NewPlanner(nil, catalogue(t)) })
	assert.Panics(t, func() { upgrade.NewPlanner(build(t, shopBuilder(1)), nil) })
	assert.Panics(t, func() { _, _ = upgrade.Run(context.Background(), &upgrade.Plan{}, nil) })
}

func TestStepKindText(t *testing.T) {
	for _, k := range []upgrade.StepKind{upgrade.Platform, upgrade.Application} {
		text, err := k.MarshalText()
		require.NoError(t, err)
		var back upgrade.StepKind
		require.NoError(t, back.UnmarshalText(text))
		assert.Equal(t, k, back)
	}
	_, err := upgrade.StepKind(7).MarshalText()
	assert.Error(t, err)
	assert.Equal(t, "StepKind(7)", upgrade.StepKind(7).String())
	assert.Error(t, json.Unmarshal([]byte(`"magic"`), new(upgrade.StepKind)))
	assert.Equal(t, "Policy(9)", upgrade.Policy(9).String())
	assert.Equal(t, "nearest", upgrade.Nearest.String())
}

func TestPlanStepLookup(t *testing.T) {
	plan := shopPlan(t, 1)
	_, ok := plan.Step("nope")
	assert.False(t, ok)
	report, err := upgrade.Run(context.Background(), plan, &recorder{})
	require.NoError(t, err)
	_, ok = report.Outcome("nope")
	assert.False(t, ok)
}
