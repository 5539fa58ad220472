package upgrade_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt14ClosedJournalSaysSo runs a plan with a file journal closed
// already, as a server that closes each run's journal and keeps the
// value may: the error says that the journal is closed and what to do,
// not that a seek on the file failed, and nothing runs.
func TestHunt14ClosedJournalSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	plan := h5Plan("a")
	_, err = upgrade.Run(t.Context(), plan, new(upgradetest.Executor), upgrade.WithJournal(j))
	require.NoError(t, err)
	require.NoError(t, j.Close())

	ran := false
	_, err = upgrade.Run(t.Context(), plan, upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
		ran = true
		return nil
	}), upgrade.WithJournal(j))
	require.ErrorIs(t, err, os.ErrClosed)
	assert.Equal(t, "upgrade: journal "+path+": the journal is closed (file already closed): "+
		"open it again with OpenFileJournal to run a plan with it, as Close gave up its lock", err.Error())
	assert.False(t, ran)

	err = j.Append(t.Context(), upgrade.Record{Kind: upgrade.RecordStarted, Step: "a"})
	require.ErrorIs(t, err, os.ErrClosed)
	assert.Contains(t, err.Error(), "recording step a as started: the journal is closed")
}
