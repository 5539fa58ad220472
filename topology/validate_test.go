package topology_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

func app(id topology.AppID, ts []topology.Template, ns ...topology.Node) topology.Application {
	return topology.Application{ID: id, Templates: ts, Nodes: ns}
}

func tmpls(ts ...topology.Template) []topology.Template { return ts }

func tmpl(id topology.TemplateID, reqs ...topology.Requirement) topology.Template {
	return topology.Template{ID: id, Type: string(id) + "-type", Version: v("1.0.0"), Requirements: reqs}
}

func node(id topology.NodeID, template topology.TemplateID, rs ...topology.Relationship) topology.Node {
	return topology.Node{ID: id, Template: template, Relationships: rs}
}

// problem is one *topology.Error a case expects.
type problem struct {
	item string // Error.Item, exactly
	is   error  // topology.ErrInvalid or topology.ErrCycle
	msg  string // part of the message
}

var validateTests = []struct {
	name string
	apps []topology.Application
	want []problem // nil: valid
}{
	{
		name: "valid shop",
		apps: shopApps(3),
	},
	{
		name: "no applications",
	},
	{
		name: "empty application",
		apps: []topology.Application{{ID: "empty"}},
	},
	{
		name: "template used from another application",
		apps: []topology.Application{
			app("platform", tmpls(tmpl("os")), node("vm-1", "os")),
			app("shop", tmpls(tmpl("web", topology.Requirement{Template: "os"})), node("web-1", "web", hostedOn("vm-1"))),
		},
	},
	{
		name: "node both hosted on and depending on one node",
		apps: []topology.Application{app("a", tmpls(tmpl("t")),
			node("db-1", "t"), node("web-1", "t", hostedOn("db-1"), dependsOn("db-1")))},
	},
	{
		name: "empty application ID",
		apps: []topology.Application{app("ok", nil), app("", tmpls(tmpl("t")))},
		want: []problem{{`application #2`, topology.ErrInvalid, "no ID"}},
	},
	{
		name: "empty template ID",
		apps: []topology.Application{app("shop", tmpls(tmpl("t"), tmpl("")))},
		want: []problem{{`application "shop" template #2`, topology.ErrInvalid, "no ID"}},
	},
	{
		name: "empty node ID",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")), node("n-1", "t"), node("", "t"))},
		want: []problem{{`application "shop" node #2`, topology.ErrInvalid, "no ID"}},
	},
	{
		name: "duplicate application",
		apps: []topology.Application{app("shop", tmpls(tmpl("t1"))), app("shop", tmpls(tmpl("t2")))},
		want: []problem{{`application "shop"`, topology.ErrInvalid, "duplicate application ID"}},
	},
	{
		name: "duplicate template in one application",
		apps: []topology.Application{app("shop", tmpls(tmpl("tomcat_server"), tmpl("tomcat_server")))},
		want: []problem{{`template "tomcat_server"`, topology.ErrInvalid, `duplicate template ID (listed twice in application "shop")`}},
	},
	{
		name: "duplicate template across applications",
		apps: []topology.Application{app("shop", tmpls(tmpl("tomcat_server"))), app("billing", tmpls(tmpl("tomcat_server")))},
		want: []problem{{`template "tomcat_server"`, topology.ErrInvalid, `duplicate template ID (also in application "shop")`}},
	},
	{
		name: "duplicate node in one application",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")), node("tomcat-1", "t"), node("tomcat-1", "t"))},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, "duplicate node ID"}},
	},
	{
		name: "duplicate node across applications",
		apps: []topology.Application{
			app("shop", tmpls(tmpl("t1")), node("tomcat-1", "t1")),
			app("billing", tmpls(tmpl("t2")), node("tomcat-1", "t2")),
		},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, "duplicate node ID"}},
	},
	{
		name: "template without type",
		apps: []topology.Application{app("shop", tmpls(topology.Template{ID: "tomcat_server", Version: v("8.5.100")}))},
		want: []problem{{`template "tomcat_server"`, topology.ErrInvalid, "no type"}},
	},
	{
		name: "template with blank type",
		apps: []topology.Application{app("shop", tmpls(topology.Template{ID: "tomcat_server", Type: " \t"}))},
		want: []problem{{`template "tomcat_server"`, topology.ErrInvalid, "no type"}},
	},
	{
		name: "node without template",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")), node("tomcat-1", ""))},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, "no template"}},
	},
	{
		name: "node with unknown template",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")), node("tomcat-1", "tomcat_server"))},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, `unknown template "tomcat_server"`}},
	},
	{
		name: "relationship with unknown relation",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")),
			node("java-1", "t"),
			node("tomcat-1", "t", topology.Relationship{Relation: "runs_on", Target: "java-1"}))},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, `relationship to "java-1": unknown relation "runs_on": give "hosted_on"`}},
	},
	{
		name: "relationship with empty relation",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")),
			node("java-1", "t"),
			node("tomcat-1", "t", topology.Relationship{Target: "java-1"}))},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, `names no relation`}},
	},
	{
		name: "relationship to itself",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")), node("tomcat-1", "t", dependsOn("tomcat-1")))},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, "depends_on itself"}},
	},
	{
		name: "relationship to unknown node",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")), node("tomcat-1", "t", hostedOn("java-9")))},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, `hosted_on unknown node "java-9"`}},
	},
	{
		name: "node hosted on two nodes",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")),
			node("java-1", "t"), node("java-2", "t"),
			node("tomcat-1", "t", hostedOn("java-1"), hostedOn("java-2")))},
		want: []problem{{`node "tomcat-1"`, topology.ErrInvalid, "hosted on 2 nodes"}},
	},
	{
		name: "requirement naming unknown template",
		apps: []topology.Application{app("shop", tmpls(
			tmpl("shop_app", topology.Requirement{Name: "host", Template: "tomcat_server", Constraint: c(">=8.5")})))},
		want: []problem{{`template "shop_app"`, topology.ErrInvalid, `requirement "host" names unknown template "tomcat_server"`}},
	},
	{
		name: "two-node cycle",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")),
			node("tomcat-1", "t", hostedOn("java-1")),
			node("java-1", "t", hostedOn("tomcat-1")))},
		want: []problem{{`node "java-1"`, topology.ErrCycle, "java-1 → tomcat-1 → java-1"}},
	},
	{
		name: "three-node cycle across relation kinds",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")),
			node("c", "t", dependsOn("a")),
			node("b", "t", hostedOn("c")),
			node("a", "t", hostedOn("b")),
			node("d", "t", hostedOn("a")))},
		want: []problem{{`node "a"`, topology.ErrCycle, "a → b → c → a"}},
	},
	{
		name: "cycle across applications",
		apps: []topology.Application{
			app("shop", tmpls(tmpl("t1")), node("x", "t1", dependsOn("y"))),
			app("billing", tmpls(tmpl("t2")), node("y", "t2", dependsOn("x"))),
		},
		want: []problem{{`node "x"`, topology.ErrCycle, "x → y → x"}},
	},
	{
		name: "two separate cycles",
		apps: []topology.Application{app("shop", tmpls(tmpl("t")),
			node("a", "t", dependsOn("b")), node("b", "t", dependsOn("a")),
			node("m", "t", dependsOn("n")), node("n", "t", dependsOn("m")))},
		want: []problem{
			{`node "a"`, topology.ErrCycle, "a → b → a"},
			{`node "m"`, topology.ErrCycle, "m → n → m"},
		},
	},
	{
		name: "several problems at once",
		apps: []topology.Application{
			app("shop",
				tmpls(
					tmpl("shop_app", topology.Requirement{Template: "tomcat"}),
					topology.Template{ID: "untyped"},
				),
				node("shop-1", "shop_app", hostedOn("tomcat-1")),
				node("shop-2", "missing"),
				node("a", "untyped", dependsOn("b")),
				node("b", "untyped", dependsOn("a")),
			),
			app("shop", tmpls(tmpl("untyped")), node("shop-1", "shop_app")),
		},
		want: []problem{
			{`application "shop"`, topology.ErrInvalid, "duplicate application ID"},
			{`template "untyped"`, topology.ErrInvalid, "no type"},
			{`template "untyped"`, topology.ErrInvalid, "duplicate template ID"},
			{`node "shop-1"`, topology.ErrInvalid, "duplicate node ID"},
			{`template "shop_app"`, topology.ErrInvalid, `names unknown template "tomcat"`},
			{`node "shop-1"`, topology.ErrInvalid, `hosted_on unknown node "tomcat-1"`},
			{`node "shop-2"`, topology.ErrInvalid, `unknown template "missing"`},
			{`node "a"`, topology.ErrCycle, "a → b → a"},
		},
	},
}

