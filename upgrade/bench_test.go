package upgrade_test

import (
	"context"
	"math"
	"testing"
	"time"

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

// BenchmarkPlanAll plans one request per application of a fleet of about
// 100,000 nodes (10,000 applications of 10 instances on 1,000 shared
// platform stacks, 50 versions per package type) into one plan. It also
// plans a fleet a tenth of that size and reports how much longer the full
// fleet takes (growth-x10; linear growth is 10).
func BenchmarkPlanAll(b *testing.B) {
	ctx := context.Background()
	planAll := func(f *fleet.Fleet) (*upgrade.Plan, time.Duration) {
		start := time.Now()
		plan, err := upgrade.NewPlanner(f.Topology, f.Source).PlanAll(ctx, f.Requests...)
		if err != nil {
			b.Fatal(err)
		}
		return plan, time.Since(start)
	}
	small := newFleet(b, fleet.Config{Seed: 2, Apps: 1000, Instances: 10, Stacks: 100, Versions: 50})
	smallTime := time.Duration(math.MaxInt64)
	for range 3 {
		_, d := planAll(small)
		smallTime = min(smallTime, d)
	}
	f := newFleet(b, fleet.Config{Seed: 2, Apps: 10000, Instances: 10, Stacks: 1000, Versions: 50})
	b.ReportAllocs()
	b.ReportMetric(float64(f.Nodes), "nodes")
	var steps int
	var total time.Duration
	for b.Loop() {
		plan, d := planAll(f)
		steps, total = len(plan.Steps), total+d
	}
	b.ReportMetric(float64(steps), "steps")
	b.ReportMetric(float64(total)/float64(b.N)/float64(smallTime), "growth-x10")
}
