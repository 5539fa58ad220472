package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// Brute-force oracles for small cases, drawn from fixed seeds: what the
// planner chooses is compared with what enumerating every chain and
// version says it should be.
//
//   - TestHunt13OracleOneNode: one platform node with co-tenants, under
//     every policy, with the minor step limit and downgrades: the version
//     chosen (the policy's first among those a chain reaches through
//     versions the co-tenants allow), the number of hops (the shortest
//     chain) and the kind of error.
//   - TestHunt13OracleStack: a server on an OS, the server's packages
//     requiring OS versions: both targets, the server's chain being the
//     highest versions at each distance whose requirements can be met.
//   - TestHunt13OracleDiamond and TestHunt13OracleTower: two platform
//     nodes on one OS, and three nodes stacked: a plan is found exactly
//     when a choice of versions and chains meets every demand, and
//     planning again once it has run gives no steps.

type h13Node struct {
	installed version.Version
	pkgs      []pkgsource.Package
	demand    version.Constraint
	cotenants []version.Constraint
	policy    upgrade.Policy
	maxMinor  int
	down      bool
}

func (oc h13Node) String() string {
	s := fmt.Sprintf("installed %s demand %q cotenants %v policy %v maxMinor %d down %v\n", oc.installed, oc.demand, oc.cotenants, oc.policy, oc.maxMinor, oc.down)
	for _, p := range oc.pkgs {
		s += fmt.Sprintf("  pkg %s from %q\n", p.Version, p.From)
	}
	return s
}

var h13Demands = []string{">=2", "^2", "~2.1", "2.x", "<2", ">=1.1, <3", "^1.2", "!=2.0.0", ">2.1", "<=2.1", ">=2.0.0-0", "^3", "<1.2 || >=3", "2.1 - 2.3", "*", "~1"}
var h13Froms = []string{"", "", "", "^1", "^2", ">=1.2", "<2.2", "~2.0", ">=2"}
var h13CotenantCons = []string{"<3", "!=2.1.0", "^2", ">=1.1", "<2.3", "~2"}

func h13Version(rng *rand.Rand, pre bool) version.Version {
	s := fmt.Sprintf("%d.%d.%d", 1+rng.IntN(3), rng.IntN(4), rng.IntN(2))
	if pre && rng.IntN(6) == 0 {
		s += "-rc.1"
	}
	return version.MustParse(s)
}

func h13GenNode(rng *rand.Rand) h13Node {
	var oc h13Node
	oc.installed = h13Version(rng, false)
	seen := map[string]bool{}
	for range 2 + rng.IntN(7) {
		v := h13Version(rng, true)
		if seen[v.String()] {
			continue
		}
		seen[v.String()] = true
		p := pkgsource.Package{Type: "server", Version: v, From: h13Draw(rng, h13Froms)}
		oc.pkgs = append(oc.pkgs, p)
	}
	oc.demand = h13Draw(rng, h13Demands)
	for range rng.IntN(3) {
		oc.cotenants = append(oc.cotenants, h13Draw(rng, h13CotenantCons))
	}
	oc.policy = upgrade.Policy(rng.IntN(3))
	oc.maxMinor = rng.IntN(2)
	oc.down = rng.IntN(3) == 0
	return oc
}

func h13Hop(from version.Version, p pkgsource.Package, maxMinor int) bool {
	if !p.From.Allows(from) {
		return false
	}
	if maxMinor > 0 && p.Version.Major() == from.Major() && from.Less(p.Version) {
		return p.Version.Minor()-from.Minor() <= uint64(maxMinor)
	}
	return true
}

// h13Reach returns the fewest hops from the installed version to each
// package, up (or down), through released versions the co-tenants allow.
func h13Reach(oc h13Node, up bool) map[string]int {
	cot := func(v version.Version) bool {
		for _, c := range oc.cotenants {
			if !c.Allows(v) {
				return false
			}
		}
		return true
	}
	dist := map[string]int{}
	type st struct {
		v version.Version
		d int
	}
	queue := []st{{oc.installed, 0}}
	seen := map[string]bool{oc.installed.String(): true}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, p := range oc.pkgs {
			if up && !cur.v.Less(p.Version) || !up && !p.Version.Less(cur.v) {
				continue
			}
			if !h13Hop(cur.v, p, oc.maxMinor) || !cot(p.Version) {
				continue
			}
			if _, ok := dist[p.Version.String()]; !ok {
				dist[p.Version.String()] = cur.d + 1
			}
			if p.Version.Prerelease() == "" && !seen[p.Version.String()] {
				seen[p.Version.String()] = true
				queue = append(queue, st{p.Version, cur.d + 1})
			}
		}
	}
	return dist
}

