package upgrade_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt2RollbackFailureEvent: a step the rollback leaves in place, its
// Rollback failing or a step after it still in place, gets an event, as a
// step undone does, with the rollback's error: a host following a run by
// its events learns which nodes stay changed.
func TestHunt2RollbackFailureEvent(t *testing.T) {
	plan := shopPlan(t, 1)
	require.Len(t, plan.Steps, 3)
	java, tomcat, app := plan.Steps[0].ID, plan.Steps[1].ID, plan.Steps[2].ID
	exec := &upgradetest.Executor{}
	boom, cannot := errors.New("boom"), errors.New("cannot undo")
	exec.FailAt(app, boom)
	exec.FailRollback(tomcat, cannot)
	var events []upgrade.Event
	report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithRollback(),
		upgrade.WithEvents(func(e upgrade.Event) { events = append(events, e) }))
	require.ErrorIs(t, err, upgrade.ErrRollback)

	var kinds []upgrade.EventKind
	var steps []upgrade.StepID
	for _, e := range events[len(events)-3:] {
		kinds = append(kinds, e.Kind)
		steps = append(steps, e.Step.ID)
		assert.Equal(t, 3, e.Done)
		assert.Equal(t, 3, e.Total)
	}
	assert.Equal(t, []upgrade.EventKind{upgrade.StepRolledBack, upgrade.StepRollbackFailed, upgrade.StepRollbackFailed}, kinds)
	assert.Equal(t, []upgrade.StepID{app, tomcat, java}, steps)
	last := events[len(events)-2:]
	assert.ErrorIs(t, last[0].Err, cannot)
	assert.ErrorContains(t, last[1].Err, string(tomcat), "held by the step after it")
	for _, e := range last {
		o, _ := report.Outcome(e.Step.ID)
		assert.Equal(t, upgrade.Succeeded, o.State)
		assert.Equal(t, o.Err, e.Err, "the event's error is the outcome's")
	}
	assert.Equal(t, "rollback failed", upgrade.StepRollbackFailed.String())
}
