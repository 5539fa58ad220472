package topology_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

func TestMemoryApplication(t *testing.T) {
	m := mustShop(t)
	ctx := context.Background()

	a, err := m.Application(ctx, "shop")
	require.NoError(t, err)
	assert.Equal(t, topology.AppID("shop"), a.ID)
	assert.Len(t, a.Templates, 4)
	require.Len(t, a.Nodes, 12)
	for _, n := range a.Nodes {
		assert.Equal(t, topology.AppID("shop"), n.App, "node %s", n.ID)
		assert.False(t, n.Version.IsZero(), "node %s has its template's version", n.ID)
	}
	tomcat3 := a.NodesOf("tomcat_server")[2]
	assert.Equal(t, topology.NodeID("tomcat-3"), tomcat3.ID)
	assert.Equal(t, "8.5.96", tomcat3.Version.String(), "a node's own version is kept")

	b, err := m.Application(ctx, "billing")
	require.NoError(t, err)
	require.Len(t, b.Nodes, 1)
	assert.Equal(t, topology.AppID("billing"), b.Nodes[0].App)
	assert.Equal(t, "2.1.0", b.Nodes[0].Version.String())
}

// Application and Template hand out the Memory's own, for reading;
// Applications hands out copies, which callers may change.
func TestMemoryApplicationIsSharedApplicationsAreCopies(t *testing.T) {
	m := mustShop(t)
	ctx := context.Background()
	own, err := m.Application(ctx, "shop")
	require.NoError(t, err)
	again, err := m.Application(ctx, "shop")
	require.NoError(t, err)
	assert.Same(t, own, again, "Application copies nothing")
	tmpl, err := m.Template(ctx, "tomcat_server")
	require.NoError(t, err)
	inApp, ok := own.Template("tomcat_server")
	require.True(t, ok)
	assert.Same(t, inApp, tmpl, "Template copies nothing")
	want := m.Applications()[1]
	require.Equal(t, *own, want)

	mutations := []struct {
		name   string
		mutate func(a *topology.Application)
	}{
		{"application ID", func(a *topology.Application) { a.ID = "changed" }},
		{"template field", func(a *topology.Application) { a.Templates[0].Type = "changed" }},
		{"template version", func(a *topology.Application) { a.Templates[1].Version = v("99.0.0") }},
		{"requirement", func(a *topology.Application) {
			a.Templates[0].Requirements[0].Template = "changed"
			a.Templates[0].Requirements[0].Constraint = c("<1")
		}},
		{"requirements appended", func(a *topology.Application) {
			a.Templates[3].Requirements = append(a.Templates[3].Requirements, topology.Requirement{Template: "x"})
		}},
		{"node field", func(a *topology.Application) { a.Nodes[0].Version = v("0.1.0"); a.Nodes[0].App = "x" }},
		{"relationship", func(a *topology.Application) { a.Nodes[1].Relationships[0].Target = "changed" }},
		{"relationships appended", func(a *topology.Application) {
			a.Nodes[0].Relationships = append(a.Nodes[0].Relationships, dependsOn("java-1"))
		}},
		{"nodes reordered", func(a *topology.Application) { a.Nodes[0], a.Nodes[1] = a.Nodes[1], a.Nodes[0] }},
		{"templates cleared", func(a *topology.Application) { clear(a.Templates) }},
		{"template pointer", func(a *topology.Application) {
			tp, ok := a.Template("tomcat_server")
			require.True(t, ok)
			tp.Version = v("9.0.0")
		}},
	}
	for _, mu := range mutations {
		t.Run(mu.name, func(t *testing.T) {
			got := m.Applications()[1]
			require.Equal(t, want, got)
			mu.mutate(&got)
			require.NotEqual(t, want, got, "the mutation must change the copy")
			assert.Equal(t, want, *own)
			assert.Equal(t, want, m.Applications()[1])
		})
	}
}

