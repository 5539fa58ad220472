package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt2FileJournalZeroedHeader: a power loss during the first write
// of a new journal may leave the file its length but not its bytes: NULs
// where the header was to be (XFS and ext4 with data=writeback do). No
// record was written, nothing was run: the journal starts afresh, as with
// any torn header, rather than being refused as not a journal.
func TestHunt2FileJournalZeroedHeader(t *testing.T) {
	for _, n := range []int{1, 24, 200} {
		path := jrPath(t)
		require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte{0}, n), 0o600))
		j := jrOpen(t, path)
		got, err := j.Begin(context.Background(), "sha256:plan-a")
		require.NoError(t, err, "%d NULs", n)
		assert.Empty(t, got)
		lines, nl := jrLines(t, path)
		assert.True(t, nl)
		require.Len(t, lines, 1)
		assert.JSONEq(t, `{"plan":"sha256:plan-a"}`, lines[0])
	}
}

// TestHunt2FileJournalKeepsStepIDsAsGiven: JSON cannot hold a string that
// is not UTF-8 (encoding/json writes U+FFFD in its place), so a record of
// such a step ID would read back as another step's, and the journal
// could never be resumed. The file journal refuses it, and Run with it
// runs nothing, rather than running steps it could not resume.
func TestHunt2FileJournalKeepsStepIDsAsGiven(t *testing.T) {
	plan := &upgrade.Plan{ID: "sha256:hand-made", Steps: []upgrade.Step{
		{ID: "platform/a\xff", Node: "a", Kind: upgrade.Platform},
		{ID: "platform/b", Node: "b", Kind: upgrade.Platform, After: []upgrade.StepID{"platform/a\xff"}},
	}}
	path := jrPath(t)
	j := jrOpen(t, path)
	exec := &upgradetest.Executor{}
	exec.FailAt("platform/b", errors.New("boom"))
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(j))
	require.Error(t, err)
	if exec.Calls("platform/a\xff") == 0 {
		assert.ErrorContains(t, err, "UTF-8")
		return
	}
	// Ran: then the journal must resume it.
	require.NoError(t, j.Close())
	j = jrOpen(t, path)
	exec = &upgradetest.Executor{}
	_, err = upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(j))
	require.NoError(t, err, "the journal of a run that ran resumes")
	assert.Zero(t, exec.Calls("platform/a\xff"), "a step done is not done again")
}

// TestHunt2FileJournalPlanIDNotUTF8: likewise a plan ID, which the header
// keeps, is refused by Begin rather than written as another ID.
func TestHunt2FileJournalPlanIDNotUTF8(t *testing.T) {
	j := jrOpen(t, jrPath(t))
	_, err := j.Begin(context.Background(), "plan-\xff")
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.ErrorContains(t, err, "UTF-8")
}
