package upgrade_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// This file checks properties of the planner on random but valid inputs,
// in the manner of testing/quick: genCase draws a topology, a package set,
// options and 1–3 requests from a seeded math/rand/v2 generator, and
// propCheck plans them and checks what every plan (or every failure) must
// satisfy; TestPropertyPlanner lists the properties. The seeds are fixed,
// so a run is deterministic. Set STACKUP_PROP_SEED=n to replay one seed and
// print its inputs and outcome, STACKUP_PROP_SEEDS=n to run seeds 1…n.

// propLayers are the platform types, bottom up: an application node is
// hosted on a server, a server on a runtime, a runtime on an OS.
var propLayers = []string{"os", "runtime", "server"}

// The constraint strings the generator draws from. Empty means no
// constraint (the zero Constraint).
var (
	propCotenantCons = []string{"", "", "", "", "<3", ">=1.2", "^2", "^1", "<4", ">=1", ">=1", "~1.2", ">=2", "<2", "<4", ">=1.1", "!=2.0.0"}
	propFromCons     = []string{">=1.0, <2.0", "^1", "^2", ">=1.2", "<3", ">=2.0, <3.0", "~1.1", ">=1"}
	propRequiresCons = []string{">=1", ">=2", "<3", "^1", "^2", ">=1.2", "<2", ">=1.1, <3"}
	propRequestCons  = []string{">=2", "<2", "^1", ">=1.3, <3", "^2", ">=1.1", "<3", "~2.1", ">=3", "^3", ">=1", "<4", ""}
)

// propConstraints holds every constraint above, parsed once.
var propConstraints = func() map[string]version.Constraint {
	m := map[string]version.Constraint{}
	for _, list := range [][]string{propCotenantCons, propFromCons, propRequiresCons, propRequestCons} {
		for _, s := range list {
			m[s] = version.MustParseConstraint(s)
		}
	}
	return m
}()

// propNewVersion is the version of every request's new template.
var propNewVersion = version.MustParse("9.0.0")

func propPick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func propConstraint(rng *rand.Rand, list []string) version.Constraint {
	return propConstraints[propPick(rng, list)]
}

// propVersion returns a small version: major 1–3, minor 0–4, patch 0–2.
func propVersion(rng *rand.Rand) version.Version {
	return propMake(1+rng.IntN(3), rng.IntN(5), rng.IntN(3))
}

// propInstalled returns an installed version: in propVersion's range,
// but mostly of an old major, so that requirements call for upgrades.
func propInstalled(rng *rand.Rand) version.Version {
	major := 1
	switch r := rng.IntN(20); {
	case r >= 17:
		major = 3
	case r >= 10:
		major = 2
	}
	return propMake(major, rng.IntN(5), rng.IntN(3))
}

// propVersions holds the versions of propVersion's range, parsed once.
var propVersions = func() (vs [4][5][3]version.Version) {
	for major := 1; major < 4; major++ {
		for minor := range 5 {
			for patch := range 3 {
				vs[major][minor][patch] = version.MustParse(fmt.Sprintf("%d.%d.%d", major, minor, patch))
			}
		}
	}
	return vs
}()

func propMake(major, minor, patch int) version.Version { return propVersions[major][minor][patch] }

// propParsed caches the constraints the generator makes up, parsed once.
var propParsed sync.Map // string → version.Constraint

func propParse(s string) version.Constraint {
	if c, ok := propParsed.Load(s); ok {
		return c.(version.Constraint)
	}
	c, _ := propParsed.LoadOrStore(s, version.MustParseConstraint(s))
	return c.(version.Constraint)
}

// propNextVersion returns a version a little above v, in the same range
// as propVersion when it can: the next minor or the next major's first
// minors, with a random patch. Packages drawn this way form release
// trains, which multi-hop upgrades need.
func propNextVersion(rng *rand.Rand, v version.Version) version.Version {
	major, minor := int(v.Major()), int(v.Minor())+1
	if minor > 4 || rng.IntN(5) == 0 {
		major, minor = major+1, rng.IntN(2)
	}
	if major > 3 {
		return propVersion(rng)
	}
	return propMake(major, minor, rng.IntN(3))
}

// propFrom returns a From constraint for a package of version v: mostly
// the releases just before it (the previous major, or the earlier minors
// of its own), sometimes one from the fixed list.
func propFrom(rng *rand.Rand, v version.Version) version.Constraint {
	major, minor := v.Major(), v.Minor()
	var forms []string
	if major > 1 {
		forms = append(forms, fmt.Sprintf("^%d", major-1), fmt.Sprintf(">=%d.0, <%d.%d", major-1, major, minor))
	}
	if minor > 0 {
		forms = append(forms, fmt.Sprintf(">=%d.%d, <%d.%d", major, minor-1, major, minor))
	}
	if len(forms) == 0 || rng.IntN(3) == 0 {
		return propConstraint(rng, propFromCons)
	}
	return propParse(propPick(rng, forms))
}

// propNear returns a constraint around one of vs, the package versions of
// a type, so that it is likely met by a package but perhaps not by the
// installed version; or one from list when vs is empty or by chance.
func propNear(rng *rand.Rand, vs []version.Version, list []string) version.Constraint {
	if len(vs) == 0 || rng.IntN(2) == 0 {
		return propConstraint(rng, list)
	}
	return propAround(rng, vs)
}

// propAround returns a constraint around one of vs, met by it.
func propAround(rng *rand.Rand, vs []version.Version) version.Constraint {
	v := propPick(rng, vs)
	major, minor := v.Major(), v.Minor()
	forms := []string{
		fmt.Sprintf(">=%d.%d", major, minor),
		fmt.Sprintf("^%d", major),
		fmt.Sprintf("~%d.%d", major, minor),
		fmt.Sprintf(">=%d.%d, <%d", major, minor, major+1),
		fmt.Sprintf("<=%s", v),
	}
	return propParse(propPick(rng, forms))
}

// propCase is one generated input.
type propCase struct {
	seed       uint64
	apps       []topology.Application
	pkgs       []pkgsource.Package
	reqs       []upgrade.Request
	policy     upgrade.Policy
	downgrades bool
	maxMinor   int // 0: no limit
}

func (pc *propCase) options() []upgrade.Option {
	opts := []upgrade.Option{upgrade.WithPolicy(pc.policy)}
	if pc.downgrades {
		opts = append(opts, upgrade.AllowDowngrades())
	}
	if pc.maxMinor > 0 {
		opts = append(opts, upgrade.WithMaxMinorStep(pc.maxMinor))
	}
	return opts
}