func TestMemoryCopiesItsInput(t *testing.T) {
	apps := shopApps(1)
	m, err := topology.New(apps...)
	require.NoError(t, err)

	apps[0].Templates[0].Requirements[0].Constraint = c("<1")
	apps[0].Nodes[1].Relationships[0].Target = "elsewhere"
	apps[0].Nodes[0].ID = "renamed"

	a, err := m.Application(context.Background(), "shop")
	require.NoError(t, err)
	assert.Equal(t, ">=8.5, <9", a.Templates[0].Requirements[0].Constraint.String())
	assert.Equal(t, topology.NodeID("vm-1"), a.Nodes[1].Relationships[0].Target)
	_, err = m.Node(context.Background(), "vm-1")
	assert.NoError(t, err)
	_, err = m.Node(context.Background(), "renamed")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	assert.Zero(t, apps[0].Nodes[1].App, "New must not write into its argument")
	assert.True(t, apps[0].Nodes[1].Version.IsZero(), "New must not write into its argument")
}

func TestMemoryNode(t *testing.T) {
	m := mustShop(t)
	tests := []struct {
		id       topology.NodeID
		app      topology.AppID
		template topology.TemplateID
		version  string
		rels     []topology.Relationship
	}{
		{"vm-1", "shop", "ubuntu_os", "18.4.0", nil},
		{"java-2", "shop", "java_runtime", "8.0.402", rels(hostedOn("vm-2"))},
		{"tomcat-1", "shop", "tomcat_server", "8.5.100", rels(hostedOn("java-1"))},
		{"tomcat-3", "shop", "tomcat_server", "8.5.96", rels(hostedOn("java-3"))},
		{"shop-3", "shop", "shop_app", "1.4.0", rels(hostedOn("tomcat-3"))},
		{"billing-1", "billing", "billing_app", "2.1.0", rels(hostedOn("tomcat-1"))},
	}
	for _, tt := range tests {
		t.Run(string(tt.id), func(t *testing.T) {
			n, err := m.Node(context.Background(), tt.id)
			require.NoError(t, err)
			require.NotNil(t, n)
			assert.Equal(t, tt.id, n.ID)
			assert.Equal(t, tt.app, n.App)
			assert.Equal(t, tt.template, n.Template)
			assert.Equal(t, tt.version, n.Version.Canonical().String())
			assert.Equal(t, tt.rels, n.Relationships)

			again, err := m.Node(context.Background(), tt.id)
			require.NoError(t, err)
			assert.Same(t, n, again, "Node copies nothing")
		})
	}
}

// dep is a Dependent with its constraint as text ("" for the zero
// Constraint), so that expectations read plainly.
type dep struct {
	App        topology.AppID
	Node       topology.NodeID
	Template   topology.TemplateID
	Relation   topology.Relation
	Constraint string
}

func deps(ds []topology.Dependent) []dep {
	out := []dep{}
	for _, d := range ds {
		s := ""
		if !d.Constraint.IsZero() {
			s = d.Constraint.String()
		}
		out = append(out, dep{d.App, d.Node, d.Template, d.Relation, s})
	}
	return out
}

func TestMemoryDependents(t *testing.T) {
	shop := shopApps(3)
	// agent-1, in a third application, depends on tomcat-1 and java-1;
	// its template has two requirements on tomcat_server and none on
	// java_runtime.
	monitoring := app("monitoring",
		tmpls(topology.Template{ID: "monitor", Type: "agent", Version: v("3.0.0"), Requirements: []topology.Requirement{
			{Name: "jmx", Template: "tomcat_server", Constraint: c(">=8.5.90"), Relation: topology.DependsOn},
			{Name: "logs", Template: "tomcat_server", Constraint: c("<10"), Relation: topology.DependsOn},
			{Name: "os", Template: "ubuntu_os", Constraint: c("18.x"), Relation: topology.DependsOn},
		}}),
		node("agent-1", "monitor", dependsOn("tomcat-1"), dependsOn("java-1")),
	)
	m, err := topology.New(append(shop, monitoring)...)
	require.NoError(t, err)

	tests := []struct {
		id   topology.NodeID
		want []dep
	}{
		{"tomcat-1", []dep{
			{"billing", "billing-1", "billing_app", topology.HostedOn, ">=8.5.50"},
			{"monitoring", "agent-1", "monitor", topology.DependsOn, "<10"},
			{"monitoring", "agent-1", "monitor", topology.DependsOn, ">=8.5.90"},
			{"shop", "shop-1", "shop_app", topology.HostedOn, ">=8.5, <9"},
		}},
		{"tomcat-2", []dep{
			{"shop", "shop-2", "shop_app", topology.HostedOn, ">=8.5, <9"},
		}},
		{"java-1", []dep{
			{"monitoring", "agent-1", "monitor", topology.DependsOn, ""},
			{"shop", "tomcat-1", "tomcat_server", topology.HostedOn, ">=8"},
		}},
		{"vm-3", []dep{
			{"shop", "java-3", "java_runtime", topology.HostedOn, ""},
		}},
		{"shop-1", []dep{}},
		{"agent-1", []dep{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.id), func(t *testing.T) {
			got, err := m.Dependents(context.Background(), tt.id)
			require.NoError(t, err)
			assert.Equal(t, tt.want, deps(got))

			again, err := m.Dependents(context.Background(), tt.id)
			require.NoError(t, err)
			assert.Equal(t, tt.want, deps(again))
		})
	}
}

