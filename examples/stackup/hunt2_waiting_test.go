package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/upgrade"
)

// TestWaitingEvent: a database run's step that waits for another run's
// step holding its node (upgrade.StepWaiting, which pgrun gives) is
// printed by apply --database as a wait naming the node and its holder,
// not as a line without a verb; and serve's status keeps the step pending,
// one of the step states the API documents, while the stream tells of the
// wait.
func TestWaitingEvent(t *testing.T) {
	step := &upgrade.Step{ID: "platform/java-1@17.0.13", Node: "java-1"}
	holder := &upgrade.Holder{Node: "java-1", Plan: "sha256:ab", Step: "platform/java-1@11.0.25"}
	ev := upgrade.Event{Kind: upgrade.StepWaiting, Step: step, Total: 8, WaitingFor: holder}
	clock := newStepClock(time.Now)
	assert.Equal(t, "[0/8] wait   platform/java-1@17.0.13: node java-1 is held by step platform/java-1@11.0.25 of plan sha256:ab",
		clock.line(ev))

	rs := newRunState(runRecord{Run: "R", Steps: map[upgrade.StepID]string{step.ID: stepPending}})
	rs.add(ev)
	assert.Equal(t, stepPending, rs.status().Steps[step.ID], "waiting, the step is still pending")
	events, _, _ := rs.since(0)
	if assert.Len(t, events, 1) {
		assert.Equal(t, "waiting", events[0].Kind)
	}
}