// topology builds the case's topology. With a non-nil rng the
// applications, templates and nodes are added in a shuffled order, and
// every template's requirements and every node's relationships shuffled.
func (pc *propCase) topology(rng *rand.Rand) (*topology.Memory, error) {
	type item struct {
		app  topology.AppID
		tmpl *topology.Template
		node *topology.Node
	}
	var items []item
	for i := range pc.apps {
		a := &pc.apps[i]
		for j := range a.Templates {
			items = append(items, item{app: a.ID, tmpl: &a.Templates[j]})
		}
		for j := range a.Nodes {
			items = append(items, item{app: a.ID, node: &a.Nodes[j]})
		}
	}
	if rng != nil {
		rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	}
	b := new(topology.Builder)
	for _, it := range items {
		if it.tmpl != nil {
			t := *it.tmpl
			t.Requirements = shuffled(rng, t.Requirements)
			b.Template(it.app, t)
		} else {
			n := *it.node
			n.Relationships = shuffled(rng, n.Relationships)
			b.Node(it.app, n)
		}
	}
	return b.Build()
}

// shuffledSource returns the case's packages of each type in an order
// drawn from rng.
func (pc *propCase) shuffledSource(rng *rand.Rand) pkgsource.Source {
	return pkgsource.SourceFunc(func(_ context.Context, typ string) ([]pkgsource.Package, error) {
		var out []pkgsource.Package
		for _, p := range pc.pkgs {
			if p.Type == typ {
				p.Requires = shuffled(rng, p.Requires)
				out = append(out, p)
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out, nil
	})
}

// sameRequires reports whether a and b hold the same requirements, in
// any order.
func sameRequires(a, b []pkgsource.Requirement) bool {
	as, bs := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		as[i] = fmt.Sprint(a[i])
	}
	for i := range b {
		bs[i] = fmt.Sprint(b[i])
	}
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}

// shuffled returns a copy of list in an order drawn from rng, or list
// itself when rng is nil.
func shuffled[E any](rng *rand.Rand, list []E) []E {
	if rng == nil {
		return list
	}
	out := slices.Clone(list)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func propCaseFor(seed uint64) propCase {
	pc := genCase(rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)))
	pc.seed = seed
	return pc
}

