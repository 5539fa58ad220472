package pgrun

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt2CancelDuringRollbackEvents: a run cancelled while it rolls
// back has an event for every step it undid and for every step it left
// in place (upgrade.StepRollbackFailed), as upgrade.Run's, the step whose
// Rollback was cut short and those never reached alike.
func TestHunt2CancelDuringRollbackEvents(t *testing.T) {
	s, _ := testStore(t)
	newExec := func() cancelledRollback {
		e := &blockingRollback{Executor: &upgradetest.Executor{}, hold: "b", entered: make(chan struct{})}
		e.FailAt("c", errBoom)
		return cancelledRollback{e}
	}
	plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"},
		{ID: "b", Kind: upgrade.Platform, Node: "n-b"}, {ID: "c", Kind: upgrade.Platform, Node: "n-c", After: []upgrade.StepID{"b"}}}}
	type undo struct {
		Kind upgrade.EventKind
		Step upgrade.StepID
	}
	undoing := func(k upgrade.EventKind) bool {
		return k == upgrade.StepRolledBack || k == upgrade.StepRollbackFailed
	}

	inProc := newExec()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-inProc.entered
		cancel()
	}()
	var want []undo
	_, _ = upgrade.Run(ctx, plan, inProc, upgrade.WithRollback(), upgrade.WithEvents(func(e upgrade.Event) {
		if undoing(e.Kind) {
			want = append(want, undo{e.Kind, e.Step.ID})
		}
	}))
	require.Equal(t, []undo{{upgrade.StepRolledBack, "c"}, {upgrade.StepRollbackFailed, "b"}, {upgrade.StepRollbackFailed, "a"}}, want)

	remote := newExec()
	plan.ID = "hunt2-cancel-rollback"
	bg := context.Background()
	require.NoError(t, s.Submit(bg, plan, Options{Rollback: true}))
	done := make(chan error, 1)
	go func() { done <- s.Work(bg, plan.ID, remote, lapsingWorker) }() // learns of the cancel as it renews its lease
	<-remote.entered
	require.NoError(t, s.Cancel(bg, plan.ID))
	require.NoError(t, <-done)
	events, err := s.Events(bg, plan.ID, 0, 100)
	require.NoError(t, err)
	var got []undo
	for _, e := range events {
		if undoing(e.Kind) {
			got = append(got, undo{e.Kind, e.Step.ID})
			if e.Kind == upgrade.StepRollbackFailed {
				assert.Error(t, e.Err, "the event says why %s stays", e.Step.ID)
			}
		}
	}
	assert.ElementsMatch(t, want, got)
}
