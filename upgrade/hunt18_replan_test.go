package upgrade_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// hunt18Runtimes is an Ubuntu 20.04 VM running a Python, a Node.js and a
// Ruby, each for an application of its own, decided in that order.
func hunt18Runtimes() *topology.Builder {
	return hunt9Runtimes("a-py", "b-node").
		Template("base", topology.Template{ID: "ruby_runtime", Type: "ruby", Version: v("3.2.0")}).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "ruby_runtime", Constraint: c(">=3.2")}}}).
		Node("base", topology.Node{ID: "c-ruby", Template: "ruby_runtime", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("c-ruby")})
}

// TestHunt18ReplanBlamesThreeWayConflict: Python 3.12 runs on Ubuntu
// 22.04 and 24.04, Node.js 22 on 24.04 and 24.10, Ruby 3.3 on 22.04 and
// 24.10 (its build breaks on 24.04): each two of them share an Ubuntu,
// the three none. Python 3.11 runs on any. Python, decided first, takes
// 3.12, which meets Node.js 22 on 24.04; Ruby, decided last, goes through
// 3.3 whatever it takes (3.4 installs over 3.3 only), and the VM fails.
// The plan exists: Python 3.11, Node.js 22 and Ruby 3.3 then 3.4 on
// 24.10. Before, the
// planner made the plan again passing over Node.js 22 and then Ruby 3.3,
// the two that no version the error tried (those Python 3.12 allows)
// meets together, and never Python 3.12, part of the conflict as much as
// they: it failed naming the conflict.
func TestHunt18ReplanBlamesThreeWayConflict(t *testing.T) {
	topo := build(t, hunt18Runtimes())
	pkgs := []pkgsource.Package{
		pkg("ubuntu", "22.04"), pkg("ubuntu", "24.04"), pkg("ubuntu", "24.10"),
		requires(pkg("python", "3.11.9"), "ubuntu", ">=20.04"), requires(pkg("python", "3.12.7"), "ubuntu", ">=22.04, <24.10"),
		requires(pkg("nodejs", "22.9.0"), "ubuntu", ">=24.04"),
		requires(pkg("ruby", "3.3.5"), "ubuntu", "~22.04 || >=24.10"), from(pkg("ruby", "3.4.1"), ">=3.3"),
	}
	reqs := []upgrade.Request{
		hunt9Request("etl", "etl_app", "2.0.0", "python_runtime", ">=3.11"),
		hunt9Request("web", "web_app", "2.0.0", "node_runtime", ">=22"),
		hunt9Request("shop", "shop_app", "2.0.0", "ruby_runtime", ">=3.3"),
	}
	plan, err := hunt9Plan(t, topo, pkgs, nil, reqs...)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@24.10.0", "platform/a-py@3.11.9", "platform/b-node@22.9.0", "platform/c-ruby@3.3.5", "platform/c-ruby@3.4.1",
		"app/etl-1@2.0.0", "app/shop-1@2.0.0", "app/web-1@2.0.0"}, ids(plan))
}

// hunt18Shop is shop-1 on Tomcat 9 on a JDK 11 on Ubuntu 20.04, the
// JDK's template built for Ubuntu below 22.04.
func hunt18Shop() *topology.Builder {
	return new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.85")}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("11.0.22"),
			Requirements: []topology.Requirement{{Template: "ubuntu_os", Constraint: c("<22.04")}}}).
		Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Node("shop", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime", Relationships: on("vm-1")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server", Relationships: on("java-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-1")})
}

// TestHunt18ReplanMovesNodeKeptInPlace: shop 2.0 needs Tomcat 10 or
// later and Ubuntu 22.04; the JDK 11 beneath Tomcat is of a template
// built for Ubuntu below 22.04. Under Nearest, Tomcat takes 10.1, which
// runs on the JDK 11 installed: the JDK stays, its template keeps the VM
// below 22.04, and the VM fails. The plan exists: Tomcat 11, which needs
// JDK 17, which runs on 22.04, takes the JDK off the old template. Before,
// the planner made the plan again only passing over packages the error
// named, and it named the JDK's template and the request alone: it
// failed, telling the user to change the demands.
func TestHunt18ReplanMovesNodeKeptInPlace(t *testing.T) {
	topo := build(t, hunt18Shop())
	pkgs := []pkgsource.Package{
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), requires(pkg("tomcat", "11.0.2"), "jdk", ">=17"),
		requires(pkg("jdk", "17.0.10"), "ubuntu", ">=22.04"), pkg("ubuntu", "22.04"),
	}
	plan, err := hunt9Plan(t, topo, pkgs, []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)}, shop2("tomcat_server", ">=10", "ubuntu_os", ">=22.04"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0", "platform/java-1@17.0.10", "platform/tomcat-1@11.0.2", "app/shop-1@2.0.0"}, ids(plan))
}

