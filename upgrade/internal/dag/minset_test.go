package dag

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refSet is the reference for minSet: a sorted slice without repeats.
type refSet struct{ items []int }

func (r *refSet) Push(i int) {
	if k, found := slices.BinarySearch(r.items, i); !found {
		r.items = slices.Insert(r.items, k, i)
	}
}

func (r *refSet) Pop() int {
	if len(r.items) == 0 {
		return -1
	}
	x := r.items[0]
	r.items = r.items[1:]
	return x
}

func TestMinSetEmpty(t *testing.T) {
	for _, n := range []int{0, 1, 64, 4096, 5000} {
		s := newMinSet(n)
		assert.Equal(t, -1, s.Pop(), "n=%d", n)
		assert.Equal(t, -1, s.Pop(), "n=%d, again", n)
	}
	s := newMinSet(100)
	s.Push(99)
	assert.Equal(t, 99, s.Pop())
	assert.Equal(t, -1, s.Pop(), "emptied")
	s.Push(0)
	assert.Equal(t, 0, s.Pop(), "refilled below where it was")
	assert.Equal(t, -1, s.Pop())
}

func TestMinSetBoundaries(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 127, 128, 4095, 4096, 4097, 8192, 262144 + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var edges []int
			for _, x := range []int{0, 1, 62, 63, 64, 65, 127, 128, 4031, 4032, 4095, 4096, 4097, 8191, 8192, 262143, 262144, n - 2, n - 1} {
				if x >= 0 && x < n && !slices.Contains(edges, x) {
					edges = append(edges, x)
				}
			}
			s := newMinSet(n)
			// Pushed in descending order, popped in ascending order.
			for _, x := range slices.Backward(slices.Sorted(slices.Values(edges))) {
				s.Push(x)
			}
			var got []int
			for x := s.Pop(); x >= 0; x = s.Pop() {
				got = append(got, x)
			}
			assert.Equal(t, slices.Sorted(slices.Values(edges)), got)

			// Each boundary value pushed after pops that moved past it.
			for _, x := range edges {
				s.Push(n - 1)
				assert.Equal(t, n-1, s.Pop())
				s.Push(x)
				if x < n-1 {
					s.Push(n - 1)
				}
				assert.Equal(t, x, s.Pop(), "pushed %d after popping %d", x, n-1)
				if x < n-1 {
					assert.Equal(t, n-1, s.Pop())
				}
				assert.Equal(t, -1, s.Pop())
			}
		})
	}
}

func TestMinSetAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	for _, n := range []int{1, 2, 63, 64, 65, 200, 4095, 4096, 4097, 10000, 300000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := newMinSet(n)
			var ref refSet
			special := []int{0, 63, 64, 4095, 4096, n - 1}
			pick := func() int {
				switch r := rng.IntN(10); {
				case r == 0:
					x := special[rng.IntN(len(special))]
					if x < n {
						return x
					}
					return n - 1
				case r <= 3 && len(ref.items) > 0:
					// Just below the least member: below the current
					// minimum, after pops have moved past it.
					return max(0, ref.items[0]-1-rng.IntN(130))
				case r == 4 && len(ref.items) > 0:
					return ref.items[rng.IntN(len(ref.items))] // already there
				}
				return rng.IntN(n)
			}
			for op := range 4000 {
				if rng.IntN(5) < 3 {
					x := pick()
					s.Push(x)
					ref.Push(x)
				} else {
					want := ref.Pop()
					require.Equal(t, want, s.Pop(), "op %d: pop", op)
				}
			}
			// Drain.
			for want := ref.Pop(); ; want = ref.Pop() {
				require.Equal(t, want, s.Pop())
				if want < 0 {
					break
				}
			}
			require.Equal(t, -1, s.Pop())
		})
	}
}

func TestMinSetAgainstHeap(t *testing.T) {
	// Distinct members only: the Heap keeps repeats, the set does not.
	rng := rand.New(rand.NewPCG(9, 9))
	const n = 5000
	s := newMinSet(n)
	h := Heap{Less: func(a, b int) bool { return a < b }}
	in := make([]bool, n)
	for op := range 20000 {
		if x := rng.IntN(n); !in[x] && rng.IntN(2) == 0 {
			in[x] = true
			s.Push(x)
			h.Push(x)
			continue
		}
		if h.Len() == 0 {
			require.Equal(t, -1, s.Pop(), "op %d", op)
			continue
		}
		x := h.Pop()
		in[x] = false
		require.Equal(t, x, s.Pop(), "op %d", op)
	}
}

// refOrder is Kahn's algorithm taking, at each turn, the least vertex
// whose dependencies are all done, found by a scan.
func refOrder(deps [][]int) []int {
	n := len(deps)
	done := make([]bool, n)
	order := []int{}
	for len(order) < n {
		next := -1
		for i := 0; i < n && next < 0; i++ {
			if done[i] {
				continue
			}
			ready := true
			for _, d := range deps[i] {
				if !done[d] {
					ready = false
					break
				}
			}
			if ready {
				next = i
			}
		}
		if next < 0 {
			return nil // a cycle
		}
		done[next] = true
		order = append(order, next)
	}
	return order
}

// randomDAG returns the dependencies of n vertices: each depends on up to
// maxDeps vertices that come before it in a random ranking, so there is
// no cycle and the numbering is not a topological order.
func randomDAG(rng *rand.Rand, n, maxDeps int) [][]int {
	rank := rng.Perm(n) // rank[k] is the k-th vertex
	deps := make([][]int, n)
	for k := 1; k < n; k++ {
		v := rank[k]
		for range rng.IntN(maxDeps + 1) {
			// Mostly near it in the ranking, so that chains form.
			j := k - 1 - rng.IntN(min(k, 1+rng.IntN(20)))
			if d := rank[j]; !slices.Contains(deps[v], d) {
				deps[v] = append(deps[v], d)
			}
		}
	}
	return deps
}

func TestOrderAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := []int{0, 1, 2, 3, 10, 63, 64, 65, 130}
	for range 40 {
		sizes = append(sizes, 1+rng.IntN(300))
	}
	sizes = append(sizes, 4097, 4500)
	for _, n := range sizes {
		maxDeps := rng.IntN(5)
		if n > 4000 {
			maxDeps = 1 // the reference is quadratic
		}
		deps := randomDAG(rng, n, maxDeps)
		g := build(deps)
		order, cycle := g.Order()
		require.Nil(t, cycle, "n=%d", n)
		want := refOrder(deps)
		require.NotNil(t, want)
		if n <= 300 {
			require.Equal(t, want, order, "n=%d, deps=%v", n, deps)
		} else {
			require.Equal(t, want, order, "n=%d", n)
		}
		// And it is a topological order using every vertex once.
		pos := make([]int, n)
		for i, v := range order {
			pos[v] = i
		}
		for v, ds := range deps {
			for _, d := range ds {
				require.Less(t, pos[d], pos[v])
			}
		}
	}
}
