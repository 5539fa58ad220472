package dag

// Heap is a plain binary min-heap, the oracle the tests check minSet
// against.
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
