package dag

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// build turns lists of dependencies into a Graph.
func build(deps [][]int) *Graph {
	start := []int32{0}
	var flat []int32
	for _, d := range deps {
		for _, j := range d {
			flat = append(flat, int32(j))
		}
		start = append(start, int32(len(flat)))
	}
	return New(start, flat)
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name      string
		deps      [][]int
		order     []int
		cycle     []int
		wantCycle bool
	}{
		{name: "empty", deps: nil, order: []int{}},
		{name: "independent in index order", deps: [][]int{{}, {}, {}}, order: []int{0, 1, 2}},
		{name: "dependencies first", deps: [][]int{{2}, {}, {1}}, order: []int{1, 2, 0}},
		{name: "lowest ready index first", deps: [][]int{{3}, {}, {1}, {}}, order: []int{1, 2, 3, 0}},
		{name: "diamond", deps: [][]int{{}, {0}, {0}, {1, 2}}, order: []int{0, 1, 2, 3}},
		{name: "self loop", deps: [][]int{{0}}, cycle: []int{0, 0}, wantCycle: true},
		{name: "two cycle", deps: [][]int{{}, {2}, {1}}, cycle: []int{1, 2, 1}, wantCycle: true},
		{name: "three cycle behind a ready vertex", deps: [][]int{{}, {3, 0}, {1}, {2}}, cycle: []int{1, 2, 3, 1}, wantCycle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(tt.deps)
			order, cycle := g.Order()
			if tt.wantCycle {
				assert.Nil(t, order)
				assert.Equal(t, tt.cycle, cycle)
				return
			}
			assert.Nil(t, cycle)
			assert.Equal(t, tt.order, order)
		})
	}
}

func TestGraphNeighbours(t *testing.T) {
	deps := [][]int{{}, {0}, {0, 1}, {2}}
	g := build(deps)
	assert.Equal(t, 4, g.Len())
	assert.Equal(t, []int32{0, 1}, g.Deps(2))
	assert.Equal(t, []int32{1, 2}, g.Next(0))
	assert.Equal(t, []int32{3}, g.Next(2))
	assert.Empty(t, g.Next(3))
}

func TestHeapSorts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		var in []int
		h := Heap{Less: func(a, b int) bool { return a < b }}
		for range rng.IntN(100) {
			x := rng.IntN(50)
			in = append(in, x)
			h.Push(x)
		}
		var out []int
		for h.Len() > 0 {
			out = append(out, h.Pop())
		}
		slices.Sort(in)
		assert.Equal(t, in, out)
	}
}