// genCase draws a random, valid case: 1–3 applications with platform
// stacks of depth 1–3, platform nodes shared by several nodes (some of
// other applications), 0–8 packages per platform type, 1–3 requests and
// random options.
func genCase(rng *rand.Rand) propCase {
	var pc propCase
	nApps := 1 + rng.IntN(3)
	pc.apps = make([]topology.Application, nApps)
	depth := make([]int, nApps)
	templateOf := map[topology.NodeID]topology.TemplateID{}
	appOfTemplate := map[topology.TemplateID]int{}
	templateType := map[topology.TemplateID]string{}
	templateVersion := map[topology.TemplateID]version.Version{}
	platformTID := func(i, layer int) topology.TemplateID {
		return topology.TemplateID(fmt.Sprintf("a%d_%s", i+1, propLayers[layer]))
	}
	for i := range nApps {
		pc.apps[i].ID = topology.AppID(fmt.Sprintf("a%d", i+1))
		depth[i] = 1 + rng.IntN(3)
		for l := len(propLayers) - depth[i]; l < len(propLayers); l++ {
			pc.apps[i].Templates = append(pc.apps[i].Templates, topology.Template{
				ID: platformTID(i, l), Type: propLayers[l], Version: propInstalled(rng)})
			templateVersion[platformTID(i, l)] = pc.apps[i].Templates[len(pc.apps[i].Templates)-1].Version
			appOfTemplate[platformTID(i, l)] = i
			templateType[platformTID(i, l)] = propLayers[l]
		}
	}
	// pickHost picks a node of the layer below for a node of application
	// i: mostly one of i's own, sometimes another application's (making
	// the node a co-tenant there), none at the bottom of i's stack unless
	// it lands on another application's.
	pickHost := func(below [][]topology.NodeID, i int) topology.NodeID {
		own := below[i]
		var others []topology.NodeID
		for j, ns := range below {
			if j != i {
				others = append(others, ns...)
			}
		}
		switch {
		case len(own) > 0 && (len(others) == 0 || rng.IntN(4) > 0):
			return propPick(rng, own)
		case len(others) > 0 && (len(own) > 0 || rng.IntN(3) == 0):
			return propPick(rng, others)
		}
		return ""
	}
	addNode := func(i int, n topology.Node) {
		pc.apps[i].Nodes = append(pc.apps[i].Nodes, n)
		templateOf[n.ID] = n.Template
	}
	var below [][]topology.NodeID // the nodes of the layer below, by application
	for l := range propLayers {
		here := make([][]topology.NodeID, nApps)
		for i := range nApps {
			if l < len(propLayers)-depth[i] {
				continue
			}
			for k := range 1 + rng.IntN(2) {
				n := topology.Node{ID: topology.NodeID(fmt.Sprintf("a%d_%s_%d", i+1, propLayers[l], k+1)), Template: platformTID(i, l)}
				if rng.IntN(2) == 0 {
					n.Version = propInstalled(rng) // else the template's
				}
				if below != nil {
					if h := pickHost(below, i); h != "" {
						n.Relationships = on(h)
					}
				}
				addNode(i, n)
				here[i] = append(here[i], n.ID)
			}
		}
		below = here
	}
	// Application templates (1–2 per application) and their nodes, each
	// hosted on a server: mostly the application's own, sometimes all of
	// a template's nodes on another application's (co-tenant templates).
	for i := range nApps {
		for k := range 1 + rng.IntN(2) {
			tid := topology.TemplateID(fmt.Sprintf("a%d_app%d", i+1, k+1))
			pc.apps[i].Templates = append(pc.apps[i].Templates, topology.Template{ID: tid, Type: "app", Version: propVersion(rng)})
			appOfTemplate[tid] = i
			servers := below[i]
			if nApps > 1 && rng.IntN(4) == 0 {
				servers = below[(i+1+rng.IntN(nApps-1))%nApps]
			}
			for m := range 1 + rng.IntN(2) {
				host := propPick(rng, servers)
				if rng.IntN(8) == 0 { // a stray: on any application's server
					host = propPick(rng, slices.Concat(below...))
				}
				addNode(i, topology.Node{ID: topology.NodeID(fmt.Sprintf("a%d_app%d_%d", i+1, k+1, m+1)), Template: tid,
					Relationships: on(host)})
			}
		}
	}
	// The constraints templates state on the templates their nodes are
	// hosted on: what co-tenants demand.
	seenPair := map[[2]topology.TemplateID]bool{}
	for i := range pc.apps {
		for _, n := range pc.apps[i].Nodes {
			for _, r := range n.Relationships {
				pair := [2]topology.TemplateID{n.Template, templateOf[r.Target]}
				if seenPair[pair] {
					continue
				}
				seenPair[pair] = true
				a := &pc.apps[appOfTemplate[pair[0]]]
				t, _ := a.Template(pair[0])
				for range 1 + rng.IntN(4)/3 { // sometimes two constraints
					if cons := propConstraint(rng, propCotenantCons); !cons.IsZero() {
						t.Requirements = append(t.Requirements, topology.Requirement{Name: "host", Template: pair[1], Constraint: cons, Relation: topology.HostedOn})
					}
				}
			}
		}
	}
	// Now and then a template also requires a template further down, two
	// or more relationships beneath one of its nodes: co-tenants above a
	// platform node, not on it.
	byID := map[topology.NodeID]topology.Node{}
	for _, a := range pc.apps {
		for _, n := range a.Nodes {
			byID[n.ID] = n
		}
	}
	for i := range pc.apps {
		for _, n := range pc.apps[i].Nodes {
			if rng.IntN(3) > 0 {
				continue
			}
			var far []topology.NodeID
			for _, m := range propReachable(byID, n.ID) {
				if !slices.ContainsFunc(n.Relationships, func(r topology.Relationship) bool { return r.Target == m }) {
					far = append(far, m)
				}
			}
			if len(far) == 0 {
				continue
			}
			pair := [2]topology.TemplateID{n.Template, templateOf[propPick(rng, far)]}
			if seenPair[pair] {
				continue
			}
			seenPair[pair] = true
			t, _ := pc.apps[appOfTemplate[pair[0]]].Template(pair[0])
			if cons := propConstraint(rng, propCotenantCons); !cons.IsZero() {
				t.Requirements = append(t.Requirements, topology.Requirement{Template: pair[1], Constraint: cons})
			}
		}
	}
	// Packages: 0–8 per platform type, distinct versions, sometimes a From
	// constraint, sometimes requirements on a lower type.
	versionsOf := map[string][]version.Version{} // by type
	for l, typ := range propLayers {
		n := 3 + rng.IntN(6) // mostly several packages, sometimes few or none
		if rng.IntN(6) == 0 {
			n = rng.IntN(3)
		}
		for range n {
			ver := propVersion(rng)
			if have := versionsOf[typ]; len(have) > 0 && rng.IntN(2) == 0 {
				ver = propNextVersion(rng, have[len(have)-1])
			}
			if slices.ContainsFunc(versionsOf[typ], ver.Same) {
				continue
			}
			versionsOf[typ] = append(versionsOf[typ], ver)
			p := pkgsource.Package{Type: typ, Version: ver, Location: typ + "-" + ver.String() + ".tar.gz"}
			if rng.IntN(2) == 0 {
				p.From = propFrom(rng, ver)
			}
			// Up to two requirements, so that their order can be shuffled.
			for range 2 {
				if l > 0 && rng.IntN(5) < 2 {
					lower := l - 1
					if lower > 0 && rng.IntN(4) == 0 {
						lower = rng.IntN(lower)
					}
					p.Requires = append(p.Requires, pkgsource.Requirement{Type: propLayers[lower],
						Constraint: propNear(rng, versionsOf[propLayers[lower]], propRequiresCons)})
				}
			}
			pc.pkgs = append(pc.pkgs, p)
		}
	}
	// Requests: distinct (application, application template) pairs, each
	// with 1–3 requirements on distinct platform templates beneath all the
	// template's nodes, or, now and then or when there is none, beneath
	// some of them (the others then fail with topology.ErrNotFound).
	nodes := map[topology.NodeID]topology.Node{}
	for _, a := range pc.apps {
		for _, n := range a.Nodes {
			nodes[n.ID] = n
		}
	}
	type pair struct {
		app  int
		tmpl topology.Template
	}
	var pairs []pair
	for i, a := range pc.apps {
		for _, t := range a.Templates {
			if t.Type == "app" {
				pairs = append(pairs, pair{i, t})
			}
		}
	}
	rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	// 1–3 of anything, 1 half of the time.
	oneToThree := func() int {
		if rng.IntN(2) == 0 {
			return 1
		}
		return 2 + rng.IntN(2)
	}
	for _, p := range pairs[:min(oneToThree(), len(pairs))] {
		app := &pc.apps[p.app]
		// The platform templates beneath every node of the template, and
		// beneath any of them.
		var every, some []topology.TemplateID
		for k, n := range app.NodesOf(p.tmpl.ID) {
			var here []topology.TemplateID
			for _, m := range propReachable(nodes, n.ID) {
				here = append(here, templateOf[m])
			}
			slices.Sort(here)
			here = slices.Compact(here)
			if k == 0 {
				every = here
			} else {
				every = slices.DeleteFunc(every, func(t topology.TemplateID) bool { return !slices.Contains(here, t) })
			}
			some = append(some, here...)
		}
		slices.Sort(some)
		some = slices.Compact(some)
		cands := every
		if len(cands) == 0 || rng.IntN(10) == 0 {
			cands = some
		}
		r := upgrade.Request{Application: app.ID, Replaces: p.tmpl.ID,
			Template: topology.Template{ID: p.tmpl.ID, Type: p.tmpl.Type, Version: propNewVersion}}
		cands = slices.Clone(cands)
		rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		for _, tid := range cands[:min(oneToThree(), len(cands))] {
			// Mostly around a package above what the template's nodes
			// have, so that the requirement asks for an upgrade.
			vs := versionsOf[templateType[tid]]
			cons := propNear(rng, vs, propRequestCons)
			if rng.IntN(3) > 0 {
				var highest version.Version
				for _, n := range nodes {
					if n.Template == tid {
						if v := cmp.Or(n.Version, templateVersion[tid]); highest.Less(v) {
							highest = v
						}
					}
				}
				if above := slices.DeleteFunc(slices.Clone(vs), func(v version.Version) bool { return !highest.Less(v) }); len(above) > 0 {
					cons = propAround(rng, above)
				}
			}
			r.Template.Requirements = append(r.Template.Requirements, topology.Requirement{Template: tid, Constraint: cons})
		}
		pc.reqs = append(pc.reqs, r)
	}
	pc.policy = upgrade.Policy(rng.IntN(3))
	pc.downgrades = rng.IntN(3) == 0
	if rng.IntN(2) == 0 {
		pc.maxMinor = 1
	}
	return pc
}

// clone returns a deep copy of pc.
// respelled returns a copy of pc with every version written otherwise
// but the same ("1.2.0" as "v1.2", "1.2" or "01.2.0"), drawn from rng:
// issue 14 item 4, versions as the operator wrote them.
func (pc *propCase) respelled(rng *rand.Rand) propCase {
	c := pc.clone()
	respell := func(v *version.Version) {
		if v.IsZero() {
			return
		}
		forms := []string{fmt.Sprintf("v%d.%d.%d", v.Major(), v.Minor(), v.Patch()), fmt.Sprintf("0%d.%d.%d", v.Major(), v.Minor(), v.Patch())}
		if v.Patch() == 0 {
			forms = append(forms, fmt.Sprintf("%d.%d", v.Major(), v.Minor()), fmt.Sprintf("v%d.0%d", v.Major(), v.Minor()))
			if v.Minor() == 0 {
				forms = append(forms, fmt.Sprint(v.Major()))
			}
		}
		s := propPick(rng, forms)
		if p := v.Prerelease(); p != "" {
			s += "-" + p
		}
		if m := v.Metadata(); m != "" {
			s += "+" + m
		}
		*v = version.MustParse(s)
	}
	for i := range c.apps {
		for j := range c.apps[i].Templates {
			respell(&c.apps[i].Templates[j].Version)
		}
		for j := range c.apps[i].Nodes {
			respell(&c.apps[i].Nodes[j].Version)
		}
	}
	for i := range c.pkgs {
		respell(&c.pkgs[i].Version)
	}
	for i := range c.reqs {
		respell(&c.reqs[i].Template.Version)
	}
	return c
}

