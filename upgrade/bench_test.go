package upgrade_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
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

// BenchmarkSelect chooses, for each of 500 servers at different versions,
// a package among 10,000 versions of their type, and reports the time per
// choice. The first choice in a plan also sorts and checks the list; the
// others reuse that work.
func BenchmarkSelect(b *testing.B) {
	const servers, versions = 500, 10_000
	var tb topology.Builder
	tb.Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0.0")}).
		Template("shop", topology.Template{ID: "srv", Type: "tomcat", Version: v("1.0.0")})
	for i := range servers {
		srv := topology.NodeID(fmt.Sprintf("srv-%d", i))
		tb.Node("shop", topology.Node{ID: srv, Template: "srv", Version: v(fmt.Sprintf("1.%d.0", i%100))}).
			Node("shop", topology.Node{ID: topology.NodeID(fmt.Sprintf("shop-%d", i)), Template: "shop_app", Relationships: on(srv)})
	}
	topo, err := tb.Build()
	require.NoError(b, err)
	pkgs := make([]pkgsource.Package, versions)
	for i := range pkgs {
		pkgs[i] = pkgsource.Package{Type: "tomcat", Version: v(fmt.Sprintf("%d.%d.%d", 1+i/1000, i/10%100, i%10))}
	}
	src, err := pkgsource.NewMemory(pkgs...)
	require.NoError(b, err)
	planner := upgrade.NewPlanner(topo, src)
	req := shop2("srv", ">=3.0, <7")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := planner.Plan(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/servers, "ns/selection")
}
