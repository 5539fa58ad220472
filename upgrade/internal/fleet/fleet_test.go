package fleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// mix counts a fleet's nodes by layer (or "app") and installed version, and
// its requests by constraint.
func mix(t *testing.T, f *Fleet) (installed, demanded map[string]int) {
	t.Helper()
	installed, demanded = map[string]int{}, map[string]int{}
	nodes := 0
	for _, a := range f.Topology.Applications() {
		for _, n := range a.Nodes {
			nodes++
			layer := string(n.Template)
			if a.ID != "platform" {
				layer = "app"
			}
			installed[layer+" "+n.Version.String()]++
		}
	}
	require.Equal(t, f.Nodes, nodes)
	for _, r := range f.Requests {
		demanded[r.Template.Requirements[0].Constraint.String()]++
	}
	return installed, demanded
}

func TestSameConfigSameFleet(t *testing.T) {
	c := Config{Seed: 3, Apps: 50, Instances: 4, Stacks: 20, Versions: 50}
	a, err := New(c)
	require.NoError(t, err)
	b, err := New(c)
	require.NoError(t, err)
	assert.Equal(t, a.Topology.Applications(), b.Topology.Applications())
	assert.Equal(t, a.Requests, b.Requests)
	c.Seed++
	other, err := New(c)
	require.NoError(t, err)
	assert.NotEqual(t, a.Topology.Applications(), other.Topology.Applications())
}

// A fleet ten times the size is the same mix ten times over, with IDs as
// long: what BenchmarkPlanAll's growth figure relies on.
func TestTenfoldFleetIsScaleModel(t *testing.T) {
	small, err := New(Config{Seed: 2, Apps: 1000, Instances: 10, Stacks: 100, Versions: 50})
	require.NoError(t, err)
	big, err := New(Config{Seed: 2, Apps: 10000, Instances: 10, Stacks: 1000, Versions: 50})
	require.NoError(t, err)
	smallInstalled, smallDemanded := mix(t, small)
	bigInstalled, bigDemanded := mix(t, big)
	tenfold := func(m map[string]int) map[string]int {
		out := maps.Clone(m)
		for k := range out {
			out[k] *= 10
		}
		return out
	}
	assert.Equal(t, tenfold(smallInstalled), bigInstalled)
	assert.Equal(t, tenfold(smallDemanded), bigDemanded)
	assert.Len(t, smallDemanded, 5, "needs 1.5 to 1.9")

	// Each pair of server and runtime versions has its share of the stacks.
	pairs := func(f *Fleet, stacks int) map[string]int {
		out := map[string]int{}
		ctx := context.Background()
		for s := range stacks {
			srv, err := f.Topology.Node(ctx, topology.NodeID(fmt.Sprintf("srv-%05d", s)))
			require.NoError(t, err)
			rt, err := f.Topology.Node(ctx, srv.Relationships[0].Target)
			require.NoError(t, err)
			out[srv.Version.String()+" on "+rt.Version.String()]++
		}
		return out
	}
	smallPairs := pairs(small, 100)
	assert.Len(t, smallPairs, 100)
	assert.Equal(t, tenfold(smallPairs), pairs(big, 1000))

	for _, id := range []string{string(small.Requests[999].Application), string(big.Requests[9999].Application)} {
		assert.Len(t, id, len("app-00000"), id)
	}
}

// The fleet is what the package says: Apps applications of Instances nodes
// on shared stacks of three layers, and Versions packages per type, each
// upgrading from the ten versions before it (a From chain) and requiring a
// newer version of the layer beneath (transitive Requires), so that
// planning one request upgrades every layer, some in several hops.
func TestFleetShapeAndCatalogue(t *testing.T) {
	c := Config{Seed: 4, Apps: 60, Instances: 5, Stacks: 20, Versions: 50}
	f, err := New(c)
	require.NoError(t, err)
	ctx := context.Background()

	apps := f.Topology.Applications()
	require.Len(t, apps, c.Apps+1, "the applications and the platform")
	require.Len(t, f.Requests, c.Apps)
	appsOnStack := map[topology.NodeID]map[topology.AppID]bool{}
	for _, a := range apps {
		if a.ID == "platform" {
			assert.Len(t, a.Nodes, 3*c.Stacks)
			continue
		}
		require.Len(t, a.Nodes, c.Instances, a.ID)
		for _, n := range a.Nodes {
			srv := n.Relationships[0].Target
			if appsOnStack[srv] == nil {
				appsOnStack[srv] = map[topology.AppID]bool{}
			}
			appsOnStack[srv][a.ID] = true
		}
	}
	shared := 0
	for _, on := range appsOnStack {
		if len(on) > 1 {
			shared++
		}
	}
	assert.Greater(t, shared, c.Stacks/2, "most stacks run nodes of several applications")

	below := map[string]string{"tomcat": "jdk", "jdk": "ubuntu"}
	for _, typ := range []string{"ubuntu", "jdk", "tomcat"} {
		ps, err := f.Source.Packages(ctx, typ)
		require.NoError(t, err)
		require.Len(t, ps, c.Versions, typ)
		for i, p := range ps {
			assert.Equal(t, versionAt(i), p.Version, typ)
			if i == 0 {
				continue
			}
			assert.True(t, p.From.Allows(versionAt(max(i-10, 0))), "%s %s upgrades from ten versions back", typ, p.Version)
			assert.True(t, p.From.Allows(versionAt(i-1)), "%s %s upgrades from the one before", typ, p.Version)
			assert.False(t, p.From.Allows(p.Version), "%s %s does not upgrade from itself", typ, p.Version)
			if i > 10 {
				assert.False(t, p.From.Allows(versionAt(i-11)), "%s %s: more than ten back takes hops", typ, p.Version)
			}
			if typ == "ubuntu" {
				assert.Empty(t, p.Requires, typ)
				continue
			}
			require.Len(t, p.Requires, 1, "%s %s", typ, p.Version)
			assert.Equal(t, below[typ], p.Requires[0].Type)
		}
	}

	// One request: every layer gets steps, and some node several hops.
	plan, err := upgrade.NewPlanner(f.Topology, f.Source).Plan(ctx, f.Requests[0])
	require.NoError(t, err)
	types, hops := map[string]bool{}, map[topology.NodeID]int{}
	for _, s := range plan.Steps {
		types[s.Type] = true
		if s.Kind == upgrade.Platform {
			hops[s.Node]++
		}
	}
	assert.Equal(t, map[string]bool{"webapp": true, "tomcat": true, "jdk": true, "ubuntu": true}, types)
	assert.Greater(t, slices.Max(slices.Collect(maps.Values(hops))), 1, "some node takes several hops")
}
