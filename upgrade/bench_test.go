package upgrade_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

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
// topology of about 100,000 nodes, with a new Planner each time (a Planner
// keeps nothing from one plan to the next).
func BenchmarkPlan(b *testing.B) {
	f := newFleet(b, fleet.Config{Seed: 1, Apps: 1000, Instances: 100, Stacks: 1000, Versions: 50})
	ctx := context.Background()
	b.ReportAllocs()
	var steps int
	for b.Loop() {
		plan, err := upgrade.NewPlanner(f.Topology, f.Source).Plan(ctx, f.Requests[0])
		if err != nil {
			b.Fatal(err)
		}
		steps = len(plan.Steps)
	}
	b.ReportMetric(float64(f.Nodes), "nodes")
	b.ReportMetric(float64(steps), "steps")
}

// BenchmarkPlanAll plans one request per application of a fleet of about
// 100,000 nodes (10,000 applications of 10 instances on 1,000 shared
// platform stacks, 50 versions per package type) into one plan. It also
// plans a fleet a tenth of that size and reports how much longer the full
// fleet takes (growth-x10; linear growth is 10). Where the platform tells,
// it also splits the process's CPU time: how much its time in user space
// grows (user-growth-x10), and its time in the kernel per plan of either
// fleet (sys-ms, small-sys-ms), which is mostly page faults on memory the
// process had not touched before.
func BenchmarkPlanAll(b *testing.B) {
	ctx := context.Background()
	planAll := func(f *fleet.Fleet) *upgrade.Plan {
		plan, err := upgrade.NewPlanner(f.Topology, f.Source).PlanAll(ctx, f.Requests...)
		if err != nil {
			b.Fatal(err)
		}
		return plan
	}
	// Each fleet is planned with only itself in memory, as a process
	// planning it would have: were the big fleet there while the small one
	// is planned, it would put off the garbage collector for all of the
	// small one's plans and for none of its own.
	//
	// Each is first planned a few times, for the heap to grow to the size
	// it keeps: after the big fleet is built, its first five plans or so
	// each take thousands of page faults, up to 30,000 (the heap's goal
	// grows from 117 to 300 MB), the later ones hundreds. Then each is
	// timed over a run of plans, so that each plan bears its share of the
	// collector's work: a plan of the small fleet may or may not meet a
	// collection, and the best of a few would be one that does not. The
	// small fleet is timed before the big one and again after, and the two
	// averaged, so that the machine speeding up or slowing down while the
	// big one runs does not count as growth.
	const warmUps, smallRuns = 10, 20
	warmUp := func(f *fleet.Fleet) {
		for range warmUps {
			planAll(f)
		}
	}
	// timeSmall returns the wall-clock, user and kernel time per plan of
	// the small fleet.
	timeSmall := func() (wall, user, sys time.Duration) {
		f := newFleet(b, fleet.Config{Seed: 2, Apps: 1000, Instances: 10, Stacks: 100, Versions: 50})
		warmUp(f)
		user0, sys0, _ := cpuTime()
		start := time.Now()
		for range smallRuns {
			planAll(f)
		}
		wall = time.Since(start)
		user1, sys1, _ := cpuTime()
		return wall / smallRuns, (user1 - user0) / smallRuns, (sys1 - sys0) / smallRuns
	}
	wallBefore, userBefore, sysBefore := timeSmall()
	runtime.GC()
	f := newFleet(b, fleet.Config{Seed: 2, Apps: 10000, Instances: 10, Stacks: 1000, Versions: 50})
	warmUp(f)
	b.ReportAllocs()
	var steps int
	user0, sys0, ok := cpuTime()
	for b.Loop() {
		steps = len(planAll(f).Steps)
	}
	user1, sys1, _ := cpuTime()
	nodes := f.Nodes
	f = nil
	runtime.GC()
	wallAfter, userAfter, sysAfter := timeSmall()

	n := time.Duration(b.N)
	smallWall := (wallBefore + wallAfter) / 2
	b.ReportMetric(float64(nodes), "nodes")
	b.ReportMetric(float64(steps), "steps")
	b.ReportMetric(float64(smallWall.Microseconds())/1000, "small-ms")
	b.ReportMetric(float64(b.Elapsed()/n)/float64(smallWall), "growth-x10")
	if ok {
		b.ReportMetric(float64((user1-user0)/n)/float64((userBefore+userAfter)/2), "user-growth-x10")
		b.ReportMetric(float64(((sys1-sys0)/n).Microseconds())/1000, "sys-ms")
		b.ReportMetric(float64(((sysBefore+sysAfter)/2).Microseconds())/1000, "small-sys-ms")
	}
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

// dagPlan builds a plan of n steps in which each step comes after up to
// three of the twenty steps before it.
func dagPlan(n int, seed uint64) *upgrade.Plan {
	rng := rand.New(rand.NewPCG(seed, 7))
	plan := &upgrade.Plan{Steps: make([]upgrade.Step, n)}
	for i := range plan.Steps {
		s := &plan.Steps[i]
		s.ID = upgrade.StepID(fmt.Sprintf("s%06d", i))
		s.Node = topology.NodeID(s.ID)
		for range rng.IntN(4) {
			if i > 0 {
				j := max(0, i-1-rng.IntN(20))
				if !slices.Contains(s.After, plan.Steps[j].ID) {
					s.After = append(s.After, plan.Steps[j].ID)
				}
			}
		}
	}
	return plan
}

// BenchmarkRun runs plans of 100,000 steps with an executor that does
// nothing, to measure what the runner itself costs per step, on three
// shapes: a chain (each step after the one before), a fan (every step after
// the first) and layers (100 layers of 1,000 steps, each after up to three
// of the layer above). Beside Run (stackup) it times, in the same run, a
// plain errgroup walk of the same plan (errgroup): a goroutine per step,
// started when its last dependency finishes, and a semaphore for the limit.
func BenchmarkRun(b *testing.B) {
	const n = 100_000
	shapes := []struct {
		name string
		plan *upgrade.Plan
	}{{"chain", chainPlan(n)}, {"fan", fanPlan(n)}, {"layered", layeredPlan(n/1000, 1000, 1)}, {"random", dagPlan(n, 1)}}
	noop := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil })
	for _, shape := range shapes {
		for _, c := range []int{1, 16} {
			for _, runner := range []string{"stackup", "errgroup"} {
				b.Run(fmt.Sprintf("%s/c%d/%s", shape.name, c, runner), func(b *testing.B) {
					plan := shape.plan
					b.ReportAllocs()
					for b.Loop() {
						var err error
						if runner == "stackup" {
							_, err = upgrade.Run(context.Background(), plan, noop, upgrade.WithConcurrency(c))
						} else {
							err = errgroupWalk(context.Background(), plan, noop, c)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(len(plan.Steps)*b.N)/b.Elapsed().Seconds(), "steps/s")
				})
			}
		}
	}
}

