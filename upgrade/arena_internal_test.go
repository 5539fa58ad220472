package upgrade

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestArenaString(t *testing.T) {
	var a arena
	assert.Equal(t, "", a.string(nil))
	assert.Equal(t, "", a.string([]byte{}))
	b := []byte("tomcat-1")
	s := a.string(b)
	assert.Equal(t, "tomcat-1", s)
	// The arena keeps a copy: changing the bytes given leaves it alone.
	copy(b, "XXXXXXXX")
	assert.Equal(t, "tomcat-1", s)
	assert.Equal(t, "", a.string(nil))
	assert.Equal(t, "tomcat-1", s)
}

// A string composed in the scratch space leaves its array there for the
// next, so composing many allocates once.
func TestArenaScratchIsReused(t *testing.T) {
	var a arena
	b := append(a.scratch(), "hop 1 of 2"...)
	assert.Equal(t, "hop 1 of 2", a.string(b))
	next := a.scratch()
	require.Zero(t, len(next))
	require.GreaterOrEqual(t, cap(next), len(b))
	assert.Same(t, &b[0], &next[:1][0])
	assert.Equal(t, "hop 1 of 2", a.string(append(next, "hop 1 of 2"...)))
}

func TestArenaJoin(t *testing.T) {
	var a arena
	assert.Equal(t, "", a.join())
	assert.Equal(t, "", a.join("", ""))
	first := a.join("platform/", "tomcat-1", "@", "10.1.34")
	assert.Equal(t, "platform/tomcat-1@10.1.34", first)
	// Earlier results stay as later ones are made.
	second := a.join("app/", "shop-1")
	third := a.join("x")
	assert.Equal(t, "platform/tomcat-1@10.1.34", first)
	assert.Equal(t, "app/shop-1", second)
	assert.Equal(t, "x", third)
	assert.Equal(t, "ab", a.join("a", "b"))
}

func TestArenaStringsSurviveNewBlocks(t *testing.T) {
	var a arena
	rng := rand.New(rand.NewPCG(7, 11))
	var want, got []string
	total := 0
	scratch := make([]byte, 0, 4*arenaBlock)
	for i := 0; total < 5*arenaBlock; i++ {
		var n int
		switch {
		case i%97 == 50:
			n = arenaBlock + rng.IntN(arenaBlock) // more than a block
		case i%31 == 0:
			n = 0
		default:
			n = 1 + rng.IntN(300)
		}
		scratch = scratch[:0]
		for j := range n {
			scratch = append(scratch, byte('a'+(i+j)%26))
		}
		w := fmt.Sprintf("%d:%s", i, scratch) // owned by the test
		var s string
		if i%2 == 0 {
			s = a.string([]byte(w))
		} else {
			k := len(w) / 2
			s = a.join(w[:k], w[k:])
		}
		require.Equal(t, w, s, "string %d as made", i)
		want, got = append(want, w), append(got, s)
		total += len(w)
		// Overwrite the scratch space: the arena must not have kept it.
		for j := range scratch {
			scratch[j] = '#'
		}
	}
	require.Greater(t, total, 5*arenaBlock)
	for i := range want {
		require.Equal(t, want[i], got[i], "string %d after %d bytes more", i, total)
	}
	// The strings came from a few blocks, not one allocation each: the
	// consecutive small ones lie side by side.
	adjacent := 0
	for i := 1; i < len(got); i++ {
		if len(got[i-1]) > 0 && len(got[i]) > 0 &&
			uintptr(unsafe.Pointer(unsafe.StringData(got[i-1])))+uintptr(len(got[i-1])) == uintptr(unsafe.Pointer(unsafe.StringData(got[i]))) {
			adjacent++
		}
	}
	assert.Greater(t, adjacent, len(got)/2, "strings are packed into blocks")
}

func TestSlabTake(t *testing.T) {
	var s slab[int]
	assert.Nil(t, s.take(0))
	for _, n := range []int{1, 3, 7, 8, 9, 100, slabBlock, slabBlock + 1, 3 * slabBlock} {
		got := s.take(n)
		require.Len(t, got, n)
		require.Equal(t, n, cap(got), "take(%d) leaves no spare capacity", n)
		for i, x := range got {
			require.Zero(t, x, "take(%d)[%d]", n, i)
		}
		for i := range got {
			got[i] = -1 - i // dirty it: the next take must still be zero
		}
	}
	assert.Nil(t, s.take(0), "take(0) after others")
}

func TestSlabAppendDoesNotOverwriteNeighbour(t *testing.T) {
	var s slab[int]
	a := s.take(3)
	b := s.take(3)
	// They come from one block, side by side...
	require.Equal(t, uintptr(unsafe.Pointer(&a[2]))+unsafe.Sizeof(0), uintptr(unsafe.Pointer(&b[0])), "consecutive takes share a block")
	// ...yet appending to the first does not write into the second.
	a = append(a, 42, 43)
	assert.Equal(t, []int{0, 0, 0}, b)
	b[0] = 7
	assert.Equal(t, []int{0, 0, 0, 42, 43}, a)
	c := s.take(2)
	assert.Equal(t, []int{0, 0}, c)
	b = append(b, 99)
	assert.Equal(t, []int{0, 0}, c)
}

func TestSlabBlocksGrow(t *testing.T) {
	var s slab[uint64]
	const n = 5000
	seen := make(map[*uint64]int, n)
	ptrs := make([]*uint64, n)
	for i := range n {
		var p *uint64
		if i%2 == 0 {
			p = s.one()
		} else {
			got := s.take(1)
			require.Len(t, got, 1)
			require.Equal(t, 1, cap(got))
			p = &got[0]
		}
		require.Zero(t, *p, "element %d", i)
		j, dup := seen[p]
		require.False(t, dup, "element %d has the address of element %d", i, j)
		seen[p] = i
		ptrs[i] = p
		*p = uint64(i) + 1
	}
	for i, p := range ptrs {
		require.Equal(t, uint64(i)+1, *p, "element %d after the others were written", i)
	}
}

func TestSlabBlockSizes(t *testing.T) {
	// Blocks double from 8 elements up to slabBlock, and a take larger
	// than a block gets a block of its own size.
	var s slab[int32]
	var caps []int
	for range 2000 {
		s.take(1)
		if len(s.free) == 1 { // a new block
			caps = append(caps, cap(s.free))
		}
	}
	want := []int{8, 16, 32, 64, 128}
	for range (2000 - 248 + slabBlock - 1) / slabBlock {
		want = append(want, slabBlock)
	}
	assert.Equal(t, want, caps)
	s.take(slabBlock * 3)
	assert.Equal(t, slabBlock*3, cap(s.free))
	assert.Equal(t, slabBlock*3, len(s.free))
}

func TestSlabOfStructsIsZeroed(t *testing.T) {
	var s slab[allowSet]
	for i := range 600 {
		p := s.one()
		require.Equal(t, allowSet{}, *p, "element %d", i)
		*p = allowSet{id: i + 1, known: []uint64{1}, learned: true}
	}
	var ds slab[Demand]
	got := ds.take(4)
	require.Equal(t, make([]Demand, 4), got)
}
