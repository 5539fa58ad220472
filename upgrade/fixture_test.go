package upgrade_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

var (
	v = version.MustParse
	c = version.MustParseConstraint
)

func on(target topology.NodeID) []topology.Relationship {
	return []topology.Relationship{{Relation: topology.HostedOn, Target: target}}
}

// shopBuilder is the shop of examples/basic: instances shop-N on tomcat-N
// (8.5.100) on java-N (8.0.402) on vm-N (ubuntu 18.04).
func shopBuilder(instances int) *topology.Builder {
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0"),
			Requirements: []topology.Requirement{{Name: "host", Template: "tomcat_server", Constraint: c(">=8.5, <9")}}}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("8.5.100"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=8")}}}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("8.0.402")}).
		Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("18.04")})
	for i := 1; i <= instances; i++ {
		id := func(p string) topology.NodeID { return topology.NodeID(fmt.Sprintf("%s-%d", p, i)) }
		b.Node("shop", topology.Node{ID: id("vm"), Template: "ubuntu_os"}).
			Node("shop", topology.Node{ID: id("java"), Template: "java_runtime", Relationships: on(id("vm"))}).
			Node("shop", topology.Node{ID: id("tomcat"), Template: "tomcat_server", Relationships: on(id("java"))}).
			Node("shop", topology.Node{ID: id("shop"), Template: "shop_app", Relationships: on(id("tomcat"))})
	}
	return b
}

func build(t testing.TB, b *topology.Builder) *topology.Memory {
	t.Helper()
	topo, err := b.Build()
	require.NoError(t, err)
	return topo
}

func pkg(typ, ver string) pkgsource.Package {
	return pkgsource.Package{Type: typ, Version: v(ver), Location: typ + "-" + ver + ".tar.gz"}
}

func source(t testing.TB, pkgs ...pkgsource.Package) *pkgsource.Memory {
	t.Helper()
	src, err := pkgsource.NewMemory(pkgs...)
	require.NoError(t, err)
	return src
}

// catalogue offers several Tomcat and JDK releases.
func catalogue(t testing.TB) *pkgsource.Memory {
	return source(t,
		pkg("tomcat", "9.0.85"), pkg("tomcat", "9.0.98"), pkg("tomcat", "10.1.18"), pkg("tomcat", "10.1.34"), pkg("tomcat", "11.0.2"),
		pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"), pkg("jdk", "21.0.2"))
}

// shop2 asks for shop 2.0, which needs the given constraints on the given
// platform templates, in pairs: template, constraint, template, constraint…
func shop2(pairs ...string) upgrade.Request {
	r := upgrade.Request{Application: "shop", Replaces: "shop_app",
		Template: topology.Template{ID: "shop_app", Type: "webapp", Version: v("2.0.0")}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.Template.Requirements = append(r.Template.Requirements,
			topology.Requirement{Template: topology.TemplateID(pairs[i]), Constraint: c(pairs[i+1])})
	}
	return r
}

// decided returns the plan's decision for node n.
func decided(t testing.TB, p *upgrade.Plan, n topology.NodeID) *upgrade.Decision {
	t.Helper()
	d, ok := p.Decision(n)
	require.True(t, ok, "no decision for %s", n)
	return d
}

// ids returns the plan's step IDs in order.
func ids(p *upgrade.Plan) []upgrade.StepID {
	out := make([]upgrade.StepID, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = s.ID
	}
	return out
}

// platformIDs returns the IDs of the plan's platform steps, in order.
func platformIDs(p *upgrade.Plan) []upgrade.StepID {
	var out []upgrade.StepID
	for _, s := range p.Steps {
		if s.Kind == upgrade.Platform {
			out = append(out, s.ID)
		}
	}
	return out
}

// requireTopological checks that every step comes after the steps it must
// follow (its Prerequisites, through barriers) and that every barrier
// waits for something the plan holds.
func requireTopological(t testing.TB, p *upgrade.Plan) {
	t.Helper()
	pos := map[upgrade.StepID]int{}
	for i, s := range p.Steps {
		pos[s.ID] = i
	}
	for i, s := range p.Steps {
		for _, a := range p.Prerequisites(s.ID) {
			j, ok := pos[a]
			require.True(t, ok, "step %s comes after unknown step %s", s.ID, a)
			require.Less(t, j, i, "step %s comes before %s, which it must follow", s.ID, a)
		}
	}
	known := map[upgrade.StepID]bool{}
	for id := range pos {
		known[id] = true
	}
	for _, b := range p.Barriers {
		known[b.ID] = true
	}
	for _, b := range p.Barriers {
		require.NotEmpty(t, b.After, "barrier %s", b.ID)
		for _, a := range b.After {
			require.True(t, known[a], "barrier %s comes after unknown step %s", b.ID, a)
		}
	}
}