// AppDependents lists, for each node of an application that has
// dependents, exactly what Dependents lists for it, whichever application
// the dependents are in; an unknown application is not found, and a
// cancelled context is refused.
func TestMemoryAppDependents(t *testing.T) {
	shop := shopApps(3)
	monitoring := app("monitoring",
		tmpls(topology.Template{ID: "monitor", Type: "agent", Version: v("3.0.0"), Requirements: []topology.Requirement{
			{Name: "jmx", Template: "tomcat_server", Constraint: c(">=8.5.90"), Relation: topology.DependsOn},
		}}),
		node("agent-1", "monitor", dependsOn("tomcat-1"), dependsOn("java-1")),
	)
	m, err := topology.New(append(shop, monitoring)...)
	require.NoError(t, err)
	ctx := context.Background()
	for _, a := range m.Applications() {
		byNode, err := m.AppDependents(ctx, a.ID)
		require.NoError(t, err)
		listed := 0
		for _, n := range a.Nodes {
			want, err := m.Dependents(ctx, n.ID)
			require.NoError(t, err)
			got, ok := byNode[n.ID]
			assert.Equal(t, len(want) > 0, ok, "node %s listed only with dependents", n.ID)
			assert.Equal(t, deps(want), deps(got), "node %s", n.ID)
			if ok {
				listed++
			}
		}
		assert.Len(t, byNode, listed, "application %s: only its own nodes", a.ID)
	}
	shopDeps, err := m.AppDependents(ctx, "shop")
	require.NoError(t, err)
	assert.Contains(t, deps(shopDeps["tomcat-1"]), dep{"monitoring", "agent-1", "monitor", topology.DependsOn, ">=8.5.90"},
		"a dependent in another application")
	_, err = m.AppDependents(ctx, "nope")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.AppDependents(cancelled, "shop")
	assert.ErrorIs(t, err, context.Canceled)
}

// The list Dependents returns is the Memory's, but appending to it leaves
// the Memory, and what other callers were given, as they are.
func TestMemoryDependentsAppendIsolated(t *testing.T) {
	var b topology.Builder
	b.Template("a", topology.Template{ID: "host", Type: "os", Version: v("1.0.0")}).
		Template("a", topology.Template{ID: "app", Type: "web", Version: v("1.0.0")}).
		Node("a", topology.Node{ID: "h", Template: "host"})
	for _, id := range []topology.NodeID{"n1", "n2", "n3"} { // three: appended one by one, room for a fourth
		b.Node("a", topology.Node{ID: id, Template: "app", Relationships: rels(hostedOn("h"))})
	}
	m, err := b.Build()
	require.NoError(t, err)
	ctx := context.Background()
	first, err := m.Dependents(ctx, "h")
	require.NoError(t, err)
	second, err := m.Dependents(ctx, "h")
	require.NoError(t, err)
	require.Len(t, first, 3)
	_ = append(first, topology.Dependent{Node: "appended"})
	assert.Equal(t, deps(first), deps(second[:cap(second)]), "nothing appended behind another caller's list")
	again, err := m.Dependents(ctx, "h")
	require.NoError(t, err)
	assert.Len(t, again, 3)
}

