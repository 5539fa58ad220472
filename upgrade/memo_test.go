package upgrade_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// A Planner remembers, across its plans, which versions constraints allow
// (see memo.go). These tests check that what it remembers never changes a
// plan: a Planner that has made many plans, or makes them concurrently,
// plans exactly as a fresh one does, even when its source changes.

// memoOutcome is what planning gave: the plan's ID and JSON, or the error.
type memoOutcome struct {
	plan *upgrade.Plan
	id   string
	json string
	err  string
}

func memoPlan(ctx context.Context, p *upgrade.Planner, reqs []upgrade.Request) memoOutcome {
	var plan *upgrade.Plan
	var err error
	if len(reqs) == 1 {
		plan, err = p.Plan(ctx, reqs[0])
	} else {
		plan, err = p.PlanAll(ctx, reqs...)
	}
	if err != nil {
		return memoOutcome{err: err.Error()}
	}
	var buf bytes.Buffer
	if werr := plan.WriteJSON(&buf); werr != nil {
		return memoOutcome{err: "WriteJSON: " + werr.Error()}
	}
	return memoOutcome{plan: plan, id: plan.ID, json: buf.String()}
}

func memoRequireSame(t testing.TB, want, got memoOutcome, msg string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(msg, args...)
	require.Equal(t, want.err, got.err, "%s: error", what)
	require.Equal(t, want.id, got.id, "%s: plan ID", what)
	require.Equal(t, want.json, got.json, "%s: JSON", what)
	require.Equal(t, want.plan, got.plan, "%s: plan", what)
}

// memoScenario is a topology and source with lists of requests to plan.
type memoScenario struct {
	name string
	topo topology.Topology
	src  pkgsource.Source
	opts []upgrade.Option
	reqs [][]upgrade.Request
}

func memoFixtures(t testing.TB) []memoScenario {
	one := func(rs ...upgrade.Request) []upgrade.Request { return rs }
	shopSrc := source(t,
		pkg("tomcat", "9.0.85"), pkg("tomcat", "9.0.98"), requires(pkg("tomcat", "10.1.18"), "jdk", ">=11"),
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), requires(from(pkg("tomcat", "11.0.2"), ">=9"), "jdk", ">=17"),
		pkg("jdk", "11.0.22"), from(pkg("jdk", "17.0.10"), ">=11"), requires(pkg("jdk", "21.0.2"), "ubuntu", ">=20.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"))
	shopReqs := [][]upgrade.Request{
		one(shop2("tomcat_server", ">=9")),
		one(shop2("tomcat_server", ">=10", "java_runtime", ">=17")),
		one(shop2("tomcat_server", "<10")),
		one(shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=11", "ubuntu_os", ">=18.04")),
		one(shop2("tomcat_server", ">=11")),
		one(shop2("tomcat_server", ">=99")), // no package
		one(billing2(">=9")),
		one(billing2("<9")),
		one(shop2("tomcat_server", ">=9"), billing2(">=10")),
		one(shop2("tomcat_server", ">=10"), billing2("<10")), // conflict
		one(billing2(">=10, <11"), shop2("java_runtime", ">=21")),
	}
	goldenSrc := source(t,
		pkg("tomcat", "9.0.98"), requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), pkg("tomcat", "11.0.2"),
		from(pkg("jdk", "11.0.22"), "8.x"), from(pkg("jdk", "17.0.10"), ">=11, <17"), pkg("jdk", "21.0.2-ea"))
	goldenReqs := [][]upgrade.Request{
		one(shop2("tomcat_server", ">=9.0", "ubuntu_os", ">=18.04", "java_runtime", ">=17")),
		one(shop2("tomcat_server", ">=10")),
		one(shop2("java_runtime", ">=11")),
		one(shop2("java_runtime", ">=21.0.0-0")),
		one(billing2("<10")),
	}
	pathSrc := source(t,
		from(pkg("tomcat", "1.3.0"), "1.2.x"), from(pkg("tomcat", "1.4.0"), "1.3.x"), from(pkg("tomcat", "1.5.0"), ">=1.2, <1.5"),
		from(pkg("tomcat", "2.0.0"), ">=1.4, <2"), pkg("tomcat", "1.3.4"), pkg("tomcat", "1.4.2"), pkg("tomcat", "1.5.1"))
	pathReqs := [][]upgrade.Request{
		one(shop2("tomcat_server", ">=1.5")),
		one(shop2("tomcat_server", ">=2")),
		one(shop2("tomcat_server", "1.4.x")),
		one(shop2("tomcat_server", "<1.2")),
	}
	return []memoScenario{
		{name: "shop", topo: build(t, withBilling(shopBuilder(3), ">=8")), src: shopSrc, reqs: shopReqs},
		{name: "shop nearest", topo: build(t, withBilling(shopBuilder(2), ">=8")), src: shopSrc,
			opts: []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)}, reqs: shopReqs},
		{name: "shop latest patch", topo: build(t, withBilling(shopBuilder(1), "!=10.1.34")), src: shopSrc,
			opts: []upgrade.Option{upgrade.WithPolicy(upgrade.LatestPatch)}, reqs: shopReqs},
		{name: "golden", topo: build(t, withBilling(shopBuilder(2), "<11")), src: goldenSrc, reqs: goldenReqs},
		{name: "paths", topo: build(t, chainShop()), src: pathSrc, reqs: pathReqs},
		{name: "paths minor step", topo: build(t, chainShop()), src: pathSrc,
			opts: []upgrade.Option{upgrade.WithMaxMinorStep(1), upgrade.AllowDowngrades()}, reqs: pathReqs},
	}
}

