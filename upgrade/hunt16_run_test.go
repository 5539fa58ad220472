package upgrade_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt16AllSucceededDespiteCancel: a run cancelled as its last step
// completes (an operator's Ctrl-C, a server's SIGTERM, during a step the
// executor carries through) has carried out every step: Run returns nil,
// as it promises when every step succeeded, not the context's error,
// which a host takes for a run to resume.
func TestHunt16AllSucceededDespiteCancel(t *testing.T) {
	for _, conc := range []int{1, 3} {
		p := h5Plan("a", "b", "c:a,b")
		ctx, cancel := context.WithCancel(context.Background())
		exec := upgrade.ExecutorFunc(func(_ context.Context, s upgrade.Step) error {
			if s.ID == "c" {
				cancel() // the run is cancelled as its last step completes
			}
			return nil
		})
		j := jrOpen(t, jrPath(t))
		report, err := upgrade.Run(ctx, p, exec, upgrade.WithConcurrency(conc), upgrade.WithJournal(j), upgrade.WithRollback())
		cancel()
		require.NoError(t, err, "concurrency %d: every step succeeded", conc)
		assert.Equal(t, 3, report.Count(upgrade.Succeeded))
	}
}