// TestHunt18ReplanMovesNodeKeptByPackageAskingNothing: as in
// TestHunt18ReplanMovesNodeKeptInPlace, but Tomcat 10.1 requires nothing
// of the JDK, and shop 2.0 wants Java 11 or later, which the JDK 11
// installed is. Under Nearest, Tomcat takes 10.1, the JDK stays, its
// template keeps the VM below 22.04, and the VM fails. Before, no package
// asked anything of the JDK, so none was passed over, and the plan failed,
// though Tomcat 11 moves the JDK to 17 and the VM to 22.04; now the
// packages taken for the nodes on a node kept in place that require
// nothing of it are blamed too.
func TestHunt18ReplanMovesNodeKeptByPackageAskingNothing(t *testing.T) {
	topo := build(t, hunt18Shop())
	pkgs := []pkgsource.Package{
		pkg("tomcat", "10.1.34"), requires(pkg("tomcat", "11.0.2"), "jdk", ">=17"),
		requires(pkg("jdk", "17.0.10"), "ubuntu", ">=22.04"), pkg("ubuntu", "22.04"),
	}
	plan, err := hunt9Plan(t, topo, pkgs, []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)},
		shop2("tomcat_server", ">=10", "java_runtime", ">=11", "ubuntu_os", ">=22.04"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0", "platform/java-1@17.0.10", "platform/tomcat-1@11.0.2", "app/shop-1@2.0.0"}, ids(plan))
}

// h18Stacks is several server→runtime stacks on one OS, each of its own
// application, and maybe an agent on the OS beside them: the shape where
// nodes of one height, each looking one level down, choose packages whose
// requirements on the OS no version meets together.
type h18Stacks struct {
	srv, rt   []h13Node
	srvT, rtT []version.Constraint // old templates' requirement on the level below
	agent     *h13Node
	agentT    version.Constraint
	os        h13Node
	policy    upgrade.Policy
}

// h18GenStacks draws a case: 3–5 stacks, versions from 1.0.0 to 3.2.0,
// packages that mostly require a version of the type beneath and now and
// then install over some versions only, and now and then a co-tenant or
// an old template's requirement on the node beneath.
func h18GenStacks(rng *rand.Rand) h18Stacks {
	var oc h18Stacks
	oc.policy = upgrade.Policy(rng.IntN(3))
	n := 3 + rng.IntN(3)
	layer := func(typ string, demands []string, optional bool) (h13Node, version.Constraint) {
		var x h13Node
		x.installed = h18Versions[0][rng.IntN(3)]
		x.policy = oc.policy
		seen := map[string]bool{}
		for range 2 + rng.IntN(5) {
			v := h18Versions[rng.IntN(3)][rng.IntN(3)]
			if seen[v.String()] {
				continue
			}
			seen[v.String()] = true
			p := pkgsource.Package{Type: typ, Version: v}
			if rng.IntN(5) == 0 {
				p.From = h18Draw(rng, h13Froms)
			}
			if typ != "os" && rng.IntN(6) > 0 {
				p.Requires = []pkgsource.Requirement{{Type: "x", Constraint: h18Draw(rng, h18Requires)}}
			}
			x.pkgs = append(x.pkgs, p)
		}
		if !optional || rng.IntN(2) == 0 {
			x.demand = h18Draw(rng, demands)
		}
		if rng.IntN(4) == 0 {
			x.cotenants = append(x.cotenants, h18Draw(rng, h18Requires))
		}
		var tmpl version.Constraint
		if rng.IntN(3) == 0 {
			tmpl = h18Draw(rng, h18Requires)
		}
		return x, tmpl
	}
	for range n {
		s, st := layer("server", h18Demands, false)
		r, rtT := layer("rt", h18Demands, true)
		oc.srv, oc.srvT = append(oc.srv, s), append(oc.srvT, st)
		oc.rt, oc.rtT = append(oc.rt, r), append(oc.rtT, rtT)
	}
	if rng.IntN(2) == 0 {
		a, at := layer("agent", h18Demands, false)
		oc.agent, oc.agentT = &a, at
	}
	oc.os, _ = layer("os", h18Demands, true)
	if rng.IntN(2) == 0 {
		oc.os.cotenants = append(oc.os.cotenants, h18Draw(rng, h18Caps))
	}
	return oc
}