func (pc *propCase) clone() propCase {
	c := *pc
	c.apps = slices.Clone(pc.apps)
	for i := range c.apps {
		a := &c.apps[i]
		a.Templates = slices.Clone(a.Templates)
		for j := range a.Templates {
			a.Templates[j].Requirements = slices.Clone(a.Templates[j].Requirements)
		}
		a.Nodes = slices.Clone(a.Nodes)
		for j := range a.Nodes {
			a.Nodes[j].Relationships = slices.Clone(a.Nodes[j].Relationships)
		}
	}
	c.pkgs = slices.Clone(pc.pkgs)
	for i := range c.pkgs {
		c.pkgs[i].Requires = slices.Clone(c.pkgs[i].Requires)
	}
	c.reqs = slices.Clone(pc.reqs)
	for i := range c.reqs {
		c.reqs[i].Template.Requirements = slices.Clone(c.reqs[i].Template.Requirements)
	}
	return c
}

// smaller returns the cases one simplification away from pc: simpler
// options, a request, requirement, package, package condition, node,
// template or application less.
func (pc *propCase) smaller() []propCase {
	var out []propCase
	try := func(edit func(c *propCase)) {
		c := pc.clone()
		edit(&c)
		out = append(out, c)
	}
	if pc.policy != upgrade.Newest {
		try(func(c *propCase) { c.policy = upgrade.Newest })
	}
	if pc.downgrades {
		try(func(c *propCase) { c.downgrades = false })
	}
	if pc.maxMinor > 0 {
		try(func(c *propCase) { c.maxMinor = 0 })
	}
	for i, r := range pc.reqs {
		if len(pc.reqs) > 1 {
			try(func(c *propCase) { c.reqs = slices.Delete(c.reqs, i, i+1) })
		}
		for j := range r.Template.Requirements {
			try(func(c *propCase) {
				c.reqs[i].Template.Requirements = slices.Delete(c.reqs[i].Template.Requirements, j, j+1)
			})
		}
	}
	for i, p := range pc.pkgs {
		try(func(c *propCase) { c.pkgs = slices.Delete(c.pkgs, i, i+1) })
		if !p.From.IsZero() {
			try(func(c *propCase) { c.pkgs[i].From = version.Constraint{} })
		}
		if len(p.Requires) > 0 {
			try(func(c *propCase) { c.pkgs[i].Requires = nil })
		}
	}
	used := map[string]bool{} // node and template IDs something refers to
	for _, a := range pc.apps {
		for _, t := range a.Templates {
			for _, q := range t.Requirements {
				used[string(q.Template)] = true
			}
		}
		for _, n := range a.Nodes {
			used[string(n.Template)] = true
			for _, r := range n.Relationships {
				used[string(r.Target)] = true
			}
		}
	}
	for _, r := range pc.reqs {
		used[string(r.Application)], used[string(r.Replaces)] = true, true
		for _, q := range r.Template.Requirements {
			used[string(q.Template)] = true
		}
	}
	for i, a := range pc.apps {
		if len(a.Templates) == 0 && len(a.Nodes) == 0 && !used[string(a.ID)] {
			try(func(c *propCase) { c.apps = slices.Delete(c.apps, i, i+1) })
		}
		for j, t := range a.Templates {
			if len(t.Requirements) > 0 {
				try(func(c *propCase) { c.apps[i].Templates[j].Requirements = nil })
			}
			if !used[string(t.ID)] {
				try(func(c *propCase) { c.apps[i].Templates = slices.Delete(c.apps[i].Templates, j, j+1) })
			}
		}
		for j, n := range a.Nodes {
			if !used[string(n.ID)] {
				try(func(c *propCase) { c.apps[i].Nodes = slices.Delete(c.apps[i].Nodes, j, j+1) })
			}
			if n.Version.IsZero() {
				continue
			}
			try(func(c *propCase) { c.apps[i].Nodes[j].Version = version.Version{} })
		}
	}
	return out
}

// propShrink returns a smallest case it finds, by simplifying pc one step
// at a time, that still violates a property.
func propShrink(ctx context.Context, pc propCase) propCase {
	for shrunk := true; shrunk; {
		shrunk = false
		for _, c := range pc.smaller() {
			if _, err := c.topology(nil); err != nil {
				continue // not a valid input
			}
			if _, msgs := propRun(ctx, &c); msgs != nil {
				pc, shrunk = c, true
				break
			}
		}
	}
	return pc
}

// propBeneath returns the nodes reachable from id through relationships,
// breadth first, that match, not going past a matching node: the walk the
// planner documents.
func propBeneath(nodes map[topology.NodeID]topology.Node, id topology.NodeID, match func(topology.NodeID) bool) []topology.NodeID {
	var found []topology.NodeID
	seen := map[topology.NodeID]bool{id: true}
	queue := []topology.NodeID{id}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, r := range nodes[n].Relationships {
			if seen[r.Target] {
				continue
			}
			seen[r.Target] = true
			if match(r.Target) {
				found = append(found, r.Target)
				continue
			}
			queue = append(queue, r.Target)
		}
	}
	return found
}

// propReachable returns every node reachable from id through
// relationships.
func propReachable(nodes map[topology.NodeID]topology.Node, id topology.NodeID) []topology.NodeID {
	var all []topology.NodeID
	propBeneath(nodes, id, func(n topology.NodeID) bool { all = append(all, n); return false })
	return all
}