func TestMemoryDependentsDeterministic(t *testing.T) {
	// Many dependents with equal sort keys but for the node; build the
	// topology repeatedly so that map order gets a chance to show.
	apps := shopApps(1)
	for i := range 20 {
		apps[1].Nodes = append(apps[1].Nodes, node(topology.NodeID(fmt.Sprintf("billing-%02d", i+2)), "billing_app", hostedOn("tomcat-1")))
	}
	first := mustDependents(t, apps, "tomcat-1")
	require.Len(t, first, 22)
	for i := 1; i < len(first); i++ {
		assert.LessOrEqual(t, string(first[i-1].App)+"/"+string(first[i-1].Node), string(first[i].App)+"/"+string(first[i].Node))
	}
	for range 20 {
		assert.Equal(t, first, mustDependents(t, apps, "tomcat-1"))
	}
}

func mustDependents(t *testing.T, apps []topology.Application, id topology.NodeID) []dep {
	t.Helper()
	m, err := topology.New(apps...)
	require.NoError(t, err)
	ds, err := m.Dependents(context.Background(), id)
	require.NoError(t, err)
	return deps(ds)
}

func TestMemoryNotFound(t *testing.T) {
	m := mustShop(t)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() (any, error)
		kind string
		id   string
	}{
		{"Application", func() (any, error) { return m.Application(ctx, "crm") }, "application", "crm"},
		{"Application empty ID", func() (any, error) { return m.Application(ctx, "") }, "application", ""},
		{"Application by node ID", func() (any, error) { return m.Application(ctx, "shop-1") }, "application", "shop-1"},
		{"Node", func() (any, error) { return m.Node(ctx, "tomcat-9") }, "node", "tomcat-9"},
		{"Node by application ID", func() (any, error) { return m.Node(ctx, "shop") }, "node", "shop"},
		{"Dependents", func() (any, error) { return m.Dependents(ctx, "tomcat-9") }, "node", "tomcat-9"},
		{"Dependents by template ID", func() (any, error) { return m.Dependents(ctx, "tomcat_server") }, "node", "tomcat_server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			require.Error(t, err)
			assert.ErrorIs(t, err, topology.ErrNotFound)
			var nf *topology.NotFoundError
			require.ErrorAs(t, err, &nf)
			assert.Equal(t, tt.kind, nf.Kind)
			assert.Equal(t, tt.id, nf.ID)
			assert.Contains(t, err.Error(), fmt.Sprintf("%s %q not found", tt.kind, tt.id))
			assert.Nil(t, got)
		})
	}
}

func TestMemoryContext(t *testing.T) {
	m := mustShop(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()

	calls := []struct {
		name string
		call func(ctx context.Context) (any, error)
	}{
		{"Application", func(ctx context.Context) (any, error) { return m.Application(ctx, "shop") }},
		{"Node", func(ctx context.Context) (any, error) { return m.Node(ctx, "tomcat-1") }},
		{"Dependents", func(ctx context.Context) (any, error) { return m.Dependents(ctx, "tomcat-1") }},
		{"Application unknown", func(ctx context.Context) (any, error) { return m.Application(ctx, "crm") }},
		{"Node unknown", func(ctx context.Context) (any, error) { return m.Node(ctx, "tomcat-9") }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call(canceled)
			assert.ErrorIs(t, err, context.Canceled)
			assert.NotErrorIs(t, err, topology.ErrNotFound)
			assert.Nil(t, got)

			got, err = tt.call(expired)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Nil(t, got)
		})
	}
}

