// Package dag holds the graph of a plan's steps: vertices 0..n-1, each
// with the vertices it comes after, stored compactly, and a deterministic
// topological order.
package dag

import (
	"math/bits"
	"slices"
)

// Graph is a directed acyclic graph in compressed form: the dependencies
// of vertex i are deps[start[i]:start[i+1]], its dependents
// nexts[nstart[i]:nstart[i+1]].
type Graph struct {
	start, deps   []int32
	nstart, nexts []int32
}

// New builds the graph in which vertex i comes after the vertices
// deps[start[i]:start[i+1]]; start has one entry more than there are
// vertices. New keeps both slices.
func New(start, deps []int32) *Graph {
	n := len(start) - 1
	g := &Graph{start: start, deps: deps, nstart: make([]int32, n+1)}
	for _, j := range deps {
		g.nstart[j+1]++
	}
	for i := range n {
		g.nstart[i+1] += g.nstart[i]
	}
	g.nexts = make([]int32, len(deps))
	fill := make([]int32, n)
	for i := range n {
		for _, j := range g.Deps(i) {
			g.nexts[g.nstart[j]+fill[j]] = int32(i)
			fill[j]++
		}
	}
	return g
}

// Len returns the number of vertices.
func (g *Graph) Len() int { return len(g.start) - 1 }

// Deps returns the vertices i comes after.
func (g *Graph) Deps(i int) []int32 { return g.deps[g.start[i]:g.start[i+1]] }

// Next returns the vertices that come after i.
func (g *Graph) Next(i int) []int32 { return g.nexts[g.nstart[i]:g.nstart[i+1]] }

// Order returns the vertices in a topological order. Among the vertices
// ready at any point the lowest comes first, so the result depends only on
// the graph and the numbering.
//
// When the graph has a cycle, Order returns nil and the vertices of one
// cycle, in order, the first repeated at the end.
func (g *Graph) Order() (order, cycle []int) {
	n := g.Len()
	indegree := make([]int32, n)
	ready := newMinSet(n)
	for i := range n {
		indegree[i] = int32(len(g.Deps(i)))
		if indegree[i] == 0 {
			ready.Push(i)
		}
	}
	order = make([]int, 0, n)
	for {
		i := ready.Pop()
		if i < 0 {
			break
		}
		order = append(order, i)
		for _, j := range g.Next(i) {
			if indegree[j]--; indegree[j] == 0 {
				ready.Push(int(j))
			}
		}
	}
	if len(order) == n {
		return order, nil
	}
	return nil, g.findCycle(indegree)
}

// findCycle walks back along dependencies from a vertex left with a
// positive indegree; every such vertex has a dependency also left, so the
// walk must revisit a vertex.
func (g *Graph) findCycle(indegree []int32) []int {
	start := 0
	for indegree[start] == 0 {
		start++
	}
	pos := map[int]int{}
	var path []int
	for v := start; ; {
		if p, seen := pos[v]; seen {
			cycle := append(path[p:], v)
			// Reverse so that each vertex is followed by one that depends on it.
			slices.Reverse(cycle)
			return cycle
		}
		pos[v] = len(path)
		path = append(path, v)
		next := -1
		for _, d := range g.Deps(v) {
			if indegree[d] > 0 {
				next = int(d)
				break
			}
		}
		if next < 0 {
			return path // unreachable: a vertex left over always has a dependency left over
		}
		v = next
	}
}

// minSet is a set of the ints 0 to n-1 that gives up its least member
// quickly: a bit per member, and a bit per word of those that is not zero.
// Unlike a heap, it costs no comparisons, and its bits fit in the caches.
type minSet struct {
	words, summary []uint64
	low            int // no word of summary below this has a bit set
}

func newMinSet(n int) *minSet {
	words := (n + 63) / 64
	return &minSet{words: make([]uint64, words), summary: make([]uint64, (words+63)/64)}
}

// Push adds i.
func (s *minSet) Push(i int) {
	w := i / 64
	s.words[w] |= 1 << (i % 64)
	s.summary[w/64] |= 1 << (w % 64)
	s.low = min(s.low, w/64)
}

// Pop removes and returns the least member, or -1 when there is none.
func (s *minSet) Pop() int {
	for ; s.low < len(s.summary); s.low++ {
		if sw := s.summary[s.low]; sw != 0 {
			w := s.low*64 + bits.TrailingZeros64(sw)
			b := bits.TrailingZeros64(s.words[w])
			if s.words[w] &^= 1 << b; s.words[w] == 0 {
				s.summary[s.low] &^= 1 << (w % 64)
			}
			return w*64 + b
		}
	}
	return -1
}