// h13Expect returns the expected target ("" = no step) and hops, or an error kind.
func h13Expect(oc h13Node) (string, int, string) {
	fits := func(v version.Version) bool {
		if !oc.demand.Allows(v) {
			return false
		}
		for _, c := range oc.cotenants {
			if !c.Allows(v) {
				return false
			}
		}
		return true
	}
	if oc.demand.Allows(oc.installed) {
		return "", 0, ""
	}
	var ups, downs []version.Version
	for _, p := range oc.pkgs {
		if !fits(p.Version) {
			continue
		}
		if oc.installed.Less(p.Version) {
			ups = append(ups, p.Version)
		} else {
			downs = append(downs, p.Version)
		}
	}
	pick := func(vs []version.Version, dist map[string]int, up bool) (string, int) {
		var cands []version.Version
		for _, v := range vs {
			if dist[v.String()] > 0 {
				cands = append(cands, v)
			}
		}
		if len(cands) == 0 {
			return "", 0
		}
		slices.SortFunc(cands, version.Version.Compare)
		var best version.Version
		switch {
		case !up || oc.policy == upgrade.Newest:
			best = cands[len(cands)-1]
		case oc.policy == upgrade.Nearest:
			best = cands[0]
		default: // LatestPatch: lowest minor, highest patch within
			lo := cands[0]
			for _, v := range cands {
				if v.Major() == lo.Major() && v.Minor() == lo.Minor() {
					best = v
				}
			}
		}
		return best.String(), dist[best.String()]
	}
	if len(ups) > 0 {
		if t, d := pick(ups, h13Reach(oc, true), true); t != "" {
			return t, d, ""
		}
		if oc.down && len(downs) > 0 {
			if t, d := pick(downs, h13Reach(oc, false), false); t != "" {
				return t, d, ""
			}
		}
		return "", 0, "nopath"
	}
	if len(downs) > 0 {
		if !oc.down {
			return "", 0, "downgrade"
		}
		if t, d := pick(downs, h13Reach(oc, false), false); t != "" {
			return t, d, ""
		}
		return "", 0, "nopath"
	}
	anyDemand := slices.ContainsFunc(oc.pkgs, func(p pkgsource.Package) bool { return oc.demand.Allows(p.Version) })
	if anyDemand {
		return "", 0, "conflict"
	}
	return "", 0, "nopackage"
}

func h13PlanOne(t *testing.T, oc h13Node) (string, int, string, error) {
	b := new(topology.Builder).
		Template("plat", topology.Template{ID: "srv_t", Type: "server", Version: oc.installed}).
		Node("plat", topology.Node{ID: "srv-1", Template: "srv_t"}).
		Template("a", topology.Template{ID: "a_t", Type: "webapp", Version: v("1.0.0")}).
		Node("a", topology.Node{ID: "a-1", Template: "a_t", Relationships: on("srv-1")})
	for i, ct := range oc.cotenants {
		app := topology.AppID(fmt.Sprintf("co%d", i))
		b.Template(app, topology.Template{ID: topology.TemplateID(fmt.Sprintf("co%d_t", i)), Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "srv_t", Constraint: ct}}}).
			Node(app, topology.Node{ID: topology.NodeID(fmt.Sprintf("co%d-1", i)), Template: topology.TemplateID(fmt.Sprintf("co%d_t", i)), Relationships: on("srv-1")})
	}
	topo := build(t, b)
	opts := []upgrade.Option{upgrade.WithPolicy(oc.policy), upgrade.WithMaxMinorStep(oc.maxMinor)}
	if oc.down {
		opts = append(opts, upgrade.AllowDowngrades())
	}
	p := upgrade.NewPlanner(topo, source(t, oc.pkgs...), opts...)
	req := upgrade.Request{Application: "a", Replaces: "a_t",
		Template: topology.Template{ID: "a_t", Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "srv_t", Constraint: oc.demand}}}}
	plan, err := p.Plan(context.Background(), req)
	if err != nil {
		kind := "other"
		switch {
		case errors.Is(err, upgrade.ErrNoUpgradePath):
			kind = "nopath"
		case errors.Is(err, upgrade.ErrDowngrade):
			kind = "downgrade"
		case errors.Is(err, upgrade.ErrConflict):
			kind = "conflict"
		case errors.Is(err, upgrade.ErrNoPackage):
			kind = "nopackage"
		}
		return "", 0, kind, err
	}
	target, hops := "", 0
	for _, s := range plan.Steps {
		if s.Kind == upgrade.Platform {
			target, hops = s.To.String(), hops+1
		}
	}
	return target, hops, "", nil
}