// checkProblems asserts that err reports exactly the problems in want.
func checkProblems(t *testing.T, err error, want []problem) {
	t.Helper()
	if len(want) == 0 {
		assert.NoError(t, err)
		return
	}
	require.Error(t, err)
	for _, w := range want {
		assert.ErrorIs(t, err, w.is)
	}
	var first *topology.Error
	assert.ErrorAs(t, err, &first)

	got := problems(t, err)
	assert.Len(t, got, len(want), "problems: %v", err)
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && g.Item == w.item && errors.Is(g, w.is) && strings.Contains(g.Error(), w.msg) {
				used[i], found = true, true
				break
			}
		}
		assert.True(t, found, "no problem %s matching %v %q among:\n%v", w.item, w.is, w.msg, err)
	}
	for _, g := range got {
		assert.Contains(t, g.Error(), "topology: "+g.Item+": ", "a problem's message starts with its item")
	}
}

// builderFor returns a Builder holding apps, or false when a Builder cannot
// say the same thing (it merges applications by ID and cannot add an
// application with neither templates nor nodes).
func builderFor(apps []topology.Application) (*topology.Builder, bool) {
	b := new(topology.Builder)
	seen := map[topology.AppID]bool{}
	for _, a := range apps {
		if seen[a.ID] || len(a.Templates)+len(a.Nodes) == 0 {
			return nil, false
		}
		seen[a.ID] = true
		for _, t := range a.Templates {
			b.Template(a.ID, t)
		}
		for _, n := range a.Nodes {
			b.Node(a.ID, n)
		}
	}
	return b, true
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, topology.Validate(tt.apps...), tt.want)
		})
	}
}