var (
	h18Requires = []string{"^1", "^2", "^3", ">=2", ">=3", "<3", "<2", ">=1.1", "~2.1", ">=2.1, <3"}
	h18Demands  = []string{">=2", ">=1.1", "^2", ">=2.1", ">=1", "<3", ">=3", "^3"}
	h18Caps     = []string{"<3", "<2.2", "<2", "!=3.0.0"}
)

// h18Parsed holds the constraints h18GenStacks draws, parsed once: the
// cases a test regenerates to reach one are many.
var h18Parsed = func() map[string]version.Constraint {
	m := map[string]version.Constraint{}
	for _, list := range [][]string{h13Froms, h18Requires, h18Demands, h18Caps} {
		for _, s := range list {
			m[s] = version.MustParseConstraint(s)
		}
	}
	return m
}()

// h18Versions[i][j] is version 1+i.j.0.
var h18Versions = func() (vs [3][3]version.Version) {
	for i := range vs {
		for j := range vs[i] {
			vs[i][j] = version.MustParse(fmt.Sprintf("%d.%d.0", i+1, j))
		}
	}
	return vs
}()

// h18Draw returns one of the constraints of list, as h13Draw does.
func h18Draw(rng *rand.Rand, list []string) version.Constraint {
	return h18Parsed[list[rng.IntN(len(list))]]
}

func (oc h18Stacks) String() string {
	var parts []h13Part
	for i := range oc.srv {
		parts = append(parts, h13Part{fmt.Sprintf("SRV%d", i+1), oc.srv[i], oc.srvT[i]}, h13Part{fmt.Sprintf("RT%d", i+1), oc.rt[i], oc.rtT[i]})
	}
	if oc.agent != nil {
		parts = append(parts, h13Part{"AGENT", *oc.agent, oc.agentT})
	}
	return h13Describe(oc.policy, append(parts, h13Part{"OS", oc.os, version.Constraint{}})...)
}

// h18Typed returns x's packages as of type typ, and their requirements
// on the type beneath as on beneath.
func h18Typed(x h13Node, typ, beneath string) h13Node {
	x.pkgs = slices.Clone(x.pkgs)
	for i := range x.pkgs {
		x.pkgs[i].Type = typ
		if len(x.pkgs[i].Requires) > 0 {
			x.pkgs[i].Requires = []pkgsource.Requirement{{Type: beneath, Constraint: x.pkgs[i].Requires[0].Constraint}}
		}
	}
	return x
}

// h18OSWay is what a stack (or the agent) asks of the OS, in one way it
// can go: the requirements of the packages it takes, and the old
// template's requirement when it stays.
type h18OSWay struct {
	reqs, cots []version.Constraint
}

func (w h18OSWay) key() string {
	var b strings.Builder
	for _, c := range w.reqs {
		b.WriteString(c.String() + ";")
	}
	b.WriteString("|")
	for _, c := range w.cots {
		b.WriteString(c.String() + ";")
	}
	return b.String()
}

// h18StackWays returns the distinct ways stack i can ask of the OS.
func h18StackWays(oc h18Stacks, i int) []h18OSWay {
	seen := map[string]bool{}
	var out []h18OSWay
	for _, so := range h13Options(oc.srv[i], []version.Constraint{oc.srv[i].demand}) {
		rt := oc.rt[i]
		if so.stay {
			rt.cotenants = append(slices.Clone(rt.cotenants), oc.srvT[i])
		}
		for _, ro := range h13Options(rt, append([]version.Constraint{oc.rt[i].demand}, so.reqs...)) {
			w := h18OSWay{reqs: ro.reqs}
			if ro.stay {
				w.cots = []version.Constraint{oc.rtT[i]}
			}
			if k := w.key(); !seen[k] {
				seen[k] = true
				out = append(out, w)
			}
		}
	}
	return out
}

