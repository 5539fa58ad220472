package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/upgrade"
)

// TestRunTakenUpStates: a run taken up again, a run of the server's own
// resumed (prepare) or a database run retried (follow), reports as
// pending every step that is to run again, whatever the attempt that
// ended left it as; keeps a step that succeeded, which does not run
// again; and keeps a step in doubt so until it starts, when it is offered
// again in doubt.
func TestRunTakenUpStates(t *testing.T) {
	for was, want := range map[string]string{
		"succeeded":    "succeeded",
		stepInDoubt:    stepInDoubt,
		"failed":       stepPending,
		"skipped":      stepPending,
		"rolled_back":  stepPending,
		stepNotStarted: stepPending,
		stepPending:    stepPending,
	} {
		rec := runRecord{State: runFailed, Error: "boom", Steps: map[upgrade.StepID]string{"s": was}}
		rec.count()
		rec.takeUp()
		assert.Equal(t, want, rec.Steps["s"], "a step %s", was)
		assert.Equal(t, runRunning, rec.State)
		assert.Empty(t, rec.Error)
		assert.Zero(t, rec.Failed+rec.Skipped+rec.RolledBack, "a step %s: the counts are the run's going on", was)
	}
}
