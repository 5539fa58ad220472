package upgrade

import "strings"

// arena hands out the many small strings and slices of a plan from a few
// large blocks. A plan of thousands of steps would otherwise cost the
// allocator, and the garbage collector after it, thousands of objects.
// Nothing it hands out is written to again.
type arena struct {
	text strings.Builder
	buf  []byte // scratch space for composing a string
}

// arenaBlock is the size of a block of text.
const arenaBlock = 16 << 10

// scratch returns the arena's scratch space, empty, to compose a string in
// for string.
func (a *arena) scratch() []byte { return a.buf[:0] }

// string returns b as a string kept in the arena. b's array becomes the
// scratch space for the next string, however it grew.
func (a *arena) string(b []byte) string {
	a.reserve(len(b))
	start := a.text.Len()
	a.text.Write(b)
	a.buf = b[:0]
	return a.text.String()[start:]
}

// join returns the concatenation of parts, kept in the arena.
func (a *arena) join(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	a.reserve(n)
	start := a.text.Len()
	for _, p := range parts {
		a.text.WriteString(p)
	}
	return a.text.String()[start:]
}

// reserve makes room for n more bytes in the current block, starting a new
// block if need be; the strings in the old one keep it alive. Those bytes
// are never written again: a Builder only appends.
func (a *arena) reserve(n int) {
	if a.text.Cap()-a.text.Len() < n {
		a.text = strings.Builder{}
		a.text.Grow(max(n, arenaBlock))
	}
}

// slab hands out slices of large backing arrays. Each slice has no spare
// capacity, so that appending to one copies it rather than overwrite its
// neighbour.
type slab[T any] struct{ free []T } // the current block

// A slab's blocks double in size from 8 elements up to slabBlock, so that
// small plans stay small.
const slabBlock = 256

// take returns a slice of n zero elements, or nil when n is 0.
func (s *slab[T]) take(n int) []T {
	if n == 0 {
		return nil
	}
	if cap(s.free)-len(s.free) < n {
		s.free = make([]T, 0, max(n, min(2*cap(s.free), slabBlock), 8))
	}
	k := len(s.free)
	s.free = s.free[:k+n]
	return s.free[k : k+n : k+n]
}

// one returns a pointer to a new zero element.
func (s *slab[T]) one() *T { return &s.take(1)[0] }
