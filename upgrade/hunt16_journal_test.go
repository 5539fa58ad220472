package upgrade_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt16JournalRefusalsSayWhatToDo: a journal whose header names the
// plan but whose records do not fit it (a step the plan lacks, as when a
// host that builds plans by hand changes one and keeps its ID; a record
// kind of another version) is refused, and the error says what to do, as
// the refusal of a journal of another plan does. They said only what was
// wrong.
func TestHunt16JournalRefusalsSayWhatToDo(t *testing.T) {
	plan := &upgrade.Plan{ID: "deploy", Steps: []upgrade.Step{{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}}}
	for _, tc := range []struct {
		name   string
		rec    upgrade.Record
		target error
		want   string
	}{
		{"unknown step", jrRec(upgrade.RecordSucceeded, "c"), upgrade.ErrPlanMismatch,
			"upgrade: journal belongs to another plan: record for unknown step c: resume the plan it was written for with it, or give this plan a journal of its own (a new file)"},
		{"unknown kind", jrRec("verifying", "a"), upgrade.ErrCorruptJournal,
			`upgrade: corrupt journal: record of unknown kind "verifying" for step a: resume with the program that wrote it, ` +
				"or move the journal aside to start over (the steps it records as done would then run again)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := jrPath(t)
			jrSeed(t, path, plan.ID, jrRec(upgrade.RecordStarted, "a"), tc.rec)
			ex := &jrRecorder{}
			report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(jrOpen(t, path)))
			require.ErrorIs(t, err, tc.target)
			assert.EqualError(t, err, tc.want)
			assert.Nil(t, report)
			assert.Empty(t, ex.ran, "nothing runs")
		})
	}
}

// TestHunt16LockedJournalSaysWhatToDo: a journal another runner holds is
// refused with an error that names the holder and says what to do: wait
// for it to end, or end it, and run again. It named the holder alone.
func TestHunt16LockedJournalSaysWhatToDo(t *testing.T) {
	needFlock(t)
	path := jrPath(t)
	held := jrOpen(t, path)
	_, err := upgrade.OpenFileJournal(path)
	require.ErrorIs(t, err, upgrade.ErrLocked)
	assert.Regexp(t, `^upgrade: journal locked: .+ is held by pid \d+ on .+ since .+: wait for that run to end, or end it, and run again$`, err.Error())
	require.NoError(t, held.Close())
}
