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

// TestOpenFileJournalInNote: a journal opened in a root keeps its holder
// note beside it in that root, and removes it when closed; a link planted
// at the note's name, even to a file inside the root (which an os.Root
// would follow), is not written through.
func TestOpenFileJournalInNote(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "runs"), 0o700))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	note := filepath.Join(dir, "runs", "j.journal.lock")

	j, err := upgrade.OpenFileJournalIn(root, "runs/j.journal")
	require.NoError(t, err)
	info, err := os.Lstat(note)
	require.NoError(t, err, "the note is written beside the journal")
	assert.True(t, info.Mode().IsRegular())
	require.NoError(t, j.Close())
	_, err = os.Lstat(note)
	assert.ErrorIs(t, err, os.ErrNotExist, "the note is removed on close")

	victim := filepath.Join(dir, "runs", "victim")
	require.NoError(t, os.WriteFile(victim, []byte("keep"), 0o600))
	require.NoError(t, os.Symlink("victim", note))
	j, err = upgrade.OpenFileJournalIn(root, "runs/j.journal")
	require.NoError(t, err, "a note that cannot be written costs only the holder's name")
	require.NoError(t, j.Close())
	data, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(data), "nothing is written through the link")
}
