package upgrade_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt16NegativeGracePeriodRefused: a negative grace period (one
// computed from a deadline already past, say) is refused before anything
// runs, with an error naming the option and saying what to give, where
// Run took it for 0 and waited for ever for host code that ignores its
// context.
func TestHunt16NegativeGracePeriodRefused(t *testing.T) {
	ran := false
	exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { ran = true; return nil })
	rep, err := upgrade.Run(context.Background(), h5Plan("a"), exec, upgrade.WithGracePeriod(-time.Second))
	require.Error(t, err)
	assert.ErrorIs(t, err, upgrade.ErrInvalidOption)
	assert.Contains(t, err.Error(), "WithGracePeriod(-1s)")
	assert.Contains(t, err.Error(), "0 to wait for ever")
	assert.Nil(t, rep)
	assert.False(t, ran, "nothing runs")
}
