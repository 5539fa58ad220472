package upgrade

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// The ready queue gives up its ranks least first, duplicates included,
// whatever the mix of pushes and pops.
func TestReadyQueueGivesLeastFirst(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 3))
		var q readyQueue
		var want []uint64 // what the queue holds, sorted
		for range 500 {
			if q.len() > 0 && rng.IntN(3) == 0 {
				require.Equal(t, want[0], q.pop(), "seed %d", seed)
				want = want[1:]
				continue
			}
			x := uint64(rng.IntN(40))<<32 | uint64(rng.IntN(100))
			q.push(x)
			want = append(want, x)
			slices.Sort(want)
		}
		for len(want) > 0 {
			require.Equal(t, want[0], q.pop(), "seed %d", seed)
			want = want[1:]
		}
		require.Zero(t, q.len())
	}
}