// errgroupWalk runs plan with exec the obvious way, the baseline of
// BenchmarkRun: a goroutine per step, started by the step that releases it
// last, and a semaphore that lets limit of them execute at once.
func errgroupWalk(ctx context.Context, plan *upgrade.Plan, exec upgrade.Executor, limit int) error {
	index := make(map[upgrade.StepID]int, len(plan.Steps))
	for i, s := range plan.Steps {
		index[s.ID] = i
	}
	waiting := make([]atomic.Int32, len(plan.Steps))
	next := make([][]int, len(plan.Steps))
	for i, s := range plan.Steps {
		waiting[i].Store(int32(len(s.After)))
		for _, a := range s.After {
			next[index[a]] = append(next[index[a]], i)
		}
	}
	sem := semaphore.NewWeighted(int64(limit))
	g, ctx := errgroup.WithContext(ctx)
	var start func(i int)
	start = func(i int) {
		g.Go(func() error {
			if err := sem.Acquire(ctx, 1); err != nil {
				return err
			}
			err := exec.Execute(ctx, plan.Steps[i])
			sem.Release(1)
			if err != nil {
				return err
			}
			for _, j := range next[i] {
				if waiting[j].Add(-1) == 0 {
					start(j)
				}
			}
			return nil
		})
	}
	for i, s := range plan.Steps {
		if len(s.After) == 0 {
			start(i)
		}
	}
	return g.Wait()
}