func TestHunt13OracleOneNode(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2))
	bad := 0
	dist := map[string]int{}
	for i := range 1500 {
		oc := h13GenNode(rng)
		wt, wh, wk := h13Expect(oc)
		gt, gh, gk, err := h13PlanOne(t, oc)
		dist[fmt.Sprintf("%s/%d/%v", gk, gh, gt == "")]++
		if wt != gt || wh != gh || wk != gk {
			bad++
			if bad <= 8 {
				t.Errorf("case %d: %s want %q/%d/%s got %q/%d/%s err=%v", i, oc, wt, wh, wk, gt, gh, gk, err)
			}
		}
	}
	// The generator stays useful: plans of one and more hops, and every
	// kind of failure.
	require.GreaterOrEqual(t, len(dist), 7, "outcomes: %v", dist)
}

type h13Stack struct {
	srv, os     h13Node // srv.demand on srv_t; os.demand on os_t ("*" = none); cotenants each
	srvTmplOnOS version.Constraint
	policy      upgrade.Policy
}

var h13RequiresCons = []string{">=2", "<2", "^1", "^2", "~2.1", ">=1.2, <3", "!=2.0.0", "<3"}

func h13GenStack(rng *rand.Rand) h13Stack {
	var oc h13Stack
	oc.policy = upgrade.Policy(rng.IntN(3))
	oc.srv, oc.srvTmplOnOS = h13Layer(rng, "server", "os", oc.policy, 0, false)
	oc.os, _ = h13Layer(rng, "os", "", oc.policy, 0, true)
	return oc
}

// h13Layer draws a node of type typ whose packages mostly require a
// version of type beneath ("" for none), and what its template may
// require of the node beneath; optional says the request may demand
// nothing of it.
func h13Layer(rng *rand.Rand, typ, beneath string, policy upgrade.Policy, maxMinor int, optional bool) (h13Node, version.Constraint) {
	n := h13GenNode(rng)
	n.policy, n.maxMinor, n.down = policy, maxMinor, false
	if optional && rng.IntN(2) == 0 {
		n.demand = version.Constraint{}
	}
	var tmpl version.Constraint
	if beneath == "" {
		for i := range n.pkgs {
			n.pkgs[i].Type = typ
		}
		return n, tmpl
	}
	for i := range n.pkgs {
		n.pkgs[i].Type = typ
		if rng.IntN(4) > 0 {
			n.pkgs[i].Requires = []pkgsource.Requirement{{Type: beneath, Constraint: h13Draw(rng, h13RequiresCons)}}
		}
	}
	if rng.IntN(3) == 0 {
		tmpl = h13Draw(rng, h13CotenantCons)
	}
	return n, tmpl
}

// h13Draw returns one of the constraints of list.
func h13Draw(rng *rand.Rand, list []string) version.Constraint {
	return version.MustParseConstraint(list[rng.IntN(len(list))])
}

func (oc h13Stack) String() string {
	s := fmt.Sprintf("policy %v\nSERVER %s srv_t requires os_t %q\n", oc.policy, oc.srv, oc.srvTmplOnOS)
	for _, p := range oc.srv.pkgs {
		s += fmt.Sprintf("  srv pkg %s requires %v\n", p.Version, p.Requires)
	}
	return s + "OS " + oc.os.String()
}