// memoPropScenarios are the property test's random cases: each request
// alone, all together, and all in the reverse order.
func memoPropScenarios(t testing.TB, seeds int) []memoScenario {
	var out []memoScenario
	for seed := range uint64(seeds) {
		pc := propCaseFor(seed + 1)
		topo, err := pc.topology(nil)
		require.NoError(t, err)
		src, err := pkgsource.NewMemory(pc.pkgs...)
		require.NoError(t, err)
		var reqs [][]upgrade.Request
		for _, r := range pc.reqs {
			reqs = append(reqs, []upgrade.Request{r})
		}
		if len(pc.reqs) > 1 {
			reversed := slices.Clone(pc.reqs)
			slices.Reverse(reversed)
			reqs = append(reqs, pc.reqs, reversed)
		}
		out = append(out, memoScenario{name: fmt.Sprintf("seed %d", seed+1), topo: topo, src: src, opts: pc.options(), reqs: reqs})
	}
	return out
}

func TestPlannerReuseMatchesFreshPlanner(t *testing.T) {
	ctx := context.Background()
	scenarios := append(memoFixtures(t), memoPropScenarios(t, 150)...)
	plans, failures := 0, 0
	for _, sc := range scenarios {
		fresh := make([]memoOutcome, len(sc.reqs))
		for i, reqs := range sc.reqs {
			fresh[i] = memoPlan(ctx, upgrade.NewPlanner(sc.topo, sc.src, sc.opts...), reqs)
			if fresh[i].err != "" {
				failures++
			} else {
				plans++
			}
		}
		// One Planner for all of them, three times over, forwards then
		// backwards, so that each plan meets what the others taught it.
		reused := upgrade.NewPlanner(sc.topo, sc.src, sc.opts...)
		for pass := range 3 {
			for k := range sc.reqs {
				i := k
				if pass == 1 {
					i = len(sc.reqs) - 1 - k
				}
				got := memoPlan(ctx, reused, sc.reqs[i])
				memoRequireSame(t, fresh[i], got, "%s, requests %d, pass %d", sc.name, i, pass)
			}
		}
	}
	t.Logf("%d scenarios: %d plans, %d failures", len(scenarios), plans, failures)
	require.Greater(t, plans, 100, "enough requests plan")
	require.Greater(t, failures, 10, "enough requests fail")
}

// memoChangingSource serves list a of each type on odd calls and list b
// on even ones, counting calls of each type, and records what it served
// since the last reset.
type memoChangingSource struct {
	mu     sync.Mutex
	a, b   map[string][]pkgsource.Package
	calls  map[string]int
	served map[string][]pkgsource.Package
}

func (s *memoChangingSource) Packages(_ context.Context, typ string) ([]pkgsource.Package, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[typ]++
	list := s.a[typ]
	if s.calls[typ]%2 == 0 {
		list = s.b[typ]
	}
	if _, twice := s.served[typ]; twice {
		return nil, fmt.Errorf("%s listed twice in one plan", typ)
	}
	s.served[typ] = memoClone(list)
	return memoClone(list), nil
}

func memoClone(ps []pkgsource.Package) []pkgsource.Package {
	out := slices.Clone(ps)
	for i := range out {
		out[i].Requires = slices.Clone(out[i].Requires)
	}
	return out
}

// memoFixedSource serves what a changing source served for one plan.
func memoFixedSource(served map[string][]pkgsource.Package) pkgsource.Source {
	return pkgsource.SourceFunc(func(_ context.Context, typ string) ([]pkgsource.Package, error) {
		list, ok := served[typ]
		if !ok {
			return nil, fmt.Errorf("%s was not listed for the reused planner", typ)
		}
		return memoClone(list), nil
	})
}

