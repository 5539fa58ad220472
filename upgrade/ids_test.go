package upgrade_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hostileIDs are identifiers an attacker might slip into a request, a
// topology or a package source.
var hostileIDs = map[string]string{
	"shell":     "tomcat-1$(touch pwned)",
	"quote":     "a'b",
	"backquote": "a`id`",
	"newline":   "x\nFAKE LINE",
	"ansi":      "\x1b[2J",
	"option":    "-rf",
	"empty":     "",
	"lookalike": "t\u043emcat",
	"too long":  strings.Repeat("a", topology.MaxIDLength+1),
	"separator": "a\u2028b",
	"bad utf8":  "a\xffb",
}

// countingTopology counts the calls made to the topology it wraps.
type countingTopology struct {
	topology.Topology
	calls atomic.Int64
}

func (c *countingTopology) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	c.calls.Add(1)
	return c.Topology.Application(ctx, id)
}

func (c *countingTopology) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	c.calls.Add(1)
	return c.Topology.Node(ctx, id)
}

// checkOneLine asserts that msg holds no control character or line
// separator.
func checkOneLine(t *testing.T, msg string) {
	t.Helper()
	for _, r := range msg {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			assert.Fail(t, "raw control character in message", "%U in %q", r, msg)
			return
		}
	}
}

// TestPlanRefusesHostileRequestIDs checks that every identifier of a
// request is checked before planning: the error names the request and the
// field, wraps the *topology.IDError, and neither the topology nor the
// source was asked anything.
func TestPlanRefusesHostileRequestIDs(t *testing.T) {
	fields := []struct {
		field string
		kind  string
		set   func(r *upgrade.Request, id string)
	}{
		{"Application", "application", func(r *upgrade.Request, id string) { r.Application = topology.AppID(id) }},
		{"Replaces", "template", func(r *upgrade.Request, id string) { r.Replaces = topology.TemplateID(id) }},
		{"Template.ID", "template", func(r *upgrade.Request, id string) { r.Template.ID = topology.TemplateID(id) }},
		{"Template.Type", "type", func(r *upgrade.Request, id string) { r.Template.Type = id }},
		{"Template.Requirements[1].Name", "requirement name", func(r *upgrade.Request, id string) { r.Template.Requirements[1].Name = id }},
		{"Template.Requirements[1].Template", "template", func(r *upgrade.Request, id string) {
			r.Template.Requirements[1].Template = topology.TemplateID(id)
		}},
	}
	for _, f := range fields {
		for name, id := range hostileIDs {
			if id == "" && (f.field == "Template.Type" || strings.HasSuffix(f.field, ".Name")) {
				continue // optional
			}
			t.Run(f.field+"/"+name, func(t *testing.T) {
				topo := &countingTopology{Topology: build(t, shopBuilder(1))}
				var listed atomic.Int64
				src := pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
					listed.Add(1)
					return catalogue(t).Packages(ctx, typ)
				})
				planner := upgrade.NewPlanner(topo, src)
				good := shop2("java_runtime", ">=11", "tomcat_server", ">=9")
				bad := shop2("java_runtime", ">=11", "tomcat_server", ">=9")
				bad.Application, bad.Replaces = "billing", "billing_app" // no duplicate of good
				f.set(&bad, id)
				plan, err := planner.PlanAll(t.Context(), good, bad)
				require.Error(t, err)
				assert.Nil(t, plan)
				assert.Zero(t, topo.calls.Load(), "the topology was asked nothing")
				assert.Zero(t, listed.Load(), "the source was asked nothing")

				assert.ErrorIs(t, err, upgrade.ErrInvalidRequest)
				var re *upgrade.RequestError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, 1, re.Request, "the error names the request")
				assert.Equal(t, f.field, re.Field, "the error names the field")
				assert.Contains(t, err.Error(), "request #2: "+f.field)
				if id != "" {
					assert.ErrorIs(t, err, topology.ErrInvalidID)
					var idErr *topology.IDError
					require.ErrorAs(t, err, &idErr)
					assert.Equal(t, f.kind, idErr.Kind)
					assert.Equal(t, id, idErr.ID)
				}
				checkOneLine(t, err.Error())
			})
		}
	}
}