// h13Chains returns every shortest chain of upgrades (indices of
// packages) from the installed version to the t-th package, the one
// with the highest versions from the top down first, as the planner
// tries them.
func h13Chains(oc h13Node, t int) [][]int {
	cot := func(v version.Version) bool {
		for _, c := range oc.cotenants {
			if !c.Allows(v) {
				return false
			}
		}
		return true
	}
	type path []int
	var frontier []path
	vAt := func(p path) version.Version {
		if len(p) == 0 {
			return oc.installed
		}
		return oc.pkgs[p[len(p)-1]].Version
	}
	frontier = []path{{}}
	for depth := 0; depth < len(oc.pkgs) && len(frontier) > 0; depth++ {
		var next []path
		var done [][]int
		for _, p := range frontier {
			from := vAt(p)
			if len(p) > 0 && from.Prerelease() != "" {
				continue
			}
			for j, q := range oc.pkgs {
				if !from.Less(q.Version) || !h13Hop(from, q, oc.maxMinor) || !cot(q.Version) {
					continue
				}
				np := append(slices.Clone(p), j)
				if j == t {
					done = append(done, np)
				} else {
					next = append(next, np)
				}
			}
		}
		if len(done) > 0 {
			slices.SortFunc(done, func(a, b []int) int {
				for k := len(a) - 1; k >= 0; k-- {
					if c := oc.pkgs[b[k]].Version.Compare(oc.pkgs[a[k]].Version); c != 0 {
						return c
					}
				}
				return 0
			})
			return done
		}
		frontier = next
	}
	return nil
}

func h13PolicyOrder(oc h13Node, idx []int) []int {
	// policy order among upgrades
	out := slices.Clone(idx)
	slices.SortFunc(out, func(a, b int) int { return oc.pkgs[a].Version.Compare(oc.pkgs[b].Version) })
	switch oc.policy {
	case upgrade.Newest:
		slices.Reverse(out)
	case upgrade.LatestPatch:
		slices.SortStableFunc(out, func(a, b int) int {
			va, vb := oc.pkgs[a].Version, oc.pkgs[b].Version
			if va.Major() != vb.Major() || va.Minor() != vb.Minor() {
				return va.Compare(vb)
			}
			return vb.Compare(va)
		})
	}
	return out
}

// h13Beneath returns the OS version the policy picks to meet ds and the
// co-tenants ("" when the installed one does), or false when none is
// reached.
func h13Beneath(oc h13Stack, ds []version.Constraint, cotenants []version.Constraint) (string, bool) {
	os := oc.os
	os.cotenants = cotenants
	all := func(v version.Version) bool {
		for _, d := range ds {
			if !d.Allows(v) {
				return false
			}
		}
		return true
	}
	if all(os.installed) {
		return "", true
	}
	var cands []int
	for i, p := range os.pkgs {
		if os.installed.Less(p.Version) && all(p.Version) && !slices.ContainsFunc(cotenants, func(c version.Constraint) bool { return !c.Allows(p.Version) }) {
			cands = append(cands, i)
		}
	}
	for _, i := range h13PolicyOrder(os, cands) {
		if len(h13Chains(os, i)) > 0 {
			return os.pkgs[i].Version.String(), true
		}
	}
	return "", false
}

// h13ExpectStack returns the server and OS versions the planner should
// choose, or false when no plan exists.
func h13ExpectStack(oc h13Stack) (string, string, bool) {
	osDemands := []version.Constraint{oc.os.demand}
	if oc.srv.demand.Allows(oc.srv.installed) {
		cots := slices.Clone(oc.os.cotenants)
		cots = append(cots, oc.srvTmplOnOS)
		o, ok := h13Beneath(oc, osDemands, cots)
		return "", o, ok
	}
	var cands []int
	for i, p := range oc.srv.pkgs {
		if oc.srv.installed.Less(p.Version) && oc.srv.demand.Allows(p.Version) && !slices.ContainsFunc(oc.srv.cotenants, func(c version.Constraint) bool { return !c.Allows(p.Version) }) {
			cands = append(cands, i)
		}
	}
	for _, t := range h13PolicyOrder(oc.srv, cands) {
		for _, path := range h13Chains(oc.srv, t) {
			ds := slices.Clone(osDemands)
			for _, j := range path {
				for _, r := range oc.srv.pkgs[j].Requires {
					ds = append(ds, r.Constraint)
				}
			}
			if o, ok := h13Beneath(oc, ds, oc.os.cotenants); ok {
				return oc.srv.pkgs[t].Version.String(), o, true
			}
		}
	}
	return "", "", false
}

