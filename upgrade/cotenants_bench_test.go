package upgrade_test

import (
	"context"
	"testing"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/internal/fleet"
)

// BenchmarkPlanWalk is BenchmarkPlan/planner=reused over a topology that
// is no topology.AboveLister, as a host's may be: the planner walks the
// Dependents of every node above each platform node it changes (100
// application nodes above each Tomcat, walked for its JDK and for its OS)
// to find co-tenants further up.
func BenchmarkPlanWalk(b *testing.B) {
	f := newFleet(b, fleet.Config{Seed: 1, Apps: 1000, Instances: 100, Stacks: 1000, Versions: 50})
	ctx := context.Background()
	planner := upgrade.NewPlanner(walkOnly{f.Topology}, f.Source)
	b.ReportAllocs()
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
