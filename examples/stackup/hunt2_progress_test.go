package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/upgrade"
)

// TestProgressRetryWithoutError: a retrying event read from the database
// carries no error when the worker's error had no text (pgrun keeps the
// text only); apply --database prints its line rather than panic.
func TestProgressRetryWithoutError(t *testing.T) {
	step := &upgrade.Step{ID: "platform/java-1@17.0.13"}
	var line string
	assert.NotPanics(t, func() {
		line = progressLine(upgrade.Event{Kind: upgrade.StepRetrying, Step: step, Attempt: 2, Total: 8}, -1)
	})
	assert.Equal(t, "[0/8] retry  platform/java-1@17.0.13 (attempt 2)", line)
}
