// Package fleet generates synthetic fleets for benchmarks and load tests:
// applications of several instances on shared platform stacks (server on
// runtime on operating system), with package catalogues whose packages
// upgrade from earlier versions and require newer platform beneath them.
// The same Config gives the same fleet. Fleets of different sizes are scale
// models of each other: with Apps and Stacks ten times over, a fleet has ten
// times as many of each installed version and each demand, and IDs of the
// same length (numbers have five digits up to 100,000), so that comparing
// the time to plan them measures how the planner grows, not the dice.
package fleet

import (
	"fmt"
	"math/rand/v2"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// Config describes a fleet.
type Config struct {
	Seed      uint64
	Apps      int // applications
	Instances int // application nodes per application
	Stacks    int // shared platform stacks (server on runtime on OS)
	Versions  int // package versions per platform type
}

// Fleet is a generated deployment, its package catalogue, and one upgrade
// request per application.
type Fleet struct {
	Topology *topology.Memory
	Source   *pkgsource.Memory
	Requests []upgrade.Request
	Nodes    int // nodes in the topology
}

// Layers of a stack, bottom first, with their package types.
var layers = []struct{ name, typ string }{{"os", "ubuntu"}, {"rt", "jdk"}, {"srv", "tomcat"}}

// versionAt returns the i-th version of a type: 1.0.0, 1.1.0, … 1.9.0,
// 2.0.0, …, so that minors advance one at a time.
func versionAt(i int) version.Version {
	return version.MustParse(fmt.Sprintf("%d.%d.0", 1+i/10, i%10))
}

// New generates the fleet described by c.
func New(c Config) (*Fleet, error) {
	rng := rand.New(rand.NewPCG(c.Seed, 0x5eed))
	var b topology.Builder
	const platform = "platform"
	// Platform templates, one per layer, installed at low versions.
	for l, layer := range layers {
		t := topology.Template{ID: topology.TemplateID(layer.name), Type: layer.typ, Version: versionAt(0)}
		if l > 0 {
			t.Requirements = []topology.Requirement{{Template: topology.TemplateID(layers[l-1].name),
				Constraint: version.MustParseConstraint(">=1.0"), Relation: topology.HostedOn}}
		}
		b.Template(platform, t)
	}
	// Stacks run one of the r lowest versions of each layer. Stack s gets
	// the base-r digits of a shuffled number k < Stacks: the server the
	// lowest digit, the runtime the next, the OS their sum with the third.
	// So each version, and each pair of server and runtime versions, has
	// its exact share of the stacks, and a fleet ten times the size is the
	// same mix ten times over: how much longer it takes to plan is not
	// blurred by a luckier draw.
	r := max(c.Versions/5, 1)
	shuffled := rng.Perm(max(c.Stacks, 0))
	for s := range c.Stacks {
		var below topology.NodeID
		k := shuffled[s]
		installed := [...]int{(k + k/r + k/(r*r)) % r, k / r % r, k % r} // os, rt, srv
		for l, layer := range layers {
			id := topology.NodeID(fmt.Sprintf("%s-%05d", layer.name, s))
			n := topology.Node{ID: id, Template: topology.TemplateID(layer.name), Version: versionAt(installed[l])}
			if below != "" {
				n.Relationships = []topology.Relationship{{Relation: topology.HostedOn, Target: below}}
			}
			b.Node(platform, n)
			below = id
		}
	}
	f := &Fleet{Nodes: 3*c.Stacks + c.Apps*c.Instances}
	// Each of the needs below has its exact share of the applications too.
	needs := rng.Perm(max(c.Apps, 0))
	for a := range c.Apps {
		app := topology.AppID(fmt.Sprintf("app-%05d", a))
		tmpl := topology.TemplateID(fmt.Sprintf("app-%05d_web", a))
		// Old requirement: a server version the stacks have now.
		b.Template(app, topology.Template{ID: tmpl, Type: "webapp", Version: version.MustParse("1.0.0"),
			Requirements: []topology.Requirement{{Template: "srv", Constraint: version.MustParseConstraint(">=1.0"), Relation: topology.HostedOn}}})
		for i := range c.Instances {
			stack := rng.IntN(max(c.Stacks, 1))
			b.Node(app, topology.Node{ID: topology.NodeID(fmt.Sprintf("app-%05d-%03d", a, i)), Template: tmpl,
				Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: topology.NodeID(fmt.Sprintf("srv-%05d", stack))}}})
		}
		// The new version needs a newer server than most stacks have,
		// one package away.
		need := versionAt(c.Versions/10 + needs[a]%max(c.Versions/10, 1))
		f.Requests = append(f.Requests, upgrade.Request{Application: app, Replaces: tmpl,
			Template: topology.Template{ID: tmpl, Type: "webapp", Version: version.MustParse("2.0.0"),
				Requirements: []topology.Requirement{{Template: "srv",
					Constraint: version.MustParseConstraint(fmt.Sprintf(">=%s, <%d", need, need.Major()+1)), Relation: topology.HostedOn}}}})
	}
	topo, err := b.Build()
	if err != nil {
		return nil, err
	}
	f.Topology = topo
	// Catalogue: each version upgrades from the ten before it; servers
	// need a runtime, runtimes an OS, of a version not far below.
	var pkgs []pkgsource.Package
	for l, layer := range layers {
		for i := range c.Versions {
			p := pkgsource.Package{Type: layer.typ, Version: versionAt(i),
				From: version.MustParseConstraint(fmt.Sprintf(">=%s, <%s", versionAt(max(i-10, 0)), versionAt(i)))}
			if l > 0 && i > 0 {
				p.Requires = []pkgsource.Requirement{{Type: layers[l-1].typ,
					Constraint: version.MustParseConstraint(">=" + versionAt(i/2).String())}}
			}
			pkgs = append(pkgs, p)
		}
	}
	if f.Source, err = pkgsource.NewMemory(pkgs...); err != nil {
		return nil, err
	}
	return f, nil
}