func TestMemoryApplications(t *testing.T) {
	tests := []struct {
		name string
		apps []topology.Application
		want []topology.AppID
	}{
		{"none", nil, []topology.AppID{}},
		{"shop", shopApps(2), []topology.AppID{"billing", "shop"}},
		{"unsorted input", []topology.Application{
			app("zeta", nil), app("alpha", tmpls(tmpl("t")), node("n", "t")), app("Mid", nil), app("mid", nil),
		}, []topology.AppID{"Mid", "alpha", "mid", "zeta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.New(tt.apps...)
			require.NoError(t, err)
			got := []topology.AppID{}
			for _, a := range m.Applications() {
				got = append(got, a.ID)
				one, err := m.Application(context.Background(), a.ID)
				require.NoError(t, err)
				assert.Equal(t, *one, a, "Applications and Application agree")
			}
			assert.Equal(t, tt.want, got)
		})
	}

	m := mustShop(t)
	apps := m.Applications()
	apps[1].Nodes[0].Relationships = rels(hostedOn("x"))
	apps[1].Templates[0].Requirements[0].Template = "x"
	again := m.Applications()
	assert.Empty(t, again[1].Nodes[0].Relationships, "Applications returns copies")
	assert.Equal(t, topology.TemplateID("tomcat_server"), again[1].Templates[0].Requirements[0].Template, "Applications returns copies")
}

func TestMemoryConcurrentReads(t *testing.T) {
	m := mustShop(t)
	var want bytes.Buffer
	require.NoError(t, m.WriteJSON(&want))
	wantDeps, err := m.Dependents(context.Background(), "tomcat-1")
	require.NoError(t, err)

	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				id := topology.NodeID(fmt.Sprintf("tomcat-%d", 1+(g+i)%3))
				n, err := m.Node(ctx, id)
				if assert.NoError(t, err) {
					assert.Equal(t, id, n.ID)
				}
				a, err := m.Application(ctx, "shop")
				if assert.NoError(t, err) {
					// Shared too: read only.
					assert.Equal(t, topology.TemplateID("tomcat_server"), a.Templates[0].Requirements[0].Template)
				}
				copies := m.Applications()
				copies[1].Nodes[0].Version = v("0.0.1") // a caller's copy
				copies[1].Templates[0].Requirements[0].Template = "scribbled"
				ds, err := m.Dependents(ctx, "tomcat-1")
				if assert.NoError(t, err) {
					// Shared with m, and with the other readers: read only.
					assert.Equal(t, deps(wantDeps), deps(ds))
				}
				if i%10 == 0 {
					var buf bytes.Buffer
					assert.NoError(t, m.WriteJSON(&buf))
					assert.Equal(t, want.String(), buf.String())
				}
			}
		})
	}
	wg.Wait()

	var after bytes.Buffer
	require.NoError(t, m.WriteJSON(&after))
	assert.Equal(t, want.String(), after.String(), "readers' scribbles must not reach the Memory")
}

func TestApplicationTemplate(t *testing.T) {
	a := shopApps(1)[0]
	tests := []struct {
		id      topology.TemplateID
		ok      bool
		index   int
		typ     string
		version string
	}{
		{"shop_app", true, 0, "webapp", "1.4.0"},
		{"java_runtime", true, 2, "jdk", "8.0.402"},
		{"ubuntu_os", true, 3, "ubuntu", "18.4.0"},
		{"billing_app", false, 0, "", ""},
		{"", false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.id), func(t *testing.T) {
			got, ok := a.Template(tt.id)
			assert.Equal(t, tt.ok, ok)
			if !tt.ok {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Same(t, &a.Templates[tt.index], got, "Template points into the application")
			assert.Equal(t, tt.id, got.ID)
			assert.Equal(t, tt.typ, got.Type)
			assert.Equal(t, tt.version, got.Version.Canonical().String())
		})
	}
	var empty topology.Application
	got, ok := empty.Template("x")
	assert.False(t, ok)
	assert.Nil(t, got)
}

func TestApplicationNodesOf(t *testing.T) {
	a := shopApps(3)[0]
	a.Nodes = append(a.Nodes, node("tomcat-0", "tomcat_server"))
	tests := []struct {
		id   topology.TemplateID
		want []topology.NodeID
	}{
		{"tomcat_server", []topology.NodeID{"tomcat-1", "tomcat-2", "tomcat-3", "tomcat-0"}},
		{"ubuntu_os", []topology.NodeID{"vm-1", "vm-2", "vm-3"}},
		{"billing_app", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.id), func(t *testing.T) {
			got := a.NodesOf(tt.id)
			var ids []topology.NodeID
			for _, n := range got {
				assert.Equal(t, tt.id, n.Template)
				ids = append(ids, n.ID)
			}
			assert.Equal(t, tt.want, ids)
		})
	}
	three := a.NodesOf("tomcat_server")[2]
	assert.Equal(t, "8.5.96", three.Version.String(), "NodesOf returns the nodes as they are")
}