// benchStep returns step i of a benchmark plan.
func benchStep(i int, after ...int) upgrade.Step {
	s := upgrade.Step{ID: upgrade.StepID(fmt.Sprintf("s%06d", i))}
	s.Node = topology.NodeID(s.ID)
	for _, a := range after {
		s.After = append(s.After, upgrade.StepID(fmt.Sprintf("s%06d", a)))
	}
	return s
}

// chainPlan returns a plan of n steps, each after the one before.
func chainPlan(n int) *upgrade.Plan {
	plan := &upgrade.Plan{Steps: make([]upgrade.Step, n)}
	plan.Steps[0] = benchStep(0)
	for i := 1; i < n; i++ {
		plan.Steps[i] = benchStep(i, i-1)
	}
	return plan
}

// fanPlan returns a plan of n steps, all after the first.
func fanPlan(n int) *upgrade.Plan {
	plan := &upgrade.Plan{Steps: make([]upgrade.Step, n)}
	plan.Steps[0] = benchStep(0)
	for i := 1; i < n; i++ {
		plan.Steps[i] = benchStep(i, 0)
	}
	return plan
}

// layeredPlan returns a plan of layers of width steps, each step after up
// to three steps of the layer above.
func layeredPlan(layers, width int, seed uint64) *upgrade.Plan {
	rng := rand.New(rand.NewPCG(seed, 13))
	plan := &upgrade.Plan{Steps: make([]upgrade.Step, 0, layers*width)}
	for l := range layers {
		for k := range width {
			var after []int
			if l > 0 {
				for range 1 + rng.IntN(3) {
					if a := (l-1)*width + rng.IntN(width); !slices.Contains(after, a) {
						after = append(after, a)
					}
				}
			}
			plan.Steps = append(plan.Steps, benchStep(l*width+k, after...))
		}
	}
	return plan
}

// BenchmarkSchedule runs random DAGs whose steps take a few milliseconds
// and reports the makespan against its lower bound, max(critical path,
// total work / concurrency), averaged over the DAGs: makespan/bound for the
// runner, and the same for a level-by-level schedule (every step of one
// depth, then the next). The bound is worked out from how long each step
// really took (a sleep of 3ms lasts a little longer), so that the ratio
// measures the schedule and the runner, not the timer.
func BenchmarkSchedule(b *testing.B) {
	const steps, concurrency = 120, 8
	var runner, levels float64
	var seed uint64
	for b.Loop() {
		seed++
		plan := dagPlan(steps, seed)
		rng := rand.New(rand.NewPCG(seed, 11))
		nominal := map[upgrade.StepID]time.Duration{}
		for _, s := range plan.Steps {
			nominal[s.ID] = time.Duration(1+rng.IntN(6)) * time.Millisecond
		}
		ratio := func(p *upgrade.Plan) float64 {
			var mu sync.Mutex
			took := map[upgrade.StepID]time.Duration{}
			work := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
				start := time.Now()
				time.Sleep(nominal[s.ID])
				mu.Lock()
				took[s.ID] = time.Since(start)
				mu.Unlock()
				return nil
			})
			start := time.Now()
			if _, err := upgrade.Run(context.Background(), p, work, upgrade.WithConcurrency(concurrency)); err != nil {
				b.Fatal(err)
			}
			return float64(time.Since(start)) / float64(scheduleBound(plan, took, concurrency))
		}
		runner += ratio(plan)
		levels += ratio(byLevels(plan))
	}
	b.ReportMetric(runner/float64(b.N), "makespan/bound")
	b.ReportMetric(levels/float64(b.N), "levels-makespan/bound")
}