func TestNew(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.New(tt.apps...)
			checkProblems(t, err, tt.want)
			if len(tt.want) > 0 {
				assert.Nil(t, m)
				return
			}
			require.NotNil(t, m)
			wantIDs := []topology.AppID{}
			for _, a := range tt.apps {
				wantIDs = append(wantIDs, a.ID)
			}
			gotIDs := []topology.AppID{}
			for _, a := range m.Applications() {
				gotIDs = append(gotIDs, a.ID)
			}
			assert.ElementsMatch(t, wantIDs, gotIDs)
		})
	}
}

func TestBuilderBuild(t *testing.T) {
	ran := 0
	for _, tt := range validateTests {
		b, ok := builderFor(tt.apps)
		if !ok {
			continue
		}
		ran++
		t.Run(tt.name, func(t *testing.T) {
			m, err := b.Build()
			checkProblems(t, err, tt.want)
			if len(tt.want) > 0 {
				assert.Nil(t, m)
			} else {
				assert.NotNil(t, m)
			}
		})
	}
	require.Greater(t, ran, len(validateTests)/2, "most cases must be expressible with a Builder")
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Error", &topology.Error{Item: `node "tomcat-1"`, Err: topology.ErrInvalid}, `topology: node "tomcat-1": invalid topology`},
		{"NotFoundError", &topology.NotFoundError{Kind: "node", ID: "tomcat-9"}, `topology: node "tomcat-9" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.EqualError(t, tt.err, tt.want)
		})
	}
	assert.ErrorIs(t, &topology.Error{Item: "x", Err: topology.ErrCycle}, topology.ErrCycle)
	assert.NotErrorIs(t, &topology.Error{Item: "x", Err: topology.ErrCycle}, topology.ErrInvalid)
	assert.ErrorIs(t, &topology.NotFoundError{Kind: "application", ID: "a"}, topology.ErrNotFound)
	assert.NotErrorIs(t, &topology.NotFoundError{Kind: "application", ID: "a"}, topology.ErrInvalid)
}