func TestBuilder(t *testing.T) {
	b := new(topology.Builder).
		Node("shop", node("shop-1", "shop_app", hostedOn("tomcat-1"))).
		Template("platform", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.80")}).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("^9")}}}).
		Node("platform", node("tomcat-1", "tomcat_server"))
	first, err := b.Build()
	require.NoError(t, err)

	shop, err := first.Application(context.Background(), "shop")
	require.NoError(t, err)
	assert.Len(t, shop.Templates, 1)
	assert.Len(t, shop.Nodes, 1)
	n, err := first.Node(context.Background(), "shop-1")
	require.NoError(t, err)
	assert.Equal(t, topology.AppID("shop"), n.App)
	assert.Equal(t, "2.0.0", n.Version.String())

	// Adding to a Builder after Build does not change what was built, and a
	// second Build sees the addition.
	b.Node("shop", node("shop-2", "shop_app", hostedOn("tomcat-1")))
	_, err = first.Node(context.Background(), "shop-2")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	second, err := b.Build()
	require.NoError(t, err)
	ds, err := second.Dependents(context.Background(), "tomcat-1")
	require.NoError(t, err)
	assert.Equal(t, []dep{
		{"shop", "shop-1", "shop_app", topology.HostedOn, "^9"},
		{"shop", "shop-2", "shop_app", topology.HostedOn, "^9"},
	}, deps(ds))

	// A broken addition makes Build fail with every problem.
	b.Node("shop", node("shop-2", "shop_app", hostedOn("tomcat-9")))
	_, err = b.Build()
	require.Error(t, err)
	assert.Len(t, problems(t, err), 1)
	assert.ErrorIs(t, err, topology.ErrInvalid)

	var zero topology.Builder
	m, err := zero.Build()
	require.NoError(t, err)
	assert.Empty(t, m.Applications())
}

// TestValidateErrorsOnOneLine checks that several problems print on one
// line, counted, and one problem as it is, as every package's errors do.
func TestValidateErrorsOnOneLine(t *testing.T) {
	_, err := topology.New(topology.Application{ID: "shop", Nodes: []topology.Node{{ID: "a", Template: "nope"}, {ID: "b", Template: "nope"}}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "\n")
	assert.NotContains(t, err.Error(), "occurred")
	assert.Regexp(t, `^2 problems: topology: node "a": .*; topology: node "b": `, err.Error())

	_, err = topology.New(topology.Application{ID: "shop", Nodes: []topology.Node{{ID: "a", Template: "nope"}}})
	require.Error(t, err)
	assert.Regexp(t, `^topology: node "a": [^;]*$`, err.Error())

	assert.Equal(t, "x", topology.JoinErrors([]error{errors.New("x")}))
	assert.Equal(t, "3 problems: x; y; z", topology.JoinErrors([]error{errors.New("x"), errors.New("y"), errors.New("z")}))
}

// TestValidateManyProblems: a file with a problem on each of its
// thousands of nodes gets a message of the first 50 and a count, not one
// as large as the file; the error still holds every problem.
func TestValidateManyProblems(t *testing.T) {
	app := topology.Application{ID: "shop"}
	for i := range 1000 {
		app.Nodes = append(app.Nodes, topology.Node{ID: topology.NodeID(fmt.Sprintf("n%04d", i)), Template: "nope"})
	}
	_, err := topology.New(app)
	require.Error(t, err)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "1000 problems: "), msg[:min(len(msg), 80)])
	assert.Contains(t, msg, `node "n0049"`)
	assert.NotContains(t, msg, `node "n0050"`)
	assert.True(t, strings.HasSuffix(msg, "; and 950 more"), msg[max(0, len(msg)-80):])
	assert.Less(t, len(msg), 10000)
	var all *multierror.Error
	require.ErrorAs(t, err, &all)
	assert.Len(t, all.Errors, 1000)
	assert.ErrorIs(t, err, topology.ErrInvalid)
}