// String prints the case compactly, as a reproducer.
func (pc *propCase) String() string {
	var b strings.Builder
	cons := func(c version.Constraint) string { return strconv.Quote(c.String()) }
	fmt.Fprintf(&b, "seed %d: policy=%s allowDowngrades=%t maxMinorStep=%d\n", pc.seed, pc.policy, pc.downgrades, pc.maxMinor)
	for _, a := range pc.apps {
		fmt.Fprintf(&b, "app %s\n", a.ID)
		for _, t := range a.Templates {
			fmt.Fprintf(&b, "  template %s %s@%s", t.ID, t.Type, t.Version)
			for _, r := range t.Requirements {
				fmt.Fprintf(&b, " [%s %s]", r.Template, cons(r.Constraint))
			}
			b.WriteString("\n")
		}
		for _, n := range a.Nodes {
			ver := "(template's)"
			if !n.Version.IsZero() {
				ver = n.Version.String()
			}
			fmt.Fprintf(&b, "  node %s %s %s", n.ID, n.Template, ver)
			for _, r := range n.Relationships {
				fmt.Fprintf(&b, " %s %s", r.Relation, r.Target)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("packages\n")
	for _, p := range pc.pkgs {
		fmt.Fprintf(&b, "  %s", p)
		if !p.From.IsZero() {
			fmt.Fprintf(&b, " from %s", cons(p.From))
		}
		for _, r := range p.Requires {
			fmt.Fprintf(&b, " requires %s %s", r.Type, cons(r.Constraint))
		}
		b.WriteString("\n")
	}
	b.WriteString("requests\n")
	for _, r := range pc.reqs {
		fmt.Fprintf(&b, "  %s", r)
		for _, q := range r.Template.Requirements {
			fmt.Fprintf(&b, " [%s %s]", q.Template, cons(q.Constraint))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// propErrKinds are the errors a plan may fail with on these inputs.
var propErrKinds = []struct {
	name string
	err  error
}{
	{"ErrNoPackage", upgrade.ErrNoPackage},
	{"ErrDowngrade", upgrade.ErrDowngrade},
	{"ErrNoUpgradePath", upgrade.ErrNoUpgradePath},
	{"ErrConflict", upgrade.ErrConflict},
	{"ErrCycle", upgrade.ErrCycle},
	{"topology.ErrNotFound", topology.ErrNotFound},
	{"ErrInvalidRequest", upgrade.ErrInvalidRequest},
}

func propErrKind(err error) string {
	for _, k := range propErrKinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return ""
}

// propT collects what testify reports for one case; FailNow ends the
// case with a panic that propRun recovers.
type propT struct{ msgs []string }

type propFailNow struct{}

func (p *propT) Errorf(format string, args ...any) {
	p.msgs = append(p.msgs, fmt.Sprintf(format, args...))
}
func (p *propT) FailNow() { panic(propFailNow{}) }
func (p *propT) Helper()  {}

// propResult is the outcome of one case: "ok" or the kind of error, the
// error, and for a plan the features it shows (to classify the cases).
type propResult struct {
	kind     string
	err      error
	features []string
}

// propRun checks one case and returns its outcome and, when a property
// does not hold, what testify said.
func propRun(ctx context.Context, pc *propCase) (res propResult, msgs []string) {
	pt := &propT{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(propFailNow); !ok {
				pt.msgs = append(pt.msgs, fmt.Sprintf("panic: %v\n%s", r, debug.Stack()))
			}
			res, msgs = propResult{}, pt.msgs
		}
	}()
	res = propCheck(ctx, pt, pc)
	return res, pt.msgs
}

// propCheck plans the case twice, the second time from shuffled inputs,
// and checks the properties.
func propCheck(ctx context.Context, t *propT, pc *propCase) propResult {
	topo, err := pc.topology(nil)
	require.NoError(t, err, "the generator made an invalid topology")
	src, err := pkgsource.NewMemory(pc.pkgs...)
	require.NoError(t, err, "the generator made invalid packages")
	plan, planErr := upgrade.NewPlanner(topo, src, pc.options()...).PlanAll(ctx, pc.reqs...)

	shuffle := rand.New(rand.NewPCG(pc.seed, 0x5eed))
	topo2, err := pc.topology(shuffle)
	require.NoError(t, err)
	// The second plan walks the topology's Dependents up for co-tenants
	// rather than ask Memory for those above (topology.AboveLister): the
	// two ways must agree.
	plan2, planErr2 := upgrade.NewPlanner(walkOnly{topo2}, pc.shuffledSource(shuffle), pc.options()...).PlanAll(ctx, pc.reqs...)

	// Property 8: versions written otherwise ("v1.2", "1.2.0") give the
	// same decisions: the same steps and step IDs (canonical), each
	// version the same, printed as written; or the same kind of error.
	rc := pc.respelled(rand.New(rand.NewPCG(pc.seed, 0x5be11)))
	topo3, err := rc.topology(nil)
	require.NoError(t, err, "respelled versions make an invalid topology")
	src3, err := pkgsource.NewMemory(rc.pkgs...)
	require.NoError(t, err, "respelled versions make invalid packages")
	plan3, planErr3 := upgrade.NewPlanner(topo3, src3, rc.options()...).PlanAll(ctx, rc.reqs...)
	if planErr != nil {
		require.Error(t, planErr3, "respelled versions plan where the original failed with: %v", planErr)
		require.Equal(t, propErrKind(planErr), propErrKind(planErr3), "respelled versions fail otherwise: %v, then %v", planErr, planErr3)
	} else {
		require.NoError(t, planErr3, "respelled versions fail where the original planned")
		require.Equal(t, ids(plan), ids(plan3), "respelled versions give other steps")
		for i, s := range plan.Steps {
			s3 := plan3.Steps[i]
			require.Equal(t, s.Kind, s3.Kind)
			require.Equal(t, s.Node, s3.Node)
			require.True(t, s.From.Same(s3.From) && s.To.Same(s3.To), "step %s: %s → %s, respelled %s → %s", s.ID, s.From, s.To, s3.From, s3.To)
			require.Equal(t, s.After, s3.After, "step %s", s.ID)
		}
		require.Len(t, plan3.Decisions, len(plan.Decisions))
		for i, d := range plan.Decisions {
			require.Equal(t, d.Node, plan3.Decisions[i].Node)
			require.Len(t, plan3.Decisions[i].Candidates, len(d.Candidates), "node %s", d.Node)
		}
		require.Len(t, plan3.Satisfied, len(plan.Satisfied))
		for _, s3 := range plan3.Steps { // as written: the respelled text, where it differs
			if s3.Package != nil {
				require.Equal(t, s3.Package.Version.String(), s3.To.String(), "step %s", s3.ID)
				require.True(t, slices.ContainsFunc(rc.pkgs, func(p pkgsource.Package) bool { return p.Version == s3.To }),
					"step %s goes to %s, which the source does not write so", s3.ID, s3.To)
			}
		}
	}

	if planErr != nil {
		require.Nil(t, plan, "a plan returned with error %v", planErr)
		kind := propErrKind(planErr)
		require.NotEmpty(t, kind, "error matches none of the expected sentinels: %v", planErr)
		// Property 5, for failures: the same error from shuffled inputs.
		require.Error(t, planErr2, "shuffled inputs plan where the original failed with: %v", planErr)
		require.Equal(t, planErr.Error(), planErr2.Error(), "shuffled inputs fail differently")
		return propResult{kind: kind, err: planErr}
	}
	require.NotNil(t, plan)
	features := propCheckPlan(ctx, t, pc, topo, plan)

	// Property 5: the same plan, ID and JSON from shuffled inputs.
	require.NoError(t, planErr2, "shuffled inputs fail where the original planned")
	require.Equal(t, plan, plan2, "shuffled inputs plan differently")
	require.Equal(t, plan.ID, plan2.ID)
	var j1, j2 bytes.Buffer
	require.NoError(t, plan.WriteJSON(&j1))
	require.NoError(t, plan2.WriteJSON(&j2))
	require.Equal(t, j1.String(), j2.String(), "shuffled inputs give other JSON")
	// And the JSON reads back, its ID matching its content.
	back, err := upgrade.ReadJSON(bytes.NewReader(j1.Bytes()))
	require.NoError(t, err)
	require.Equal(t, plan.ID, back.ID)
	return propResult{kind: "ok", features: features}
}

// propCheckPlan checks properties 1–4, 6 and 7 of a successful plan and
// returns the features it shows.
func propCheckPlan(ctx context.Context, t *propT, pc *propCase, topo *topology.Memory, plan *upgrade.Plan) (features []string) {
	feature := func(f string) {
		if !slices.Contains(features, f) {
			features = append(features, f)
		}
	}
	nodes := map[topology.NodeID]topology.Node{} // with installed versions filled in
	tmpls := map[topology.TemplateID]topology.Template{}
	for _, a := range topo.Applications() {
		for _, tm := range a.Templates {
			tmpls[tm.ID] = tm
		}
		for _, n := range a.Nodes {
			nodes[n.ID] = n
		}
	}
	ofType := func(typ string) func(topology.NodeID) bool {
		return func(id topology.NodeID) bool { return tmpls[nodes[id].Template].Type == typ }
	}
	ofTemplate := func(tid topology.TemplateID) func(topology.NodeID) bool {
		return func(id topology.NodeID) bool { return nodes[id].Template == tid }
	}
	require.Equal(t, pc.reqs, plan.Requests, "the plan's requests")

	// The nodes the requests replace, and the request of each.
	replaced := map[topology.NodeID]*upgrade.Request{}
	for i := range pc.reqs {
		r := &pc.reqs[i]
		a, err := topo.Application(ctx, r.Application)
		require.NoError(t, err)
		for _, n := range a.NodesOf(r.Replaces) {
			replaced[n.ID] = r
		}
	}

	// Property 1: unique IDs, every After names an earlier step, platform
	// steps first.
	pos := map[upgrade.StepID]int{}
	for i, s := range plan.Steps {
		_, dup := pos[s.ID]
		require.False(t, dup, "duplicate step ID %s", s.ID)
		pos[s.ID] = i
	}
	ancestors := make([]map[int]bool, len(plan.Steps)) // transitively, through After
	for i, s := range plan.Steps {
		ancestors[i] = map[int]bool{}
		for _, a := range s.After {
			j, ok := pos[a]
			require.True(t, ok, "step %s comes after %s, which is not in the plan", s.ID, a)
			require.Less(t, j, i, "step %s is listed before %s, which it comes after", s.ID, a)
			ancestors[i][j] = true
			for k := range ancestors[j] {
				ancestors[i][k] = true
			}
		}
		if i > 0 && s.Kind == upgrade.Platform {
			require.Equal(t, upgrade.Platform, plan.Steps[i-1].Kind, "platform step %s after an application step", s.ID)
		}
	}
	// ... and a step comes (through After) after every platform step on a
	// node beneath its node, and after the earlier hops on its own node.
	stepsOn := map[topology.NodeID][]int{}
	for i, s := range plan.Steps {
		if s.Kind == upgrade.Platform {
			stepsOn[s.Node] = append(stepsOn[s.Node], i)
		}
	}
	for i, s := range plan.Steps {
		for _, m := range propReachable(nodes, s.Node) {
			for _, j := range stepsOn[m] {
				require.True(t, ancestors[i][j], "step %s does not come after %s, on node %s beneath", s.ID, plan.Steps[j].ID, m)
			}
		}
		if s.Kind == upgrade.Platform {
			for _, j := range stepsOn[s.Node] {
				if j < i {
					require.True(t, ancestors[i][j], "hop %s does not come after the earlier hop %s", s.ID, plan.Steps[j].ID)
				}
			}
		}
	}

	// Property 2: simulate the plan.
	cur := map[topology.NodeID]version.Version{}
	tmplOf := map[topology.NodeID]topology.TemplateID{}
	for id, n := range nodes {
		cur[id], tmplOf[id] = n.Version, n.Template
	}
	appSteps := map[topology.NodeID]int{}
	for _, s := range plan.Steps {
		n, ok := nodes[s.Node]
		require.True(t, ok, "step %s on unknown node %s", s.ID, s.Node)
		require.Equal(t, n.App, s.App, "step %s: application", s.ID)
		require.Equal(t, n.Template, s.Template, "step %s: template", s.ID)
		require.Equal(t, tmpls[n.Template].Type, s.Type, "step %s: type", s.ID)
		if s.Kind != upgrade.Platform {
			continue
		}
		require.Nil(t, replaced[s.Node], "platform step %s on a replaced node", s.ID)
		require.Equal(t, cur[s.Node], s.From, "platform step %s starts from another version than the node has then", s.ID)
		// Property 4: the package, installable over From.
		require.NotNil(t, s.Package, "platform step %s has no package", s.ID)
		require.Equal(t, pkgsource.Key{Type: s.Type, Version: s.To}, s.Package.Key(), "platform step %s: package", s.ID)
		require.True(t, slices.ContainsFunc(pc.pkgs, func(p pkgsource.Package) bool {
			return p.Key() == s.Package.Key() && p.From.String() == s.Package.From.String() && sameRequires(p.Requires, s.Package.Requires)
		}), "platform step %s installs %s, which the source does not hold as it is (requirements in any order)", s.ID, s.Package)
		require.True(t, s.Package.From.Allows(s.From), "platform step %s: package %s does not install over %s (from %s)", s.ID, s.Package, s.From, s.Package.From)
		// Property 3: no downgrade unless allowed, and a change.
		require.NotEqual(t, s.From, s.To, "platform step %s changes nothing", s.ID)
		if s.To.Less(s.From) {
			feature("downgrade")
		}
		if !pc.downgrades {
			require.False(t, s.To.Less(s.From), "platform step %s downgrades %s → %s without AllowDowngrades", s.ID, s.From, s.To)
		}
		if pc.maxMinor > 0 && s.From.Less(s.To) && s.From.Major() == s.To.Major() {
			require.LessOrEqual(t, s.To.Minor()-s.From.Minor(), uint64(pc.maxMinor), "platform step %s: hop %s → %s over the minor step limit", s.ID, s.From, s.To)
		}
		// When the step runs, the nodes beneath meet the package's
		// requirements.
		for _, r := range s.Package.Requires {
			found := propBeneath(nodes, s.Node, ofType(r.Type))
			require.NotEmpty(t, found, "platform step %s: package %s requires %s but no %s node is beneath", s.ID, s.Package, r.Type, r.Type)
			for _, f := range found {
				require.True(t, r.Constraint.Allows(cur[f]), "platform step %s: package %s requires %s %s, but %s has %s when it runs", s.ID, s.Package, r.Type, r.Constraint, f, cur[f])
			}
		}
		cur[s.Node] = s.To
	}
	for _, s := range plan.Steps {
		if s.Kind == upgrade.Platform {
			continue
		}
		require.Equal(t, upgrade.Application, s.Kind, "step %s: kind", s.ID)
		r := replaced[s.Node]
		require.NotNil(t, r, "application step %s on node %s, which no request replaces", s.ID, s.Node)
		require.Equal(t, r.Replaces, s.Template, "application step %s", s.ID)
		require.Equal(t, cur[s.Node], s.From, "application step %s: from", s.ID)
		require.Equal(t, r.Template.Version, s.To, "application step %s: to", s.ID)
		require.NotNil(t, s.NewTemplate, "application step %s: new template", s.ID)
		require.Equal(t, r.Template, *s.NewTemplate, "application step %s: new template", s.ID)
		appSteps[s.Node]++
		tmplOf[s.Node], cur[s.Node] = s.NewTemplate.ID, s.To
	}
	for id := range replaced {
		require.Equal(t, 1, appSteps[id], "replaced node %s: application steps", id)
	}

	// Every requirement of every request holds beneath every replaced node.
	for id, r := range replaced {
		for _, q := range r.Template.Requirements {
			found := propBeneath(nodes, id, ofTemplate(q.Template))
			require.NotEmpty(t, found, "request %s: no %s beneath %s", r, q.Template, id)
			for _, f := range found {
				require.True(t, q.Constraint.Allows(cur[f]), "request %s requires %s %s, but %s (beneath %s) ends at %s", r, q.Template, q.Constraint, f, id, cur[f])
			}
		}
	}
	// Every co-tenant allows the final version of a changed node, and
	// every hop on the way (property 4). A node the plan replaces or
	// upgrades is no co-tenant: its new template or package states what
	// it needs.
	for m, idx := range stepsOn {
		deps, err := topo.Dependents(ctx, m)
		require.NoError(t, err)
		for _, d := range deps {
			if replaced[d.Node] != nil || len(stepsOn[d.Node]) > 0 || d.Constraint.IsZero() {
				continue
			}
			feature("co-tenant constraint")
			for _, j := range idx {
				require.True(t, d.Constraint.Allows(plan.Steps[j].To), "co-tenant %s (%s) requires %s %s, but step %s moves %s to %s",
					d.Node, d.Template, nodes[m].Template, d.Constraint, plan.Steps[j].ID, m, plan.Steps[j].To)
			}
		}
		if len(idx) > 1 {
			feature("multi-hop")
		}
		// And so does every node further up whose template requires m's
		// and whose walk down reaches m, not past another node of m's
		// template: a co-tenant at any height.
		direct := map[topology.NodeID]bool{}
		for _, d := range deps {
			direct[d.Node] = true
		}
		for id, n := range nodes {
			if replaced[id] != nil || len(stepsOn[id]) > 0 {
				continue
			}
			for _, q := range tmpls[n.Template].Requirements {
				if q.Template != nodes[m].Template || q.Constraint.IsZero() || !slices.Contains(propBeneath(nodes, id, ofTemplate(q.Template)), m) {
					continue
				}
				if !direct[id] {
					feature("co-tenant above")
				}
				for _, j := range idx {
					require.True(t, q.Constraint.Allows(plan.Steps[j].To), "co-tenant %s (%s), above, requires %s %s, but step %s moves %s to %s",
						id, n.Template, q.Template, q.Constraint, plan.Steps[j].ID, m, plan.Steps[j].To)
				}
			}
		}
		// The node's decision holds the demands its last hop meets and the
		// candidates.
		for k, j := range idx {
			s := plan.Steps[j]
			if k < len(idx)-1 {
				continue
			}
			dec, ok := plan.Decision(s.Node)
			require.True(t, ok, "step %s: no decision for its node", s.ID)
			require.NotEmpty(t, dec.Demands, "step %s: demands", s.ID)
			for _, d := range dec.Demands {
				require.True(t, d.Constraint.Allows(s.To), "step %s: to %s does not meet its demand %s", s.ID, s.To, d)
				if d.Package != "" {
					feature("package demand")
				}
			}
			// Property 6: the candidates passed over for the policy are
			// those it prefers less than the chosen one.
			installed := plan.Steps[idx[0]].From
			for _, c := range dec.Candidates {
				if strings.HasPrefix(c.Rejected, "policy ") {
					require.True(t, propLessPreferred(pc.policy, installed.Less(s.To), c.Version, s.To),
						"step %s: %s chose %s over %s (%s)", s.ID, pc.policy, s.To, c.Version, c.Rejected)
				}
			}
			chosen := 0
			for _, c := range dec.Candidates {
				if c.Chosen {
					chosen++
					require.Equal(t, s.To, c.Version, "step %s: chosen candidate", s.ID)
				}
				require.Equal(t, c.Chosen, c.Rejected == "", "step %s: candidate %s: chosen %t, rejected %q", s.ID, c.Version, c.Chosen, c.Rejected)
			}
			require.Equal(t, 1, chosen, "step %s: chosen candidates", s.ID)
		}
	}
	// The requirements of every installed package hold at the end.
	for _, s := range plan.Steps {
		if s.Kind != upgrade.Platform {
			continue
		}
		for _, r := range s.Package.Requires {
			for _, f := range propBeneath(nodes, s.Node, ofType(r.Type)) {
				require.True(t, r.Constraint.Allows(cur[f]), "package %s (step %s) requires %s %s, but %s ends at %s", s.Package, s.ID, r.Type, r.Constraint, f, cur[f])
			}
		}
	}
	if len(stepsOn) == 0 {
		feature("no platform step")
	}
	if len(pc.reqs) > 1 {
		feature("several requests")
	}
	if len(plan.Warnings) > 0 {
		feature("warnings")
	}
	// Property 7: a warning for each replaced node whose old template's
	// requirement a hop beneath it breaks until its own step.
	for id := range replaced {
		for _, q := range tmpls[nodes[id].Template].Requirements {
			for _, m := range propReachable(nodes, id) {
				if nodes[m].Template != q.Template {
					continue
				}
				for _, j := range stepsOn[m] {
					if s := plan.Steps[j]; !q.Constraint.Allows(s.To) {
						require.True(t, slices.ContainsFunc(plan.Warnings, func(w string) bool {
							return strings.Contains(w, fmt.Sprintf("node %s (", id)) && strings.Contains(w, fmt.Sprintf("runs on %s ", m))
						}), "no warning that step %s breaks %s %s of replaced node %s; warnings: %q", s.ID, q.Template, q.Constraint, id, plan.Warnings)
						break
					}
				}
			}
		}
	}
	// Satisfied checks are about unchanged nodes whose version meets them.
	for _, c := range plan.Satisfied {
		n, ok := nodes[c.Node]
		require.True(t, ok, "check on unknown node %s", c.Node)
		require.Empty(t, stepsOn[c.Node], "node %s has steps and a satisfied check", c.Node)
		require.Equal(t, n.Version, c.Version, "check on %s: version", c.Node)
		require.Equal(t, n.Template, c.Template, "check on %s: template", c.Node)
		require.True(t, c.Demand.Constraint.Allows(c.Version), "check on %s: %s does not meet %s", c.Node, c.Version, c.Demand)
	}
	return features
}

// propLessPreferred reports whether policy prefers version chosen to v,
// for an upgrade (up) or a downgrade.
func propLessPreferred(policy upgrade.Policy, up bool, v, chosen version.Version) bool {
	minor := func(v version.Version) [2]uint64 { return [2]uint64{v.Major(), v.Minor()} }
	cmpMinor := func(a, b version.Version) int {
		return cmp.Or(cmp.Compare(minor(a)[0], minor(b)[0]), cmp.Compare(minor(a)[1], minor(b)[1]))
	}
	switch {
	case policy == upgrade.Newest || policy == upgrade.Nearest && !up:
		return v.Less(chosen)
	case policy == upgrade.Nearest:
		return chosen.Less(v)
	case policy == upgrade.LatestPatch && up:
		return cmpMinor(v, chosen) > 0 || cmpMinor(v, chosen) == 0 && v.Less(chosen)
	case policy == upgrade.LatestPatch:
		return cmpMinor(v, chosen) < 0 || cmpMinor(v, chosen) == 0 && v.Less(chosen)
	}
	return false
}

// TestPropertyPlanner plans 3000 generated cases (300 with -short) and
// checks, for every plan:
//
//  1. step IDs are unique; every After names a step earlier in the plan;
//     platform steps come first; through After, every step comes after
//     every platform step on a node beneath its node and after the earlier
//     hops on its own node;
//  2. applying the steps to the installed versions (each platform step
//     starting from the version its node has then, then the application
//     steps) leaves every request's requirements met beneath every
//     replaced node, every co-tenant's constraint met by every changed
//     node, and every installed package's requirements met beneath its
//     node, both when the step runs and at the end; every replaced node
//     gets exactly one application step, with the request's template;
//  3. no platform step lowers a version unless AllowDowngrades was given,
//     none leaves it unchanged, and with WithMaxMinorStep no upgrade hop
//     within a major version skips more minor versions than allowed;
//  4. every platform step installs a package of the source, of the node's
//     type and the step's version, whose From allows the step's From; the
//     co-tenants allow every hop, not only the last; a node's last step
//     carries demands its version meets and exactly one chosen candidate;
//  5. planning again from a Source listing packages in another order and a
//     topology built in another order gives an equal plan, the same ID and
//     the same JSON, which ReadJSON accepts;
//  6. the candidates passed over for the policy are ones it prefers less;
//  7. a warning names each replaced node whose old template's requirement
//     a platform step beneath it breaks;
//  8. the case with every version written otherwise ("v1.2", "01.2.0",
//     "1.2" for 1.2.0) plans the same steps with the same (canonical) IDs,
//     each version the same and printed as the source writes it, or fails
//     with an error of the same kind;
//
// and, for every failure, that the error matches one of the planner's
// sentinels (or topology.ErrNotFound) and that planning from the shuffled
// inputs fails with the same message. Satisfied checks must be about
// unchanged nodes whose version meets them.
func TestPropertyPlanner(t *testing.T) {
	ctx := context.Background()
	seeds := 3000
	if testing.Short() {
		seeds = 300
	}
	if s := os.Getenv("STACKUP_PROP_SEEDS"); s != "" { // for a longer hunt
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "STACKUP_PROP_SEEDS")
		seeds = n
	}
	if s := os.Getenv("STACKUP_PROP_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "STACKUP_PROP_SEED")
		pc := propCaseFor(seed)
		res, msgs := propRun(ctx, &pc)
		t.Logf("case:\n%s\noutcome: %s %v %v", pc.String(), res.kind, res.err, res.features)
		if msgs != nil {
			t.Errorf("property violated:\n%s", strings.Join(msgs, "\n"))
		}
		return
	}
	// The cases run on every CPU; the results are read in seed order, so
	// the report does not depend on the scheduling.
	start := time.Now()
	type outcome struct {
		res  propResult
		msgs []string
	}
	results := make([]outcome, seeds)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < seeds; i = int(next.Add(1) - 1) {
				pc := propCaseFor(uint64(i + 1))
				res, msgs := propRun(ctx, &pc)
				results[i] = outcome{res, msgs}
			}
		})
	}
	wg.Wait()

	counts := map[string]int{}
	examples := map[string]error{}
	features := map[string]int{} // among the plans
	failed := 0
	for i, o := range results {
		if o.msgs != nil {
			if failed++; failed <= 3 {
				pc := propCaseFor(uint64(i + 1))
				small := propShrink(ctx, pc)
				_, smallMsgs := propRun(ctx, &small)
				t.Errorf("property violated; reproduce with STACKUP_PROP_SEED=%d\n%s\n%s\nshrunk to:\n%s%s",
					i+1, strings.Join(o.msgs, "\n"), pc.String(), small.String(), strings.Join(smallMsgs, "\n"))
			}
			continue
		}
		counts[o.res.kind]++
		if examples[o.res.kind] == nil && o.res.err != nil {
			examples[o.res.kind] = o.res.err
		}
		for _, f := range o.res.features {
			features[f]++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d cases violate a property", failed, seeds)
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&b, "\n  %-22s %5d", k, counts[k])
		if e := examples[k]; e != nil {
			fmt.Fprintf(&b, "  e.g. %v", e)
		}
	}
	b.WriteString("\nplans with:")
	for _, f := range slices.Sorted(maps.Keys(features)) {
		fmt.Fprintf(&b, "\n  %-22s %5d", f, features[f])
	}
	t.Logf("%d cases in %v:%s", seeds, time.Since(start).Round(time.Millisecond), b.String())
	// Keep the generator useful: many plans succeed, several failure
	// kinds, and the plans show what the properties are about.
	require.GreaterOrEqual(t, counts["ok"]*100/seeds, 25, "share of cases that plan")
	require.GreaterOrEqual(t, len(counts)-1, 3, "failure kinds seen")
	if seeds >= 1000 {
		for _, f := range []string{"co-tenant constraint", "co-tenant above", "downgrade", "multi-hop", "package demand", "several requests", "warnings"} {
			require.Positive(t, features[f], "plans with %s", f)
		}
	}
}