// scheduleBound is max(critical path, total work / concurrency).
func scheduleBound(p *upgrade.Plan, took map[upgrade.StepID]time.Duration, concurrency int) time.Duration {
	finish := map[upgrade.StepID]time.Duration{}
	var critical, total time.Duration
	for _, s := range p.Steps { // in topological order
		var start time.Duration
		for _, a := range s.After {
			start = max(start, finish[a])
		}
		finish[s.ID] = start + took[s.ID]
		critical = max(critical, finish[s.ID])
		total += took[s.ID]
	}
	return max(critical, total/time.Duration(concurrency))
}

// byLevels returns p with every step after all the steps one level (depth)
// above it: the level-by-level baseline.
func byLevels(p *upgrade.Plan) *upgrade.Plan {
	depth := map[upgrade.StepID]int{}
	var levels [][]upgrade.StepID
	for _, s := range p.Steps {
		d := 0
		for _, a := range s.After {
			d = max(d, depth[a]+1)
		}
		depth[s.ID] = d
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], s.ID)
	}
	out := &upgrade.Plan{Steps: slices.Clone(p.Steps)}
	for i := range out.Steps {
		if d := depth[out.Steps[i].ID]; d > 0 {
			out.Steps[i].After = slices.Clone(levels[d-1])
		}
	}
	return out
}

// BenchmarkRoll rolls 100,000 instances of one template, with one canary
// then batches of half of them or of 1%, and runs the rolled plan with an
// executor that does nothing: the plan's edges (After entries of steps and
// barriers) and the bytes allocated grow in proportion to the instances.
func BenchmarkRoll(b *testing.B) {
	const instances = 100_000
	plan := &upgrade.Plan{Steps: make([]upgrade.Step, instances)}
	for i := range plan.Steps {
		node := topology.NodeID(fmt.Sprintf("shop-%06d", i))
		plan.Steps[i] = upgrade.Step{ID: upgrade.StepID("app/" + string(node) + "@2.0.0"), Kind: upgrade.Application,
			App: "shop", Node: node, Template: "shop_app"}
	}
	noop := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil })
	for _, batch := range []string{"50%", "1%"} {
		b.Run("max-in-flight="+batch, func(b *testing.B) {
			b.ReportAllocs()
			var rolled *upgrade.Plan
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				var err error
				if rolled, err = plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: batch}); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			edges := 0
			for _, s := range rolled.Steps {
				edges += len(s.After)
			}
			for _, r := range rolled.Barriers {
				edges += len(r.After)
			}
			b.ReportMetric(float64(edges)/instances, "edges/instance")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N*instances), "B/instance")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*instances), "ns/instance")
			b.ReportMetric(0, "ns/op")
			report, err := upgrade.Run(context.Background(), rolled, noop, upgrade.WithConcurrency(64))
			if err != nil || report.Count(upgrade.Succeeded) != instances {
				b.Fatalf("run of the rolled plan: %v", err)
			}
		})
	}
}

// BenchmarkReadPlan reads back the plan of BenchmarkPlanAll's fleet
// (104,464 steps), as apply does with a plan file: decoding, checking
// its steps and its ID.
func BenchmarkReadPlan(b *testing.B) {
	f := newFleet(b, fleet.Config{Seed: 2, Apps: 10000, Instances: 10, Stacks: 1000, Versions: 50})
	plan, err := upgrade.NewPlanner(f.Topology, f.Source).PlanAll(context.Background(), f.Requests...)
	require.NoError(b, err)
	var file bytes.Buffer
	require.NoError(b, plan.WriteJSON(&file))
	b.SetBytes(int64(file.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := upgrade.ReadJSON(bytes.NewReader(file.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(plan.Steps)), "steps")
}
