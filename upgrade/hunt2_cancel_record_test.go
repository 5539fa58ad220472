package upgrade_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// h2CtxJournal is a Journal kept in memory that, as a journal kept in a
// database would, gives up on a record once its context is done.
type h2CtxJournal struct {
	mu      sync.Mutex
	records []upgrade.Record
}

func (j *h2CtxJournal) Begin(context.Context, string) ([]upgrade.Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]upgrade.Record(nil), j.records...), nil
}

func (j *h2CtxJournal) Append(ctx context.Context, r upgrade.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.records = append(j.records, r)
	return nil
}

func (j *h2CtxJournal) last(id upgrade.StepID) upgrade.RecordKind {
	j.mu.Lock()
	defer j.mu.Unlock()
	var k upgrade.RecordKind
	for _, r := range j.records {
		if r.Step == id {
			k = r.Kind
		}
	}
	return k
}

// TestHunt2SuccessAfterCancelIsRecorded: a step whose Execute completes,
// and returns nil, as the run is cancelled has been carried out: the
// report says it succeeded and the journal records it, so that a resumed
// run does not offer it again, even with a journal that heeds its context.
func TestHunt2SuccessAfterCancelIsRecorded(t *testing.T) {
	plan := shopPlan(t, 1)
	first := plan.Steps[0].ID
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exec := &upgradetest.Executor{Func: func(_ context.Context, s upgrade.Step) error {
		if s.ID == first {
			cancel() // the run is cancelled as the step completes
		}
		return nil
	}}
	j := &h2CtxJournal{}
	report, err := upgrade.Run(ctx, plan, exec, upgrade.WithJournal(j))
	require.ErrorIs(t, err, context.Canceled)
	o, _ := report.Outcome(first)
	assert.Equal(t, upgrade.Succeeded, o.State, "the step was carried out: %v", o.Err)
	assert.Equal(t, upgrade.RecordSucceeded, j.last(first))

	exec2 := &upgradetest.Executor{}
	report, err = upgrade.Run(context.Background(), plan, exec2, upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Zero(t, exec2.Calls(first), "a step done is not done again")
	assert.Empty(t, exec2.InDoubt())
	assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
}

// TestHunt2RollbackAfterCancelIsRecorded: a Rollback that completes as
// the run is cancelled has undone its step: the journal records it so.
func TestHunt2RollbackAfterCancelIsRecorded(t *testing.T) {
	plan := shopPlan(t, 1)
	first, second := plan.Steps[0].ID, plan.Steps[1].ID
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exec := &h2CancellingRollback{cancel: cancel}
	exec.FailAt(second, errors.New("boom"))
	j := &h2CtxJournal{}
	report, err := upgrade.Run(ctx, plan, exec, upgrade.WithJournal(j), upgrade.WithRollback())
	require.Error(t, err)
	o, _ := report.Outcome(second)
	assert.Equal(t, upgrade.RolledBack, o.State, "%v", err)
	assert.Equal(t, upgrade.RecordRolledBack, j.last(second))
	o, _ = report.Outcome(first)
	assert.Equal(t, upgrade.Succeeded, o.State, "not undone once cancelled")
	assert.Equal(t, upgrade.RecordSucceeded, j.last(first))
}

type h2CancellingRollback struct {
	upgradetest.Executor
	cancel context.CancelFunc
}

func (e *h2CancellingRollback) Rollback(ctx context.Context, s upgrade.Step) error {
	e.cancel()
	return e.Executor.Rollback(ctx, s)
}