func h13PlanStack(t *testing.T, oc h13Stack) (string, string, error) {
	b := new(topology.Builder).
		Template("plat", topology.Template{ID: "os_t", Type: "os", Version: oc.os.installed}).
		Node("plat", topology.Node{ID: "os-1", Template: "os_t"}).
		Template("plat", topology.Template{ID: "srv_t", Type: "server", Version: oc.srv.installed,
			Requirements: []topology.Requirement{{Template: "os_t", Constraint: oc.srvTmplOnOS}}}).
		Node("plat", topology.Node{ID: "srv-1", Template: "srv_t", Relationships: on("os-1")}).
		Template("a", topology.Template{ID: "a_t", Type: "webapp", Version: v("1.0.0")}).
		Node("a", topology.Node{ID: "a-1", Template: "a_t", Relationships: on("srv-1")})
	for i, ct := range oc.srv.cotenants {
		app := topology.AppID(fmt.Sprintf("co%d", i))
		b.Template(app, topology.Template{ID: topology.TemplateID(fmt.Sprintf("co%d_t", i)), Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "srv_t", Constraint: ct}}}).
			Node(app, topology.Node{ID: topology.NodeID(fmt.Sprintf("co%d-1", i)), Template: topology.TemplateID(fmt.Sprintf("co%d_t", i)), Relationships: on("srv-1")})
	}
	for i, ct := range oc.os.cotenants {
		app := topology.AppID(fmt.Sprintf("oc%d", i))
		b.Template(app, topology.Template{ID: topology.TemplateID(fmt.Sprintf("oc%d_t", i)), Type: "agent", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "os_t", Constraint: ct}}}).
			Node(app, topology.Node{ID: topology.NodeID(fmt.Sprintf("oc%d-1", i)), Template: topology.TemplateID(fmt.Sprintf("oc%d_t", i)), Relationships: on("os-1")})
	}
	topo := build(t, b)
	p := upgrade.NewPlanner(topo, source(t, append(slices.Clone(oc.srv.pkgs), oc.os.pkgs...)...), upgrade.WithPolicy(oc.policy))
	req := upgrade.Request{Application: "a", Replaces: "a_t",
		Template: topology.Template{ID: "a_t", Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "srv_t", Constraint: oc.srv.demand}, {Template: "os_t", Constraint: oc.os.demand}}}}
	plan, err := p.Plan(context.Background(), req)
	if err != nil {
		return "", "", err
	}
	st, ot := "", ""
	for _, s := range plan.Steps {
		switch s.Node {
		case "srv-1":
			st = s.To.String()
		case "os-1":
			ot = s.To.String()
		}
	}
	return st, ot, nil
}

func TestHunt13OracleStack(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 3))
	bad := 0
	dist := map[string]int{}
	for i := range 600 {
		oc := h13GenStack(rng)
		ws, wo, ok := h13ExpectStack(oc)
		gs, gotOS, err := h13PlanStack(t, oc)
		dist[fmt.Sprintf("ok=%v err=%v", ok, err != nil)]++
		if ok != (err == nil) || ok && (ws != gs || wo != gotOS) {
			bad++
			if bad <= 6 {
				t.Errorf("case %d: %s want %v %q %q got %q %q err=%v", i, oc, ok, ws, wo, gs, gotOS, err)
			}
		}
	}
	require.Positive(t, dist["ok=true err=false"], "plans: %v", dist)
	require.Positive(t, dist["ok=false err=true"], "failures: %v", dist)
}

type h13Diamond struct {
	a, b, os     h13Node
	aTmpl, bTmpl version.Constraint // old templates' requirement on os_t
	policy       upgrade.Policy
	maxMinor     int
}

