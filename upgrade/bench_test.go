package upgrade_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/internal/fleet"
)

func newFleet(b *testing.B, c fleet.Config) *fleet.Fleet {
	b.Helper()
	f, err := fleet.New(c)
	require.NoError(b, err)
	return f
}

// BenchmarkPlan plans one request for a 100-instance application in a
// topology of about 100,000 nodes.
func BenchmarkPlan(b *testing.B) {
	f := newFleet(b, fleet.Config{Seed: 1, Apps: 1000, Instances: 100, Stacks: 1000, Versions: 50})
	planner := upgrade.NewPlanner(f.Topology, f.Source)
	ctx := context.Background()
	b.ReportAllocs()
	b.ReportMetric(float64(f.Nodes), "nodes")
	var steps int
	for b.Loop() {
		plan, err := planner.Plan(ctx, f.Requests[0])
		if err != nil {
			b.Fatal(err)
		}
		steps = len(plan.Steps)
	}
	b.ReportMetric(float64(steps), "steps")
}
