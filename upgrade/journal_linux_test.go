package upgrade_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestJournalNewFileDirSynced: a new journal's directory is synced before
// Begin returns, or a power loss could lose the whole journal and a
// resumed run carry out again, as new, the steps that had succeeded. It
// runs TestJournalDirSyncChild under strace, where strace can trace.
func TestJournalNewFileDirSynced(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	cmd := exec.Command(strace, "-f", "-y", "-e", "trace=fsync,fdatasync", os.Args[0],
		"-test.run", "^TestJournalDirSyncChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STACKUP_TEST_JOURNAL_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "PTRACE") {
		t.Skipf("strace cannot trace here: %s", out)
	}
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "fsync(", "strace saw the journal's syncs")
	assert.Contains(t, string(out), "<"+dir+">", "the new journal's directory was synced:\n%s", out)
}

// TestJournalDirSyncChild creates a journal and records a step in it, in
// the directory TestJournalNewFileDirSynced gives.
func TestJournalDirSyncChild(t *testing.T) {
	dir := os.Getenv("STACKUP_TEST_JOURNAL_DIR")
	if dir == "" {
		t.Skip("run by TestJournalNewFileDirSynced")
	}
	j, err := upgrade.OpenFileJournal(filepath.Join(dir, "run.journal"))
	require.NoError(t, err)
	_, err = j.Begin(context.Background(), "p")
	require.NoError(t, err)
	require.NoError(t, j.Append(context.Background(), upgrade.Record{Kind: upgrade.RecordStarted, Step: "a"}))
	require.NoError(t, j.Close())
}
