// Package dag holds the graph of a plan's steps: vertices 0..n-1, each
// with the vertices it comes after, stored compactly, and a deterministic
// topological order.
package dag

// Graph is a directed acyclic graph in compressed form: the dependencies
// of vertex i are deps[start[i]:start[i+1]], its dependents
// next[nstart[i]:nstart[i+1]].
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
	ready := Heap{Less: func(a, b int) bool { return a < b }}
	for i := range n {
		indegree[i] = int32(len(g.Deps(i)))
		if indegree[i] == 0 {
			ready.Push(i)
		}
	}
	order = make([]int, 0, n)
	for ready.Len() > 0 {
		i := ready.Pop()
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
			for i, j := 0, len(cycle)-1; i < j; i, j = i+1, j-1 {
				cycle[i], cycle[j] = cycle[j], cycle[i]
			}
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

// Heap is a binary min-heap of ints under Less, without the boxing of
// container/heap.
type Heap struct {
	Less  func(a, b int) bool
	items []int
}

// Len returns the number of items.
func (h *Heap) Len() int { return len(h.items) }

// Push adds x.
func (h *Heap) Push(x int) {
	h.items = append(h.items, x)
	for i := len(h.items) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.Less(h.items[i], h.items[parent]) {
			break
		}
		h.items[i], h.items[parent] = h.items[parent], h.items[i]
		i = parent
	}
}

// Pop removes and returns the least item. The heap must not be empty.
func (h *Heap) Pop() int {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < last && h.Less(h.items[l], h.items[least]) {
			least = l
		}
		if r < last && h.Less(h.items[r], h.items[least]) {
			least = r
		}
		if least == i {
			return top
		}
		h.items[i], h.items[least] = h.items[least], h.items[i]
		i = least
	}
}
