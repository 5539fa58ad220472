package upgrade_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// h5Journal is a journal in memory.
type h5Journal struct {
	mu      sync.Mutex
	records []upgrade.Record
}

func (j *h5Journal) Begin(context.Context, string) ([]upgrade.Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.records), nil
}

func (j *h5Journal) Append(_ context.Context, r upgrade.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.records = append(j.records, r)
	return nil
}

// TestHunt5StaleCheckRolledBackAfterInDoubt: node db goes 12 → 13 → 14
// in two steps. An earlier run did both, the topology learnt 14, then its
// rollback undid the second (the topology had not learnt that yet) and
// failed undoing the first. The node may be at the To of a step the
// journal records as rolled back, as WithStaleCheck says, but the check
// stopped at the step in doubt before it and refused the plan as stale.
func TestHunt5StaleCheckRolledBackAfterInDoubt(t *testing.T) {
	plan := &upgrade.Plan{ID: "h5-pg", Steps: []upgrade.Step{
		{ID: "platform/db@13", Kind: upgrade.Platform, App: "infra", Node: "db", Template: "pg", Type: "postgres", From: v("12"), To: v("13")},
		{ID: "platform/db@14", Kind: upgrade.Platform, App: "infra", Node: "db", Template: "pg", Type: "postgres", From: v("13"), To: v("14"),
			After: []upgrade.StepID{"platform/db@13"}},
	}}
	rec := func(k upgrade.RecordKind, id upgrade.StepID) upgrade.Record { return upgrade.Record{Kind: k, Step: id} }
	for _, tt := range []struct {
		name    string
		journal []upgrade.Record
	}{
		{"undo of the first failed", []upgrade.Record{
			rec(upgrade.RecordStarted, "platform/db@13"), rec(upgrade.RecordSucceeded, "platform/db@13"),
			rec(upgrade.RecordStarted, "platform/db@14"), rec(upgrade.RecordSucceeded, "platform/db@14"),
			rec(upgrade.RecordRollingBack, "platform/db@14"), rec(upgrade.RecordRolledBack, "platform/db@14"),
			rec(upgrade.RecordRollingBack, "platform/db@13")}},
		{"first failed again since", []upgrade.Record{
			rec(upgrade.RecordStarted, "platform/db@13"), rec(upgrade.RecordSucceeded, "platform/db@13"),
			rec(upgrade.RecordStarted, "platform/db@14"), rec(upgrade.RecordSucceeded, "platform/db@14"),
			rec(upgrade.RecordRollingBack, "platform/db@14"), rec(upgrade.RecordRolledBack, "platform/db@14"),
			rec(upgrade.RecordRollingBack, "platform/db@13"),
			rec(upgrade.RecordStarted, "platform/db@13"), rec(upgrade.RecordFailed, "platform/db@13")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topo := build(t, new(topology.Builder).
				Template("infra", topology.Template{ID: "pg", Type: "postgres", Version: v("12")}).
				Node("infra", topology.Node{ID: "db", Template: "pg", Version: v("14")}))
			j := &h5Journal{records: tt.journal}
			exec := new(upgradetest.Executor)
			rep, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(j), upgrade.WithStaleCheck(topo))
			require.NoError(t, err)
			assert.Equal(t, 2, rep.Count(upgrade.Succeeded))
			assert.Equal(t, []upgrade.StepID{"platform/db@13", "platform/db@14"}, exec.Started())
		})
	}
	// A version no step gives is still stale.
	topo := build(t, new(topology.Builder).
		Template("infra", topology.Template{ID: "pg", Type: "postgres", Version: v("12")}).
		Node("infra", topology.Node{ID: "db", Template: "pg", Version: v("15")}))
	j := &h5Journal{records: []upgrade.Record{
		rec(upgrade.RecordSucceeded, "platform/db@13"), rec(upgrade.RecordSucceeded, "platform/db@14"),
		rec(upgrade.RecordRolledBack, "platform/db@14"), rec(upgrade.RecordRollingBack, "platform/db@13")}}
	_, err := upgrade.Run(t.Context(), plan, new(upgradetest.Executor), upgrade.WithJournal(j), upgrade.WithStaleCheck(topo))
	var se *upgrade.StaleError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, upgrade.StaleError{Node: "db", Step: "platform/db@13", Expected: "12, 13 or 14", Actual: "15"}, *se)
}