func h18Feasible(oc h18Stacks) bool {
	var all [][]h18OSWay
	for i := range oc.srv {
		all = append(all, h18StackWays(oc, i))
	}
	if oc.agent != nil {
		var ways []h18OSWay
		for _, o := range h13Options(*oc.agent, []version.Constraint{oc.agent.demand}) {
			w := h18OSWay{reqs: o.reqs}
			if o.stay {
				w.cots = []version.Constraint{oc.agentT}
			}
			ways = append(ways, w)
		}
		all = append(all, ways)
	}
	var try func(k int, ds, cots []version.Constraint) bool
	try = func(k int, ds, cots []version.Constraint) bool {
		if k == len(all) {
			osx := oc.os
			osx.cotenants = append(slices.Clone(osx.cotenants), cots...)
			return len(h13Options(osx, append([]version.Constraint{oc.os.demand}, ds...))) > 0
		}
		for _, w := range all[k] {
			if try(k+1, append(slices.Clip(ds), w.reqs...), append(slices.Clip(cots), w.cots...)) {
				return true
			}
		}
		return false
	}
	return try(0, nil, nil)
}

func h18PlanStacks(t *testing.T, oc h18Stacks) (*upgrade.Plan, h13Inputs, error) {
	b := new(topology.Builder).
		Template("plat", topology.Template{ID: "os_t", Type: "os", Version: oc.os.installed}).
		Node("plat", topology.Node{ID: "os-1", Template: "os_t"})
	var reqs []upgrade.Request
	var pkgs []pkgsource.Package
	k := 0
	for i := range oc.srv {
		srvT, rtT := topology.TemplateID(fmt.Sprintf("srv%d_t", i+1)), topology.TemplateID(fmt.Sprintf("rt%d_t", i+1))
		srvN, rtN := topology.NodeID(fmt.Sprintf("srv-%d", i+1)), topology.NodeID(fmt.Sprintf("rt-%d", i+1))
		srvTyp, rtTyp := fmt.Sprintf("server%d", i+1), fmt.Sprintf("rt%d", i+1)
		srv, rt := h18Typed(oc.srv[i], srvTyp, rtTyp), h18Typed(oc.rt[i], rtTyp, "os")
		b.Template("plat", topology.Template{ID: rtT, Type: rtTyp, Version: rt.installed,
			Requirements: []topology.Requirement{{Template: "os_t", Constraint: oc.rtT[i]}}}).
			Node("plat", topology.Node{ID: rtN, Template: rtT, Relationships: on("os-1")}).
			Template("plat", topology.Template{ID: srvT, Type: srvTyp, Version: srv.installed,
				Requirements: []topology.Requirement{{Template: rtT, Constraint: oc.srvT[i]}}}).
			Node("plat", topology.Node{ID: srvN, Template: srvT, Relationships: on(rtN)})
		app, appT := topology.AppID(fmt.Sprintf("a%d", i+1)), topology.TemplateID(fmt.Sprintf("a%d_t", i+1))
		b.Template(app, topology.Template{ID: appT, Type: "webapp", Version: v("1.0.0")}).
			Node(app, topology.Node{ID: topology.NodeID(fmt.Sprintf("a%d-1", i+1)), Template: appT, Relationships: on(srvN)})
		req := upgrade.Request{Application: app, Replaces: appT, Template: topology.Template{ID: appT, Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: srvT, Constraint: srv.demand}, {Template: rtT, Constraint: rt.demand}}}}
		if i == 0 {
			req.Template.Requirements = append(req.Template.Requirements, topology.Requirement{Template: "os_t", Constraint: oc.os.demand})
		}
		reqs = append(reqs, req)
		pkgs = append(append(pkgs, srv.pkgs...), rt.pkgs...)
		h13Cotenants(b, k, h13On{srvT, srvN, srv})
		h13Cotenants(b, k+1, h13On{rtT, rtN, rt})
		k += 2
	}
	if oc.agent != nil {
		ag := h18Typed(*oc.agent, "agent", "os")
		b.Template("plat", topology.Template{ID: "agt_t", Type: "agent", Version: ag.installed,
			Requirements: []topology.Requirement{{Template: "os_t", Constraint: oc.agentT}}}).
			Node("plat", topology.Node{ID: "agt-1", Template: "agt_t", Relationships: on("os-1")}).
			Template("b", topology.Template{ID: "b_t", Type: "webapp", Version: v("1.0.0")}).
			Node("b", topology.Node{ID: "b-1", Template: "b_t", Relationships: on("agt-1")})
		reqs = append(reqs, upgrade.Request{Application: "b", Replaces: "b_t", Template: topology.Template{ID: "b_t", Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "agt_t", Constraint: ag.demand}}}})
		pkgs = append(pkgs, ag.pkgs...)
		h13Cotenants(b, k, h13On{"agt_t", "agt-1", ag})
		k++
	}
	h13Cotenants(b, k, h13On{"os_t", "os-1", oc.os})
	pkgs = append(pkgs, oc.os.pkgs...)
	in := h13Inputs{build(t, b), source(t, pkgs...), []upgrade.Option{upgrade.WithPolicy(oc.policy)}}
	plan, err := upgrade.NewPlanner(in.topo, in.src, in.opts...).PlanAll(t.Context(), reqs...)
	return plan, in, err
}