func TestPlannerReuseWithChangingSource(t *testing.T) {
	ctx := context.Background()
	byType := func(ps ...pkgsource.Package) map[string][]pkgsource.Package {
		out := map[string][]pkgsource.Package{}
		for _, p := range ps {
			out[p.Type] = append(out[p.Type], p)
		}
		return out
	}
	// B differs from A in versions and From constraints, and for ubuntu in
	// From constraints only (the same versions, other paths).
	a := byType(
		pkg("tomcat", "9.0.85"), pkg("tomcat", "9.0.98"), requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"),
		requires(from(pkg("tomcat", "11.0.2"), ">=9"), "jdk", ">=17"),
		pkg("jdk", "11.0.22"), from(pkg("jdk", "17.0.10"), ">=11"), requires(pkg("jdk", "21.0.2"), "ubuntu", ">=20.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"), from(pkg("ubuntu", "24.04"), ">=22.04"))
	b := byType(
		from(pkg("tomcat", "9.0.90"), ">=8"), requires(from(pkg("tomcat", "10.1.20"), ">=8.5"), "jdk", ">=17"),
		requires(from(pkg("tomcat", "11.0.5"), ">=10"), "jdk", ">=21"), pkg("tomcat", "10.0.0"),
		pkg("jdk", "11.0.25"), from(pkg("jdk", "17.0.12"), "8.x"), requires(from(pkg("jdk", "21.0.5"), ">=17"), "ubuntu", ">=22.04"),
		from(pkg("ubuntu", "20.04"), "<18"), pkg("ubuntu", "22.04"), from(pkg("ubuntu", "24.04"), ">=18"))
	topo := build(t, withBilling(shopBuilder(2), ">=8"))
	reqs := [][]upgrade.Request{
		{shop2("tomcat_server", ">=9")},
		{shop2("tomcat_server", ">=10", "java_runtime", ">=17")},
		{shop2("tomcat_server", ">=10.1")},
		{shop2("tomcat_server", "<11", "ubuntu_os", ">=22.04")},
		{shop2("ubuntu_os", ">=24.04")},
		{shop2("java_runtime", ">=21")},
		{billing2(">=9")},
		{shop2("tomcat_server", ">=9"), billing2(">=10")},
		{shop2("tomcat_server", ">=11.0.3")}, // only in B
		{shop2("tomcat_server", "9.0.85")},   // only in A
	}
	for _, opts := range [][]upgrade.Option{nil, {upgrade.WithPolicy(upgrade.Nearest)}, {upgrade.AllowDowngrades(), upgrade.WithMaxMinorStep(1)}} {
		src := &memoChangingSource{a: a, b: b, calls: map[string]int{}}
		reused := upgrade.NewPlanner(topo, src, opts...)
		ids := make([]map[string]bool, len(reqs)) // the plans made of each request
		for round := range 8 {
			for i, r := range reqs {
				src.served = map[string][]pkgsource.Package{}
				got := memoPlan(ctx, reused, r)
				want := memoPlan(ctx, upgrade.NewPlanner(topo, memoFixedSource(src.served), opts...), r)
				memoRequireSame(t, want, got, "requests %d, round %d", i, round)
				if ids[i] == nil {
					ids[i] = map[string]bool{}
				}
				ids[i][got.id+got.err] = true
			}
		}
		// The lists did change what was planned: A's and B's plans differ.
		differ := 0
		for i := range reqs {
			if len(ids[i]) > 1 {
				differ++
			}
		}
		planned := 0
		for i := range reqs {
			for k := range ids[i] {
				if strings.HasPrefix(k, "sha256:") {
					planned++
				}
			}
		}
		t.Logf("options %d: %d of %d requests plan differently from A and B; %d distinct plans", len(opts), differ, len(reqs), planned)
		require.GreaterOrEqual(t, differ, len(reqs)-2, "requests whose plans depend on the list served")
		require.GreaterOrEqual(t, planned, len(reqs), "most requests plan")
	}
}

func TestPlannerConcurrentMatchesSequential(t *testing.T) {
	ctx := context.Background()
	scenarios := append(memoFixtures(t), memoPropScenarios(t, 40)...)
	const workers = 8
	for _, sc := range scenarios {
		want := make([]memoOutcome, len(sc.reqs))
		for i, reqs := range sc.reqs {
			want[i] = memoPlan(ctx, upgrade.NewPlanner(sc.topo, sc.src, sc.opts...), reqs)
		}
		shared := upgrade.NewPlanner(sc.topo, sc.src, sc.opts...)
		got := make([][]memoOutcome, workers)
		var wg sync.WaitGroup
		for w := range workers {
			got[w] = make([]memoOutcome, 2*len(sc.reqs))
			wg.Go(func() {
				// Each worker starts at another request, twice round.
				for k := range 2 * len(sc.reqs) {
					i := (w + k) % len(sc.reqs)
					got[w][k] = memoPlan(ctx, shared, sc.reqs[i])
				}
			})
		}
		wg.Wait()
		for w := range workers {
			for k, o := range got[w] {
				i := (w + k) % len(sc.reqs)
				memoRequireSame(t, want[i], o, "%s, worker %d, requests %d", sc.name, w, i)
			}
		}
	}
}