// hostileTopology hands out a copy of what the topology it wraps holds,
// changed by the functions given: a caller's own Topology implementation
// need not validate what it returns.
type hostileTopology struct {
	topology.Topology
	app        func(*topology.Application)
	node       func(*topology.Node)
	template   func(*topology.Template)
	dependents func([]topology.Dependent)
}

func (h *hostileTopology) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	a, err := h.Topology.Application(ctx, id)
	if err != nil || h.app == nil {
		return a, err
	}
	c := *a
	c.Nodes = slices.Clone(a.Nodes)
	for i := range c.Nodes {
		c.Nodes[i].Relationships = slices.Clone(c.Nodes[i].Relationships)
	}
	h.app(&c)
	return &c, nil
}

func (h *hostileTopology) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	n, err := h.Topology.Node(ctx, id)
	if err != nil || h.node == nil {
		return n, err
	}
	c := *n
	c.Relationships = slices.Clone(n.Relationships)
	h.node(&c)
	return &c, nil
}

func (h *hostileTopology) Template(ctx context.Context, id topology.TemplateID) (*topology.Template, error) {
	tm, err := h.Topology.Template(ctx, id)
	if err != nil || h.template == nil {
		return tm, err
	}
	c := *tm
	h.template(&c)
	return &c, nil
}

func (h *hostileTopology) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	ds, err := h.Topology.Dependents(ctx, id)
	if err != nil || h.dependents == nil {
		return ds, err
	}
	ds = slices.Clone(ds)
	h.dependents(ds)
	return ds, nil
}

// TestPlanRefusesHostileTopologyIDs checks that identifiers a caller's
// Topology returns are checked before they reach a step.
func TestPlanRefusesHostileTopologyIDs(t *testing.T) {
	cases := []struct {
		name string
		kind string
		make func(id string) *hostileTopology
	}{
		{"replaced node ID", "node", func(id string) *hostileTopology {
			return &hostileTopology{app: func(a *topology.Application) {
				for i := range a.Nodes {
					if a.Nodes[i].ID == "shop-1" {
						a.Nodes[i].ID = topology.NodeID(id)
					}
				}
			}}
		}},
		{"relationship target of a replaced node", "node", func(id string) *hostileTopology {
			return &hostileTopology{app: func(a *topology.Application) {
				for i := range a.Nodes {
					if a.Nodes[i].ID == "shop-1" {
						a.Nodes[i].Relationships[0].Target = topology.NodeID(id)
					}
				}
			}}
		}},
		{"platform node ID", "node", func(id string) *hostileTopology {
			return &hostileTopology{node: func(n *topology.Node) {
				if n.ID == "tomcat-1" {
					n.ID = topology.NodeID(id)
				}
			}}
		}},
		{"platform node template", "template", func(id string) *hostileTopology {
			return &hostileTopology{node: func(n *topology.Node) {
				if n.ID == "java-1" {
					n.Template = topology.TemplateID(id)
				}
			}}
		}},
		{"platform node application", "application", func(id string) *hostileTopology {
			return &hostileTopology{node: func(n *topology.Node) {
				if n.ID == "tomcat-1" && id != "" {
					n.App = topology.AppID(id)
				}
			}}
		}},
		{"platform relationship target", "node", func(id string) *hostileTopology {
			return &hostileTopology{node: func(n *topology.Node) {
				if n.ID == "tomcat-1" {
					n.Relationships[0].Target = topology.NodeID(id)
				}
			}}
		}},
		{"platform template type", "type", func(id string) *hostileTopology {
			return &hostileTopology{template: func(tm *topology.Template) {
				if tm.ID == "tomcat_server" {
					tm.Type = id
				}
			}}
		}},
		{"dependent node", "node", func(id string) *hostileTopology {
			return &hostileTopology{dependents: func(ds []topology.Dependent) {
				for i := range ds {
					ds[i].Node = topology.NodeID(id)
				}
			}}
		}},
		{"dependent application", "application", func(id string) *hostileTopology {
			return &hostileTopology{dependents: func(ds []topology.Dependent) {
				for i := range ds {
					ds[i].App = topology.AppID(id)
				}
			}}
		}},
		{"dependent template", "template", func(id string) *hostileTopology {
			return &hostileTopology{dependents: func(ds []topology.Dependent) {
				for i := range ds {
					ds[i].Template = topology.TemplateID(id)
				}
			}}
		}},
	}
	// Billing shares tomcat-1 and keeps it below 10: its demand is in the
	// plan, and names billing-1. The wrapper itself changes nothing when it
	// is told nothing.
	shop := func() *topology.Memory { return build(t, withBilling(shopBuilder(1), "<10")) }
	plain := &hostileTopology{Topology: shop()}
	_, err := upgrade.NewPlanner(plain, catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=9"))
	require.NoError(t, err)

	for _, tc := range cases {
		for name, id := range hostileIDs {
			if id == "" && tc.kind == "application" {
				continue // a node without App is the topology's to leave out
			}
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				topo := tc.make(id)
				topo.Topology = shop()
				plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=9"))
				require.Error(t, err)
				assert.Nil(t, plan)
				assert.ErrorIs(t, err, topology.ErrInvalidID)
				assert.ErrorIs(t, err, topology.ErrInvalid)
				var idErr *topology.IDError
				require.ErrorAs(t, err, &idErr)
				assert.Equal(t, tc.kind, idErr.Kind)
				assert.Equal(t, id, idErr.ID)
				var te *topology.Error
				require.ErrorAs(t, err, &te, "the error names the item")
				assert.NotEmpty(t, te.Item)
				checkOneLine(t, err.Error())
			})
		}
	}
}

