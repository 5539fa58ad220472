package fleet

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
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
