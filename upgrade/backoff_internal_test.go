package upgrade

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestBackoffNeverNegative: WithRetry's waits are never negative, which
// a timer takes as "at once", whatever backoff and max it is given: a max
// near the longest Duration made the waits drawn at random around it
// overflow, and a negative backoff made every wait negative and growing.
func TestBackoffNeverNegative(t *testing.T) {
	for _, c := range []struct{ initial, longest time.Duration }{
		{time.Second, math.MaxInt64},
		{math.MaxInt64 / 2, math.MaxInt64},
		{math.MaxInt64, 0},
		{-time.Second, time.Minute},
		{math.MinInt64, math.MinInt64},
		{time.Second, time.Minute},
	} {
		b := newBackoff(c.initial, c.longest)
		for n := range 200 {
			if d := b.NextBackOff(); d < 0 {
				t.Fatalf("WithRetry(_, %v, %v): wait %d is %v", c.initial, c.longest, n+1, d)
			}
		}
	}
	// What is not absurd is unchanged: about a second, then about two.
	b := newBackoff(time.Second, time.Minute)
	assert.InDelta(t, float64(time.Second), float64(b.NextBackOff()), float64(time.Second/2))
	assert.InDelta(t, float64(2*time.Second), float64(b.NextBackOff()), float64(time.Second))
	// A negative backoff is none: the first retry comes at once.
	assert.Zero(t, newBackoff(-time.Second, time.Minute).NextBackOff())
}
