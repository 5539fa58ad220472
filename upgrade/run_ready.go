package upgrade

// readyQueue holds the ranks of the ready steps (see rankSteps) and gives
// up the least first: a binary min-heap of plain integers, compared
// without a closure.
type readyQueue struct{ items []uint64 }

func (q *readyQueue) len() int { return len(q.items) }

// push adds rank x.
func (q *readyQueue) push(x uint64) {
	q.items = append(q.items, x)
	for i := len(q.items) - 1; i > 0; {
		parent := (i - 1) / 2
		if q.items[parent] <= x {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], x
		i = parent
	}
}

// pop removes and returns the least rank. The queue must not be empty.
func (q *readyQueue) pop() uint64 {
	top := q.items[0]
	last := len(q.items) - 1
	x := q.items[last]
	q.items = q.items[:last]
	if last == 0 {
		return top
	}
	i := 0
	for {
		c := 2*i + 1 // the lesser child
		if c >= last {
			break
		}
		if r := c + 1; r < last && q.items[r] < q.items[c] {
			c = r
		}
		if q.items[c] >= x {
			break
		}
		q.items[i] = q.items[c]
		i = c
	}
	q.items[i] = x
	return top
}