// h18Case returns the i-th case drawn from seed.
func h18Case(seed uint64, i int) h18Stacks {
	rng := rand.New(rand.NewPCG(18, seed))
	for range i {
		h18GenStacks(rng)
	}
	return h18GenStacks(rng)
}

// TestHunt18OracleStacksOnOneOS: three to five server→runtime stacks, each
// of its own application, on one OS, maybe an agent beside them and
// co-tenants capping the OS; a plan is found when a choice of versions
// and chains meets every demand, and planning again once it has run gives
// no steps. The search of replan is bounded, and not complete: of the
// 30,000 cases that seeds 1 to 3 draw, 2,738 have a plan, and PlanAll
// fails 4 of them, its tries spent (seed 1, case 7071: see
// TestHunt18GaveUpSaysSo). The first cases listed failed before replan
// tried first the ways whose error blames the fewest packages: each spent
// the tries on the builds of one runtime that asked the OS different
// things, where the error of another way named the one server package at
// fault; the others, before it blamed the packages that require nothing
// of a runtime kept in place.
func TestHunt18OracleStacksOnOneOS(t *testing.T) {
	regressions := []struct {
		seed uint64
		i    int
	}{{1, 3737}, {1, 6016}, {1, 6096}, {2, 723}, {3, 233}, {3, 8978}, {1, 3011}, {2, 1206}, {2, 6788}, {3, 87}, {3, 8903}}
	rng := rand.New(rand.NewPCG(18, 18))
	k := 0
	h13CheckFeasible(t, len(regressions)+600, func() (fmt.Stringer, bool, *upgrade.Plan, h13Inputs, error) {
		var oc h18Stacks
		if k < len(regressions) {
			oc = h18Case(regressions[k].seed, regressions[k].i)
		} else {
			oc = h18GenStacks(rng)
		}
		k++
		plan, in, err := h18PlanStacks(t, oc)
		return oc, h18Feasible(oc), plan, in, err
	})
}

// TestHunt18GaveUpSaysSo: when replan stopped, its tries spent, with
// packages left to pass over, the error said "change the demands so that
// one version meets them all", as for a conflict no plan gets round,
// although a plan may exist (case 7071 of seed 1 of the generator has
// one). It now says that the planner stopped and a plan may exist, and
// what the user can do; it is the same conflict for errors.As. A conflict
// the planner tried every way round (the PostGIS of
// TestHunt9PostGISPinsServerMajor) says nothing of the kind.
func TestHunt18GaveUpSaysSo(t *testing.T) {
	oc := h18Case(1, 7071)
	require.True(t, h18Feasible(oc))
	_, _, err := h18PlanStacks(t, oc)
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok)
	assert.Equal(t, ce.Error()+"; made again 8 times, passing over packages in conflict, the plan failed each time, and the planner stopped with others to pass over: "+
		"a plan may exist that it did not find; narrow the requests' demands to the versions you mean, or plan the requests one at a time", err.Error())
}
