package topology_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// aboveStack is app b on ctx on tomcat t1 on jdk j1, b requiring the JDK
// below 17 and the Tomcat at 9 or above; the Tomcat requires the JDK.
func aboveStack(t *testing.T, extra ...topology.Node) *topology.Memory {
	t.Helper()
	vv := version.MustParse
	cc := version.MustParseConstraint
	b := new(topology.Builder).
		Template("plat", topology.Template{ID: "jdk", Type: "jdk", Version: vv("11.0.1")}).
		Template("plat", topology.Template{ID: "tomcat", Type: "tomcat", Version: vv("9.0.1"),
			Requirements: []topology.Requirement{{Template: "jdk", Constraint: cc(">=8")}}}).
		Template("plat", topology.Template{ID: "ctx", Type: "context", Version: vv("1.0.0")}).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: vv("3.1.0"),
			Requirements: []topology.Requirement{{Template: "jdk", Constraint: cc("<17"), Relation: topology.HostedOn},
				{Template: "tomcat", Constraint: cc(">=9")}}}).
		Node("plat", topology.Node{ID: "j1", Template: "jdk"}).
		Node("plat", topology.Node{ID: "t1", Template: "tomcat", Relationships: rels(hostedOn("j1"))}).
		Node("plat", topology.Node{ID: "c1", Template: "ctx", Relationships: rels(hostedOn("t1"))}).
		Node("billing", topology.Node{ID: "b", Template: "billing_app", Relationships: rels(hostedOn("c1"))})
	for _, n := range extra {
		b.Node("billing", n)
	}
	m, err := b.Build()
	require.NoError(t, err)
	return m
}

func TestMemoryAbove(t *testing.T) {
	ctx := context.Background()
	m := aboveStack(t)
	above, err := m.Above(ctx, "j1")
	require.NoError(t, err)
	assert.Equal(t, []topology.Dependent{{App: "billing", Node: "b", Template: "billing_app", Relation: topology.HostedOn,
		Constraint: version.MustParseConstraint("<17")}}, above, "b reaches j1 through c1 and t1; its constraint is its template's on jdk")
	deps, err := m.Dependents(ctx, "j1")
	require.NoError(t, err)
	assert.Len(t, deps, 1, "Dependents stays direct: t1 only")

	above, err = m.Above(ctx, "t1")
	require.NoError(t, err)
	require.Len(t, above, 1)
	assert.Equal(t, "b", string(above[0].Node))
	assert.Equal(t, ">=9", above[0].Constraint.String())

	for _, id := range []topology.NodeID{"c1", "b"} {
		above, err = m.Above(ctx, id)
		require.NoError(t, err)
		assert.Empty(t, above, "nothing above %s requires its template", id)
	}
	_, err = m.Above(ctx, "nope")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.Above(cancelled, "j1")
	assert.ErrorIs(t, err, context.Canceled)
}

// TestMemoryAboveLeavesDirectToDependents checks that a node with a
// relationship to the node is left to Dependents, even when it reaches
// it another way too.
func TestMemoryAboveLeavesDirectToDependents(t *testing.T) {
	m := aboveStack(t, topology.Node{ID: "b2", Template: "billing_app", Relationships: rels(hostedOn("c1"), dependsOn("j1"))})
	above, err := m.Above(context.Background(), "j1")
	require.NoError(t, err)
	require.Len(t, above, 1)
	assert.Equal(t, topology.NodeID("b"), above[0].Node)
}

// TestMemoryAboveStopsAtSameTemplate checks that a requirement binds the
// first node of its template down the way, not those beneath it.
func TestMemoryAboveStopsAtSameTemplate(t *testing.T) {
	m := aboveStack(t,
		topology.Node{ID: "j-top", Template: "jdk", Relationships: rels(hostedOn("t1"))},
		topology.Node{ID: "b3", Template: "billing_app", Relationships: rels(hostedOn("j-top"))})
	above, err := m.Above(context.Background(), "j1")
	require.NoError(t, err)
	require.Len(t, above, 1, "b3 runs on j-top, not on j1: %v", above)
	above, err = m.Above(context.Background(), "j-top")
	require.NoError(t, err)
	assert.Empty(t, above, "b3 is a direct dependent of j-top")
}

