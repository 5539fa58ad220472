//go:build linux

package upgrade_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// The full-disk test appends to a journal in a child process (this test
// binary, running TestJournalFullDiskHelper) whose file size limit
// (RLIMIT_FSIZE) makes a write fail part way, as a full disk does.
const fullDiskEnv = "STACKUP_JOURNAL_FULL_DIR"

// fullDiskResult is what the child reports.
type fullDiskResult struct {
	Written  int      `json:"written"`  // records appended before the first failure
	Errors   []string `json:"errors"`   // the failed appends' messages
	FileSize int64    `json:"fileSize"` // the journal's size after the failures
}

// TestJournalFullDiskHelper is not a test: it is the child process of
// TestFileJournalFullDisk, and returns at once unless run as one.
func TestJournalFullDiskHelper(t *testing.T) {
	dir := os.Getenv(fullDiskEnv)
	if dir == "" {
		return
	}
	path := filepath.Join(dir, "run.journal")
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	_, err = j.Begin(context.Background(), "sha256:plan")
	require.NoError(t, err)

	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	limit := syscall.Rlimit{Cur: 400, Max: old.Max}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit))
	var res fullDiskResult
	for i := 0; len(res.Errors) < 2 && i < 100; i++ {
		err := j.Append(context.Background(), jrRec(upgrade.RecordSucceeded, upgrade.StepID("platform/node-"+strings.Repeat("x", i%3))))
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
		} else if len(res.Errors) == 0 {
			res.Written++
		}
	}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	info, err := os.Stat(path)
	require.NoError(t, err)
	res.FileSize = info.Size()
	require.NoError(t, j.Close())
	data, err := json.Marshal(res)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "result.json"), data, 0o644))
}

func TestFileJournalFullDisk(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalFullDiskHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), fullDiskEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child:\n%s", out)
	var res fullDiskResult
	require.NoError(t, json.Unmarshal(jrMust(os.ReadFile(filepath.Join(dir, "result.json"))), &res))

	require.NotEmpty(t, res.Errors, "the size limit must make an append fail")
	require.Greater(t, res.Written, 0)
	assert.Contains(t, res.Errors[0], "cut back to its last whole record", "the error says what became of the journal")
	assert.Contains(t, res.Errors[0], "file too large")
	assert.Equal(t, 1, strings.Count(res.Errors[0], "upgrade: journal"), res.Errors[0])

	// What the child left is a journal whose records all survived, with no
	// half line; it takes records again.
	path := filepath.Join(dir, "run.journal")
	lines, nl := jrLines(t, path)
	assert.True(t, nl, "no half line is left")
	assert.Len(t, lines, 1+res.Written)
	j := jrOpen(t, path)
	got, err := j.Begin(context.Background(), "sha256:plan")
	require.NoError(t, err, "the journal resumes after a full disk")
	assert.Len(t, got, res.Written)
	require.NoError(t, j.Append(context.Background(), jrRec(upgrade.RecordSucceeded, "application/shop-1")))
	got = jrReopen(t, j, path)
	assert.Len(t, got, res.Written+1)
}

// jrReopen closes j and returns the records of the journal at path.
func jrReopen(t *testing.T, j *upgrade.FileJournal, path string) []upgrade.Record {
	t.Helper()
	require.NoError(t, j.Close())
	j2 := jrOpen(t, path)
	got, err := j2.Begin(context.Background(), "sha256:plan")
	require.NoError(t, err)
	return got
}

func TestFileJournalNoteNeverFollowsLinks(t *testing.T) {
	for name, plant := range map[string]func(victim, note string) error{
		"symbolic link": os.Symlink,
		"hard link":     os.Link,
	} {
		t.Run(name, func(t *testing.T) {
			path := jrPath(t)
			victim := filepath.Join(filepath.Dir(path), "victim")
			require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
			require.NoError(t, plant(victim, path+".lock"))

			j := jrOpen(t, path)
			_, err := j.Begin(context.Background(), "sha256:plan")
			require.NoError(t, err)
			require.NoError(t, j.Append(context.Background(), jrRec(upgrade.RecordStarted, "platform/a")))
			require.NoError(t, j.Close())

			assert.Equal(t, "precious\n", string(jrMust(os.ReadFile(victim))), "the planted link's target is untouched")
			_, err = os.Lstat(path + ".lock")
			assert.NoError(t, err, "a note that is not ours is not removed")
		})
	}
}

func TestFileJournalLockHoldsThroughLinks(t *testing.T) {
	needFlock(t)
	path := jrPath(t)
	j := jrOpen(t, path)
	_, err := j.Begin(context.Background(), "sha256:plan")
	require.NoError(t, err)

	sym := filepath.Join(filepath.Dir(path), "via-symlink")
	hard := filepath.Join(filepath.Dir(path), "via-hardlink")
	require.NoError(t, os.Symlink(path, sym))
	require.NoError(t, os.Link(path, hard))
	for _, other := range []string{sym, hard} {
		_, err := upgrade.OpenFileJournal(other)
		require.ErrorIs(t, err, upgrade.ErrLocked, "the same journal by another name %s", other)
	}
	require.NoError(t, j.Close())
	j2, err := upgrade.OpenFileJournal(sym)
	require.NoError(t, err, "free again once closed")
	require.NoError(t, j2.Close())
}

func TestFileJournalRefusesWhatIsNotAJournal(t *testing.T) {
	for name, content := range map[string]string{
		"a token without a newline": "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
		"a text file":               "deploy notes\nline two\n",
		"a JSON document":           `{"kind":"not a journal"}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := jrPath(t)
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			j := jrOpen(t, path)
			_, err := j.Begin(context.Background(), "sha256:plan")
			require.ErrorIs(t, err, upgrade.ErrCorruptJournal)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "not a journal")
			assert.Equal(t, content, string(jrMust(os.ReadFile(path))), "the file is not changed")
		})
	}
	t.Run("a named pipe", func(t *testing.T) {
		path := jrPath(t)
		require.NoError(t, syscall.Mkfifo(path, 0o600))
		_, err := upgrade.OpenFileJournal(path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "not a regular file")
	})
	t.Run("a directory", func(t *testing.T) {
		path := t.TempDir()
		_, err := upgrade.OpenFileJournal(path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
	})
	t.Run("a dangling symbolic link", func(t *testing.T) {
		path := jrPath(t)
		target := filepath.Join(filepath.Dir(path), "elsewhere")
		require.NoError(t, os.Symlink(target, path))
		_, err := upgrade.OpenFileJournal(path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
		_, err = os.Lstat(target)
		assert.ErrorIs(t, err, os.ErrNotExist, "nothing is created through the link")
	})
}

func TestRunJournalErrorNamesTheJournalOnce(t *testing.T) {
	plan := shopPlan(t, 1)
	path := jrPath(t)
	j := jrOpen(t, path)
	ex := &jrRecorder{}
	_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(jrClosingJournal{j}))
	require.Error(t, err)
	assert.Empty(t, ex.ran)
	assert.Equal(t, 1, strings.Count(err.Error(), "upgrade: journal"), err.Error())
	assert.Contains(t, err.Error(), path)

	// A journal of the caller's own is named by Run.
	_, err = upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(&jrFailingJournal{n: 0}))
	require.Error(t, err)
	assert.Equal(t, 1, strings.Count(err.Error(), "upgrade: journal"), err.Error())
	assert.Contains(t, err.Error(), "journal disk gone")
}