// TestPlanRefusesHostilePackageRequires checks that the package types a
// source returns in a package's Requires are checked before planning goes
// on to them.
func TestPlanRefusesHostilePackageRequires(t *testing.T) {
	for name, id := range hostileIDs {
		if id == "" {
			continue // pkgsource's Validate refuses a requirement without a type
		}
		t.Run(name, func(t *testing.T) {
			var asked []string
			src := pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
				asked = append(asked, typ)
				if typ != "tomcat" {
					return nil, nil
				}
				p := pkg("tomcat", "10.1.34")
				p.Requires = []pkgsource.Requirement{{Type: id, Constraint: c(">=11")}}
				return []pkgsource.Package{p}, nil
			})
			plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(t.Context(), shop2("tomcat_server", ">=9"))
			require.Error(t, err)
			assert.Nil(t, plan)
			assert.Equal(t, []string{"tomcat"}, asked, "the hostile type was never asked for")
			if !errors.Is(err, topology.ErrInvalidID) {
				// pkgsource may refuse it first, as malformed.
				assert.ErrorIs(t, err, pkgsource.ErrInvalid)
			} else {
				var idErr *topology.IDError
				require.ErrorAs(t, err, &idErr)
				assert.Equal(t, id, idErr.ID)
			}
			var pe *pkgsource.PackageError
			require.ErrorAs(t, err, &pe, "the error names the package")
			assert.Equal(t, "tomcat 10.1.34", pe.Package.String())
			checkOneLine(t, err.Error())
		})
	}
}