func h13GenDiamond(rng *rand.Rand) h13Diamond {
	var oc h13Diamond
	oc.policy, oc.maxMinor = upgrade.Policy(rng.IntN(3)), rng.IntN(2)
	oc.a, oc.aTmpl = h13Layer(rng, "server", "os", oc.policy, oc.maxMinor, false)
	oc.b, oc.bTmpl = h13Layer(rng, "agent", "os", oc.policy, oc.maxMinor, false)
	oc.os, _ = h13Layer(rng, "os", "", oc.policy, oc.maxMinor, true)
	return oc
}

func (oc h13Diamond) String() string {
	return h13Describe(oc.policy, h13Part{"A(server)", oc.a, oc.aTmpl}, h13Part{"B(agent)", oc.b, oc.bTmpl}, h13Part{"OS", oc.os, version.Constraint{}})
}

// h13Part is a node of a case, for its description: tmpl is what its
// template requires of the node beneath.
type h13Part struct {
	name string
	n    h13Node
	tmpl version.Constraint
}

func h13Describe(policy upgrade.Policy, parts ...h13Part) string {
	s := fmt.Sprintf("policy %v\n", policy)
	for _, x := range parts {
		s += fmt.Sprintf("%s installed %s demand %q cotenants %v template requires of the node beneath %q\n", x.name, x.n.installed, x.n.demand, x.n.cotenants, x.tmpl)
		for _, p := range x.n.pkgs {
			s += fmt.Sprintf("  pkg %s from %q requires %v\n", p.Version, p.From, p.Requires)
		}
	}
	return s
}

// h13Option is one way a platform node can go: it stays, or a chain of
// packages takes it up, which requires reqs of the node beneath.
type h13Option struct {
	stay bool
	reqs []version.Constraint
}

func h13DiamondFeasible(oc h13Diamond) bool {
	for _, oa := range h13Options(oc.a, []version.Constraint{oc.a.demand}) {
		for _, ob := range h13Options(oc.b, []version.Constraint{oc.b.demand}) {
			ds := []version.Constraint{oc.os.demand}
			cots := slices.Clone(oc.os.cotenants)
			ds = append(append(ds, oa.reqs...), ob.reqs...)
			if oa.stay {
				cots = append(cots, oc.aTmpl)
			}
			if ob.stay {
				cots = append(cots, oc.bTmpl)
			}
			if _, ok := h13Beneath(h13Stack{os: oc.os}, ds, cots); ok {
				return true
			}
		}
	}
	return false
}

// h13CheckFeasible draws n cases and checks that the planner plans each
// exactly when it is feasible, and that planning again once a plan has
// run gives no steps.
func h13CheckFeasible(t *testing.T, n int, draw func() (fmt.Stringer, bool, *upgrade.Plan, h13Inputs, error)) {
	t.Helper()
	bad := 0
	dist := map[string]int{}
	for i := range n {
		oc, ok, plan, in, err := draw()
		if err == nil {
			h13Replan(t, in, plan)
		}
		dist[fmt.Sprintf("ok=%v err=%v", ok, err != nil)]++
		if ok != (err == nil) {
			if bad++; bad <= 4 {
				t.Errorf("case %d: %s want feasible=%v err=%v", i, oc, ok, err)
			}
		}
	}
	require.Positive(t, dist["ok=true err=false"], "plans: %v", dist)
	require.Positive(t, dist["ok=false err=true"], "failures: %v", dist)
}

// h13Inputs is what a plan was made of.
type h13Inputs struct {
	topo *topology.Memory
	src  *pkgsource.Memory
	opts []upgrade.Option
}

// h13Replan checks that planning again, once every step of plan has
// run, gives no steps.
func h13Replan(t *testing.T, in h13Inputs, plan *upgrade.Plan) {
	t.Helper()
	var done []upgrade.StepID
	for _, s := range plan.Steps {
		done = append(done, s.ID)
	}
	topo := cvApply(t, in.topo, plan, done)
	again, err := upgrade.NewPlanner(topo, in.src, in.opts...).PlanAll(context.Background(), plan.Requests...)
	if err != nil {
		t.Errorf("replan after applying: %v", err)
		return
	}
	if len(again.Steps) > 0 {
		t.Errorf("replan after applying: %d steps: %v", len(again.Steps), ids(again))
	}
}