// TestMemoryAboveMatchesDefinition compares Above, for every node of
// random topologies, with its definition worked out the slow way: from
// every node down, for each requirement.
func TestMemoryAboveMatchesDefinition(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 11))
		nTemplates, nNodes := 2+rng.IntN(5), 2+rng.IntN(25)
		app := topology.Application{ID: "a"}
		for i := range nTemplates {
			tp := topology.Template{ID: topology.TemplateID(fmt.Sprintf("t%d", i)), Type: "x", Version: version.MustParse("1.0.0")}
			for range rng.IntN(3) {
				tp.Requirements = append(tp.Requirements, topology.Requirement{Template: topology.TemplateID(fmt.Sprintf("t%d", rng.IntN(nTemplates))),
					Constraint: version.MustParseConstraint(fmt.Sprintf(">=%d", rng.IntN(3)))})
			}
			app.Templates = append(app.Templates, tp)
		}
		for i := range nNodes { // relationships to earlier nodes only: no cycle
			n := topology.Node{ID: topology.NodeID(fmt.Sprintf("n%02d", i)), Template: topology.TemplateID(fmt.Sprintf("t%d", rng.IntN(nTemplates)))}
			targets := map[int]bool{}
			for range rng.IntN(3) {
				if i > 0 {
					targets[rng.IntN(i)] = true
				}
			}
			for _, j := range slices.Sorted(func(yield func(int) bool) {
				for j := range targets {
					if !yield(j) {
						return
					}
				}
			}) {
				n.Relationships = append(n.Relationships, dependsOn(topology.NodeID(fmt.Sprintf("n%02d", j))))
			}
			app.Nodes = append(app.Nodes, n)
		}
		m, err := topology.New(app)
		require.NoError(t, err, "seed %d", seed)

		nodes := map[topology.NodeID]*topology.Node{}
		for i := range app.Nodes {
			nodes[app.Nodes[i].ID] = &app.Nodes[i]
		}
		want := map[topology.NodeID][]topology.Dependent{}
		for _, n := range app.Nodes {
			tp, _ := app.Template(n.Template)
			direct := map[topology.NodeID]bool{}
			for _, r := range n.Relationships {
				direct[r.Target] = true
			}
			for _, req := range tp.Requirements {
				seen := map[topology.NodeID]bool{n.ID: true}
				queue := []topology.NodeID{n.ID}
				for len(queue) > 0 {
					x := queue[0]
					queue = queue[1:]
					for _, r := range nodes[x].Relationships {
						if seen[r.Target] {
							continue
						}
						seen[r.Target] = true
						if nodes[r.Target].Template != req.Template {
							queue = append(queue, r.Target)
						} else if !direct[r.Target] {
							want[r.Target] = append(want[r.Target], topology.Dependent{App: "a", Node: n.ID, Template: n.Template, Constraint: req.Constraint})
						}
					}
				}
			}
		}
		for _, n := range app.Nodes {
			got, err := m.Above(ctx, n.ID)
			require.NoError(t, err)
			w := want[n.ID]
			slices.SortFunc(w, func(a, b topology.Dependent) int {
				return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Constraint.String(), b.Constraint.String()))
			})
			require.Equal(t, fmt.Sprint(w), fmt.Sprint(got), "seed %d, node %s, topology %+v", seed, n.ID, app)
		}
	}
}

// TestMemoryAboveConcurrent checks that Above is safe for concurrent use
// and that its result is the caller's to change.
func TestMemoryAboveConcurrent(t *testing.T) {
	m := aboveStack(t)
	ctx := context.Background()
	want, err := m.Above(ctx, "j1")
	require.NoError(t, err)
	want = slices.Clone(want)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				got, err := m.Above(ctx, "j1")
				if assert.NoError(t, err) && assert.Equal(t, want, got) {
					got[0].Node = "scribbled"
				}
			}
		})
	}
	wg.Wait()
}
