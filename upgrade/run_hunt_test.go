package upgrade_test

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// An Execute that ignores the run's cancellation past the grace period is
// abandoned; when it later ends its goroutine with runtime.Goexit (as
// t.FailNow does), nothing of the run is touched again and the process
// lives on.
func TestHuntAbandonedCallLaterGoexits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "x"}}}
		entered, release := make(chan struct{}), make(chan struct{})
		exec := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
			close(entered)
			<-release
			runtime.Goexit()
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-entered; cancel() }()
		report, err := upgrade.Run(ctx, plan, exec, upgrade.WithGracePeriod(time.Second))
		require.ErrorIs(t, err, context.Canceled)
		o, _ := report.Outcome("x")
		assert.True(t, o.Abandoned)
		close(release)
		synctest.Wait()
	})
}