func h13PlanDiamond(t *testing.T, oc h13Diamond) (*upgrade.Plan, h13Inputs, error) {
	b := new(topology.Builder).
		Template("plat", topology.Template{ID: "os_t", Type: "os", Version: oc.os.installed}).
		Node("plat", topology.Node{ID: "os-1", Template: "os_t"}).
		Template("plat", topology.Template{ID: "srv_t", Type: "server", Version: oc.a.installed,
			Requirements: []topology.Requirement{{Template: "os_t", Constraint: oc.aTmpl}}}).
		Node("plat", topology.Node{ID: "srv-1", Template: "srv_t", Relationships: on("os-1")}).
		Template("plat", topology.Template{ID: "agt_t", Type: "agent", Version: oc.b.installed,
			Requirements: []topology.Requirement{{Template: "os_t", Constraint: oc.bTmpl}}}).
		Node("plat", topology.Node{ID: "agt-1", Template: "agt_t", Relationships: on("os-1")}).
		Template("a", topology.Template{ID: "a_t", Type: "webapp", Version: v("1.0.0")}).
		Node("a", topology.Node{ID: "a-1", Template: "a_t", Relationships: []topology.Relationship{
			{Relation: topology.HostedOn, Target: "srv-1"}, {Relation: topology.DependsOn, Target: "agt-1"}}})
	return h13Plan(t, b, []h13On{{"srv_t", "srv-1", oc.a}, {"agt_t", "agt-1", oc.b}, {"os_t", "os-1", oc.os}},
		[]upgrade.Option{upgrade.WithPolicy(oc.policy), upgrade.WithMaxMinorStep(oc.maxMinor)})
}

// h13On is a node the request demands a version of, with its
// co-tenants and packages.
type h13On struct {
	tmpl topology.TemplateID
	node topology.NodeID
	n    h13Node
}

// h13Cotenants adds to b an application per co-tenant of x, the k-th
// node of a case.
func h13Cotenants(b *topology.Builder, k int, x h13On) {
	for i, ct := range x.n.cotenants {
		app := topology.AppID(fmt.Sprintf("c%d%d", k, i))
		tid := topology.TemplateID(fmt.Sprintf("c%d%d_t", k, i))
		b.Template(app, topology.Template{ID: tid, Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: x.tmpl, Constraint: ct}}}).
			Node(app, topology.Node{ID: topology.NodeID(fmt.Sprintf("c%d%d-1", k, i)), Template: tid, Relationships: on(x.node)})
	}
}

// h13Plan adds to b an application per co-tenant of each of nodes, and
// plans a-1 to 2.0.0 with their demands.
func h13Plan(t *testing.T, b *topology.Builder, nodes []h13On, opts []upgrade.Option) (*upgrade.Plan, h13Inputs, error) {
	req := upgrade.Request{Application: "a", Replaces: "a_t", Template: topology.Template{ID: "a_t", Type: "webapp", Version: v("2.0.0")}}
	var pkgs []pkgsource.Package
	for k, x := range nodes {
		h13Cotenants(b, k, x)
		req.Template.Requirements = append(req.Template.Requirements, topology.Requirement{Template: x.tmpl, Constraint: x.n.demand})
		pkgs = append(pkgs, x.n.pkgs...)
	}
	in := h13Inputs{build(t, b), source(t, pkgs...), opts}
	plan, err := upgrade.NewPlanner(in.topo, in.src, in.opts...).Plan(context.Background(), req)
	return plan, in, err
}

func TestHunt13OracleDiamond(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 4))
	h13CheckFeasible(t, 400, func() (fmt.Stringer, bool, *upgrade.Plan, h13Inputs, error) {
		oc := h13GenDiamond(rng)
		plan, in, err := h13PlanDiamond(t, oc)
		return oc, h13DiamondFeasible(oc), plan, in, err
	})
}

// h13Tower is three levels: a server on a runtime on an OS.
type h13Tower struct {
	srv, rt, os h13Node
	srvT, rtT   version.Constraint // old templates' requirement on the level below
	policy      upgrade.Policy
}

