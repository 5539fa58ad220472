package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

// TestDrainTally: the drain's tally counts the steps the worker held when
// the drain began, or claimed as it began, and finished; it names those
// that failed and those another worker took over or nobody recorded; it
// ignores the steps the worker finished before, and other workers' steps.
func TestDrainTally(t *testing.T) {
	steps := make([]upgrade.Step, 8)
	for i := range steps {
		steps[i].ID = upgrade.StepID(string(rune('a' + i)))
	}
	since := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	before, after := since.Add(-time.Second), since.Add(time.Second)
	ev := func(kind upgrade.EventKind, i int, worker string, at time.Time) pgrun.Event {
		return pgrun.Event{Event: upgrade.Event{Kind: kind, Step: &steps[i]}, Worker: worker, Time: at}
	}
	events := []pgrun.Event{
		ev(upgrade.StepStarted, 0, "me", before), ev(upgrade.StepSucceeded, 0, "me", before), // done before: not counted
		ev(upgrade.StepStarted, 1, "me", before), ev(upgrade.StepSucceeded, 1, "me", after), // held: finished
		ev(upgrade.StepStarted, 2, "me", before), ev(upgrade.StepRetrying, 2, "me", before),
		ev(upgrade.StepFailed, 2, "me", after),                                               // held: failed
		ev(upgrade.StepStarted, 3, "me", before), ev(upgrade.StepStarted, 3, "other", after), // taken over
		ev(upgrade.StepStarted, 4, "me", before),                                                  // never recorded
		ev(upgrade.StepStarted, 5, "other", before), ev(upgrade.StepSucceeded, 5, "other", after), // another's
		ev(upgrade.StepStarted, 6, "me", after), ev(upgrade.StepSucceeded, 6, "me", after), // claimed as the drain began
		ev(upgrade.StepSkipped, 7, "me", after), // a consequence, not a step run
	}
	var tally drainTally
	tally.add(events, "me", since, "")
	assert.Equal(t, 3, tally.finished)
	assert.Equal(t, []string{"c"}, tally.failed)
	assert.Equal(t, []string{"d", "e"}, tally.lost)

	// No event after the drain began: what was held is not recorded.
	var only drainTally
	only.add([]pgrun.Event{events[0], events[1], events[2], events[4]}, "me", since, "run R step ")
	assert.Equal(t, 0, only.finished)
	assert.Equal(t, []string{"run R step b", "run R step c"}, only.lost)
}
