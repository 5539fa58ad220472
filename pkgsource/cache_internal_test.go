package pkgsource

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// TestCacheClock moves the Cache's clock (its unexported now field) across
// the TTL.
func TestCacheClock(t *testing.T) {
	var calls atomic.Int32
	src := SourceFunc(func(_ context.Context, typ string) ([]Package, error) {
		calls.Add(1)
		return []Package{{Type: typ, Version: version.MustParse("1.0.0")}}, nil
	})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	c := NewCache(src, time.Minute)
	c.now = func() time.Time { return now }
	ctx := context.Background()

	steps := []struct {
		at        time.Duration // since start
		wantCalls int32
	}{
		{0, 1},
		{30 * time.Second, 1},
		{time.Minute - time.Nanosecond, 1},
		{time.Minute, 2}, // fetched at start: expired at exactly the TTL
		{time.Minute + 59*time.Second, 2},
		{2 * time.Minute, 3},
	}
	for _, st := range steps {
		now = start.Add(st.at)
		ps, err := c.Packages(ctx, "tomcat")
		require.NoError(t, err)
		require.Len(t, ps, 1)
		assert.Equal(t, st.wantCalls, calls.Load(), "at %s", st.at)
	}
}