func h13GenTower(rng *rand.Rand) h13Tower {
	var oc h13Tower
	oc.policy = upgrade.Policy(rng.IntN(3))
	oc.srv, oc.srvT = h13Layer(rng, "server", "rt", oc.policy, 0, false)
	oc.rt, oc.rtT = h13Layer(rng, "rt", "os", oc.policy, 0, true)
	oc.os, _ = h13Layer(rng, "os", "", oc.policy, 0, true)
	return oc
}

func (oc h13Tower) String() string {
	return h13Describe(oc.policy, h13Part{"SRV", oc.srv, oc.srvT}, h13Part{"RT", oc.rt, oc.rtT}, h13Part{"OS", oc.os, version.Constraint{}})
}

// h13Options returns the ways node x can go to meet ds.
func h13Options(x h13Node, ds []version.Constraint) []h13Option {
	all := func(v version.Version) bool {
		return !slices.ContainsFunc(ds, func(d version.Constraint) bool { return !d.Allows(v) })
	}
	if all(x.installed) {
		return []h13Option{{stay: true}}
	}
	var out []h13Option
	for t, p := range x.pkgs {
		if !x.installed.Less(p.Version) || !all(p.Version) || slices.ContainsFunc(x.cotenants, func(c version.Constraint) bool { return !c.Allows(p.Version) }) {
			continue
		}
		for _, path := range h13Chains(x, t) {
			var rs []version.Constraint
			for _, j := range path {
				for _, r := range x.pkgs[j].Requires {
					rs = append(rs, r.Constraint)
				}
			}
			out = append(out, h13Option{reqs: rs})
		}
	}
	return out
}

func h13TowerFeasible(oc h13Tower) bool {
	for _, os := range h13Options(oc.srv, []version.Constraint{oc.srv.demand}) {
		rt := oc.rt
		if os.stay {
			rt.cotenants = append(slices.Clone(rt.cotenants), oc.srvT)
		}
		for _, ro := range h13Options(rt, append([]version.Constraint{oc.rt.demand}, os.reqs...)) {
			osx := oc.os
			if ro.stay {
				osx.cotenants = append(slices.Clone(osx.cotenants), oc.rtT)
			}
			if len(h13Options(osx, append([]version.Constraint{oc.os.demand}, ro.reqs...))) > 0 {
				return true
			}
		}
	}
	return false
}

func h13PlanTower(t *testing.T, oc h13Tower) (*upgrade.Plan, h13Inputs, error) {
	b := new(topology.Builder).
		Template("plat", topology.Template{ID: "os_t", Type: "os", Version: oc.os.installed}).
		Node("plat", topology.Node{ID: "os-1", Template: "os_t"}).
		Template("plat", topology.Template{ID: "rt_t", Type: "rt", Version: oc.rt.installed,
			Requirements: []topology.Requirement{{Template: "os_t", Constraint: oc.rtT}}}).
		Node("plat", topology.Node{ID: "rt-1", Template: "rt_t", Relationships: on("os-1")}).
		Template("plat", topology.Template{ID: "srv_t", Type: "server", Version: oc.srv.installed,
			Requirements: []topology.Requirement{{Template: "rt_t", Constraint: oc.srvT}}}).
		Node("plat", topology.Node{ID: "srv-1", Template: "srv_t", Relationships: on("rt-1")}).
		Template("a", topology.Template{ID: "a_t", Type: "webapp", Version: v("1.0.0")}).
		Node("a", topology.Node{ID: "a-1", Template: "a_t", Relationships: on("srv-1")})
	return h13Plan(t, b, []h13On{{"srv_t", "srv-1", oc.srv}, {"rt_t", "rt-1", oc.rt}, {"os_t", "os-1", oc.os}},
		[]upgrade.Option{upgrade.WithPolicy(oc.policy)})
}

func TestHunt13OracleTower(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 5))
	h13CheckFeasible(t, 400, func() (fmt.Stringer, bool, *upgrade.Plan, h13Inputs, error) {
		oc := h13GenTower(rng)
		plan, in, err := h13PlanTower(t, oc)
		return oc, h13TowerFeasible(oc), plan, in, err
	})
}
