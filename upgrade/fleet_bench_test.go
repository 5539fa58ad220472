package upgrade_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/internal/fleet"
)

// BenchmarkPlanFleet plans one request per application of a fleet of about
// 1,030,000 nodes (100,000 applications of 10 instances on 10,000 shared
// platform stacks, 50 versions per package type) into one plan, with a new
// Planner for each plan. It is BenchmarkPlanAll's fleet ten times over, and
// it plans that fleet of about 103,000 nodes in the same run, to report how
// much longer the big one takes (growth-x10; linear growth is 10, the
// target of issue 17 at most 12) and how much memory planning it takes at
// its peak (peak-MiB; the target at most 2 GiB): over every plan of the
// big fleet (warm-ups included), and over the first plan only
// (first-peak-MiB), as a process that plans once would see it. See
// memorySampler for what these count.
//
// Where the platform tells, it also splits the process's CPU time per plan
// of either fleet: how much its time in user space grows
// (user-growth-x10), and its time in the kernel (sys-ms, small-sys-ms),
// mostly page faults on memory the process had not touched before.
//
// The plans of each fleet run under a pprof label fleet=103k or fleet=1M,
// so that a CPU profile of the run can be split with -tagfocus (for
// example -tagfocus='fleet=^1M$'; without the anchors pprof reads 1M as a
// number). The collector's background workers carry no label: their time
// is in neither.
func BenchmarkPlanFleet(b *testing.B) {
	ctx := context.Background()
	small := fleet.Config{Seed: 2, Apps: 10000, Instances: 10, Stacks: 1000, Versions: 50}
	big := fleet.Config{Seed: 2, Apps: 100000, Instances: 10, Stacks: 10000, Versions: 50}
	planAll := func(f *fleet.Fleet, label string) *upgrade.Plan {
		var plan *upgrade.Plan
		var err error
		pprof.Do(ctx, pprof.Labels("fleet", label), func(ctx context.Context) {
			plan, err = upgrade.NewPlanner(f.Topology, f.Source).PlanAll(ctx, f.Requests...)
		})
		if err != nil {
			b.Fatal(err)
		}
		return plan
	}
	// As in BenchmarkPlanAll, each fleet is planned with only itself in
	// memory, as a process planning it would have, and first planned a few
	// times for the heap to grow to the size it keeps. The small fleet is
	// timed over a run of plans, so that each bears its share of the
	// collector's work, before the big one and again after, and the two
	// averaged, so that the machine speeding up or slowing down while the
	// big one runs does not count as growth. The big fleet takes seconds a
	// plan, so it has fewer warm-ups: the heap reaches its size in one or
	// two.
	const smallWarmUps, smallRuns, bigWarmUps = 5, 10, 2
	// timeSmall returns the wall-clock, user and kernel time, the bytes
	// and the allocations per plan of the small fleet.
	timeSmall := func() (wall, user, sys time.Duration, bytes, allocs uint64) {
		f := newFleet(b, small)
		for range smallWarmUps {
			planAll(f, "103k")
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		user0, sys0, _ := cpuTime()
		start := time.Now()
		for range smallRuns {
			planAll(f, "103k")
		}
		wall = time.Since(start)
		user1, sys1, _ := cpuTime()
		runtime.ReadMemStats(&m1)
		return wall / smallRuns, (user1 - user0) / smallRuns, (sys1 - sys0) / smallRuns,
			(m1.TotalAlloc - m0.TotalAlloc) / smallRuns, (m1.Mallocs - m0.Mallocs) / smallRuns
	}
	wallBefore, userBefore, sysBefore, smallBytes, smallAllocs := timeSmall()
	runtime.GC()
	f := newFleet(b, big)
	sampler := startSampling()
	planAll(f, "1M")
	first := sampler.peak()
	for range bigWarmUps - 1 {
		planAll(f, "1M")
	}
	b.ReportAllocs()
	var steps int
	user0, sys0, ok := cpuTime()
	for b.Loop() {
		steps = len(planAll(f, "1M").Steps)
	}
	user1, sys1, _ := cpuTime()
	b.StopTimer()
	elapsed := b.Elapsed()
	peak := sampler.end()
	nodes := f.Nodes
	f = nil
	runtime.GC()
	wallAfter, userAfter, sysAfter, _, _ := timeSmall()

	n := time.Duration(b.N)
	smallWall := (wallBefore + wallAfter) / 2
	bigWall := elapsed / n
	const mib = 1 << 20
	b.ReportMetric(float64(nodes), "nodes")
	b.ReportMetric(float64(steps), "steps")
	b.ReportMetric(float64(bigWall.Microseconds())/1000, "ms")
	b.ReportMetric(float64(smallWall.Microseconds())/1000, "small-ms")
	b.ReportMetric(float64(bigWall)/float64(smallWall), "growth-x10")
	if ok {
		b.ReportMetric(float64((user1-user0)/n)/float64((userBefore+userAfter)/2), "user-growth-x10")
		b.ReportMetric(float64(((sys1-sys0)/n).Microseconds())/1000, "sys-ms")
		b.ReportMetric(float64(((sysBefore+sysAfter)/2).Microseconds())/1000, "small-sys-ms")
	}
	b.ReportMetric(float64(smallBytes)/mib, "small-MiB/op")
	b.ReportMetric(float64(smallAllocs), "small-allocs/op")
	b.ReportMetric(float64(peak.fleet)/mib, "fleet-MiB")
	b.ReportMetric(float64(first.mapped)/mib, "first-peak-MiB")
	b.ReportMetric(float64(peak.mapped)/mib, "peak-MiB")
	b.ReportMetric(float64(peak.heap)/mib, "peak-heap-MiB")
	if peak.rss > 0 {
		b.ReportMetric(float64(first.rss)/mib, "first-peak-rss-MiB")
		b.ReportMetric(float64(peak.rss)/mib, "peak-rss-MiB")
	}
}

// peakMemory is the memory a process holds at its peak while it plans.
type peakMemory struct {
	fleet  uint64 // live heap before planning: the fleet and the catalogue
	mapped uint64 // most memory the Go runtime held from the OS at once
	heap   uint64 // most bytes in heap objects, live or not yet swept, at once
	rss    uint64 // the process's peak resident set, where the OS tells (Linux)
}

// memorySampler follows the peak memory of a process while it plans.
//
// What it measures: first the heap is collected and every free page handed
// back to the OS (debug.FreeOSMemory), so that garbage left by building the
// fleet does not count; the live heap then is the fleet's share (fleet).
// From then on a goroutine reads runtime/metrics every millisecond: mapped
// is the maximum of /memory/classes/total:bytes less
// /memory/classes/heap/released:bytes, all the memory the runtime has from
// the OS and has not given back (heap, stacks, GC metadata, ...), which is
// what the process's resident Go memory can be at most; heap is the
// maximum of /memory/classes/heap/objects:bytes, the bytes in objects
// whether still live or garbage the collector has not yet freed. The
// collector runs as usual (GOGC as set), so both include the garbage a
// real process carries between collections, not only the plan's live data,
// and so they depend on where the collections fall: a plan that begins
// with the heap full of the last plan's garbage peaks higher than the
// first plan of a process. Sampling can miss a peak shorter than a
// millisecond, at most the memory allocated in that time (a few MiB at
// this allocation rate); peak takes a reading too. rss is the peak
// resident set as Linux counts it (VmHWM in /proc/self/status, reset
// through /proc/self/clear_refs at the start), which also counts memory
// not allocated by Go; it is 0 elsewhere, and it is read only when peak
// is called, not every millisecond. The sampling goroutine reads four
// metrics a millisecond, little next to the plans it watches.
type memorySampler struct {
	mu      sync.Mutex
	samples []metrics.Sample
	p       peakMemory
	rss     bool // whether VmHWM was reset
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startSampling() *memorySampler {
	debug.FreeOSMemory()
	s := &memorySampler{stop: make(chan struct{}), samples: []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}}
	metrics.Read(s.samples)
	s.p.fleet = s.samples[3].Value.Uint64()
	s.rss = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	s.wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				s.mu.Lock()
				s.read()
				s.mu.Unlock()
			}
		}
	})
	return s
}

// read takes a reading of the runtime's metrics; s.mu must be held.
func (s *memorySampler) read() {
	metrics.Read(s.samples)
	s.p.mapped = max(s.p.mapped, s.samples[0].Value.Uint64()-s.samples[1].Value.Uint64())
	s.p.heap = max(s.p.heap, s.samples[2].Value.Uint64())
}

// peak takes a reading and returns the peaks so far, the resident set's
// too.
func (s *memorySampler) peak() peakMemory {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read()
	if s.rss {
		s.p.rss = peakRSS()
	}
	return s.p
}

// end stops sampling and returns the peaks.
func (s *memorySampler) end() peakMemory {
	close(s.stop)
	s.wg.Wait()
	return s.peak()
}

// peakRSS returns the process's peak resident set size from
// /proc/self/status (VmHWM), or 0 if it cannot tell.
func peakRSS() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	s := bufio.NewScanner(bytes.NewReader(status))
	for s.Scan() {
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(string(bytes.TrimSpace(bytes.TrimSuffix(rest, []byte("kB")))), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