// TestPlanRefusesHostileDependentOnTheWayUp checks that a hostile
// identifier in a dependent that is no co-tenant itself (the node being
// replaced) fails the plan, naming it, and is never passed back to the
// topology: the planner walks up past every dependent to find the
// co-tenants above it (nodes whose templates require the platform node's,
// at any height), and a node it cannot walk past could hide one.
func TestPlanRefusesHostileDependentOnTheWayUp(t *testing.T) {
	const hostile = "shop-1$(touch pwned)"
	var asked []topology.NodeID
	topo := &hostileTopology{Topology: build(t, shopBuilder(1)), dependents: func(ds []topology.Dependent) {
		for i := range ds {
			if ds[i].Node == "shop-1" {
				ds[i].Node = hostile
			}
		}
	}}
	plan, err := upgrade.NewPlanner(&recordingTopology{Topology: topo, asked: &asked}, catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=9"))
	require.Error(t, err)
	assert.Nil(t, plan)
	assert.ErrorIs(t, err, topology.ErrInvalidID)
	var idErr *topology.IDError
	require.ErrorAs(t, err, &idErr)
	assert.Equal(t, hostile, idErr.ID)
	assert.Contains(t, err.Error(), `dependent #1 of node "tomcat-1"`)
	assert.NotContains(t, asked, topology.NodeID(hostile), "the hostile ID never went back to the topology")
	checkOneLine(t, err.Error())
}

// recordingTopology records the nodes whose Dependents were asked for.
type recordingTopology struct {
	topology.Topology
	asked *[]topology.NodeID
}

func (r *recordingTopology) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	*r.asked = append(*r.asked, id)
	return r.Topology.Dependents(ctx, id)
}

// TestPlanRefusesHostileCotenantNames checks the two other ways a
// dependent's identifiers reach a plan or an error: as the co-tenant that
// names a demand shared by several (the first in order), and among all the
// co-tenants a conflict names.
func TestPlanRefusesHostileCotenantNames(t *testing.T) {
	const hostile = "a'b" // sorts before billing-1
	// Two billing nodes on tomcat-1 with one constraint; the topology
	// lists the hostile one second.
	b := withBilling(shopBuilder(1), "<10").
		Node("billing", topology.Node{ID: "billing-2", Template: "billing_app", Relationships: on("tomcat-1")})
	topo := &hostileTopology{Topology: build(t, b), dependents: func(ds []topology.Dependent) {
		for i := range ds {
			if ds[i].Node == "billing-2" {
				ds[i].Node = hostile
			}
		}
	}}
	for name, req := range map[string]upgrade.Request{
		"naming":   shop2("tomcat_server", ">=9"),  // billing rules out 10 and 11: named in the verdicts
		"conflict": shop2("tomcat_server", ">=10"), // billing allows nothing wanted: a conflict names all
	} {
		t.Run(name, func(t *testing.T) {
			plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(t.Context(), req)
			require.Error(t, err)
			assert.Nil(t, plan)
			assert.ErrorIs(t, err, topology.ErrInvalidID)
			var idErr *topology.IDError
			require.ErrorAs(t, err, &idErr)
			assert.Equal(t, hostile, idErr.ID)
			assert.Contains(t, err.Error(), `dependent #`)
			assert.Contains(t, err.Error(), `of node "tomcat-1"`)
		})
	}
	// Unchanged, the topology plans.
	_, err := upgrade.NewPlanner(build(t, b), catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=9"))
	require.NoError(t, err)
}

// TestPlanRefusesHugeReplacedNodeID: a topology that lists, among the
// nodes a request replaces, one whose ID is 64 MiB long is refused, as any
// ID over topology.MaxIDLength is, without the planner allocating about as
// much again: it reserves room for the steps' IDs before it checks the
// nodes, as if none were longer than MaxIDLength.
func TestPlanRefusesHugeReplacedNodeID(t *testing.T) {
	const size = 64 << 20
	id := strings.Repeat("n", size)
	topo := &hostileTopology{Topology: build(t, shopBuilder(1)), app: func(a *topology.Application) {
		for i := range a.Nodes {
			if a.Nodes[i].ID == "shop-1" {
				a.Nodes[i].ID = topology.NodeID(id)
			}
		}
	}}
	planner := upgrade.NewPlanner(topo, catalogue(t))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := planner.Plan(t.Context(), shop2("tomcat_server", ">=9"))
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, topology.ErrInvalidID)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(size/4), "bytes allocated to refuse the node")
}
