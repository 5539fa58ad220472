// Package dag orders the steps of a plan.
package dag

import "container/heap"

// Order returns the vertices 0..n-1 in a topological order of the graph in
// which vertex i comes after every vertex in deps(i). Among the vertices
// ready at any point the lowest index comes first, so the result depends
// only on the graph and the numbering.
//
// When the graph has a cycle, Order returns nil and the vertices of one
// cycle, in order, the first repeated at the end.
func Order(n int, deps func(i int) []int) (order, cycle []int) {
	indegree := make([]int, n)
	dependents := make([][]int, n)
	for i := range n {
		for _, d := range deps(i) {
			indegree[i]++
			dependents[d] = append(dependents[d], i)
		}
	}
	ready := make(intHeap, 0, n)
	for i, d := range indegree {
		if d == 0 {
			ready = append(ready, i)
		}
	}
	heap.Init(&ready)
	order = make([]int, 0, n)
	for ready.Len() > 0 {
		i := heap.Pop(&ready).(int)
		order = append(order, i)
		for _, j := range dependents[i] {
			if indegree[j]--; indegree[j] == 0 {
				heap.Push(&ready, j)
			}
		}
	}
	if len(order) == n {
		return order, nil
	}
	return nil, findCycle(n, deps, indegree)
}

// findCycle walks back along deps from a vertex left with a positive
// indegree; every such vertex has a dependency also left, so the walk must
// revisit a vertex.
func findCycle(n int, deps func(i int) []int, indegree []int) []int {
	start := -1
	for i := range n {
		if indegree[i] > 0 {
			start = i
			break
		}
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
		for _, d := range deps(v) {
			if indegree[d] > 0 {
				next = d
				break
			}
		}
		if next < 0 {
			return path // unreachable: a vertex left over always has a dependency left over
		}
		v = next
	}
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
