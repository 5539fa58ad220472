package upgrade_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/upgrade"
)

func TestWithInDoubt(t *testing.T) {
	ctx := context.Background()
	assert.False(t, upgrade.InDoubt(ctx))
	assert.True(t, upgrade.InDoubt(upgrade.WithInDoubt(ctx)))
	// Run passes it on to the executor, for a step it would not itself
	// offer in doubt.
	var seen bool
	exec := upgrade.ExecutorFunc(func(ctx context.Context, _ upgrade.Step) error {
		seen = upgrade.InDoubt(ctx)
		return nil
	})
	plan := &upgrade.Plan{ID: "p", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n"}}}
	_, err := upgrade.Run(upgrade.WithInDoubt(ctx), plan, exec)
	assert.NoError(t, err)
	assert.True(t, seen)
}

func TestStepWaitingString(t *testing.T) {
	assert.Equal(t, "waiting", upgrade.StepWaiting.String())
}
